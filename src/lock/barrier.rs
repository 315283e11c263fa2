//! The reusable barrier.

use crate::primitive::{AtomicU32, Ordering};
use crate::wait::{EventCount, Poll, TimedOut, WaitMode, block_on};
use std::time::Instant;

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
