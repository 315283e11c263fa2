//! The condition variable word.

use super::{Acquired, RawMutex};
use crate::platform::identity::Identity;
use crate::primitive::{AtomicU32, Ordering, futex};
use crate::wait::{TICK, TimedOut, WaitMode};
use std::time::Instant;

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
