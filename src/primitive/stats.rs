//! Process-wide counters of futex system calls, so tests and the bench can show that
//! the fast path makes none. Public as [`crate::stats`].

use std::sync::atomic::{AtomicU64, Ordering};

static WAITS: AtomicU64 = AtomicU64::new(0);
static WAKES: AtomicU64 = AtomicU64::new(0);
static PROC_READS: AtomicU64 = AtomicU64::new(0);

/// Futex calls made by this process so far.
///
/// # Examples
///
/// ```
/// let before = shmlane::stats::futex_calls();
/// assert!(shmlane::stats::futex_calls().wakes >= before.wakes);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FutexCalls {
    /// `FUTEX_WAIT` calls.
    pub waits: u64,
    /// `FUTEX_WAKE` calls.
    pub wakes: u64,
}

/// Reads the counters (Relaxed: independent statistics).
pub fn futex_calls() -> FutexCalls {
    FutexCalls {
        waits: WAITS.load(Ordering::Relaxed),
        wakes: WAKES.load(Ordering::Relaxed),
    }
}

pub(crate) fn count_wait() {
    WAITS.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn count_wake() {
    WAKES.fetch_add(1, Ordering::Relaxed);
}

/// Peer liveness checks made by reading `/proc` (several system calls each) so far in
/// this process: none while the death watcher watches the peer through a pidfd.
///
/// # Examples
///
/// ```
/// let before = shmlane::stats::proc_liveness_reads();
/// assert!(shmlane::stats::proc_liveness_reads() >= before);
/// ```
pub fn proc_liveness_reads() -> u64 {
    // Relaxed: an independent statistic.
    PROC_READS.load(Ordering::Relaxed)
}

pub(crate) fn count_proc_read() {
    PROC_READS.fetch_add(1, Ordering::Relaxed);
}
