//! Process identity (pid plus start time) and liveness from `/proc`.
//!
//! A pid alone is not an identity: after a process dies its pid can be reused. The start
//! time (field 22 of `/proc/PID/stat`, clock ticks after boot) changes with each reuse.
//! A zombie (killed but not yet reaped) counts as dead: it will never touch a ring again.

use crate::ring::Identity;
use crate::ring::endpoint::START_MASK;

/// What `/proc/PID/stat` says about a process.
struct Stat {
    state: u8,
    start: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain anything, so parse
    // from the last ')'. Fields after it: 3 state, …, 22 starttime.
    let close = text.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(text.get(close + 1..)?).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let state = *fields.next()?.as_bytes().first()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some(Stat { state, start })
}

/// This process's identity.
pub(crate) fn current() -> Identity {
    let pid = std::process::id();
    Identity {
        pid,
        start: stat(pid).map_or(0, |s| s.start),
    }
}

/// True if the start times `a` (read from `/proc`) and `b` (possibly truncated, as
/// endpoint words and robust mutexes record it) name the same process start. Start
/// times are compared modulo 2^30 ([`START_MASK`]), the bits every record keeps; 0
/// (after truncation) means unknown and matches any start time.
fn same_start(proc_start: u64, recorded: u64) -> bool {
    let recorded = recorded & START_MASK;
    recorded == 0 || proc_start & START_MASK == recorded
}

/// True if `id` names a running (or stopped, but not dead or zombie) process.
/// `id.start` may be the full start time or only its low bits (an identity read from
/// an endpoint word keeps 30 bits, a robust mutex's owner record 32); an unknown start
/// time (0) matches any start time.
pub(crate) fn is_alive(id: Identity) -> bool {
    if id.pid == 0 {
        return false;
    }
    match stat(id.pid) {
        None => false,
        Some(s) => !matches!(s.state, b'Z' | b'X' | b'x') && same_start(s.start, id.start),
    }
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

    #[test]
    fn self_is_alive_and_reuse_is_detected() {
        let me = current();
        assert!(me.start > 0);
        assert!(is_alive(me));
        assert!(
            !is_alive(Identity {
                start: me.start + 1,
                ..me
            }),
            "same pid, other start = reused"
        );
        assert!(!is_alive(Identity { pid: 0, start: 0 }));
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
        assert!(!is_alive(id));
        child.wait().unwrap();
    }
}
