//! The reusable barrier.

use crate::primitive::{AtomicU64, Ordering};
use crate::wait::{EventCount, Poll, TimedOut, WaitMode, block_on};
use std::time::Instant;

/// A barrier for `n` parties (Python's `Barrier`); reusable, round-counted.
///
/// One word holds the current round and the parties counted in it
/// (`round << 32 | count`), so an arrival, a round's completion and a withdrawal each
/// change both in one compare-and-swap: an arrival is counted in exactly the round it
/// waits on, and a withdrawal takes back only an arrival of its own round.
///
/// A count at or above `parties` is never left by a party (the one that would reach
/// `parties` starts the next round instead): only a garbled word, or users passing
/// different `parties`, make one. The next arrival then completes the round (it is the
/// leader and releases whoever waits in that round), which makes the word valid again;
/// nothing panics, and no wait outlasts its deadline.
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
    /// `round << 32 | count`: the current round, and the arrivals counted in it.
    state: AtomicU64,
    waiters: EventCount,
}

/// The round of a state word.
fn round(word: u64) -> u32 {
    (word >> 32) as u32
}

/// The arrivals counted in a state word.
fn count(word: u64) -> u32 {
    word as u32
}

/// A state word.
fn word(round: u32, count: u32) -> u64 {
    u64::from(round) << 32 | u64::from(count)
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
        let parties = parties.max(1);
        // Arrive: count ourselves in the current round, or complete it. Relaxed: the
        // value is only the CAS's expectation; the CAS below orders.
        let mut now = self.state.load(Ordering::Relaxed);
        let mine = loop {
            let (r, c) = (round(now), count(now));
            // `c >= parties - 1`: we are the last (or the word is garbled: see the type).
            let complete = c >= parties - 1;
            let next = if complete {
                #[cfg(not(shmlane_loom))]
                crate::fault::point("barrier.complete.before_bump");
                word(r.wrapping_add(1), 0)
            } else {
                word(r, c + 1)
            };
            // AcqRel — SYNC POINT: every change of the word is a read-modify-write, so
            // each arrival's Release heads a release sequence that the completing CAS
            // reads from (the leader sees every arrival's writes), and the completing
            // CAS is the Release the waiters' Acquire loads pair with (they see its).
            // Relaxed on failure: the value only feeds the next attempt.
            match self
                .state
                .compare_exchange(now, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) if complete => {
                    // After the round bump, as the eventcount requires.
                    self.waiters.notify_fenced();
                    return Ok(true);
                }
                Ok(_) => break r,
                Err(seen) => now = seen,
            }
        };
        // Acquire: pairs with the completing CAS (see above).
        let released = || round(self.state.load(Ordering::Acquire)) != mine;
        match block_on(&self.waiters, None, mode, deadline, |_| {
            if released() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }) {
            Ok(()) => Ok(false),
            Err(TimedOut) => self.withdraw(mine),
        }
    }

    /// Takes back our arrival in round `mine` after a timeout, unless that round has
    /// completed meanwhile (then we passed: `Ok(false)`).
    fn withdraw(&self, mine: u32) -> Result<bool, TimedOut> {
        // Acquire: if the round completed, we return as released (see `wait`).
        let mut now = self.state.load(Ordering::Acquire);
        if round(now) != mine {
            return Ok(false);
        }
        #[cfg(not(shmlane_loom))]
        crate::fault::point("barrier.withdraw.before_cas");
        loop {
            if round(now) != mine {
                return Ok(false);
            }
            let c = count(now);
            if c == 0 {
                // Our arrival is not in the word (a garbled word): nothing to take back.
                return Err(TimedOut);
            }
            // AcqRel: a read-modify-write like the arrival's (keeps the release
            // sequence the completing CAS reads from); Acquire on failure as above.
            match self.state.compare_exchange(
                now,
                word(mine, c - 1),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Err(TimedOut),
                Err(seen) => now = seen,
            }
        }
    }
}

#[cfg(all(test, not(shmlane_loom)))]
mod tests {
    use super::*;
    use std::time::Duration;

    fn soon() -> Option<Instant> {
        Some(Instant::now() + Duration::from_millis(20))
    }

    /// A count at or above `parties` (a garbled word) neither panics nor hangs: the next
    /// arrival completes that round and the word is valid again.
    #[test]
    fn a_garbled_count_completes_the_round() {
        for (r, c) in [(7, 2), (7, 5), (u32::MAX, u32::MAX)] {
            let b = RawBarrier::new();
            b.state.store(word(r, c), Ordering::Relaxed);
            assert_eq!(b.wait(2, WaitMode::Blocking, soon()), Ok(true));
            let now = b.state.load(Ordering::Relaxed);
            assert_eq!((round(now), count(now)), (r.wrapping_add(1), 0));
            // A valid round again: one arrival of two waits and withdraws.
            assert_eq!(b.wait(2, WaitMode::Blocking, soon()), Err(TimedOut));
            assert_eq!(b.state.load(Ordering::Relaxed), now);
        }
    }

    /// A timed-out arrival whose own count was taken from the word (garbled to 0)
    /// withdraws nothing and leaves the word as it is.
    #[test]
    fn a_withdrawal_never_takes_what_is_not_there() {
        let b = RawBarrier::new();
        b.state.store(word(3, 0), Ordering::Relaxed);
        assert_eq!(b.withdraw(3), Err(TimedOut));
        assert_eq!(b.state.load(Ordering::Relaxed), word(3, 0));
        // Another round in the word: our round completed, we passed.
        assert_eq!(b.withdraw(2), Ok(false));
        assert_eq!(b.state.load(Ordering::Relaxed), word(3, 0));
    }
}
