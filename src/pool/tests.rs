//! Unit tests of the pool handle over anonymous (and one named) segments.

use super::*;
use crate::error::ViewError;
use crate::ring::endpoint::Status;
use std::os::fd::AsFd;

fn pool(classes: &[Class]) -> Pool {
    Pool::anonymous(classes).unwrap()
}

fn one(size: usize, count: usize) -> Pool {
    pool(&[Class { size, count }])
}

#[test]
fn alloc_freeze_open_handle_round_trip() {
    let p = pool(&[
        Class {
            size: 128,
            count: 2,
        },
        Class {
            size: 8192,
            count: 2,
        },
    ]);
    let mut w = p.alloc(5000).unwrap();
    assert!(w.index() >= 2, "the second class");
    for (i, b) in w.iter_mut().enumerate() {
        *b = i as u8;
    }
    let r = w.freeze();
    let h = r.handle();
    assert_eq!((h.pool, h.len), (p.id(), 5000));
    let other = Pool::from_fd(p.as_fd().try_clone_to_owned().unwrap()).unwrap();
    assert_ne!(other.inner.m, p.inner.m, "a second member entry");
    let seen = other.open_handle(h).unwrap();
    assert!(seen.iter().enumerate().all(|(i, &b)| b == i as u8));
    assert_eq!(seen.handle(), h);
    drop(r);
    assert_eq!(p.stats().free, vec![2, 1], "still held by the other member");
    drop(seen);
    assert_eq!(p.stats().free, vec![2, 2]);
}

#[test]
fn forged_handles_are_typed_errors() {
    let p = one(256, 2);
    let held = p.alloc(10).unwrap().freeze();
    let h = held.handle();
    let forged = |f: BufHandle| p.open_handle(f).unwrap_err();
    assert_eq!(
        forged(BufHandle { index: 2, ..h }),
        HandleError::Forged { what: "index" }
    );
    assert_eq!(
        forged(BufHandle {
            generation: 1 << 30,
            ..h
        }),
        HandleError::Forged { what: "generation" }
    );
    assert_eq!(
        forged(BufHandle { len: 257, ..h }),
        HandleError::Forged { what: "len" }
    );
    // In range but not the frozen length: refused, by this process's hold and by the
    // join of a process that holds nothing yet.
    assert_eq!(
        forged(BufHandle { len: 11, ..h }),
        HandleError::Forged { what: "len" }
    );
    let other = Pool::from_fd(p.as_fd().try_clone_to_owned().unwrap()).unwrap();
    assert_eq!(
        other.open_handle(BufHandle { len: 11, ..h }).unwrap_err(),
        HandleError::Forged { what: "len" }
    );
    assert!(matches!(
        forged(BufHandle {
            generation: h.generation + 1,
            ..h
        }),
        HandleError::Stale { .. }
    ));
    // The refused join left nothing behind in the other member.
    drop(held);
    assert_eq!(p.stats().free, vec![2]);
}

#[test]
fn stale_handle_of_a_freed_and_reused_chunk() {
    let p = one(128, 1);
    let h = p.alloc(4).unwrap().freeze().handle();
    assert_eq!(
        p.open_handle(h).unwrap_err(),
        HandleError::Stale {
            index: h.index,
            generation: h.generation
        }
    );
    let reused = p.alloc(4).unwrap().freeze();
    assert_eq!(reused.handle().index, h.index);
    assert_ne!(reused.handle().generation, h.generation);
    assert!(matches!(p.open_handle(h), Err(HandleError::Stale { .. })));
    // A chunk being written is not joinable either.
    drop(reused);
    let w = p.alloc(4).unwrap();
    let writing = BufHandle {
        generation: w.grant.generation,
        ..h
    };
    assert!(matches!(
        p.open_handle(writing),
        Err(HandleError::Stale { .. })
    ));
}

#[test]
fn foreign_handle_is_refused() {
    let (a, b) = (one(128, 1), one(128, 1));
    let h = a.alloc(1).unwrap().freeze().handle();
    assert_eq!(
        b.open_handle(h).unwrap_err(),
        HandleError::Foreign {
            expected: b.id(),
            found: a.id()
        }
    );
}

