//! Buffer pools across real processes (issue 14 "Must show", design
//! `docs/design/buffer-pool.md` §6 "Multi-process"):
//!
//! * `thousand_16mib_buffers`: 1,000 × 16 MiB produced in one process and checksummed in
//!   place in another over a `BufSender`/`BufReceiver`; every chunk free at the end.
//! * `more_slots_than_chunks_never_deadlocks`: the handle pipe has more slots than the
//!   pool has chunks; the producer's transit holds must not starve its own `alloc`.
//! * `killed_consumer_chunks_come_back`: a consumer SIGKILLed while holding buffers; the
//!   producer's next allocations get exactly those chunks back.
//! * `killed_mid_write_never_seen`: a producer SIGKILLed between writing and freezing;
//!   no reader ever opens that chunk, and `recover` frees it.
//! * `every_fault_point_stop_and_kill`: SIGSTOP at each pool fault point (peers keep
//!   working, nothing is reclaimed from the live stopped process), SIGKILL at each
//!   (every chunk free after `recover`).
//!
//! No timing assertions: every wait is for a condition (a line, a process state, an
//! exit), and the timeouts only turn a hang into a failure.

mod common;

use common::{cont_and_kill, mix, peer, proc_state, role, sigcont, unique};
use shmlane::carrier::{BufQueue, BufReceiver, BufSender};
use shmlane::error::{BufRecvError, HandleError, TryAllocError};
use shmlane::pipe::Pipe;
use shmlane::pool::{Buf, BufHandle, Class, Pool};
use std::io::{BufRead, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Watchdog only: a correct run needs a fraction of this; it turns a hang into a failure.
const WATCHDOG: Duration = Duration::from_secs(60);
const MIB: usize = 1 << 20;
/// Generation bits of a chunk word (design §1, O1).
const GEN_LIMIT: u32 = 1 << 30;

/// Child-process entry point (ignored in normal runs; see `common::peer`).
#[test]
#[ignore]
fn peer_main() {
    let Some((role, args)) = role() else { return };
    match role.as_str() {
        // Receives `args[2]` buffers of pool `args[0]` over handle pipe `args[1]`,
        // checksums each in place, prints `SUM`, then waits until every chunk of the pool
        // is free (the producer drops its transit holds) and prints `FREE`.
        "consume-sum" => {
            let pool = Pool::open(&args[0]).unwrap();
            let rx = Pipe::<BufHandle>::open(&args[1])
                .unwrap()
                .receiver()
                .unwrap();
            let n: u64 = args[2].parse().unwrap();
            let mut rx = BufReceiver::new(&pool, rx);
            say("READY");
            let mut sum = 0;
            for i in 0..n {
                let buf = rx.recv().unwrap_or_else(|e| panic!("buffer {i}: {e}"));
                sum = mix(sum, checksum(&buf));
            }
            say(&format!("SUM {sum}"));
            until("every chunk free in the consumer", || all_free(&pool));
            assert_eq!(rx.lost(), 0);
            say("FREE");
        }
        // Joins the buffers named by the handles in `args[1..]` (pool `args[0]`), prints
        // their indices, and holds them until killed.
        "hold" => {
            let pool = Pool::open(&args[0]).unwrap();
            let held: Vec<Buf> = args[1..]
                .iter()
                .map(|h| pool.open_handle(parse_handle(h)).unwrap())
                .collect();
            let indices: Vec<String> = held.iter().map(|b| b.handle().index.to_string()).collect();
            say(&format!("HELD {}", indices.join(" ")));
            say("READY");
            std::thread::sleep(Duration::from_secs(600));
        }
        // Allocates `args[1]` chunks of pool `args[0]` (writing, not frozen) and holds them
        // until killed.
        "alloc-hold" => {
            let pool = Pool::open(&args[0]).unwrap();
            let n: usize = args[1].parse().unwrap();
            let held: Vec<_> = (0..n)
                .map(|_| pool.try_alloc(64).unwrap())
                .collect::<Vec<_>>();
            let indices: Vec<String> = held.iter().map(|b| b.index().to_string()).collect();
            say(&format!("HELD {}", indices.join(" ")));
            say("READY");
            std::thread::sleep(Duration::from_secs(600));
        }
        // Sends `args[2]` good buffers of pool `args[0]` over handle pipe `args[1]`, then
        // arms `kill:pool.freeze.before_cas`, writes half of one more buffer, prints its
        // index and freezes it: killed there. Prints `SURVIVED` if the point is missing.
        "send-then-die-mid-write" => {
            let pool = Pool::open(&args[0]).unwrap();
            let tx = Pipe::<BufHandle>::open(&args[1]).unwrap().sender().unwrap();
            let good: u64 = args[2].parse().unwrap();
            let mut tx = BufSender::new(&pool, tx);
            for i in 0..good {
                let mut b = pool.alloc_timeout(SMALL, WATCHDOG).unwrap();
                b.fill(i as u8 + 1);
                let buf = b.freeze();
                say(&format!("SENT {}", fmt_handle(buf.handle())));
                tx.send(buf).unwrap();
            }
            // SAFETY (set_var): read back only by `shmlane`'s fault points through
            // `std::env::var`, which std serialises with this call; nothing in this
            // process reads the environment through libc.
            unsafe { std::env::set_var("SHMLANE_FAULT", "kill:pool.freeze.before_cas") };
            let mut b = pool.alloc_timeout(SMALL, WATCHDOG).unwrap();
            b[..SMALL / 2].fill(0xdd);
            b.truncate(SMALL / 2);
            say(&format!("DOOMED {}", b.index()));
            let buf = b.freeze();
            tx.send(buf).unwrap();
            say("SURVIVED");
        }
        // The fault-point walk (`every_fault_point_stop_and_kill`): joins and drops the
        // parent's buffer `args[1]` (join, release of a shared hold), allocates, writes,
        // freezes and drops a buffer of its own (alloc, freeze, last release), then
        // recovers (adopts a dead member's entry if there is one).
        "walk" => {
            let pool = Pool::open(&args[0]).unwrap();
            let shared = pool.open_handle(parse_handle(&args[1])).unwrap();
            drop(shared);
            let mut b = pool.try_alloc(SMALL).unwrap();
            b.fill(7);
            let own = b.freeze();
            drop(own);
            pool.recover().unwrap();
        }
        // Creates pool `args[0]` (one class of 4 chunks), allocates and freezes one
        // buffer, and holds both until killed.
        "create-hold" => {
            let pool = Pool::create(
                &args[0],
                &[Class {
                    size: SMALL,
                    count: 4,
                }],
            )
            .unwrap();
            let b = pool.try_alloc(SMALL).unwrap().freeze();
            say("READY");
            std::thread::sleep(Duration::from_secs(600));
            drop(b);
        }
        // Sends one buffer of 0x42 bytes over handle pipe `args[1]` (armed at
        // `pool.send.after_push`), then exits (its transit hold lingers with the pool).
        "carrier-send" => {
            let pool = Pool::open(&args[0]).unwrap();
            let tx = Pipe::<BufHandle>::open(&args[1]).unwrap().sender().unwrap();
            let mut tx = BufSender::new(&pool, tx);
            let mut b = tx.alloc_timeout(SMALL, WATCHDOG).unwrap();
            b.fill(0x42);
            tx.send(b.freeze()).unwrap();
            say("SENT");
        }
        // Receives one buffer over handle pipe `args[1]` (armed at
        // `pool.recv.after_join`) and prints its length and first byte.
        "carrier-recv" => {
            let pool = Pool::open(&args[0]).unwrap();
            let rx = Pipe::<BufHandle>::open(&args[1])
                .unwrap()
                .receiver()
                .unwrap();
            let mut rx = BufReceiver::new(&pool, rx);
            let buf = rx.recv_timeout(WATCHDOG).unwrap();
            say(&format!("GOT {} {}", buf.len(), buf[0]));
        }
        // `args[1]` rounds on pool `args[0]`: allocate, stamp every word with this
        // process and round, let others run, check the stamp is intact (no other
        // process was handed the chunk meanwhile), freeze, check again through a
        // second view opened by handle, drop. Exits 3 on a clash.
        "stamp" => {
            let pool = Pool::open(&args[0]).unwrap();
            let rounds: u64 = args[1].parse().unwrap();
            say("READY");
            let me = u64::from(std::process::id()) << 32;
            for r in 0..rounds {
                let mut b = pool.alloc_timeout(SMALL, WATCHDOG).unwrap();
                let stamp = me | r;
                b.as_mut_slice_of::<u64>().unwrap().fill(stamp);
                std::thread::yield_now();
                let intact = |w: &[u64]| w.iter().all(|&x| x == stamp);
                if !intact(b.as_mut_slice_of::<u64>().unwrap()) {
                    say(&format!("CLASH chunk {} round {r}", b.index()));
                    std::process::exit(3);
                }
                let frozen = b.freeze();
                let view = pool.open_handle(frozen.handle()).unwrap();
                drop(frozen);
                std::thread::yield_now();
                if !intact(view.as_slice_of::<u64>().unwrap()) {
                    say(&format!(
                        "CLASH frozen chunk {} round {r}",
                        view.handle().index
                    ));
                    std::process::exit(3);
                }
                if r % 64 == 0 {
                    say(&format!("PROGRESS {r}"));
                }
            }
        }
        // Puts `args[3]` stamped buffers (producer `args[2]`) of pool `args[0]` on the
        // handle queue `args[1]`, allocating through the `BufQueue`.
        "q-produce" => {
            let pool = Pool::open(&args[0]).unwrap();
            let queue = shmlane::queue::Queue::<BufHandle>::open(&args[1]).unwrap();
            let p: u64 = args[2].parse().unwrap();
            let n: u64 = args[3].parse().unwrap();
            let mut q = BufQueue::new(&pool, queue);
            for seq in 0..n {
                let mut b = q.alloc_timeout(SMALL, WATCHDOG).unwrap();
                stamp_fill(b.as_mut_slice_of::<u64>().unwrap(), p << 32 | seq);
                q.put(b.freeze()).unwrap();
            }
        }
        // Gets until the queue is closed and drained; checks every buffer's stamp over
        // its whole length (exits 3 on a torn or foreign one); prints the count, an
        // order-free sum of the stamps and the handles lost.
        "q-consume" => {
            let pool = Pool::open(&args[0]).unwrap();
            let queue = shmlane::queue::Queue::<BufHandle>::open(&args[1]).unwrap();
            let mut q = BufQueue::new(&pool, queue);
            say("READY");
            let (mut count, mut sum) = (0u64, 0u64);
            loop {
                match q.get() {
                    Ok(buf) => {
                        let w = buf.as_slice_of::<u64>().unwrap();
                        if !stamp_ok(w) {
                            say(&format!("CLASH {:?} {:x}", buf.handle(), w[0]));
                            std::process::exit(3);
                        }
                        count += 1;
                        sum = sum.wrapping_add(mix(0, w[0]));
                    }
                    Err(shmlane::error::BufGetError::Closed) => break,
                    Err(e) => panic!("get: {e}"),
                }
            }
            say(&format!("RESULT {count} {sum} {}", q.lost()));
        }
        // Sends `args[2]` buffers of 0x42 bytes over handle pipe `args[1]`, prints
        // `SENT`, and waits to be killed (its transit holds back the buffers meanwhile).
        "send-and-hold" => {
            let pool = Pool::open(&args[0]).unwrap();
            let tx = Pipe::<BufHandle>::open(&args[1]).unwrap().sender().unwrap();
            let n: usize = args[2].parse().unwrap();
            let mut tx = BufSender::new(&pool, tx);
            for _ in 0..n {
                let mut b = tx.alloc_timeout(SMALL, WATCHDOG).unwrap();
                b.fill(0x42);
                tx.send(b.freeze()).unwrap();
            }
            say("SENT");
            std::thread::sleep(Duration::from_secs(600));
        }
        // Allocates every chunk of the class for `args[1]` bytes (pool `args[0]`),
        // stamps each with its index, prints the indices, holds them until killed.
        "alloc-class" => {
            let pool = Pool::open(&args[0]).unwrap();
            let len: usize = args[1].parse().unwrap();
            let mut held = Vec::new();
            while let Ok(mut b) = pool.try_alloc(len) {
                let i = b.index();
                b.fill(i as u8);
                held.push(b);
            }
            let idx: Vec<String> = held.iter().map(|b| b.index().to_string()).collect();
            say(&format!("HELD {}", idx.join(" ")));
            std::thread::sleep(Duration::from_secs(600));
        }
        // Allocates the chunk of `args[1]` bytes (pool `args[0]`), prints `HELD`, waits
        // until the file `args[2]` exists, then drops it (freeing it).
        "hold-until-file" => {
            let pool = Pool::open(&args[0]).unwrap();
            let b = pool.try_alloc(args[1].parse().unwrap()).unwrap();
            say(&format!("HELD {}", b.index()));
            let t0 = Instant::now();
            while !std::path::Path::new(&args[2]).exists() {
                assert!(t0.elapsed() < WATCHDOG, "no go file");
                std::thread::sleep(Duration::from_millis(1));
            }
            drop(b);
            say("FREED");
        }
        // Receives `args[2]` buffers over handle pipe `args[1]` and holds them all,
        // prints their indices, waits to be killed.
        "recv-hold" => {
            let pool = Pool::open(&args[0]).unwrap();
            let rx = Pipe::<BufHandle>::open(&args[1])
                .unwrap()
                .receiver()
                .unwrap();
            let n: usize = args[2].parse().unwrap();
            let mut rx = BufReceiver::new(&pool, rx);
            let held: Vec<Buf> = (0..n).map(|_| rx.recv_timeout(WATCHDOG).unwrap()).collect();
            let idx: Vec<String> = held.iter().map(|b| b.handle().index.to_string()).collect();
            say(&format!("HELD {}", idx.join(" ")));
            std::thread::sleep(Duration::from_secs(600));
        }
        _ => panic!("unknown role {role}"),
    }
}

/// Fills `w` with words derived from `stamp` (word 0 is the stamp itself).
fn stamp_fill(w: &mut [u64], stamp: u64) {
    for (j, x) in w.iter_mut().enumerate() {
        *x = stamp ^ (j as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Whether `w` is one whole `stamp_fill` (of the stamp in word 0).
fn stamp_ok(w: &[u64]) -> bool {
    let stamp = w[0];
    w.iter()
        .enumerate()
        .all(|(j, &x)| x == stamp ^ (j as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// Chunk size of the small pools.
const SMALL: usize = 4096;

/// Prints a line to the parent and flushes it (a child may be killed right after).
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
}

fn fmt_handle(h: BufHandle) -> String {
    format!("{}:{}:{}:{}", h.pool, h.index, h.generation, h.len)
}

fn parse_handle(s: &str) -> BufHandle {
    let f: Vec<u64> = s.split(':').map(|x| x.parse().unwrap()).collect();
    BufHandle {
        pool: f[0],
        index: f[1] as u32,
        generation: f[2] as u32,
        len: f[3],
    }
}

/// Polls `cond` until it holds; fails after [`WATCHDOG`]. For conditions another process
/// makes true (no timing assumption: only a hang fails).
fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < WATCHDOG, "{what}: not after {WATCHDOG:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn all_free(pool: &Pool) -> bool {
    let s = pool.stats();
    s.free == s.classes.iter().map(|c| c.count).collect::<Vec<_>>()
}

/// The pattern of buffer `i`: every 64-bit word depends on `i` and its position, so a
/// stale chunk (an older generation's bytes) or a shifted read changes the checksum.
/// Fills `buf` and returns its checksum (the same as [`checksum`] of the bytes).
fn fill(buf: &mut [u64], i: u64) -> u64 {
    let base = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let (mut a, mut b) = (0u64, 0u64);
    for (j, w) in buf.iter_mut().enumerate() {
        let v = base ^ (j as u64).wrapping_mul(0xd1b5_4a32_d192_ed03);
        *w = v;
        a = a.wrapping_add(v);
        b = b.wrapping_add(a);
    }
    a ^ b.rotate_left(32)
}

/// Fletcher-style checksum over the 64-bit words (position-sensitive), in place.
fn checksum(buf: &Buf) -> u64 {
    let words = buf.as_slice_of::<u64>().unwrap();
    let (mut a, mut b) = (0u64, 0u64);
    for &v in words {
        a = a.wrapping_add(v);
        b = b.wrapping_add(a);
    }
    a ^ b.rotate_left(32)
}

/// A child whose stdout lines arrive on a channel (read by a thread), so the parent can
/// wait for a line under the watchdog. Dropping it (also on a failed assertion)
/// continues and kills the child.
struct Kid {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
}

impl Kid {
    fn spawn(role: &str, args: &[String], fault: Option<&str>) -> Self {
        let mut cmd = peer(role, args);
        if let Some(f) = fault {
            cmd.env("SHMLANE_FAULT", f);
        }
        let mut child = cmd.spawn().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self {
            child: Some(child),
            lines,
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// The rest of the next line that starts with `prefix` (earlier lines skipped).
    fn line(&self, prefix: &str) -> String {
        let deadline = Instant::now() + WATCHDOG;
        let mut skipped = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    if let Some(rest) = l.strip_prefix(prefix) {
                        return rest.trim().to_owned();
                    }
                    skipped.push(l);
                }
                Err(e) => panic!(
                    "child {}: no line {prefix:?} ({e:?}); it printed {:?}",
                    self.pid(),
                    &skipped[skipped.len().saturating_sub(5)..]
                ),
            }
        }
    }

    /// Every line printed until the child exits.
    fn rest(&self) -> Vec<String> {
        let mut v = Vec::new();
        let deadline = Instant::now() + WATCHDOG;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => v.push(l),
                Err(mpsc::RecvTimeoutError::Disconnected) => return v,
                Err(e) => panic!("child {}: stdout still open ({e:?})", self.pid()),
            }
        }
    }

    /// Waits until the child has stopped (`T`) at its armed fault point.
    fn until_stopped(&self, what: &str) {
        let pid = self.pid();
        until(
            &format!("{what}: child {pid} stopped"),
            || match proc_state(pid) {
                Some(b'T') => true,
                Some(b'Z') | None => panic!("{what}: child {pid} exited before its fault point"),
                _ => false,
            },
        );
    }

    /// Waits for the child to exit (continuing it if stopped) and returns its status.
    fn wait(&mut self) -> ExitStatus {
        let child = self.child.as_mut().unwrap();
        let pid = child.id();
        let t0 = Instant::now();
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                self.child = None;
                return s;
            }
            if proc_state(pid) == Some(b'T') {
                sigcont(pid);
            }
            assert!(t0.elapsed() < WATCHDOG, "child {pid} never exited");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            cont_and_kill(&mut c);
        }
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        self.kill();
    }
}

