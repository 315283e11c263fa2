//! Process identity (pid plus start time) and liveness from `/proc`.
//!
//! A pid alone is not an identity: after a process dies its pid can be reused. The start
//! time (field 22 of `/proc/PID/stat`, clock ticks after boot) changes with each reuse.
//!
//! [`liveness`] is the one place that decides whether a process is gone, and it says
//! [`Liveness::Dead`] only on proof: no process has the pid (`ENOENT`/`ESRCH`), the pid
//! names a process with another start time (a reuse), or the process is a zombie or
//! dying (state `Z`/`X`) with no thread left running. Any other failure (`EMFILE`,
//! `ENOMEM`, `EACCES`, text it cannot parse) is [`Liveness::Unknown`]: ask again later.
//! A caller that acts on a death (disconnects a survivor, takes over an end, retires a
//! member, unlinks a segment, takes a lock from its owner) must never act on `Unknown`,
//! and [`is_alive`] ("not known dead") is the boolean every such caller uses.

#[cfg(not(shmlane_loom))]
use std::sync::atomic::Ordering;
use std::sync::atomic::{AtomicU32, AtomicU64};

/// A process, identified so that a reused pid is not mistaken for the original owner.
///
/// An identity read back from an endpoint word carries the start time modulo 2^30
/// (`START_MASK`); liveness checks compare start times modulo 2^30.
///
/// # Examples
///
/// ```
/// use shmlane::ring::Identity;
/// let me = Identity { pid: 42, start: 1000 };
/// assert_eq!(me.pid, 42);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Identity {
    /// Process id.
    pub pid: u32,
    /// Process start time in clock ticks after boot (0 = unknown).
    pub start: u64,
}

/// The bits of a start time an endpoint word keeps (2^30 ticks: 124 days at 100 Hz).
pub(crate) const START_MASK: u64 = (1 << 30) - 1;

/// What is known about whether a process (an [`Identity`]) still runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Liveness {
    /// Running or stopped, with a matching start time (or an unknown one).
    Alive,
    /// Gone for certain: no such pid, a later process with the pid, or exited (zombie).
    Dead,
    /// `/proc` could not be read (`EMFILE`, `ENOMEM`, …): not a reason to act; ask again.
    Unknown,
}

/// What `/proc/PID/stat` says about a process.
#[derive(Debug, PartialEq, Eq)]
struct Stat {
    state: u8,
    threads: u64,
    start: u64,
}

/// Parses `/proc/PID/stat`. The command name (field 2) is in parentheses and may
/// contain anything, so fields are counted from the last ')': 3 state, …,
/// 20 num_threads, 21 itrealvalue, 22 starttime.
fn parse(text: &[u8]) -> Option<Stat> {
    let close = text.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(text.get(close + 1..)?).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let state = *fields.next()?.as_bytes().first()?;
    let threads = fields.nth(16)?.parse().ok()?;
    let start = fields.nth(1)?.parse().ok()?;
    Some(Stat {
        state,
        threads,
        start,
    })
}

fn read_stat(pid: u32) -> std::io::Result<Vec<u8>> {
    std::fs::read(format!("/proc/{pid}/stat"))
}

/// True for the errors that prove a pid names no process (`/proc/PID` is gone).
fn no_such_process(e: &std::io::Error) -> bool {
    use rustix::io::Errno;
    let code = e.raw_os_error();
    code == Some(Errno::NOENT.raw_os_error()) || code == Some(Errno::SRCH.raw_os_error())
}

/// The decision, apart from the read (so the unit tests can feed it any outcome).
/// `proc_mounted` is asked only when the read says `ENOENT`: without `/proc` every pid
/// would look gone.
fn judge(
    read: std::io::Result<Vec<u8>>,
    recorded_start: u64,
    proc_mounted: impl FnOnce() -> bool,
) -> Liveness {
    let text = match read {
        Ok(text) => text,
        Err(e) if no_such_process(&e) && proc_mounted() => return Liveness::Dead,
        Err(_) => return Liveness::Unknown,
    };
    let Some(s) = parse(&text) else {
        return Liveness::Unknown;
    };
    if !same_start(s.start, recorded_start) {
        return Liveness::Dead; // the pid was reused: our process is gone
    }
    match s.state {
        // A thread-group leader that left with pthread_exit is a zombie while its
        // other threads run (num_threads counts them, and the leader until reaped).
        b'Z' | b'X' | b'x' if s.threads <= 1 => Liveness::Dead,
        _ => Liveness::Alive,
    }
}

