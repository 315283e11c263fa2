use super::*;
use crate::error::{PopError, PushError};
use proptest::prelude::*;
use std::collections::VecDeque;

const COUNT: u64 = if cfg!(miri) { 300 } else { 200_000 };

#[test]
fn capacity_one_and_wraparound() {
    let (mut tx, mut rx) = heap::<u64>(1).unwrap();
    for i in 0..50 {
        tx.push(i).unwrap();
        assert!(matches!(tx.push(99), Err(PushError::Full(99))));
        assert_eq!(rx.pop(), Ok(i));
        assert_eq!(rx.pop(), Err(PopError::Empty));
    }
}

#[test]
fn rejects_bad_capacity() {
    for cap in [0usize, 3, 6, 1000] {
        assert!(
            matches!(heap::<u8>(cap), Err(CreateError::InvalidCapacity { capacity: c, .. }) if c == cap as u64)
        );
    }
}

#[test]
fn bulk_wraps_and_preserves_order() {
    let (mut tx, mut rx) = heap::<u32>(8).unwrap();
    let mut next = 0u32;
    let mut expect = 0u32;
    let mut buf = [0u32; 5];
    for _ in 0..100 {
        let src: Vec<u32> = (next..next + 5).collect();
        let n = tx.push_slice(&src).unwrap();
        next += n as u32;
        let m = rx.pop_into(&mut buf[..3]).unwrap();
        for v in &buf[..m] {
            assert_eq!(*v, expect);
            expect += 1;
        }
    }
    while let Ok(v) = rx.pop() {
        assert_eq!(v, expect);
        expect += 1;
    }
    assert_eq!(expect, next);
}

#[test]
fn chunks_in_place_across_the_wrap() {
    let (mut tx, mut rx) = heap::<u16>(4).unwrap();
    tx.push_slice(&[0, 0, 0]).unwrap();
    rx.pop_into(&mut [0; 3]).unwrap();
    // tail = 3: a chunk of 3 wraps (1 slot at the end, 2 at the start)
    let mut c = tx.write_chunk(3).unwrap();
    let (a, b) = c.as_mut_slices();
    assert_eq!((a.len(), b.len()), (1, 2));
    a[0] = 1;
    b.copy_from_slice(&[2, 3]);
    c.commit(2); // only 2 published
    assert!(matches!(tx.write_chunk(3), Err(ChunkError::TooFewSlots(2))));
    let r = rx.read_chunk(10).unwrap();
    assert_eq!(r.as_slices(), (&[1u16][..], &[2u16][..]));
    r.commit_all();
    assert_eq!(rx.pop(), Err(PopError::Empty));
    let _ = tx.write_chunk(1).unwrap(); // dropped uncommitted: nothing published
    assert_eq!(rx.pop(), Err(PopError::Empty));
}

#[test]
fn corrupted_positions_are_reported_not_followed() {
    let (mut tx, mut rx) = heap::<u64>(4).unwrap();
    tx.push(1).unwrap();
    // a hostile peer writes garbage into both positions
    tx.control().tail.store(u64::MAX - 3, Ordering::Relaxed);
    let err = rx.pop().unwrap_err();
    assert!(matches!(err, PopError::Corrupted(Corrupted { tail, .. }) if tail == u64::MAX - 3));
    rx.control().head.store(1 << 50, Ordering::Relaxed);
    tx.push_slice(&[0; 4]).unwrap_err();
    assert!(tx.slots().is_err()); // any refresh sees it
    tx.push_slice(&[7; 3]).unwrap(); // cached view still has room: stays in bounds
    assert!(matches!(tx.push(5), Err(PushError::Corrupted(5, _))));
}

#[test]
fn drop_marks_abandoned() {
    let (tx, rx) = heap::<u8>(2).unwrap();
    assert!(!tx.is_abandoned());
    drop(rx);
    assert!(tx.is_abandoned());
}

