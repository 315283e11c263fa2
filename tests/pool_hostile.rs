//! Buffer pools against a hostile or buggy peer (issue 14 "Robustness", design §3
//! "Hostile memory"): a named pool's file scribbled through `/dev/shm` (class table and
//! `PoolInfo`, counters, eventcounts, member words, chunk words and lengths, `busy`
//! bitmaps) and forged handles (arbitrary pool id, index, generation, length). Every
//! open fails with a typed error or every later call returns a typed result: never a
//! panic, never an access outside the mapping (that would kill this process), never a
//! wait past its own timeout (each call runs under a watchdog thread).
//!
//! Offsets come from the design §1 table (header 256 bytes; the pool region at 256:
//! `PoolInfo` 0, `PoolState` 256, eventcounts 384, members 1408, `busy` from 1920, then
//! the chunk descriptors, 16 bytes each; `src/layout/pool.rs`). A test that pokes an offset also checks it hit
//! what it meant to (e.g. the chunk word read back decodes as the chunk's).

mod common;

use common::{Rng, poke, role, seed, spawn_ready, unique};
use shmlane::error::{AllocError, AllocTimeoutError, HandleError, TryAllocError};
use shmlane::pool::{Buf, BufHandle, Class, Pool};
use std::time::Duration;

/// Watchdog only: every call here returns in milliseconds when correct.
const WATCHDOG: Duration = Duration::from_secs(60);
/// A timeout a call must honour (it returns `Timeout` at once or after this).
const SHORT: Duration = Duration::from_millis(20);
const GEN_LIMIT: u32 = 1 << 30;

const BASE: u64 = 256;
const INFO: u64 = BASE;
const POOL_ID: u64 = INFO;
const CLASSES: u64 = INFO + 8;
const MEMBERS_N: u64 = INFO + 12;
const CLASS_DESC: u64 = INFO + 24;
const STATE: u64 = BASE + 256;
const WAITS: u64 = BASE + 384;
const MEMBERS: u64 = BASE + 1408;
const BUSY: u64 = BASE + 1920;

/// Child-process entry point (ignored in normal runs; see `common::peer`).
#[test]
#[ignore]
fn peer_main() {
    let Some((role, args)) = role() else { return };
    match role.as_str() {
        // `args[1]` rounds of every operation on pool `args[0]`, accepting any typed
        // result (a concurrent scribbler garbles the pool): exits 0 unless something
        // panics (101) or hangs (the parent's watchdog kills it).
        "churn" => {
            let pool = Pool::open(&args[0]).unwrap();
            let rounds: u64 = args[1].parse().unwrap();
            let mut rng = Rng(u64::from(std::process::id()) | 1);
            println!("READY");
            for r in 0..rounds {
                let len = [1, 200, 256, 3000, 4096][rng.below(5) as usize];
                if let Ok(mut b) = pool.alloc_timeout(len, SHORT) {
                    assert_eq!(b.len(), len);
                    b.fill(r as u8);
                    let buf = b.freeze();
                    assert_eq!(buf.len(), len);
                    if let Ok(again) = pool.open_handle(buf.handle()) {
                        assert_eq!(again.len(), len);
                    }
                    if rng.below(2) == 0 {
                        drop(buf);
                    } else {
                        std::mem::drop(buf.clone());
                    }
                }
                let _ = pool.try_alloc(len);
                if r % 16 == 0 {
                    let _ = pool.recover();
                    let _ = pool.stats();
                }
            }
            println!("DONE");
        }
        _ => panic!("unknown role {role}"),
    }
}

/// The two-class pool most tests use: 3 chunks of 256 bytes, 2 of 4096.
const TWO: [Class; 2] = [
    Class {
        size: 256,
        count: 3,
    },
    Class {
        size: 4096,
        count: 2,
    },
];

fn class_size(i: u64) -> u64 {
    CLASS_DESC + 16 * i
}

fn class_count(i: u64) -> u64 {
    CLASS_DESC + 16 * i + 8
}

/// File offset of the chunk descriptors of a pool with `classes` (design §1, as built in
/// `src/layout/pool.rs`: the bitmaps of all classes contiguous, ⌈count/64⌉ words each,
/// the whole padded to a line).
fn chunks_at(classes: &[Class]) -> u64 {
    let words: u64 = classes.iter().map(|c| (c.count as u64).div_ceil(64)).sum();
    (BUSY + 8 * words).div_ceil(128) * 128
}

fn file(name: &str) -> String {
    format!("/dev/shm/shmlane.{name}")
}

fn peek(name: &str, offset: u64) -> u64 {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(file(name)).unwrap();
    let mut b = [0; 8];
    f.read_exact_at(&mut b, offset).unwrap();
    u64::from_ne_bytes(b)
}

