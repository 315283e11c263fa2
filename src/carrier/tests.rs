//! In-process tests of the buffer carriers (threads; the multi-process ones are in
//! `tests/pool_processes.rs`).

use super::{BufReceiver, BufSender};
use crate::error::{
    BufRecvError, BufRecvTimeoutError, SendTimeoutError, TryBufRecvError, TrySendError,
};
use crate::pipe::channel;
use crate::pool::{Buf, BufHandle, Class, Pool};
use std::time::Duration;

/// Long enough for any loaded machine; a wait that reaches it is a failure, not a hang.
const WATCHDOG: Duration = Duration::from_secs(60);

fn pool(size: usize, count: usize) -> Pool {
    Pool::anonymous(&[Class { size, count }]).unwrap()
}

fn pair(pool: &Pool, capacity: usize) -> (BufSender, BufReceiver) {
    let (tx, rx) = channel::<BufHandle>(capacity).unwrap();
    (BufSender::new(pool, tx), BufReceiver::new(pool, rx))
}

/// A frozen buffer of `len` bytes, each `fill`.
fn frozen(tx: &mut BufSender, len: usize, fill: u8) -> Buf {
    let mut buf = tx.alloc_timeout(len, WATCHDOG).unwrap();
    buf.fill(fill);
    buf.freeze()
}

fn free(pool: &Pool) -> usize {
    pool.stats().free.iter().sum()
}

#[test]
fn a_buffer_goes_round_in_place() {
    let pool = pool(4096, 2);
    let (mut tx, mut rx) = pair(&pool, 4);
    let buf = frozen(&mut tx, 3000, 0xa5);
    let handle = buf.handle();
    tx.send(buf).unwrap();
    let got = rx.recv().unwrap();
    assert_eq!(got.handle(), handle);
    assert_eq!(got.len(), 3000);
    assert!(got.iter().all(|&b| b == 0xa5));
    assert_eq!(rx.lost(), 0);
}

#[test]
fn many_buffers_reuse_a_pool_smaller_than_the_pipe() {
    // 3 chunks, 8 slots, 300 buffers: every chunk is reused ~100 times, so every
    // transit hold must come back; a sender that kept them would time out in `alloc`.
    const N: u32 = 300;
    let pool = pool(1024, 3);
    let (mut tx, mut rx) = pair(&pool, 8);
    let consumer = std::thread::spawn(move || {
        let mut next = 0u32;
        loop {
            match rx.recv_timeout(WATCHDOG) {
                Ok(buf) => {
                    let v: &[u32] = buf.as_slice_of().unwrap();
                    assert!(v.iter().all(|&x| x == next), "buffer {next} garbled");
                    next += 1;
                }
                Err(BufRecvTimeoutError::Disconnected) => return (next, rx.lost()),
                Err(e) => panic!("{e}"),
            }
        }
    });
    for i in 0..N {
        let mut buf = tx.alloc_timeout(1024, WATCHDOG).unwrap();
        buf.as_mut_slice_of::<u32>().unwrap().fill(i);
        tx.send_timeout(buf.freeze(), WATCHDOG).unwrap();
    }
    drop(tx);
    assert_eq!(consumer.join().unwrap(), (N, 0));
}

#[test]
fn many_buffers_through_a_pipe_smaller_than_the_pool() {
    const N: u32 = 300;
    let pool = pool(256, 6);
    let (mut tx, mut rx) = pair(&pool, 2);
    let consumer = std::thread::spawn(move || {
        let mut n = 0u32;
        while let Ok(buf) = rx.recv() {
            assert_eq!(buf[0] as u32, n % 251);
            n += 1;
        }
        n
    });
    for i in 0..N {
        let buf = frozen(&mut tx, 256, (i % 251) as u8);
        tx.send(buf).unwrap();
    }
    drop(tx);
    assert_eq!(consumer.join().unwrap(), N);
}

#[test]
fn the_senders_hold_is_released_once_received() {
    let pool = pool(512, 4);
    let (mut tx, mut rx) = pair(&pool, 8);
    for i in 0..4 {
        let buf = frozen(&mut tx, 100, i);
        tx.send(buf).unwrap();
    }
    assert_eq!(free(&pool), 0);
    assert_eq!(tx.in_flight(), 4);
    let got: Vec<Buf> = (0..4).map(|_| rx.recv().unwrap()).collect();
    // Taken but held by the receiver: the sender's holds go, the chunks stay held.
    assert_eq!(tx.release_received(), 0);
    assert_eq!(free(&pool), 0);
    drop(got);
    assert_eq!(free(&pool), 4);
}

#[test]
fn a_handle_not_yet_taken_keeps_its_hold() {
    let pool = pool(512, 2);
    let (mut tx, mut rx) = pair(&pool, 8);
    let buf = frozen(&mut tx, 100, 1);
    tx.send(buf).unwrap();
    assert_eq!(tx.release_received(), 1);
    assert_eq!(free(&pool), 1);
    let _ = rx.recv().unwrap(); // taken and dropped
    assert_eq!(tx.release_received(), 0);
    assert_eq!(free(&pool), 2);
}

