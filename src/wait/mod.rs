//! Waiting: bounded spin, then a futex sleep through an `EventCount`.
//!
//! This is the only module that sleeps. The protocol (see `docs/architecture.md` for
//! the argument that no wake-up is lost):
//!
//! | step | waiter                                   | notifier                               |
//! |------|------------------------------------------|----------------------------------------|
//! | 1    | `key = epoch` (Acquire)                  | publish the state change (Release)     |
//! | 2    | `sleepers += 1`, clearing `WOKEN`        | light fence (a compiler barrier)       |
//! | 3    | `fence(SeqCst)`, then the heavy fence    | load `sleepers`; if a fence request is |
//! |      | (`membarrier`) unless it holds a request |   there: `fence(SeqCst)`, load again   |
//! | 4    | re-check the condition; ready → cancel   | if `sleepers > 0` and not `WOKEN`:     |
//! |      |                                          |   claim by setting `WOKEN`; the winner |
//! |      |                                          |   does `epoch += 1` and the wake       |
//! | 5    | `futex_wait(epoch, key, tick)`           |                                        |
//!
//! The fences forbid the store-buffer outcome where the waiter misses the notifier's
//! publish (step 4) *and* the notifier misses the waiter's `sleepers` increment
//! (step 3): either as an asymmetric pair (the notifier's compiler barrier and the
//! waiter's `membarrier`, which forces a full barrier on every running thread of the
//! registered notifier processes; `primitive::membarrier` has the argument), or, for a
//! waiter holding a fence request (`EventCount::request_fence`), as two `SeqCst`
//! fences. If the notifier sees `sleepers > 0` it bumps `epoch` before the wake, so a
//! waiter that has not yet reached `futex_wait` finds `epoch != key` and returns at
//! once. The claim (`WOKEN`) makes one sleep cost at most one wake, however many
//! notifies arrive before the woken waiter runs again.
//!
//! Why two ways: a publish with a `SeqCst` fence waits for its store to leave the store
//! buffer, which costs a streaming sender about a quarter of its rate; a `membarrier`
//! costs the waiter a few microseconds (9 µs on a 2-core VM). So a waiter that rarely
//! sleeps pays `membarrier`, and one that sleeps again and again asks the notifiers for
//! fences instead (one `membarrier` to cover notifies already in flight), until
//! [`CALM_WAITS`] waits in a row have ended without sleeping.
//!
//! Sleeps are bounded ticks ([`TICK`]) so the caller can notice a dead peer even if no
//! one will ever wake it.

mod epoch;
mod eventcount;

#[cfg(feature = "internals")]
pub use {epoch::Epoch, eventcount::EventCount};
#[cfg(not(feature = "internals"))]
pub(crate) use {epoch::Epoch, eventcount::EventCount};

use crate::primitive::{spin_hint, yield_now};
use std::time::{Duration, Instant};

/// The deadline `timeout` from now, or `None` (no deadline) when it lies beyond what an
/// `Instant` can hold: `Duration::MAX` and the like mean "no limit", as in `std`, not a
/// panic on `Instant + Duration` overflow. What every `*_timeout` call starts with.
#[cfg(not(shmlane_loom))] // the handles that take timeouts are not built under loom
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// The longest single futex sleep; after each tick the caller re-checks peer liveness.
pub const TICK: Duration = Duration::from_millis(50);

/// How long [`WaitMode::Blocking`] spins before it sleeps. Long enough that a peer's
/// reply within a burst (or after a short preemption of the peer) never pays a futex
/// wake-up (~30 µs on a VM); short enough that an idle waiter costs nothing measurable.
pub const SPIN_BUDGET: Duration = Duration::from_micros(50);

/// The first part of [`SPIN_BUDGET`] spins without system calls; the rest yields the
/// CPU between spins, so that with more waiting processes than cores the peer we wait
/// for gets to run.
pub const PURE_SPIN: Duration = Duration::from_micros(5);

