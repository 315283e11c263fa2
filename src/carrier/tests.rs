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

/// Which pool handle the receiver uses.
#[derive(Clone, Copy, Debug)]
enum Members {
    /// The sender's (a clone: one member entry, holds counted per process).
    One,
    /// A second handle opened from the descriptor: its own member entry, as another
    /// process would have, so every join and release is a CAS on the chunk word.
    Two,
}

fn pair(pool: &Pool, capacity: usize) -> (BufSender, BufReceiver) {
    pair_in(pool, capacity, Members::One)
}

fn pair_in(pool: &Pool, capacity: usize, members: Members) -> (BufSender, BufReceiver) {
    use std::os::fd::AsFd;
    let (tx, rx) = channel::<BufHandle>(capacity).unwrap();
    let theirs = match members {
        Members::One => pool.clone(),
        Members::Two => Pool::from_fd(pool.as_fd().try_clone_to_owned().unwrap()).unwrap(),
    };
    (BufSender::new(pool, tx), BufReceiver::new(&theirs, rx))
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
    a_buffer_goes_round_in_place_with(Members::One);
    a_buffer_goes_round_in_place_with(Members::Two);
}

fn a_buffer_goes_round_in_place_with(members: Members) {
    let pool = pool(4096, 2);
    let (mut tx, mut rx) = pair_in(&pool, 4, members);
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
    many_buffers_reuse_a_pool_smaller_than_the_pipe_with(Members::One);
    many_buffers_reuse_a_pool_smaller_than_the_pipe_with(Members::Two);
}

fn many_buffers_reuse_a_pool_smaller_than_the_pipe_with(members: Members) {
    // 3 chunks, 8 slots, 300 buffers: every chunk is reused ~100 times, so every
    // transit hold must come back; a sender that kept them would time out in `alloc`.
    const N: u32 = 300;
    let pool = pool(1024, 3);
    let (mut tx, mut rx) = pair_in(&pool, 8, members);
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
    many_buffers_through_a_pipe_smaller_than_the_pool_with(Members::One);
    many_buffers_through_a_pipe_smaller_than_the_pool_with(Members::Two);
}

fn many_buffers_through_a_pipe_smaller_than_the_pool_with(members: Members) {
    const N: u32 = 300;
    let pool = pool(256, 6);
    let (mut tx, mut rx) = pair_in(&pool, 2, members);
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
    the_senders_hold_is_released_once_received_with(Members::One);
    the_senders_hold_is_released_once_received_with(Members::Two);
}

fn the_senders_hold_is_released_once_received_with(members: Members) {
    let pool = pool(512, 4);
    let (mut tx, mut rx) = pair_in(&pool, 8, members);
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
    a_handle_not_yet_taken_keeps_its_hold_with(Members::One);
    a_handle_not_yet_taken_keeps_its_hold_with(Members::Two);
}

fn a_handle_not_yet_taken_keeps_its_hold_with(members: Members) {
    let pool = pool(512, 2);
    let (mut tx, mut rx) = pair_in(&pool, 8, members);
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
    a_dropped_senders_buffers_in_flight_are_still_received_with(Members::One);
    a_dropped_senders_buffers_in_flight_are_still_received_with(Members::Two);
}

fn a_dropped_senders_buffers_in_flight_are_still_received_with(members: Members) {
    let pool = pool(512, 3);
    let (mut tx, mut rx) = pair_in(&pool, 4, members);
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
    a_dropped_receiver_gives_a_live_senders_holds_back_with(Members::One);
    a_dropped_receiver_gives_a_live_senders_holds_back_with(Members::Two);
}

fn a_dropped_receiver_gives_a_live_senders_holds_back_with(members: Members) {
    let pool = pool(512, 2);
    let (mut tx, rx) = pair_in(&pool, 8, members);
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
    a_dropped_receiver_gives_a_dropped_senders_holds_back_with(Members::One);
    a_dropped_receiver_gives_a_dropped_senders_holds_back_with(Members::Two);
}