fn poke32(name: &str, offset: u64, value: u32) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(file(name))
        .unwrap();
    f.write_all_at(&value.to_ne_bytes(), offset).unwrap();
}

/// Runs `f` on a thread; fails the test if it panicked or has not returned within
/// [`WATCHDOG`].
fn guarded<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || tx.send(f()).unwrap());
    match rx.recv_timeout(WATCHDOG) {
        Ok(r) => {
            t.join().unwrap();
            r
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            let e = t.join().unwrap_err();
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{what}: panicked: {msg}")
        }
        Err(_) => panic!("{what}: still blocked after {WATCHDOG:?}: a wait without end"),
    }
}

/// Every operation of a (possibly scribbled) pool once, each result typed: `Ok` or one of
/// the documented errors. Returns a log for messages. A panic, a hang or a fault fails.
fn exercise(pool: &Pool, what: &str, rng_seed: u64) -> String {
    let pool = pool.clone();
    guarded(what, move || {
        let mut log = String::new();
        let mut rng = Rng(rng_seed | 1);
        let stats = pool.stats();
        log += &format!("stats {stats:?}; ");
        let max = stats.classes.iter().map(|c| c.size).max().unwrap_or(0);
        let mut mine: Vec<Buf> = Vec::new();
        for len in [1, 256, 4096, max, max + 1] {
            match pool.try_alloc(len) {
                Ok(mut b) => {
                    assert_eq!(b.len(), len);
                    b.fill(0x5a);
                    let buf = b.freeze();
                    assert!(buf.iter().all(|&x| x == 0x5a) || buf.is_empty());
                    mine.push(buf);
                }
                Err(
                    TryAllocError::Exhausted
                    | TryAllocError::TooLarge { .. }
                    | TryAllocError::Corrupted(_),
                ) => {}
                Err(TryAllocError::Forked) => panic!("Forked in the process that opened it"),
            }
            match pool.alloc_timeout(len, SHORT) {
                Ok(b) => drop(b),
                Err(
                    AllocTimeoutError::Timeout
                    | AllocTimeoutError::TooLarge { .. }
                    | AllocTimeoutError::Corrupted(_),
                ) => {}
                Err(AllocTimeoutError::Forked) => panic!("Forked in the process that opened it"),
            }
        }
        for b in &mine {
            let h = b.handle();
            // Our own handle again: a second local hold or a typed refusal.
            match pool.open_handle(h) {
                Ok(again) => assert_eq!(again.len() as u64, h.len),
                Err(e) => log += &format!("reopen {e}; "),
            }
        }
        for _ in 0..64 {
            let h = BufHandle {
                pool: if rng.below(2) == 0 {
                    pool.id()
                } else {
                    rng.next()
                },
                index: rng.below(16) as u32,
                generation: rng.below(4) as u32,
                len: rng.below(8192),
            };
            if let Ok(b) = pool.open_handle(h) {
                assert_eq!(b.len() as u64, h.len, "{h:?}");
            }
        }
        drop(mine);
        match pool.recover() {
            Ok(n) => log += &format!("recovered {n}; "),
            Err(e) => log += &format!("recover {e}; "),
        }
        log += &format!("stats {:?}", pool.stats());
        log
    })
}

