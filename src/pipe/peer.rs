//! Tracking the other end of a ring: attached, closed, or dead.
//!
//! The fast path is one load of the peer's endpoint word compared with the last word
//! seen. When the word changes to a newly attached owner, its death is handed to the
//! platform's death watcher (a pidfd polled by a background thread), which retires the
//! endpoint in shared memory: the message path then sees the death in that one load and
//! makes no system call. Only where the watch could not be set up (no pidfds) do the
//! slow checks ([`Peer::check_alive`]: a `Spin` wait's every 4,096th poll, a blocking
//! wait's expired tick) read `/proc` instead.

use crate::platform::{identity, watch};
use crate::ring::endpoint::{self, Status};
use crate::ring::spsc::{RawRing, Side};
use crate::segment::Segment;
use bytemuck::Pod;
use std::sync::Arc;

/// The peer of one endpoint.
#[derive(Debug)]
pub(crate) struct Peer {
    seg: Arc<Segment>,
    ring: u32,
    side: Side,
    seen: u64,
    /// The death watcher's registration for the owner in `seen`, if pidfds work.
    watch: Option<watch::WatchGuard>,
}

impl Peer {
    /// The peer at `side` of ring `ring` of `seg`.
    pub(crate) fn new(seg: Arc<Segment>, ring: u32, side: Side) -> Self {
        Self {
            seg,
            ring,
            side,
            seen: u64::MAX,
            watch: None,
        }
    }

    /// True once the peer has closed its end or died. One load while nothing changes.
    #[inline]
    pub(crate) fn gone<T: Pod>(&mut self, raw: &RawRing<T>) -> bool {
        let word = raw.peer_word(self.side);
        if word == self.seen {
            return matches!(endpoint::status(word), Status::Closed | Status::Dead);
        }
        self.changed::<T>(raw)
    }

    #[cold]
    fn changed<T: Pod>(&mut self, raw: &RawRing<T>) -> bool {
        // Bounded: a peer that keeps flipping its word cannot keep us here (each round
        // opens a pidfd); the next poll looks again.
        for _ in 0..8 {
            let (word, owner) = raw.peer(self.side);
            self.seen = word;
            self.watch = None;
            match endpoint::status(word) {
                Status::Free => return false,
                Status::Closed | Status::Dead => return true,
                Status::Attached => {
                    let (seg, ring, side) = (self.seg.clone(), self.ring, self.side);
                    self.watch = watch::watch(
                        owner,
                        Arc::new(move || {
                            if let Some(r) = seg.ring::<T>(ring) {
                                r.retire(side, word);
                            }
                        }),
                    );
                    // The watcher may have retired it already (owner dead at registration).
                    if raw.peer_word(self.side) == word {
                        return false;
                    }
                }
            }
        }
        false
    }

    /// Fallback for the slow path: retires an attached peer whose process is gone.
    /// Nothing to do (one load, no system call) while the death watcher watches the
    /// owner we last saw; a `/proc` read otherwise.
    pub(crate) fn check_alive<T: Pod>(&mut self, raw: &RawRing<T>) {
        if self.watch.is_some() && raw.peer_word(self.side) == self.seen {
            return;
        }
        let (word, owner) = raw.peer(self.side);
        if endpoint::status(word) == Status::Attached {
            crate::primitive::stats::count_proc_read();
            if !identity::is_alive(owner) {
                raw.retire(self.side, word);
            }
        }
    }
}
