//! Cross-process locks, values and signals with real processes: exact sums under the
//! mutex, a SIGKILLed holder, an event waking three processes, a barrier releasing all,
//! a bounded semaphore, a condvar hand-off, and timeouts.

mod common;

use common::{kill9, peer, result, role, spawn_ready, unique, wait_ready};
use shmlane::error::{LockTimeoutError, TimedOut, TryLockError, WaitTimeoutError};
use shmlane::sync::{Barrier, Condvar, Event, LockError, Mutex, Semaphore, SharedArray};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Child-process entry point (ignored in normal runs; see `common::peer`).
#[test]
#[ignore]
fn peer_main() {
    let Some((role, args)) = role() else { return };
    match role.as_str() {
        "increment" => {
            let m = Mutex::<u64>::open(&args[0]).unwrap();
            let n: u64 = args[1].parse().unwrap();
            for _ in 0..n {
                *m.lock().unwrap() += 1;
            }
        }
        "lock-and-hold" => {
            let m = Mutex::<u64>::open(&args[0]).unwrap();
            let mut g = m.lock().unwrap();
            *g = 99; // a half-done update, then death
            println!("READY");
            std::thread::sleep(Duration::from_secs(600));
        }
        "wait-event" => {
            let e = Event::open(&args[0]).unwrap();
            println!("READY");
            assert_eq!(e.wait_timeout(Duration::from_secs(60)), Ok(()), "not woken");
        }
        "barrier" => {
            let b = Barrier::open(&args[0]).unwrap();
            let leader = b.wait();
            println!("RESULT {}", u8::from(leader));
        }
        "semaphore" => {
            let s = Semaphore::open(&args[0]).unwrap();
            let gauge = SharedArray::<u64>::open(&args[1]).unwrap();
            // SAFETY: the gauge is only used through atomics (no lock, no to_vec)
            // while the children run; the parent reads it after they exited.
            let g = unsafe { gauge.atomics_u64() }.unwrap();
            for _ in 0..200 {
                s.acquire();
                let inside = g[0].fetch_add(1, Ordering::SeqCst) + 1;
                g[1].fetch_max(inside, Ordering::SeqCst);
                std::thread::yield_now();
                g[0].fetch_sub(1, Ordering::SeqCst);
                s.release().unwrap();
            }
        }
        "condvar-consumer" => {
            let m = Mutex::<u64>::open(&args[0]).unwrap();
            let cv = Condvar::open(&args[1]).unwrap();
            let mut sum = 0;
            let mut g = m.lock().unwrap();
            loop {
                while *g == 0 {
                    g = cv.wait(g).unwrap();
                }
                if *g == u64::MAX {
                    break;
                }
                sum += *g;
                *g = 0;
                cv.notify_all();
            }
            println!("RESULT {sum}");
        }
        "hold-then-release" => {
            let m = Mutex::<u64>::open(&args[0]).unwrap();
            let mut g = m.lock().unwrap();
            println!("READY");
            std::thread::sleep(Duration::from_millis(600)); // a dozen 50 ms ticks
            *g = 42;
            drop(g);
            std::thread::sleep(Duration::from_millis(100));
        }
        "create-and-hold" => {
            let _m = Mutex::create(&args[0], 0u64).unwrap();
            println!("READY");
            std::thread::sleep(Duration::from_secs(600));
        }
        _ => panic!("unknown role {role}"),
    }
}

fn watchdog() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

/// `n` peers in `role`, all with `args`.
fn spawn_n(role: &str, args: &[String], n: usize) -> Vec<std::process::Child> {
    (0..n).map(|_| peer(role, args).spawn().unwrap()).collect()
}

/// Waits for every child to exit successfully, under one watchdog.
fn wait_all_ok(kids: &mut [std::process::Child]) {
    let d = watchdog();
    for k in kids {
        wait_ok(k, d);
    }
}

