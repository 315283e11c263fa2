//! The one place atomics, `UnsafeCell`, fences (including the asymmetric one), spinning
//! and the futex come from.
//!
//! Under `cfg(shmlane_loom)` every item switches to loom's model so the lock-free
//! protocols in [`crate::ring`] and [`crate::wait`] can be model checked by the
//! `loom-tests/` crate. The futex is modelled as a *real* block (a mutex plus a condvar,
//! the value compared under the mutex exactly as the kernel compares it under its hash
//! bucket lock), so a lost wake-up shows up as a loom deadlock instead of being hidden
//! by a "wait = yield" stub. Timeouts are ignored in the model for the same reason.
//!
//! `scripts/test-all.sh` fails if the std atomics or `UnsafeCell` are used elsewhere in
//! the crate (the process-local counters of [`stats`] are the one exception).
#![allow(unsafe_code)]

pub(crate) mod stats;

#[cfg(not(shmlane_loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};

#[cfg(shmlane_loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};

/// Interior mutability with loom's closure API (`with` / `with_mut`), so slot accesses
/// are tracked for causality under loom and compile to plain pointer access otherwise.
#[cfg(not(shmlane_loom))]
#[repr(transparent)]
#[derive(Debug, Default)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(shmlane_loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(shmlane_loom)]
pub(crate) use loom::cell::UnsafeCell;

/// One step of a spin loop.
#[inline(always)]
pub(crate) fn spin_hint() {
    #[cfg(not(shmlane_loom))]
    std::hint::spin_loop();
    #[cfg(shmlane_loom)]
    loom::thread::yield_now();
}

/// Asks the CPU to start fetching the cache line at `p` for reading. A hint only: it
/// neither reads memory in the language's sense nor faults, whatever `p` is.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    // SAFETY: SSE is part of the x86_64 baseline, and a prefetch of any address,
    // mapped or not, is architecturally a no-op apart from the cache.
    #[cfg(all(target_arch = "x86_64", not(shmlane_loom)))]
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(all(target_arch = "x86_64", not(shmlane_loom))))]
    let _ = p;
}

/// Gives the CPU to another runnable thread, if any (a system call in production).
#[inline]
pub(crate) fn yield_now() {
    #[cfg(not(shmlane_loom))]
    std::thread::yield_now();
    #[cfg(shmlane_loom)]
    loom::thread::yield_now();
}

/// Exponential backoff for spin loops: each step spins twice as long as the last, up
/// to a cap, and never yields to the OS (the caller decides when to sleep).
///
/// Wraps `crossbeam_utils::Backoff::spin` in production; under loom every step is a
/// `yield_now` (crossbeam's own type only switches under `crossbeam_loom`).
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    #[cfg(not(shmlane_loom))]
    inner: crossbeam_utils::Backoff,
}

impl Backoff {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// One backoff step of pure spinning.
    #[inline]
    pub(crate) fn spin(&self) {
        #[cfg(not(shmlane_loom))]
        self.inner.spin();
        #[cfg(shmlane_loom)]
        loom::thread::yield_now();
    }
}

/// Futex operations on a 32-bit word that may live in memory shared between processes.
///
/// Always the **shared** futex (no `FUTEX_PRIVATE_FLAG`): a private wake never reaches
/// another process.
pub(crate) mod futex {
    use super::AtomicU32;
    use std::time::Instant;

    /// Sleeps while `*word == expected`, at most until `deadline`.
    ///
    /// Returns early on a wake, a signal, a value mismatch or spuriously: callers loop
    /// and re-check their condition.
    #[cfg(not(shmlane_loom))]
    pub(crate) fn wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) {
        use rustix::thread::futex;
        let timeout = deadline.map(|d| {
            let left = d.saturating_duration_since(Instant::now());
            rustix::time::Timespec {
                tv_sec: left.as_secs() as i64,
                tv_nsec: i64::from(left.subsec_nanos()),
            }
        });
        crate::primitive::stats::count_wait();
        // EAGAIN (value changed), EINTR and ETIMEDOUT all mean "re-check": ignore them.
        let _ = futex::wait(word, futex::Flags::empty(), expected, timeout.as_ref());
    }

    /// Wakes every sleeper on `word`.
    #[cfg(not(shmlane_loom))]
    pub(crate) fn wake_all(word: &AtomicU32) {
        use rustix::thread::futex;
        crate::primitive::stats::count_wake();
        let _ = futex::wake(word, futex::Flags::empty(), i32::MAX as u32);
    }

    #[cfg(shmlane_loom)]
    loom::lazy_static! {
        static ref MODEL: (loom::sync::Mutex<()>, loom::sync::Condvar) =
            (loom::sync::Mutex::new(()), loom::sync::Condvar::new());
    }

    /// Loom model: blocks for real (deadline ignored) until a wake after the compare.
    #[cfg(shmlane_loom)]
    pub(crate) fn wait(word: &AtomicU32, expected: u32, _deadline: Option<Instant>) {
        let (lock, cvar) = &*MODEL;
        let guard = lock.lock().unwrap();
        if word.load(super::Ordering::SeqCst) == expected {
            drop(cvar.wait(guard).unwrap());
        }
    }

    /// Loom model: wakes every waiter of every word (a superset of the kernel's wake).
    #[cfg(shmlane_loom)]
    pub(crate) fn wake_all(_word: &AtomicU32) {
        let (lock, cvar) = &*MODEL;
        let _guard = lock.lock().unwrap();
        cvar.notify_all();
    }
}

