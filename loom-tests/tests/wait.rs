//! Loom: the eventcount sleep/wake protocol, with the futex modelled as a real block
//! (shmlane's `primitive::futex` under `cfg(shmlane_loom)`): a lost wake-up leaves the
//! waiter blocked forever, which loom reports as a deadlock.
//!
//! The waits run the production loop, `wait::block_on` (through `shmlane::wait::model`,
//! which injects a deterministic clock and no deadline), with the pipes' fence request
//! or with the locks' `notify_fenced` protocol; only the plain `prepare_wait` /
//! `cancel_wait` / `wait` sequence of the public `EventCount` API is spelled out here.
//! Waits use `WaitMode::Sleep` (no spinning phase: the model's executions stay few).
//!
//! The notifier's half of the asymmetric fence is modelled as a lock around its load of
//! the sleeper count, the waiter's `membarrier` as one pass through the same lock
//! (`primitive::membarrier` in the crate explains why that is faithful).
//!
//! Two mutant builds show that the model sees the bugs it guards: with
//! `--cfg shmlane_mutant_no_membarrier` (the waiter skips its heavy half) the tests of
//! plain `prepare_wait` and of a fence request made while a notify is in flight fail;
//! with `--cfg shmlane_mutant_no_fence` (the notifier ignores fence requests, and
//! `notify_fenced` does not fence) the tests of a waiter holding a request and of the
//! locks' protocol fail.
#![cfg(shmlane_loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicU32, Ordering};
use loom::thread;
use shmlane::WaitMode;
use shmlane::error::PopError;
use shmlane::ring::spsc::heap;
use shmlane::wait::EventCount;
use shmlane::wait::model::{Waiter, wait_until_fenced};
use std::time::{Duration, Instant};

fn far() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}

/// The public API's sleep sequence with a heavy half per sleep (`prepare_wait`).
fn wait_until(ec: &EventCount, cond: impl Fn() -> bool) {
    loop {
        if cond() {
            return;
        }
        let key = ec.prepare_wait();
        if cond() {
            ec.cancel_wait();
            return;
        }
        ec.wait(key, far());
    }
}

/// Sets the flag (Relaxed: the eventcount's fences alone must order it) and notifies.
fn spawn_notifier(ec: &Arc<EventCount>, flag: &Arc<AtomicU32>) -> thread::JoinHandle<()> {
    let (ec, flag) = (ec.clone(), flag.clone());
    thread::spawn(move || {
        flag.store(1, Ordering::Relaxed);
        ec.notify();
    })
}

#[test]
#[cfg_attr(shmlane_mutant_no_membarrier, should_panic(expected = "deadlock"))]
fn eventcount_never_loses_a_wakeup() {
    loom::model(|| {
        let ec = Arc::new(EventCount::new());
        let flag = Arc::new(AtomicU32::new(0));
        let notifier = spawn_notifier(&ec, &flag);
        wait_until(&ec, || flag.load(Ordering::Relaxed) == 1);
        notifier.join().unwrap();
    });
}

#[test]
#[cfg_attr(shmlane_mutant_no_membarrier, should_panic(expected = "deadlock"))]
fn two_waiters_both_wake() {
    loom::model(|| {
        let ec = Arc::new(EventCount::new());
        let flag = Arc::new(AtomicU32::new(0));
        let waiter = {
            let (ec, flag) = (ec.clone(), flag.clone());
            thread::spawn(move || wait_until(&ec, || flag.load(Ordering::Relaxed) == 1))
        };
        let notifier = spawn_notifier(&ec, &flag);
        wait_until(&ec, || flag.load(Ordering::Relaxed) == 1);
        notifier.join().unwrap();
        waiter.join().unwrap();
    });
}

/// A pipe end that holds a fence request before the notifier starts (it slept before)
/// sleeps in `block_on` without `membarrier`: the notifier sees the request and fences.
#[test]
#[cfg_attr(shmlane_mutant_no_fence, should_panic(expected = "deadlock"))]
fn fence_request_never_loses_a_wakeup() {
    loom::model(|| {
        let ec = Arc::new(EventCount::new());
        let mut waiter = Waiter::holding_request(&ec);
        let flag = Arc::new(AtomicU32::new(0));
        let notifier = spawn_notifier(&ec, &flag);
        waiter.wait_until(&ec, WaitMode::Sleep, || flag.load(Ordering::Relaxed) == 1);
        notifier.join().unwrap();
        waiter.withdraw(&ec);
        assert_eq!(ec.fence_requests(), 0);
    });
}