/// 1,000 × 16 MiB, produced (filled with a per-buffer pattern) in this process, sent over
/// a `BufSender` and checksummed in place by a consumer process; a pool of 4 chunks, so
/// each chunk is reused ~250 times. Fails if a byte arrives wrong or stale (checksum), if
/// a chunk is never returned (the producer's `alloc_timeout` or the final `all_free`
/// fails), or if a transit hold outlives the consumer's pass (`FREE` never printed).
/// Checked by breaking: `Core::release` freeing the chunk on any holder's release (not
/// the last) → the consumer's checksums differ (chunks reused under its reads).
#[test]
fn thousand_16mib_buffers() {
    const N: u64 = 1000;
    const SIZE: usize = 16 * MIB;
    let name = unique("pool16");
    let hname = unique("pool16h");
    let pool = Pool::create(
        &name,
        &[Class {
            size: SIZE,
            count: 4,
        }],
    )
    .unwrap();
    let pipe = Pipe::<BufHandle>::create(&hname, 2).unwrap();
    let mut tx = BufSender::new(&pool, pipe.sender().unwrap());
    let kid = Kid::spawn("consume-sum", &[name, hname, N.to_string()], None);
    kid.line("READY");
    let t0 = Instant::now();
    let mut sum = 0;
    for i in 0..N {
        let mut b = tx
            .alloc_timeout(SIZE, WATCHDOG)
            .unwrap_or_else(|e| panic!("buffer {i}: {e}"));
        assert_eq!(b.len(), SIZE);
        sum = mix(sum, fill(b.as_mut_slice_of::<u64>().unwrap(), i));
        tx.send(b.freeze())
            .unwrap_or_else(|e| panic!("buffer {i}: {e}"));
    }
    let theirs: u64 = kid.line("SUM ").parse().unwrap();
    eprintln!(
        "{N} x 16 MiB produced and checksummed in {:?}",
        t0.elapsed()
    );
    assert_eq!(
        theirs, sum,
        "the consumer's checksums differ from the producer's"
    );
    // The consumer has passed every handle: dropping the sender drops its transit holds.
    drop(tx);
    until("every chunk free in the producer", || all_free(&pool));
    kid.line("FREE");
    let mut kid = kid;
    assert!(kid.wait().success(), "consumer failed");
    assert_eq!(pool.stats().free, vec![4]);
}

