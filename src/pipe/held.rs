//! The pipe ends this process holds, across all its mappings of any segment: lets a
//! waiting end tell a peer endpoint word that names this very process because this
//! process does hold that end (another thread may be about to serve us) from one that
//! names it falsely (garbage: nobody here will ever publish, close or die for it, so
//! the wait could never end).
//!
//! Touched only when an end is made or dropped and on a wait's slow path: never per
//! message.

use crate::platform::identity;
use crate::ring::endpoint::{self, Status};
use crate::ring::spsc::{RawRing, Side};
use crate::segment::Segment;
use std::sync::Mutex;

/// One end of one ring, whatever mapping of its segment it was claimed through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    dev: u64,
    ino: u64,
    ring: u32,
    side: Side,
    /// The process that recorded it: a forked child's copy of an end is not in its
    /// list (and must not touch the list a parent thread may have held at the fork).
    pid: u32,
}

/// Ends held (or being claimed) by this process; a multiset (two handles may race to
/// claim the same end: one entry each until the loser drops its guard).
static HELD: Mutex<Vec<Key>> = Mutex::new(Vec::new());

fn held() -> std::sync::MutexGuard<'static, Vec<Key>> {
    // A panic while holding it cannot leave the Vec inconsistent (push/remove only).
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

/// An entry of this process's held ends: made before the claim (so that no waiter in
/// another thread ever sees our claimed word without it), dropped after the release
/// (it is the last field of the end that owns it).
#[derive(Debug)]
pub(crate) struct Held {
    key: Option<Key>,
}

impl Held {
    /// Records that this process holds (or is about to claim) `side` of ring `ring`.
    /// Without the segment's file identity (`fstat` failed) nothing is recorded and
    /// [`names_me_falsely`](Self::names_me_falsely) never answers true.
    pub(crate) fn new(seg: &Segment, ring: u32, side: Side) -> Self {
        let key = rustix::fs::fstat(seg.fd()).ok().map(|st| Key {
            dev: st.st_dev,
            ino: st.st_ino,
            ring,
            side,
            pid: std::process::id(),
        });
        if let Some(k) = key {
            held().push(k);
        }
        Self { key }
    }

    /// True if the endpoint word of `peer` (the other end of our ring) says it is held
    /// by this very process while this process holds no such end: a word no one here
    /// will ever change. Slow path only (a lock; no syscall once this process knows its
    /// own start time).
    ///
    /// The order matters: the list is checked first and the word loaded again while
    /// the list is locked. A claim in another thread pushes its entry before its CAS
    /// and a release removes it after its CAS, both outside the lock's critical
    /// sections here, so if the entry is missing under the lock and the word still
    /// names us, no end of ours can have made that word (a drop in another thread
    /// that released the word between our looks makes the reloaded word differ).
    pub(crate) fn names_me_falsely<T>(&self, raw: &RawRing<T>, peer: Side) -> bool {
        let Some(mine) = self.key else { return false };
        // `current()`, not `std::process::id()`: no `getpid` system call per check.
        if mine.pid != identity::current().pid {
            return false; // an end inherited over fork: the list is the parent's
        }
        // Cheap pre-filter without the lock.
        let (word, owner) = raw.peer(peer);
        // A dead predecessor that had our pid is `check_alive`'s (a start time that is
        // not ours): only a word that passes for us is a contradiction.
        if endpoint::status(word) != Status::Attached || !identity::is_me(owner) {
            return false;
        }
        let theirs = Key { side: peer, ..mine };
        let list = held();
        if list.contains(&theirs) {
            return false;
        }
        raw.peer(peer).0 == word
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(k) = self.key
            && k.pid == std::process::id()
        {
            let mut v = held();
            if let Some(i) = v.iter().position(|x| *x == k) {
                v.swap_remove(i);
            }
        }
    }
}
