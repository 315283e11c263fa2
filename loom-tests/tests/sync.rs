//! Loom: the cross-process primitives of `shmlane::sync::raw`, with the futex modelled
//! as a real block (a lost wake-up is a loom deadlock).
#![cfg(shmlane_loom)]

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use shmlane::WaitMode;
use shmlane::ring::Identity;
use shmlane::sync::raw::{
    Acquired, LocalLock, RawBarrier, RawCondvar, RawEvent, RawMutex, RawSemaphore, SeqLock,
};

fn me(pid: u32) -> Identity {
    Identity { pid, start: 1 }
}

fn alive(_: Identity) -> bool {
    true
}

/// A writer stores (1, 1) then (2, 2) as two words; a reader never sees a mix.
#[test]
fn seqlock_never_returns_a_torn_value() {
    loom::model(|| {
        let s = Arc::new(SeqLock::<2>::new());
        let w = {
            let s = s.clone();
            thread::spawn(move || {
                s.write(&[1, 1]);
                s.write(&[2, 2]);
            })
        };
        for _ in 0..2 {
            if let Some([a, b]) = s.read() {
                assert_eq!(a, b, "torn read");
            }
        }
        w.join().unwrap();
        assert_eq!(s.read(), Some([2, 2]));
    });
}

struct Guarded {
    m: RawMutex,
    data: UnsafeCell<u32>,
}
// SAFETY (test): `data` is only touched while `m` is held, which is what loom checks.
unsafe impl Sync for Guarded {}

/// Two threads increment under the mutex, the second blocking (sleeping on the futex
/// model) while the first holds it: exclusion (loom's UnsafeCell would flag concurrent
/// access) and no lost wake-up (a missed unlock wake is a deadlock).
#[test]
fn mutex_excludes_and_wakes() {
    loom::model(|| {
        let g = Arc::new(Guarded {
            m: RawMutex::new(),
            data: UnsafeCell::new(0),
        });
        let t = {
            let g = g.clone();
            thread::spawn(move || {
                assert_eq!(
                    g.m.lock(me(2), WaitMode::Sleep, None, alive),
                    Ok(Acquired::Clean)
                );
                g.data.with_mut(|p| unsafe { *p += 1 });
                g.m.unlock();
            })
        };
        assert_eq!(
            g.m.lock(me(1), WaitMode::Sleep, None, alive),
            Ok(Acquired::Clean)
        );
        g.data.with_mut(|p| unsafe { *p += 1 });
        g.m.unlock();
        t.join().unwrap();
        assert_eq!(g.data.with(|p| unsafe { *p }), 2);
    });
}

/// The lock is handed to a thread that releases it while this one may already sleep
/// in `lock`: the unlock must wake it (the mutant build that drops the wake deadlocks
/// here, with only this thread blocked, so loom reports it cleanly).
#[test]
#[cfg_attr(shmlane_mutant_no_flag_wake, should_panic(expected = "deadlock"))]
fn mutex_unlock_wakes_a_sleeper() {
    loom::model(|| {
        let m = Arc::new(RawMutex::new());
        assert!(m.try_lock(1, 1));
        let t = {
            let m = m.clone();
            thread::spawn(move || m.unlock())
        };
        assert_eq!(
            m.lock(me(1), WaitMode::Sleep, None, alive),
            Ok(Acquired::Clean)
        );
        m.unlock();
        t.join().unwrap();
    });
}

/// A waiter on the condvar is woken by a notify after the state change under the
/// mutex, whatever the interleaving.
#[test]
fn condvar_never_misses_a_notify() {
    loom::model(|| {
        let g = Arc::new((RawMutex::new(), RawCondvar::new(), UnsafeCell::new(false)));
        struct S(Arc<(RawMutex, RawCondvar, UnsafeCell<bool>)>);
        // SAFETY (test): the flag is only touched under the mutex.
        unsafe impl Send for S {}
        let s = S(g.clone());
        let t = thread::spawn(move || {
            let s = s;
            let (m, cv, flag) = &*s.0;
            m.lock(me(2), WaitMode::Sleep, None, alive).unwrap();
            flag.with_mut(|p| unsafe { *p = true });
            m.unlock();
            cv.notify_all();
        });
        let (m, cv, flag) = &*g;
        m.lock(me(1), WaitMode::Sleep, None, alive).unwrap();
        while !flag.with(|p| unsafe { *p }) {
            cv.wait(m, me(1), None, alive);
        }
        m.unlock();
        t.join().unwrap();
    });
}

/// One unit, two takers, one releaser: both takers get through, one sleeping until the
/// release.
#[test]
fn semaphore_acquire_sleeps_until_release() {
    loom::model(|| {
        let s = Arc::new(RawSemaphore::new());
        s.init(1);
        let t = {
            let s = s.clone();
            thread::spawn(move || {
                s.acquire(WaitMode::Sleep, None).unwrap();
                s.release(1).unwrap();
            })
        };
        s.acquire(WaitMode::Sleep, None).unwrap();
        s.release(1).unwrap();
        t.join().unwrap();
        assert_eq!(s.value(), 1);
    });
}

