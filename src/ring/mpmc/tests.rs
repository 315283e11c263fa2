use super::*;
use crate::error::{ClaimError, TryGetError, TryPutError};
use crate::platform::identity::Identity;
use crate::ring::endpoint;
use crate::wait::WaitMode;
use proptest::prelude::*;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

#[test]
fn fifo_full_empty_and_wraparound() {
    let q = heap::<u32>(4).unwrap();
    let mut m = q.join_local().unwrap();
    assert_eq!(m.try_pop(), Err(TryGetError::Empty));
    for round in 0..10u32 {
        for i in 0..4 {
            m.try_push(round * 10 + i).unwrap();
        }
        assert!(matches!(m.try_push(99), Err(TryPutError::Full(99))));
        assert_eq!(q.len(), Ok(4));
        for i in 0..4 {
            assert_eq!(m.try_pop(), Ok(round * 10 + i));
        }
        assert_eq!(q.is_empty(), Ok(true));
    }
}

#[test]
fn capacity_must_be_a_power_of_two_of_at_least_two() {
    assert!(heap::<u8>(1).is_err());
    assert!(heap::<u8>(6).is_err());
    assert!(heap::<u8>(2).is_ok());
}

#[test]
fn close_drains_then_reports_closed() {
    let q = heap::<u8>(4).unwrap();
    let mut m = q.join_local().unwrap();
    m.try_push(1).unwrap();
    q.close().unwrap();
    assert!(q.is_closed());
    assert!(matches!(m.try_push(2), Err(TryPutError::Closed(2))));
    assert_eq!(m.try_pop(), Ok(1));
    assert_eq!(m.try_pop(), Err(TryGetError::Closed));
    assert_eq!(
        m.pop_until(WaitMode::Blocking, None),
        Err(TryGetError::Closed)
    );
}

#[test]
fn endpoint_table_fills_and_frees() {
    let q = heap::<u8>(2).unwrap();
    let members: Vec<_> = (0..QUEUE_MEMBERS)
        .map(|_| q.join_local().unwrap())
        .collect();
    assert_eq!(
        q.join_local().unwrap_err(),
        ClaimError::TableFull {
            members: QUEUE_MEMBERS
        }
    );
    drop(members);
    assert!(q.join_local().is_ok());
}

const DOOMED: Identity = Identity {
    pid: 999_999_999,
    start: 1,
};

fn doomed<T: Pod + Send>(q: &QueueRing<T>) -> Member<T> {
    q.join(DOOMED, |_| true).unwrap()
}

fn alive(id: Identity) -> bool {
    id != DOOMED
}

#[test]
fn dead_producer_claim_is_skipped_never_delivered() {
    let q = heap::<u64>(2).unwrap();
    let mut a = q.join_local().unwrap();
    let b = doomed(&q);
    a.try_push(1).unwrap();
    assert!(b.crash_in_push()); // claims position 1 and dies
    assert_eq!(q.len(), Ok(2));
    assert_eq!(a.try_pop(), Ok(1));
    assert_eq!(a.try_pop(), Err(TryGetError::Empty)); // stuck behind the dead claim
    assert_eq!(q.recover(alive), Ok(1));
    assert_eq!(q.abandoned(), 1);
    a.try_push(3).unwrap();
    assert_eq!(a.try_pop(), Ok(3)); // the skipped slot is dropped, 3 follows
    assert_eq!(q.recover(alive), Ok(0));
    // The dead entry was freed: the table has room for a full set again.
    let all: Vec<_> = (1..QUEUE_MEMBERS)
        .map(|_| q.join_local().unwrap())
        .collect();
    assert_eq!(all.len(), QUEUE_MEMBERS - 1);
}

#[test]
fn dead_consumer_message_is_counted_lost_and_slot_freed() {
    let q = heap::<u64>(2).unwrap();
    let mut a = q.join_local().unwrap();
    let b = doomed(&q);
    a.try_push(1).unwrap();
    a.try_push(2).unwrap();
    assert!(b.crash_in_pop()); // takes position 0 and dies
    assert!(matches!(a.try_push(3), Err(TryPutError::Full(3))));
    assert_eq!(q.recover(alive), Ok(1));
    assert_eq!(q.lost(), 1);
    a.try_push(3).unwrap();
    assert_eq!(a.try_pop(), Ok(2));
    assert_eq!(a.try_pop(), Ok(3));
}

