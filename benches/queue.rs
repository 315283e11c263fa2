//! MPMC queues, in the same run:
//! * in-process `mpmc_{1p1c,2p2c,4p4c}`: shmlane's queue (on the heap and in a shared
//!   segment) against crossbeam ArrayQueue and crossbeam-channel; P producer threads
//!   push, C consumer threads pop, with spinning retries (no blocking);
//! * cross-process `mpmc_processes_2p2c`: shmlane `Queue` vs a pipe-plus-lock queue
//!   (what `multiprocessing.Queue` does underneath: one OS pipe, a lock around each
//!   write and around each read), 2 producer and 2 consumer processes.
//!
//! Threads and processes are pinned round-robin over the available cores.
//! `cargo bench --bench queue`; `cargo test --benches` runs each once.
//! `SHMLANE_QB_BLOCKS=20 cargo bench --bench queue` measures the in-process groups
//! interleaved instead (see [`interleaved`]).

use criterion::{Criterion, Throughput};
mod common;
use common::{BlockRatios, median, pin_to, rotated_blocks};
use std::hint::{black_box, spin_loop};
use std::time::{Duration, Instant};

const CAP: usize = 1024;
/// End-of-stream marker: one per consumer, pushed after every producer finished.
const STOP: u64 = u64::MAX;

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `p` producer threads push `n` values in all; `c` consumer threads pop until they
/// take a [`STOP`]. Handles come from `prod`/`cons` applied to the shared queue `s`.
#[allow(clippy::too_many_arguments)]
fn run<S, P: Send + 'static, C: Send + 'static>(
    n: u64,
    (p, c): (usize, usize),
    s: &S,
    prod: fn(&S) -> P,
    cons: fn(&S) -> C,
    push: fn(&mut P, u64) -> bool,
    pop: fn(&mut C) -> Option<u64>,
) -> Duration {
    let consumers: Vec<C> = (0..c).map(|_| cons(s)).collect();
    let mut producers: Vec<P> = (0..p).map(|_| prod(s)).collect();
    let mut stopper = prod(s);
    let start = Instant::now();
    let ct: Vec<_> = consumers
        .into_iter()
        .enumerate()
        .map(|(i, mut h)| {
            std::thread::spawn(move || {
                pin_to((2 * i + 1) % cores());
                loop {
                    match pop(&mut h) {
                        Some(STOP) => return,
                        Some(v) => {
                            black_box(v);
                        }
                        None => spin_loop(),
                    }
                }
            })
        })
        .collect();
    let pt: Vec<_> = producers
        .drain(..)
        .enumerate()
        .map(|(i, mut h)| {
            let share = n / p as u64 + u64::from((i as u64) < n % p as u64);
            std::thread::spawn(move || {
                pin_to((2 * i) % cores());
                for v in 0..share {
                    while !push(&mut h, v) {
                        spin_loop();
                    }
                }
            })
        })
        .collect();
    for t in pt {
        t.join().unwrap();
    }
    for _ in 0..c {
        while !push(&mut stopper, STOP) {
            spin_loop();
        }
    }
    for t in ct {
        t.join().unwrap();
    }
    start.elapsed()
}

/// One in-process implementation: its name and a run of `n` items through it.
type Impl = (&'static str, Box<dyn Fn(u64) -> Duration>);

macro_rules! implementation {
    ($pc:expr, $id:literal, $make:expr, $prod:expr, $cons:expr, $push:expr, $pop:expr) => {{
        let s = $make();
        let f: Box<dyn Fn(u64) -> Duration> =
            Box::new(move |n| run(n, $pc, &s, $prod, $cons, $push, $pop));
        ($id, f)
    }};
}

/// The in-process groups: name and (producers, consumers).
const GROUPS: [(&str, (usize, usize)); 3] = [
    ("mpmc_1p1c", (1, 1)),
    ("mpmc_2p2c", (2, 2)),
    ("mpmc_4p4c", (4, 4)),
];

/// Every in-process implementation for `pc` producers and consumers; crossbeam
/// ArrayQueue (the goal's reference) is at index [`REFERENCE`].
fn implementations(pc: (usize, usize)) -> Vec<Impl> {
    use shmlane::queue::Queue;
    use shmlane::ring::mpmc::{Member, QueueRing};
    type Aq = std::sync::Arc<crossbeam_queue::ArrayQueue<u64>>;
    type Ch = (
        crossbeam_channel::Sender<u64>,
        crossbeam_channel::Receiver<u64>,
    );
    vec![
        implementation!(
            pc,
            "shmlane-heap",
            || shmlane::ring::mpmc::heap::<u64>(CAP).unwrap(),
            |q: &QueueRing<u64>| q.join_local().unwrap(),
            |q: &QueueRing<u64>| q.join_local().unwrap(),
            |m: &mut Member<u64>, v| m.try_push(v).is_ok(),
            |m: &mut Member<u64>| m.try_pop().ok()
        ),
        implementation!(
            pc,
            "shmlane-segment",
            || Queue::<u64>::anonymous(CAP).unwrap(),
            |q: &Queue<u64>| q.try_clone().unwrap(),
            |q: &Queue<u64>| q.try_clone().unwrap(),
            |q: &mut Queue<u64>, v| q.try_put(v).is_ok(),
            |q: &mut Queue<u64>| q.try_get().ok()
        ),
        implementation!(
            pc,
            "crossbeam-arrayqueue",
            || std::sync::Arc::new(crossbeam_queue::ArrayQueue::<u64>::new(CAP)),
            |q: &Aq| q.clone(),
            |q: &Aq| q.clone(),
            |q: &mut Aq, v| q.push(v).is_ok(),
            |q: &mut Aq| q.pop()
        ),
        implementation!(
            pc,
            "crossbeam-channel",
            || crossbeam_channel::bounded::<u64>(CAP),
            |s: &Ch| s.0.clone(),
            |s: &Ch| s.1.clone(),
            |t: &mut crossbeam_channel::Sender<u64>, v| t.try_send(v).is_ok(),
            |r: &mut crossbeam_channel::Receiver<u64>| r.try_recv().ok()
        ),
    ]
}

/// Index of crossbeam ArrayQueue in [`implementations`].
const REFERENCE: usize = 2;

fn in_process(c: &mut Criterion) {
    for (name, pc) in GROUPS {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(1));
        for (id, f) in implementations(pc) {
            g.bench_function(id, |b| b.iter_custom(|n| f(n.max(1000))));
        }
        g.finish();
    }
}

