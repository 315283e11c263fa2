//! The eventcount: two 32-bit words that let a notifier skip `FUTEX_WAKE` when nobody
//! sleeps, without ever losing a wake-up. Protocol table in [`crate::wait`].

use super::Epoch;
use crate::primitive::{AtomicU32, Ordering, fence, membarrier};
use std::time::Instant;

/// A wait/notify word pair living in shared memory.
///
/// Fields:
/// 1. `epoch`: the futex word. Bumped by a notifier that saw a sleeper; a waiter sleeps
///    only while it still holds the value it read before announcing itself.
/// 2. `sleepers`: bits 0..15 count the waiters that have announced themselves and not
///    yet left; bit 15 (`WOKEN`) says a notifier has already woken them, so later
///    notifiers skip the system call until a waiter announces itself again (which
///    clears it); bits 16..32 count the fence requests of waiters that sleep often and
///    would rather have notifiers fence than pay `membarrier` per sleep.
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

/// Mask of the sleeper count in the `sleepers` word.
const SLEEPERS: u32 = WOKEN - 1;
/// Set by the notifier that wakes the announced sleepers; cleared by every announcement.
/// While it is set a notify costs no system call: one sleep costs at most one wake.
const WOKEN: u32 = 1 << 15;
/// One fence request in the `sleepers` word.
const FENCE_REQUEST: u32 = 1 << 16;

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
    /// Costs one load and no fence when nobody sleeps or has asked for fences: the
    /// ordering against a waiter comes from the asymmetric fence (`primitive::membarrier`;
    /// the table in [`crate::wait`]), whose expensive half the waiter pays.
    #[inline]
    pub fn notify(&self) {
        // SYNC POINT: the light half of the asymmetric fence, paired with the heavy half
        // in `prepare_wait` (or in `request_fence`): orders the caller's publish before
        // this load as far as such a waiter is concerned.
        // Relaxed: the asymmetric fence orders it; no synchronizes-with edge is needed.
        let mut word = membarrier::light(|| self.sleepers.load(Ordering::Relaxed));
        if word >= FENCE_REQUEST {
            // A waiter sleeps without paying the heavy half each time: give it the
            // symmetric protocol. SYNC POINT: pairs with the fence in `prepare_wait_fenced`.
            // (`shmlane_mutant_no_fence` removes it, to show that loom then finds the
            // lost wake-up; never set it outside that check.)
            #[cfg(not(shmlane_mutant_no_fence))]
            fence(Ordering::SeqCst);
            // Relaxed: ordered by the fence above.
            word = self.sleepers.load(Ordering::Relaxed);
        }
        if word & SLEEPERS != 0 && word & WOKEN == 0 {
            self.wake_slow();
        }
    }

    /// Like [`notify`](Self::notify), always with a full fence: for eventcounts whose
    /// waiters announce themselves with [`prepare_wait_fenced`](Self::prepare_wait_fenced)
    /// alone (the cross-process locks, whose wake-ups are rarer than a fence is costly).
    ///
    /// # Examples
    ///
    /// ```
    /// let ec = shmlane::wait::EventCount::new();
    /// ec.notify_fenced(); // nobody sleeps: a fence and a load, no syscall
    /// ```
    #[inline]
    pub fn notify_fenced(&self) {
        // SYNC POINT: pairs with the fence in `prepare_wait_fenced` (store-buffer pattern).
        #[cfg(not(shmlane_mutant_no_fence))]
        fence(Ordering::SeqCst);
        // Relaxed: the fence above orders this load; it needs no synchronizes-with edge.
        let word = self.sleepers.load(Ordering::Relaxed);
        if word & SLEEPERS != 0 && word & WOKEN == 0 {
            self.wake_slow();
        }
    }

    /// Claims the wake of the sleepers announced now and, if this call claimed it,
    /// wakes them. A notifier that loses the claim (or finds it taken) may skip: the
    /// winner's wake comes after its claim, so after every announcement the claim saw,
    /// and every later announcement clears `WOKEN`, so the next notify wakes again (the
    /// table in [`crate::wait`]; `docs/architecture.md` has the argument).
    #[cold]
    fn wake_slow(&self) {
        // Relaxed: a plain claim; the epoch bump (Release) carries the publish.
        let before = self.sleepers.fetch_or(WOKEN, Ordering::Relaxed);
        if before & WOKEN == 0 && before & SLEEPERS != 0 {
            // A waiter that reads the new epoch in futex_wait also sees our publish.
            self.epoch.wake();
        }
    }

    /// Announces a waiter; returns the key to pass to [`wait`](Self::wait).
    ///
    /// The caller must re-check its condition after this and call either
    /// [`cancel_wait`](Self::cancel_wait) or [`wait`](Self::wait). Pays the heavy half
    /// of the asymmetric fence (one `membarrier` system call) so that notifiers need
    /// none. A waiter that sleeps often avoids that cost with a fence request
    /// ([`request_fence`](Self::request_fence)), as the pipes do.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let ec = shmlane::wait::EventCount::new();
    /// let key = ec.prepare_wait();
    /// // ...re-check the condition here; still not ready, so:
    /// ec.wait(key, Instant::now() + Duration::from_millis(1));
    /// assert_eq!(ec.sleepers(), 0);
    /// ```
    #[cfg_attr(not(feature = "internals"), allow(dead_code))] // for loom-tests, fuzz, benches
    pub fn prepare_wait(&self) -> u32 {
        let key = self.prepare_wait_fenced();
        // SYNC POINT: pairs with the light half in `notify`.
        membarrier::heavy();
        key
    }

    /// Like [`prepare_wait`](Self::prepare_wait) without the heavy half: sufficient
    /// only when every notifier fences, that is, while the caller holds a fence request
    /// ([`request_fence`](Self::request_fence)) or when all notifiers use
    /// [`notify_fenced`](Self::notify_fenced). Otherwise a wake-up can be lost (the
    /// sleep then lasts until its deadline).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Instant;
    /// let ec = shmlane::wait::EventCount::new();
    /// ec.request_fence();
    /// let key = ec.prepare_wait_fenced();
    /// ec.cancel_wait(); // the condition turned out ready
    /// ec.withdraw_fence();
    /// ```
    #[inline]
    pub fn prepare_wait_fenced(&self) -> u32 {
        // Acquire (inside `key`): pairs with the Release bump in `wake_slow`.
        let key = self.epoch.key();
        // Announce ourselves, then re-arm the wake (clear `WOKEN`) if a notifier claimed
        // an earlier one: both before the fence, so a notifier ordered after it sees
        // both, and one that saw the count without the clear is ordered before it (its
        // publish is then visible to our re-check; `docs/architecture.md`). Two bounded
        // steps rather than a CAS loop a peer scribbling on the word could keep failing.
        // Relaxed: the fence below orders them before the condition re-check.
        let before = self.sleepers.fetch_add(1, Ordering::Relaxed);
        if before & WOKEN != 0 {
            self.sleepers.fetch_and(!WOKEN, Ordering::Relaxed);
        }
        // SYNC POINT: pairs with the fence in `notify` (when it sees a fence request) / `notify_fenced`.
        fence(Ordering::SeqCst);
        key
    }

    /// Asks every notifier to fence fully from now on, so that later waits can use
    /// [`prepare_wait_fenced`](Self::prepare_wait_fenced). Returns false if the heavy half that covers
    /// notifies already in flight was unavailable: the caller's next sleep is then
    /// capped (a notify in flight might be missed once).
    ///
    /// Every call must be matched by one [`withdraw_fence`](Self::withdraw_fence).
    ///
    /// # Examples
    ///
    /// ```
    /// let ec = shmlane::wait::EventCount::new();
    /// ec.request_fence();
    /// assert_eq!(ec.fence_requests(), 1);
    /// ec.withdraw_fence();
    /// assert_eq!(ec.fence_requests(), 0);
    /// ```
    pub fn request_fence(&self) -> bool {
        // Relaxed: `heavy` orders it before our next condition re-check, and any
        // notifier's load after the barrier sees it (the module docs of
        // `primitive::membarrier`).
        self.sleepers.fetch_add(FENCE_REQUEST, Ordering::Relaxed);
        // SYNC POINT: a notify whose light load missed the request has its publish
        // visible once this returns.
        membarrier::heavy()
    }

    /// Withdraws a fence request made by [`request_fence`](Self::request_fence).
    pub fn withdraw_fence(&self) {
        // Relaxed: only a counter; a notifier that still sees it fences once more.
        self.sleepers.fetch_sub(FENCE_REQUEST, Ordering::Relaxed);
    }

    /// Forgets every announced sleeper and fence request: for the new owner of an
    /// eventcount that only its owner ever sleeps on (a pipe end's), when it takes the
    /// end over. A previous owner killed while asleep never withdrew its announcement
    /// or its fence request, so without this every notify would pay a `FUTEX_WAKE` (or
    /// a fence) for the life of the segment.
    ///
    /// Call it before the first wait, while no waiter of this eventcount can be
    /// announced. A notifier racing with it that still saw the old count wakes the
    /// epoch once more (a spurious wake-up of nobody); none can be lost, since nobody
    /// is waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let ec = shmlane::wait::EventCount::new();
    /// let _key = ec.prepare_wait(); // a waiter that then died
    /// ec.request_fence();
    /// ec.reset_owned();
    /// assert_eq!((ec.sleepers(), ec.fence_requests()), (0, 0));
    /// ```
    pub fn reset_owned(&self) {
        // Relaxed: the caller makes no announcement before this store in program order
        // that it could hide, and a notifier's stale view costs one spurious wake.
        self.sleepers.store(0, Ordering::Relaxed);
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
    #[cfg_attr(not(feature = "internals"), allow(dead_code))] // for loom-tests, fuzz, benches
    pub fn sleepers(&self) -> u32 {
        // Relaxed: a diagnostic snapshot.
        self.sleepers.load(Ordering::Relaxed) & SLEEPERS
    }

    /// Number of outstanding fence requests (diagnostics).
    ///
    /// ```
    /// assert_eq!(shmlane::wait::EventCount::new().fence_requests(), 0);
    /// ```
    #[cfg_attr(not(feature = "internals"), allow(dead_code))] // for loom-tests, fuzz, benches
    pub fn fence_requests(&self) -> u32 {
        // Relaxed: a diagnostic snapshot.
        self.sleepers.load(Ordering::Relaxed) / FENCE_REQUEST
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
    fn one_sleep_costs_one_wake_however_many_notifies() {
        // Every futex wake bumps the epoch once, so the epoch counts the wakes (the
        // process-wide futex counters would also count other tests' wakes).
        let ec = EventCount::new();
        let key = ec.prepare_wait();
        for _ in 0..1000 {
            ec.notify();
            ec.notify_fenced();
        }
        assert_eq!(ec.epoch.key(), key.wrapping_add(1), "one wake, not 2000");
        ec.wait(key, Instant::now()); // the epoch moved: returns at once
        assert_eq!(ec.sleepers(), 0);
        ec.notify();
        assert_eq!(ec.epoch.key(), key.wrapping_add(1), "nobody announced");
        // The next sleep re-arms the wake.
        let key = ec.prepare_wait();
        ec.notify();
        ec.notify();
        assert_eq!(ec.epoch.key(), key.wrapping_add(1));
        ec.cancel_wait();
    }

    #[test]
    fn a_fence_request_does_not_change_the_wake_count() {
        let ec = EventCount::new();
        ec.request_fence();
        let key = ec.prepare_wait_fenced();
        for _ in 0..100 {
            ec.notify();
        }
        assert_eq!(ec.epoch.key(), key.wrapping_add(1));
        ec.cancel_wait();
        ec.withdraw_fence();
        assert_eq!((ec.sleepers(), ec.fence_requests()), (0, 0));
    }

    #[test]
    fn reset_owned_forgets_a_dead_sleeper() {
        let ec = EventCount::new();
        let key = ec.prepare_wait(); // announced, then "killed"
        ec.request_fence();
        ec.reset_owned();
        ec.notify();
        assert_eq!(ec.epoch.key(), key, "no wake for the dead sleeper");
        assert_eq!((ec.sleepers(), ec.fence_requests()), (0, 0));
    }

    #[test]
    fn wait_returns_at_the_deadline() {
        let ec = EventCount::new();
        let key = ec.prepare_wait();
        ec.wait(key, Instant::now() + Duration::from_millis(20));
        assert_eq!(ec.sleepers(), 0);
    }
}
