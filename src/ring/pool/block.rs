//! Blocking allocation and the freer's wake (design §4): the production loop over
//! [`Core::try_alloc`], [`Core::sweep`] and the class eventcount, with no new waiting
//! code: [`crate::wait::block_on_with`] does the spinning, the announcement and the
//! bounded futex sleeps.
//!
//! # No lost wake-up
//!
//! The freer's publish is the token's return (the bitmap `fetch_and` inside
//! [`Core::release`]), then [`EventCount::notify_fenced`]: `fence(SeqCst)`, load of the
//! sleeper count. The waiter announces itself with `prepare_wait_fenced` (sleepers + 1,
//! `fence(SeqCst)`), then polls: [`Core::try_alloc`] reads the bitmap. The two fences
//! are totally ordered: the freer's first, the waiter's poll sees the token; the
//! waiter's first, the freer's load sees the announcement and wakes the epoch after the
//! waiter's key. This is the locks' symmetric pair ("Waiting" in
//! `docs/architecture.md`), unchanged; its wake-all lets several allocators race for
//! the chunk, the losers sleep again. Loom: `blocked_alloc_is_woken` in
//! `loom-tests/tests/pool.rs` (and its mutant `shmlane_mutant_no_pool_notify`).
//!
//! # Ticks
//!
//! A lost token (a freer died between its `FREE` CAS and the token's return) or a dead
//! holder never brings a wake. So at most once per [`TICK`] (on a slow poll, which a
//! sleep that ran its whole tick triggers, or on every 32nd poll otherwise, so that a
//! waiter woken often but always beaten still ticks) the loop runs the caller's
//! `on_tick` (its recover: adoption of dead members), sweeps the class and tries again.
//! No background thread, no sleep loop: between ticks it sleeps on the futex.
//!
//! # A wait that could never end
//!
//! design §4 `check_wait`, the part this layer can see: when on two ticks in a row
//! *every* chunk word of the class is illegal, no release can ever free one (no legal
//! CAS starts from an illegal word): [`BlockError::Corrupted`]. A class with at least one
//! legal word waits on (a live, silent holder is not a bug; a held chunk whose holders
//! are dead is the caller's `on_tick` to adopt, and the caller's deadline bounds
//! everything else).

use super::{Core, Grant, Refused, fault_point, word::MEMBERS};
use crate::wait::{Clock, EventCount, Poll, RealClock, TICK, TimedOut, WaitMode, block_on_with};
use std::cell::RefCell;
use std::time::Instant;

/// Why a blocking alloc gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The deadline passed before a chunk came free.
    #[error("timed out")]
    TimedOut,
    /// Every chunk word of the class was illegal on two ticks in a row: no release can
    /// ever free one, so the wait could never end. `index`/`word`: the first of them.
    #[error("chunk {index}: illegal word {word:#018x}; no chunk of the class can come free")]
    Corrupted {
        /// Global chunk index.
        index: u32,
        /// The word read.
        word: u64,
    },
}

/// Polls between two clock reads when no slow poll comes (see "Ticks").
const TICK_CHECK_EVERY: u32 = 32;

/// Ticks in a row with every chunk word of the class illegal before the wait gives up.
const CORRUPT_TICKS: u32 = 2;

/// One clock shared by the wait loop and the poll (both read it, never at once).
struct Shared<'c, C>(&'c RefCell<C>);

impl<C: Clock> Clock for Shared<'_, C> {
    fn now(&mut self) -> Instant {
        self.0.borrow_mut().now()
    }
}

