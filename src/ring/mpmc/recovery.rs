//! Crash recovery: retiring the endpoint-table entries of dead members (module docs of
//! `ring::mpmc`, "Crash safety").

use super::{Look, Member, QueueRing, ROLE_GET, ROLE_PUT, pos_of};
use crate::error::Corrupted;
use crate::platform::identity::Identity;
use crate::primitive::Ordering;
use crate::ring::endpoint::{self, Status};

impl<T> QueueRing<T> {
    /// Retires the entries of dead owners: marks them dead, finishes or drops the
    /// position each held, and frees the entry. Returns how many entries it freed, or
    /// `Corrupted` (and retires nothing) if the positions are out of range.
    pub fn recover(&self, is_alive: impl Fn(Identity) -> bool) -> Result<usize, Corrupted> {
        // Acquire, head first: `check_span`.
        let head = self.ctrl().head.load(Ordering::Acquire);
        let tail = self.ctrl().tail.load(Ordering::Acquire);
        self.check_span(head, tail, true)?;
        for m in self.members() {
            let (word, owner) = endpoint::load(&m.ep);
            if endpoint::status(word) == Status::Attached && !is_alive(owner) {
                endpoint::mark_dead(&m.ep, word);
            }
        }
        let mut freed = 0;
        for (i, m) in self.members().iter().enumerate() {
            let (word, _) = endpoint::load(&m.ep);
            if endpoint::status(word) == Status::Dead && self.retire(i, word) {
                endpoint::vacate_dead(&m.ep, word);
                freed += 1;
            }
        }
        Ok(freed)
    }

    /// Finishes entry `i`'s intent, the entry of the dead owner whose word was `dead`;
    /// false if that must wait (a live entry records the same intent and may own the
    /// position) or if the entry is no longer `dead`'s.
    pub(super) fn retire(&self, i: usize, dead: u64) -> bool {
        let m = &self.members()[i];
        // Acquire: pairs with the owner's Release clear after publishing, and with the
        // Release of every intent store (a new owner's intent comes with its claim).
        let intent = m.intent.load(Ordering::Acquire);
        // The entry must still be the dead owner's: since `recover` read the word,
        // another retirer may have finished it and vacated the entry, and a new member
        // may have joined it and stored an intent of its own, a live claim that this
        // retirer must not pad over (the new member would then publish over the skip).
        // The intent was read first: if it is the new member's, its Release store came
        // after its claim CAS on the word, so this load sees that claim (or later).
        if endpoint::load(&m.ep).0 != dead {
            return false;
        }
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

impl<T: bytemuck::Pod> Member<T> {
    /// The slow-path check of a wait (once per wait tick, after recovery and a poll
    /// that found nothing to do; never per message): `Corrupted` if the shared words
    /// contradict what this member knows, so that the wait could never end:
    ///
    /// * our own entry no longer holds the word we claimed it with (overwritten to
    ///   name another process, or free): nothing we announce there is ours any more;
    /// * the position whose slot must change for us (a get: `head`; a put: the get of
    ///   `tail - capacity`) was claimed, its slot is not ready, and no entry, live or
    ///   dead, records an intent for it. A claimant stores its intent before its claim
    ///   CAS and clears it only after publishing, and we read the position word
    ///   (Acquire) before the intents, so a claim in progress is always found; a
    ///   claim with no claimant is never published, and recovery cannot retire it.
    ///   `suspect` carries the position found so from one tick to the next: only two
    ///   ticks in a row report it (an intent is rewritten Relaxed for the owner's next
    ///   claim, which is ordered after its publish only on the next tick's reads).
    pub(super) fn check_wait(&self, put: bool, suspect: &mut Option<u64>) -> Result<(), Corrupted> {
        let ring = &self.ring;
        let ctrl = ring.ctrl();
        // Acquire, head first: `check_span`, and a claim we see carries its intent.
        let head = ctrl.head.load(Ordering::Acquire);
        let tail = ctrl.tail.load(Ordering::Acquire);
        ring.check_span(head, tail, true)?;
        let (h, t, cap) = (pos_of(head), pos_of(tail), ring.cap());
        let bad = ring.corrupted(h, t);
        if endpoint::load(&ring.members()[self.index].ep).0 != self.word {
            return Err(bad);
        }
        let waiting = |look: Result<Look, Corrupted>| -> Result<bool, Corrupted> {
            Ok(matches!(look?, Look::Wait))
        };
        // The claimed position we wait on, with the intents that may hold it (the
        // claimant's, or the previous lap's get of that slot).
        let stuck = if put {
            let need = t.wrapping_sub(cap);
            (t >= cap && h > need && waiting(ring.look_put(tail))?)
                .then_some([need << 2 | ROLE_GET, need << 2 | ROLE_PUT])
        } else {
            (t > h && waiting(ring.look_get(head))?)
                .then_some([h << 2 | ROLE_PUT, h.wrapping_sub(cap) << 2 | ROLE_GET])
        };
        let Some(holders) = stuck else {
            *suspect = None;
            return Ok(());
        };
        let held = ring.members().iter().any(|m| {
            matches!(
                endpoint::status(endpoint::load(&m.ep).0),
                Status::Attached | Status::Dead
            )
                // Acquire: as in `retire`.
                && holders.contains(&m.intent.load(Ordering::Acquire))
        });
        let pos = holders[0] >> 2;
        if held {
            *suspect = None;
            Ok(())
        } else if *suspect == Some(pos) {
            Err(bad)
        } else {
            *suspect = Some(pos);
            Ok(())
        }
    }
}
