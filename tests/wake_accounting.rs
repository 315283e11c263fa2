//! Wake accounting across a takeover: a pipe end killed in its sleep leaves its
//! announcement (and fence request) in the eventcount it slept on; the process that
//! takes the end over must not pay a `FUTEX_WAKE` per message for it.
//! (Own test binary, one test: the futex counters are process-wide.)

mod common;

use common::{peer, role, unique};
use shmlane::pipe::Pipe;
use shmlane::stats::futex_calls;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

const WATCHDOG: Duration = Duration::from_secs(60);
const CAPACITY: usize = 64;
const MESSAGES: u64 = 1_000;

/// Child-process entry point (ignored in normal runs; see `common::peer`).
#[test]
#[ignore]
fn peer_main() {
    let Some((role, args)) = role() else { return };
    let pipe = Pipe::<u64>::open(&args[0]).unwrap();
    match role.as_str() {
        // Claims the receiver and waits for a message that never comes; the fault
        // point kills it once it has announced its sleep.
        "sleep-in-recv" => {
            let mut rx = pipe.receiver().unwrap();
            let _ = rx.recv();
        }
        // Claims the sender and fills the ring; the next send sleeps and is killed.
        "sleep-in-send" => {
            let mut tx = pipe.sender().unwrap();
            for v in 0.. {
                let _ = tx.send(v);
            }
        }
        _ => panic!("unknown role {role}"),
    }
    panic!("the fault point should have killed this process");
}

/// Runs `role` in a child that SIGKILLs itself at the point where a waiter has announced
/// its sleep (`sleepers += 1`, fence request held) and is about to call `FUTEX_WAIT`.
fn kill_asleep(role: &str, name: &str) {
    let mut cmd = peer(role, &[name.to_owned()]);
    cmd.env("SHMLANE_FAULT", "kill:wait.before_sleep");
    let status = cmd.spawn().unwrap().wait().unwrap();
    assert_eq!(status.signal(), Some(9), "{role}: killed asleep, {status}");
}

/// The surviving end makes no call before the takeover, so it never watches the killed
/// child: no death-watcher callback (whose retire notifies) can run during a count.
#[test]
fn an_end_taken_over_from_a_killed_sleeper_pays_no_wakes() {
    // The receiver killed asleep on an empty ring; its successor receives awake.
    let name = unique("wake-rx");
    let pipe = Pipe::<u64>::create(&name, CAPACITY).unwrap();
    let mut tx = pipe.sender().unwrap();
    kill_asleep("sleep-in-recv", &name);
    let mut rx = pipe.receiver().unwrap(); // takes over the dead receiver's end
    let before = futex_calls();
    for v in 0..MESSAGES {
        tx.send_timeout(v, WATCHDOG).unwrap();
        assert_eq!(rx.recv_timeout(WATCHDOG), Ok(v));
    }
    let after = futex_calls();
    assert_eq!(
        after.wakes - before.wakes,
        0,
        "sends woke the dead receiver's sleep"
    );
    drop((tx, rx));

    // The sender killed asleep on a full ring; its successor sends, the receiver
    // (awake) drains.
    let name = unique("wake-tx");
    let pipe = Pipe::<u64>::create(&name, CAPACITY).unwrap();
    let mut rx = pipe.receiver().unwrap();
    kill_asleep("sleep-in-send", &name);
    let mut tx = pipe.sender().unwrap(); // takes over the dead sender's end
    for v in 0..CAPACITY as u64 {
        assert_eq!(rx.recv_timeout(WATCHDOG), Ok(v));
    }
    let before = futex_calls();
    for v in 0..MESSAGES {
        tx.send_timeout(v, WATCHDOG).unwrap();
        assert_eq!(rx.recv_timeout(WATCHDOG), Ok(v));
    }
    let after = futex_calls();
    assert_eq!(
        after.wakes - before.wakes,
        0,
        "receives woke the dead sender's sleep"
    );
}
