//! The eventcount: two 32-bit words that let a notifier skip `FUTEX_WAKE` when nobody
//! sleeps, without ever losing a wake-up. Protocol table in [`crate::wait`].

use crate::primitive::{AtomicU32, Ordering, fence, futex};
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
    epoch: AtomicU32,
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
            epoch: AtomicU32::new(0),
            sleepers: AtomicU32::new(0),
        }
    }

    /// An idle eventcount.
    #[cfg(shmlane_loom)]
    pub fn new() -> Self {
        Self {
            epoch: AtomicU32::new(0),
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
        // Release: a waiter that reads the new epoch in futex_wait also sees our publish.
        self.epoch.fetch_add(1, Ordering::Release);
        futex::wake_all(&self.epoch);
    }

    /// Announces a waiter; returns the key to pass to [`wait`](Self::wait).
    ///
    /// The caller must re-check its condition after this and call either
    /// [`cancel_wait`](Self::cancel_wait) or [`wait`](Self::wait).
    #[inline]
    pub fn prepare_wait(&self) -> u32 {
        // Acquire: pairs with the Release bump in `wake_slow`.
        let key = self.epoch.load(Ordering::Acquire);
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
        futex::wait(&self.epoch, key, Some(until));
        self.cancel_wait();
    }

    /// Number of announced sleepers (diagnostics).
    pub fn sleepers(&self) -> u32 {
        // Relaxed: a diagnostic snapshot.
        self.sleepers.load(Ordering::Relaxed)
    }
}
