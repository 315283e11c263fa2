//! Loom: the SPSC ring's publish/refresh protocol, with wraparound.
#![cfg(shmlane_loom)]

use loom::thread;
use shmlane::error::PopError;
use shmlane::ring::spsc::{ChunkError, heap};

/// Capacity 2, three values: the third write reuses slot 0 after the consumer freed
/// it. Loom explores every interleaving; the consumer must see 1, 2, 3 in order and
/// no slot may be read while written (loom's UnsafeCell tracks that).
#[test]
fn push_pop_with_wraparound() {
    loom::model(|| {
        let (mut tx, mut rx) = heap::<u32>(2).unwrap();
        let p = thread::spawn(move || {
            for v in 1..=3 {
                while tx.push(v).is_err() {
                    thread::yield_now();
                }
            }
        });
        for want in 1..=3 {
            loop {
                match rx.pop() {
                    Ok(v) => {
                        assert_eq!(v, want);
                        break;
                    }
                    Err(PopError::Empty) => thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
        }
        p.join().unwrap();
    });
}

/// The bulk paths (`push_slice` / `pop_into`) under the same wraparound: the same
/// run-splitting code as in production (only the copy of one contiguous run goes
/// through loom's cells slot by slot).
#[test]
fn bulk_with_wraparound() {
    loom::model(|| {
        let (mut tx, mut rx) = heap::<u32>(2).unwrap();
        let p = thread::spawn(move || {
            let src = [1, 2, 3];
            let mut sent = 0;
            while sent < src.len() {
                sent += tx.push_slice(&src[sent..]).unwrap();
                thread::yield_now();
            }
        });
        let mut got = Vec::new();
        while got.len() < 3 {
            let mut buf = [0u32; 2];
            let n = rx.pop_into(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
            thread::yield_now();
        }
        assert_eq!(got, [1, 2, 3]);
        p.join().unwrap();
    });
}

/// The chunk API: the producer writes values 1..=3 through `write_chunk` + `set` +
/// `commit_all` (two slots when free, so the second chunk wraps), the consumer reads
/// through `read_chunk` + `get` and commits one value at a time (a partial commit:
/// the rest is read again from the next chunk). Loom's cells catch any slot read
/// while written; the values must arrive in order.
#[test]
fn chunks_with_wraparound_and_partial_commits() {
    loom::model(|| {
        let (mut tx, mut rx) = heap::<u32>(2).unwrap();
        let p = thread::spawn(move || {
            let mut next = 1;
            while next <= 3 {
                let want = (4 - next).min(2) as usize;
                match tx.write_chunk(want) {
                    Ok(mut c) => {
                        for k in 0..want {
                            c.set(k, next + k as u32);
                        }
                        c.commit_all();
                        next += want as u32;
                    }
                    Err(ChunkError::TooFewSlots(_)) => thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
        });
        let mut got = Vec::new();
        while got.len() < 3 {
            let c = rx.read_chunk(2).unwrap();
            if c.is_empty() {
                thread::yield_now();
                continue;
            }
            got.push(c.get(0));
            c.commit(1);
        }
        assert_eq!(got, [1, 2, 3]);
        p.join().unwrap();
    });
}
