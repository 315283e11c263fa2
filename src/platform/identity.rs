//! Process identity (pid plus start time) and liveness from `/proc`.
//!
//! A pid alone is not an identity: after a process dies its pid can be reused. The start
//! time (field 22 of `/proc/PID/stat`, clock ticks after boot) changes with each reuse.
//! A zombie (killed but not yet reaped) counts as dead: it will never touch a ring again.

use crate::ring::Identity;

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

/// True if `id` names a running (or stopped, but not dead or zombie) process.
/// An unknown start time (0) matches any start time.
pub(crate) fn is_alive(id: Identity) -> bool {
    if id.pid == 0 {
        return false;
    }
    match stat(id.pid) {
        None => false,
        Some(s) => !matches!(s.state, b'Z' | b'X' | b'x') && (id.start == 0 || s.start == id.start),
    }
}

/// Like [`is_alive`], with `id.start` holding only the low 32 bits of the start time
/// (as a robust mutex records it); 0 means unknown.
pub(crate) fn is_alive_start32(id: Identity) -> bool {
    if id.start == 0 {
        return is_alive(Identity {
            pid: id.pid,
            start: 0,
        });
    }
    match stat(id.pid) {
        None => false,
        Some(s) => !matches!(s.state, b'Z' | b'X' | b'x') && s.start & 0xffff_ffff == id.start,
    }
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
