//! Loom: the eventcount sleep/wake protocol, with the futex modelled as a real block
//! (shmlane's `primitive::futex` under `cfg(shmlane_loom)`): a lost wake-up leaves the
//! waiter blocked forever, which loom reports as a deadlock.
//!
//! The notifier's half of the asymmetric fence is modelled as a lock around its load of
//! the sleeper count, the waiter's `membarrier` as one pass through the same lock
//! (`primitive::membarrier` in the crate explains why that is faithful).
//!
//! Two mutant builds show that the model sees the bugs it guards: with
//! `--cfg shmlane_mutant_no_membarrier` (the waiter skips its heavy half) the tests of
//! plain `prepare_wait` fail; with `--cfg shmlane_mutant_no_fence` (the notifier ignores
//! fence requests) the tests of a waiter holding a request fail.
#![cfg(shmlane_loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicU32, Ordering};
use loom::thread;
use shmlane::error::PopError;
use shmlane::ring::spsc::heap;
use shmlane::wait::EventCount;
use std::time::{Duration, Instant};

fn far() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}

/// Waits for `cond` through the eventcount, as `wait::block_on` does once its spin
/// phase is over: with `prepare_wait` (heavy half per sleep), or, for a waiter holding
/// a fence request, with `prepare_wait_fenced`.
fn wait_until(ec: &EventCount, cond: impl Fn() -> bool) {
    wait_until_with(ec, EventCount::prepare_wait, cond);
}

fn wait_until_with(ec: &EventCount, prepare: fn(&EventCount) -> u32, cond: impl Fn() -> bool) {
    loop {
        if cond() {
            return;
        }
        let key = prepare(ec);
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

/// A waiter that holds a fence request before the notifier starts sleeps with a plain
/// fence (`prepare_wait_fenced`): the notifier sees the request and fences fully.
#[test]
#[cfg_attr(shmlane_mutant_no_fence, should_panic(expected = "deadlock"))]
fn fence_request_never_loses_a_wakeup() {
    loom::model(|| {
        let ec = Arc::new(EventCount::new());
        ec.request_fence();
        let flag = Arc::new(AtomicU32::new(0));
        let notifier = spawn_notifier(&ec, &flag);
        wait_until_with(&ec, EventCount::prepare_wait_fenced, || {
            flag.load(Ordering::Relaxed) == 1
        });
        notifier.join().unwrap();
        ec.withdraw_fence();
        assert_eq!(ec.fence_requests(), 0);
    });
}

/// A request made while a notify is in flight: the notify may miss the request, and
/// the request's own heavy half must then make its publish visible.
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
        ec.request_fence();
        wait_until_with(&ec, EventCount::prepare_wait_fenced, || {
            flag.load(Ordering::Relaxed) == 1
        });
        notifier.join().unwrap();
        ec.withdraw_fence();
    });
}

/// The ring and the eventcount together: a consumer that sleeps whenever the ring is
/// empty still receives every value.
#[test]
#[cfg_attr(shmlane_mutant_no_membarrier, should_panic(expected = "deadlock"))]
fn ring_consumer_sleeps_and_is_woken() {
    loom::model(|| {
        let (mut tx, mut rx) = heap::<u32>(2).unwrap();
        let p = thread::spawn(move || {
            tx.push(7).unwrap();
            tx.push(8).unwrap();
            tx // keep the producer attached
        });
        for want in [7, 8] {
            loop {
                match rx.pop() {
                    Ok(v) => {
                        assert_eq!(v, want);
                        break;
                    }
                    Err(PopError::Empty) => {
                        let key = rx.data_event().prepare_wait();
                        if rx.available().unwrap() > 0 {
                            rx.data_event().cancel_wait();
                        } else {
                            rx.data_event().wait(key, far());
                        }
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }
        drop(p.join().unwrap());
    });
}