impl Core<'_> {
    /// Releases member `m`'s hold on chunk `index` ([`Core::release`]); if that freed
    /// the chunk, wakes the allocators blocked on its class: `wait` is the eventcount
    /// of the chunk's class, and the wake is [`EventCount::notify_fenced`] (the waiter
    /// announces itself with `prepare_wait_fenced` alone, module doc). Returns whether
    /// the chunk became free; a refused release changes nothing and wakes no one.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::ring::pool::{Class, heap};
    /// use shmlane::wait::EventCount;
    /// let pool = heap(&[Class { size: 128, count: 1 }]).unwrap();
    /// let (core, ec) = (pool.core(), EventCount::new());
    /// let g = core.try_alloc(0, 0, 0).unwrap().unwrap();
    /// assert_eq!(core.release_and_wake(g.index, 0, &ec), Ok(true));
    /// assert!(core.release_and_wake(g.index, 0, &ec).is_err()); // double release
    /// ```
    pub fn release_and_wake(&self, index: u32, m: u32, wait: &EventCount) -> Result<bool, Refused> {
        let freed = self.release(index, m)?;
        if freed {
            // A death here: `FREE` with its token, sleepers not woken; they find it at
            // their next tick (design §3 row 9).
            fault_point("pool.free.before_notify");
            // (`shmlane_mutant_no_pool_notify` drops the wake, to show that loom then
            // finds the blocked allocator asleep forever; never set it outside that check.)
            #[cfg(not(shmlane_mutant_no_pool_notify))]
            wait.notify_fenced();
        }
        #[cfg(shmlane_mutant_no_pool_notify)]
        let _ = wait;
        Ok(freed)
    }

    /// Allocates a chunk of `class` for member `m`, waiting while there is none:
    /// [`Core::try_alloc`] (from the class-local `cursor`); on a miss [`Core::sweep`]
    /// and try again; then waits on `wait` (the class's eventcount, which freers wake
    /// with [`Core::release_and_wake`]) in `mode` until a chunk is won, `deadline`
    /// passes ([`BlockError::TimedOut`]) or the wait could never end
    /// ([`BlockError::Corrupted`], module doc). At most once per [`TICK`] it runs
    /// `on_tick` (the caller's recover: adoption of dead members; chunks it frees are
    /// found by the retry right after it), sweeps and tries again.
    ///
    /// # Panics
    ///
    /// If `class` or `m` is out of range: a caller bug (the class comes from the
    /// private geometry, `m` is the caller's own entry), as in [`Core::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::WaitMode;
    /// use shmlane::ring::pool::{BlockError, Class, heap};
    /// use shmlane::wait::EventCount;
    /// use std::time::{Duration, Instant};
    /// let pool = heap(&[Class { size: 128, count: 1 }]).unwrap();
    /// let (core, ec) = (pool.core(), EventCount::new());
    /// let g = core.alloc_blocking(0, 0, 0, &ec, WaitMode::Blocking, None, &mut || {}).unwrap();
    /// let soon = Some(Instant::now() + Duration::from_millis(1));
    /// let r = core.alloc_blocking(0, 1, 0, &ec, WaitMode::Sleep, soon, &mut || {});
    /// assert_eq!(r, Err(BlockError::TimedOut)); // the only chunk is held
    /// core.release_and_wake(g.index, 0, &ec).unwrap();
    /// ```
    #[allow(clippy::too_many_arguments)] // the contract signature (issue 14, engineer "api")
    pub fn alloc_blocking(
        &self,
        class: usize,
        m: u32,
        cursor: u32,
        wait: &EventCount,
        mode: WaitMode,
        deadline: Option<Instant>,
        on_tick: &mut dyn FnMut(),
    ) -> Result<Grant, BlockError> {
        self.alloc_blocking_with(
            RealClock,
            class,
            m,
            cursor,
            wait,
            mode,
            deadline,
            &mut |_| false,
            on_tick,
        )
    }

    /// [`Core::alloc_blocking`] that also runs `on_miss(slow)` on every poll that finds
    /// no chunk (each wake-up, each spin round; `slow` after a timed-out sleep) and
    /// tries again if it says it released something: the caller's cheap release of
    /// holds it can judge itself (a sender's transit holds of buffers already taken,
    /// `crate::pool`), whose takers notify `wait` after taking.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn alloc_blocking_draining(
        &self,
        class: usize,
        m: u32,
        cursor: u32,
        wait: &EventCount,
        mode: WaitMode,
        deadline: Option<Instant>,
        on_miss: &mut dyn FnMut(bool) -> bool,
        on_tick: &mut dyn FnMut(),
    ) -> Result<Grant, BlockError> {
        self.alloc_blocking_with(
            RealClock, class, m, cursor, wait, mode, deadline, on_miss, on_tick,
        )
    }

    /// [`Core::alloc_blocking`] with the clock injected (unit tests, loom models).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn alloc_blocking_with(
        &self,
        clock: impl Clock,
        class: usize,
        m: u32,
        cursor: u32,
        wait: &EventCount,
        mode: WaitMode,
        deadline: Option<Instant>,
        on_miss: &mut dyn FnMut(bool) -> bool,
        on_tick: &mut dyn FnMut(),
    ) -> Result<Grant, BlockError> {
        assert!(
            class < self.geo.classes() && m < MEMBERS,
            "alloc_blocking: class {class} or member {m} out of range (caller bug)"
        );
        // The fast path: no clock, no sweep.
        if let Some(g) = self.try_won(class, m, cursor) {
            return Ok(g);
        }
        // A miss: restore lost tokens (loads, and a `fetch_and` per lost one), retry.
        let _ = self.sweep(class);
        if let Some(g) = self.try_won(class, m, cursor) {
            return Ok(g);
        }
        let clock = RefCell::new(clock);
        let mut next_tick = clock.borrow_mut().now() + TICK;
        let (mut polls, mut corrupt_ticks) = (0u32, 0u32);
        let poll = |slow: bool| {
            if let Some(g) = self.try_won(class, m, cursor) {
                return Poll::Ready(Ok(g));
            }
            if on_miss(slow)
                && let Some(g) = self.try_won(class, m, cursor)
            {
                return Poll::Ready(Ok(g));
            }
            polls = polls.wrapping_add(1);
            if !slow && !polls.is_multiple_of(TICK_CHECK_EVERY) {
                return Poll::Pending;
            }
            let now = clock.borrow_mut().now();
            if now < next_tick {
                return Poll::Pending;
            }
            next_tick = now + TICK;
            on_tick();
            let swept = self.sweep(class).unwrap_or_default();
            if let Some(g) = self.try_won(class, m, cursor) {
                return Poll::Ready(Ok(g));
            }
            let count = self.geo.classes[class].count;
            if swept.corrupted < count {
                corrupt_ticks = 0;
                return Poll::Pending;
            }
            corrupt_ticks += 1;
            if corrupt_ticks < CORRUPT_TICKS {
                return Poll::Pending;
            }
            match self.geo.range(class).find_map(|i| self.chunk(i).err()) {
                Some(Refused::Corrupted { index, word }) => {
                    Poll::Ready(Err(BlockError::Corrupted { index, word }))
                }
                // Scribbled legal again since the sweep: wait on.
                _ => {
                    corrupt_ticks = 0;
                    Poll::Pending
                }
            }
        };
        let mut shared = Shared(&clock);
        match block_on_with(&mut shared, wait, None, mode, deadline, poll) {
            Ok(r) => r,
            Err(TimedOut) => Err(BlockError::TimedOut),
        }
    }

    /// One [`Core::try_alloc`], its result as "won or not" (its only errors are the
    /// range checks, which `alloc_blocking_with` has done).
    fn try_won(&self, class: usize, m: u32, cursor: u32) -> Option<Grant> {
        self.try_alloc(class, m, cursor).ok().flatten()
    }
}

