//! The sequence lock: one writer, lock-free readers that never see a torn value.

use crate::primitive::{AtomicU64, Ordering, fence};

/// A sequence lock over `N` 64-bit words: one writer at a time (the caller serializes
/// writers, e.g. with a [`RawMutex`](super::RawMutex)), lock-free readers that never return a torn
/// value. Readers copy the words with atomic loads, never plain loads of racy memory.
///
/// # Examples
///
/// ```
/// use shmlane::sync::raw::SeqLock;
/// let s = SeqLock::<2>::new();
/// s.write(&[1, 2]);
/// assert_eq!(s.read(), Some([1, 2]));
/// ```
#[repr(C)]
#[derive(Debug)]
pub struct SeqLock<const N: usize> {
    seq: AtomicU64,
    words: [AtomicU64; N],
}

impl<const N: usize> Default for SeqLock<N> {
    fn default() -> Self {
        Self {
            seq: AtomicU64::new(0),
            words: core::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl<const N: usize> SeqLock<N> {
    /// Zero words, sequence 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes `value` (the caller holds the writers' lock).
    pub fn write(&self, value: &[u64; N]) {
        seqlock_write(&self.seq, &self.words, value);
    }

    /// Overwrites the sequence word (fuzzing and tests: a hostile peer).
    #[doc(hidden)]
    #[cfg(feature = "fault-injection")]
    pub fn poke_seq(&self, value: u64) {
        // Relaxed: simulated garbage.
        self.seq.store(value, Ordering::Relaxed);
    }

    /// One read attempt: `None` if a write was in progress or overlapped (retry).
    pub fn read(&self) -> Option<[u64; N]> {
        let mut out = [0u64; N];
        seqlock_read(&self.seq, &self.words, &mut out).then_some(out)
    }
}

/// The seqlock write over any word slice (see [`SeqLock`]).
pub(crate) fn seqlock_write(seq: &AtomicU64, words: &[AtomicU64], value: &[u64]) {
    // Relaxed: we are the only writer (caller's lock); ordering comes from the fences.
    let s = seq.load(Ordering::Relaxed);
    // An odd value marks a write in progress; a garbage odd value becomes even here.
    let start = s | 1;
    seq.store(start, Ordering::Relaxed);
    // SYNC POINT: the odd sequence is ordered before the data stores (pairs with the
    // reader's Acquire fence: a reader that saw any new word sees the odd sequence).
    fence(Ordering::Release);
    for (w, v) in words.iter().zip(value) {
        // Relaxed: ordered by the fence above and the Release store below.
        w.store(*v, Ordering::Relaxed);
    }
    // Release — SYNC POINT: pairs with the reader's Acquire load of the sequence.
    seq.store(start.wrapping_add(1), Ordering::Release);
}

/// The seqlock read over any word slice; false if torn (retry).
pub(crate) fn seqlock_read(seq: &AtomicU64, words: &[AtomicU64], out: &mut [u64]) -> bool {
    // Acquire — SYNC POINT: pairs with the writer's final Release store.
    let s1 = seq.load(Ordering::Acquire);
    if s1 & 1 != 0 {
        return false;
    }
    for (o, w) in out.iter_mut().zip(words) {
        // Relaxed: validated by the sequence re-check below.
        *o = w.load(Ordering::Relaxed);
    }
    // SYNC POINT: orders the data loads before the re-check (pairs with the writer's
    // Release fence).
    fence(Ordering::Acquire);
    // Relaxed: ordered by the fence above.
    seq.load(Ordering::Relaxed) == s1
}

/// The sequence word of a seqlock, for a reader that finds it stuck odd: the writer
/// died mid-write (or a peer wrote garbage).
pub(crate) fn seqlock_is_odd(seq: &AtomicU64) -> bool {
    // Relaxed: a hint; the repair happens under the writers' lock.
    seq.load(Ordering::Relaxed) & 1 != 0
}
