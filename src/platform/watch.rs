//! The death watcher: one background thread per process that sleeps in `poll(2)` on a
//! pidfd per watched peer and runs a callback when that peer exits.
//!
//! This is what lets a producer's *next* send return `Disconnected` after its consumer
//! was SIGKILLed, at the cost of one cached load per send: the callback marks the dead
//! endpoint in shared memory and wakes its waiters. The bounded sleep ticks of
//! [`crate::wait`] remain as a fallback where pidfds are unavailable.

use crate::platform::identity::Identity;
use rustix::event::{EventfdFlags, PollFd, PollFlags, eventfd, poll};
use rustix::fd::OwnedFd;
use rustix::process::{Pid, PidfdFlags, pidfd_open};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

type Callback = Arc<dyn Fn() + Send + Sync>;

struct Reg {
    pidfd: Arc<OwnedFd>,
    on_death: Callback,
}

struct Watcher {
    /// The process that started the thread (a forked child must start its own).
    owner: u32,
    wake: Arc<OwnedFd>,
    regs: HashMap<u64, Reg>,
    next: u64,
}

static STATE: Mutex<Option<Watcher>> = Mutex::new(None);

fn state() -> MutexGuard<'static, Option<Watcher>> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Deregisters its watch when dropped.
#[derive(Debug)]
pub(crate) struct WatchGuard(u64);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        let mut st = state();
        if let Some(w) = st.as_mut()
            && w.regs.remove(&self.0).is_some()
        {
            kick(&w.wake);
        }
    }
}

fn kick(fd: &OwnedFd) {
    let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
}

/// Calls `on_death` (on the watcher thread) once `peer` exits. If `peer` is already
/// gone, calls it now. Returns `None` when pidfds are unavailable (the caller then
/// relies on its wait ticks).
pub(crate) fn watch(peer: Identity, on_death: Callback) -> Option<WatchGuard> {
    let pidfd = Pid::from_raw(i32::try_from(peer.pid).ok()?)
        .and_then(|p| pidfd_open(p, PidfdFlags::empty()).ok());
    // Check identity *after* opening the pidfd: if the start time still matches, the
    // pidfd refers to the right process, not to a later one that reused the pid. Only a
    // proven death calls `on_death`; if `/proc` cannot be read now (EMFILE, ENOMEM) the
    // pidfd is not trusted either and the caller relies on its ticks.
    match super::identity::liveness(peer) {
        super::identity::Liveness::Dead => {
            on_death();
            return None;
        }
        super::identity::Liveness::Unknown => return None,
        super::identity::Liveness::Alive => {}
    }
    let pidfd = Arc::new(pidfd?);
    let mut st = state();
    let me = std::process::id();
    if st.as_ref().is_none_or(|w| w.owner != me) {
        let wake = Arc::new(eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK).ok()?);
        let thread_wake = wake.clone();
        std::thread::Builder::new()
            .name("shmlane-watch".into())
            .spawn(move || run(thread_wake))
            .ok()?;
        *st = Some(Watcher {
            owner: me,
            wake,
            regs: HashMap::new(),
            next: 0,
        });
    }
    let w = st.as_mut()?;
    let id = w.next;
    w.next += 1;
    w.regs.insert(id, Reg { pidfd, on_death });
    kick(&w.wake);
    Some(WatchGuard(id))
}

fn run(wake: Arc<OwnedFd>) {
    loop {
        let fds: Vec<(u64, Arc<OwnedFd>)> = match state().as_ref() {
            Some(w) if Arc::ptr_eq(&w.wake, &wake) => w
                .regs
                .iter()
                .map(|(id, r)| (*id, r.pidfd.clone()))
                .collect(),
            _ => return, // replaced (we are a stale thread image after fork)
        };
        let mut polls = Vec::with_capacity(fds.len() + 1);
        polls.push(PollFd::new(&*wake, PollFlags::IN));
        polls.extend(fds.iter().map(|(_, fd)| PollFd::new(&**fd, PollFlags::IN)));
        if poll(&mut polls, None).is_err() {
            continue; // EINTR
        }
        if !polls[0].revents().is_empty() {
            let mut buf = [0u8; 8];
            let _ = rustix::io::read(&*wake, &mut buf);
        }
        let dead: Vec<u64> = polls[1..]
            .iter()
            .zip(&fds)
            .filter(|(p, _)| !p.revents().is_empty())
            .map(|(_, (id, _))| *id)
            .collect();
        drop(polls);
        if dead.is_empty() {
            continue;
        }
        let callbacks: Vec<Callback> = {
            let mut st = state();
            let Some(w) = st.as_mut() else { return };
            dead.iter()
                .filter_map(|id| w.regs.remove(id))
                .map(|r| r.on_death)
                .collect()
        };
        for cb in callbacks {
            cb();
        }
    }
}

#[cfg(all(test, not(miri)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    #[test]
    fn fires_when_child_exits() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.2")
            .spawn()
            .unwrap();
        let id = Identity {
            pid: child.id(),
            start: 0,
        };
        let fired = Arc::new(AtomicBool::new(false));
        let f = fired.clone();
        let _g = watch(id, Arc::new(move || f.store(true, Ordering::SeqCst)));
        let t0 = Instant::now();
        while !fired.load(Ordering::SeqCst) && t0.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(fired.load(Ordering::SeqCst));
        child.wait().unwrap();
    }
}