#[test]
fn a_live_twin_intent_defers_retirement() {
    let q = heap::<u64>(4).unwrap();
    let mut live = q.join_local().unwrap();
    let dead = doomed(&q);
    // The live member records the same intent as the dead one will (a put at 0).
    live.intent().store(ROLE_PUT, Ordering::Relaxed);
    assert!(dead.crash_in_push());
    assert_eq!(q.recover(alive), Ok(0), "may be the live one's position");
    live.intent().store(0, Ordering::Relaxed);
    assert_eq!(q.recover(alive), Ok(1));
    assert_eq!(live.try_push(5), Ok(()));
    assert_eq!(live.try_pop(), Ok(5));
}

#[test]
fn garbage_stamps_and_positions_are_reported_not_followed() {
    let q = heap::<u64>(4).unwrap();
    let mut m = q.join_local().unwrap();
    m.try_push(1).unwrap();
    q.poke_stamp(0, 0xdead_beef_0000);
    assert!(matches!(m.try_pop(), Err(TryGetError::Corrupted(_))));
    q.poke_stamp(1, 12345 << 1 | 1);
    q.poke_position(true, 1);
    assert!(matches!(m.try_push(2), Err(TryPutError::Corrupted(2, _))));
    q.poke_position(false, u64::MAX);
    q.poke_position(true, u64::MAX - 5);
    let _ = m.try_pop();
    let _ = m.try_push(3);
    assert!(q.len().is_err());
    assert!(q.recover(|_| false).is_err());
}

/// Runs `f` on a thread; fails the test if it does not return within the watchdog
/// (a blocking call that waits for good).
fn watchdog<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()).unwrap());
    rx.recv_timeout(WATCHDOG)
        .expect("a blocking call waited past the watchdog")
}

/// Positions out of range (`head` ahead of `tail`; `tail` far ahead of `head`) are
/// reported by every call, including a blocking get after `close`.
#[test]
fn positions_out_of_range_are_corrupted_everywhere() {
    for (head, tail) in [(5, 2), (0, 1 << 40), (2, 2 + 5)] {
        let q = heap::<u64>(4).unwrap();
        let mut m = q.join_local().unwrap();
        m.try_push(1).unwrap();
        m.try_push(2).unwrap();
        assert_eq!(m.try_pop(), Ok(1));
        q.poke_position(false, head);
        q.poke_position(true, tail);
        assert!(
            matches!(m.try_pop(), Err(TryGetError::Corrupted(_))),
            "{head} {tail}"
        );
        assert!(q.len().is_err() && q.is_empty().is_err());
        assert!(q.recover(alive).is_err());
        let soon = Some(Instant::now() + Duration::from_millis(1));
        assert!(matches!(
            m.pop_until(WaitMode::Spin, soon),
            Err(TryGetError::Corrupted(_))
        ));
        if tail > head {
            // A put that finds a free slot does not read `head` (the fast path); one
            // that finds none does.
            assert!(matches!(m.try_push(3), Err(TryPutError::Corrupted(3, _))));
        }
        assert!(q.close().is_err());
        let r = watchdog(move || m.pop_until(WaitMode::Blocking, None));
        assert!(
            matches!(r, Err(TryGetError::Corrupted(_))),
            "{head} {tail}: {r:?}"
        );
    }
}

/// A legal span whose reads race with gets and puts is never called corrupt: the
/// second read of `check_span` explains it.
#[test]
fn a_racing_snapshot_is_not_corrupt() {
    let q = heap::<u64>(2).unwrap();
    let mut a = q.join_local().unwrap();
    let q2 = q.clone();
    let t = std::thread::spawn(move || {
        for _ in 0..100_000 {
            assert!(q2.len().is_ok_and(|n| n <= 2));
        }
    });
    while !t.is_finished() {
        a.try_push(1).unwrap();
        assert_eq!(a.try_pop(), Ok(1));
    }
    t.join().unwrap();
}

