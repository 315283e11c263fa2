//! Liveness verdicts and endpoint release across processes: a live owner is never taken
//! for dead when `/proc` cannot be read (file descriptors exhausted) nor when its
//! thread-group leader has exited while other threads run, and a forked child's copy of
//! a handle does not release its parent's end.

mod common;

use common::{peer, proc_state, result, role, unique};
use shmlane::error::ClaimError;
use shmlane::error::RecvTimeoutError;
use shmlane::pipe::Pipe;
use shmlane::queue::Queue;
use std::time::{Duration, Instant};

/// Watchdog only: a correct run finishes in milliseconds; this turns a hang into a failure.
const WATCHDOG: Duration = Duration::from_secs(60);
/// How long a survivor keeps looking at a live peer (several 50 ms liveness ticks). Not
/// a timing assertion: nothing may disconnect in however long we look.
const LOOK: Duration = Duration::from_millis(500);

/// Child-process entry point (ignored in normal runs; see `common::peer`).
#[test]
#[ignore]
fn peer_main() {
    let Some((role, args)) = role() else { return };
    match role.as_str() {
        // Takes the receiver of pipe `args[0]` and joins queue `args[1]`, whose sender
        // and other member are held by the (live) parent; then uses up every file
        // descriptor and asks, through each path that judges liveness, about the parent.
        "no-fds" => {
            let pipe = Pipe::<u64>::open(&args[0]).unwrap();
            let mut rx = pipe.receiver().unwrap();
            let q = Queue::<u64>::open(&args[1]).unwrap();
            exhaust_fds();
            let recv = rx.recv_timeout(LOOK);
            let freed = q.recover().expect("recover");
            let claim = pipe.sender().map(drop);
            println!("RESULT recv={recv:?} freed={freed} claim={claim:?}");
        }
        _ => panic!("unknown role {role}"),
    }
}

/// Lowers the soft `RLIMIT_NOFILE` and opens descriptors until `EMFILE`, then checks
/// that `/proc` really cannot be read (else the test could not fail).
fn exhaust_fds() {
    // SAFETY: getrlimit/setrlimit/dup on our own process with valid pointers.
    unsafe {
        let mut lim = std::mem::zeroed::<libc::rlimit>();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_cur.min(64);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        while libc::dup(1) >= 0 {}
    }
    let e = std::fs::read("/proc/self/stat").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "setup: {e}");
}

/// With every file descriptor in use, `/proc/PID/stat` of a live peer cannot be read
/// (`EMFILE`). That says nothing about the peer: a pipe survivor must not report
/// `Disconnected`, `Queue::recover` must not retire a live member (nor itself), and a
/// claim must not take over the live peer's end.
#[test]
fn exhausted_fds_do_not_make_a_live_owner_dead() {
    let pipe_name = unique("nofd-pipe");
    let queue_name = unique("nofd-queue");
    let pipe = Pipe::<u64>::create(&pipe_name, 16).unwrap();
    let tx = pipe.sender().unwrap();
    let q = Queue::<u64>::create(&queue_name, 16).unwrap();
    let child = peer("no-fds", &[pipe_name.clone(), queue_name.clone()])
        .spawn()
        .unwrap();
    let (status, line) = result(child);
    assert!(status.success(), "child failed: {status}");
    let busy: Result<(), ClaimError> = Err(ClaimError::EndpointBusy {
        pid: std::process::id(),
    });
    let want = format!(
        "recv={:?} freed=0 claim={busy:?}",
        Err::<u64, _>(RecvTimeoutError::Timeout)
    );
    assert_eq!(line, want, "a live owner was judged dead for lack of fds");
    drop((tx, q));
}

/// Forks: the child gets `None` and must end in [`in_child`], the parent the child.
fn fork() -> Option<Forked> {
    // SAFETY: every child here only runs `in_child` (drops handles, spawns a thread,
    // exits) and never returns into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    (pid != 0).then_some(Forked(pid))
}

