//! The two floor transports, built on nothing of shmlane: one page of shared memory
//! (a sealed memfd, mapped by both processes) holding two words 128 bytes apart.
//!
//! * [`Transport::Floor`](super::Transport::Floor): the parent stores round number `i`
//!   into the ping word and spins until the child has copied it into the pong word; the
//!   child spins on ping. Two cache lines bounce between two cores: no shm ping-pong
//!   can be faster.
//! * [`Transport::FutexFloor`](super::Transport::FutexFloor): the same with 32-bit words,
//!   and each side `FUTEX_WAKE`s the other after its store and sleeps in `FUTEX_WAIT`
//!   until its own word changes: two wake-ups per round trip, no spinning, the floor
//!   for any waiting that sleeps.
//!
//! The page reaches the child as an inherited descriptor whose number is in an
//! environment variable ([`SEG_KEY`]), like shmlane's own anonymous segments.
//! All `unsafe` of the crate is in [`page`], below.

use super::{Config, SEG_KEY, child_failed, round_trips};
use page::SharedPage;
use std::io;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Words between the ping and the pong word (128 bytes apart: separate cache lines,
/// and separate adjacent-line prefetch pairs).
const LINE_U64: usize = 16;
const LINE_U32: usize = 32;
/// The child stops when ping holds this.
const STOP_U64: u64 = u64::MAX;
const STOP_U32: u32 = u32::MAX;

/// Parent side of [`Transport::Floor`](super::Transport::Floor): the round-trip times.
pub(super) fn floor(cfg: &Config, cmd: &mut Command) -> io::Result<Vec<u64>> {
    let page = SharedPage::create()?;
    let child = page.spawn_with(cmd, SEG_KEY)?;
    let words = page.u64s();
    let (ping, pong) = (&words[0], &words[LINE_U64]);
    let rtts = round_trips(cfg.rounds, |i| {
        let v = i + 1; // never 0 (the initial value) nor STOP_U64
        // SYNC POINT: Release/Acquire on both words: the value itself is the whole
        // message, nothing else is published through them, so no stronger order is
        // needed (SeqCst would add a fence that the floor must not pay).
        ping.store(v, Ordering::Release);
        while pong.load(Ordering::Acquire) != v {
            core::hint::spin_loop();
        }
        Ok(())
    });
    // Stop the child even when the rounds failed, then report the first error.
    ping.store(STOP_U64, Ordering::Release);
    let done = child_failed(child);
    let rtts = rtts?;
    done?;
    Ok(rtts)
}

/// Child side of [`Transport::Floor`](super::Transport::Floor): echoes ping into pong.
pub(super) fn floor_peer() -> io::Result<()> {
    let page = SharedPage::from_env(SEG_KEY)?;
    let words = page.u64s();
    let (ping, pong) = (&words[0], &words[LINE_U64]);
    let mut last = 0;
    loop {
        // SYNC POINT: Acquire/Release pairs with the parent's (see `floor`).
        let v = ping.load(Ordering::Acquire);
        if v == STOP_U64 {
            return Ok(());
        }
        if v != last {
            last = v;
            pong.store(v, Ordering::Release);
        } else {
            core::hint::spin_loop();
        }
    }
}

/// Parent side of [`Transport::FutexFloor`](super::Transport::FutexFloor).
pub(super) fn futex_floor(cfg: &Config, cmd: &mut Command) -> io::Result<Vec<u64>> {
    let page = SharedPage::create()?;
    let child = page.spawn_with(cmd, SEG_KEY)?;
    let words = page.u32s();
    let (ping, pong) = (&words[0], &words[LINE_U32]);
    let rtts = round_trips(cfg.rounds, |i| {
        // 1..=u32::MAX-1: never 0 (the initial value) nor STOP_U32.
        let v = (i as u32 % (u32::MAX - 1)) + 1;
        // SYNC POINT: Release/Acquire as in `floor`. A lost wake-up is impossible
        // without any fence: FUTEX_WAIT compares the word with the expected value
        // inside the kernel, under the futex bucket lock that FUTEX_WAKE also takes,
        // so a store that lands before the sleep makes the wait return at once.
        ping.store(v, Ordering::Release);
        futex_wake_all(ping);
        loop {
            let seen = pong.load(Ordering::Acquire);
            if seen == v {
                return Ok(());
            }
            futex_wait(pong, seen);
        }
    });
    ping.store(STOP_U32, Ordering::Release);
    futex_wake_all(ping);
    let done = child_failed(child);
    let rtts = rtts?;
    done?;
    Ok(rtts)
}

/// Child side of [`Transport::FutexFloor`](super::Transport::FutexFloor).
pub(super) fn futex_floor_peer() -> io::Result<()> {
    let page = SharedPage::from_env(SEG_KEY)?;
    let words = page.u32s();
    let (ping, pong) = (&words[0], &words[LINE_U32]);
    let mut last = 0;
    loop {
        // SYNC POINT: as in `futex_floor`.
        let v = ping.load(Ordering::Acquire);
        if v == STOP_U32 {
            return Ok(());
        }
        if v != last {
            last = v;
            pong.store(v, Ordering::Release);
            futex_wake_all(pong);
        } else {
            futex_wait(ping, v);
        }
    }
}

/// Parent side of the raw-futex reference of `shmlane bench pool`'s wake latency: in
/// round `i` the parent announces `i` in a ready word and sleeps in `FUTEX_WAIT` until
/// the child, some delay later, stamps the clock, stores `i` into the go word and wakes
/// it. Returns `rounds` times from the child's clock read to the parent's after the
/// wait, in ns (`CLOCK_MONOTONIC`, one clock for both).
pub(super) fn futex_wake(rounds: usize, cmd: &mut Command) -> io::Result<Vec<u64>> {
    let page = SharedPage::create()?;
    let child = page.spawn_with(cmd, SEG_KEY)?;
    let (words, wide) = (page.u32s(), page.u64s());
    let (go, ready, stamp) = (&words[0], &words[LINE_U32], &wide[2 * LINE_U64]);
    let mut lat = Vec::with_capacity(rounds);
    // 1..: never 0 (the initial value); far below STOP_U32.
    for i in (1..=u32::MAX - 1).take(rounds) {
        // SYNC POINT: Release/Acquire on both words, as in `futex_floor`; the stamp is
        // stored before the child's Release of `go` and read after our Acquire of it,
        // so Relaxed suffices for the stamp itself.
        ready.store(i, Ordering::Release);
        futex_wake_all(ready);
        loop {
            let seen = go.load(Ordering::Acquire);
            if seen == i {
                break;
            }
            futex_wait(go, seen);
        }
        let woke = super::pool::now_ns();
        lat.push(woke.saturating_sub(stamp.load(Ordering::Relaxed)));
    }
    ready.store(STOP_U32, Ordering::Release);
    futex_wake_all(ready);
    child_failed(child)?;
    Ok(lat)
}

/// Child side of [`futex_wake`]: `delay` after each announced round, stamps the clock
/// and wakes the parent.
pub(super) fn futex_wake_peer(delay: std::time::Duration) -> io::Result<()> {
    let page = SharedPage::from_env(SEG_KEY)?;
    let (words, wide) = (page.u32s(), page.u64s());
    let (go, ready, stamp) = (&words[0], &words[LINE_U32], &wide[2 * LINE_U64]);
    let mut last = 0;
    loop {
        // SYNC POINT: as in `futex_wake`.
        let r = ready.load(Ordering::Acquire);
        if r == STOP_U32 {
            return Ok(());
        }
        if r == last {
            futex_wait(ready, r);
            continue;
        }
        last = r;
        std::thread::sleep(delay);
        stamp.store(super::pool::now_ns(), Ordering::Relaxed);
        go.store(r, Ordering::Release);
        futex_wake_all(go);
    }
}

/// Sleeps while `*word == expected` (shared futex: the word is in another process's
/// mapping too). Returns on a wake, a signal, a changed value or spuriously: callers
/// loop and re-check.
fn futex_wait(word: &AtomicU32, expected: u32) {
    use rustix::thread::futex;
    // EAGAIN (value changed) and EINTR both mean "re-check": ignore them.
    let _ = futex::wait(word, futex::Flags::empty(), expected, None);
}

/// Wakes every sleeper on `word` (shared futex, as in [`futex_wait`]).
fn futex_wake_all(word: &AtomicU32) {
    use rustix::thread::futex;
    let _ = futex::wake(word, futex::Flags::empty(), i32::MAX as u32);
}

/// One page of memory shared with a child process. The only `unsafe` of the crate.
mod page {
    #![allow(unsafe_code)]

    use memmap2::{MmapOptions, MmapRaw};
    use rustix::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
    use rustix::fs::{MemfdFlags, SealFlags};
    use std::io;
    use std::process::{Child, Command};
    use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};

    /// Bytes shared (one page: holds both floors' words).
    const LEN: usize = 4096;

    /// Set once this process has taken ownership of its inherited descriptor.
    static TAKEN: AtomicBool = AtomicBool::new(false);

    /// A sealed memfd of [`LEN`] bytes, mapped shared.
    pub(super) struct SharedPage {
        fd: OwnedFd,
        map: MmapRaw,
    }

    impl SharedPage {
        /// A new zeroed page whose size is sealed (neither side can shrink it under
        /// the other's mapping, which would turn accesses into SIGBUS).
        pub(super) fn create() -> io::Result<Self> {
            let fd = rustix::fs::memfd_create(
                "shmlane-bench-floor",
                MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
            )?;
            rustix::fs::ftruncate(&fd, LEN as u64)?;
            rustix::fs::fcntl_add_seals(
                &fd,
                SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL,
            )?;
            Self::map(fd)
        }

        /// Takes the page that [`spawn_with`](Self::spawn_with) passed to this process
        /// under `key`; once per process.
        pub(super) fn from_env(key: &str) -> io::Result<Self> {
            let bad = |why: &str| io::Error::other(format!("{key}: {why}"));
            let raw: i32 = std::env::var(key)
                .map_err(|_| bad("variable not set"))?
                .parse()
                .map_err(|_| bad("not a file descriptor number"))?;
            if raw < 3 {
                return Err(bad("not an inherited descriptor (below 3)"));
            }
            // SAFETY: the borrow lives for the checks below only and creates no owner;
            // on a number that is not open they fail (EBADF).
            let borrowed = unsafe { BorrowedFd::borrow_raw(raw) };
            let flags = rustix::io::fcntl_getfd(borrowed)
                .map_err(|_| bad("descriptor not open in this process"))?;
            if flags.contains(rustix::io::FdFlags::CLOEXEC) {
                // An inherited descriptor is not close-on-exec; every one this process
                // opened itself is: not ours to take (and close on error).
                return Err(bad("descriptor is close-on-exec (not inherited)"));
            }
            let seals = rustix::fs::fcntl_get_seals(borrowed)?;
            let size = rustix::fs::fstat(borrowed)?.st_size;
            if !seals.contains(SealFlags::SHRINK) || size < LEN as i64 {
                return Err(bad("not a sealed page of shared memory"));
            }
            // SYNC POINT: only the flag's own value matters (no data is published
            // through it): Relaxed suffices for a test-and-set.
            if TAKEN.swap(true, std::sync::atomic::Ordering::Relaxed) {
                return Err(bad("descriptor already taken"));
            }
            // SAFETY: `raw` is open, inherited (not close-on-exec, at least 3) and a
            // sealed page (checked above); the parent's `spawn_with` passed it for this
            // purpose, nothing else in this process owns it, and TAKEN guarantees we
            // create only one owner.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC)?;
            Self::map(fd)
        }

        fn map(fd: OwnedFd) -> io::Result<Self> {
            let map = MmapOptions::new().len(LEN).map_raw(&fd)?;
            Ok(Self { fd, map })
        }

        /// Spawns `cmd` with the page's descriptor inherited and its number in the
        /// environment variable `key`.
        pub(super) fn spawn_with(&self, cmd: &mut Command, key: &str) -> io::Result<Child> {
            // A copy numbered 3 or above (the child's stdio setup replaces 0, 1 and 2)
            // with FD_CLOEXEC clear, so it survives exec; it lives only during the
            // spawn (this harness spawns from one thread: no other child can get it).
            let dup = rustix::io::fcntl_dupfd_cloexec(&self.fd, 3)?;
            rustix::io::fcntl_setfd(&dup, rustix::io::FdFlags::empty())?;
            cmd.env(key, dup.as_raw_fd().to_string());
            cmd.spawn()
        }

        /// The page as 64-bit atomic words.
        pub(super) fn u64s(&self) -> &[AtomicU64] {
            // SAFETY: the mapping is LEN bytes, readable and writable, page-aligned
            // (so aligned for AtomicU64), and lives as long as `self` (the borrow);
            // the file cannot shrink (sealed, checked on both sides). AtomicU64 has
            // the size of u64 and every bit pattern is valid; the other process
            // touches these bytes only through atomics too, so there is no data race.
            unsafe { std::slice::from_raw_parts(self.map.as_ptr().cast(), LEN / 8) }
        }

        /// The page as 32-bit atomic words (futex words).
        pub(super) fn u32s(&self) -> &[AtomicU32] {
            // SAFETY: as in `u64s`, with AtomicU32 (alignment 4 divides the page's).
            unsafe { std::slice::from_raw_parts(self.map.as_ptr().cast(), LEN / 4) }
        }
    }
}
