//! With both sides awake, a stream of a million messages makes no futex calls at all:
//! a notifier only calls FUTEX_WAKE when the eventcount shows a sleeper.
//! (Own test binary: the futex counters are process-wide.)

use shmlane::WaitMode;
use shmlane::stats::{futex_calls, proc_liveness_reads};
use std::time::Duration;

#[test]
fn a_million_messages_between_awake_peers_make_no_futex_calls() {
    const N: u64 = 1_000_000;
    let (mut tx, mut rx) = shmlane::pipe::channel::<u64>(1024).unwrap();
    tx.set_wait_mode(WaitMode::Spin);
    rx.set_wait_mode(WaitMode::Spin);
    let before = futex_calls();
    let t = std::thread::spawn(move || {
        for v in 0..N {
            tx.send(v).unwrap();
        }
        tx // keep the sender attached until the count is taken
    });
    let mut sum = 0u64;
    for _ in 0..N {
        sum = sum.wrapping_add(rx.recv().unwrap());
    }
    let after = futex_calls();
    drop(t.join().unwrap());
    assert_eq!(sum, N * (N - 1) / 2);
    assert_eq!(after.waits - before.waits, 0);
    assert_eq!(after.wakes - before.wakes, 0);
}

/// A `Spin` wait checks its peer's liveness every 4,096 polls; with the peer watched
/// through a pidfd that is one load, not a `/proc` read (4 system calls).
#[test]
fn a_spinning_wait_on_a_watched_peer_reads_no_proc() {
    let (tx, mut rx) = shmlane::pipe::channel::<u64>(16).unwrap();
    rx.set_wait_mode(WaitMode::Spin);
    let before = proc_liveness_reads();
    // Millions of polls of an empty ring: hundreds of slow checks.
    assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
    assert_eq!(proc_liveness_reads() - before, 0);
    drop(tx);
}
