//! In-process SPSC comparison: shmlane's ring (on the heap and inside a shared-memory
//! segment) against rtrb, crossbeam ArrayQueue, crossbeam-channel and std's
//! sync_channel, all in the same run.
//!
//! One macro registers each implementation in three identical groups:
//! * `same_thread`: push then pop on one thread (uncontended cost of the operations);
//! * `stream`: a producer thread pushes, the bench thread pops (throughput);
//! * `ping_pong`: two queues, a value goes round trip between two threads (latency).
//!
//! Threads are pinned to cores 0 and 1, like the processes of the cross-process runs.
//!
//! `cargo bench --bench compare`; `cargo test --benches` runs each once.
//! `SHMLANE_CMP_BLOCKS=20 cargo bench --bench compare` measures the u64 streaming goals
//! interleaved instead (see [`interleaved`]).

use criterion::{Criterion, Throughput};
use std::hint::{black_box, spin_loop};
use std::time::{Duration, Instant};

const CAP: usize = 1024;

/// Producer thread pushes `iters` values; we pop them all. Returns the elapsed time.
fn stream<P: Send + 'static, C>(
    iters: u64,
    (mut p, mut c): (P, C),
    push: fn(&mut P, u64) -> bool,
    pop: fn(&mut C) -> Option<u64>,
) -> Duration {
    shmlane_cli::bench::pin_to(0);
    let start = Instant::now();
    let t = std::thread::spawn(move || {
        shmlane_cli::bench::pin_to(1);
        for v in 0..iters {
            while !push(&mut p, v) {
                spin_loop();
            }
        }
    });
    for _ in 0..iters {
        loop {
            if let Some(v) = pop(&mut c) {
                black_box(v);
                break;
            }
            spin_loop();
        }
    }
    t.join().unwrap();
    start.elapsed()
}

/// A value bounces `iters` times between two threads through two queues.
fn ping_pong<P: Send + 'static, C: Send + 'static>(
    iters: u64,
    (mut p1, mut c1): (P, C),
    (mut p2, mut c2): (P, C),
    push: fn(&mut P, u64) -> bool,
    pop: fn(&mut C) -> Option<u64>,
) -> Duration {
    shmlane_cli::bench::pin_to(0);
    let t = std::thread::spawn(move || {
        shmlane_cli::bench::pin_to(1);
        for _ in 0..iters {
            let v = loop {
                if let Some(v) = pop(&mut c1) {
                    break v;
                }
                spin_loop();
            };
            while !push(&mut p2, v) {
                spin_loop();
            }
        }
    });
    let start = Instant::now();
    for v in 0..iters {
        while !push(&mut p1, v) {
            spin_loop();
        }
        while pop(&mut c2).is_none() {
            spin_loop();
        }
    }
    let d = start.elapsed();
    t.join().unwrap();
    d
}

/// Registers one implementation: `(id, create, push, pop)`; smoke-tests it first.
macro_rules! implementation {
    ($c:expr, $id:literal, $create:expr, $push:expr, $pop:expr) => {{
        let (mut p, mut c) = $create();
        assert!(
            $push(&mut p, 7) && $pop(&mut c) == Some(7),
            "{} smoke test",
            $id
        );
        let mut g = $c.benchmark_group("same_thread");
        g.throughput(Throughput::Elements(1));
        g.bench_function($id, |b| {
            let (mut p, mut c) = $create();
            b.iter(|| {
                $push(&mut p, black_box(1));
                black_box($pop(&mut c));
            })
        });
        g.finish();
        let mut g = $c.benchmark_group("stream");
        g.throughput(Throughput::Elements(1));
        g.bench_function($id, |b| {
            b.iter_custom(|n| stream(n, $create(), $push, $pop))
        });
        g.finish();
        let mut g = $c.benchmark_group("ping_pong");
        g.bench_function($id, |b| {
            b.iter_custom(|n| ping_pong(n, $create(), $create(), $push, $pop))
        });
        g.finish();
    }};
}