/// A handle pipe of 8 slots over a pool of 2 chunks: the consumer takes and drops every
/// buffer at once, so the chunks the producer cannot allocate are its own transit holds
/// of handles already taken. The sender's `alloc` (the documented way to allocate
/// beside a `BufSender`) must release those and never wait for ever. Fails
/// (`alloc_timeout` → `Timeout`) if the sender's alloc does not release taken holds
/// while it waits. Checked by breaking: `BufSender::alloc_deadline` without its
/// `release_received` → buffer 2 times out.
#[test]
fn more_slots_than_chunks_never_deadlocks() {
    slots_over_chunks(true);
}

/// The same with `Pool::alloc` beside the live `BufSender` (the plain
/// `tx.send(buf)` usage): the sender registers its transit holds with the pool, so a
/// miss drops the ones the receiver took. Before that (h/carrier 8fd51de) buffer 2
/// timed out: `Pool::alloc` could not see the sender's holds.
#[test]
fn pool_alloc_beside_a_sender_with_more_slots_than_chunks() {
    slots_over_chunks(false);
}

fn slots_over_chunks(through_sender: bool) {
    const N: u64 = 64;
    let name = unique("poolslots");
    let hname = unique("poolslotsh");
    let pool = Pool::create(
        &name,
        &[Class {
            size: SMALL,
            count: 2,
        }],
    )
    .unwrap();
    let pipe = Pipe::<BufHandle>::create(&hname, 8).unwrap();
    let mut tx = BufSender::new(&pool, pipe.sender().unwrap());
    let kid = Kid::spawn("consume-sum", &[name, hname, N.to_string()], None);
    kid.line("READY");
    let mut sum = 0;
    for i in 0..N {
        let wait = Duration::from_secs(20);
        let b = if through_sender {
            tx.alloc_timeout(SMALL, wait)
        } else {
            pool.alloc_timeout(SMALL, wait)
        };
        let mut b = b.unwrap_or_else(|e| panic!("buffer {i}: {e} (transit holds never released?)"));
        sum = mix(sum, fill(b.as_mut_slice_of::<u64>().unwrap(), i));
        tx.send(b.freeze()).unwrap();
    }
    let theirs: u64 = kid.line("SUM ").parse().unwrap();
    assert_eq!(theirs, sum);
    drop(tx);
    until("every chunk free in the producer", || all_free(&pool));
    kid.line("FREE");
    let mut kid = kid;
    assert!(kid.wait().success());
}

