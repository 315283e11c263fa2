//! A bare futex word: the sleeping half of an eventcount, for protocols that announce
//! their sleepers elsewhere (a flag bit folded into a word the notifier already updates
//! with a read-modify-write, as `ring::mpmc` does).

use crate::primitive::{AtomicU32, Ordering, futex};
use std::time::Instant;

/// A wake-up counter living in shared memory. Waiters read a key, announce themselves
/// by the caller's protocol, then [`wait`](Self::wait) while the counter still equals
/// the key; wakers [`wake`](Self::wake) after publishing.
///
/// # Examples
///
/// ```
/// use shmlane::wait::Epoch;
/// let e = Epoch::new();
/// e.wake(); // nobody sleeps: one increment and one futex call
/// ```
#[repr(C)]
#[derive(Debug)]
pub struct Epoch {
    word: AtomicU32,
}

impl Default for Epoch {
    fn default() -> Self {
        Self::new()
    }
}

impl Epoch {
    /// A fresh counter (all-zero bytes).
    #[cfg(not(shmlane_loom))]
    pub const fn new() -> Self {
        Self {
            word: AtomicU32::new(0),
        }
    }

    /// A fresh counter (all-zero bytes).
    #[cfg(shmlane_loom)]
    pub fn new() -> Self {
        Self {
            word: AtomicU32::new(0),
        }
    }

    /// The key to pass to [`wait`](Self::wait); read it *before* announcing yourself.
    #[inline]
    pub fn key(&self) -> u32 {
        // Acquire: pairs with the Release increment in `wake`, so a waiter that sees a
        // new key also sees what the waker published before it.
        self.word.load(Ordering::Acquire)
    }

    /// Bumps the counter and wakes every sleeper.
    pub fn wake(&self) {
        // Release: see `key`.
        self.word.fetch_add(1, Ordering::Release);
        futex::wake_all(&self.word);
    }

    /// Sleeps while the counter equals `key`, at most until `until` (ignored by the loom
    /// model, which blocks until a wake). May return spuriously.
    pub fn wait(&self, key: u32, until: Instant) {
        futex::wait(&self.word, key, Some(until));
    }
}