/// Items per block of the interleaved mode.
const BLOCK_ITEMS: u64 = 4_000_000;

/// `SHMLANE_QB_BLOCKS=N cargo bench --bench queue`: instead of criterion's one
/// implementation after the other, runs each group's implementations in turn, one
/// block of [`BLOCK_ITEMS`] each (starting with a different one each time), N times, so
/// that the machine's drift hits all alike, and prints each one's median rate and its ratio to ArrayQueue block by block.
fn interleaved(blocks: usize) {
    println!("{blocks} interleaved blocks of {BLOCK_ITEMS} items per implementation");
    for (name, pc) in GROUPS {
        let impls = implementations(pc);
        let rates = rotated_blocks(impls.len(), blocks, |i| {
            BLOCK_ITEMS as f64 / (impls[i].1)(BLOCK_ITEMS).as_secs_f64() / 1e6
        });
        for (i, (id, _)) in impls.iter().enumerate() {
            let rate = median(&mut rates[i].clone());
            let vs = BlockRatios::new(&rates[i], &rates[REFERENCE]).map_or("-".into(), |r| {
                format!(
                    "median {:.2}x, range {:.2}-{:.2}x, >= 1.0x in {}/{}",
                    r.median, r.min, r.max, r.at_least_one, r.blocks
                )
            });
            println!("{name:<10} {id:<21} {rate:7.1} M/s   vs ArrayQueue: {vs} blocks");
        }
    }
}

/// This binary re-executes itself as a queue peer when this variable is set.
const ROLE: &str = "SHMLANE_QUEUE_BENCH_ROLE";

fn now_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Peer processes. Producers print the time they started, consumers the time they
/// took their stop marker; the parent measures from the first to the last.
fn peer(role: &str) {
    let arg = |k: &str| std::env::var(k).unwrap();
    let cpu: usize = arg("SHMLANE_QB_CPU").parse().unwrap();
    pin_to(cpu % cores());
    let count: u64 = arg("SHMLANE_QB_COUNT").parse().unwrap();
    match role {
        "shm-produce" | "shm-consume" => {
            let mut q = shmlane::queue::Queue::<u64>::open(&arg("SHMLANE_QB_NAME")).unwrap();
            if role == "shm-produce" {
                println!("{}", now_ns());
                for v in 0..count {
                    q.put(v).unwrap();
                }
            } else {
                while q.get().unwrap() != STOP {}
                println!("{}", now_ns());
            }
        }
        "pipe-produce" | "pipe-consume" => {
            use std::io::{Read, Write};
            // Reopen the inherited pipe end through /proc (no unsafe fd adoption).
            let path = format!("/proc/self/fd/{}", arg("SHMLANE_QB_FD"));
            let mut pipe = std::fs::OpenOptions::new()
                .read(role == "pipe-consume")
                .write(role == "pipe-produce")
                .open(path)
                .unwrap();
            // One lock for writers, one for readers (like multiprocessing's wlock and
            // rlock), each a file opened by every process: flock serializes them.
            let side = if role == "pipe-produce" { "w" } else { "r" };
            let lock = std::fs::File::open(arg("SHMLANE_QB_LOCK") + side).unwrap();
            let locked = |f: &mut dyn FnMut()| {
                rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
                f();
                rustix::fs::flock(&lock, rustix::fs::FlockOperation::Unlock).unwrap();
            };
            if role == "pipe-produce" {
                println!("{}", now_ns());
                for v in 0..count {
                    locked(&mut || pipe.write_all(&v.to_le_bytes()).unwrap());
                }
            } else {
                let mut b = [0u8; 8];
                loop {
                    locked(&mut || pipe.read_exact(&mut b).unwrap());
                    if u64::from_le_bytes(b) == STOP {
                        break;
                    }
                }
                println!("{}", now_ns());
            }
        }
        _ => panic!("unknown role {role}"),
    }
}