/// A consumer process joins k = 3 of 6 frozen buffers, reports their indices and is
/// SIGKILLed; the producer holds the other 3 and has dropped its holds on the k, so the
/// pool has exactly those k chunks in use by the dead process. The producer's next k
/// allocations (`alloc_timeout`, which recovers on a miss) succeed and return exactly
/// those indices, and `reclaimed` grew by k. While the consumer lives, nothing is
/// reclaimed (`try_alloc` is `Exhausted`). Fails if dead holders are not adopted on a
/// miss (`Timeout`), if a live holder's chunk is taken (not `Exhausted`), or if
/// `reclaimed` is not counted. Checked by breaking: no `recover` on the blocked
/// alloc's ticks → `alloc_timeout` times out.
#[test]
fn killed_consumer_chunks_come_back() {
    const K: usize = 3;
    let name = unique("poolkc");
    let pool = Pool::create(
        &name,
        &[Class {
            size: SMALL,
            count: 6,
        }],
    )
    .unwrap();
    let mut bufs: Vec<Buf> = (0..6u8)
        .map(|i| {
            let mut b = pool.try_alloc(SMALL).unwrap();
            b.fill(i);
            b.freeze()
        })
        .collect();
    let mut args = vec![name.clone()];
    args.extend(bufs[..K].iter().map(|b| fmt_handle(b.handle())));
    let mut kid = Kid::spawn("hold", &args, None);
    let mut held: Vec<u32> = kid
        .line("HELD ")
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    kid.line("READY");
    let mut sent: Vec<u32> = bufs[..K].iter().map(|b| b.handle().index).collect();
    held.sort_unstable();
    sent.sort_unstable();
    assert_eq!(held, sent);
    bufs.drain(..K); // the consumer is now the only holder of those k
    let before = pool.stats().reclaimed;
    assert_eq!(
        pool.try_alloc(SMALL).map(|b| b.index()),
        Err(TryAllocError::Exhausted),
        "a live holder's chunk was handed out"
    );
    assert_eq!(
        pool.stats().reclaimed,
        before,
        "reclaimed from a live process"
    );
    kid.kill();
    let again: Vec<_> = (0..K)
        .map(|i| {
            pool.alloc_timeout(SMALL, WATCHDOG)
                .unwrap_or_else(|e| panic!("allocation {i} after the kill: {e}"))
        })
        .collect();
    let mut got: Vec<u32> = again.iter().map(|b| b.index()).collect();
    got.sort_unstable();
    assert_eq!(got, held, "the dead consumer's chunks did not come back");
    assert_eq!(pool.stats().reclaimed, before + K as u64);
}

/// A producer process sends 3 good buffers, then writes half of a fourth and is
/// SIGKILLed at `pool.freeze.before_cas`. The consumer (this process) receives exactly
/// the good ones (or counts them lost) and never the doomed chunk; every handle for the
/// doomed chunk (its generation and the neighbouring ones, both lengths) is `Stale`; the
/// chunk's word still says `WRITING`; after `recover` every chunk is free. Fails if
/// freeze publishes before its CAS (open_handle would succeed) or if a dead writer's
/// `WRITING` chunk is not reclaimed. Checked by breaking: `Core::join` accepting
/// `WRITING` words → `open_handle` returns a Buf.
#[test]
fn killed_mid_write_never_seen() {
    const GOOD: u64 = 3;
    let name = unique("poolmw");
    let hname = unique("poolmwh");
    let pool = Pool::create(
        &name,
        &[Class {
            size: SMALL,
            count: 4,
        }],
    )
    .unwrap();
    let pipe = Pipe::<BufHandle>::create(&hname, 2).unwrap();
    let mut rx = BufReceiver::new(&pool, pipe.receiver().unwrap());
    let mut kid = Kid::spawn(
        "send-then-die-mid-write",
        &[name.clone(), hname, GOOD.to_string()],
        None,
    );
    // Receives until `Disconnected` (the sender died), on a thread under the watchdog.
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let mut received = Vec::new();
        loop {
            match rx.recv() {
                Ok(buf) => {
                    assert!(buf.iter().all(|&b| b == buf[0]) && buf[0] != 0xdd);
                    received.push(buf);
                }
                Err(BufRecvError::Disconnected) => break,
                Err(e) => panic!("recv: {e}"),
            }
            assert!(received.len() as u64 <= GOOD, "more buffers than were sent");
        }
        done.send((received, rx.lost())).unwrap();
    });
    let (received, lost) = result
        .recv_timeout(WATCHDOG)
        .expect("receiver panicked or never saw the dead sender's Disconnected");
    let status = kid.wait();
    let lines = kid.rest();
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "not killed at the point: {lines:?}"
    );
    let doomed: u32 = lines
        .iter()
        .find_map(|l| l.strip_prefix("DOOMED "))
        .expect("DOOMED line")
        .parse()
        .unwrap();
    let sent: Vec<BufHandle> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("SENT "))
        .map(parse_handle)
        .collect();
    assert_eq!(sent.len() as u64, GOOD);
    assert_eq!(received.len() as u64 + lost, GOOD);
    for b in &received {
        assert!(sent.contains(&b.handle()));
    }
    let geo = Geometry::new(&[(SMALL, 4)]);
    let word = peek(&name, geo.chunk_word(doomed));
    assert_eq!(phase(word), WRITING, "doomed chunk word {word:#x}");
    let generation = (word >> 34) as u32;
    assert!(
        received
            .iter()
            .all(|b| (b.handle().index, b.handle().generation) != (doomed, generation)),
        "the doomed buffer was received"
    );
    for g in generation.saturating_sub(2)..(generation + 3).min(GEN_LIMIT) {
        for len in [SMALL as u64 / 2, SMALL as u64, 0] {
            let h = BufHandle {
                pool: pool.id(),
                index: doomed,
                generation: g,
                len,
            };
            match pool.open_handle(h) {
                Err(HandleError::Stale { index, .. }) => assert_eq!(index, doomed),
                other => panic!("{h:?}: {other:?}"),
            }
        }
    }
    drop(received);
    assert!(
        pool.recover().unwrap() >= 1,
        "the dead writer's chunk was not freed"
    );
    let word = peek(&name, geo.chunk_word(doomed));
    assert_eq!(
        phase(word),
        FREE,
        "doomed chunk word {word:#x} after recover"
    );
    assert!(all_free(&pool), "{:?}", pool.stats());
}

/// One row of the fault-point table: the point, and how many chunks a stopped walker
/// keeps from others at that point (of the pool's `WALK_CHUNKS`, besides the parent's
/// shared buffer).
struct Row {
    point: &'static str,
    /// Chunks the stopped child holds or pins (not allocatable by others).
    pinned: usize,
    /// Needs a dead member holding two chunks for the child to adopt.
    dead_holder: bool,
}

const WALK_CHUNKS: usize = 6;

/// The pool fault points (design §3) that the `walk` role passes, in its order: those in
/// `src/ring/pool.rs` and the two `src/pool` adds (`pool.free.before_notify`,
/// `pool.adopt.after_claim`). The carrier's (`pool.send.after_push`,
/// `pool.recv.after_join`) are not passed by this walk.
const ROWS: &[Row] = &[
    // The child joined the parent's buffer: still held by the parent anyway.
    Row {
        point: "pool.join.after_cas",
        pinned: 0,
        dead_holder: false,
    },
    // It released its hold of the parent's buffer (the parent still holds it).
    Row {
        point: "pool.release.after_cas",
        pinned: 0,
        dead_holder: false,
    },
    // It took a token; the chunk is still `FREE` (a sweep restores its token).
    Row {
        point: "pool.alloc.after_token",
        pinned: 0,
        dead_holder: false,
    },
    // It owns a `WRITING` chunk.
    Row {
        point: "pool.alloc.after_cas",
        pinned: 1,
        dead_holder: false,
    },
    Row {
        point: "pool.freeze.before_cas",
        pinned: 1,
        dead_holder: false,
    },
    // It holds its `FROZEN` chunk.
    Row {
        point: "pool.freeze.after_cas",
        pinned: 1,
        dead_holder: false,
    },
    // It freed its chunk, the token not yet back (a sweep finds it).
    Row {
        point: "pool.free.before_token",
        pinned: 0,
        dead_holder: false,
    },
    // It freed its chunk and returned the token, waiters not yet woken (api's point).
    Row {
        point: "pool.free.before_notify",
        pinned: 0,
        dead_holder: false,
    },
    // It claimed the dead member's entry (api's point), nothing released yet: both of
    // the dead member's chunks are now held by a live adopter's entry.
    Row {
        point: "pool.adopt.after_claim",
        pinned: 2,
        dead_holder: true,
    },
    // It adopted the dead member's entry and released one of its two chunks: the other
    // is now held by a live adopter's entry and must not be reclaimed by anyone else.
    Row {
        point: "pool.adopt.mid",
        pinned: 1,
        dead_holder: true,
    },
];