/// The production blocking loop as the loom models in `loom-tests/` drive it (as
/// `wait::model` drives `block_on_with`): a deterministic clock, deadline `None`.
#[cfg(shmlane_loom)]
#[doc(hidden)]
pub mod model {
    use super::{BlockError, Clock, Core, EventCount, Grant, TICK, WaitMode};
    use std::time::{Duration, Instant};

    /// How far the model's clock moves on each read.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Steps {
        /// One millisecond: no tick ever comes (only wakes end a sleep).
        Milli,
        /// A whole tick: every wake-up is followed by a tick (the futex's timeout,
        /// which loom's futex model does not have, played by whoever wakes the waiter).
        Tick,
    }

    struct StepClock(Instant, Duration);

    impl Clock for StepClock {
        fn now(&mut self) -> Instant {
            self.0 += self.1;
            self.0
        }
    }

    /// [`Core::alloc_blocking`] with deadline `None` and a clock advancing by `steps`.
    #[allow(clippy::too_many_arguments)]
    pub fn alloc_blocking(
        core: &Core<'_>,
        class: usize,
        m: u32,
        cursor: u32,
        wait: &EventCount,
        mode: WaitMode,
        steps: Steps,
        on_tick: &mut dyn FnMut(),
    ) -> Result<Grant, BlockError> {
        let step = match steps {
            Steps::Milli => Duration::from_millis(1),
            Steps::Tick => TICK,
        };
        core.alloc_blocking_with(
            StepClock(Instant::now(), step),
            class,
            m,
            cursor,
            wait,
            mode,
            None,
            &mut |_| false,
            on_tick,
        )
    }
}

