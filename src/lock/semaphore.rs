//! The bounded counting semaphore word.

use crate::primitive::{AtomicU32, Ordering};
use crate::wait::{EventCount, Poll, TimedOut, WaitMode, block_on};
use std::time::Instant;

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