/// How a blocking call waits when there is nothing to do.
///
/// # Examples
///
/// ```
/// use shmlane::WaitMode;
/// assert_eq!(WaitMode::default(), WaitMode::Blocking);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum WaitMode {
    /// Spin up to [`SPIN_BUDGET`] (a poll after every pause), then sleep on the futex:
    /// next to no CPU when idle (one liveness check per [`TICK`]: 0.09 % measured).
    #[default]
    Blocking,
    /// Busy-poll without ever sleeping: lowest latency, one core burnt while waiting.
    /// Still honours deadlines and notices a dead peer.
    Spin,
    /// Sleep on the futex at once, without spinning first: least CPU, every wait pays a
    /// wake-up.
    Sleep,
}

/// Waits in a row that end without sleeping after which a pipe end withdraws its fence
/// request (`EventCount::request_fence`), so that notifiers stop fencing.
///
/// ```
/// assert!(shmlane::wait::CALM_WAITS > 1);
/// ```
pub const CALM_WAITS: u32 = 64;

/// A waiter's fence request on one eventcount, kept by the endpoint across its waits
/// (module docs): held from the first wait that sleeps until [`CALM_WAITS`] waits in a
/// row have not (never withdrawn in [`WaitMode::Sleep`], which sleeps on every wait). The endpoint withdraws it when dropped; a crashed waiter's request
/// stays, which only makes notifiers fence.
#[derive(Debug, Default)]
pub(crate) struct FenceRequest {
    held: bool,
    calm: u32,
}

impl FenceRequest {
    /// Before the first sleep of a wait: holds the request. Returns false if the first
    /// sleep must be capped (no `membarrier` covered the notifies in flight).
    fn before_sleep(&mut self, ec: &EventCount) -> bool {
        self.calm = 0;
        if self.held {
            return true;
        }
        self.held = true;
        ec.request_fence()
    }

    /// After a wait that ended without sleeping.
    fn after_calm_wait(&mut self, ec: &EventCount) {
        if self.held {
            self.calm += 1;
            if self.calm >= CALM_WAITS {
                self.withdraw(ec);
            }
        }
    }

    /// Withdraws the request, if held.
    pub(crate) fn withdraw(&mut self, ec: &EventCount) {
        if self.held {
            ec.withdraw_fence();
            self.held = false;
            self.calm = 0;
        }
    }
}

/// Polls between two slow-path checks (deadline, peer liveness) in [`WaitMode::Spin`].
const SPIN_CHECK_EVERY: u32 = 1 << 12;

/// Polls between two clock reads in the spinning phase of [`WaitMode::Blocking`].
const BLOCKING_CLOCK_EVERY: u32 = 32;

/// The caller's answer to one poll.
pub(crate) enum Poll<R> {
    /// The wait is over with this result.
    Ready(R),
    /// Nothing yet.
    Pending,
}

/// A wait ran into its deadline.
///
/// # Examples
///
/// ```
/// assert_eq!(shmlane::wait::TimedOut.to_string(), "timed out");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("timed out")]
pub struct TimedOut;

/// Where the waiting loops read the time: the real clock in production; the loom
/// models inject a deterministic one (every read one step later), so that the model's
/// executions do not depend on the host's timing.
pub(crate) trait Clock {
    /// The current time.
    fn now(&mut self) -> Instant;
}

/// The monotonic clock.
pub(crate) struct RealClock;

impl Clock for RealClock {
    #[inline]
    fn now(&mut self) -> Instant {
        Instant::now()
    }
}

/// Waits until `poll` is ready or `deadline` passes.
///
/// `poll(slow)` checks the condition; with `slow == true` it may also run expensive
/// checks (peer liveness). `ec` is the eventcount the party that makes `poll` ready
/// notifies after publishing: with [`EventCount::notify`] if the caller passes its
/// `request`, with `notify_fenced` if it passes `None`.
#[inline]
pub(crate) fn block_on<R>(
    ec: &EventCount,
    request: Option<&mut FenceRequest>,
    mode: WaitMode,
    deadline: Option<Instant>,
    poll: impl FnMut(bool) -> Poll<R>,
) -> Result<R, TimedOut> {
    block_on_with(&mut RealClock, ec, request, mode, deadline, poll)
}