fn proc_mounted() -> bool {
    // stat(2) needs no file descriptor, so it answers even under EMFILE.
    std::fs::metadata("/proc/self/stat").is_ok()
}

/// This process's start time, read once per process (a forked child reads its own):
/// the fallback cache, used where the wipe-on-fork page is unavailable.
static CURRENT_PID: AtomicU32 = AtomicU32::new(0);
static CURRENT_START: AtomicU64 = AtomicU64::new(0);

/// This process's identity.
///
/// No system call once known: it is cached in a page that a forked child sees as
/// zeros ([`wipe_on_fork_words`](super::wipe_on_fork::wipe_on_fork_words): word 0 the
/// pid, word 1 the start time), so a child never takes its parent's identity for its
/// own. Where that page is unavailable (a kernel before 4.14), each call asks `getpid`
/// and compares it with the cached pid.
///
/// The start time is read from `/proc/self/stat` on the first call that succeeds and
/// kept. If no call has succeeded yet (say, no file descriptor is free) the start time
/// is 0 ("unknown"), which errs on the safe side: a record of it is then checked by
/// pid alone, so a later process that reuses our pid is taken for us (an entry we held
/// may stay busy until that process exits too), never the reverse.
#[cfg(not(shmlane_loom))]
pub(crate) fn current() -> Identity {
    let page = super::wipe_on_fork::wipe_on_fork_words();
    if let Some(w) = page {
        // Acquire: pairs with the Release store of the pid below, so a nonzero pid
        // comes with the start time stored before it. The page reads 0 in a forked
        // child until the child stores its own identity.
        let pid = w[0].load(Ordering::Acquire);
        if pid != 0 {
            return Identity {
                pid: pid as u32,
                start: w[1].load(Ordering::Relaxed),
            };
        }
    }
    let pid = std::process::id();
    // Acquire: pairs with the Release store of the pid below, so a matching pid comes
    // with the start time stored before it. All writers store the same values for the
    // same pid (only a forked child, with a new pid, changes them).
    if page.is_none() && CURRENT_PID.load(Ordering::Acquire) == pid {
        return Identity {
            pid,
            start: CURRENT_START.load(Ordering::Relaxed),
        };
    }
    let start = read_stat(pid)
        .ok()
        .and_then(|t| parse(&t))
        .map_or(0, |s| s.start);
    if start != 0 {
        if let Some(w) = page {
            // Relaxed: published by the Release store of the pid.
            w[1].store(start, Ordering::Relaxed);
            // Release: publishes the start time stored just before.
            w[0].store(u64::from(pid), Ordering::Release);
        }
        CURRENT_START.store(start, Ordering::Relaxed);
        // Release: publishes the start time stored just before.
        CURRENT_PID.store(pid, Ordering::Release);
    }
    Identity { pid, start }
}

/// True if `id` (possibly read back from shared memory, start time truncated) names
/// this very process: same pid and a start time that matches ours modulo 2^30, or is
/// unknown on either side. No syscall once [`current`] has read our start time.
#[cfg(not(shmlane_loom))]
pub(crate) fn is_me(id: Identity) -> bool {
    let me = current();
    id.pid == me.pid && (me.start == 0 || same_start(me.start, id.start))
}

/// True if the start time `proc_start` (read from `/proc`) and `recorded` (possibly
/// truncated, as endpoint words and robust mutexes record it) name the same process
/// start. Start times are compared modulo 2^30 ([`START_MASK`]), the bits every record
/// keeps; a recorded 0 (after truncation) means unknown and matches any start time.
fn same_start(proc_start: u64, recorded: u64) -> bool {
    let recorded = recorded & START_MASK;
    recorded == 0 || proc_start & START_MASK == recorded
}

/// What is known about `id`: [`Liveness::Dead`] only on proof (see the module docs).
/// `id.start` may be the full start time or only its low bits (an identity read from
/// an endpoint word keeps 30 bits, a robust mutex's owner record 32); an unknown start
/// time (0) matches any start time. Pid 0 names no process of ours: dead.
pub(crate) fn liveness(id: Identity) -> Liveness {
    if id.pid == 0 {
        return Liveness::Dead;
    }
    judge(read_stat(id.pid), id.start, proc_mounted)
}