/// A position claimed with no member holding the claim can never be published: a
/// blocking get reports `Corrupted` (closed or not), so does a put behind a get
/// that no member holds.
#[test]
fn a_claim_no_member_holds_ends_a_blocking_wait() {
    for close in [false, true] {
        let q = heap::<u64>(4).unwrap();
        let mut m = q.join_local().unwrap();
        q.poke_position(true, 1);
        if close {
            assert!(q.close().is_ok());
        }
        let r = watchdog(move || m.pop_until(WaitMode::Blocking, None));
        assert!(matches!(r, Err(TryGetError::Corrupted(_))), "{r:?}");
    }
    let q = heap::<u64>(4).unwrap();
    let mut m = q.join_local().unwrap();
    for v in 0..4 {
        m.try_push(v).unwrap();
    }
    q.poke_position(false, 1);
    let r = watchdog(move || m.push_until(9, WaitMode::Sleep, None));
    assert!(matches!(r, Err(TryPutError::Corrupted(9, _))), "{r:?}");
}

/// A claim a live member holds is waited for, not reported: the holder may be slow.
#[test]
fn a_claim_a_live_member_holds_is_waited_for() {
    let q = heap::<u64>(4).unwrap();
    let mut c = q.join_local().unwrap();
    let holder = q.join_local().unwrap();
    // `holder` claims position 0 and stops there (as a stopped process would).
    holder.intent().store(ROLE_PUT, Ordering::Relaxed);
    q.poke_position(true, 1);
    let soon = Some(Instant::now() + Duration::from_millis(300)); // several ticks
    assert_eq!(c.pop_until(WaitMode::Sleep, soon), Err(TryGetError::Empty));
}

/// Our own entry overwritten while we wait: `Corrupted`, not a wait under an entry
/// that is no longer ours.
#[test]
fn own_entry_overwritten_ends_a_blocking_wait() {
    let q = heap::<u64>(4).unwrap();
    let mut m = q.join_local().unwrap();
    q.members()[0].ep.word.store(0, Ordering::Relaxed);
    let r = watchdog(move || m.pop_until(WaitMode::Blocking, None));
    assert!(matches!(r, Err(TryGetError::Corrupted(_))), "{r:?}");
}

/// Watchdog only: turns a hang into a failure.
const WATCHDOG: Duration = Duration::from_secs(60);

/// Waits (without a time limit other than the watchdog) until `word` has the sleeping
/// flag: a waiter has announced that it sleeps.
fn wait_for_sleeper(word: &AtomicU64) {
    let start = Instant::now();
    // Relaxed: a test's observation; the protocol does not depend on it.
    while word.load(Ordering::Relaxed) & SLEEPING == 0 {
        assert!(
            start.elapsed() < WATCHDOG,
            "the waiter never armed its sleep"
        );
        std::thread::yield_now();
    }
}

#[test]
fn sleeping_consumer_is_woken_by_a_put() {
    let q = heap::<u64>(2).unwrap();
    let mut c = q.join_local().unwrap();
    let mut p = q.join_local().unwrap();
    let t = std::thread::spawn(move || c.pop_until(WaitMode::Sleep, None));
    // The consumer really went to sleep: it set the flag on `tail`, so only the
    // flag's wake (not a poll) can end its wait.
    wait_for_sleeper(&q.ctrl().tail);
    p.try_push(42).unwrap();
    assert_eq!(t.join().unwrap(), Ok(42));
}

#[test]
fn sleeping_producer_is_woken_by_a_get() {
    let q = heap::<u64>(2).unwrap();
    let mut c = q.join_local().unwrap();
    let mut p = q.join_local().unwrap();
    p.try_push(1).unwrap();
    p.try_push(2).unwrap();
    let t = std::thread::spawn(move || p.push_until(3, WaitMode::Sleep, None));
    wait_for_sleeper(&q.ctrl().head);
    assert_eq!(c.try_pop(), Ok(1));
    assert_eq!(t.join().unwrap(), Ok(()));
}

#[test]
fn timeouts_return() {
    let q = heap::<u64>(2).unwrap();
    let mut m = q.join_local().unwrap();
    let soon = || Some(Instant::now() + Duration::from_millis(10));
    assert_eq!(
        m.pop_until(WaitMode::Blocking, soon()),
        Err(TryGetError::Empty)
    );
    m.try_push(1).unwrap();
    m.try_push(2).unwrap();
    assert!(matches!(
        m.push_until(3, WaitMode::Sleep, soon()),
        Err(TryPutError::Full(3))
    ));
}

