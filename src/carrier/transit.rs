//! The sender's transit holds: the buffers whose handles are in the pipe, kept until
//! the receiver has taken them (design `docs/design/buffer-pool.md` §5).
//!
//! A handle in flight is always backed by a hold of the sending process: the moved
//! [`Buf`] sits here, keyed by the ring position its handle was written at, until the
//! receiver's position has passed it. The receiver joins (becomes a holder itself)
//! *before* it commits, so by the time its position passes ours the chunk has a second
//! holder and dropping ours cannot free it. No shared transit state: the ring's own
//! `head` is the acknowledgement.
//!
//! The holds live in a [`Holds`] that the carrier registers with its [`Pool`] once, at
//! construction ([`Pool::register_transit`]): an allocation of this process that finds
//! the class exhausted drops the holds already taken itself, on every poll of its wait
//! (the taker notifies the class after each take, [`Pool::notify_taken`]). So
//! `pool.alloc` never waits on holds of its own process that nobody needs, and a
//! departed sender's holds stay registered until taken (no separate parking). Once
//! the process has no `Pool` handle and no view of that pool left, the holds still
//! untaken are orphaned: dropped without releasing their bits, the member entry
//! released, so another member's recovery adopts them as a dead process's.

use crate::platform::identity;
use crate::pool::{Buf, BufHandle, Pool, TransitSource};
use crate::ring::endpoint::{self, Status};
use crate::ring::mpmc::QueueRing;
use crate::ring::spsc::{RawRing, Side};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

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

    /// The position of the newest handle in flight.
    fn newest(&self) -> Option<u64> {
        self.held.back().map(|&(pos, _)| pos)
    }

    /// Handles in flight.
    pub(super) fn len(&self) -> usize {
        self.held.len()
    }
}

/// How a carrier's holds are judged taken from outside its own calls (by the pool).
pub(super) trait Watch: Send + 'static {
    /// Drops the holds in `held` whose handles were taken (or never will be).
    fn release(&mut self, held: &mut Transit, thorough: bool);
}

/// A carrier's transit holds and how to judge them, shared with its pool.
pub(super) struct Holds<W> {
    state: Mutex<State<W>>,
}

/// What [`Holds`] guards.
#[derive(Debug)]
pub(super) struct State<W> {
    pub(super) held: Transit,
    pub(super) watch: W,
}

impl<W: Watch> Holds<W> {
    /// Empty holds judged by `watch`, registered with `pool`.
    pub(super) fn registered(pool: &Pool, watch: W) -> Arc<Self> {
        let holds = Arc::new(Self {
            state: Mutex::new(State {
                held: Transit::default(),
                watch,
            }),
        });
        pool.register_transit(holds.clone());
        holds
    }

    /// The holds, locked. Uncontended but for a concurrent allocation miss of this
    /// process (lock order: the pool's registry, this, the pool's local lock, which a
    /// hold's drop takes).
    #[inline]
    pub(super) fn lock(&self) -> MutexGuard<'_, State<W>> {
        // A panic while holding it leaves holds that are still ours: go on with them.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<W> std::fmt::Debug for Holds<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Holds").finish_non_exhaustive()
    }
}

impl<W: Watch> TransitSource for Holds<W> {
    fn release_taken(&self, thorough: bool) -> usize {
        let mut state = self.lock();
        let State { held, watch } = &mut *state;
        let before = held.len();
        if before == 0 {
            return 0;
        }
        watch.release(held, thorough);
        before - held.len()
    }

    fn in_flight(&self) -> usize {
        self.lock().held.len()
    }
}

/// A pipe sender's watch: the ring (no end claimed), whether the sender is gone
/// (dropped: nobody else will release these holds when the receiver goes), and
/// whether the receiver was seen gone by a departed sender's watch (then every hold is
/// done with: a live sender may send again to a new receiver that claims the pipe).
pub(super) struct PipeWatch {
    ring: RawRing<BufHandle>,
    pub(super) departed: bool,
    seen_gone: bool,
}

impl PipeWatch {
    pub(super) fn new(ring: RawRing<BufHandle>) -> Self {
        Self {
            ring,
            departed: false,
            seen_gone: false,
        }
    }
}

impl std::fmt::Debug for PipeWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipeWatch")
            .field("departed", &self.departed)
            .field("seen_gone", &self.seen_gone)
            .finish_non_exhaustive()
    }
}

impl Watch for PipeWatch {
    /// The handles the receiver's position passed (it joined first) are taken; with
    /// `thorough`, all of them once the receiver is closed or dead (and, for a
    /// departed sender, whose pipe end no longer watches the receiver, once `/proc`
    /// says its process is gone).
    fn release(&mut self, held: &mut Transit, thorough: bool) {
        if self.seen_gone {
            held.release_all();
            return;
        }
        let Some(newest) = held.newest() else {
            return;
        };
        // The sender's `tail` is at least `newest + 1`; judged against that, a garbage
        // `head` releases nothing (it is past the newest handle, or more than the
        // ring behind it) or only holds of handles written before it: then a later
        // join is `Stale`, typed.
        held.release_taken(newest.wrapping_add(1), self.ring.head_now());
        if !thorough || held.len() == 0 {
            return;
        }
        let (word, owner) = self.ring.peer(Side::Consumer);
        let gone = match endpoint::status(word) {
            Status::Closed | Status::Dead => true,
            Status::Free => false,
            // A live sender's own calls watch the receiver; for a departed one read
            // /proc (on ticks and misses only, until it is found gone).
            Status::Attached => self.departed && !identity::is_alive(owner),
        };
        if gone {
            // Sticky only for a departed sender, which pushes no more holds: a live
            // one may send again to a new receiver that claims the pipe, whose holds
            // must then wait for its takes.
            self.seen_gone = self.departed;
            held.release_all();
        }
    }
}

/// A queue handle's watch: a handle is taken once its slot's stamp moved on.
pub(super) struct QueueWatch(pub(super) QueueRing<BufHandle>);

impl std::fmt::Debug for QueueWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueWatch").finish_non_exhaustive()
    }
}

impl Watch for QueueWatch {
    fn release(&mut self, held: &mut Transit, _thorough: bool) {
        // One load per hold: getters may finish out of order.
        held.release_all_taken_by(|pos| self.0.taken(pos));
    }
}