/// A pipe end's first sleep makes its request while a notify is in flight: the notify
/// may miss the request, and the request's own heavy half must then make its publish
/// visible (and a notify that does see the request must fence).
#[test]
#[cfg_attr(
    any(shmlane_mutant_no_fence, shmlane_mutant_no_membarrier),
    should_panic(expected = "deadlock")
)]
fn fence_request_covers_a_notify_in_flight() {
    loom::model(|| {
        let ec = Arc::new(EventCount::new());
        let flag = Arc::new(AtomicU32::new(0));
        let notifier = spawn_notifier(&ec, &flag);
        let mut waiter = Waiter::default();
        waiter.wait_until(&ec, WaitMode::Sleep, || flag.load(Ordering::Relaxed) == 1);
        notifier.join().unwrap();
        waiter.withdraw(&ec);
        assert_eq!(ec.fence_requests(), 0);
    });
}

/// One sleep, two notifiers: the second may skip its wake because the first claimed it
/// (`WOKEN`), and the waiter must still see both publishes; a waiter that re-arms
/// after the first wake must get the second.
#[test]
#[cfg_attr(shmlane_mutant_no_fence, should_panic(expected = "deadlock"))]
fn a_skipped_wake_loses_nothing() {
    loom::model(|| {
        let ec = Arc::new(EventCount::new());
        let mut waiter = Waiter::holding_request(&ec);
        let (a, b) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
        let na = spawn_notifier(&ec, &a);
        let nb = spawn_notifier(&ec, &b);
        waiter.wait_until(&ec, WaitMode::Sleep, || {
            a.load(Ordering::Relaxed) == 1 && b.load(Ordering::Relaxed) == 1
        });
        na.join().unwrap();
        nb.join().unwrap();
        waiter.withdraw(&ec);
    });
}

/// The locks' protocol: waiters announce with a plain fence, notifiers always fence.
#[test]
#[cfg_attr(shmlane_mutant_no_fence, should_panic(expected = "deadlock"))]
fn notify_fenced_never_loses_a_wakeup() {
    loom::model(|| {
        let ec = Arc::new(EventCount::new());
        let flag = Arc::new(AtomicU32::new(0));
        let notifier = {
            let (ec, flag) = (ec.clone(), flag.clone());
            thread::spawn(move || {
                flag.store(1, Ordering::Relaxed);
                ec.notify_fenced();
            })
        };
        wait_until_fenced(&ec, WaitMode::Sleep, || flag.load(Ordering::Relaxed) == 1);
        notifier.join().unwrap();
        assert_eq!(ec.sleepers(), 0);
    });
}

/// The ring and the eventcount together: a consumer that sleeps (in `block_on`, with
/// its fence request, as a pipe receiver does) whenever the ring is empty still
/// receives every value. Its first sleep makes the fence request (the heavy half), the
/// second sleeps on it (the notifier's fence).
#[test]
#[cfg_attr(
    any(shmlane_mutant_no_fence, shmlane_mutant_no_membarrier),
    should_panic(expected = "deadlock")
)]
fn ring_consumer_sleeps_and_is_woken() {
    loom::model(|| {
        let (mut tx, mut rx) = heap::<u32>(2).unwrap();
        let p = thread::spawn(move || {
            tx.push(7).unwrap();
            tx.push(8).unwrap();
            tx // keep the producer attached
        });
        let mut waiter = Waiter::default();
        for want in [7, 8] {
            loop {
                match rx.pop() {
                    Ok(v) => {
                        assert_eq!(v, want);
                        break;
                    }
                    Err(PopError::Empty) => {
                        // A second view of the eventcount, as the pipes take a second
                        // handle on the ring (`pipe::waits`), so the poll may borrow
                        // `rx` mutably.
                        let ec: *const EventCount = rx.data_event();
                        // SAFETY: the eventcount lives in the ring's memory, which `rx`
                        // keeps alive and in place for the whole call; it is only ever
                        // accessed through shared references (atomics).
                        let ec = unsafe { &*ec };
                        waiter.wait_until(ec, WaitMode::Sleep, || rx.available().unwrap() > 0);
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }
        waiter.withdraw(rx.data_event());
        drop(p.join().unwrap());
    });
}
