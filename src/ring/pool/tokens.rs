//! The free-hint bitmap of one class (design §1, "Free list: token bitmap"): bit `c`
//! *clear* means "chunk `c` of the class has a token", i.e. is probably free, so that
//! all-zero memory is a fully free pool. A hint only: ownership is decided by the chunk
//! word CAS, so a wrong bit costs a failed CAS (stale token) or a sweep (lost token),
//! never a chunk handed out twice. A bitmap holds no duplicates, unlike an index ring
//! or a stack.
//!
//! SYNC POINT (design §1): every RMW here is SeqCst. The "tokens are never lost
//! without a crash" argument needs the freer's `FREE` CAS, its `fetch_and` here, a
//! taker's `fetch_or` here and the taker's load of the word in one total order.

use crate::primitive::{AtomicU64, Ordering};

/// The bitmap of one class: `count` chunks over `⌈count/64⌉` words. Bits at or past
/// `count` in the last word are never trusted: the scanner masks them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tokens<'a> {
    pub(crate) words: &'a [AtomicU64],
    pub(crate) count: u32,
}

impl Tokens<'_> {
    /// Takes one token, scanning from `cursor` (a class-local chunk index, any value:
    /// reduced modulo `count`) and wrapping once. Returns the class-local index whose
    /// token we took, or `None` when no token was seen. A token is taken by the
    /// `fetch_or` that sets its bit from 0; a loser picks again.
    pub(crate) fn take(&self, cursor: u32) -> Option<u32> {
        let n = self.words.len();
        if n == 0 || self.count == 0 {
            return None;
        }
        let start = (cursor % self.count) as usize / 64;
        // Each word once, from the cursor's word (whole words: the cursor spreads
        // allocators over the bitmap, it is not a fairness promise).
        for k in 0..n {
            let w = (start + k) % n;
            let valid = self.valid_mask(w);
            // Relaxed: only a hint of where to try; the fetch_or below decides.
            let mut seen = self.words[w].load(Ordering::Relaxed);
            loop {
                let free = !seen & valid;
                if free == 0 {
                    break;
                }
                let bit = free.trailing_zeros();
                let mask = 1u64 << bit;
                // SYNC POINT: SeqCst (module doc).
                let old = self.words[w].fetch_or(mask, Ordering::SeqCst);
                if old & mask == 0 {
                    return Some(w as u32 * 64 + bit);
                }
                seen = old | mask;
            }
        }
        None
    }

    /// Returns the token of class-local chunk `c` (`< count`): clears its bit.
    pub(crate) fn put(&self, c: u32) {
        debug_assert!(c < self.count);
        // SYNC POINT: SeqCst (module doc): after the CAS that made the chunk `FREE`.
        self.words[(c / 64) as usize].fetch_and(!(1u64 << (c % 64)), Ordering::SeqCst);
    }

    /// Whether class-local chunk `c` has no token (its bit is set). SeqCst: the
    /// sweep and the waiter's last check read it in the same total order as the RMWs.
    pub(crate) fn is_taken(&self, c: u32) -> bool {
        self.words[(c / 64) as usize].load(Ordering::SeqCst) & (1u64 << (c % 64)) != 0
    }

    /// Whether any valid bit is clear (a token is present). SeqCst for the waiter's
    /// re-check after `prepare_wait_fenced` (design §4, W4).
    pub(crate) fn any(&self) -> bool {
        (0..self.words.len())
            .any(|w| !self.words[w].load(Ordering::SeqCst) & self.valid_mask(w) != 0)
    }

    /// The bits of word `w` that name chunks of the class.
    fn valid_mask(&self, w: usize) -> u64 {
        let below = (self.count as u64).saturating_sub(w as u64 * 64);
        if below >= 64 {
            u64::MAX
        } else {
            (1u64 << below) - 1
        }
    }
}