/// True unless `id` is known dead ([`liveness`] is not [`Liveness::Dead`]): a process
/// whose state cannot be read right now counts as alive. Every caller that would act on
/// a death uses this.
pub(crate) fn is_alive(id: Identity) -> bool {
    liveness(id) != Liveness::Dead
}

/// Like [`is_alive`], with `id.start` holding only the low 32 bits of the start time
/// (as a robust mutex records it); 0 means unknown. ([`is_alive`] compares the low
/// bits only, so this is the same check.)
pub(crate) fn is_alive_start32(id: Identity) -> bool {
    is_alive(id)
}

#[cfg(all(test, not(miri)))]
mod tests {
    use super::*;
    use std::io::Error;

    #[test]
    fn self_is_alive_and_reuse_is_detected() {
        let me = current();
        assert!(me.start > 0);
        assert_eq!(current(), me, "cached");
        assert_eq!(liveness(me), Liveness::Alive);
        assert!(is_alive(me));
        assert_eq!(
            liveness(Identity {
                start: me.start + 1,
                ..me
            }),
            Liveness::Dead,
            "same pid, other start = reused"
        );
        assert_eq!(liveness(Identity { pid: 0, start: 0 }), Liveness::Dead);
        // Above PID_MAX_LIMIT (2^22): no such process.
        assert_eq!(
            liveness(Identity {
                pid: (1 << 23) + 1,
                start: 0
            }),
            Liveness::Dead
        );
        // Truncated records (an endpoint word's 30 bits, a mutex's 32) still match.
        assert!(is_alive(Identity {
            start: me.start & START_MASK,
            ..me
        }));
        assert!(is_alive(Identity {
            start: me.start & 0xffff_ffff,
            ..me
        }));
    }

    /// A stat line as the kernel writes it, with a hostile command name.
    fn line(state: char, threads: u64, start: u64) -> Vec<u8> {
        format!(
            "42 (a) Z 1 (b) {state} 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 {threads} 0 \
             {start} 1000 10 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
        )
        .into_bytes()
    }

    #[test]
    fn parse_counts_fields_from_the_last_paren() {
        assert_eq!(
            parse(&line('S', 3, 777)),
            Some(Stat {
                state: b'S',
                threads: 3,
                start: 777
            })
        );
        assert_eq!(parse(b"42 (a) S 1"), None);
    }

    /// Only "no such process" (with `/proc` mounted), another start time, or a zombie
    /// with no thread left is a death; every other failure is unknown.
    #[test]
    fn only_proof_is_death() {
        let err = Error::from_raw_os_error;
        let yes = || true;
        assert_eq!(judge(Err(err(libc::ENOENT)), 5, yes), Liveness::Dead);
        assert_eq!(judge(Err(err(libc::ESRCH)), 5, yes), Liveness::Dead);
        assert_eq!(
            judge(Err(err(libc::ENOENT)), 5, || false),
            Liveness::Unknown
        );
        for e in [
            libc::EMFILE,
            libc::ENFILE,
            libc::ENOMEM,
            libc::EACCES,
            libc::EIO,
        ] {
            assert_eq!(judge(Err(err(e)), 5, yes), Liveness::Unknown, "errno {e}");
        }
        assert_eq!(judge(Ok(b"garbage".to_vec()), 5, yes), Liveness::Unknown);
        assert_eq!(judge(Ok(line('S', 1, 5)), 5, yes), Liveness::Alive);
        assert_eq!(judge(Ok(line('T', 1, 5)), 0, yes), Liveness::Alive);
        assert_eq!(judge(Ok(line('S', 1, 6)), 5, yes), Liveness::Dead);
        assert_eq!(judge(Ok(line('Z', 1, 5)), 5, yes), Liveness::Dead);
        assert_eq!(judge(Ok(line('X', 0, 5)), 5, yes), Liveness::Dead);
        // A leader that called pthread_exit while two other threads run.
        assert_eq!(judge(Ok(line('Z', 3, 5)), 5, yes), Liveness::Alive);
    }

    #[test]
    fn zombie_child_is_dead() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let id = Identity {
            pid: child.id(),
            start: 0,
        };
        // wait until it has exited but do not reap it yet
        let t0 = std::time::Instant::now();
        while is_alive(id) && t0.elapsed().as_secs() < 10 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(liveness(id), Liveness::Dead);
        child.wait().unwrap();
    }
}