/// The class table and `PoolInfo` scribbled before a second open: each contradiction the
/// design lists (classes ≠ header param, count 0, sizes not multiples of 128 or not
/// increasing, Σ count ≠ capacity, derived length ≠ file length) is a typed `OpenError`;
/// the creator, which validated its private copy at create, keeps working. Fails if
/// open trusts the shared table (a later call then reads past a chunk or panics on a
/// division by zero / overflow), or checks nothing (the `Err` asserts).
#[test]
fn a_scribbled_class_table_is_refused_at_open() {
    // (offset, value, 32-bit, must fail)
    let cases: &[(&str, u64, u64, bool, bool)] = &[
        ("classes 0", CLASSES, 0, true, true),
        ("classes 1 of 2", CLASSES, 1, true, true),
        ("classes 3 of 2", CLASSES, 3, true, true),
        ("classes 9", CLASSES, 9, true, true),
        ("classes MAX", CLASSES, u32::MAX as u64, true, true),
        ("size 0", class_size(0), 0, false, true),
        ("size 100", class_size(0), 100, false, true),
        (
            "size 4096 (not increasing)",
            class_size(0),
            4096,
            false,
            true,
        ),
        (
            "size 8192 (not increasing)",
            class_size(0),
            8192,
            false,
            true,
        ),
        ("size MAX", class_size(0), u64::MAX, false, true),
        ("size 2^62", class_size(0), 1 << 62, false, true),
        ("last size 2^40", class_size(1), 1 << 40, false, true),
        ("last size 128", class_size(1), 128, false, true),
        ("count 0", class_count(0), 0, false, true),
        ("count 2", class_count(0), 2, false, true),
        ("count 4", class_count(0), 4, false, true),
        ("count MAX", class_count(0), u64::MAX, false, true),
        ("last count 0", class_count(1), 0, false, true),
        ("last count 2^20", class_count(1), 1 << 20, false, true),
        // A count whose low 32 bits are right: fine only if never truncated.
        (
            "count 2^32 + 3",
            class_count(0),
            (1 << 32) + 3,
            false,
            false,
        ),
        ("members 0", MEMBERS_N, 0, true, false),
        ("members 33", MEMBERS_N, 33, true, false),
        ("members MAX", MEMBERS_N, u32::MAX as u64, true, false),
        ("unused class 2 size", class_size(2), 1 << 20, false, false),
        (
            "unused class 7 count",
            class_count(7),
            u64::MAX,
            false,
            false,
        ),
        ("reserved", INFO + 16, u64::MAX, false, false),
        ("pool id", POOL_ID, 0x5eed, false, false),
    ];
    for &(what, offset, value, narrow, must_fail) in cases {
        let name = unique("ph-info");
        let creator = Pool::create(&name, &TWO).unwrap();
        let id = creator.id();
        let mut b = creator.try_alloc(100).unwrap();
        b.fill(9);
        let frozen = b.freeze();
        if narrow {
            poke32(&name, offset, value as u32);
        } else {
            poke(&name, offset, value);
        }
        let n = name.clone();
        let opened = guarded(what, move || Pool::open(&n));
        match opened {
            Err(e) => println!("{what}: {e}"),
            Ok(p) => {
                assert!(!must_fail, "{what}: a scribbled table was accepted");
                let log = exercise(&p, what, offset ^ value);
                println!("{what}: opened; {log}");
                // An opener's identity is its private copy: the creator's handles are
                // its own pool's or `Foreign`, never someone else's bytes.
                match p.open_handle(frozen.handle()) {
                    Ok(v) => assert!(v.iter().all(|&x| x == 9)),
                    Err(e) => println!("{what}: creator's handle: {e}"),
                }
            }
        }
        // The creator validated its private copy at create: it goes on working.
        assert_eq!(creator.id(), id, "{what}");
        let log = exercise(&creator, what, value);
        assert!(
            creator.try_alloc(100).is_ok(),
            "{what}: creator broken: {log}"
        );
        drop(frozen);
    }
}

/// The counters (`PoolState`) and the class eventcounts scribbled: `stats` reports
/// whatever is there without overflow panics; a blocked `alloc_timeout` on an
/// exhausted class returns `Timeout` (no hang on a garbled eventcount); a free still
/// wakes. Fails on an unchecked `+` of a shared counter (debug overflow panic) or an
/// eventcount wait that trusts a scribbled sleeper count or epoch to end a wait.
#[test]
fn scribbled_counters_and_eventcounts() {
    for value in [u64::MAX, 0, 1 << 63, 0x8000_0000, 0xffff_ffff] {
        let name = unique("ph-state");
        let pool = Pool::create(&name, &TWO).unwrap();
        for off in (STATE..STATE + 24).step_by(8) {
            poke(&name, off, value);
        }
        for class in 0..8 {
            for off in (WAITS + 128 * class..WAITS + 128 * class + 128).step_by(8) {
                poke(&name, off, value);
            }
        }
        let what = format!("state {value:#x}");
        // Exhaust class 1 (2 chunks), then a timed alloc must time out.
        let held: Vec<_> = (0..2).map(|_| pool.try_alloc(4096).unwrap()).collect();
        let p = pool.clone();
        let r = guarded(&what, move || {
            p.alloc_timeout(4096, SHORT).map(|b| b.index())
        });
        assert_eq!(r, Err(AllocTimeoutError::Timeout), "{what}");
        // A waiter is still served by a free (from a thread; the free after its wait began).
        let p = pool.clone();
        let waiter = std::thread::spawn(move || p.alloc_timeout(4096, WATCHDOG).map(|b| b.index()));
        std::thread::sleep(Duration::from_millis(20)); // not required: only makes the wait likely
        drop(held);
        let r = guarded(&what, move || waiter.join().unwrap());
        assert!(r.is_ok(), "{what}: {r:?}");
        let log = exercise(&pool, &what, value);
        println!("{what}: {log}");
    }
}

