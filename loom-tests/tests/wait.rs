//! Loom: the eventcount sleep/wake protocol, with the futex modelled as a real block
//! (shmlane's `primitive::futex` under `cfg(shmlane_loom)`): a lost wake-up leaves the
//! waiter blocked forever, which loom reports as a deadlock.
//!
//! Built with `--cfg shmlane_mutant_no_fence` (the notifier's fence removed), these
//! tests are expected to fail: that run shows the model can see the bug it guards.
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

/// Waits for `cond` through the eventcount, exactly as `wait::block_on` does once its
/// spin phase is over.
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
#[cfg_attr(shmlane_mutant_no_fence, should_panic(expected = "deadlock"))]
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
#[cfg_attr(shmlane_mutant_no_fence, should_panic(expected = "deadlock"))]
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

/// The ring and the eventcount together: a consumer that sleeps whenever the ring is
/// empty still receives every value.
#[test]
#[cfg_attr(shmlane_mutant_no_fence, should_panic(expected = "deadlock"))]
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
