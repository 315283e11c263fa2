//! A private page that a forked child sees as zeros: where a process caches what it
//! knows about itself (its [`Identity`](super::identity::Identity)).
#![allow(unsafe_code)]

use crate::primitive::AtomicU64;

/// Two words of a private anonymous page that a forked child sees as zeros
/// (`MADV_WIPEONFORK`, Linux 4.14 and later), mapped on first use and kept for the
/// life of the process: what a process caches there about itself (its identity) is
/// gone in its children, so one load tells whether the cache is still ours. `None` if
/// the page cannot be mapped or the kernel refuses the advice.
pub(crate) fn wipe_on_fork_words() -> Option<&'static [AtomicU64; 2]> {
    static WORDS: std::sync::OnceLock<Option<&'static [AtomicU64; 2]>> = std::sync::OnceLock::new();
    *WORDS.get_or_init(|| {
        let mut map = memmap2::MmapMut::map_anon(core::mem::size_of::<[AtomicU64; 2]>()).ok()?;
        let ptr = map.as_mut_ptr();
        // SAFETY: `ptr` is the page-aligned start of our own fresh private mapping of
        // `map.len()` bytes; the advice changes only what a forked child sees there.
        unsafe { rustix::mm::madvise(ptr.cast(), map.len(), rustix::mm::Advice::LinuxWipeOnFork) }
            .ok()?;
        // Never unmapped: the words live as long as the process.
        core::mem::forget(map);
        // SAFETY: page-aligned (so 8-aligned), at least 16 bytes, zero-filled (valid
        // atomics), never unmapped, and only ever accessed through these atomics.
        Some(unsafe { &*ptr.cast::<[AtomicU64; 2]>() })
    })
}