/// The asymmetric fence: a notifier's cheap half ([`light`]) and a waiter's expensive
/// half ([`heavy`]), which together order like a pair of `SeqCst` fences.
///
/// A notifier publishes, then calls `light(|| load of the sleeper count)`: in a process
/// registered for `MEMBARRIER_CMD_GLOBAL_EXPEDITED` that is a compiler barrier only;
/// elsewhere it is a full fence. A waiter that has announced itself calls [`heavy`]
/// (`membarrier(2)`) before it re-checks the condition. The kernel makes every running
/// thread of every registered process pass a full barrier at some point P between the
/// call's entry and return (a thread not running is switched out, which is a barrier
/// too). For one notify, "store, then load":
///
/// * P before the load: the load sees the waiter's announcement, made before the call;
/// * P after the load, so after the store: the store is visible when the call returns,
///   so the waiter's re-check sees it.
///
/// Either way one side sees the other: the store-buffer outcome that loses a wake-up
/// (both miss) is excluded, as with two `SeqCst` fences. (This is the pattern of the
/// kernel's own `membarrier.c` scenario A and of userspace RCU.)
///
/// Loom has no membarrier; the model is a lock that the notifier holds around its load
/// and the waiter takes once in `heavy`. Acquiring it in the notifier after its store
/// and in the waiter after its announcement gives exactly the two cases above (P after,
/// or before, the notifier's load); a P between the notifier's store and load makes
/// both sides see each other, which no lost wake-up needs.
pub(crate) mod membarrier {
    #[cfg(not(shmlane_loom))]
    use std::sync::atomic::{AtomicBool, Ordering, compiler_fence, fence};

    /// Set once this process is registered for `MEMBARRIER_CMD_GLOBAL_EXPEDITED`.
    /// Process-local memory (not shared); a `fork`ed child inherits both the flag and
    /// the registration (the kernel copies the address space's membarrier state),
    /// `exec` clears both.
    #[cfg(not(shmlane_loom))]
    static REGISTERED: AtomicBool = AtomicBool::new(false);

    /// Registers this process so that its notifies may take the light path; the first
    /// call makes one system call, later calls one load. Returns whether registered.
    #[cfg(not(any(shmlane_loom, miri)))]
    pub(crate) fn register() -> bool {
        use rustix::thread::{MembarrierCommand, membarrier};
        // Relaxed: the flag only ever goes false -> true, after the registration took
        // effect; a thread that sees `false` fences fully, which is always correct.
        if REGISTERED.load(Ordering::Relaxed) {
            return true;
        }
        let ok = membarrier(MembarrierCommand::RegisterGlobalExpedited).is_ok();
        if ok {
            // Relaxed: see the load above. A thread that reads `true` runs in this
            // process, which the kernel now targets (registration is per process).
            REGISTERED.store(true, Ordering::Relaxed);
        }
        ok
    }

    /// The notifier's half: runs `load` (of the sleeper count) ordered after the
    /// caller's earlier publish, as far as a waiter's [`heavy`] is concerned.
    #[cfg(not(shmlane_loom))]
    #[inline(always)]
    pub(crate) fn light<R>(load: impl FnOnce() -> R) -> R {
        // Relaxed: see `REGISTERED`.
        if REGISTERED.load(Ordering::Relaxed) {
            // SYNC POINT: pairs with `heavy` (module docs); keeps the compiler from
            // moving the load above the publish. The CPU may, and `heavy` allows it.
            compiler_fence(Ordering::SeqCst);
        } else {
            // SYNC POINT: not registered, so no IPI reaches us: a full fence instead.
            fence(Ordering::SeqCst);
        }
        load()
    }

    /// The waiter's half, after announcing itself and before re-checking: every
    /// registered thread passes a full barrier. Falls back to the slow, unregistered
    /// `MEMBARRIER_CMD_GLOBAL`. Returns false if neither is available (a seccomp filter
    /// or a kernel before 4.16 that still registered nobody: then every notifier fences
    /// fully, unless it runs in a process where the registration worked; the caller
    /// then caps its sleep).
    #[cfg(not(any(shmlane_loom, miri)))]
    pub(crate) fn heavy() -> bool {
        use rustix::thread::{MembarrierCommand, membarrier};
        membarrier(MembarrierCommand::GlobalExpedited).is_ok()
            || membarrier(MembarrierCommand::Global).is_ok()
    }

    /// Miri has no `membarrier`: nobody registers, so every notify fences fully.
    #[cfg(miri)]
    pub(crate) fn register() -> bool {
        false
    }

    /// Miri: every notify fences fully (see `register`), so a fence suffices here.
    #[cfg(miri)]
    pub(crate) fn heavy() -> bool {
        fence(Ordering::SeqCst);
        true
    }

    #[cfg(shmlane_loom)]
    loom::lazy_static! {
        /// The model of "the IPI reaches the notifier" (module docs).
        static ref IPI: loom::sync::Mutex<()> = loom::sync::Mutex::new(());
    }

    /// Loom model: nothing to register.
    #[cfg(shmlane_loom)]
    pub(crate) fn register() -> bool {
        true
    }

    /// Loom model: the load runs under the IPI lock (module docs).
    #[cfg(shmlane_loom)]
    pub(crate) fn light<R>(load: impl FnOnce() -> R) -> R {
        let _ipi = IPI.lock().unwrap();
        load()
    }

    /// Loom model: one pass through the IPI lock (module docs), unless the mutant
    /// build `shmlane_mutant_no_membarrier` skips it (to show that loom then finds the
    /// lost wake-up; never set it outside that check).
    #[cfg(shmlane_loom)]
    pub(crate) fn heavy() -> bool {
        #[cfg(not(shmlane_mutant_no_membarrier))]
        drop(IPI.lock().unwrap());
        true
    }
}