/// Runs `f` in a forked child and `_exit`s: 0, or 101 on a panic (which must not
/// unwind into the harness's copy in the child).
fn in_child(f: impl FnOnce()) -> ! {
    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_or(101, |()| 0);
    // SAFETY: ends the child without running the parent's exit handlers.
    unsafe { libc::_exit(code) }
}

/// A forked child: killed and reaped on drop (also on a failed assertion).
struct Forked(i32);

impl Forked {
    /// Waits for the child to exit and returns its exit code (watchdog: kill).
    fn wait(&mut self) -> i32 {
        let t0 = Instant::now();
        loop {
            let mut st = 0;
            // SAFETY: waitpid on our own child with a valid status pointer.
            let r = unsafe { libc::waitpid(self.0, &mut st, libc::WNOHANG) };
            if r == self.0 {
                self.0 = -1;
                return if libc::WIFEXITED(st) {
                    libc::WEXITSTATUS(st)
                } else {
                    -1
                };
            }
            assert!(t0.elapsed() < WATCHDOG, "child {} never exited", self.0);
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// SIGKILLs and reaps the child.
    fn kill(&mut self) {
        if self.0 > 0 {
            // SAFETY: kill/waitpid on our own, not yet reaped, child.
            unsafe {
                libc::kill(self.0, libc::SIGKILL);
                libc::waitpid(self.0, std::ptr::null_mut(), 0);
            }
            self.0 = -1;
        }
    }
}

impl Drop for Forked {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A forked child inherits its parent's handles (with the parent's endpoint words).
/// Its copy's drop must not close the parent's end: the receiver sees no disconnect,
/// the parent's sender still works and still holds the end.
#[test]
fn a_forked_childs_drop_does_not_release_the_parents_end() {
    let name = unique("fork-release");
    let pipe = Pipe::<u64>::create(&name, 16).unwrap();
    let mut rx = pipe.receiver().unwrap();
    let mut tx = pipe.sender().unwrap();
    let Some(mut child) = fork() else {
        in_child(move || drop(tx))
    };
    assert_eq!(child.wait(), 0);
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(50)),
        Err(RecvTimeoutError::Timeout),
        "the child's drop closed the parent's sender"
    );
    assert_eq!(
        pipe.sender().map(drop),
        Err(ClaimError::EndpointBusy {
            pid: std::process::id()
        })
    );
    tx.send(7).unwrap();
    assert_eq!(rx.recv_timeout(WATCHDOG), Ok(7));
    drop(tx);
    assert_eq!(
        rx.recv_timeout(WATCHDOG),
        Err(RecvTimeoutError::Disconnected)
    );
}

/// A process whose thread-group leader exited (`pthread_exit`, here the raw `exit`
/// syscall) while another thread runs shows state `Z` in `/proc/PID/stat`: it is alive
/// (the other thread holds a sender), so the receiver must not see `Disconnected`
/// until the whole process is killed.
#[test]
fn a_process_whose_leader_thread_exited_is_alive() {
    let name = unique("leader-exit");
    let pipe = Pipe::<u64>::create(&name, 16).unwrap();
    let mut rx = pipe.receiver().unwrap();
    let Some(mut child) = fork() else {
        in_child(|| {
            let mut tx = pipe.sender().unwrap();
            std::thread::spawn(move || {
                tx.send(1).unwrap();
                loop {
                    std::thread::sleep(Duration::from_secs(600));
                }
            });
            // SAFETY: ends only this (the leader) thread; the process lives on in the
            // thread above until the parent kills it.
            unsafe { libc::syscall(libc::SYS_exit, 0) };
        })
    };
    assert_eq!(rx.recv_timeout(WATCHDOG), Ok(1));
    let t0 = Instant::now();
    while proc_state(child.0 as u32) != Some(b'Z') {
        assert!(proc_state(child.0 as u32).is_some(), "child gone");
        assert!(t0.elapsed() < WATCHDOG, "leader never exited");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(
        rx.recv_timeout(LOOK),
        Err(RecvTimeoutError::Timeout),
        "the live child {} was judged dead",
        child.0
    );
    child.kill();
    assert_eq!(
        rx.recv_timeout(WATCHDOG),
        Err(RecvTimeoutError::Disconnected)
    );
}
