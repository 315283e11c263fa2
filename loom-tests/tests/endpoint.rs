//! Loom: the endpoint claim-identity protocol (`ring::endpoint`), through a queue's
//! endpoint table (`join` claims an entry, `recover` is the liveness reader that marks
//! dead owners and frees their entries).
//!
//! Liveness is a model of the process table: a fixed set of live identities, plus one
//! owner whose death is a shared flag. A claimant racing a reader must never be seen
//! dead (the reader pairing the claimant's pid with the previous owner's start time
//! would do exactly that), and an owner that really died must still be retired and its
//! entry taken over.
#![cfg(shmlane_loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use shmlane::error::ClaimError;
use shmlane::layout::QUEUE_MEMBERS;
use shmlane::ring::Identity;
use shmlane::ring::mpmc::{QueueRing, heap};

/// Pids of other processes: above `PID_MAX_LIMIT` (2^22), so never this test process's
/// own pid (which `live` counts as alive, and whose handles `release` acts for).
const fn other(k: u32, start: u64) -> Identity {
    Identity {
        pid: (1 << 23) + k,
        start,
    }
}

/// A member of another process that died before the model starts.
const OLD: Identity = other(1, 10);
/// The claimant: alive throughout.
const NEW: Identity = other(2, 20);
/// An owner that dies during the model.
const DYING: Identity = other(3, 30);

/// Live: the claimant and this process's local members (`join_local`: our pid, start
/// unknown). `OLD` is dead; `DYING` is decided by the caller.
fn live(id: Identity) -> bool {
    id == NEW || id.pid == std::process::id()
}

/// Never retires anything (for the `join` calls: retirement is the reader's job here).
fn all_alive(_: Identity) -> bool {
    true
}

fn builder() -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(2);
    b.max_branches = 100_000;
    b
}

/// Fills every vacant entry with a local member (they stay attached while held).
fn fill(q: &QueueRing<u32>) -> Vec<shmlane::ring::mpmc::Member<u32>> {
    std::iter::from_fn(|| q.join_local().ok()).collect()
}

/// A claimant takes the entry a dead member left closed while a reader in another
/// thread sweeps the table: the reader retires nothing (the claimant is alive at every
/// instant it can observe), and the claimant keeps its entry.
#[test]
fn a_reader_never_sees_a_live_claimant_dead() {
    builder().check(|| {
        let q = heap::<u32>(2).unwrap();
        // OLD's entry, closed with OLD's identity in it: OLD died holding it (a handle
        // of another process releases nothing here) and was retired.
        drop(q.join(OLD, all_alive).unwrap());
        assert_eq!(q.recover(live), Ok(1));
        let q2 = q.clone();
        let claimant = thread::spawn(move || q2.join(NEW, all_alive).unwrap());
        // Let the claimant start first in some schedules (loom then preempts it
        // anywhere in its claim, the reader's loads in between).
        thread::yield_now();
        let freed = q.recover(live);
        let mine = claimant.join().unwrap();
        assert_eq!(freed, Ok(0), "the reader retired the live claimant");
        // NEW still holds an entry: the others filled, the table is full.
        let others = fill(&q);
        assert_eq!(others.len(), QUEUE_MEMBERS - 1);
        assert_eq!(
            q.join(OLD, all_alive).err(),
            Some(ClaimError::TableFull {
                members: QUEUE_MEMBERS
            })
        );
        drop(mine);
    });
}

/// The table is full and one owner dies (its entry stays attached, as after SIGKILL).
/// A claimant retries: sweep, then claim. A second reader sweeps concurrently. The dead
/// owner is retired and its entry taken over by the claimant (the loop ends), and the
/// concurrent reader never retires the claimant (the table is full afterwards).
#[test]
fn a_real_death_is_retired_and_taken_over_while_a_reader_sweeps() {
    builder().check(|| {
        let q = heap::<u32>(2).unwrap();
        let dying = q.join(DYING, all_alive).unwrap();
        let locals = fill(&q);
        assert_eq!(locals.len(), QUEUE_MEMBERS - 1);
        let dead = Arc::new(AtomicBool::new(false));
        let alive = {
            let dead = dead.clone();
            // SeqCst: a model of the process table, not of the protocol under test.
            move |id: Identity| live(id) || (id == DYING && !dead.load(Ordering::SeqCst))
        };
        let death = {
            let dead = dead.clone();
            thread::spawn(move || {
                // Leaves its entry attached, claiming nothing (the queue is empty).
                assert!(!dying.crash_in_pop());
                dead.store(true, Ordering::SeqCst);
            })
        };
        let (q2, alive2) = (q.clone(), alive.clone());
        let claimant = thread::spawn(move || {
            loop {
                if let Ok(m) = q2.join(NEW, all_alive) {
                    return m;
                }
                q2.recover(&alive2).expect("recover");
                thread::yield_now();
            }
        });
        // As above: let the others run first in some schedules.
        thread::yield_now();
        q.recover(&alive).expect("recover");
        death.join().unwrap();
        let mine = claimant.join().unwrap();
        assert_eq!(q.recover(&alive), Ok(0), "nothing left to retire");
        assert_eq!(
            q.join(OLD, all_alive).err(),
            Some(ClaimError::TableFull {
                members: QUEUE_MEMBERS
            }),
            "the reader retired the live claimant"
        );
        drop((mine, locals));
    });
}