#[test]
fn clones_and_double_opens_share_one_hold() {
    let p = one(128, 1);
    let a = p.alloc(3).unwrap().freeze();
    let b = a.clone();
    let c = p.open_handle(a.handle()).unwrap();
    let core = p.inner.core();
    assert_eq!(core.chunk(0).unwrap().holders, 1 << p.inner.m, "one bit");
    assert_eq!(p.inner.local().holds[0].count, 3);
    drop((a, b));
    assert_eq!(p.stats().free, vec![0]);
    drop(c);
    assert_eq!(p.stats().free, vec![1]);
    assert_eq!(p.inner.local().holds[0].count, 0);
}

#[test]
fn bufmut_drop_frees_the_chunk() {
    let p = one(128, 1);
    let w = p.alloc(1).unwrap();
    let g = w.grant;
    drop(w);
    let c = p.inner.core().chunk(0).unwrap();
    assert_eq!(
        (c.phase, c.generation),
        (crate::ring::pool::word::Phase::Free, g.generation)
    );
    p.try_alloc(1).unwrap();
}

#[test]
fn try_alloc_exhausted_then_succeeds_after_a_drop() {
    let p = pool(&[
        Class {
            size: 128,
            count: 2,
        },
        Class {
            size: 256,
            count: 1,
        },
    ]);
    let a = p.try_alloc(100).unwrap();
    let b = p.try_alloc(100).unwrap().freeze();
    assert_eq!(p.try_alloc(100).unwrap_err(), TryAllocError::Exhausted);
    // No fall-back to the larger class (design O2), but that class works.
    let c = p.try_alloc(200).unwrap();
    assert_eq!(
        p.try_alloc(257).unwrap_err(),
        TryAllocError::TooLarge { len: 257, max: 256 }
    );
    drop(b);
    let d = p.try_alloc(100).unwrap();
    drop((a, c, d));
    assert_eq!(p.stats().free, vec![2, 1]);
}

#[test]
fn alloc_timeout_times_out() {
    let p = one(128, 1);
    let _held = p.alloc(1).unwrap();
    for mode in [WaitMode::Blocking, WaitMode::Spin, WaitMode::Sleep] {
        let mut q = p.clone();
        q.set_wait_mode(mode);
        assert_eq!(
            q.alloc_timeout(1, Duration::from_millis(20)).unwrap_err(),
            AllocTimeoutError::Timeout
        );
    }
}

#[test]
fn a_blocked_alloc_is_woken_by_a_drop_in_another_thread() {
    let p = one(128, 1);
    let held = p.alloc(1).unwrap().freeze();
    let q = p.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        tx.send(()).unwrap();
        // Far longer than any test run: a lost wake-up shows as this timeout.
        q.alloc_timeout(1, Duration::from_secs(60))
            .map(|b| b.index())
    });
    rx.recv().unwrap();
    // Let the waiter get to sleep most of the time (not needed for correctness).
    std::thread::sleep(Duration::from_millis(20));
    drop(held);
    assert_eq!(waiter.join().unwrap(), Ok(0));
}

#[test]
fn a_blocked_alloc_is_woken_by_a_drop_in_another_member() {
    let p = one(128, 1);
    let other = Pool::from_fd(p.as_fd().try_clone_to_owned().unwrap()).unwrap();
    let held = other.alloc(1).unwrap().freeze();
    let reader = p.open_handle(held.handle()).unwrap();
    drop(held);
    let waiter = std::thread::spawn(move || p.alloc(1).map(|b| b.index()));
    std::thread::sleep(Duration::from_millis(20));
    drop(reader); // the last holder, in the waiter's own member (a clone's view)
    assert_eq!(waiter.join().unwrap(), Ok(0));
}