#[cfg(all(test, not(shmlane_loom)))]
mod tests {
    use super::super::word::{Chunk, PHASE_SHIFT};
    use super::super::{Class, HeapPool, heap};
    use super::*;
    use crate::primitive::Ordering;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering as StdOrdering};
    use std::sync::mpsc;
    use std::time::Duration;

    /// How long a test waits for a blocked allocator before it calls it hung: generous,
    /// a watchdog for a loaded machine, not a timing assertion.
    const WATCHDOG: Duration = Duration::from_secs(60);

    /// A clock stopped an hour ahead: every sleep is as long as the futex allows and no
    /// tick ever comes, so only a wake ends a sleep (a missing notify hangs).
    struct Stopped(Instant);

    impl Clock for Stopped {
        fn now(&mut self) -> Instant {
            self.0
        }
    }

    fn stopped() -> Stopped {
        Stopped(Instant::now() + Duration::from_secs(3600))
    }

    fn one_class(count: u32) -> HeapPool {
        heap(&[Class { size: 128, count }]).unwrap()
    }

    /// Runs `alloc` (as member 1) on a thread once member 0 holds every chunk of the
    /// 1-chunk pool; returns the pool, its eventcount, member 0's grant, the result
    /// channel and the tick counter, after the allocator has announced itself asleep.
    type Blocked = (
        HeapPool,
        Arc<EventCount>,
        Grant,
        mpsc::Receiver<Result<Grant, BlockError>>,
        Arc<AtomicU32>,
    );

    fn blocked(
        alloc: impl FnOnce(&Core<'_>, &EventCount, &mut dyn FnMut()) -> Result<Grant, BlockError>
        + Send
        + 'static,
    ) -> Blocked {
        let pool = one_class(1);
        let ec = Arc::new(EventCount::new());
        let g = pool.core().try_alloc(0, 0, 0).unwrap().unwrap();
        let ticks = Arc::new(AtomicU32::new(0));
        let (tx, rx) = mpsc::channel();
        {
            let (pool, ec, ticks) = (pool.clone(), ec.clone(), ticks.clone());
            std::thread::spawn(move || {
                let core = pool.core();
                let mut on_tick = || {
                    ticks.fetch_add(1, StdOrdering::Relaxed);
                };
                let _ = tx.send(alloc(&core, &ec, &mut on_tick));
            });
        }
        let start = Instant::now();
        while ec.sleepers() == 0 {
            assert!(start.elapsed() < WATCHDOG, "the allocator never slept");
            std::thread::yield_now();
        }
        (pool, ec, g, rx, ticks)
    }

    #[test]
    fn a_free_chunk_is_granted_at_once_and_a_miss_is_swept_first() {
        let pool = one_class(2);
        let (core, ec) = (pool.core(), EventCount::new());
        let a = core
            .alloc_blocking(0, 0, 0, &ec, WaitMode::Sleep, None, &mut || {})
            .unwrap();
        // The other chunk's token lost (a freer died before returning it): the first
        // miss sweeps it back, without waiting or ticking.
        pool.bitmap()[0].store(0b11, Ordering::SeqCst);
        let mut ticks = 0;
        let b = core
            .alloc_blocking(0, 1, 0, &ec, WaitMode::Sleep, None, &mut || ticks += 1)
            .unwrap();
        assert_ne!(a.index, b.index);
        assert_eq!(ticks, 0);
        assert_eq!(ec.sleepers(), 0);
    }

    #[test]
    fn a_sleeping_allocator_is_woken_by_the_release_that_frees() {
        let (pool, ec, g, rx, ticks) = blocked(|core, ec, on_tick| {
            core.alloc_blocking_with(
                stopped(),
                0,
                1,
                0,
                ec,
                WaitMode::Sleep,
                None,
                &mut |_| false,
                on_tick,
            )
        });
        // Fails (hangs into the watchdog) if the release does not wake the sleeper:
        // with the stopped clock no tick would ever find the chunk.
        assert_eq!(pool.core().release_and_wake(g.index, 0, &ec), Ok(true));
        let got = rx
            .recv_timeout(WATCHDOG)
            .expect("the allocator was not woken");
        assert_eq!(got.map(|g| g.index), Ok(g.index));
        assert_eq!(ticks.load(StdOrdering::Relaxed), 0, "woken, not ticked");
        assert_eq!(ec.sleepers(), 0);
    }

    #[test]
    fn a_lost_token_is_found_on_a_tick() {
        let (pool, _ec, g, rx, ticks) = blocked(|core, ec, on_tick| {
            core.alloc_blocking(0, 1, 0, ec, WaitMode::Sleep, None, on_tick)
        });
        // A freer that died between its FREE CAS and the token: no token, no notify.
        pool.descriptors()[g.index as usize]
            .word
            .store(Chunk::free(g.generation).encode(), Ordering::SeqCst);
        let got = rx.recv_timeout(WATCHDOG).expect("the tick never swept");
        assert_eq!(got.map(|g| g.index), Ok(g.index));
        assert!(ticks.load(StdOrdering::Relaxed) >= 1);
    }

    #[test]
    fn a_dead_holders_chunk_is_adopted_by_the_ticks_recover() {
        let pool = one_class(1);
        let ec = EventCount::new();
        let core = pool.core();
        let g = core.try_alloc(0, 3, 0).unwrap().unwrap();
        core.freeze(g, 3, 10).unwrap(); // member 3 dies holding it
        let mut adopted = 0;
        let got = core.alloc_blocking(0, 1, 0, &ec, WaitMode::Blocking, None, &mut || {
            adopted += core.adopt(3).unwrap().freed;
        });
        assert_eq!(got.map(|g| g.index), Ok(g.index));
        assert_eq!(adopted, 1);
    }

    #[test]
    fn a_class_of_illegal_words_only_is_corrupted_after_two_ticks() {
        let pool = one_class(2);
        let (core, ec) = (pool.core(), EventCount::new());
        let bad = 3u64 << PHASE_SHIFT;
        for d in pool.descriptors() {
            d.word.store(bad, Ordering::SeqCst);
        }
        let mut ticks = 0;
        let got = core.alloc_blocking(0, 1, 0, &ec, WaitMode::Sleep, None, &mut || ticks += 1);
        assert_eq!(
            got,
            Err(BlockError::Corrupted {
                index: 0,
                word: bad
            })
        );
        assert_eq!(ticks, CORRUPT_TICKS);
        assert_eq!(ec.sleepers(), 0, "the announcement is withdrawn");
        for d in pool.descriptors() {
            assert_eq!(d.word.load(Ordering::SeqCst), bad, "never acted on");
        }
    }

    #[test]
    fn one_legal_held_chunk_is_waited_for_not_corrupted() {
        let pool = one_class(2);
        let (core, ec) = (pool.core(), EventCount::new());
        pool.descriptors()[0]
            .word
            .store(3u64 << PHASE_SHIFT, Ordering::SeqCst);
        let g = core.try_alloc(0, 0, 0).unwrap().unwrap();
        assert_eq!(g.index, 1);
        // The holder lets go on the tick after the one where an all-illegal class
        // would have been declared Corrupted: the wait must still be on then.
        let mut ticks = 0;
        let got = core.alloc_blocking(0, 1, 0, &ec, WaitMode::Sleep, None, &mut || {
            ticks += 1;
            if ticks == CORRUPT_TICKS + 1 {
                assert_eq!(core.release_and_wake(g.index, 0, &ec), Ok(true));
            }
        });
        assert_eq!(got.map(|g| g.index), Ok(g.index));
        assert_eq!(ticks, CORRUPT_TICKS + 1);
        assert_eq!(ec.sleepers(), 0);
    }

    #[test]
    fn a_timed_out_alloc_takes_nothing_in_every_mode() {
        let pool = one_class(1);
        let (core, ec) = (pool.core(), EventCount::new());
        let g = core.try_alloc(0, 0, 0).unwrap().unwrap();
        for mode in [WaitMode::Blocking, WaitMode::Spin, WaitMode::Sleep] {
            let deadline = Some(Instant::now() + Duration::from_millis(5));
            let got = core.alloc_blocking(0, 1, 0, &ec, mode, deadline, &mut || {});
            assert_eq!(got, Err(BlockError::TimedOut), "{mode:?}");
            assert_eq!(ec.sleepers(), 0, "{mode:?}");
            assert!(core.chunk(g.index).unwrap().held_by(0), "{mode:?}");
            assert!(!core.chunk(g.index).unwrap().held_by(1), "{mode:?}");
        }
    }

    #[test]
    fn release_and_wake_returns_what_release_did() {
        let pool = one_class(1);
        let (core, ec) = (pool.core(), EventCount::new());
        let g = core.try_alloc(0, 0, 0).unwrap().unwrap();
        let h = core.freeze(g, 0, 8).unwrap();
        core.join(h, 1).unwrap();
        assert_eq!(core.release_and_wake(h.index, 1, &ec), Ok(false));
        assert_eq!(
            core.release_and_wake(h.index, 1, &ec),
            Err(Refused::NotHeld { index: h.index })
        );
        assert_eq!(core.release_and_wake(h.index, 0, &ec), Ok(true));
        assert!(core.has_token(0));
    }

    #[test]
    #[should_panic(expected = "caller bug")]
    fn a_class_out_of_range_is_a_caller_bug() {
        let pool = one_class(1);
        let _ = pool.core().alloc_blocking(
            1,
            0,
            0,
            &EventCount::new(),
            WaitMode::Sleep,
            None,
            &mut || {},
        );
    }
}