/// [`block_on`] with the clock injected: the production loop, which the loom models
/// drive through [`model`] with a deterministic clock (the peer's liveness and the
/// deadline are the caller's `poll` and `deadline`).
pub(crate) fn block_on_with<R>(
    clock: &mut impl Clock,
    ec: &EventCount,
    request: Option<&mut FenceRequest>,
    mode: WaitMode,
    deadline: Option<Instant>,
    mut poll: impl FnMut(bool) -> Poll<R>,
) -> Result<R, TimedOut> {
    if let Some(done) = spin_first(clock, mode, deadline, &mut poll) {
        // A `Sleep` waiter keeps its request: it sleeps whenever it has to wait at all.
        if let Some(r) = request.filter(|_| mode != WaitMode::Sleep) {
            r.after_calm_wait(ec);
        }
        return done;
    }
    let mut cap_first = request.is_some_and(|r| !r.before_sleep(ec));
    loop {
        let now = clock.now();
        if deadline.is_some_and(|d| now >= d) {
            return Err(TimedOut);
        }
        let tick_end = now + TICK;
        let mut until = deadline.map_or(tick_end, |d| d.min(tick_end));
        if cap_first {
            // A notify in flight when we asked for fences may have missed us once.
            until = until.min(now + NAP);
            cap_first = false;
        }
        // Enough without `membarrier`: notifiers fence (the request, or `notify_fenced`).
        let key = ec.prepare_wait_fenced();
        if let Poll::Ready(r) = poll(false) {
            ec.cancel_wait();
            return Ok(r);
        }
        // Announced (and holding a fence request, if any), not yet asleep: the state a
        // waiter killed in its sleep leaves behind.
        #[cfg(not(shmlane_loom))]
        crate::fault::point("wait.before_sleep");
        ec.wait(key, until);
        // Woken (or spurious): cheap check. Tick expired: also the slow checks
        // (peer liveness), which may cost a /proc read and must not run per wake-up.
        let slow = clock.now() >= until;
        if let Poll::Ready(r) = poll(slow) {
            return Ok(r);
        }
    }
}

/// The production wait loop ([`block_on_with`]) as the loom models in `loom-tests/`
/// drive it: deadline `None`, a deterministic clock, `poll` never slow (liveness is the
/// caller's business, and the model has no processes to lose).
#[cfg(shmlane_loom)]
#[doc(hidden)]
pub mod model {
    use super::{Clock, EventCount, FenceRequest, Poll, WaitMode, block_on_with};
    use std::time::{Duration, Instant};

    /// A clock that advances one millisecond per read.
    struct StepClock(Instant);

    impl Clock for StepClock {
        fn now(&mut self) -> Instant {
            self.0 += Duration::from_millis(1);
            self.0
        }
    }

    /// One waiting end: its fence request, kept across waits as a pipe end keeps it.
    #[derive(Debug, Default)]
    pub struct Waiter(FenceRequest);

    impl Waiter {
        /// A waiter that has already asked `ec`'s notifiers for fences (as after a wait
        /// that slept), so its next sleep announces itself without `membarrier`.
        pub fn holding_request(ec: &EventCount) -> Self {
            let mut r = FenceRequest::default();
            assert!(r.before_sleep(ec));
            Self(r)
        }

        /// `wait::block_on(ec, Some(request), mode, None, ..)` until `ready()`; the
        /// notifiers use [`EventCount::notify`].
        pub fn wait_until(
            &mut self,
            ec: &EventCount,
            mode: WaitMode,
            mut ready: impl FnMut() -> bool,
        ) {
            let r = block_on_with(
                &mut StepClock(Instant::now()),
                ec,
                Some(&mut self.0),
                mode,
                None,
                |_| {
                    if ready() {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                },
            );
            assert!(r.is_ok(), "no deadline, no time-out");
        }

        /// Withdraws the fence request, as a pipe end does when dropped.
        pub fn withdraw(&mut self, ec: &EventCount) {
            self.0.withdraw(ec);
        }
    }

