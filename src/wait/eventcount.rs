//! The eventcount: two 32-bit words that let a notifier skip `FUTEX_WAKE` when nobody
//! sleeps, without ever losing a wake-up. Protocol table in [`crate::wait`].

use super::Epoch;
use crate::primitive::{AtomicU32, Ordering, fence};
use std::time::Instant;

/// A wait/notify word pair living in shared memory.
///
/// Fields:
/// 1. `epoch`: the futex word. Bumped by a notifier that saw a sleeper; a waiter sleeps
///    only while it still holds the value it read before announcing itself.
/// 2. `sleepers`: how many waiters have announced themselves and not yet left.
///
/// All-zero bytes are a valid, idle eventcount. A hostile peer can garble both words;
/// the worst outcome is a spurious or a missed wake, which the bounded sleep tick of
/// [`crate::wait`] turns into a delay, never a hang.
///
/// # Examples
///
/// ```
/// use shmlane::wait::EventCount;
/// let ec = EventCount::new();
/// ec.notify(); // nobody sleeps: no syscall
/// ```
#[repr(C)]
#[derive(Debug)]
pub struct EventCount {
    epoch: Epoch,
    sleepers: AtomicU32,
}

impl Default for EventCount {
    fn default() -> Self {
        Self::new()
    }
}

impl EventCount {
    /// An idle eventcount.
    #[cfg(not(shmlane_loom))]
    pub const fn new() -> Self {
        Self {
            epoch: Epoch::new(),
            sleepers: AtomicU32::new(0),
        }
    }

    /// An idle eventcount.
    #[cfg(shmlane_loom)]
    pub fn new() -> Self {
        Self {
            epoch: Epoch::new(),
            sleepers: AtomicU32::new(0),
        }
    }

    /// Wakes every waiter, after the caller published its state change.
    ///
    /// Costs one fence and one load when nobody sleeps.
    #[inline]
    pub fn notify(&self) {
        // SYNC POINT: pairs with the fence in `prepare_wait`. Orders the caller's publish
        // before the `sleepers` load below (store-buffer pattern, see module table).
        // (`shmlane_mutant_no_fence` removes it, to show that loom then finds the lost
        // wake-up; never set it outside that check.)
        #[cfg(not(shmlane_mutant_no_fence))]
        fence(Ordering::SeqCst);
        // Relaxed: the fence above orders this load; it needs no synchronizes-with edge.
        if self.sleepers.load(Ordering::Relaxed) != 0 {
            self.wake_slow();
        }
    }

    #[cold]
    fn wake_slow(&self) {
        // A waiter that reads the new epoch in futex_wait also sees our publish.
        self.epoch.wake();
    }

    /// Announces a waiter; returns the key to pass to [`wait`](Self::wait).
    ///
    /// The caller must re-check its condition after this and call either
    /// [`cancel_wait`](Self::cancel_wait) or [`wait`](Self::wait).
    #[inline]
    pub fn prepare_wait(&self) -> u32 {
        // Acquire (inside `key`): pairs with the Release bump in `wake_slow`.
        let key = self.epoch.key();
        // Relaxed: the fence below orders the increment before the condition re-check.
        self.sleepers.fetch_add(1, Ordering::Relaxed);
        // SYNC POINT: pairs with the fence in `notify`.
        fence(Ordering::SeqCst);
        key
    }

    /// Withdraws an announcement made by [`prepare_wait`](Self::prepare_wait).
    #[inline]
    pub fn cancel_wait(&self) {
        // Relaxed: only a counter; a stale view costs the notifier one spare wake.
        self.sleepers.fetch_sub(1, Ordering::Relaxed);
    }

    /// Sleeps while the epoch still equals `key`, at most until `until`, then withdraws
    /// the announcement. May return spuriously.
    pub fn wait(&self, key: u32, until: Instant) {
        self.epoch.wait(key, until);
        self.cancel_wait();
    }

    /// Number of announced sleepers (diagnostics).
    pub fn sleepers(&self) -> u32 {
        // Relaxed: a diagnostic snapshot.
        self.sleepers.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(shmlane_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn notify_wakes_a_sleeper_and_accounting_returns_to_zero() {
        let ec = Arc::new(EventCount::new());
        let flag = Arc::new(AtomicU32::new(0));
        let (ec2, flag2) = (ec.clone(), flag.clone());
        let waiter = std::thread::spawn(move || {
            let mut sleeps = 0;
            loop {
                if flag2.load(Ordering::Acquire) == 1 {
                    return sleeps;
                }
                let key = ec2.prepare_wait();
                if flag2.load(Ordering::Acquire) == 1 {
                    ec2.cancel_wait();
                    return sleeps;
                }
                ec2.wait(key, Instant::now() + Duration::from_secs(30));
                sleeps += 1;
            }
        });
        // Give the waiter a chance to really sleep (not required for correctness).
        while ec.sleepers() == 0 && !waiter.is_finished() {
            std::thread::yield_now();
        }
        flag.store(1, Ordering::Release);
        ec.notify();
        let sleeps = waiter.join().unwrap();
        assert!(sleeps <= 1, "woken once, not by timeout loops");
        assert_eq!(ec.sleepers(), 0);
    }

    #[test]
    fn wait_returns_at_the_deadline() {
        let ec = EventCount::new();
        let key = ec.prepare_wait();
        ec.wait(key, Instant::now() + Duration::from_millis(20));
        assert_eq!(ec.sleepers(), 0);
    }
}
