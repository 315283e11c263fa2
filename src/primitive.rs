//! The one place atomics, `UnsafeCell`, fences, spinning and the futex come from.
//!
//! Under `cfg(shmlane_loom)` every item switches to loom's model so the lock-free
//! protocols in [`crate::ring`] and [`crate::wait`] can be model checked by the
//! `loom-tests/` crate. The futex is modelled as a *real* block (a mutex plus a condvar,
//! the value compared under the mutex exactly as the kernel compares it under its hash
//! bucket lock), so a lost wake-up shows up as a loom deadlock instead of being hidden
//! by a "wait = yield" stub. Timeouts are ignored in the model for the same reason.
//!
//! `clippy.toml` forbids the std atomics elsewhere in the crate.
#![allow(unsafe_code)]

#[cfg(not(shmlane_loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

#[cfg(shmlane_loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

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
        crate::wait::stats::count_wait();
        // EAGAIN (value changed), EINTR and ETIMEDOUT all mean "re-check": ignore them.
        let _ = futex::wait(word, futex::Flags::empty(), expected, timeout.as_ref());
    }

    /// Wakes every sleeper on `word`.
    #[cfg(not(shmlane_loom))]
    pub(crate) fn wake_all(word: &AtomicU32) {
        use rustix::thread::futex;
        crate::wait::stats::count_wake();
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