/// Member words scribbled (all 32 entries in even rounds: zero, all ones, random; every
/// entry but our own in odd rounds): a new open either claims an entry or fails typed;
/// `recover` never panics and never hangs. With our own entry intact, nobody may release
/// our hold: the bytes we froze stay. (With our own entry scribbled, a new opener may
/// claim it and release our hold: garbled data in bounds, which the threat model allows;
/// there only the view's bounds are checked.) Fails if an entry word is decoded without
/// checks (a panic on an out-of-range state) or adoption releases bits of an entry that
/// names a live process (the byte asserts of the odd rounds).
#[test]
fn scribbled_member_words() {
    let mut rng = Rng(seed());
    for round in 0..8u64 {
        let name = unique("ph-member");
        let pool = Pool::create(&name, &TWO).unwrap();
        let mut b = pool.try_alloc(4096).unwrap();
        b.fill(3);
        let mine = b.freeze();
        // Our entry: the only one in use (nonzero) with just the creator attached.
        let used: Vec<u64> = (0..32)
            .filter(|&e| peek(&name, MEMBERS + 16 * e) | peek(&name, MEMBERS + 16 * e + 8) != 0)
            .collect();
        assert_eq!(used.len(), 1, "member table offset: {used:?}");
        let ours = used[0];
        let keep_ours = round % 2 == 1;
        for e in 0..32 {
            if keep_ours && e == ours {
                continue;
            }
            for w in 0..2 {
                let v = match round {
                    0 => 0,
                    1 | 2 => u64::MAX,
                    _ => rng.next(),
                };
                poke(&name, MEMBERS + 16 * e + 8 * w, v);
            }
        }
        let what = format!("members round {round} (our entry {ours} kept: {keep_ours})");
        let n = name.clone();
        match guarded(&what, move || Pool::open(&n)) {
            Ok(p) => println!("{what}: opened; {}", exercise(&p, &what, round)),
            Err(e) => println!("{what}: open: {e}"),
        }
        println!("{what}: creator: {}", exercise(&pool, &what, round + 100));
        assert_eq!(mine.len(), 4096, "{what}");
        let intact = mine.iter().all(|&x| x == 3);
        assert!(
            intact || !keep_ours,
            "{what}: our hold was released by someone else"
        );
        match pool.open_handle(mine.handle()) {
            Ok(again) => assert_eq!(again.len(), 4096, "{what}"),
            Err(e) => println!("{what}: reopen: {e}"),
        }
    }
}

/// Chunk words set to every illegal shape (phase 3; `FREE` with holders; `WRITING` with
/// no or two holders; `FROZEN` with none; generation at the limit) and to legal words
/// naming members that do not exist: allocations, handles, `recover` and `stats` return
/// typed results; the chunk's bytes are never handed out as a view longer than its
/// length. Fails if a word is used undecoded (a `WRITING` with two holders handed out
/// twice would still be typed, so the check here is: no panic, no hang, every `Ok`
/// view is in bounds).
#[test]
fn scribbled_chunk_words() {
    let words: &[(&str, u64)] = &[
        ("phase 3", 3 << 32),
        ("phase 3 held", 3 << 32 | 1),
        ("FREE held by 1", 1),
        ("FREE held by all", 0xffff_ffff),
        ("WRITING by none", 1 << 32),
        ("WRITING by two", 1 << 32 | 0b11),
        ("FROZEN by none", 2 << 32),
        ("FROZEN by member 31", 2 << 32 | 1 << 31 | 5 << 34),
        ("WRITING by member 17", 1 << 32 | 1 << 17 | 7 << 34),
        (
            "FROZEN max generation",
            2 << 32 | 1 | (GEN_LIMIT as u64 - 1) << 34,
        ),
        ("all ones", u64::MAX),
    ];
    for &(what, word) in words {
        let name = unique("ph-chunk");
        let pool = Pool::create(&name, &TWO).unwrap();
        let at = chunks_at(&TWO);
        // The layout check: a fresh pool's words are all zero (FREE, generation 0); after
        // one allocation of class 1, its first chunk (index 3) is WRITING, generation 1.
        let probe = pool.try_alloc(4096).unwrap();
        assert_eq!(probe.index(), 3, "{what}: class 1 starts at index 3");
        assert_eq!(
            peek(&name, at + 16 * 3) >> 32,
            1 << 2 | 1,
            "{what}: chunk word offset"
        );
        drop(probe);
        // Scribble every chunk but the last of each class.
        for index in [0, 1, 3] {
            poke(&name, at + 16 * index, word);
            poke(&name, at + 16 * index + 8, u64::MAX);
        }
        let log = exercise(&pool, what, word);
        println!("{what}: {log}");
        // Every handle to a scribbled chunk is refused or pins a view of its own length.
        for index in [0u32, 1, 3] {
            for generation in [0, 1, 5, 7, GEN_LIMIT - 1, GEN_LIMIT, u32::MAX] {
                for len in [0, 1, 256, 4096, u64::MAX] {
                    let h = BufHandle {
                        pool: pool.id(),
                        index,
                        generation,
                        len,
                    };
                    if let Ok(b) = pool.open_handle(h) {
                        assert_eq!(b.len() as u64, len, "{what}: {h:?}");
                        assert!(len <= 4096, "{what}: {h:?}");
                    }
                }
            }
        }
        // A second process's view (a fresh open) fares the same.
        let n = name.clone();
        if let Ok(p) = guarded(what, move || Pool::open(&n)) {
            println!("{what}: second open: {}", exercise(&p, what, !word));
        }
    }
}

