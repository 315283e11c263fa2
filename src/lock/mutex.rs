//! The robust, process-shared mutex word and what a waiter's judge may say of its holder.

use crate::platform::identity::Identity;
use crate::primitive::{AtomicU32, AtomicU64, Ordering, futex};
use crate::wait::{TICK, TimedOut, WaitMode};
use std::time::Instant;

/// `RawMutex::word` flag: someone sleeps (or is about to) on the word.
const WAITERS: u32 = 1 << 31;
/// `RawMutex::word` bits holding the owner's pid (Linux pids are below 2^22).
const PID_MASK: u32 = (1 << 30) - 1;

/// What a waiter's judge says of the process a lock word names (asked only after a
/// whole tick asleep: the slow path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    /// It may hold the lock: keep waiting (a live, silent holder is waited for).
    Alive,
    /// It is gone: take the lock over (one CAS from the word seen).
    Dead,
    /// It cannot be the holder (the caller knows better, e.g. the word names a
    /// process that does not use the object): stop waiting, report corruption.
    Impossible,
}

/// Why [`RawMutex::lock_judged`] returned without the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocked {
    /// The deadline passed.
    TimedOut,
    /// The judge said the word's holder cannot hold it; `word` is the word seen.
    Impossible {
        /// The lock word (owner pid | flags) judged impossible.
        word: u32,
    },
}

/// How a lock was acquired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// Normally.
    Clean,
    /// The previous owner died holding the lock (or a previous taker of such a lock
    /// did not mark it consistent): the protected data may be half-updated.
    OwnerDied,
}

/// A robust, process-shared mutex word (Drepper's futex mutex with the owner's pid in
/// the word, like the kernel's robust futexes).
///
/// * `word`: owner pid (0 = unlocked) | a "waiters" flag (bit 31). Locking is one CAS
///   `0 → pid`; unlocking one swap to 0, plus a `FUTEX_WAKE` only if the flag was set.
/// * `owner`: `pid << 32 | start_time mod 2^32` of the owner, written right after a
///   successful lock, so a reused pid is not mistaken for the owner. Cleared before
///   the word is freed or taken over, so it names the word's owner or is 0 (or names
///   another pid: not written yet), never an earlier owner of the same pid; a waiter
///   judges an owner without a record by its pid alone.
/// * `inconsistent`: set when a lock is taken over from a dead owner, cleared by
///   [`mark_consistent`](Self::mark_consistent).
///
/// A waiter that sleeps a whole tick checks the owner: if it is dead, one CAS on the
/// word (from the dead owner's value, so exactly one waiter wins) takes the lock over
/// and reports [`Acquired::OwnerDied`].
///
/// # Examples
///
/// ```
/// use shmlane::sync::raw::{Acquired, RawMutex};
/// let m = RawMutex::new();
/// assert!(m.try_lock(42, 7));
/// assert!(!m.try_lock(43, 8));
/// m.unlock();
/// assert!(m.try_lock(43, 8));
/// ```
#[repr(C)]
#[derive(Debug, Default)]
pub struct RawMutex {
    word: AtomicU32,
    inconsistent: AtomicU32,
    owner: AtomicU64,
}

fn pack_owner(pid: u32, start: u64) -> u64 {
    u64::from(pid) << 32 | (start & 0xffff_ffff)
}