/// Cross-process streaming of u64 through a shmlane pipe (child process, cores 0/1), to
/// set beside the in-process peers above in the same run. Time = iters / measured rate
/// (process start-up excluded).
fn cross_process_stream(c: &mut Criterion) {
    use shmlane_cli::bench::{self, Config, Transport};
    let peer = bench::self_peer(PEER_ENV);
    let mut g = c.benchmark_group("stream");
    g.throughput(Throughput::Elements(1)).sample_size(10);
    for (id, t) in [
        ("shmlane-cross-process", Transport::ShmSpin),
        ("shmlane-cross-process-bulk256", Transport::ShmSpinBulk),
    ] {
        g.bench_function(id, |b| {
            b.iter_custom(|n| {
                let cfg = Config {
                    // One round trip before the clock starts: the child is running.
                    rounds: 1,
                    messages: n.max(1024),
                    payload: 8,
                };
                let rate = bench::run(t, &cfg, &peer).unwrap().msgs_per_sec.unwrap();
                Duration::from_secs_f64(n as f64 / rate)
            })
        });
    }
    g.finish();
}

/// This binary re-executes itself as the bench peer when this variable is set.
const PEER_ENV: &str = "SHMLANE_CRITERION_PEER";

/// Items per block of the interleaved mode.
const BLOCK_ITEMS: u64 = 4_000_000;

/// `SHMLANE_CMP_BLOCKS=N cargo bench --bench compare`: the u64 streaming goals
/// (cross-process single-item and bulk vs rtrb in-process single-item) measured
/// interleaved instead of one after the other: each implementation streams one block
/// of [`BLOCK_ITEMS`] in turn, N times, and the ratios to rtrb are taken block by block.
fn interleaved(blocks: usize) {
    use shmlane_cli::bench::{self, BlockRatios, Config, Transport, median, rotated_blocks};
    let peer = bench::self_peer(PEER_ENV);
    let cross = |t: Transport| {
        let cfg = Config {
            rounds: 1,
            messages: BLOCK_ITEMS,
            payload: 8,
        };
        bench::run(t, &cfg, &peer).unwrap().msgs_per_sec.unwrap()
    };
    let in_process = |d: Duration| BLOCK_ITEMS as f64 / d.as_secs_f64();
    type Measure<'a> = Box<dyn Fn() -> f64 + 'a>;
    let impls: [(&str, Measure); 4] = [
        (
            "rtrb (in-process)",
            Box::new(|| {
                in_process(stream(
                    BLOCK_ITEMS,
                    rtrb::RingBuffer::<u64>::new(CAP),
                    |p: &mut rtrb::Producer<u64>, v| p.push(v).is_ok(),
                    |c: &mut rtrb::Consumer<u64>| c.pop().ok(),
                ))
            }),
        ),
        (
            "shmlane heap ring (in-process)",
            Box::new(|| {
                in_process(stream(
                    BLOCK_ITEMS,
                    shmlane::ring::spsc::heap::<u64>(CAP).unwrap(),
                    |p: &mut shmlane::ring::spsc::Producer<u64>, v| p.push(v).is_ok(),
                    |c: &mut shmlane::ring::spsc::Consumer<u64>| c.pop().ok(),
                ))
            }),
        ),
        (
            "shmlane cross-process",
            Box::new(|| cross(Transport::ShmSpin)),
        ),
        (
            "shmlane cross-process bulk256",
            Box::new(|| cross(Transport::ShmSpinBulk)),
        ),
    ];
    println!("{blocks} interleaved blocks of {BLOCK_ITEMS} u64 per implementation");
    let rates = rotated_blocks(impls.len(), blocks, |i| (impls[i].1)());
    for (i, (id, _)) in impls.iter().enumerate() {
        let rate = median(&mut rates[i].clone()) / 1e6;
        let vs = BlockRatios::new(&rates[i], &rates[0]).map_or("-".into(), |r| {
            format!(
                "median {:.2}x, range {:.2}-{:.2}x, >= 1.0x in {}/{}",
                r.median, r.min, r.max, r.at_least_one, r.blocks
            )
        });
        println!("{id:<31} {rate:8.1} M/s   vs rtrb: {vs} blocks");
    }
}