/// 4 producer and 4 consumer threads through 8 slots: every value exactly once.
#[test]
fn threads_exactly_once() {
    const PER: u64 = if cfg!(miri) { 50 } else { 50_000 };
    let q = heap::<u64>(8).unwrap();
    let producers: Vec<_> = (0..4u64)
        .map(|p| {
            let mut m = q.join_local().unwrap();
            std::thread::spawn(move || {
                for i in 0..PER {
                    m.push_until(p << 32 | i, WaitMode::Blocking, None).unwrap();
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            let mut m = q.join_local().unwrap();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                while let Ok(v) = m.pop_until(WaitMode::Blocking, None) {
                    got.push(v);
                }
                got
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    q.close().unwrap();
    let mut seen = vec![vec![false; PER as usize]; 4];
    for c in consumers {
        let got = c.join().unwrap();
        let mut last = [None::<u64>; 4];
        for v in got {
            let (p, i) = ((v >> 32) as usize, v & 0xffff_ffff);
            assert!(!seen[p][i as usize], "duplicate {p}:{i}");
            seen[p][i as usize] = true;
            // Per producer, one consumer sees increasing sequence numbers (FIFO).
            assert!(last[p].is_none_or(|l| l < i));
            last[p] = Some(i);
        }
    }
    assert!(seen.iter().flatten().all(|&s| s), "a value was lost");
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 256 },
        failure_persistence: None, // no file access (Miri's isolation)
        ..ProptestConfig::default()
    })]

    /// Random single-member op sequences agree with a VecDeque.
    #[test]
    fn matches_a_vecdeque(cap_log in 1u32..5, ops in proptest::collection::vec(0u8..3, 0..200)) {
        let cap = 1usize << cap_log;
        let q = heap::<u32>(cap).unwrap();
        let mut m = q.join_local().unwrap();
        let mut model = VecDeque::new();
        for (next, op) in (0u32..).zip(ops) {
            match op {
                0 | 1 => match m.try_push(next) {
                    Ok(()) => { prop_assert!(model.len() < cap); model.push_back(next); }
                    Err(TryPutError::Full(_)) => prop_assert_eq!(model.len(), cap),
                    Err(e) => prop_assert!(false, "{e:?}"),
                },
                _ => match m.try_pop() {
                    Ok(v) => prop_assert_eq!(Some(v), model.pop_front()),
                    Err(TryGetError::Empty) => prop_assert!(model.is_empty()),
                    Err(e) => prop_assert!(false, "{e:?}"),
                },
            }
            prop_assert_eq!(q.len(), Ok(model.len()));
        }
    }
}

/// Review finding: a retirer that read a dead entry's word, then stalled while another
/// retirer finished that entry and a new (live) member joined it and claimed a slot,
/// must not pad over the new member's claim with the old word in hand (the new member
/// would then publish over the skip and the slot's laps would be mixed up).
#[test]
fn a_retirer_with_a_stale_dead_word_leaves_a_new_members_claim_alone() {
    let q = heap::<u64>(4).unwrap();
    let dead = doomed(&q);
    let i = dead.index;
    assert!(dead.crash_in_push()); // claims 0, dies holding entry i
    let (stale, _) = endpoint::load(&q.members()[i].ep);
    // (The stalled retirer would have marked it dead: its `seen` word.)
    let stale = endpoint::pack(endpoint::owner(stale), endpoint::Status::Dead);
    // Another retirer finishes entry i: position 0 is skipped, the entry vacated.
    assert_eq!(q.recover(alive), Ok(1));
    // A new live member joins entry i and claims position 1, then stops before publishing.
    let new = q.join_local().unwrap();
    assert_eq!(new.index, i, "the vacated entry is reused");
    assert!(new.crash_in_push());
    let stamp = |pos: u64| q.slot(pos).stamp.load(Ordering::Acquire);
    let before = stamp(1);
    // The stalled retirer resumes with entry i's old dead word.
    assert!(!q.retire(i, stale), "retired a live member's claim");
    assert_eq!(stamp(1), before, "the live claim was padded over");
    assert_eq!(
        q.abandoned(),
        1,
        "only the dead member's position was skipped"
    );
}
