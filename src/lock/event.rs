//! The event flag.

use crate::primitive::{AtomicU32, Ordering};
use crate::wait::{EventCount, Poll, TimedOut, WaitMode, block_on};
use std::time::Instant;

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