/// A blocking `alloc` on a class whose every chunk word is illegal must end with
/// `Corrupted` (design §4 `check_wait`: a wait that could never end), not sleep forever;
/// on a class whose chunks are held only by a vacant member entry (an orphan bit: a
/// scribble) it gets a chunk back, by the orphan adoption of `recover` (design §3).
/// Fails if `alloc` waits without checking (the watchdog fires: it did with api's
/// interim `alloc_blocking` before h/wait was merged into h/api, 09ec7a0).
#[test]
fn a_wait_that_could_never_end_is_corrupted() {
    let one = [Class {
        size: 128,
        count: 2,
    }];
    for (what, word, corrupted) in [
        ("illegal words", 3u64 << 32, true),
        ("held by a free entry", 2 << 32 | 1 << 30 | 4 << 34, false),
    ] {
        let name = unique("ph-never");
        let pool = Pool::create(&name, &one).unwrap();
        let at = chunks_at(&one);
        for index in 0..2 {
            poke(&name, at + 16 * index, word);
        }
        let p = pool.clone();
        let r = guarded(what, move || p.alloc(64).map(|b| b.index()));
        if corrupted {
            assert!(matches!(r, Err(AllocError::Corrupted(_))), "{what}: {r:?}");
        } else {
            assert!(r.is_ok(), "{what}: {r:?}");
            assert!(pool.stats().reclaimed >= 1, "{what}");
        }
    }
}

/// The `busy` bitmaps scribbled: all ones (no token anywhere) costs a sweep, not a
/// chunk; all zeros while every chunk is held (every token stale) is `Exhausted`, never a
/// chunk handed out twice; random bits, also past each class's count, change nothing
/// about which chunks are free. Fails if a token is trusted without the chunk CAS
/// (double allocation: the duplicate-index assert) or a sweep is missing (`Exhausted`
/// with free chunks).
#[test]
fn scribbled_bitmaps() {
    let mut rng = Rng(seed());
    let busy_words = |name: &str, v: &mut dyn FnMut() -> u64| {
        // Class 0's word at BUSY, class 1's right after it (contiguous bitmaps).
        poke(name, BUSY, v());
        poke(name, BUSY + 8, v());
    };
    let name = unique("ph-busy");
    let pool = Pool::create(&name, &TWO).unwrap();
    // No tokens: every chunk still allocatable (sweeps restore them).
    busy_words(&name, &mut || u64::MAX);
    let all: Vec<_> = (0..3)
        .map(|i| {
            pool.try_alloc(200)
                .unwrap_or_else(|e| panic!("no-token class 0 #{i}: {e}"))
        })
        .chain((0..2).map(|i| {
            pool.try_alloc(4096)
                .unwrap_or_else(|e| panic!("no-token class 1 #{i}: {e}"))
        }))
        .collect();
    let mut idx: Vec<u32> = all.iter().map(|b| b.index()).collect();
    idx.sort_unstable();
    assert_eq!(idx, [0, 1, 2, 3, 4]);
    // Every token present while every chunk is held: each token is stale.
    busy_words(&name, &mut || 0);
    assert_eq!(
        pool.try_alloc(200).map(|b| b.index()),
        Err(TryAllocError::Exhausted)
    );
    assert_eq!(
        pool.try_alloc(4096).map(|b| b.index()),
        Err(TryAllocError::Exhausted)
    );
    drop(all);
    for round in 0..200 {
        busy_words(&name, &mut || rng.next());
        let got: Vec<_> = std::iter::from_fn(|| pool.try_alloc(1).ok())
            .take(10)
            .collect();
        let mut idx: Vec<u32> = got.iter().map(|b| b.index()).collect();
        idx.sort_unstable();
        idx.dedup();
        assert_eq!(
            idx,
            [0, 1, 2],
            "round {round}: class 0 after a scribbled bitmap"
        );
    }
}

