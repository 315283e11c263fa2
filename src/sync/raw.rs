//! The synchronization primitives as plain `#[repr(C)]` structs of atomics: no
//! pointers, all-zero bytes are the initial state, so they can live anywhere in shared
//! memory (a standalone segment, or embedded in a struct of your own) and be used from
//! any process. No system calls on the uncontended paths; waiting goes through the
//! futex (`crate::wait`), in bounded ticks so dead peers are noticed.
//!
//! Liveness of other processes is asked of the caller (`is_alive`), so the same code
//! runs under loom.

use crate::primitive::{AtomicU32, AtomicU64, Ordering, fence, futex};
use crate::ring::Identity;
use crate::wait::{EventCount, Poll, TICK, TimedOut, WaitMode, block_on};
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
    pub fn poke(&self, word: u32, owner: u64) {
        // Relaxed: simulated garbage.
        self.word.store(word, Ordering::Relaxed);
        self.owner.store(owner, Ordering::Relaxed);
    }
}

/// This process's dealings with one shared lock, kept in process memory (the handles
/// keep one per object, shared by every mapping of it in the process).
///
/// `state` packs two counters, both changed by the thread concerned only:
///
/// | bits   | meaning                                                          |
/// |--------|------------------------------------------------------------------|
/// | 0..32  | threads of this process between the start of a lock attempt and  |
/// |        | the end of the matching unlock (or the failed attempt's end)     |
/// | 32..64 | lock attempts started (wraps)                                    |
///
/// It lets a waiter know for certain that *no other thread of this process* holds the
/// lock, which is what makes a lock word naming this process a contradiction (see
/// [`alone_while_named`](Self::alone_while_named)). Cost: one process-local atomic
/// add when a lock attempt starts and one when the lock is released; no syscall, no
/// shared-memory write.
///
/// # Examples
///
/// ```
/// use shmlane::sync::raw::{LocalLock, RawMutex};
/// let (m, local) = (RawMutex::new(), LocalLock::default());
/// m.poke(42, 0); // the word names pid 42, which took no lock here
/// local.enter(); // this thread starts an attempt
/// assert!(local.alone_while_named(&m, 42));
/// local.leave();
/// ```
#[derive(Debug, Default)]
pub struct LocalLock {
    state: AtomicU64,
}

const ENTER: u64 = 1 | 1 << 32;

impl LocalLock {
    /// A thread of this process starts a lock attempt.
    pub fn enter(&self) {
        // Relaxed: ordered before the locking CAS, whose Release part publishes it to
        // a waiter that reads our pid in the word (`RawMutex::owner_pid`, Acquire).
        self.state.fetch_add(ENTER, Ordering::Relaxed);
    }

    /// That attempt failed, or the lock it took was released (after the unlock).
    pub fn leave(&self) {
        // Release — SYNC POINT: pairs with the Acquire loads in `alone_while_named`:
        // a waiter that sees us gone also sees our unlock of the word.
        self.state.fetch_sub(1, Ordering::Release);
    }

    /// True while a thread of this process is inside a lock attempt or holds the lock
    /// (a guard that was `mem::forget`-ten stays counted for good).
    ///
    /// ```
    /// let local = shmlane::sync::raw::LocalLock::default();
    /// local.enter();
    /// assert!(local.busy());
    /// local.leave();
    /// assert!(!local.busy());
    /// ```
    pub fn busy(&self) -> bool {
        // Acquire: see `leave`.
        self.state.load(Ordering::Acquire) as u32 != 0
    }

    /// True if the lock word names `pid` (this process) while no thread of this
    /// process but the caller (itself inside an attempt) is between a lock attempt's
    /// start and its unlock: then nobody here can hold it, and nobody here can have
    /// written that word: a contradiction.
    ///
    /// Exact, not a guess: a thread of ours that wrote the word `enter`ed before its
    /// CAS, which publishes the enter with Release; reading its pid (Acquire) makes
    /// that enter visible to the second snapshot, so either the attempt counter moved
    /// between the snapshots or the thread is counted in them. A thread that already
    /// left had unlocked first (Release), so the word read after its leave cannot be
    /// its value any more.
    pub fn alone_while_named(&self, lock: &RawMutex, pid: u32) -> bool {
        // Acquire: see `leave`.
        let before = self.state.load(Ordering::Acquire);
        let named = lock.owner_pid();
        // Acquire: see `leave`.
        let after = self.state.load(Ordering::Acquire);
        before == after && before as u32 == 1 && named == pid
    }
}

