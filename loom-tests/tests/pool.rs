//! Loom: the buffer pool's chunk words and token bitmap (`shmlane::ring::pool`,
//! issue 14 design §6): no chunk handed out twice, no lost chunk or token without a
//! crash, exactly one `FREE` transition per buffer, a stale handle never reads a chunk
//! being rewritten, adoption racing a live release, and a blocked allocator woken by
//! the free that unblocks it (or, for a lost token, by its tick). Chunk bytes are a loom
//! `UnsafeCell` per chunk, so a write overlapping a read (or another write) is a loom
//! error, and a read that is not ordered after the write is one too.
//!
//! The blocked allocators run the production loop (`Core::alloc_blocking` over
//! `wait::block_on_with`, through `shmlane::ring::pool::model`, which injects a
//! deterministic clock and no deadline), with the futex modelled as a real block: a
//! lost wake-up is a loom deadlock. The mutant build `--cfg shmlane_mutant_no_pool_notify`
//! (`release_and_wake` skips its `notify_fenced`) shows that `blocked_alloc_is_woken`
//! sees that bug.
#![cfg(shmlane_loom)]

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use loom::thread;
use shmlane::WaitMode;
use shmlane::ring::pool::model::{Steps, alloc_blocking};
use shmlane::ring::pool::word::Chunk;
use shmlane::ring::pool::{Class, Handle, HeapPool, Refused, heap};
use shmlane::wait::EventCount;

/// A heap pool of `count` chunks and their "bytes", one cell each.
struct Fixture {
    pool: HeapPool,
    bytes: Vec<UnsafeCell<u32>>,
}

fn fixture(count: u32) -> Arc<Fixture> {
    Arc::new(Fixture {
        pool: heap(&[Class { size: 128, count }]).unwrap(),
        bytes: (0..count).map(|_| UnsafeCell::new(0)).collect(),
    })
}

impl Fixture {
    fn write(&self, index: u32, v: u32) {
        // SAFETY: the cell's own pointer, live while `self` is; an access overlapping
        // another is exactly what loom reports (the property under test).
        self.bytes[index as usize].with_mut(|p| unsafe { *p = v });
    }

    fn read(&self, index: u32) -> u32 {
        // SAFETY: as in `write`.
        self.bytes[index as usize].with(|p| unsafe { *p })
    }

    /// Every chunk free with its token: nothing lost (no thread crashed).
    fn assert_all_free(&self, count: u32) {
        let core = self.pool.core();
        let s = core.sweep(0).unwrap();
        assert_eq!(s.free, count, "a chunk is not free at the end");
        assert_eq!(s.restored, 0, "a token was lost without a crash");
    }
}