/// For each pool fault point: a child walks join / release / alloc / freeze / last
/// release / adopt and SIGSTOPs itself at the point. While it is stopped, this process
/// (a peer) allocates every chunk it can (exactly `WALK_CHUNKS - 1 - pinned`: the
/// parent's shared buffer and the chunks the child pins stay out), `recover` frees
/// nothing and `reclaimed` does not move (a stopped process is alive); continued, the
/// child finishes and every chunk is free. Then the same walk with SIGKILL at the
/// point: the child dies there, and after `recover` every chunk is free and can be
/// allocated (a token lost at `pool.free.before_token` / `pool.alloc.after_token` is
/// found by a sweep).
///
/// Fails if a point is not wired (the child never stops / is not killed), if a live
/// stopped holder is reclaimed (stop half: more chunks or `reclaimed` moved), or if a
/// death at a point loses a chunk (kill half). Checked by breaking: the liveness check
/// of `recover` treating every member as dead → the stop half fails at the first row
/// (`recover` reclaims from the stopped walker).
#[test]
fn every_fault_point_stop_and_kill() {
    for row in ROWS {
        for kill in [false, true] {
            walk_one(row, kill);
        }
    }
}

fn walk_one(row: &Row, kill: bool) {
    let what = format!("{} {}", if kill { "kill" } else { "stop" }, row.point);
    let name = unique("poolfp");
    let pool = Pool::create(
        &name,
        &[Class {
            size: SMALL,
            count: WALK_CHUNKS,
        }],
    )
    .unwrap();
    let mut b = pool.try_alloc(SMALL).unwrap();
    b.fill(1);
    let shared = b.freeze();
    if row.dead_holder {
        let mut holder = Kid::spawn("alloc-hold", &[name.clone(), "2".into()], None);
        holder.line("READY");
        holder.kill();
    }
    let fault = format!("{}:{}", if kill { "kill" } else { "stop" }, row.point);
    let mut kid = Kid::spawn(
        "walk",
        &[name.clone(), fmt_handle(shared.handle())],
        Some(&fault),
    );
    if kill {
        let status = kid.wait();
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "{what}: not killed ({status})"
        );
        // The dead walker's holds (and a dead holder it adopted part of) come back.
        pool.recover().unwrap_or_else(|e| panic!("{what}: {e}"));
    } else {
        kid.until_stopped(&what);
        let reclaimed = pool.stats().reclaimed;
        assert_eq!(
            pool.recover(),
            Ok(0),
            "{what}: reclaimed from a stopped process"
        );
        let mut mine = Vec::new();
        loop {
            match pool.try_alloc(SMALL) {
                Ok(b) => mine.push(b),
                Err(TryAllocError::Exhausted) => break,
                Err(e) => panic!("{what}: {e}"),
            }
            assert!(
                mine.len() < WALK_CHUNKS,
                "{what}: more chunks than the pool has"
            );
        }
        assert_eq!(
            mine.len(),
            WALK_CHUNKS - 1 - row.pinned,
            "{what}: chunks a peer could allocate while the walker is stopped"
        );
        // A peer's whole cycle works meanwhile.
        let b = mine.pop().unwrap().freeze();
        let again = pool.open_handle(b.handle());
        assert!(
            matches!(again, Ok(_) | Err(HandleError::Stale { .. })),
            "{what}: {again:?}"
        );
        drop((b, again, mine));
        assert_eq!(
            pool.stats().reclaimed,
            reclaimed,
            "{what}: reclaimed from a live process"
        );
        let status = kid.wait();
        assert!(
            status.success(),
            "{what}: continued walker failed ({status})"
        );
    }
    drop(shared);
    let stats = pool.stats();
    assert_eq!(stats.free, vec![WALK_CHUNKS], "{what}: {stats:?}");
    // Every chunk can be allocated (no token lost for good).
    let all: Vec<_> = (0..WALK_CHUNKS)
        .map(|i| {
            pool.try_alloc(SMALL)
                .unwrap_or_else(|e| panic!("{what}: chunk {i} of {WALK_CHUNKS}: {e}"))
        })
        .collect();
    drop(all);
    assert!(all_free(&pool), "{what}");
}

/// `shmlane gc` on a live pool releases the holds of its dead members (design §1: "gc on
/// a live pool runs `recover`"): a child allocates 2 of 4 chunks and is SIGKILLed; this
/// process (a live member, so the pool is kept) runs `gc_only` on the pool's name and,
/// without allocating, sees every chunk free and `reclaimed` grown by 2. Fails if gc
/// skips live pools (free stays [2]) or removes a pool with a live member.
///
/// (Ignored until h/api 20b6c97, where `segment::gc` started running `recover` on the
/// pools it keeps; before it, free stayed [2] and reclaimed 0.)
#[test]
fn gc_reclaims_dead_holders() {
    let name = unique("poolgc");
    let object = format!("shmlane.{name}");
    let pool = Pool::create(
        &name,
        &[Class {
            size: SMALL,
            count: 4,
        }],
    )
    .unwrap();
    let mut kid = Kid::spawn("alloc-hold", &[name.clone(), "2".into()], None);
    kid.line("READY");
    kid.kill();
    assert_eq!(pool.stats().free, vec![2]);
    let before = pool.stats().reclaimed;
    let removed = shmlane::segment::gc_only(|o| o == object);
    assert!(
        removed.is_empty(),
        "gc removed a pool with a live member: {removed:?}"
    );
    assert!(std::path::Path::new("/dev/shm").join(&object).exists());
    let s = pool.stats();
    assert_eq!(
        s.free,
        vec![4],
        "gc did not release the dead member's holds: {s:?}"
    );
    assert_eq!(s.reclaimed, before + 2);
}

/// A pool whose creator and only member died holding a buffer is stale: `gc` removes it
/// and a restart can create the name again. Fails if the pool's member entries are not
/// listed as endpoints for `segment::stale` (gc keeps it, or `create` says
/// `AlreadyExists`).
#[test]
fn gc_removes_a_pool_whose_members_are_all_dead() {
    let name = unique("poolgcdead");
    let object = format!("shmlane.{name}");
    let mut kid = Kid::spawn("create-hold", std::slice::from_ref(&name), None);
    kid.line("READY");
    assert!(matches!(
        Pool::create(
            &name,
            &[Class {
                size: SMALL,
                count: 4
            }]
        ),
        Err(shmlane::CreateError::AlreadyExists(_))
    ));
    kid.kill();
    assert_eq!(
        shmlane::segment::gc_only(|o| o == object),
        vec![object.clone()]
    );
    let again = Pool::create(
        &name,
        &[Class {
            size: SMALL,
            count: 2,
        }],
    )
    .unwrap();
    assert_eq!(again.stats().free, vec![2]);
}

/// The carrier's fault points (design §3 rows 5 and 6), SIGSTOP and SIGKILL:
///
/// * `pool.send.after_push` (a sender process pushed the handle, its transit hold not
///   yet recorded): stopped, this receiver gets the buffer intact and nothing is
///   reclaimed; killed, the buffer arrives or is counted lost, never garbled; after
///   `recover` every chunk is free.
/// * `pool.recv.after_join` (a receiver process joined, not yet committed): stopped,
///   this sender's hold and the receiver's are both kept and nothing is reclaimed;
///   killed, `recover` drops the receiver's join, the handle is still uncommitted and
///   backed by the sender's transit hold, so a new receiver gets the same buffer.
///
/// Fails if a point is not wired (not stopped / not killed), if a stopped process's
/// hold is reclaimed, or if the receiver commits before joining (the killed-receiver
/// case then has nothing left to receive: `recv_timeout` → `Timeout`/`Disconnected`).
/// Checked by breaking: `BufReceiver` committing before its join → the kill case's new
/// receiver times out.
#[test]
fn carrier_fault_points_stop_and_kill() {
    for kill in [false, true] {
        carrier_send_point(kill);
        carrier_recv_point(kill);
    }
}