fn main() {
    if shmlane_cli::bench::run_peer_if(PEER_ENV) {
        return;
    }
    if let Some(blocks) = std::env::var("SHMLANE_CMP_BLOCKS")
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

    implementation!(
        c,
        "shmlane-heap",
        || shmlane::ring::spsc::heap::<u64>(CAP).unwrap(),
        |p: &mut shmlane::ring::spsc::Producer<u64>, v| p.push(v).is_ok(),
        |c: &mut shmlane::ring::spsc::Consumer<u64>| c.pop().ok()
    );
    implementation!(
        c,
        "shmlane-segment",
        || shmlane::pipe::channel::<u64>(CAP).unwrap(),
        |p: &mut shmlane::pipe::Sender<u64>, v| p.try_send(v).is_ok(),
        |c: &mut shmlane::pipe::Receiver<u64>| c.try_recv().ok()
    );
    implementation!(
        c,
        "rtrb",
        || rtrb::RingBuffer::<u64>::new(CAP),
        |p: &mut rtrb::Producer<u64>, v| p.push(v).is_ok(),
        |c: &mut rtrb::Consumer<u64>| c.pop().ok()
    );
    implementation!(
        c,
        "crossbeam-arrayqueue",
        || {
            let q = std::sync::Arc::new(crossbeam_queue::ArrayQueue::<u64>::new(CAP));
            (q.clone(), q)
        },
        |p: &mut std::sync::Arc<crossbeam_queue::ArrayQueue<u64>>, v| p.push(v).is_ok(),
        |c: &mut std::sync::Arc<crossbeam_queue::ArrayQueue<u64>>| c.pop()
    );
    implementation!(
        c,
        "crossbeam-channel",
        || crossbeam_channel::bounded::<u64>(CAP),
        |p: &mut crossbeam_channel::Sender<u64>, v| p.try_send(v).is_ok(),
        |c: &mut crossbeam_channel::Receiver<u64>| c.try_recv().ok()
    );
    implementation!(
        c,
        "std-sync-channel",
        || std::sync::mpsc::sync_channel::<u64>(CAP),
        |p: &mut std::sync::mpsc::SyncSender<u64>, v| p.try_send(v).is_ok(),
        |c: &mut std::sync::mpsc::Receiver<u64>| c.try_recv().ok()
    );

    // Bulk: shmlane's slice API vs rtrb's chunk API, 64 values per call.
    let mut g = c.benchmark_group("stream_bulk64");
    g.throughput(Throughput::Elements(1));
    g.bench_function("shmlane-heap", |b| {
        b.iter_custom(|n| {
            let (mut p, mut cons) = shmlane::ring::spsc::heap::<u64>(CAP).unwrap();
            shmlane_cli::bench::pin_to(0);
            let start = Instant::now();
            let t = std::thread::spawn(move || {
                shmlane_cli::bench::pin_to(1);
                let src = [1u64; 64];
                let mut sent = 0;
                while sent < n {
                    sent += p.push_slice(&src[..(n - sent).min(64) as usize]).unwrap() as u64;
                }
            });
            let (mut got, mut buf) = (0, [0u64; 64]);
            while got < n {
                got += cons.pop_into(&mut buf).unwrap() as u64;
            }
            t.join().unwrap();
            start.elapsed()
        })
    });
    g.bench_function("rtrb", |b| {
        b.iter_custom(|n| {
            let (mut p, mut cons) = rtrb::RingBuffer::<u64>::new(CAP);
            shmlane_cli::bench::pin_to(0);
            let start = Instant::now();
            let t = std::thread::spawn(move || {
                shmlane_cli::bench::pin_to(1);
                let mut sent = 0;
                while sent < n {
                    let k = (n - sent).min(64).min(p.slots() as u64) as usize;
                    if k > 0 {
                        let chunk = p.write_chunk_uninit(k).unwrap();
                        sent += chunk.fill_from_iter(std::iter::repeat(1u64)) as u64;
                    }
                }
            });
            let mut got = 0;
            while got < n {
                let k = cons.slots().min(64);
                if k > 0 {
                    let chunk = cons.read_chunk(k).unwrap();
                    got += chunk.into_iter().map(black_box).count() as u64;
                }
            }
            t.join().unwrap();
            start.elapsed()
        })
    });
    g.finish();
    cross_process_stream(&mut c);
    c.final_summary();
}
