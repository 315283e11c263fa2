//! Crash recovery: retiring the endpoint-table entries of dead members (module docs of
//! `ring::mpmc`, "Crash safety").

use super::{QueueRing, ROLE_GET, ROLE_PUT, pos_of};
use crate::primitive::Ordering;
use crate::ring::endpoint::{self, Identity, Status};

impl<T> QueueRing<T> {
    /// Retires the entries of dead owners: marks them dead, finishes or drops the
    /// position each held, and frees the entry. Returns how many entries it freed.
    pub fn recover(&self, is_alive: impl Fn(Identity) -> bool) -> usize {
        for m in self.members() {
            let (word, owner) = endpoint::load(&m.ep);
            if endpoint::status(word) == Status::Attached && !is_alive(owner) {
                endpoint::mark_dead(&m.ep, word);
            }
        }
        let mut freed = 0;
        for (i, m) in self.members().iter().enumerate() {
            let (word, _) = endpoint::load(&m.ep);
            if endpoint::status(word) == Status::Dead && self.retire(i) {
                endpoint::vacate_dead(&m.ep, word);
                freed += 1;
            }
        }
        freed
    }

    /// Finishes entry `i`'s intent; false if that must wait (a live entry records the
    /// same intent and may own the position).
    fn retire(&self, i: usize) -> bool {
        let m = &self.members()[i];
        // Acquire: pairs with the owner's Release clear after publishing.
        let intent = m.intent.load(Ordering::Acquire);
        let (pos, role) = (intent >> 2, intent & 3);
        let live_twin = || {
            self.members().iter().enumerate().any(|(j, o)| {
                j != i
                    && endpoint::status(endpoint::load(&o.ep).0) == Status::Attached
                    // Acquire: pairs with the owner's Release clear after publishing.
                    && o.intent.load(Ordering::Acquire) == intent
            })
        };
        let done = match role {
            ROLE_PUT => {
                // Acquire: pairs with the claim CAS (Release), which came after the
                // owner's intent store: seeing the claim, we see who may hold it.
                let tail = pos_of(self.ctrl().tail.load(Ordering::Acquire));
                let free = self.free_stamp(pos);
                if tail <= pos || self.slot(pos).stamp.load(Ordering::Acquire) != free {
                    true // never claimed, or already published / skipped
                } else if live_twin() {
                    false
                } else {
                    let skip = self.full_stamp(pos) | 1;
                    // AcqRel: exactly one of the concurrent retirers wins.
                    if self
                        .slot(pos)
                        .stamp
                        .compare_exchange(free, skip, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                    {
                        // Relaxed: a statistics counter.
                        self.ctrl().state.abandoned.fetch_add(1, Ordering::Relaxed);
                        self.ctrl().not_empty.wake();
                    }
                    true
                }
            }
            ROLE_GET => {
                // Acquire: as for tail above, with the consumers' claim CAS on head.
                let head = pos_of(self.ctrl().head.load(Ordering::Acquire));
                let full = self.full_stamp(pos);
                let stamp = self.slot(pos).stamp.load(Ordering::Acquire);
                if head <= pos || stamp & !1 != full {
                    true // never claimed, or already freed
                } else if live_twin() {
                    false
                } else {
                    let next = self.free_stamp(pos.wrapping_add(self.cap()));
                    // AcqRel: exactly one of the concurrent retirers wins.
                    if self
                        .slot(pos)
                        .stamp
                        .compare_exchange(stamp, next, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                    {
                        if stamp & 1 == 0 {
                            // Relaxed: a statistics counter.
                            self.ctrl().state.lost.fetch_add(1, Ordering::Relaxed);
                        }
                        self.ctrl().not_full.wake();
                    }
                    true
                }
            }
            _ => true,
        };
        if done && intent != 0 {
            // AcqRel: a later claimant of the entry (Acquire on the word) starts idle.
            let _ = m
                .intent
                .compare_exchange(intent, 0, Ordering::AcqRel, Ordering::Relaxed);
        }
        done
    }
}