/// A waiter sleeping on the event is woken by `set`.
#[test]
fn event_set_wakes_a_sleeper() {
    loom::model(|| {
        let e = Arc::new(RawEvent::new());
        let t = {
            let e = e.clone();
            thread::spawn(move || e.set())
        };
        e.wait(WaitMode::Sleep, None).unwrap();
        assert!(e.is_set());
        t.join().unwrap();
    });
}

/// Two parties: both pass, exactly one is the leader, the barrier resets.
#[test]
fn barrier_releases_both_parties() {
    loom::model(|| {
        let b = Arc::new(RawBarrier::new());
        let t = {
            let b = b.clone();
            thread::spawn(move || b.wait(2, WaitMode::Sleep, None).unwrap())
        };
        let mine = b.wait(2, WaitMode::Sleep, None).unwrap();
        let theirs = t.join().unwrap();
        assert!(mine ^ theirs, "exactly one leader");
    });
}

/// Two parties, two rounds back to back: an arrival for round 1 can race the leader of
/// round 0 (its completing CAS and notify) and the other party's wake-up; each round
/// still releases both parties with exactly one leader, and neither sleeps forever.
#[test]
fn barrier_rounds_never_mix() {
    loom::model(|| {
        let b = Arc::new(RawBarrier::new());
        let t = {
            let b = b.clone();
            thread::spawn(move || {
                let first = b.wait(2, WaitMode::Sleep, None).unwrap();
                let second = b.wait(2, WaitMode::Sleep, None).unwrap();
                [first, second]
            })
        };
        let mine = [
            b.wait(2, WaitMode::Sleep, None).unwrap(),
            b.wait(2, WaitMode::Sleep, None).unwrap(),
        ];
        let theirs = t.join().unwrap();
        assert!(mine[0] ^ theirs[0], "exactly one leader of round 0");
        assert!(mine[1] ^ theirs[1], "exactly one leader of round 1");
    });
}

/// Two parties; A times out at once (its deadline has passed) and withdraws unless
/// its round completed meanwhile; T arrives twice without deadline; this thread pairs
/// with whoever is left (once if A passed, twice if A withdrew). A withdrawal that took
/// back an arrival of the next round (count and round in two words: T completes A's
/// round, arrives again, and A's stale compare-and-swap on the count succeeds) reports
/// `TimedOut` for an A that passed, and T's second wait then never completes (a loom
/// deadlock).
#[test]
fn barrier_withdrawal_takes_only_its_own_round() {
    loom::model(|| {
        let b = Arc::new(RawBarrier::new());
        let past = std::time::Instant::now();
        let a = {
            let b = b.clone();
            thread::spawn(move || b.wait(2, WaitMode::Sleep, Some(past)))
        };
        let t = {
            let b = b.clone();
            thread::spawn(move || {
                let first = b.wait(2, WaitMode::Sleep, None).unwrap();
                let second = b.wait(2, WaitMode::Sleep, None).unwrap();
                [first, second]
            })
        };
        let a = a.join().unwrap();
        let mine: Vec<bool> = (0..if a.is_ok() { 1 } else { 2 })
            .map(|_| b.wait(2, WaitMode::Sleep, None).unwrap())
            .collect();
        let theirs = t.join().unwrap();
        let passed = [a.is_ok()].iter().chain(&[true; 2]).filter(|&&p| p).count() + mine.len();
        let leaders = [a == Ok(true)]
            .iter()
            .chain(&theirs)
            .chain(&mine)
            .filter(|&&l| l)
            .count();
        assert_eq!(
            passed,
            2 * leaders,
            "one leader per round of two: {a:?} {theirs:?} {mine:?}"
        );
    });
}

/// The "lock word names this process, which does not hold it" check is exact: a
/// checker (itself inside a lock attempt, so counted) never reports while another
/// thread of the same process takes, holds or releases the lock as pid 7; with
/// nobody of the process inside, a word naming pid 7 is reported.
#[test]
fn local_lock_never_reports_a_legit_holder() {
    loom::model(|| {
        let s = Arc::new((RawMutex::new(), LocalLock::default()));
        let t = {
            let s = s.clone();
            thread::spawn(move || {
                let (m, l) = &*s;
                l.enter();
                if m.try_lock(7, 1) {
                    m.unlock();
                }
                l.leave();
            })
        };
        let (m, l) = &*s;
        l.enter();
        for _ in 0..2 {
            assert!(!l.alone_while_named(m, 7), "legit holder reported");
        }
        t.join().unwrap();
        m.poke(7, 0); // garbage naming this process, nobody else inside
        assert!(l.alone_while_named(m, 7));
        l.leave();
    });
}