fn carrier_send_point(kill: bool) {
    let what = format!(
        "{} pool.send.after_push",
        if kill { "kill" } else { "stop" }
    );
    let name = unique("poolcs");
    let hname = unique("poolcsh");
    let pool = Pool::create(
        &name,
        &[Class {
            size: SMALL,
            count: 3,
        }],
    )
    .unwrap();
    let pipe = Pipe::<BufHandle>::create(&hname, 4).unwrap();
    let mut rx = BufReceiver::new(&pool, pipe.receiver().unwrap());
    let fault = format!(
        "{}:pool.send.after_push",
        if kill { "kill" } else { "stop" }
    );
    let mut kid = Kid::spawn("carrier-send", &[name, hname], Some(&fault));
    if kill {
        let status = kid.wait();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{what}: {status}");
        match rx.recv_timeout(WATCHDOG) {
            Ok(buf) => assert!(
                buf.len() == SMALL && buf.iter().all(|&b| b == 0x42),
                "{what}"
            ),
            Err(e) => assert_eq!(rx.lost(), 1, "{what}: {e}"),
        }
    } else {
        kid.until_stopped(&what);
        let reclaimed = pool.stats().reclaimed;
        let buf = rx.recv_timeout(WATCHDOG).unwrap();
        assert!(
            buf.len() == SMALL && buf.iter().all(|&b| b == 0x42),
            "{what}"
        );
        assert_eq!(pool.recover(), Ok(0), "{what}");
        drop(buf);
        assert_eq!(
            pool.stats().free,
            vec![2],
            "{what}: the stopped sender's hold is gone"
        );
        assert_eq!(pool.stats().reclaimed, reclaimed, "{what}");
        assert!(kid.wait().success(), "{what}");
    }
    pool.recover().unwrap();
    let s = pool.stats();
    assert_eq!(s.free, vec![3], "{what}: {s:?}");
}

fn carrier_recv_point(kill: bool) {
    let what = format!(
        "{} pool.recv.after_join",
        if kill { "kill" } else { "stop" }
    );
    let name = unique("poolcr");
    let hname = unique("poolcrh");
    let pool = Pool::create(
        &name,
        &[Class {
            size: SMALL,
            count: 3,
        }],
    )
    .unwrap();
    let pipe = Pipe::<BufHandle>::create(&hname, 4).unwrap();
    let mut tx = BufSender::new(&pool, pipe.sender().unwrap());
    let fault = format!(
        "{}:pool.recv.after_join",
        if kill { "kill" } else { "stop" }
    );
    let mut kid = Kid::spawn("carrier-recv", &[name, hname], Some(&fault));
    let mut b = tx.alloc_timeout(SMALL, WATCHDOG).unwrap();
    b.fill(0x43);
    tx.send(b.freeze()).unwrap();
    if kill {
        let status = kid.wait();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{what}: {status}");
        pool.recover().unwrap();
        // The dead receiver's end is reclaimed; the uncommitted handle is read again.
        let mut rx = BufReceiver::new(&pool, pipe.receiver().unwrap());
        let buf = rx
            .recv_timeout(WATCHDOG)
            .unwrap_or_else(|e| panic!("{what}: the uncommitted buffer is gone: {e}"));
        assert!(
            buf.len() == SMALL && buf.iter().all(|&b| b == 0x43),
            "{what}"
        );
    } else {
        kid.until_stopped(&what);
        let reclaimed = pool.stats().reclaimed;
        assert_eq!(pool.recover(), Ok(0), "{what}");
        // Two more chunks for this process while the receiver is stopped.
        let more: Vec<_> = (0..2)
            .map(|_| {
                tx.try_alloc(SMALL)
                    .unwrap_or_else(|e| panic!("{what}: {e}"))
            })
            .collect();
        assert!(
            tx.try_alloc(SMALL).is_err(),
            "{what}: the joined chunk was handed out"
        );
        drop(more);
        assert_eq!(pool.stats().reclaimed, reclaimed, "{what}");
        let status = kid.wait();
        assert!(status.success(), "{what}: {status}");
        let lines = kid.rest();
        assert!(
            lines.iter().any(|l| l == "GOT 4096 67"),
            "{what}: {lines:?}"
        );
    }
    drop(tx);
    until(&what, || all_free(&pool));
}

/// Four processes stamp, check and free chunks of a 3-chunk pool in a loop while this
/// process SIGKILLs one of them now and then (each victim mid-loop: holding a `WRITING`
/// or `FROZEN` chunk, or anywhere in alloc / freeze / release / recover) and starts a
/// replacement. The survivors' misses adopt the dead ones' chunks while others allocate.
/// No chunk is ever handed to two processes at once (a worker checks its stamp over
/// the whole chunk before and after freezing, and exits 3 on a clash); at the end,
/// after `recover`, every chunk is free and allocatable. Fails on a double allocation
/// (exit 3), a lost chunk (a worker's `alloc_timeout` panics, or the final counts), or
/// an adoption of a live member (a clash). Checked by breaking: `Core::try_alloc`
/// CASing any non-`FROZEN` word (a stale token's `WRITING` chunk) → `CLASH`.
#[test]
fn no_chunk_is_handed_out_twice_under_kills() {
    const WORKERS: usize = 4;
    const KILLS: usize = 24;
    let name = unique("poolstamp");
    let pool = Pool::create(
        &name,
        &[Class {
            size: SMALL,
            count: 3,
        }],
    )
    .unwrap();
    let spawn = |rounds: u64| {
        let kid = Kid::spawn("stamp", &[name.clone(), rounds.to_string()], None);
        kid.line("READY");
        kid
    };
    let mut kids: Vec<Kid> = (0..WORKERS).map(|_| spawn(1 << 40)).collect();
    let mut rng = common::Rng(common::seed());
    for _ in 0..KILLS {
        let victim = rng.below(WORKERS as u64) as usize;
        // Killed once it has made progress (it is in its loop, anywhere in it).
        for _ in 0..=rng.below(3) {
            kids[victim].line("PROGRESS");
        }
        kids[victim].kill();
        kids[victim] = spawn(1 << 40);
    }
    // Each survivor proves it still runs, then the endless ones are replaced by
    // finite ones that must exit cleanly.
    for k in &mut kids {
        k.line("PROGRESS");
        k.kill();
    }
    let mut finite: Vec<Kid> = (0..WORKERS).map(|_| spawn(256)).collect();
    for k in &mut finite {
        let status = k.wait();
        let lines = k.rest();
        assert!(status.success(), "worker failed ({status}): {lines:?}");
    }
    pool.recover().unwrap();
    let all: Vec<_> = (0..3)
        .map(|i| {
            pool.try_alloc(SMALL)
                .unwrap_or_else(|e| panic!("chunk {i}: {e}"))
        })
        .collect();
    drop(all);
    assert!(all_free(&pool), "{:?}", pool.stats());
}

/// 31 processes and this one fill the pool's 32 member entries, each child holding one
/// chunk: a 33rd open is a typed `TableFull`, never a panic or a shared entry. Then:
///
/// * child A is SIGKILLed and a new opener, armed to die at `endpoint.claim.after_cas`,
///   takes over A's entry and dies before its self-adoption (design §3 row 11): `recover`
///   adopts the entry again and frees A's chunk (`Ok(1)`); the entry is vacant again and
///   the next open gets it; the table is full again after that;
/// * child B is SIGKILLed: the next open takes over B's entry and, by its self-adoption,
///   releases B's hold (the chunk comes back, `reclaimed` + 1).
///
/// The 29 live children keep their chunks throughout (`recover` → 0, free counts exact).
/// Fails if an open shares a live member's entry (a live child's chunk freed), if a
/// dead member's entry is never reused (`TableFull`), or if a death between a takeover
/// claim and its self-adoption loses the dead member's chunk.
#[test]
fn a_full_member_table_takes_over_dead_members() {
    const CHILDREN: usize = 31;
    let name = unique("poolfull");
    let pool = Pool::create(
        &name,
        &[Class {
            size: 128,
            count: 40,
        }],
    )
    .unwrap();
    let mut kids: Vec<Kid> = (0..CHILDREN)
        .map(|_| Kid::spawn("alloc-hold", &[name.clone(), "1".into()], None))
        .collect();
    for k in &kids {
        k.line("READY");
    }
    let free = |n: usize| vec![40 - CHILDREN + n];
    assert_eq!(pool.stats().free, free(0));
    let full = |what: &str| match Pool::open(&name) {
        Err(shmlane::OpenError::Claim(shmlane::error::ClaimError::TableFull { members })) => {
            assert_eq!(members, 32, "{what}")
        }
        other => panic!("{what}: a 33rd member: {other:?}"),
    };
    full("32 live members");
    let before = pool.stats().reclaimed;
    kids[7].kill();
    let mut dies = Kid::spawn(
        "alloc-hold",
        &[name.clone(), "1".into()],
        Some("kill:endpoint.claim.after_cas"),
    );
    let status = dies.wait();
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "taker not killed: {status}"
    );
    assert_eq!(
        pool.recover(),
        Ok(1),
        "the dead member's chunk after a dead takeover"
    );
    assert_eq!(pool.stats().free, free(1));
    let a = Pool::open(&name).unwrap_or_else(|e| panic!("the vacated entry: {e}"));
    full("the vacated entry taken");
    kids[8].kill();
    let b = Pool::open(&name).unwrap_or_else(|e| panic!("the dead member's entry: {e}"));
    let s = b.stats();
    assert_eq!(s.free, free(2), "{s:?}");
    assert_eq!(s.reclaimed, before + 2);
    for p in [&pool, &a, &b] {
        assert_eq!(p.recover(), Ok(0));
    }
    assert_eq!(pool.stats().free, free(2));
}

