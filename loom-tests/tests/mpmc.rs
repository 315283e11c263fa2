//! Loom: the MPMC queue's claim/publish protocol with wraparound, its sleep flags, and
//! the retirement of a member that stops between claim and release.
#![cfg(shmlane_loom)]

use loom::thread;
use shmlane::WaitMode;
use shmlane::error::{TryGetError, TryPutError};
use shmlane::ring::Identity;
use shmlane::ring::mpmc::{Member, QueueRing, heap};

const DOOMED: Identity = Identity {
    pid: 999_999_999,
    start: 1,
};

fn alive(id: Identity) -> bool {
    id != DOOMED
}

/// The models with four threads and retry loops: preemptions bounded at 1 (whatever
/// LOOM_MAX_PREEMPTIONS says) and longer paths allowed. A bound of 2 was tried: the
/// two four-thread models then run for minutes, long enough that the waits' slow
/// ticks (wall-clock `TICK`s in `wait::block_on_armed`) fire at different points of
/// different executions, which loom rejects as a nondeterministic model.
fn builder() -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(1);
    b.max_branches = 100_000;
    b
}

fn push(m: &mut Member<u32>, v: u32) {
    loop {
        match m.try_push(v) {
            Ok(()) => return,
            Err(TryPutError::Full(_)) => thread::yield_now(),
            Err(e) => panic!("{e:?}"),
        }
    }
}

fn pop(m: &mut Member<u32>) -> u32 {
    loop {
        match m.try_pop() {
            Ok(v) => return v,
            Err(TryGetError::Empty) => thread::yield_now(),
            Err(e) => panic!("{e:?}"),
        }
    }
}

/// Two producers and two consumers over a 2-slot ring, all concurrent, one value
/// each; positions start at 1 so the second value wraps around to slot 0 of the next
/// lap. Consumers sleep (futex model) rather than spin, which keeps the model small.
/// Every value is taken exactly once, and loom's UnsafeCell tracking rejects any read
/// of a slot while it is written.
#[test]
fn two_producers_two_consumers_with_wraparound() {
    builder().check(|| {
        let q = heap::<u32>(2).unwrap();
        let mut p1 = q.join_local().unwrap();
        let mut p2 = q.join_local().unwrap();
        let mut c2 = q.join_local().unwrap();
        let mut c1 = q.join_local().unwrap();
        push(&mut p1, 0);
        assert_eq!(pop(&mut c1), 0);
        let a = thread::spawn(move || push(&mut p1, 1));
        let b = thread::spawn(move || push(&mut p2, 2));
        let other = thread::spawn(move || c2.pop_until(WaitMode::Sleep, None).unwrap());
        let mine = c1.pop_until(WaitMode::Sleep, None).unwrap();
        let theirs = other.join().unwrap();
        a.join().unwrap();
        b.join().unwrap();
        let mut got = [mine, theirs];
        got.sort();
        assert_eq!(got, [1, 2]);
    });
}

/// A consumer sleeping in `pop_until` (futex modelled as a real block) is woken by a
/// put: the sleep flag in `tail` is never missed.
#[test]
#[cfg_attr(shmlane_mutant_no_flag_wake, should_panic(expected = "deadlock"))]
fn sleeping_consumer_is_woken_by_a_put() {
    loom::model(|| {
        let q = heap::<u32>(2).unwrap();
        let mut p = q.join_local().unwrap();
        let mut c = q.join_local().unwrap();
        let t = thread::spawn(move || push(&mut p, 7));
        assert_eq!(c.pop_until(WaitMode::Sleep, None), Ok(7));
        t.join().unwrap();
    });
}

/// A producer sleeping on a full queue is woken by a get (the flag in `head`).
#[test]
fn sleeping_producer_is_woken_by_a_get() {
    loom::model(|| {
        let q = heap::<u32>(2).unwrap();
        let mut p = q.join_local().unwrap();
        let mut c = q.join_local().unwrap();
        push(&mut p, 1);
        push(&mut p, 2);
        let t = thread::spawn(move || assert_eq!(pop(&mut c), 1));
        assert_eq!(p.push_until(3, WaitMode::Sleep, None), Ok(()));
        t.join().unwrap();
    });
}

