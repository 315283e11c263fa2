//! Threads through the lock words (Miri checks the orderings), and the mutex judge.

use super::*;
use crate::lock::{RawBarrier, RawEvent, RawSemaphore, SeqLock};
use std::sync::Arc;

const ME: Identity = Identity { pid: 7, start: 1 };

/// Two threads increment a counter under the mutex (Miri checks the orderings).
#[test]
fn mutex_threads_exact_count() {
    const N: u64 = if cfg!(miri) { 50 } else { 100_000 };
    let m = Arc::new((RawMutex::new(), AtomicU64::new(0)));
    let t = {
        let m = m.clone();
        std::thread::spawn(move || {
            for _ in 0..N {
                m.0.lock(ME, WaitMode::Blocking, None, |_| true).unwrap();
                // Relaxed load + store: a non-atomic increment, correct only
                // under the lock.
                let v = m.1.load(Ordering::Relaxed);
                m.1.store(v + 1, Ordering::Relaxed);
                m.0.unlock();
            }
        })
    };
    for _ in 0..N {
        m.0.lock(ME, WaitMode::Blocking, None, |_| true).unwrap();
        let v = m.1.load(Ordering::Relaxed);
        m.1.store(v + 1, Ordering::Relaxed);
        m.0.unlock();
    }
    t.join().unwrap();
    assert_eq!(m.1.load(Ordering::Relaxed), 2 * N);
}

/// A reader never returns a mix of two writes.
#[test]
fn seqlock_reader_sees_whole_values() {
    const N: u64 = if cfg!(miri) { 30 } else { 100_000 };
    let s = Arc::new(SeqLock::<3>::new());
    let w = {
        let s = s.clone();
        std::thread::spawn(move || {
            for i in 1..=N {
                s.write(&[i, i, i]);
            }
        })
    };
    let mut seen = 0;
    while seen < N {
        if let Some([a, b, c]) = s.read() {
            assert!(a == b && b == c, "torn: {a} {b} {c}");
            seen = a;
        }
        std::thread::yield_now();
    }
    w.join().unwrap();
}

/// The owner record is a second store after the lock CAS. A record left by an
/// earlier owner whose pid was reused by the new owner must not be read as the new
/// owner's: a waiter checking in between would take a live owner's lock.
#[test]
fn stale_owner_record_of_a_reused_pid_is_not_the_new_owners() {
    let old = Identity { pid: 7, start: 1 };
    let new = Identity { pid: 7, start: 2 }; // pid 7 reused
    let waiter = Identity { pid: 8, start: 3 };
    let alive = |id: Identity| {
        if id.pid == waiter.pid || (id.pid == 7 && id.start != old.start) {
            Holder::Alive
        } else {
            Holder::Dead
        }
    };
    let m = RawMutex::new();
    assert!(m.try_lock(old.pid, old.start));
    m.unlock();
    // `new` locks: its CAS is done, its record not written yet (stopped there).
    m.word.store(new.pid | WAITERS, Ordering::Relaxed);
    assert!(
        m.judge_holder(new.pid | WAITERS, waiter, alive) == Holder::Alive,
        "a waiter took the lock of a live owner"
    );
    // `new` dies before writing its record: judged by pid (gone now), taken over.
    let gone = |id: Identity| {
        if id.pid == waiter.pid {
            Holder::Alive
        } else {
            Holder::Dead
        }
    };
    assert!(m.judge_holder(new.pid | WAITERS, waiter, gone) == Holder::Dead);
    assert!(m.is_inconsistent());
}

/// Event, semaphore and barrier across two threads.
#[test]
fn event_semaphore_barrier_threads() {
    let (e, s, b) = (
        Arc::new(RawEvent::new()),
        Arc::new(RawSemaphore::new()),
        Arc::new(RawBarrier::new()),
    );
    let t = {
        let (e, s, b) = (e.clone(), s.clone(), b.clone());
        std::thread::spawn(move || {
            e.wait(WaitMode::Blocking, None).unwrap();
            s.release(1).unwrap();
            b.wait(2, WaitMode::Blocking, None).unwrap()
        })
    };
    e.set();
    s.acquire(WaitMode::Blocking, None).unwrap();
    let mine = b.wait(2, WaitMode::Blocking, None).unwrap();
    assert!(mine ^ t.join().unwrap());
    assert_eq!(s.release_bounded(2, 1), Err(0));
}
