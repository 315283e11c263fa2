//! A queue whose shared words were overwritten (by a hostile or buggy peer): every
//! call reports `Corrupted`, and calls without a timeout never wait on state that
//! contradicts what this process knows. Each blocking call runs under a watchdog, so a
//! hang is a failure, not a stuck test run.

mod common;

use common::{WATCHDOG, poke, unique, watchdog};
use shmlane::error::{
    GetError, GetTimeoutError, PutError, PutSliceError, TryGetError, TryPutError,
};
use shmlane::layout::{HEADER_LEN, LINE, QUEUE_CONTROL_LEN};
use shmlane::queue::Queue;
use std::sync::mpsc;
use std::time::Duration;

const TAIL_AT: u64 = HEADER_LEN;
const HEAD_AT: u64 = HEADER_LEN + LINE;
/// The endpoint word of member entry `i` (after tail, head, two epochs, the state).
fn member_at(i: u64) -> u64 {
    HEADER_LEN + (5 + i) * LINE
}
/// The stamp of slot `i` of a queue of `u64` (16-byte slots).
fn stamp_at(i: u64) -> u64 {
    HEADER_LEN + QUEUE_CONTROL_LEN + 16 * i
}

fn queue(tag: &str) -> (String, Queue<u64>) {
    let name = unique(tag);
    let q = Queue::<u64>::create(&name, 8).unwrap();
    (name, q)
}

/// `head` ahead of `tail`: every call that reads positions reports `Corrupted`,
/// blocking `get` (also after `close`) included.
#[test]
fn head_ahead_of_tail_is_reported_by_every_call() {
    let (name, mut q) = queue("qc-head");
    q.put(1).unwrap();
    q.put(2).unwrap();
    assert_eq!(q.get(), Ok(1));
    poke(&name, HEAD_AT, 5); // tail is 2
    assert!(matches!(q.try_get(), Err(TryGetError::Corrupted(_))));
    assert!(matches!(
        q.get_timeout(Duration::from_millis(1)),
        Err(GetTimeoutError::Corrupted(_))
    ));
    assert!(q.len().is_err() && q.is_empty().is_err() && q.is_full().is_err());
    assert!(q.recover().is_err());
    let mut out = [0; 4];
    assert!(matches!(q.get_into(&mut out), Err(GetError::Corrupted(_))));
    assert!(q.close().is_err());
    assert!(q.is_closed());
    let r = watchdog("get after close", move || q.get());
    assert!(matches!(r, Err(GetError::Corrupted(_))), "{r:?}");
}

/// `tail` 2^40 ahead of `head`: the same, for puts and gets.
#[test]
fn tail_far_ahead_is_reported_by_every_call() {
    let (name, mut q) = queue("qc-tail");
    q.put(1).unwrap();
    poke(&name, TAIL_AT, 1 << 40);
    assert!(matches!(q.try_put(2), Err(TryPutError::Corrupted(2, _))));
    assert!(matches!(
        q.put_slice(&[3, 4]),
        Err(PutSliceError::Corrupted { put: 0, .. })
    ));
    assert_eq!(q.try_get(), Ok(1));
    assert!(matches!(q.try_get(), Err(TryGetError::Corrupted(_))));
    assert!(q.len().is_err() && q.is_empty().is_err());
    assert!(q.recover().is_err());
    assert!(q.close().is_err());
    let r = watchdog("get after close", move || q.get());
    assert!(matches!(r, Err(GetError::Corrupted(_))), "{r:?}");
}

/// `tail` one past `head` (in range) with no member holding that claim: the slot can
/// never be published, so a `get` without a timeout reports `Corrupted` instead of
/// waiting for good, whether or not the queue is closed.
#[test]
fn get_on_a_claim_no_member_holds_is_corrupted() {
    let (name, mut q) = queue("qc-claim");
    poke(&name, TAIL_AT, 1);
    assert_eq!(q.len(), Ok(1));
    assert_eq!(q.try_get(), Err(TryGetError::Empty));
    let r = watchdog("get", move || {
        let r = q.get();
        q.close().unwrap();
        (r, q.get())
    });
    assert!(matches!(r.0, Err(GetError::Corrupted(_))), "{r:?}");
    assert!(matches!(r.1, Err(GetError::Corrupted(_))), "{r:?}");
}

/// A full queue whose oldest position a get claimed that no member holds: the slot is
/// never freed, so `put` without a timeout reports `Corrupted`.
#[test]
fn put_behind_a_get_no_member_holds_is_corrupted() {
    let (name, mut q) = queue("qc-get");
    for v in 0..8 {
        q.put(v).unwrap();
    }
    poke(&name, HEAD_AT, 1); // position 0 "claimed", its stamp still full
    assert!(matches!(q.try_put(9), Err(TryPutError::Full(9))));
    let r = watchdog("put", move || q.put(9));
    assert!(matches!(r, Err(PutError::Corrupted(9, _))), "{r:?}");
}

/// A stamp that can never become ready while the positions say a message is there.
#[test]
fn a_stamp_that_never_becomes_ready_is_corrupted() {
    let (name, mut q) = queue("qc-stamp");
    q.put(1).unwrap();
    poke(&name, stamp_at(0), 0); // "free": as if the put were still in flight
    let r = watchdog("get", move || q.get());
    assert!(matches!(r, Err(GetError::Corrupted(_))), "{r:?}");
}

/// Our own member entry overwritten (made free, or naming another process) while we
/// wait: the wait reports `Corrupted` instead of going on under an identity that is
/// no longer ours.
#[test]
fn own_entry_overwritten_while_waiting_is_corrupted() {
    for word in [0, 1 << 32 | 1] {
        let (name, mut q) = queue("qc-entry");
        let (tx, rx) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            tx.send(()).unwrap();
            q.get()
        });
        rx.recv().unwrap();
        poke(&name, member_at(0), word);
        let (done_tx, done_rx) = mpsc::channel();
        std::thread::spawn(move || done_tx.send(waiter.join().unwrap()).unwrap());
        let r = done_rx
            .recv_timeout(WATCHDOG)
            .expect("get blocked past the watchdog");
        assert!(matches!(r, Err(GetError::Corrupted(_))), "{word:#x}: {r:?}");
    }
}