/// Forged handles: another pool's id is `Foreign`; index ≥ chunks, generation ≥ 2^30 and
/// len > chunk size are `Forged`; a freed or never-frozen chunk, or the wrong generation,
/// is `Stale`; 20,000 random handles never open anything but the one live buffer, and
/// only with its exact fields. Fails if a field is not validated (the typed asserts) or
/// a join accepts a generation or length that is not the frozen one (random handles).
#[test]
fn forged_handles() {
    let name = unique("ph-forge");
    let pool = Pool::create(&name, &TWO).unwrap();
    let other = Pool::anonymous(&TWO).unwrap();
    let mut b = pool.try_alloc(300).unwrap();
    b.fill(0x77);
    let live = b.freeze();
    let h = live.handle();
    assert_eq!((h.index, h.len), (3, 300));
    let id = pool.id();
    assert_ne!(id, other.id());
    let cases: Vec<(BufHandle, &str)> = vec![
        (
            BufHandle {
                pool: other.id(),
                ..h
            },
            "foreign",
        ),
        (BufHandle { pool: !id, ..h }, "foreign"),
        (BufHandle { index: 5, ..h }, "forged"),
        (
            BufHandle {
                index: u32::MAX,
                ..h
            },
            "forged",
        ),
        (
            BufHandle {
                generation: GEN_LIMIT,
                ..h
            },
            "forged",
        ),
        (
            BufHandle {
                generation: u32::MAX,
                ..h
            },
            "forged",
        ),
        (BufHandle { len: 4097, ..h }, "forged"),
        (BufHandle { len: u64::MAX, ..h }, "forged"),
        (
            BufHandle {
                index: 0,
                len: 257,
                generation: 0,
                ..h
            },
            "forged",
        ),
        (
            BufHandle {
                generation: h.generation + 1,
                ..h
            },
            "stale",
        ),
        (
            BufHandle {
                generation: h.generation.wrapping_sub(1),
                ..h
            },
            "stale",
        ),
        (BufHandle { index: 4, ..h }, "stale"),
        (
            BufHandle {
                index: 0,
                len: 10,
                ..h
            },
            "stale",
        ),
    ];
    for (f, kind) in cases {
        let r = pool.open_handle(f).map(|b| b.len());
        let ok = match (kind, &r) {
            ("foreign", Err(HandleError::Foreign { expected, found })) => {
                *expected == id && *found == f.pool
            }
            ("forged", Err(HandleError::Forged { .. })) => true,
            ("stale", Err(HandleError::Stale { index, generation })) => {
                *index == f.index && *generation == f.generation
            }
            _ => false,
        };
        assert!(ok, "{f:?}: expected {kind}, got {r:?}");
    }
    // The wrong length for the live chunk is refused, and leaves no hold behind.
    for len in [0, 1, 299, 301, 4096] {
        let r = pool.open_handle(BufHandle { len, ..h }).map(|b| b.len());
        assert!(r.is_err(), "len {len}: {r:?}");
    }
    // The live handle in the other pool: foreign, whatever its fields.
    assert!(matches!(
        other.open_handle(h),
        Err(HandleError::Foreign { .. })
    ));
    let mut rng = Rng(seed());
    for _ in 0..20_000 {
        let f = BufHandle {
            pool: if rng.below(4) == 0 { rng.next() } else { id },
            index: match rng.below(3) {
                0 => rng.next() as u32,
                _ => rng.below(6) as u32,
            },
            generation: match rng.below(3) {
                0 => rng.next() as u32,
                _ => rng.below(4) as u32,
            },
            len: match rng.below(3) {
                0 => rng.next(),
                _ => rng.below(4200),
            },
        };
        match pool.open_handle(f) {
            Ok(v) => {
                assert_eq!(f, h, "opened a forged handle");
                assert!(v.iter().all(|&x| x == 0x77));
            }
            Err(HandleError::Corrupted(c)) => panic!("{f:?}: corrupted {c} on a clean pool"),
            Err(_) => {}
        }
    }
    // Nothing leaked a hold: the live buffer's release frees everything.
    drop(live);
    let s = pool.stats();
    assert_eq!(s.free, vec![3, 2], "{s:?}");
}

