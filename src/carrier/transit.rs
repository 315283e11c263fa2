//! The sender's transit holds: the buffers whose handles are in the pipe, kept until
//! the receiver has taken them (design `docs/design/buffer-pool.md` §5).
//!
//! A handle in flight is always backed by a hold of the sending process: the moved
//! [`Buf`] sits here, keyed by the ring position its handle was written at, until the
//! receiver's position has passed it. The receiver joins (becomes a holder itself)
//! *before* it commits, so by the time its position passes ours the chunk has a second
//! holder and dropping ours cannot free it. No shared transit state: the ring's own
//! `head` is the acknowledgement.

use crate::platform::identity;
use crate::pool::{Buf, BufHandle, Pool};
use crate::ring::endpoint::{self, Status};
use crate::ring::spsc::{RawRing, Side};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

/// Holds of buffers in flight, oldest first, each with the position of its handle.
///
/// Invariants: positions strictly increase from front to back, and every position is
/// in `[head, tail)` of the ring as this sender last saw it, so at most `capacity`
/// entries exist (the pipe cannot hold more handles).
#[derive(Debug, Default)]
pub(super) struct Transit {
    held: VecDeque<(u64, Buf)>,
}

impl Transit {
    /// Keeps `buf`, whose handle was written at `pos`.
    #[inline]
    pub(super) fn push(&mut self, pos: u64, buf: Buf) {
        self.held.push_back((pos, buf));
    }

    /// Drops the holds of the handles the receiver has taken: those written before
    /// `head`, with `tail` the next position to write (`head` validated against it).
    #[inline]
    pub(super) fn release_taken(&mut self, tail: u64, head: u64) {
        // Distances from `tail` do not wrap: every entry and `head` are within
        // `capacity` before it. An entry farther back than `head` is taken.
        let untaken = tail.wrapping_sub(head);
        while let Some(&(pos, _)) = self.held.front() {
            if tail.wrapping_sub(pos) <= untaken {
                break;
            }
            self.held.pop_front();
        }
    }

    /// Drops the holds from the oldest on while `taken` says the handle at that
    /// position was taken (a queue's consumers may finish out of order: a later one
    /// waits behind an earlier one until that is taken too).
    pub(super) fn release_taken_by(&mut self, mut taken: impl FnMut(u64) -> bool) {
        while let Some(&(pos, _)) = self.held.front() {
            if !taken(pos) {
                break;
            }
            self.held.pop_front();
        }
    }

    /// Drops the holds of every handle `taken` says was taken, wherever it is.
    pub(super) fn release_all_taken_by(&mut self, mut taken: impl FnMut(u64) -> bool) {
        self.held.retain(|&(pos, _)| !taken(pos));
    }

    /// Drops every hold: nobody will take these handles (the receiver is gone, or the
    /// pipe is corrupted). A receiver that claims the pipe later finds them stale.
    pub(super) fn release_all(&mut self) {
        self.held.clear();
    }

    /// The position of the oldest handle in flight.
    pub(super) fn oldest(&self) -> Option<u64> {
        self.held.front().map(|&(pos, _)| pos)
    }

    /// Handles in flight.
    pub(super) fn len(&self) -> usize {
        self.held.len()
    }

    /// Hands every hold to the pool (the sender is going away): the pool keeps each one
    /// until `taken` says its handle was taken (or will never be), checked on its
    /// allocation misses.
    pub(super) fn park(&mut self, pool: &Pool, taken: Arc<dyn Fn(u64) -> bool + Send + Sync>) {
        for (pos, buf) in self.held.drain(..) {
            let taken = taken.clone();
            super::park(pool, buf, Box::new(move || taken(pos)));
        }
    }
}

/// For a departed pipe sender: whether the handle written at a position is done with,
/// judged from `ring` (the pipe, with no end claimed).
pub(super) fn pipe_watch(ring: RawRing<BufHandle>) -> Arc<dyn Fn(u64) -> bool + Send + Sync> {
    let watch = Watch(Mutex::new((ring, false)));
    Arc::new(move |pos| watch.taken(pos))
}

/// A departed sender's view of its pipe's receiver, shared by its parked holds: the
/// ring (no end claimed) and whether the receiver was seen gone (then every parked
/// handle is done with). A `Mutex` only for `Sync` (the pool may check from any
/// thread); uncontended.
struct Watch(Mutex<(RawRing<BufHandle>, bool)>);

impl Watch {
    /// True once the handle written at `pos` needs no more backing: the receiver's
    /// position passed it (it joined first), or the receiver is gone (nobody will).
    fn taken(&self, pos: u64) -> bool {
        let mut guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let (ring, seen_gone) = &mut *guard;
        if *seen_gone {
            return true;
        }
        // Unchecked (our `tail` is gone with the sender): a garbage `head` can only
        // make us drop our own holds early; a late join is then `Stale`, typed.
        if ring.head_now().wrapping_sub(pos) as i64 > 0 {
            return true;
        }
        let (word, owner) = ring.peer(Side::Consumer);
        let gone = match endpoint::status(word) {
            Status::Closed | Status::Dead => true,
            Status::Free => false,
            // Nobody watches the receiver for us any more: read /proc (only on the
            // pool's allocation misses, and only until it is found gone).
            Status::Attached => !identity::is_alive(owner),
        };
        *seen_gone = gone;
        gone
    }
}