/// A `fork`ed child inherits copies of the parent's views (design §3 "fork"): dropping
/// them, and the pool handle, in the child releases nothing of the parent's (its bit,
/// its entry). Fails if the child's drops clear the parent's bit (the chunk would be
/// free while the parent reads it: free [2], or the reopen `Stale`). Checked by
/// breaking: `drop_view` without its pid check → free [2].
#[test]
fn a_forked_childs_view_drop_releases_nothing() {
    let pool = Pool::create(
        &unique("poolfork"),
        &[Class {
            size: SMALL,
            count: 2,
        }],
    )
    .unwrap();
    let mut b = pool.try_alloc(SMALL).unwrap();
    b.fill(5);
    let buf = b.freeze();
    let twin = buf.clone();
    // SAFETY: the child only drops these handles and `_exit`s (never returns into the
    // harness); nothing else in this test process uses the pool meanwhile.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            drop(twin);
            drop(buf);
            drop(pool);
        }));
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(if r.is_ok() { 0 } else { 101 }) }
    }
    let t0 = Instant::now();
    let code = loop {
        let mut st = 0;
        // SAFETY: waitpid on our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
        if r == pid {
            break libc::WIFEXITED(st).then(|| libc::WEXITSTATUS(st));
        }
        if t0.elapsed() > WATCHDOG {
            // SAFETY: kill our own, not yet reaped, child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("forked child never exited");
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    assert_eq!(code, Some(0), "forked child failed");
    assert_eq!(
        pool.stats().free,
        vec![1],
        "the child's drops released our hold"
    );
    let again = pool.open_handle(buf.handle()).unwrap();
    assert!(again.iter().all(|&x| x == 5));
    assert_eq!(pool.recover(), Ok(0));
    drop((again, twin, buf));
    assert_eq!(pool.stats().free, vec![2]);
}

/// Two producer processes put 200 stamped buffers each on a `BufQueue` (16 chunks, a
/// queue of 4 slots: with 4 chunks the same run takes ~4 s instead of ~0.1 s, the
/// producers' `alloc` waiting in 50 ms ticks for getters to take their transit holds,
/// as `BufQueue`'s doc says); two consumer processes get until the queue is closed and check
/// each buffer over its whole length; a third consumer is SIGKILLed at
/// `pool.recv.after_join` on its first get (joined, slot not released). Every buffer
/// is delivered whole and at most once (no torn or stale content, the stamp sum of what
/// arrived equals the sum of what was sent minus at most the one the dead consumer
/// joined), and after `recover` every chunk is free. Fails on a buffer delivered twice
/// or torn (sums / exit 3), on a queue that stalls at the dead getter's slot (the
/// watchdog), or on a lost chunk.
#[test]
fn buf_queue_across_processes_with_a_killed_getter() {
    const N: u64 = 200;
    let name = unique("poolq");
    let qname = unique("poolqq");
    let pool = Pool::create(
        &name,
        &[Class {
            size: SMALL,
            count: 16,
        }],
    )
    .unwrap();
    let queue = shmlane::queue::Queue::<BufHandle>::create(&qname, 4).unwrap();
    let args = [name.clone(), qname.clone()];
    let mut doomed = Kid::spawn("q-consume", &args, Some("kill:pool.recv.after_join"));
    doomed.line("READY");
    let consumers: Vec<Kid> = (0..2)
        .map(|_| Kid::spawn("q-consume", &args, None))
        .collect();
    for c in &consumers {
        c.line("READY");
    }
    let mut producers: Vec<Kid> = (0..2u64)
        .map(|p| {
            Kid::spawn(
                "q-produce",
                &[name.clone(), qname.clone(), p.to_string(), N.to_string()],
                None,
            )
        })
        .collect();
    for p in &mut producers {
        assert!(p.wait().success(), "producer failed");
    }
    // Closed after every put: the consumers drain it, then see `Closed`.
    queue.close().unwrap();
    let doomed_status = doomed.wait();
    eprintln!("getter armed at pool.recv.after_join: {doomed_status}");
    let (mut count, mut sum, mut lost) = (0u64, 0u64, 0u64);
    for mut c in consumers {
        let r: Vec<u64> = c
            .line("RESULT ")
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        assert!(c.wait().success(), "consumer failed");
        count += r[0];
        sum = sum.wrapping_add(r[1]);
        lost += r[2];
    }
    let mut want = 0u64;
    let mut stamps = Vec::new();
    for p in 0..2u64 {
        for seq in 0..N {
            want = want.wrapping_add(mix(0, p << 32 | seq));
            stamps.push(p << 32 | seq);
        }
    }
    assert_eq!(lost, 0, "live consumers lost handles");
    if doomed_status.signal() == Some(libc::SIGKILL) {
        // The buffer the dead getter joined is delivered to nobody (BufQueue doc).
        assert_eq!(count, 2 * N - 1, "buffers delivered");
        assert!(
            stamps.iter().any(|&s| want.wrapping_sub(mix(0, s)) == sum),
            "the delivered buffers are not all but one of those sent"
        );
    } else {
        // It found the queue drained and closed before it got any.
        assert!(doomed_status.success());
        assert_eq!((count, sum), (2 * N, want));
    }
    pool.recover().unwrap();
    until("every chunk free", || all_free(&pool));
}

/// The carrier form of `killed_consumer_chunks_come_back`: a consumer process receives
/// k = 3 buffers over a `BufReceiver` and holds them; the producer keeps the pool's
/// other 2 chunks; the consumer is SIGKILLed; the producer's next k allocations through
/// its `BufSender` (which first drops its transit holds of handles taken) succeed and
/// return exactly the consumer's chunks; `reclaimed` grew by k. Fails if the sender's
/// transit holds outlive the taking (its allocations time out even after the
/// adoption) or a dead receiver's holds are not adopted.
#[test]
fn killed_receiver_chunks_come_back_to_the_sender() {
    const K: usize = 3;
    let name = unique("poolkr");
    let hname = unique("poolkrh");
    let pool = Pool::create(
        &name,
        &[Class {
            size: SMALL,
            count: 5,
        }],
    )
    .unwrap();
    let pipe = Pipe::<BufHandle>::create(&hname, 4).unwrap();
    let mut tx = BufSender::new(&pool, pipe.sender().unwrap());
    let mut kid = Kid::spawn("recv-hold", &[name, hname, K.to_string()], None);
    for i in 0..K {
        let mut b = tx.alloc_timeout(SMALL, WATCHDOG).unwrap();
        b.fill(i as u8);
        tx.send(b.freeze()).unwrap();
    }
    let mut held: Vec<u32> = kid
        .line("HELD ")
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    held.sort_unstable();
    let ours: Vec<_> = (0..2)
        .map(|_| tx.alloc_timeout(SMALL, WATCHDOG).unwrap())
        .collect();
    let before = pool.stats().reclaimed;
    assert!(
        tx.try_alloc(SMALL).is_err(),
        "a live receiver's chunk was handed out"
    );
    kid.kill();
    let again: Vec<_> = (0..K)
        .map(|i| {
            tx.alloc_timeout(SMALL, WATCHDOG)
                .unwrap_or_else(|e| panic!("allocation {i} after the kill: {e}"))
        })
        .collect();
    let mut got: Vec<u32> = again.iter().map(|b| b.index()).collect();
    got.sort_unstable();
    assert_eq!(got, held, "the dead receiver's chunks did not come back");
    assert_eq!(pool.stats().reclaimed, before + K as u64);
    drop((ours, again));
}

/// A sender process puts 3 buffers in flight and is SIGKILLed before the receiver reads
/// any. The receiving process then allocates every chunk (its misses adopt the dead
/// sender's holds: the in-flight chunks are reused) and overwrites them. Its receiver
/// must get none of the reused chunks' new bytes: each in-flight handle is `Stale`
/// now, skipped and counted in `lost()`, then `Disconnected`. Fails if a handle is
/// joined without its generation (a buffer of 0xee bytes would arrive) or if the dead
/// sender's holds are not adopted (the allocations time out).
#[test]
fn a_dead_senders_unread_buffers_are_lost_not_reused() {
    let name = unique("poolds");
    let hname = unique("pooldsh");
    let pool = Pool::create(
        &name,
        &[Class {
            size: SMALL,
            count: 4,
        }],
    )
    .unwrap();
    let pipe = Pipe::<BufHandle>::create(&hname, 4).unwrap();
    let mut rx = BufReceiver::new(&pool, pipe.receiver().unwrap());
    let mut kid = Kid::spawn("send-and-hold", &[name, hname, "3".into()], None);
    kid.line("SENT");
    kid.kill();
    let mine: Vec<Buf> = (0..4)
        .map(|i| {
            let mut b = pool
                .alloc_timeout(SMALL, WATCHDOG)
                .unwrap_or_else(|e| panic!("chunk {i}: {e}"));
            b.fill(0xee);
            b.freeze()
        })
        .collect();
    assert_eq!(pool.stats().reclaimed, 3);
    match rx.recv_timeout(WATCHDOG) {
        Err(shmlane::error::BufRecvTimeoutError::Disconnected) => {}
        Ok(buf) => panic!("received a reused chunk: {:?} {:#x}", buf.handle(), buf[0]),
        Err(e) => panic!("{e}"),
    }
    assert_eq!(rx.lost(), 3);
    drop(mine);
    assert!(all_free(&pool));
}

/// Classes whose counts straddle bitmap-word boundaries (64, 65, 1: the second class's
/// token words start right after the first's, and its last word has one valid bit),
/// split between processes: a child takes every chunk of the middle class, this process
/// every chunk of the others; each class hands out exactly its own index range, once;
/// the child's death gives the middle class back, whole. Fails on a bitmap offset or
/// mask error (an index outside its class, a duplicate, a count off by one) or a class
/// whose dead holder's chunks are not all adopted.
#[test]
fn multi_class_pool_across_processes() {
    let classes = [
        Class {
            size: 128,
            count: 64,
        },
        Class {
            size: 256,
            count: 65,
        },
        Class {
            size: 4096,
            count: 1,
        },
    ];
    let name = unique("poolmc");
    let pool = Pool::create(&name, &classes).unwrap();
    let mut kid = Kid::spawn("alloc-class", &[name.clone(), "200".into()], None);
    let mut theirs: Vec<u32> = kid
        .line("HELD ")
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    theirs.sort_unstable();
    assert_eq!(
        theirs,
        (64..129).collect::<Vec<u32>>(),
        "the middle class's indices"
    );
    let take_all = |len: usize| {
        let mut v = Vec::new();
        loop {
            match pool.try_alloc(len) {
                Ok(b) => v.push(b),
                Err(TryAllocError::Exhausted) => break,
                Err(e) => panic!("{len}: {e}"),
            }
            assert!(v.len() <= 200, "{len}: more chunks than the pool has");
        }
        v
    };
    let small = take_all(100);
    let large = take_all(3000);
    let idx = |v: &[shmlane::pool::BufMut]| {
        let mut i: Vec<u32> = v.iter().map(|b| b.index()).collect();
        i.sort_unstable();
        i
    };
    assert_eq!(idx(&small), (0..64).collect::<Vec<u32>>());
    assert_eq!(idx(&large), vec![129]);
    assert!(matches!(pool.try_alloc(200), Err(TryAllocError::Exhausted)));
    kid.kill();
    let middle: Vec<_> = (0..65)
        .map(|i| {
            pool.alloc_timeout(200, WATCHDOG)
                .unwrap_or_else(|e| panic!("middle chunk {i} after the kill: {e}"))
        })
        .collect();
    assert_eq!(idx(&middle), (64..129).collect::<Vec<u32>>());
    assert!(matches!(pool.try_alloc(200), Err(TryAllocError::Exhausted)));
    drop((small, large, middle));
    assert_eq!(pool.stats().free, vec![64, 65, 1]);
}

/// A blocked `alloc` in this process, and the only chunk's holder in another process,
/// armed to stop at `pool.free.before_notify`: the holder frees the chunk (token back)
/// and stops before waking anyone. The waiter must still get the chunk while the freer
/// stays stopped (design §4: each ≤ 50 ms tick re-checks; a freer dead or stopped
/// between its token and its notify costs at most a tick). Fails if a sleeping
/// allocation waits only for a notify (the watchdog fires). Checked by breaking:
/// `wait::block_on_with` sleeping 72,000 ticks instead of one → the watchdog fires.
#[test]
fn a_waiter_is_served_while_the_freer_is_stopped_before_notify() {
    let name = unique("poolwn");
    let go = std::env::temp_dir().join(unique("poolwn-go"));
    let pool = Pool::create(
        &name,
        &[Class {
            size: SMALL,
            count: 1,
        }],
    )
    .unwrap();
    let kid = Kid::spawn(
        "hold-until-file",
        &[name, SMALL.to_string(), go.display().to_string()],
        Some("stop:pool.free.before_notify"),
    );
    kid.line("HELD ");
    let p = pool.clone();
    let waiter = std::thread::spawn(move || p.alloc(SMALL).map(|b| b.index()));
    std::thread::sleep(Duration::from_millis(100)); // not required: makes the waiter likely asleep
    std::fs::write(&go, b"").unwrap();
    kid.until_stopped("freer at pool.free.before_notify");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(waiter.join()));
    let got = rx
        .recv_timeout(WATCHDOG)
        .expect("the waiter was not served while the freer is stopped before its notify");
    assert_eq!(got.unwrap(), Ok(0));
    let _ = std::fs::remove_file(&go);
    drop(kid);
}