#[test]
#[cfg_attr(miri, ignore)] // threads × many iterations: too slow under Miri
fn two_threads_exactly_once_in_order() {
    let (mut tx, mut rx) = heap::<u64>(64).unwrap();
    let t = std::thread::spawn(move || {
        let mut i = 0;
        while i < COUNT {
            if tx.push(i).is_ok() {
                i += 1;
            }
        }
    });
    let mut expect = 0;
    while expect < COUNT {
        if let Ok(v) = rx.pop() {
            assert_eq!(v, expect);
            expect += 1;
        }
    }
    t.join().unwrap();
}

#[test]
fn two_threads_small_under_miri() {
    let (mut tx, mut rx) = heap::<u64>(4).unwrap();
    let t = std::thread::spawn(move || {
        let mut i = 0;
        while i < 200 {
            i += tx
                .push_slice(&[i, i + 1][..(200 - i).min(2) as usize])
                .unwrap() as u64;
            std::thread::yield_now();
        }
    });
    let mut expect = 0;
    let mut buf = [0u64; 3];
    while expect < 200 {
        let n = rx.pop_into(&mut buf).unwrap();
        for v in &buf[..n] {
            assert_eq!(*v, expect);
            expect += 1;
        }
        std::thread::yield_now();
    }
    t.join().unwrap();
}

