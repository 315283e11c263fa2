//! The process-local half of a shared lock: which threads of this process are inside it.

use super::RawMutex;
use crate::primitive::{AtomicU64, Ordering};

/// This process's dealings with one shared lock, kept in process memory (the handles
/// keep one per object, shared by every mapping of it in the process).
///
/// `state` packs two counters, both changed by the thread concerned only:
///
/// | bits   | meaning                                                          |
/// |--------|------------------------------------------------------------------|
/// | 0..32  | threads of this process between the start of a lock attempt and  |
/// |        | the end of the matching unlock (or the failed attempt's end)     |
/// | 32..64 | lock attempts started (wraps)                                    |
///
/// It lets a waiter know for certain that *no other thread of this process* holds the
/// lock, which is what makes a lock word naming this process a contradiction (see
/// [`alone_while_named`](Self::alone_while_named)). Cost: one process-local atomic
/// add when a lock attempt starts and one when the lock is released; no syscall, no
/// shared-memory write.
///
/// # Examples
///
/// ```
/// use shmlane::sync::raw::{LocalLock, RawMutex};
/// let (m, local) = (RawMutex::new(), LocalLock::default());
/// m.poke(42, 0); // the word names pid 42, which took no lock here
/// local.enter(); // this thread starts an attempt
/// assert!(local.alone_while_named(&m, 42));
/// local.leave();
/// ```
#[derive(Debug, Default)]
pub struct LocalLock {
    state: AtomicU64,
}

const ENTER: u64 = 1 | 1 << 32;

impl LocalLock {
    /// A thread of this process starts a lock attempt.
    pub fn enter(&self) {
        // Relaxed: ordered before the locking CAS, whose Release part publishes it to
        // a waiter that reads our pid in the word (`RawMutex::owner_pid`, Acquire).
        self.state.fetch_add(ENTER, Ordering::Relaxed);
    }

    /// That attempt failed, or the lock it took was released (after the unlock).
    pub fn leave(&self) {
        // Release — SYNC POINT: pairs with the Acquire loads in `alone_while_named`:
        // a waiter that sees us gone also sees our unlock of the word.
        self.state.fetch_sub(1, Ordering::Release);
    }

    /// True while a thread of this process is inside a lock attempt or holds the lock
    /// (a guard that was `mem::forget`-ten stays counted for good).
    ///
    /// ```
    /// let local = shmlane::sync::raw::LocalLock::default();
    /// local.enter();
    /// assert!(local.busy());
    /// local.leave();
    /// assert!(!local.busy());
    /// ```
    pub fn busy(&self) -> bool {
        // Acquire: see `leave`.
        self.state.load(Ordering::Acquire) as u32 != 0
    }

    /// True if the lock word names `pid` (this process) while no thread of this
    /// process but the caller (itself inside an attempt) is between a lock attempt's
    /// start and its unlock: then nobody here can hold it, and nobody here can have
    /// written that word: a contradiction.
    ///
    /// Exact, not a guess: a thread of ours that wrote the word `enter`ed before its
    /// CAS, which publishes the enter with Release; reading its pid (Acquire) makes
    /// that enter visible to the second snapshot, so either the attempt counter moved
    /// between the snapshots or the thread is counted in them. A thread that already
    /// left had unlocked first (Release), so the word read after its leave cannot be
    /// its value any more.
    pub fn alone_while_named(&self, lock: &RawMutex, pid: u32) -> bool {
        // Acquire: see `leave`.
        let before = self.state.load(Ordering::Acquire);
        let named = lock.owner_pid();
        // Acquire: see `leave`.
        let after = self.state.load(Ordering::Acquire);
        before == after && before as u32 == 1 && named == pid
    }
}