/// The words of chunks this process is writing and holding are scribbled under it (to
/// `FREE`, to another member's hold, to an illegal word, to another generation): its
/// `freeze`, its drops, a second view and a reopen never panic; the failed transitions
/// are counted, and the pool stays usable (typed results after). Fails if `freeze` or
/// `Drop` unwrap a refused CAS (a panic in drop is an abort here).
#[test]
fn scribbled_words_under_our_own_holds() {
    let one = [Class {
        size: 4096,
        count: 4,
    }];
    let at = chunks_at(&one);
    for (what, word) in [
        ("FREE", 0u64),
        ("FREE next generation", 9 << 34),
        ("WRITING by member 5", 1 << 32 | 1 << 5 | 1 << 34),
        ("FROZEN by member 5", 2 << 32 | 1 << 5 | 1 << 34),
        ("FROZEN by all", 2 << 32 | 0xffff_ffff | 1 << 34),
        ("illegal", 3 << 32),
    ] {
        let name = unique("ph-own");
        let pool = Pool::create(&name, &one).unwrap();
        let p = pool.clone();
        let log = guarded(what, move || {
            let mut w = p.try_alloc(100).unwrap();
            w.fill(1);
            let frozen = {
                let mut f = p.try_alloc(200).unwrap();
                f.fill(2);
                f.freeze()
            };
            let (wi, fi) = (w.index() as u64, frozen.handle().index as u64);
            (wi, fi, w, frozen, p)
        });
        let (wi, fi, w, frozen, p) = log;
        for index in [wi, fi] {
            poke(&name, at + 16 * index, word);
        }
        let out = guarded(what, move || {
            let again = frozen.clone();
            let reopened = p.open_handle(frozen.handle()).map(|b| b.len());
            let buf = w.freeze();
            let h = buf.handle();
            drop((buf, again, frozen));
            let after = p.open_handle(h).map(|b| b.len());
            let mut log = format!("reopen {reopened:?}; after {after:?}; ");
            log += &exercise(&p, "after", 1);
            log
        });
        println!("{what}: {out}");
    }
}

