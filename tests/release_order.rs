//! A pipe end withdraws its fence request before it releases its endpoint word: once
//! the word says closed, a successor may claim the end and reset the eventcount it
//! sleeps on, and a withdrawal after that would subtract from the successor's state
//! (65,535 phantom requests: every notify fences; or the successor's own request
//! cancelled: its sleeps skip the membarrier and can miss a wake for a tick).

mod common;

use common::{peer, proc_state, role, unique};
use shmlane::pipe::Pipe;
use shmlane::wait::WaitMode;
use std::io::{Read, Seek, SeekFrom};
use std::time::{Duration, Instant};

const WATCHDOG: Duration = Duration::from_secs(60);
/// Offset of the `sleepers` word of ring 0's `readable` eventcount (the one the
/// receiver sleeps on): header 256, then `tail` and `head` lines of 128, then the
/// eventcount (`epoch: u32`, `sleepers: u32`). Fence requests are its bits 16..32.
const READABLE_SLEEPERS: u64 = 256 + 2 * 128 + 4;

/// Child-process entry point (ignored in normal runs; see `common::peer`).
#[test]
#[ignore]
fn peer_main() {
    let Some((role, args)) = role() else { return };
    assert_eq!(role, "sleep-then-drop");
    let pipe = Pipe::<u64>::open(&args[0]).unwrap();
    let mut rx = pipe.receiver().unwrap();
    // Sleep mode requests a full fence on its first sleep and keeps it.
    rx.set_wait_mode(WaitMode::Sleep);
    let _ = rx.recv_timeout(Duration::from_millis(100));
    // The fault point stops this process right after the release.
    drop(rx);
}

fn fence_requests(name: &str) -> u32 {
    let mut f = std::fs::File::open(format!("/dev/shm/shmlane.{name}")).unwrap();
    f.seek(SeekFrom::Start(READABLE_SLEEPERS)).unwrap();
    let mut b = [0u8; 4];
    f.read_exact(&mut b).unwrap();
    u32::from_ne_bytes(b) >> 16
}

#[test]
fn a_released_end_has_already_withdrawn_its_fence_request() {
    let name = unique("relorder");
    let pipe = Pipe::<u64>::create(&name, 8).unwrap();
    let mut cmd = peer("sleep-then-drop", std::slice::from_ref(&name));
    cmd.env("SHMLANE_FAULT", "stop:endpoint.released");
    let mut child = cmd.spawn().unwrap();
    let pid = child.id();
    // Guard: the child is continued and reaped whatever happens below.
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = std::process::Command::new("kill")
                .args(["-CONT", &self.0.id().to_string()])
                .status();
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let t0 = Instant::now();
    while proc_state(pid) != Some(b'T') {
        assert!(
            t0.elapsed() < WATCHDOG,
            "the child never stopped at endpoint.released"
        );
        if let Ok(Some(status)) = child.try_wait() {
            panic!("child exited before its fault point: {status}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _reap = Reap(child);
    // Stopped right after its release: its fence request must be gone already.
    assert_eq!(
        fence_requests(&name),
        0,
        "a released end still holds its fence request: a successor's reset would be undone"
    );
    // A successor claims the end (the word says closed) and resets the eventcount.
    let rx = pipe.receiver().unwrap();
    assert_eq!(fence_requests(&name), 0);
    drop(rx);
}