/// A condition variable for [`RawMutex`]: a sequence word that waiters sleep on.
///
/// `wait` reads the sequence *before* unlocking the mutex, so a notify that follows
/// the unlock changes it and the futex wait returns at once: no lost wake-up.
#[repr(C)]
#[derive(Debug, Default)]
pub struct RawCondvar {
    seq: AtomicU32,
}

impl RawCondvar {
    /// A fresh condvar (all-zero bytes).
    pub fn new() -> Self {
        Self::default()
    }

    /// Unlocks `m`, sleeps until notified (or spuriously, or until `until`), then locks
    /// `m` again as `me`. Callers loop on their condition.
    pub fn wait(
        &self,
        m: &RawMutex,
        me: Identity,
        until: Option<Instant>,
        is_alive: impl Fn(Identity) -> bool,
    ) -> Acquired {
        self.sleep(m, until);
        loop {
            match m.lock(me, WaitMode::Blocking, None, &is_alive) {
                Ok(a) => return a,
                Err(TimedOut) => continue,
            }
        }
    }

    /// The first half of [`wait`](Self::wait): unlocks `m` and sleeps until notified
    /// (or spuriously, or a tick, or `until`), *without* locking `m` again; the caller
    /// relocks (and must, before touching the data).
    pub fn sleep(&self, m: &RawMutex, until: Option<Instant>) {
        // Relaxed: the mutex orders it: a notifier bumps it while holding `m` or after
        // changing state under `m`, which our unlock below lets it take.
        let seq = self.seq.load(Ordering::Relaxed);
        m.unlock();
        let tick = Instant::now() + TICK;
        futex::wait(&self.seq, seq, Some(until.map_or(tick, |u| u.min(tick))));
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        // Release: a waiter that sees the new value also sees what we published.
        self.seq.fetch_add(1, Ordering::Release);
        futex::wake_all(&self.seq);
    }

    /// Wakes waiters (all of them: the futex model and correctness only need "at least
    /// one"; waiters re-check their condition under the mutex).
    pub fn notify_one(&self) {
        self.notify_all();
    }
}

/// A counting semaphore with an upper bound (Python's `BoundedSemaphore`).
///
/// # Examples
///
/// ```
/// use shmlane::sync::raw::RawSemaphore;
/// let s = RawSemaphore::new();
/// s.release(1).unwrap();
/// assert!(s.try_acquire());
/// assert!(!s.try_acquire());
/// ```
#[repr(C)]
#[derive(Debug, Default)]
pub struct RawSemaphore {
    count: AtomicU32,
    reserved: AtomicU32,
    waiters: EventCount,
}

impl RawSemaphore {
    /// A semaphore with count 0 (all-zero bytes).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the count (before anyone uses it).
    pub fn init(&self, count: u32) {
        // Release: whoever later acquires sees the initial count.
        self.count.store(count, Ordering::Release);
    }

    /// Takes one unit if available now.
    pub fn try_acquire(&self) -> bool {
        // Acquire on success — SYNC POINT: pairs with the Release in `release`.
        let mut c = self.count.load(Ordering::Relaxed);
        while c > 0 {
            match self
                .count
                .compare_exchange_weak(c, c - 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => c = now,
            }
        }
        false
    }