#[test]
fn typed_views() {
    let p = one(4096, 1);
    let mut w = p.alloc(12).unwrap();
    w.as_mut_slice_of::<u32>()
        .unwrap()
        .copy_from_slice(&[1, 2, 3]);
    assert_eq!(
        w.as_mut_slice_of::<u64>().unwrap_err(),
        ViewError::Length { len: 12, size: 8 }
    );
    #[derive(Clone, Copy, Debug, bytemuck::Zeroable, bytemuck::Pod)]
    #[repr(C, align(256))]
    struct Big([u8; 256]);
    assert_eq!(
        w.as_mut_slice_of::<Big>().unwrap_err(),
        ViewError::Align { align: 256 }
    );
    let r = w.freeze();
    assert_eq!(r.as_slice_of::<u32>().unwrap(), &[1, 2, 3]);
    assert_eq!(
        r.as_slice_of::<[u8; 5]>().unwrap_err(),
        ViewError::Length { len: 12, size: 5 }
    );
}

#[test]
fn bad_class_tables_are_refused_at_create() {
    for bad in [
        &[][..],
        &[Class {
            size: 100,
            count: 1,
        }],
        &[Class { size: 0, count: 1 }],
        &[Class {
            size: 128,
            count: 0,
        }],
        &[
            Class {
                size: 256,
                count: 1,
            },
            Class {
                size: 128,
                count: 1,
            },
        ],
        &[Class {
            size: 128,
            count: (1 << 20) + 1,
        }],
        &[Class {
            size: 128,
            count: 1,
        }; 9],
    ] {
        assert!(
            matches!(
                Pool::anonymous(bad),
                Err(CreateError::InvalidParameter { .. })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn open_or_create_checks_the_class_table() {
    let name = format!("unit-pool-ooc-{}", std::process::id());
    let classes = [Class {
        size: 128,
        count: 2,
    }];
    let _a = Pool::create(&name, &classes).unwrap();
    Pool::open_or_create(&name, &classes).unwrap();
    assert!(matches!(
        Pool::open_or_create(
            &name,
            &[Class {
                size: 128,
                count: 3
            }]
        ),
        Err(OpenError::LayoutMismatch {
            field: "pool class count",
            expected: 3,
            found: 2
        })
    ));
}

/// Writes `bytes` at `offset` of the named segment's file (a scribbler with write access).
fn scribble(name: &str, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/dev/shm/shmlane.{name}"))
        .unwrap();
    f.write_all_at(bytes, offset).unwrap();
}

#[test]
fn open_rejects_a_corrupted_pool_info() {
    use crate::layout::POOL_INFO_OFFSET as INFO;
    let name = format!("unit-pool-info-{}", std::process::id());
    let classes = [
        Class {
            size: 128,
            count: 2,
        },
        Class {
            size: 256,
            count: 3,
        },
    ];
    let a = Pool::create(&name, &classes).unwrap();
    let good = zerocopy::IntoBytes::as_bytes(&a.inner.info).to_vec();
    let u32b = |v: u32| v.to_ne_bytes().to_vec();
    let u64b = |v: u64| v.to_ne_bytes().to_vec();
    let cases = [
        (12, u32b(31), "pool members"),
        (8, u32b(3), "pool classes (header param)"),
        (24, u64b(200), "pool chunk size (multiple of 128)"),
        (40, u64b(64), "pool chunk size (increasing)"),
        (32, u64b(0), "pool class count"),
        (32, u64b(3), "pool chunks (sum of counts)"),
    ];
    for (offset, bytes, want) in cases {
        scribble(&name, INFO + offset, &bytes);
        match Pool::open(&name) {
            Err(OpenError::LayoutMismatch { field, .. }) if field == want => {}
            other => panic!("offset {offset}: {other:?}, expected {want}"),
        }
        scribble(&name, INFO, &good);
        Pool::open(&name).unwrap();
    }
    // Both values named: a count changed from 2 to 3 makes Σ 6 where the header says 5.
    scribble(&name, INFO + 32, &3u64.to_ne_bytes());
    assert!(matches!(
        Pool::open(&name),
        Err(OpenError::LayoutMismatch {
            expected: 5,
            found: 6,
            ..
        })
    ));
    scribble(&name, INFO, &good);
    drop(a);
}

#[test]
fn a_dead_members_holds_are_recovered() {
    let p = one(128, 2);
    let other = Pool::from_fd(p.as_fd().try_clone_to_owned().unwrap()).unwrap();
    let held = other.alloc(1).unwrap().freeze();
    let reader = p.open_handle(held.handle()).unwrap();
    // Make the other member look dead: its entry names a pid that does not exist.
    let m = other.inner.m as usize;
    let dead = crate::ring::endpoint::pack(
        Identity {
            pid: 0x7fff_fff0,
            start: 1,
        },
        Status::Attached,
    );
    let ep = &p.inner.view.members()[m];
    ep.word.store(dead, Ordering::SeqCst);
    assert_eq!(p.recover().unwrap(), 0, "still held by our reader");
    assert_eq!(p.stats().reclaimed, 1);
    assert_eq!(
        crate::ring::endpoint::status(ep.word.load(Ordering::SeqCst)),
        Status::Closed
    );
    drop(reader);
    assert_eq!(p.stats().free, vec![2]);
    // The "dead" member's own drops now find their bit gone: counted, nothing changes.
    drop(held);
    assert_eq!(p.stats().free, vec![2]);
    assert_eq!(p.inner.view.state().corrupt.load(Ordering::Relaxed), 1);
    drop(other);
}

#[test]
fn parked_holds_drop_once_consumed() {
    let p = one(128, 1);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d = done.clone();
    p.park(
        p.alloc(1).unwrap().freeze(),
        Box::new(move || d.load(Ordering::SeqCst)),
    );
    assert_eq!(p.stats().free, vec![0]);
    assert_eq!(p.try_alloc(1).unwrap_err(), TryAllocError::Exhausted);
    done.store(true, Ordering::SeqCst);
    p.try_alloc(1).unwrap();
}

#[test]
fn the_member_table_fills_at_32() {
    let p = one(128, 1);
    let mut v = Vec::new();
    for _ in 1..32 {
        v.push(Pool::from_fd(p.as_fd().try_clone_to_owned().unwrap()).unwrap());
    }
    assert!(matches!(
        Pool::from_fd(p.as_fd().try_clone_to_owned().unwrap()),
        Err(OpenError::Claim(crate::error::ClaimError::TableFull {
            members: 32
        }))
    ));
    v.pop();
    v.push(Pool::from_fd(p.as_fd().try_clone_to_owned().unwrap()).unwrap());
}

/// Makes member `m` of `p` look dead: its entry names a pid that does not exist.
fn fake_death(p: &Pool, m: u32) {
    let dead = crate::ring::endpoint::pack(
        Identity {
            pid: 0x7fff_fff0,
            start: 1,
        },
        Status::Attached,
    );
    p.inner.view.members()[m as usize]
        .word
        .store(dead, Ordering::SeqCst);
}

#[test]
fn an_allocation_miss_recovers_a_dead_members_chunks() {
    let p = one(128, 2);
    let other = Pool::from_fd(p.as_fd().try_clone_to_owned().unwrap()).unwrap();
    let (a, b) = (other.alloc(1).unwrap(), other.alloc(1).unwrap().freeze());
    assert_eq!(p.try_alloc(1).unwrap_err(), TryAllocError::Exhausted);
    fake_death(&p, other.inner.m);
    // At most one recovery per tick per handle: a fresh clone's first miss may have
    // run one just now; a blocked alloc recovers on its next tick anyway.
    let got = p.alloc_timeout(1, Duration::from_secs(60)).unwrap();
    let again = p.alloc_timeout(1, Duration::from_secs(60)).unwrap();
    assert_ne!(got.index(), again.index());
    assert_eq!(p.stats().reclaimed, 2);
    drop((got, again));
    assert_eq!(p.stats().free, vec![2]);
    std::mem::forget((a, b, other)); // a dead process drops nothing
}

#[test]
fn gc_recovers_a_live_pools_dead_members() {
    let name = format!("unit-pool-gc-{}", std::process::id());
    let p = Pool::create(
        &name,
        &[Class {
            size: 128,
            count: 1,
        }],
    )
    .unwrap();
    let other = Pool::open(&name).unwrap();
    let held = other.alloc(1).unwrap().freeze();
    fake_death(&p, other.inner.m);
    let removed = crate::segment::gc_only(|o| o == format!("shmlane.{name}"));
    assert!(removed.is_empty(), "in use: kept");
    assert_eq!(p.stats().reclaimed, 1);
    assert_eq!(p.stats().free, vec![1]);
    std::mem::forget((held, other));
}

#[test]
fn the_last_handle_drops_consumed_parked_holds_and_orphans_the_rest() {
    let p = one(128, 2);
    let observer = Pool::from_fd(p.as_fd().try_clone_to_owned().unwrap()).unwrap();
    let q = p.clone();
    p.park(p.alloc(1).unwrap().freeze(), Box::new(|| true));
    p.park(p.alloc(1).unwrap().freeze(), Box::new(|| false));
    drop(p);
    assert_eq!(
        observer.stats().free,
        vec![0],
        "a clone is left: nothing checked yet"
    );
    drop(q);
    // The consumed hold is gone; the other is orphaned (its bit kept, the member entry
    // released), so the observer's recovery adopts it.
    assert_eq!(observer.stats().free, vec![1]);
    assert_eq!(observer.recover().unwrap(), 1);
    assert_eq!(observer.stats().free, vec![2]);
}

#[test]
fn a_blocking_alloc_miss_drops_consumed_parked_holds_first() {
    let p = one(128, 1);
    p.park(p.alloc(1).unwrap().freeze(), Box::new(|| true));
    // Without the check on the miss this waits for the first tick; with a deadline
    // shorter than a tick it then times out.
    p.alloc_timeout(1, Duration::from_millis(10)).unwrap();
}

#[test]
fn ls_lists_a_pool_and_calls_a_bad_class_table_malformed() {
    let name = format!("unit-pool-ls-{}", std::process::id());
    let p = Pool::create(
        &name,
        &[Class {
            size: 128,
            count: 1,
        }],
    )
    .unwrap();
    let find = || {
        crate::segment::list()
            .into_iter()
            .find(|i| i.name == name)
            .unwrap()
    };
    let info = find();
    assert_eq!((info.kind, info.malformed), (Some(SegmentKind::Pool), None));
    assert_eq!(
        info.endpoints.len(),
        1,
        "our member entry: {:?}",
        info.endpoints
    );
    let good = zerocopy::IntoBytes::as_bytes(&p.inner.info).to_vec();
    scribble(
        &name,
        crate::layout::POOL_INFO_OFFSET + 12,
        &31u32.to_ne_bytes(),
    );
    let why = find().malformed.unwrap();
    assert!(why.contains("pool members"), "{why}");
    scribble(&name, crate::layout::POOL_INFO_OFFSET, &good);
}

#[test]
fn handles_and_views_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Pool>();
    send_sync::<Buf>();
    send_sync::<BufMut>();
    fn pod<T: bytemuck::Pod>() {}
    pod::<BufHandle>();
    assert_eq!(core::mem::size_of::<BufHandle>(), 24);
}

/// Runs `free` with a waiter announced on `class`'s eventcount; true if it was woken
/// (the epoch moved). No timing: the announcement is made by hand, nobody sleeps.
fn wakes(p: &Pool, class: usize, free: impl FnOnce()) -> bool {
    let ec = p.inner.view.wait(class);
    let before = ec.prepare_wait_fenced();
    free();
    let after = ec.prepare_wait_fenced();
    ec.cancel_wait();
    ec.cancel_wait();
    before != after
}

#[test]
fn every_freeing_release_wakes_the_class() {
    let p = pool(&[
        Class {
            size: 128,
            count: 1,
        },
        Class {
            size: 256,
            count: 1,
        },
    ]);
    let r = p.alloc(200).unwrap().freeze();
    let r2 = r.clone();
    assert!(
        !wakes(&p, 1, || drop(r)),
        "a clone still holds it: nothing freed"
    );
    assert!(
        wakes(&p, 1, || drop(r2)),
        "the last view of a frozen buffer"
    );
    let w = p.alloc(200).unwrap();
    assert!(wakes(&p, 1, || drop(w)), "a BufMut never frozen");
    let other = Pool::from_fd(p.as_fd().try_clone_to_owned().unwrap()).unwrap();
    let held = other.alloc(1).unwrap().freeze();
    fake_death(&p, other.inner.m);
    assert!(
        wakes(&p, 0, || assert_eq!(p.recover(), Ok(1))),
        "an adoption"
    );
    std::mem::forget((held, other));
}