impl RawMutex {
    /// An unlocked mutex (all-zero bytes).
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the lock if it is free now, as process `pid` (started at `start`).
    #[inline]
    pub fn try_lock(&self, pid: u32, start: u64) -> bool {
        // AcqRel — SYNC POINT: Acquire pairs with the Release swap in `unlock` (the
        // previous owner's writes to the protected data are visible to us); Release
        // publishes what the caller did before locking (a handle's process-local
        // bookkeeping) to a waiter that reads our pid in the word (`owner_pid`).
        let ok = self
            .word
            .compare_exchange(0, pid & PID_MASK, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok();
        if ok {
            // Relaxed: read only by liveness checks, which re-validate with a CAS.
            self.owner.store(pack_owner(pid, start), Ordering::Relaxed);
        }
        ok
    }

    /// Takes the lock as `me`, waiting until `deadline`. Every tick spent asleep, the
    /// owner is checked with `is_alive` (given `Identity { pid, start mod 2^32 }`).
    pub fn lock(
        &self,
        me: Identity,
        mode: WaitMode,
        deadline: Option<Instant>,
        is_alive: impl Fn(Identity) -> bool,
    ) -> Result<Acquired, TimedOut> {
        let judge = |owner| {
            if is_alive(owner) {
                Holder::Alive
            } else {
                Holder::Dead
            }
        };
        self.lock_judged(me, mode, deadline, judge)
            .map_err(|_| TimedOut)
    }

    /// [`lock`](Self::lock) with a judge that may also call the word's holder
    /// impossible: after every whole tick asleep on a word naming `owner` (pid from
    /// the word, start time from the owner record if it names the same pid, else 0),
    /// `judge(owner)` decides to wait on, take over, or give up with
    /// [`Blocked::Impossible`]. Nothing of this runs on the uncontended path.
    pub fn lock_judged(
        &self,
        me: Identity,
        mode: WaitMode,
        deadline: Option<Instant>,
        judge: impl Fn(Identity) -> Holder,
    ) -> Result<Acquired, Blocked> {
        if self.try_lock(me.pid, me.start) {
            return Ok(self.acquired());
        }
        if mode != WaitMode::Sleep {
            // A short spin: a critical section of a few hundred ns never pays a sleep.
            let backoff = crate::primitive::Backoff::new();
            for _ in 0..16 {
                backoff.spin();
                if self.try_lock(me.pid, me.start) {
                    return Ok(self.acquired());
                }
            }
        }
        let mine = (me.pid & PID_MASK) | WAITERS;
        loop {
            // Relaxed: the CASes below decide; Acquire on success.
            let cur = self.word.load(Ordering::Relaxed);
            if cur & PID_MASK == 0 {
                // Free: take it, keeping the flag (others may sleep) so our unlock wakes.
                // AcqRel: as in `try_lock`.
                if self
                    .word
                    .compare_exchange(cur, mine, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
                {
                    // Relaxed: see `try_lock`.
                    self.owner
                        .store(pack_owner(me.pid, me.start), Ordering::Relaxed);
                    return Ok(self.acquired());
                }
                continue;
            }
            if cur & WAITERS == 0
                && self
                    .word
                    // Relaxed: only announces a sleeper; the futex compares the value.
                    .compare_exchange(cur, cur | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Err(Blocked::TimedOut);
            }
            let tick_end = now + TICK;
            let until = deadline.map_or(tick_end, |d| d.min(tick_end));
            futex::wait(&self.word, cur | WAITERS, Some(until));
            if Instant::now() >= tick_end {
                match self.judge_holder(cur | WAITERS, me, &judge) {
                    Holder::Alive => {}
                    Holder::Dead => return Ok(Acquired::OwnerDied),
                    Holder::Impossible => {
                        return Err(Blocked::Impossible {
                            word: cur | WAITERS,
                        });
                    }
                }
            }
        }
    }

    /// After a whole tick asleep on `seen`: asks `judge` about its owner; `Dead` means
    /// the lock was taken over (the word still held `seen`), `Alive` to wait on
    /// (including a lost takeover race), `Impossible` to give up.
    fn judge_holder(&self, seen: u32, me: Identity, judge: impl Fn(Identity) -> Holder) -> Holder {
        let pid = seen & PID_MASK;
        // Acquire — SYNC POINT: pairs with the Release that freed or took over the word
        // before `seen` (`unlock`'s swap, a takeover's CAS; the new owner's CAS continues
        // its release sequence): that writer cleared the owner record first, so the
        // record read below is `seen`'s owner's or 0, never an earlier owner's.
        if self.word.load(Ordering::Acquire) != seen {
            return Holder::Alive;
        }
        // Relaxed: ordered by the Acquire load above.
        let rec = self.owner.load(Ordering::Relaxed);
        let start = if (rec >> 32) as u32 == pid {
            rec & 0xffff_ffff
        } else {
            0 // record not written yet: judge by the pid alone
        };
        if pid == 0 {
            return Holder::Alive;
        }
        match judge(Identity { pid, start }) {
            Holder::Dead => {}
            other => return other,
        }
        let mine = (me.pid & PID_MASK) | WAITERS;
        // Clear the dead owner's record before the word changes hands, so no one pairs
        // our pid (perhaps the dead owner's, reused) with its start time. Only a record
        // that names the word's pid is cleared: any other is a later owner's, which is
        // not ours to erase. Relaxed: published by the Release of the CAS below.
        if (rec >> 32) as u32 == pid
            && self
                .owner
                .compare_exchange(rec, 0, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return Holder::Alive;
        }
        // AcqRel: acquire whatever the dead owner left in the data; release the clear
        // (and, as in `try_lock`, our later writes under the lock).
        if self
            .word
            .compare_exchange(seen, mine, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return Holder::Alive;
        }
        // Relaxed: see `try_lock`; the flag is read by the next lockers after they
        // acquire the word (Release in `unlock` publishes it).
        self.owner
            .store(pack_owner(me.pid, me.start), Ordering::Relaxed);
        self.inconsistent.store(1, Ordering::Relaxed);
        Holder::Dead
    }

    fn acquired(&self) -> Acquired {
        // Relaxed: written under the lock, which we hold now (Acquire on the word).
        if self.inconsistent.load(Ordering::Relaxed) != 0 {
            Acquired::OwnerDied
        } else {
            Acquired::Clean
        }
    }

    /// True if the lock was taken over from a dead owner and not yet marked
    /// consistent (read it while holding the lock).
    pub fn is_inconsistent(&self) -> bool {
        // Relaxed: written under the lock, which the caller holds.
        self.inconsistent.load(Ordering::Relaxed) != 0
    }

    /// Declares the protected data consistent again after [`Acquired::OwnerDied`].
    /// Call it while holding the lock.
    pub fn mark_consistent(&self) {
        // Relaxed: under the lock; published by the Release in `unlock`.
        self.inconsistent.store(0, Ordering::Relaxed);
    }

    /// Releases the lock; wakes one sleeper if any announced itself.
    #[inline]
    pub fn unlock(&self) {
        // Clear our owner record first, so the next owner's pid (perhaps ours, reused)
        // is never paired with our start time. Relaxed: published by the swap below.
        self.owner.store(0, Ordering::Relaxed);
        // Release — SYNC POINT: pairs with the Acquire CAS of the next owner (and the
        // Acquire load of a waiter that checks the owner's liveness).
        let prev = self.word.swap(0, Ordering::Release);
        // (`shmlane_mutant_no_flag_wake` drops this wake: see the loom mutant check.)
        #[cfg(not(shmlane_mutant_no_flag_wake))]
        if prev & WAITERS != 0 {
            futex::wake_all(&self.word);
        }
        #[cfg(shmlane_mutant_no_flag_wake)]
        let _ = prev;
    }

    /// The pid the word names now (0: free).
    pub fn owner_pid(&self) -> u32 {
        // Acquire — SYNC POINT: pairs with the Release part of the locking CASes (a
        // caller that reads a locker's pid also sees what that locker did before).
        self.word.load(Ordering::Acquire) & PID_MASK
    }

    /// True if some process holds the lock (a snapshot).
    pub fn is_locked(&self) -> bool {
        // Relaxed: a snapshot.
        self.word.load(Ordering::Relaxed) & PID_MASK != 0
    }

    /// True if a waiter announced itself in the word (tests: observe a sleeper).
    #[cfg(test)]
    pub(crate) fn has_waiters(&self) -> bool {
        // Relaxed: a snapshot.
        self.word.load(Ordering::Relaxed) & WAITERS != 0
    }

    /// Overwrites the lock word (fuzzing and tests: a hostile peer).
    #[doc(hidden)]
    #[cfg(feature = "fault-injection")]
    pub fn poke(&self, word: u32, owner: u64) {
        // Relaxed: simulated garbage.
        self.word.store(word, Ordering::Relaxed);
        self.owner.store(owner, Ordering::Relaxed);
    }
}

#[cfg(all(test, not(shmlane_loom)))]
mod tests;