fn wait_ok(child: &mut std::process::Child, deadline: Instant) {
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            assert!(s.success(), "child failed");
            return;
        }
        assert!(Instant::now() < deadline, "child hung");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// 4 processes × 20 000 increments under the mutex: exactly 80 000.
#[test]
fn mutex_exact_sum_across_processes() {
    let name = unique("mx");
    let m = Mutex::create(&name, 0u64).unwrap();
    let mut kids = spawn_n("increment", &[name.clone(), "20000".into()], 4);
    wait_all_ok(&mut kids);
    assert_eq!(*m.lock().unwrap(), 80_000);
}

/// The holder is SIGKILLed: the next locker gets `OwnerDied` with the lock held, sees
/// the half-done update, marks it consistent, and later locks are clean.
#[test]
fn killed_holder_gives_owner_died_and_the_lock() {
    let name = unique("mxk");
    let m = Mutex::create(&name, 0u64).unwrap();
    let mut child = spawn_ready("lock-and-hold", std::slice::from_ref(&name));
    assert!(
        matches!(m.try_lock(), Err(TryLockError::WouldBlock)),
        "held by the child"
    );
    kill9(&mut child);
    let g = match m.lock() {
        Err(LockError::OwnerDied(g)) => g,
        other => panic!("expected OwnerDied: {other:?}"),
    };
    assert_eq!(*g, 99, "the dead owner's write is visible");
    g.mark_consistent();
    drop(g);
    assert!(m.lock().is_ok(), "consistent again");
}

/// A live peer that has the object open holds the lock for many ticks: the waiter
/// waits for it (a live user is never judged an impossible holder) and gets the lock
/// with the peer's write once it is released.
#[test]
fn a_live_user_holding_the_lock_for_long_is_waited_for() {
    let name = unique("mxlong");
    let m = Mutex::create(&name, 0u64).unwrap();
    let child = spawn_ready("hold-then-release", std::slice::from_ref(&name));
    let g = m.lock().expect("waited for the live holder");
    assert_eq!(*g, 42);
    drop(g);
    let (status, _) = result(child);
    assert!(status.success());
}

/// An event set in this process wakes waiters in three others.
#[test]
fn event_wakes_three_processes() {
    let name = unique("ev");
    let e = Event::create(&name).unwrap();
    let mut kids = spawn_n("wait-event", std::slice::from_ref(&name), 3);
    for k in &mut kids {
        wait_ready(k);
    }
    e.set();
    wait_all_ok(&mut kids);
}

/// Four processes meet at a barrier: nobody passes before the last arrives, all pass
/// after, and exactly one is the leader.
#[test]
fn barrier_releases_all_processes_together() {
    let name = unique("bar");
    let _b = Barrier::create(&name, 4).unwrap();
    let mut kids = spawn_n("barrier", std::slice::from_ref(&name), 3);
    std::thread::sleep(Duration::from_millis(100));
    for k in &mut kids {
        assert!(
            k.try_wait().unwrap().is_none(),
            "passed a barrier of 4 with 3"
        );
    }
    kids.push(
        peer("barrier", std::slice::from_ref(&name))
            .spawn()
            .unwrap(),
    );
    let leaders: u32 = kids
        .into_iter()
        .map(|k| {
            let (status, line) = result(k);
            assert!(status.success());
            line.parse::<u32>().unwrap()
        })
        .sum();
    assert_eq!(leaders, 1);
}

/// A semaphore of 2 shared by 4 processes: never more than 2 inside at once.
#[test]
fn semaphore_bounds_concurrency_across_processes() {
    let (sname, gname) = (unique("sem"), unique("gauge"));
    let s = Semaphore::create(&sname, 2, 2).unwrap();
    let gauge = SharedArray::<u64>::create(&gname, &[0, 0]).unwrap();
    let mut kids = spawn_n("semaphore", &[sname.clone(), gname.clone()], 4);
    wait_all_ok(&mut kids);
    let v = gauge.to_vec().unwrap();
    assert_eq!(v[0], 0);
    assert!((1..=2).contains(&v[1]), "max inside: {}", v[1]);
    assert_eq!(s.value(), 2);
    assert!(s.release().is_err(), "bounded");
}