fn spawn(role: &str, cpu: usize, count: u64, env: &[(&str, String)]) -> std::process::Child {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.env(ROLE, role)
        .env("SHMLANE_QB_CPU", cpu.to_string())
        .env("SHMLANE_QB_COUNT", count.to_string())
        .stdout(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

fn stamp(child: std::process::Child) -> u64 {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// 2 producer and 2 consumer processes move `n` u64 values; returns the time from the
/// first producer's start to the last consumer's stop (process start-up excluded).
fn processes(n: u64, shm: bool) -> Duration {
    let per = n / 2;
    let mut env = Vec::new();
    let name = format!("bench-q-{}", std::process::id());
    let lock_path = std::env::temp_dir().join(format!("shmlane-bench-lock-{}", std::process::id()));
    // Lock files are `<lock_path>.r` and `<lock_path>.w`.
    let q;
    let pipe;
    if shm {
        q = Some(shmlane::queue::Queue::<u64>::create(&name, CAP).unwrap());
        pipe = None;
        env.push(("SHMLANE_QB_NAME", name.clone()));
    } else {
        q = None;
        for side in ["r", "w"] {
            std::fs::write(lock_path.with_extension(side), b"").unwrap();
        }
        let (r, w) = std::io::pipe().unwrap();
        // dup(2) clears FD_CLOEXEC: the duplicates are inherited by the peers.
        let (r, w) = (rustix::io::dup(&r).unwrap(), rustix::io::dup(&w).unwrap());
        env.push((
            "SHMLANE_QB_LOCK",
            lock_path.to_string_lossy().into_owned() + ".",
        ));
        pipe = Some((r, w));
    }
    let fd_env = |read: bool| -> Vec<(&str, String)> {
        let mut e = env.clone();
        if let Some((r, w)) = &pipe {
            use std::os::fd::AsRawFd;
            let fd = if read { r.as_raw_fd() } else { w.as_raw_fd() };
            e.push(("SHMLANE_QB_FD", fd.to_string()));
        }
        e
    };
    let (pr, cr) = if shm {
        ("shm-produce", "shm-consume")
    } else {
        ("pipe-produce", "pipe-consume")
    };
    let consumers: Vec<_> = (0..2)
        .map(|i| spawn(cr, 2 * i + 1, 0, &fd_env(true)))
        .collect();
    let producers: Vec<_> = (0..2)
        .map(|i| spawn(pr, 2 * i, per, &fd_env(false)))
        .collect();
    let start = producers.into_iter().map(stamp).min().unwrap();
    // Both producers are done: one stop marker per consumer.
    if let Some(q) = &q {
        let mut q = q.try_clone().unwrap();
        q.put(STOP).unwrap();
        q.put(STOP).unwrap();
    } else if let Some((_, w)) = &pipe {
        use std::io::Write;
        let mut w = std::fs::File::from(w.try_clone().unwrap());
        for _ in 0..2 {
            w.write_all(&STOP.to_le_bytes()).unwrap();
        }
    }
    let end = consumers.into_iter().map(stamp).max().unwrap();
    for side in ["r", "w"] {
        let _ = std::fs::remove_file(lock_path.with_extension(side));
    }
    drop(q);
    Duration::from_nanos(end.saturating_sub(start))
}

fn cross_process(c: &mut Criterion) {
    let mut g = c.benchmark_group("mpmc_processes_2p2c");
    g.throughput(Throughput::Elements(1)).sample_size(10);
    for (id, shm, min) in [
        ("shmlane-queue", true, 1_000_000u64),
        ("pipe-plus-lock", false, 100_000),
    ] {
        g.bench_function(id, |b| {
            b.iter_custom(|n| {
                let m = n.max(min);
                processes(m, shm).mul_f64(n as f64 / m as f64)
            })
        });
    }
    g.finish();
}

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        peer(&role);
        return;
    }
    if let Some(blocks) = std::env::var("SHMLANE_QB_BLOCKS")
        .ok()
        .and_then(|b| b.parse().ok())
    {
        interleaved(blocks);
        return;
    }
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    in_process(&mut c);
    cross_process(&mut c);
    c.final_summary();
}