#[test]
fn a_dropped_senders_buffers_in_flight_are_still_received() {
    let pool = pool(512, 3);
    let (mut tx, mut rx) = pair(&pool, 4);
    for i in 0..3 {
        let buf = frozen(&mut tx, 200, 10 + i);
        tx.send(buf).unwrap();
    }
    drop(tx);
    for i in 0..3 {
        let buf = rx.recv().unwrap();
        assert!(buf.iter().all(|&b| b == 10 + i));
    }
    assert_eq!(rx.recv().unwrap_err(), BufRecvError::Disconnected);
    assert_eq!(rx.try_recv().unwrap_err(), TryBufRecvError::Disconnected);
    assert_eq!(rx.lost(), 0);
    // Every buffer was taken and dropped: the parked holds come back on allocation.
    let all: Vec<_> = (0..3)
        .map(|_| pool.alloc_timeout(512, WATCHDOG).unwrap())
        .collect();
    assert_eq!(all.len(), 3);
}

#[test]
fn a_dropped_receiver_gives_a_live_senders_holds_back() {
    let pool = pool(512, 2);
    let (mut tx, rx) = pair(&pool, 8);
    for i in 0..2 {
        let buf = frozen(&mut tx, 64, i);
        tx.send(buf).unwrap();
    }
    drop(rx);
    // Both chunks are in transit to nobody: the next allocation gets them back.
    let a = tx.alloc_timeout(64, WATCHDOG).unwrap();
    let b = tx.alloc_timeout(64, WATCHDOG).unwrap();
    assert_ne!(a.index(), b.index());
    assert_eq!(tx.in_flight(), 0);
    let back = tx.send(a.freeze()).unwrap_err();
    assert!(matches!(
        back,
        crate::error::BlockingSendError::Disconnected(_)
    ));
}

#[test]
fn a_dropped_receiver_gives_a_dropped_senders_holds_back() {
    let pool = pool(512, 2);
    let (mut tx, rx) = pair(&pool, 8);
    for i in 0..2 {
        let buf = frozen(&mut tx, 64, i);
        tx.send(buf).unwrap();
    }
    drop(rx);
    drop(tx); // parked with the pool
    let a = pool.alloc_timeout(64, WATCHDOG).unwrap();
    let b = pool.alloc_timeout(64, WATCHDOG).unwrap();
    assert_ne!(a.index(), b.index());
}

#[test]
fn stale_and_forged_handles_are_skipped_and_counted() {
    let pool = pool(256, 2);
    let (mut raw, rx) = channel::<BufHandle>(8).unwrap();
    let mut rx = BufReceiver::new(&pool, rx);
    let mut w = pool.alloc(10).unwrap();
    w.fill(1);
    let stale = w.freeze().handle(); // dropped at once: freed
    let mut w = pool.alloc(20).unwrap();
    w.fill(2);
    let live = w.freeze();
    let forged = BufHandle {
        index: u32::MAX,
        ..live.handle()
    };
    raw.send(stale).unwrap();
    raw.send(forged).unwrap();
    raw.send(live.handle()).unwrap();
    let got = rx.recv().unwrap();
    assert_eq!(got.handle(), live.handle());
    assert_eq!(&got[..], &[2; 20]);
    assert_eq!(rx.lost(), 2);
    assert_eq!(rx.try_recv().unwrap_err(), TryBufRecvError::Empty);
}

#[test]
fn a_foreign_handle_is_an_error_and_taken() {
    let (ours, theirs) = (pool(256, 1), pool(256, 1));
    let (mut raw, rx) = channel::<BufHandle>(8).unwrap();
    let mut rx = BufReceiver::new(&ours, rx);
    let foreign = theirs.alloc(8).unwrap().freeze();
    let own = ours.alloc(8).unwrap().freeze();
    raw.send(foreign.handle()).unwrap();
    raw.send(own.handle()).unwrap();
    assert_eq!(
        rx.recv().unwrap_err(),
        BufRecvError::Foreign {
            expected: ours.id(),
            found: theirs.id()
        }
    );
    assert_eq!(rx.recv().unwrap().handle(), own.handle());
    assert_eq!(rx.lost(), 0);
}

#[test]
fn full_and_timeouts_give_the_buffer_back() {
    let pool = pool(256, 3);
    let (mut tx, mut rx) = pair(&pool, 1);
    assert_eq!(rx.try_recv().unwrap_err(), TryBufRecvError::Empty);
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(1)).unwrap_err(),
        BufRecvTimeoutError::Timeout
    );
    let first = frozen(&mut tx, 8, 1);
    tx.try_send(first).unwrap();
    let second = frozen(&mut tx, 8, 2);
    let h = second.handle();
    let TrySendError::Full(second) = tx.try_send(second).unwrap_err() else {
        panic!("not full")
    };
    assert_eq!(second.handle(), h);
    let SendTimeoutError::Timeout(second) = tx
        .send_timeout(second, Duration::from_millis(1))
        .unwrap_err()
    else {
        panic!("no timeout")
    };
    assert_eq!(second.handle(), h);
    assert_eq!(tx.in_flight(), 1);
    assert_eq!(rx.recv().unwrap()[0], 1);
    tx.try_send(second).unwrap();
    assert_eq!(rx.recv().unwrap()[0], 2);
}

#[test]
fn a_blocked_recv_is_woken_by_a_send() {
    let pool = pool(256, 2);
    let (mut tx, mut rx) = pair(&pool, 4);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let receiver = std::thread::spawn(move || {
        ready_tx.send(()).unwrap();
        rx.recv_timeout(WATCHDOG).map(|b| b[0])
    });
    ready_rx.recv().unwrap();
    let buf = frozen(&mut tx, 8, 9);
    tx.send(buf).unwrap();
    assert_eq!(receiver.join().unwrap(), Ok(9));
}