fn a_dropped_receiver_gives_a_dropped_senders_holds_back_with(members: Members) {
    let pool = pool(512, 2);
    let (mut tx, rx) = pair_in(&pool, 8, members);
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

/// The common loop `pool.alloc` → fill → `tx.send`, with a pool smaller than the pipe:
/// the class is soon held only by this sender's transit holds of buffers the receiver
/// has already taken, which only this process can release. Before the pool knew of
/// them, `pool.alloc` waited for a free that could never come (a hang).
#[test]
fn pool_alloc_is_not_starved_by_the_senders_own_taken_holds() {
    pool_alloc_is_not_starved_by_the_senders_own_taken_holds_with(Members::One);
    pool_alloc_is_not_starved_by_the_senders_own_taken_holds_with(Members::Two);
}

fn pool_alloc_is_not_starved_by_the_senders_own_taken_holds_with(members: Members) {
    const N: usize = 200;
    let pool = pool(1024, 2);
    let (mut tx, mut rx) = pair_in(&pool, 8, members);
    let receiver = std::thread::spawn(move || {
        let mut seen = 0;
        loop {
            match rx.recv_timeout(WATCHDOG) {
                Ok(buf) => {
                    assert!(buf.iter().all(|&b| b == 1), "buffer garbled");
                    seen += 1;
                }
                Err(BufRecvTimeoutError::Disconnected) => return (seen, rx.lost()),
                Err(e) => panic!("{e}"),
            }
        }
    });
    for i in 0..N {
        let mut b = pool
            .alloc_timeout(1000, WATCHDOG)
            .unwrap_or_else(|e| panic!("{members:?}: alloc {i} starved: {e}"));
        b.fill(1);
        tx.send_timeout(b.freeze(), WATCHDOG).unwrap();
    }
    drop(tx);
    assert_eq!(receiver.join().unwrap(), (N, 0));
    assert_eq!(free(&pool), 2);
}

/// A blocked `pool.alloc` whose class is exhausted by this sender's transit holds is
/// woken by the receiver's take (the receiver notifies the chunk's class), not by the
/// wait's tick. The test hook makes the waiter drop no transit holds until its
/// class's eventcount epoch has moved (a notify that woke a sleeper) or a take's
/// notify moved none, so without the take's notify this allocation times out (it does,
/// with the call removed from `BufReceiver::take`). What it cannot catch: a notify on
/// the wrong eventcount or one that wakes nobody (the hook then lets go, since a take
/// between two of the waiter's sleeps wakes nobody either and must not fail the test),
/// and a lost futex wake (`wait`'s own tests cover that).
#[test]
fn a_blocked_pool_alloc_is_woken_by_the_receivers_take() {
    let pool = pool(1024, 1);
    let (mut tx, mut rx) = pair_in(&pool, 4, Members::Two);
    let unseen = std::sync::Arc::default();
    pool.drain_transit_only_when_notified(&unseen);
    rx.pool().drain_transit_only_when_notified(&unseen);
    let mut b = pool.alloc_timeout(8, WATCHDOG).unwrap();
    b.fill(3);
    tx.send_timeout(b.freeze(), WATCHDOG).unwrap();
    let allocator = std::thread::spawn({
        let pool = pool.clone();
        // `tx` stays alive (and registered) in the allocating thread.
        move || {
            let got = pool.alloc_timeout(8, WATCHDOG).map(|b| b.len());
            (got, tx)
        }
    });
    while pool.class_sleepers(0) == 0 {
        std::thread::yield_now();
    }
    let got = rx.recv_timeout(WATCHDOG).unwrap();
    assert_eq!(got[..], [3; 8]);
    drop(got);
    let (alloc, _tx) = allocator.join().unwrap();
    assert_eq!(alloc, Ok(8), "the take did not wake the blocked allocation");
}

mod queue {
    use super::{WATCHDOG, free, pool};
    use crate::carrier::BufQueue;
    use crate::error::{BufGetError, BufGetTimeoutError, TryBufGetError};
    use crate::pool::{BufHandle, Pool};
    use crate::queue::Queue;
    use std::os::fd::AsFd;

    /// Two handles on one queue of `capacity`; the second on its own pool member.
    fn two(pool: &Pool, capacity: usize) -> (BufQueue, BufQueue) {
        let q = Queue::<BufHandle>::anonymous(capacity).unwrap();
        let other = Pool::from_fd(pool.as_fd().try_clone_to_owned().unwrap()).unwrap();
        let b = BufQueue::new(&other, q.try_clone().unwrap());
        (BufQueue::new(pool, q), b)
    }

    #[test]
    fn a_buffer_goes_round_between_handles() {
        let pool = pool(1024, 2);
        let (mut a, mut b) = two(&pool, 4);
        let mut w = a.alloc_timeout(700, WATCHDOG).unwrap();
        w.fill(0x5a);
        let buf = w.freeze();
        let h = buf.handle();
        a.put(buf).unwrap();
        let got = b.get().unwrap();
        assert_eq!(got.handle(), h);
        assert!(got.iter().all(|&x| x == 0x5a));
        assert_eq!(b.try_get().unwrap_err(), TryBufGetError::Empty);
        assert_eq!(
            b.get_timeout(std::time::Duration::from_millis(1))
                .unwrap_err(),
            BufGetTimeoutError::Timeout
        );
    }

    #[test]
    fn many_buffers_through_two_getters_reuse_a_small_pool() {
        const N: u32 = 300;
        let pool = pool(256, 3);
        let (mut put, first) = two(&pool, 8);
        let second = BufQueue::new(first.pool(), first.queue().try_clone().unwrap());
        let getters: Vec<_> = [first, second]
            .into_iter()
            .map(|mut q| {
                std::thread::spawn(move || {
                    let mut seen = Vec::new();
                    loop {
                        match q.get_timeout(WATCHDOG) {
                            Ok(buf) => {
                                let v: &[u32] = buf.as_slice_of().unwrap();
                                assert!(v.iter().all(|&x| x == v[0]), "buffer garbled");
                                seen.push(v[0]);
                            }
                            Err(BufGetTimeoutError::Closed) => return (seen, q.lost()),
                            Err(e) => panic!("{e}"),
                        }
                    }
                })
            })
            .collect();
        for i in 0..N {
            let mut w = put.alloc_timeout(256, WATCHDOG).unwrap();
            w.as_mut_slice_of::<u32>().unwrap().fill(i);
            put.put_timeout(w.freeze(), WATCHDOG).unwrap();
        }
        put.queue().close().unwrap();
        let mut all = Vec::new();
        for g in getters {
            let (seen, lost) = g.join().unwrap();
            assert_eq!(lost, 0);
            all.extend(seen);
        }
        all.sort_unstable();
        assert_eq!(all, (0..N).collect::<Vec<_>>());
        assert_eq!(put.release_received(), 0);
        assert_eq!(free(&pool), 3);
    }

    /// As `pool_alloc_is_not_starved_by_the_senders_own_taken_holds`, for a queue.
    #[test]
    fn pool_alloc_is_not_starved_by_the_putters_own_taken_holds() {
        const N: usize = 200;
        let pool = pool(1024, 2);
        let (mut put, mut get) = two(&pool, 8);
        let getter = std::thread::spawn(move || {
            let mut seen = 0;
            loop {
                match get.get_timeout(WATCHDOG) {
                    Ok(buf) => {
                        assert!(buf.iter().all(|&b| b == 1), "buffer garbled");
                        seen += 1;
                    }
                    Err(BufGetTimeoutError::Closed) => return (seen, get.lost()),
                    Err(e) => panic!("{e}"),
                }
            }
        });
        for i in 0..N {
            let mut w = pool
                .alloc_timeout(1000, WATCHDOG)
                .unwrap_or_else(|e| panic!("alloc {i} starved: {e}"));
            w.fill(1);
            put.put_timeout(w.freeze(), WATCHDOG).unwrap();
        }
        put.queue().close().unwrap();
        assert_eq!(getter.join().unwrap(), (N, 0));
        assert_eq!(put.release_received(), 0);
        assert_eq!(free(&pool), 2);
    }

    #[test]
    fn the_putters_hold_lasts_until_taken() {
        let pool = pool(256, 2);
        let (mut a, mut b) = two(&pool, 4);
        let w = a.alloc(8).unwrap();
        a.put(w.freeze()).unwrap();
        assert_eq!((a.release_received(), free(&pool)), (1, 1));
        let got = b.get().unwrap();
        assert_eq!((a.release_received(), free(&pool)), (0, 1));
        drop(got); // the last holder
        assert_eq!(free(&pool), 2);
    }

    #[test]
    fn a_dropped_putters_buffers_are_still_got() {
        let pool = pool(256, 2);
        let (mut a, mut b) = two(&pool, 4);
        for i in 0..2 {
            let mut w = a.alloc(8).unwrap();
            w.fill(i);
            a.put(w.freeze()).unwrap();
        }
        a.queue().close().unwrap();
        drop(a); // parked with the pool
        for i in 0..2 {
            assert_eq!(b.get().unwrap()[..], [i; 8]);
        }
        assert_eq!(b.get().unwrap_err(), BufGetError::Closed);
        assert_eq!(b.lost(), 0);
        // Taken and dropped: the parked holds come back on allocation.
        let x = pool.alloc_timeout(8, WATCHDOG).unwrap();
        let y = pool.alloc_timeout(8, WATCHDOG).unwrap();
        assert_ne!(x.index(), y.index());
    }

    #[test]
    fn stale_forged_and_foreign_handles() {
        let (ours, theirs) = (pool(256, 2), pool(256, 1));
        let mut raw = Queue::<BufHandle>::anonymous(8).unwrap();
        let mut q = BufQueue::new(&ours, raw.try_clone().unwrap());
        let stale = ours.alloc(1).unwrap().freeze().handle();
        let live = ours.alloc(2).unwrap().freeze();
        let foreign = theirs.alloc(3).unwrap().freeze();
        let forged = BufHandle {
            generation: live.handle().generation.wrapping_add(7),
            ..live.handle()
        };
        raw.put(stale).unwrap();
        raw.put(forged).unwrap();
        raw.put(foreign.handle()).unwrap();
        raw.put(live.handle()).unwrap();
        assert_eq!(
            q.get().unwrap_err(),
            BufGetError::Foreign {
                expected: ours.id(),
                found: theirs.id()
            }
        );
        assert_eq!(q.lost(), 2);
        assert_eq!(q.get().unwrap().handle(), live.handle());
        assert_eq!(q.lost(), 2);
    }
}