/// `close` wakes a sleeping consumer, which then reports `Closed`.
#[test]
fn close_wakes_a_sleeping_consumer() {
    loom::model(|| {
        let q = heap::<u32>(2).unwrap();
        let mut c = q.join_local().unwrap();
        let q2: QueueRing<u32> = q.clone();
        let t = thread::spawn(move || q2.close().unwrap());
        assert_eq!(c.pop_until(WaitMode::Sleep, None), Err(TryGetError::Closed));
        t.join().unwrap();
    });
}

/// A producer stops between claim and publish while a live producer races it for the
/// same position; then a survivor retires the dead one concurrently with the live put
/// and a consumer. The live value is delivered, the dead one's never, and the
/// retirement waits while the live producer may own the recorded position.
#[test]
fn retire_a_producer_that_stopped_mid_put() {
    let b = builder();
    b.check(|| {
        let q = heap::<u32>(2).unwrap();
        let dead = q.join(DOOMED, |_| true).unwrap();
        let mut live = q.join_local().unwrap();
        let mut c = q.join_local().unwrap();
        let d = thread::spawn(move || dead.crash_in_push());
        let l = thread::spawn(move || push(&mut live, 7));
        let dead_claimed = d.join().unwrap();
        let q2 = q.clone();
        let r = thread::spawn(move || {
            while q2.recover(alive) == Ok(0) {
                thread::yield_now();
            }
        });
        assert_eq!(pop(&mut c), 7);
        l.join().unwrap();
        r.join().unwrap();
        assert_eq!(q.abandoned(), u64::from(dead_claimed));
        assert_eq!(c.try_pop(), Err(TryGetError::Empty));
    });
}

/// A consumer stops after taking a message; a survivor retires it while a producer
/// waits for the slot (retirement concurrent with the producer's retries). The message is counted lost, the slot is reused.
#[test]
fn retire_a_consumer_that_stopped_mid_get() {
    builder().check(|| {
        let q = heap::<u32>(2).unwrap();
        let mut p = q.join_local().unwrap();
        let mut c = q.join_local().unwrap();
        push(&mut p, 1);
        push(&mut p, 2);
        assert!(q.join(DOOMED, |_| true).unwrap().crash_in_pop());
        let t = thread::spawn(move || push(&mut p, 3));
        assert_eq!(q.recover(alive), Ok(1));
        assert_eq!(pop(&mut c), 2);
        assert_eq!(pop(&mut c), 3);
        t.join().unwrap();
        assert_eq!(q.lost(), 1);
    });
}

/// A live `try_push` loses the race for the last free position to a member that
/// claims it and dies; the live call returns `Full` and its member idles. Its failed
/// claim must not leave its intent behind: with a stale intent naming the dead
/// member's position, recovery took the live member for a possible owner (a live
/// twin) and refused to retire the dead one, and consumers stalled at that position.
/// Recovery succeeds at once, and the consumer gets past the dead claim.
#[test]
fn a_failed_claim_leaves_no_stale_intent() {
    builder().check(|| {
        let q = heap::<u32>(2).unwrap();
        let dead = q.join(DOOMED, |_| true).unwrap();
        let mut live = q.join_local().unwrap();
        let mut c = q.join_local().unwrap();
        push(&mut live, 1); // one free slot left: the two race for position 1
        let d = thread::spawn(move || dead.crash_in_push());
        let mine = live.try_push(7);
        let dead_claimed = d.join().unwrap();
        assert_eq!(
            q.recover(alive),
            Ok(1),
            "the dead member is retired while the live one idles"
        );
        assert_eq!(pop(&mut c), 1);
        match mine {
            Ok(()) => assert_eq!(pop(&mut c), 7),
            Err(e) => assert!(matches!(e, TryPutError::Full(7)) && dead_claimed, "{e:?}"),
        }
        assert_eq!(c.try_pop(), Err(TryGetError::Empty));
        assert_eq!(q.abandoned(), u64::from(dead_claimed));
    });
}