    /// Takes one unit, waiting until `deadline`.
    pub fn acquire(&self, mode: WaitMode, deadline: Option<Instant>) -> Result<(), TimedOut> {
        block_on(&self.waiters, None, mode, deadline, |_| {
            if self.try_acquire() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }

    /// Returns `n` units; fails (changing nothing) if the count would exceed `max`.
    pub fn release_bounded(&self, n: u32, max: u32) -> Result<(), u32> {
        let mut c = self.count.load(Ordering::Relaxed);
        loop {
            let new = c.checked_add(n).filter(|&v| v <= max).ok_or(c)?;
            // Release — SYNC POINT: pairs with the Acquire in `try_acquire`.
            match self
                .count
                .compare_exchange_weak(c, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => c = now,
            }
        }
        self.waiters.notify_fenced();
        Ok(())
    }

    /// Returns `n` units (no bound other than `u32::MAX`).
    pub fn release(&self, n: u32) -> Result<(), u32> {
        self.release_bounded(n, u32::MAX)
    }

    /// The count now (a snapshot).
    pub fn value(&self) -> u32 {
        // Relaxed: a snapshot.
        self.count.load(Ordering::Relaxed)
    }
}

/// A flag processes can wait for (Python's `Event`).
///
/// # Examples
///
/// ```
/// use shmlane::sync::raw::RawEvent;
/// let e = RawEvent::new();
/// assert!(!e.is_set());
/// e.set();
/// assert!(e.is_set());
/// ```
#[repr(C)]
#[derive(Debug, Default)]
pub struct RawEvent {
    flag: AtomicU32,
    reserved: AtomicU32,
    waiters: EventCount,
}

impl RawEvent {
    /// A cleared event (all-zero bytes).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        // Release — SYNC POINT: pairs with the Acquire in `is_set`.
        self.flag.store(1, Ordering::Release);
        self.waiters.notify_fenced();
    }

    /// Clears the flag.
    pub fn clear(&self) {
        // Relaxed: clearing publishes nothing.
        self.flag.store(0, Ordering::Relaxed);
    }

    /// True if set.
    pub fn is_set(&self) -> bool {
        // Acquire: see `set`. Any non-zero value counts as set (garbage included).
        self.flag.load(Ordering::Acquire) != 0
    }

    /// Waits until set, or until `deadline`.
    pub fn wait(&self, mode: WaitMode, deadline: Option<Instant>) -> Result<(), TimedOut> {
        block_on(&self.waiters, None, mode, deadline, |_| {
            if self.is_set() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }
}

/// A barrier for `n` parties (Python's `Barrier`); reusable, generation-counted.
///
/// # Examples
///
/// ```
/// use shmlane::sync::raw::RawBarrier;
/// use shmlane::WaitMode;
/// let b = RawBarrier::new();
/// // a barrier of one party releases at once and reports its leader
/// assert_eq!(b.wait(1, WaitMode::Blocking, None), Ok(true));
/// ```
#[repr(C)]
#[derive(Debug, Default)]
pub struct RawBarrier {
    arrived: AtomicU32,
    generation: AtomicU32,
    waiters: EventCount,
}

impl RawBarrier {
    /// A fresh barrier (all-zero bytes).
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits until `parties` callers (in any processes) have arrived; returns `true` in
    /// the one that completed the group. On timeout the caller's arrival is withdrawn
    /// if the group has not completed meanwhile.
    pub fn wait(
        &self,
        parties: u32,
        mode: WaitMode,
        deadline: Option<Instant>,
    ) -> Result<bool, TimedOut> {
        // Acquire: pairs with the Release bump of a completed group.
        let generation = self.generation.load(Ordering::Acquire);
        // AcqRel: the last arrival sees every earlier arrival's writes, and they see its.
        let n = self.arrived.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
        if n >= parties.max(1) {
            // Relaxed: ordered before the Release bump below.
            self.arrived.store(0, Ordering::Relaxed);
            // Release — SYNC POINT: pairs with the Acquire loads of the waiters.
            self.generation.fetch_add(1, Ordering::Release);
            self.waiters.notify_fenced();
            return Ok(true);
        }
        let released = || self.generation.load(Ordering::Acquire) != generation;
        match block_on(&self.waiters, None, mode, deadline, |_| {
            if released() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }) {
            Ok(()) => Ok(false),
            Err(TimedOut) => {
                // Withdraw, unless the group completed meanwhile.
                let mut a = self.arrived.load(Ordering::Relaxed);
                loop {
                    if released() {
                        return Ok(false);
                    }
                    if a == 0 {
                        return Err(TimedOut);
                    }
                    // AcqRel: as for the arrival.
                    match self.arrived.compare_exchange_weak(
                        a,
                        a - 1,
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => return Err(TimedOut),
                        Err(now) => a = now,
                    }
                }
            }
        }
    }
}

/// A sequence lock over `N` 64-bit words: one writer at a time (the caller serializes
/// writers, e.g. with a [`RawMutex`]), lock-free readers that never return a torn
/// value. Readers copy the words with atomic loads, never plain loads of racy memory.
///
/// # Examples
///
/// ```
/// use shmlane::sync::raw::SeqLock;
/// let s = SeqLock::<2>::new();
/// s.write(&[1, 2]);
/// assert_eq!(s.read(), Some([1, 2]));
/// ```
#[repr(C)]
#[derive(Debug)]
pub struct SeqLock<const N: usize> {
    seq: AtomicU64,
    words: [AtomicU64; N],
}

impl<const N: usize> Default for SeqLock<N> {
    fn default() -> Self {
        Self {
            seq: AtomicU64::new(0),
            words: core::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl<const N: usize> SeqLock<N> {
    /// Zero words, sequence 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes `value` (the caller holds the writers' lock).
    pub fn write(&self, value: &[u64; N]) {
        seqlock_write(&self.seq, &self.words, value);
    }

    /// Overwrites the sequence word (fuzzing and tests: a hostile peer).
    #[doc(hidden)]
    pub fn poke_seq(&self, value: u64) {
        // Relaxed: simulated garbage.
        self.seq.store(value, Ordering::Relaxed);
    }

    /// One read attempt: `None` if a write was in progress or overlapped (retry).
    pub fn read(&self) -> Option<[u64; N]> {
        let mut out = [0u64; N];
        seqlock_read(&self.seq, &self.words, &mut out).then_some(out)
    }
}

/// The seqlock write over any word slice (see [`SeqLock`]).
pub(crate) fn seqlock_write(seq: &AtomicU64, words: &[AtomicU64], value: &[u64]) {
    // Relaxed: we are the only writer (caller's lock); ordering comes from the fences.
    let s = seq.load(Ordering::Relaxed);
    // An odd value marks a write in progress; a garbage odd value becomes even here.
    let start = s | 1;
    seq.store(start, Ordering::Relaxed);
    // SYNC POINT: the odd sequence is ordered before the data stores (pairs with the
    // reader's Acquire fence: a reader that saw any new word sees the odd sequence).
    fence(Ordering::Release);
    for (w, v) in words.iter().zip(value) {
        // Relaxed: ordered by the fence above and the Release store below.
        w.store(*v, Ordering::Relaxed);
    }
    // Release — SYNC POINT: pairs with the reader's Acquire load of the sequence.
    seq.store(start.wrapping_add(1), Ordering::Release);
}

/// The seqlock read over any word slice; false if torn (retry).
pub(crate) fn seqlock_read(seq: &AtomicU64, words: &[AtomicU64], out: &mut [u64]) -> bool {
    // Acquire — SYNC POINT: pairs with the writer's final Release store.
    let s1 = seq.load(Ordering::Acquire);
    if s1 & 1 != 0 {
        return false;
    }
    for (o, w) in out.iter_mut().zip(words) {
        // Relaxed: validated by the sequence re-check below.
        *o = w.load(Ordering::Relaxed);
    }
    // SYNC POINT: orders the data loads before the re-check (pairs with the writer's
    // Release fence).
    fence(Ordering::Acquire);
    // Relaxed: ordered by the fence above.
    seq.load(Ordering::Relaxed) == s1
}

/// The sequence word of a seqlock, for a reader that finds it stuck odd: the writer
/// died mid-write (or a peer wrote garbage).
pub(crate) fn seqlock_is_odd(seq: &AtomicU64) -> bool {
    // Relaxed: a hint; the repair happens under the writers' lock.
    seq.load(Ordering::Relaxed) & 1 != 0
}

#[cfg(all(test, not(shmlane_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    const ME: Identity = Identity { pid: 7, start: 1 };

    /// Two threads increment a counter under the mutex (Miri checks the orderings).
    #[test]
    fn mutex_threads_exact_count() {
        const N: u64 = if cfg!(miri) { 50 } else { 100_000 };
        let m = Arc::new((RawMutex::new(), AtomicU64::new(0)));
        let t = {
            let m = m.clone();
            std::thread::spawn(move || {
                for _ in 0..N {
                    m.0.lock(ME, WaitMode::Blocking, None, |_| true).unwrap();
                    // Relaxed load + store: a non-atomic increment, correct only
                    // under the lock.
                    let v = m.1.load(Ordering::Relaxed);
                    m.1.store(v + 1, Ordering::Relaxed);
                    m.0.unlock();
                }
            })
        };
        for _ in 0..N {
            m.0.lock(ME, WaitMode::Blocking, None, |_| true).unwrap();
            let v = m.1.load(Ordering::Relaxed);
            m.1.store(v + 1, Ordering::Relaxed);
            m.0.unlock();
        }
        t.join().unwrap();
        assert_eq!(m.1.load(Ordering::Relaxed), 2 * N);
    }

    /// A reader never returns a mix of two writes.
    #[test]
    fn seqlock_reader_sees_whole_values() {
        const N: u64 = if cfg!(miri) { 30 } else { 100_000 };
        let s = Arc::new(SeqLock::<3>::new());
        let w = {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 1..=N {
                    s.write(&[i, i, i]);
                }
            })
        };
        let mut seen = 0;
        while seen < N {
            if let Some([a, b, c]) = s.read() {
                assert!(a == b && b == c, "torn: {a} {b} {c}");
                seen = a;
            }
            std::thread::yield_now();
        }
        w.join().unwrap();
    }

    /// The owner record is a second store after the lock CAS. A record left by an
    /// earlier owner whose pid was reused by the new owner must not be read as the new
    /// owner's: a waiter checking in between would take a live owner's lock.
    #[test]
    fn stale_owner_record_of_a_reused_pid_is_not_the_new_owners() {
        let old = Identity { pid: 7, start: 1 };
        let new = Identity { pid: 7, start: 2 }; // pid 7 reused
        let waiter = Identity { pid: 8, start: 3 };
        let alive = |id: Identity| {
            if id.pid == waiter.pid || (id.pid == 7 && id.start != old.start) {
                Holder::Alive
            } else {
                Holder::Dead
            }
        };
        let m = RawMutex::new();
        assert!(m.try_lock(old.pid, old.start));
        m.unlock();
        // `new` locks: its CAS is done, its record not written yet (stopped there).
        m.word.store(new.pid | WAITERS, Ordering::Relaxed);
        assert!(
            m.judge_holder(new.pid | WAITERS, waiter, alive) == Holder::Alive,
            "a waiter took the lock of a live owner"
        );
        // `new` dies before writing its record: judged by pid (gone now), taken over.
        let gone = |id: Identity| {
            if id.pid == waiter.pid {
                Holder::Alive
            } else {
                Holder::Dead
            }
        };
        assert!(m.judge_holder(new.pid | WAITERS, waiter, gone) == Holder::Dead);
        assert!(m.is_inconsistent());
    }

    /// Event, semaphore and barrier across two threads.
    #[test]
    fn event_semaphore_barrier_threads() {
        let (e, s, b) = (
            Arc::new(RawEvent::new()),
            Arc::new(RawSemaphore::new()),
            Arc::new(RawBarrier::new()),
        );
        let t = {
            let (e, s, b) = (e.clone(), s.clone(), b.clone());
            std::thread::spawn(move || {
                e.wait(WaitMode::Blocking, None).unwrap();
                s.release(1).unwrap();
                b.wait(2, WaitMode::Blocking, None).unwrap()
            })
        };
        e.set();
        s.acquire(WaitMode::Blocking, None).unwrap();
        let mine = b.wait(2, WaitMode::Blocking, None).unwrap();
        assert!(mine ^ t.join().unwrap());
        assert_eq!(s.release_bounded(2, 1), Err(0));
    }
}