/// Three members race for a 2-chunk class, each allocating once, writing the chunk and
/// freeing it; member 2 first sweeps (as after a miss), which may return a token whose
/// chunk another member has taken but not yet CASed, so two allocators can reach the
/// same `FREE` word: only the chunk-word CAS keeps them apart (a load-then-store
/// mutant of `try_alloc` fails here; without the sweep the bitmap alone would hide it).
/// A winner flags its chunk owned (`swap` must find it unowned) and writes its bytes
/// (loom rejects two unordered writers). At the end every chunk is free and has its
/// token.
#[test]
fn no_double_allocation() {
    loom::model(|| {
        let f = fixture(2);
        let owned: Arc<[AtomicBool; 2]> =
            Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
        let wins = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..3u32)
            .map(|m| {
                let (f, owned, wins) = (f.clone(), owned.clone(), wins.clone());
                thread::spawn(move || {
                    let core = f.pool.core();
                    if m == 2 {
                        core.sweep(0).unwrap();
                    }
                    if let Some(g) = core.try_alloc(0, m, m).unwrap() {
                        wins.fetch_add(1, Ordering::Relaxed);
                        assert!(
                            !owned[g.index as usize].swap(true, Ordering::Relaxed),
                            "chunk {} handed out twice",
                            g.index
                        );
                        f.write(g.index, m);
                        owned[g.index as usize].store(false, Ordering::Relaxed);
                        assert_eq!(core.release(g.index, m), Ok(true));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(wins.load(Ordering::Relaxed) >= 1);
        f.assert_all_free(2);
    });
}

/// Two readers join a buffer by its (predicted) handle while the writer allocates,
/// writes, freezes and drops its own hold: a join before the freeze is `Stale`, every
/// reader that joined sees the writer's bytes (loom rejects a read not ordered after
/// the write: a Relaxed join CAS fails here), exactly one release frees the chunk, and
/// a join after that is `Stale`.
#[test]
fn last_release_frees_once() {
    loom::model(|| {
        let f = fixture(1);
        let h = Handle {
            index: 0,
            generation: 1,
            len: 4,
        };
        let frees = Arc::new(AtomicU32::new(0));
        let readers: Vec<_> = (1..3u32)
            .map(|m| {
                let (f, frees) = (f.clone(), frees.clone());
                thread::spawn(move || {
                    let core = f.pool.core();
                    match core.join(h, m) {
                        Ok(()) => {
                            assert_eq!(f.read(h.index), 42);
                            if core.release(h.index, m).unwrap() {
                                frees.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(Refused::Stale { .. }) => {}
                        Err(e) => panic!("{e:?}"),
                    }
                })
            })
            .collect();
        let core = f.pool.core();
        let g = core.try_alloc(0, 0, 0).unwrap().unwrap();
        f.write(g.index, 42);
        assert_eq!(core.freeze(g, 0, 4), Ok(h));
        if core.release(h.index, 0).unwrap() {
            frees.fetch_add(1, Ordering::Relaxed);
        }
        for t in readers {
            t.join().unwrap();
        }
        assert_eq!(frees.load(Ordering::Relaxed), 1, "FREE transitions");
        f.assert_all_free(1);
    });
}

/// T1 drops the last hold of a frozen buffer, T2 reallocates the (only) chunk and
/// rewrites it, T3 joins with T1's handle: T3 either joined first (then T2's
/// allocation misses or comes after T3's release) or is `Stale`; loom's cell rejects
/// any read of T3 unordered with T2's write (a Relaxed release CAS mutant fails here).
#[test]
fn stale_handle_never_sees_reuse() {
    loom::model(|| {
        let f = fixture(1);
        let core = f.pool.core();
        let g = core.try_alloc(0, 0, 0).unwrap().unwrap();
        f.write(g.index, 7);
        let h = core.freeze(g, 0, 4).unwrap();
        let t1 = {
            let f = f.clone();
            thread::spawn(move || {
                // The last holder unless T3 joined first.
                f.pool.core().release(h.index, 0).unwrap();
            })
        };
        let t2 = {
            let f = f.clone();
            thread::spawn(move || {
                let core = f.pool.core();
                if let Some(g) = core.try_alloc(0, 2, 0).unwrap() {
                    assert_ne!(g.generation, h.generation);
                    f.write(g.index, 99);
                    core.release(g.index, 2).unwrap();
                }
            })
        };
        let core3 = f.pool.core();
        match core3.join(h, 3) {
            Ok(()) => {
                assert_eq!(
                    f.read(h.index),
                    7,
                    "a joined reader sees its generation's bytes"
                );
                core3.release(h.index, 3).unwrap();
            }
            Err(Refused::Stale { .. }) => {}
            Err(e) => panic!("{e:?}"),
        }
        t1.join().unwrap();
        t2.join().unwrap();
        f.assert_all_free(1);
    });
}

/// Member 1 joined a buffer and died (its hold stays). An adopter of entry 1 clears
/// its bit while the live writer (member 0) releases its own: exactly one of them
/// frees the chunk, and the chunk ends free with its token.
#[test]
fn adopt_races_live_release() {
    loom::model(|| {
        let f = fixture(1);
        let core = f.pool.core();
        let g = core.try_alloc(0, 0, 0).unwrap().unwrap();
        let h = core.freeze(g, 0, 4).unwrap();
        core.join(h, 1).unwrap(); // member 1 "dies" holding it
        let adopter = {
            let f = f.clone();
            thread::spawn(move || f.pool.core().adopt(1).unwrap())
        };
        let freed_live = core.release(h.index, 0).unwrap();
        let adopted = adopter.join().unwrap();
        assert_eq!(adopted.released, 1);
        assert_eq!(freed_live as u32 + adopted.freed, 1, "FREE transitions");
        f.assert_all_free(1);
    });
}

/// A freer dies between its `FREE` CAS and the token's return (played by storing
/// `FREE` without touching the bitmap), while two allocators try, and on a miss sweep
/// and try again. The sweep restores the lost token; a sweeper racing the other
/// allocator's take may hand out a token twice, but the chunk goes to at most one of
/// them; whoever missed before the free, a final sweep brings the chunk back: no
/// chunk is lost.
#[test]
fn lost_token_is_swept() {
    loom::model(|| {
        let f = fixture(1);
        let core = f.pool.core();
        let g = core.try_alloc(0, 0, 0).unwrap().unwrap();
        let owned = Arc::new(AtomicBool::new(false));
        let dying = {
            let f = f.clone();
            thread::spawn(move || {
                // The release CAS of a freer that then dies: `FREE`, no token.
                f.pool.descriptors()[g.index as usize]
                    .word
                    .store(Chunk::free(g.generation).encode(), Ordering::SeqCst);
            })
        };
        let allocators: Vec<_> = (1..3u32)
            .map(|m| {
                let (f, owned) = (f.clone(), owned.clone());
                thread::spawn(move || {
                    let core = f.pool.core();
                    let mut got = core.try_alloc(0, m, 0).unwrap();
                    if got.is_none() {
                        core.sweep(0).unwrap();
                        got = core.try_alloc(0, m, 0).unwrap();
                    }
                    if let Some(g) = got {
                        assert!(!owned.swap(true, Ordering::Relaxed), "handed out twice");
                        f.write(g.index, m);
                        owned.store(false, Ordering::Relaxed);
                        assert_eq!(core.release(g.index, m), Ok(true));
                    }
                })
            })
            .collect();
        dying.join().unwrap();
        for t in allocators {
            t.join().unwrap();
        }
        // The lost token may still be missing (both allocators ran before the free):
        // one sweep restores it; then the chunk is free with its token.
        core.sweep(0).unwrap();
        assert!(core.has_token(0), "the lost token is back");
        f.assert_all_free(1);
    });
}

/// Design §6 model 4: the only chunk is held by member 0 (which writes it, then frees
/// it with `release_and_wake` on another thread) while member 1 allocates in the
/// production blocking loop, in `WaitMode::Sleep` (no spinning phase) and with a clock
/// under which no tick ever comes: only the freer's wake can end its sleep. The waiter
/// gets the chunk, and its write is ordered after the freer's (loom's cell). With
/// `shmlane_mutant_no_pool_notify` loom finds the waiter asleep forever (deadlock).
#[test]
#[cfg_attr(shmlane_mutant_no_pool_notify, should_panic(expected = "deadlock"))]
fn blocked_alloc_is_woken() {
    loom::model(|| {
        let f = fixture(1);
        let ec = Arc::new(EventCount::new());
        let core = f.pool.core();
        let g = core.try_alloc(0, 0, 0).unwrap().unwrap();
        let freer = {
            let (f, ec) = (f.clone(), ec.clone());
            thread::spawn(move || {
                f.write(g.index, 1);
                assert_eq!(f.pool.core().release_and_wake(g.index, 0, &ec), Ok(true));
            })
        };
        let got = alloc_blocking(
            &core,
            0,
            1,
            0,
            &ec,
            WaitMode::Sleep,
            Steps::Milli,
            &mut || panic!("no tick comes in this model"),
        )
        .unwrap();
        assert_eq!(got.index, g.index);
        assert_ne!(got.generation, g.generation);
        f.write(got.index, 2);
        freer.join().unwrap();
        assert_eq!(ec.sleepers(), 0);
        assert_eq!(core.release(got.index, 1), Ok(true));
        f.assert_all_free(1);
    });
}

/// A freer dies between its `FREE` CAS and the token's return (so it never notifies
/// either) while member 1 allocates in the blocking loop: a free chunk that no token
/// names and no wake announces. The allocator's first miss sweeps; if the chunk was
/// freed after that, it sleeps until its tick. Loom's futex has no timeout, so the
/// timeout is played by the dying thread: once the allocator has announced itself it
/// wakes the eventcount, and the model's clock makes every wake a tick. The tick's
/// sweep finds the chunk (without it, loom reports the allocator asleep forever).
#[test]
fn lost_token_is_swept_on_a_tick() {
    loom::model(|| {
        let f = fixture(1);
        let ec = Arc::new(EventCount::new());
        let core = f.pool.core();
        let g = core.try_alloc(0, 0, 0).unwrap().unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let dying = {
            let (f, ec, done) = (f.clone(), ec.clone(), done.clone());
            thread::spawn(move || {
                f.pool.descriptors()[g.index as usize]
                    .word
                    .store(Chunk::free(g.generation).encode(), Ordering::SeqCst);
                // The futex timeout: ends the allocator's sleep, if it sleeps at all.
                while !done.load(Ordering::SeqCst) {
                    if ec.sleepers() > 0 {
                        ec.notify_fenced();
                        break;
                    }
                    thread::yield_now();
                }
            })
        };
        let mut ticks = 0;
        let got = alloc_blocking(
            &core,
            0,
            1,
            0,
            &ec,
            WaitMode::Sleep,
            Steps::Tick,
            &mut || ticks += 1,
        )
        .unwrap();
        done.store(true, Ordering::SeqCst);
        assert_eq!(got.index, g.index);
        assert!(ticks <= 1, "one tick at most: {ticks}");
        dying.join().unwrap();
        assert_eq!(core.release(got.index, 1), Ok(true));
        f.assert_all_free(1);
    });
}