    /// `wait::block_on(ec, None, mode, None, ..)` until `ready()`: the protocol of the
    /// cross-process locks, whose notifiers use [`EventCount::notify_fenced`].
    pub fn wait_until_fenced(ec: &EventCount, mode: WaitMode, mut ready: impl FnMut() -> bool) {
        let r = block_on_with(&mut StepClock(Instant::now()), ec, None, mode, None, |_| {
            if ready() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        });
        assert!(r.is_ok(), "no deadline, no time-out");
    }
}

/// The answer of one attempt to announce a sleeper ([`block_on_armed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arm {
    /// Announced: whoever makes the condition true will wake the epoch.
    Sleep,
    /// Not announced, because an operation in flight is about to change the state (or
    /// its owner died): nap for [`NAP`] and poll again.
    Nap,
    /// The state moved meanwhile: poll again at once.
    Retry,
}

/// How long a waiter naps while another party's operation is in flight.
pub const NAP: Duration = Duration::from_micros(200);

/// Like [`block_on`], for protocols whose waiters announce themselves with `arm`
/// instead of an eventcount's sleeper count: `arm` must make the announcement
/// atomically with re-checking the condition, so that a party making the condition
/// true afterwards sees it and wakes `epoch` after publishing.
pub(crate) fn block_on_armed<R>(
    epoch: &Epoch,
    mode: WaitMode,
    deadline: Option<Instant>,
    mut poll: impl FnMut(bool) -> Poll<R>,
    mut arm: impl FnMut() -> Arm,
) -> Result<R, TimedOut> {
    if let Some(done) = spin_first(&mut RealClock, mode, deadline, &mut poll) {
        return done;
    }
    let mut next_slow = Instant::now() + TICK;
    loop {
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return Err(TimedOut);
        }
        let until = deadline.map_or(next_slow, |d| d.min(next_slow));
        // The key is read before arming: a wake after the announcement changes it.
        let key = epoch.key();
        match arm() {
            Arm::Retry => {}
            Arm::Sleep => epoch.wait(key, until),
            Arm::Nap => nap(epoch, key, until.min(now + NAP)),
        }
        let slow = Instant::now() >= next_slow;
        if slow {
            next_slow = Instant::now() + TICK;
        }
        if let Poll::Ready(r) = poll(slow) {
            return Ok(r);
        }
    }
}

/// A short timed sleep that nobody needs to wake.
fn nap(epoch: &Epoch, key: u32, until: Instant) {
    #[cfg(not(shmlane_loom))]
    epoch.wait(key, until);
    // The loom futex model ignores deadlines; a nap there is a yield.
    #[cfg(shmlane_loom)]
    {
        let _ = (epoch, key, until);
        yield_now();
    }
}

/// The spinning phase every mode starts with: `Some` if it ended the wait (always, in
/// [`WaitMode::Spin`]), `None` if the caller should go on to sleep.
fn spin_first<R>(
    clock: &mut impl Clock,
    mode: WaitMode,
    deadline: Option<Instant>,
    poll: &mut impl FnMut(bool) -> Poll<R>,
) -> Option<Result<R, TimedOut>> {
    if let Poll::Ready(r) = poll(false) {
        return Some(Ok(r));
    }
    match mode {
        WaitMode::Spin => {
            let mut n: u32 = 0;
            loop {
                spin_hint();
                n = n.wrapping_add(1);
                let slow = n.is_multiple_of(SPIN_CHECK_EVERY);
                if let Poll::Ready(r) = poll(slow) {
                    return Some(Ok(r));
                }
                if slow && deadline.is_some_and(|d| clock.now() >= d) {
                    return Some(Err(TimedOut));
                }
            }
        }
        WaitMode::Blocking => {
            // One `spin_hint` per poll, as in `Spin`, not an exponential backoff: the
            // poll only reads lines the peer writes, so polling often costs the peer
            // nothing, and a backoff that has grown to 64 pauses would sit between the
            // peer's publish and our noticing it (a reply within a round trip pays it).
            let start = clock.now();
            let mut n: u32 = 0;
            loop {
                spin_hint();
                if let Poll::Ready(r) = poll(false) {
                    return Some(Ok(r));
                }
                n = n.wrapping_add(1);
                if n.is_multiple_of(BLOCKING_CLOCK_EVERY) {
                    let spent = clock.now().saturating_duration_since(start);
                    if spent >= SPIN_BUDGET {
                        return None;
                    }
                    if spent >= PURE_SPIN {
                        yield_now();
                    }
                }
            }
        }
        WaitMode::Sleep => None,
    }
}