#[derive(Debug, Clone)]
enum Op {
    Push(u32),
    Pop,
    PushSlice(Vec<u32>),
    PopInto(usize),
    WriteChunk(usize, usize),
    ReadChunk(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<u32>().prop_map(Op::Push),
        Just(Op::Pop),
        proptest::collection::vec(any::<u32>(), 0..12).prop_map(Op::PushSlice),
        (0usize..12).prop_map(Op::PopInto),
        (0usize..12, 0usize..12).prop_map(|(a, b)| Op::WriteChunk(a, b)),
        (0usize..12, 0usize..12).prop_map(|(a, b)| Op::ReadChunk(a, b)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 256 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]
    #[test]
    fn matches_vecdeque_model(cap_log in 0u32..4, ops in proptest::collection::vec(op(), 0..60)) {
        let cap = 1usize << cap_log;
        let (mut tx, mut rx) = heap::<u32>(cap).unwrap();
        let mut model = VecDeque::new();
        let mut stamp = 0u32;
        for op in ops {
            match op {
                Op::Push(v) => {
                    let r = tx.push(v);
                    if model.len() < cap { prop_assert!(r.is_ok()); model.push_back(v); }
                    else { prop_assert!(matches!(r, Err(PushError::Full(x)) if x == v)); }
                }
                Op::Pop => prop_assert_eq!(rx.pop().ok(), model.pop_front()),
                Op::PushSlice(v) => {
                    let n = tx.push_slice(&v).unwrap();
                    prop_assert_eq!(n, v.len().min(cap - model.len()));
                    model.extend(&v[..n]);
                }
                Op::PopInto(k) => {
                    let mut buf = vec![0; k];
                    let n = rx.pop_into(&mut buf).unwrap();
                    prop_assert_eq!(n, k.min(model.len()));
                    for x in &buf[..n] { prop_assert_eq!(Some(*x), model.pop_front()); }
                }
                Op::WriteChunk(want, commit) => match tx.write_chunk(want) {
                    Ok(mut c) => {
                        prop_assert!(want <= cap - model.len());
                        let (a, b) = c.as_mut_slices();
                        for x in a.iter_mut().chain(b.iter_mut()) { *x = stamp; stamp += 1; }
                        let base = stamp - want as u32;
                        c.commit(commit);
                        model.extend(base..base + commit.min(want) as u32);
                    }
                    Err(ChunkError::TooFewSlots(free)) => {
                        prop_assert!(want > cap - model.len());
                        prop_assert_eq!(free, cap - model.len());
                    }
                    Err(e) => prop_assert!(false, "{e}"),
                },
                Op::ReadChunk(max, commit) => {
                    let c = rx.read_chunk(max).unwrap();
                    let (a, b) = c.as_slices();
                    let got: Vec<u32> = a.iter().chain(b).copied().collect();
                    let want: Vec<u32> = model.iter().take(max).copied().collect();
                    prop_assert_eq!(&got, &want);
                    c.commit(commit);
                    model.drain(..commit.min(got.len()));
                }
            }
            prop_assert_eq!(tx.slots().unwrap(), cap - model.len());
            prop_assert_eq!(rx.available().unwrap(), model.len());
        }
    }
}

/// Issue 12 item 1: a producer (re)attached over garbage positions left while no
/// producer was attached must report `Corrupted` from its first use, never compute free
/// space from them (dev: subtract-with-overflow panic; release: `push_slice` wrote
/// outside the ring).
#[test]
fn reattach_over_garbage_positions_reports_corrupted() {
    let me = Identity {
        pid: std::process::id(),
        start: 0,
    };
    // (tail, head): head ahead of tail, tail far ahead of head, both near the wrap
    for (tail, head) in [(3, 1u64 << 40), (1 << 50, 0), (0, u64::MAX - 9), (9, 2)] {
        let (tx, rx) = heap::<u64>(4).unwrap();
        let raw = tx.raw().share();
        drop(tx);
        raw.ctrl().tail.store(tail, Ordering::Relaxed);
        raw.ctrl().head.store(head, Ordering::Relaxed);
        let mut tx = Producer::attach(raw.share(), me, |_| true).unwrap();
        assert!(matches!(tx.push_slice(&[7; 64]), Err(Corrupted { .. })));
        assert!(matches!(tx.push(1), Err(PushError::Corrupted(1, _))));
        assert!(matches!(tx.write_chunk(64), Err(ChunkError::Corrupted(_))));
        assert!(matches!(tx.write_chunk(1), Err(ChunkError::Corrupted(_))));
        assert!(tx.slots().is_err());
        assert_eq!(tx.push_slice(&[]), Ok(0), "nothing asked, nothing checked");
        drop(tx);
        drop(rx);
        // The consumer re-attached over the same garbage: every read path says so.
        let mut rx = Consumer::attach(raw.share(), me, |_| true).unwrap();
        assert!(matches!(rx.pop(), Err(PopError::Corrupted(_))));
        assert!(rx.pop_into(&mut [0; 64]).is_err());
        assert!(rx.read_chunk(64).is_err());
        assert!(rx.peek_slice().is_err());
        assert!(rx.available().is_err());
        rx.consume(64); // releases nothing: nothing was validated as ready
        assert_eq!(raw.ctrl().head.load(Ordering::Relaxed), head);
    }
}

/// Issue 12 item 6 at the ring level: `verify` reports shared words that contradict
/// what the end knows, and passes a healthy full or empty ring.
#[test]
fn verify_reports_contradictions_only() {
    let ring = HeapRing::<u64>::new(2).unwrap();
    let (mut tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    assert_eq!((tx.verify(), rx.verify()), (Ok(()), Ok(())));
    tx.push_slice(&[1, 2]).unwrap();
    assert_eq!(tx.verify(), Ok(()), "full is no contradiction");
    ring.scribble_positions(Some(0), None); // tail rewritten to head
    assert!(tx.verify().is_err());
    ring.scribble_positions(Some(2), None);
    assert_eq!(tx.verify(), Ok(()));
    assert_eq!(rx.pop(), Ok(1));
    ring.scribble_positions(None, Some(0)); // head rewritten: only rx writes it
    assert!(rx.verify().is_err());
    ring.scribble_positions(None, Some(1));
    assert_eq!(rx.verify(), Ok(()));
    // the peer's word back to "free" although it has moved its position
    rx.control().producer.word.store(0, Ordering::Relaxed);
    assert!(rx.verify().is_err());
    tx.control().consumer.word.store(0, Ordering::Relaxed);
    assert!(tx.verify().is_err());
}