// ---- the segment layout (design §1), to read chunk words through /dev/shm ----

const FREE: u64 = 0;
const WRITING: u64 = 1;

fn phase(word: u64) -> u64 {
    (word >> 32) & 3
}

/// Offsets of a pool segment's parts (design §1 table, `src/layout/pool.rs`: header 256
/// bytes, then the pool region at 256: info, state, waits, members, then the `busy`
/// bitmaps of all classes from 256 + 1920, contiguous, padded to a 128-byte line, then
/// the chunk descriptors, 16 bytes each).
struct Geometry {
    chunks: u64,
}

impl Geometry {
    fn new(classes: &[(usize, usize)]) -> Self {
        let words: u64 = classes.iter().map(|&(_, n)| (n as u64).div_ceil(64)).sum();
        Self {
            chunks: (256 + 1920 + 8 * words).div_ceil(128) * 128,
        }
    }

    /// File offset of chunk `index`'s word.
    fn chunk_word(&self, index: u32) -> u64 {
        self.chunks + 16 * index as u64
    }
}

/// Reads the 64-bit word at `offset` of segment `name` (`/dev/shm/shmlane.NAME`).
fn peek(name: &str, offset: u64) -> u64 {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(format!("/dev/shm/shmlane.{name}")).unwrap();
    let mut b = [0; 8];
    f.read_exact_at(&mut b, offset).unwrap();
    u64::from_ne_bytes(b)
}