#[cfg(all(test, not(shmlane_loom)))]
mod tests {
    use super::*;
    use crate::primitive::{AtomicU32, Ordering};
    use std::sync::Arc;

    /// A wait that has to sleep: `poll` turns ready only after another thread sets the
    /// flag (and notifies), well after the spin budget.
    fn sleeping_wait(ec: &Arc<EventCount>, request: &mut FenceRequest, mode: WaitMode) {
        let flag = Arc::new(AtomicU32::new(0));
        let setter = {
            let (ec, flag) = (ec.clone(), flag.clone());
            std::thread::spawn(move || {
                while ec.sleepers() == 0 {
                    std::thread::yield_now();
                }
                flag.store(1, Ordering::Release);
                ec.notify();
            })
        };
        let r = block_on(ec, Some(request), mode, None, |_| {
            match flag.load(Ordering::Acquire) {
                1 => Poll::Ready(()),
                _ => Poll::Pending,
            }
        });
        assert_eq!(r, Ok(()));
        setter.join().unwrap();
    }

    fn ready_wait(ec: &EventCount, request: &mut FenceRequest, mode: WaitMode) {
        assert_eq!(
            block_on(ec, Some(request), mode, None, |_| Poll::Ready(7)),
            Ok(7)
        );
    }

    #[test]
    #[cfg_attr(miri, ignore = "no membarrier under Miri")]
    fn membarrier_is_available_here() {
        // The light notify path needs both halves; on this project's Linux machines
        // they exist (a seccomp filter would make this fail, and notifies fence).
        assert!(crate::primitive::membarrier::register());
        assert!(crate::primitive::membarrier::heavy());
    }

    #[test]
    fn a_sleeping_waiter_requests_fences_until_its_waits_are_calm() {
        let ec = Arc::new(EventCount::new());
        let mut request = FenceRequest::default();
        ready_wait(&ec, &mut request, WaitMode::Blocking);
        assert_eq!(
            ec.fence_requests(),
            0,
            "a wait that never slept asks nothing"
        );

        sleeping_wait(&ec, &mut request, WaitMode::Blocking);
        assert_eq!(ec.fence_requests(), 1);
        sleeping_wait(&ec, &mut request, WaitMode::Blocking);
        assert_eq!(
            ec.fence_requests(),
            1,
            "one request however often it sleeps"
        );

        for _ in 1..CALM_WAITS {
            ready_wait(&ec, &mut request, WaitMode::Blocking);
        }
        assert_eq!(ec.fence_requests(), 1);
        ready_wait(&ec, &mut request, WaitMode::Blocking);
        assert_eq!(
            ec.fence_requests(),
            0,
            "withdrawn after CALM_WAITS calm waits"
        );
        assert_eq!(ec.sleepers(), 0);
    }

    #[test]
    fn a_sleep_mode_waiter_keeps_its_request_until_withdrawn() {
        let ec = Arc::new(EventCount::new());
        let mut request = FenceRequest::default();
        sleeping_wait(&ec, &mut request, WaitMode::Sleep);
        for _ in 0..2 * CALM_WAITS {
            ready_wait(&ec, &mut request, WaitMode::Sleep);
        }
        assert_eq!(ec.fence_requests(), 1);
        request.withdraw(&ec);
        request.withdraw(&ec); // idempotent
        assert_eq!(ec.fence_requests(), 0);
    }
}