/// A hostile sender writes garbage handles into a `BufReceiver`'s pipe (a plain
/// `Sender<BufHandle>`: no holds behind them): another pool's id is `Foreign` (and
/// consumed), forged and stale handles are skipped and counted in `lost()`, a handle of
/// a buffer someone does hold arrives intact, and the receiver then times out typed.
/// Fails if the receiver trusts a handle (a view of a free chunk: `Ok` for a stale one)
/// or stops at the first bad one.
#[test]
fn forged_handles_over_a_carrier() {
    use shmlane::carrier::BufReceiver;
    use shmlane::error::BufRecvTimeoutError;
    let pool = Pool::anonymous(&TWO).unwrap();
    let (mut tx, rx) = shmlane::pipe::channel::<BufHandle>(16).unwrap();
    let mut rx = BufReceiver::new(&pool, rx);
    let mut b = pool.try_alloc(4096).unwrap();
    b.fill(0x31);
    let held = b.freeze();
    let h = held.handle();
    let id = pool.id();
    let garbage = [
        BufHandle { pool: !id, ..h },
        BufHandle { index: 99, ..h },
        BufHandle {
            generation: u32::MAX,
            ..h
        },
        BufHandle { len: 1 << 40, ..h },
        BufHandle {
            generation: h.generation + 1,
            ..h
        },
        BufHandle {
            index: 0,
            generation: 0,
            len: 1,
            ..h
        },
        BufHandle { len: 5, ..h },
        h,
    ];
    for g in garbage {
        tx.send(g).unwrap();
    }
    let mut foreign = 0;
    let mut got = Vec::new();
    let p = pool.clone();
    let (foreign_n, got_n, lost) = guarded("carrier", move || {
        loop {
            match rx.recv_timeout(SHORT) {
                Ok(buf) => got.push(buf),
                Err(BufRecvTimeoutError::Foreign { expected, found }) => {
                    assert_eq!((expected, found), (id, !id));
                    foreign += 1;
                }
                Err(BufRecvTimeoutError::Timeout) => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(
            got.iter()
                .all(|b| b.handle() == h && b.iter().all(|&x| x == 0x31))
        );
        let n = got.len();
        drop(got);
        drop(p);
        (foreign, n, rx.lost())
    });
    assert_eq!((foreign_n, got_n, lost), (1, 1, 6));
    drop(held);
    assert_eq!(pool.stats().free, vec![3, 2]);
}

/// A pool's file cut short or filled with random bytes behind a valid header (what a
/// crashed or hostile creator can leave): every open is a typed error, or opens a pool
/// whose every call is typed. Nobody else maps these files (copies of a real pool's
/// bytes under new names), so a short file is never accessed past its end by a mapping
/// made before the cut. Fails if open maps and reads past the end of a short file
/// (SIGBUS kills this process) or trusts a random class table.
#[test]
fn truncated_and_random_pool_files() {
    let name = unique("ph-file");
    let pool = Pool::create(&name, &TWO).unwrap();
    let bytes = std::fs::read(file(&name)).unwrap();
    drop(pool);
    let total = bytes.len();
    let copy = unique("ph-file-copy");
    for cut in [
        0,
        100,
        255,
        256,
        511,
        1000,
        2176,
        4096,
        total - 4096,
        total - 1,
    ] {
        std::fs::write(file(&copy), &bytes[..cut]).unwrap();
        let n = copy.clone();
        let r = guarded("cut", move || Pool::open(&n).map(|p| p.id()));
        assert!(r.is_err(), "a file cut to {cut} of {total} bytes opened");
    }
    let mut rng = Rng(seed());
    for round in 0..100 {
        let mut b = bytes.clone();
        // The header stays; a random stretch of the pool region is randomised, or a
        // few words of the class table are.
        if round % 2 == 0 {
            let from = 256 + rng.below(2048) as usize;
            let to = (from + rng.below(512) as usize).min(total);
            rng.fill(&mut b[from..to]);
        } else {
            for _ in 0..=rng.below(3) {
                let at = 256 + 8 * rng.below(19) as usize;
                let v = match rng.below(3) {
                    0 => rng.next(),
                    1 => rng.below(1 << 21),
                    _ => 128 * rng.below(64),
                };
                b[at..at + 8].copy_from_slice(&v.to_ne_bytes());
            }
        }
        std::fs::write(file(&copy), &b).unwrap();
        let n = copy.clone();
        if let Ok(p) = guarded("random", move || Pool::open(&n)) {
            exercise(&p, &format!("random round {round}"), round);
        }
    }
    let _ = std::fs::remove_file(file(&copy));
}

/// Three worker processes run every pool operation in a loop while this process
/// scribbles random words over the live pool's chunk words and lengths, bitmap, member
/// table, counters and eventcounts: each worker finishes its rounds and exits cleanly
/// (typed errors and garbled bytes are allowed; a panic, an abort, a fault or a hang
/// is not). Fails on an unchecked word on any path (a panic or SIGSEGV exit) or a wait
/// that a scribble makes endless (the watchdog). Checked by breaking: `drop_view`
/// unwrapping its release → the workers panic.
#[test]
fn a_concurrent_scribbler_never_panics_or_hangs_a_worker() {
    use std::os::unix::fs::FileExt;
    let name = unique("ph-scrib");
    let pool = Pool::create(&name, &TWO).unwrap();
    // Each worker has opened the pool (claimed its entry) before the scribbling starts:
    // an open against a garbled member table may fail, typed, and that is not tested here.
    /// Kills the workers left on a failed assertion.
    struct Kids(Vec<std::process::Child>);
    impl Drop for Kids {
        fn drop(&mut self) {
            for k in &mut self.0 {
                common::kill9(k);
            }
        }
    }
    let mut kids = Kids(
        (0..3)
            .map(|_| spawn_ready("churn", &[name.clone(), "30000".into()]))
            .collect(),
    );
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(file(&name))
        .unwrap();
    let chunks = chunks_at(&TWO);
    let regions = [
        (chunks, 5 * 16),   // chunk words and lengths
        (BUSY, 16),         // bitmap words
        (MEMBERS, 32 * 16), // member entries
        (STATE, 24),        // counters
        (WAITS, 2 * 128),   // eventcounts of both classes
    ];
    let mut rng = Rng(seed());
    let t0 = std::time::Instant::now();
    let mut statuses = vec![None; kids.0.len()];
    let mut writes = 0u64;
    while statuses.iter().any(Option::is_none) {
        assert!(t0.elapsed() < WATCHDOG, "a worker hung under scribbles");
        for _ in 0..64 {
            let (base, len) = regions[rng.below(regions.len() as u64) as usize];
            let at = base + 8 * rng.below(len / 8);
            let v = match rng.below(4) {
                0 => rng.next(),
                1 => 0,
                // Legal-looking chunk words: a phase, a few holders, a small generation.
                2 => rng.below(4) << 32 | rng.below(16) | rng.below(4) << 34,
                _ => u64::MAX,
            };
            f.write_all_at(&v.to_ne_bytes(), at).unwrap();
            writes += 1;
        }
        for (k, s) in kids.0.iter_mut().zip(&mut statuses) {
            if s.is_none() {
                *s = k.try_wait().unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    for (i, s) in statuses.iter().enumerate() {
        let s = s.unwrap();
        assert!(s.success(), "worker {i} failed under scribbles: {s}");
    }
    println!(
        "{writes} scribbled words; creator: {}",
        exercise(&pool, "after", 7)
    );
}