/// A condvar hand-off between processes: 1..=1000 passed one at a time.
#[test]
fn condvar_hand_off_across_processes() {
    let (mname, cname) = (unique("cvm"), unique("cv"));
    let m = Mutex::create(&mname, 0u64).unwrap();
    let cv = Condvar::create(&cname).unwrap();
    let child = peer("condvar-consumer", &[mname.clone(), cname.clone()])
        .spawn()
        .unwrap();
    for v in (1..=1000u64).chain([u64::MAX]) {
        let mut g = m.lock().unwrap();
        while *g != 0 {
            g = match cv.wait_timeout(g, Duration::from_secs(10)) {
                Ok(g) | Err(WaitTimeoutError::Timeout(g)) => g,
                Err(e) => panic!("{e}"),
            };
        }
        *g = v;
        cv.notify_all();
    }
    let (status, line) = result(child);
    assert!(status.success());
    assert_eq!(line, (1..=1000u64).sum::<u64>().to_string());
}

/// Every blocking call has a timeout that returns.
#[test]
fn timeouts_return() {
    let short = Duration::from_millis(20);
    let m = Mutex::anonymous(0u32).unwrap();
    let _g = m.lock().unwrap();
    let m2 = m.clone();
    let t = std::thread::spawn(move || {
        matches!(m2.lock_timeout(short), Err(LockTimeoutError::Timeout))
    });
    assert!(t.join().unwrap(), "lock_timeout on a held lock");
    assert_eq!(
        Event::anonymous().unwrap().wait_timeout(short),
        Err(TimedOut)
    );
    assert!(
        Semaphore::anonymous(0, 1)
            .unwrap()
            .acquire_timeout(short)
            .is_err()
    );
    let b = Barrier::anonymous(2).unwrap();
    assert!(b.wait_timeout(short).is_err());
    // The timed-out arrival was withdrawn: two new arrivals complete the barrier.
    let b2 = b.clone();
    let t = std::thread::spawn(move || b2.wait());
    let leader = b.wait();
    assert!(leader ^ t.join().unwrap(), "exactly one leader");
}

/// A named object whose creator was SIGKILLed stays while another process has it open
/// (that process holds an entry of the object's user table): not stale, and a `create`
/// of the name fails instead of replacing it under its users. Once closed, it is stale
/// and `create` reclaims the name.
#[test]
fn killed_creator_object_is_kept_while_open_then_reclaimed() {
    use shmlane::error::CreateError;
    let name = unique("mxstale");
    let mut child = spawn_ready("create-and-hold", std::slice::from_ref(&name));
    let opened = Mutex::<u64>::open(&name).unwrap();
    *opened.lock().unwrap() = 7;
    let listed = || {
        shmlane::segment::list()
            .into_iter()
            .find(|i| i.name == name)
            .expect("listed")
    };
    let info = listed();
    assert_eq!(info.kind, Some(shmlane::layout::SegmentKind::Mutex));
    assert_eq!(
        info.endpoints.len(),
        2,
        "creator's entry and ours: {info:?}"
    );
    kill9(&mut child);
    assert!(!listed().stale, "still open here");
    assert!(matches!(
        Mutex::create(&name, 0u64),
        Err(CreateError::AlreadyExists(_))
    ));
    let again = Mutex::<u64>::open(&name).unwrap();
    assert_eq!(*again.lock().unwrap(), 7, "the same object");
    drop((opened, again));
    assert!(listed().stale, "nobody alive has it open");
    let fresh = Mutex::create(&name, 1u64).expect("stale object reclaimed");
    assert_eq!(*fresh.lock().unwrap(), 1);
}
