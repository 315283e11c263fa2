//! Criterion benches: the SPSC ring in one process, cross-process ping-pong through
//! shmlane pipes against the OS pipe, a Unix socket, eventfd, the raw futex ping-pong
//! and the two-line floor, and bulk bytes (64 KiB writes) against memcpy, the OS pipe
//! and a Unix socket (the same measurement code as `shmlane bench`).
//!
//! `cargo bench --bench spsc`; `cargo test --benches` runs each once as a smoke test.
//! In-process peers (rtrb, crossbeam, std): `cli/benches/compare.rs`; iceoryx2 and
//! ipc-channel: `benches/peers`.

use criterion::{BenchmarkId, Criterion, Throughput};
use shmlane_cli::bench::{self, Config, Transport};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// This binary re-executes itself as the bench peer when this variable is set.
const PEER_ENV: &str = "SHMLANE_CRITERION_PEER";

fn in_process(c: &mut Criterion) {
    let mut g = c.benchmark_group("spsc_in_process");
    g.throughput(Throughput::Elements(1));
    g.bench_function("push_pop_same_thread", |b| {
        let (mut tx, mut rx) = shmlane::ring::spsc::heap::<u64>(1024).unwrap();
        b.iter(|| {
            tx.push(black_box(1)).unwrap();
            black_box(rx.pop().unwrap());
        });
    });
    for batch in [1usize, 64] {
        g.bench_with_input(
            BenchmarkId::new("two_threads_stream", batch),
            &batch,
            |b, &batch| {
                b.iter_custom(|iters| {
                    let (mut tx, mut rx) = shmlane::ring::spsc::heap::<u64>(4096).unwrap();
                    let src = vec![7u64; batch];
                    let start = Instant::now();
                    let t = std::thread::spawn(move || {
                        let mut sent = 0;
                        while sent < iters {
                            let n = (iters - sent).min(batch as u64) as usize;
                            sent += tx.push_slice(&src[..n]).unwrap() as u64;
                        }
                    });
                    let mut got = 0;
                    let mut buf = vec![0u64; batch];
                    while got < iters {
                        got += rx.pop_into(&mut buf).unwrap() as u64;
                    }
                    t.join().unwrap();
                    start.elapsed()
                });
            },
        );
    }
    g.finish();
}

fn cross_process(c: &mut Criterion) {
    let peer = bench::self_peer(PEER_ENV);
    let mut g = c.benchmark_group("cross_process_ping_pong");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    for t in Transport::ALL {
        let (name, mode) = t.label();
        g.bench_function(format!("{name}/{mode}"), |b| {
            b.iter_custom(|iters| {
                let cfg = Config {
                    rounds: iters.max(1) as usize,
                    messages: 1000,
                    payload: 8,
                };
                let row = bench::run(t, &cfg, &peer).unwrap();
                let mean_rtt = 2.0 * row.latency.map_or(0.0, |l| l.mean);
                Duration::from_nanos((mean_rtt * iters as f64) as u64)
            });
        });
    }
    g.finish();
}

fn bulk_bytes(c: &mut Criterion) {
    let peer = bench::self_peer(PEER_ENV);
    let mut g = c.benchmark_group("bulk_bytes_64KiB_writes");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Bytes(bench::BULK_WRITE as u64));
    for t in Transport::BULK {
        let (name, mode) = t.label();
        g.bench_function(format!("{name}/{mode}"), |b| {
            b.iter_custom(|iters| {
                let cfg = Config {
                    rounds: 0,
                    messages: iters.max(16),
                    payload: bench::BULK_WRITE,
                };
                let rate = bench::run(t, &cfg, &peer).unwrap().msgs_per_sec.unwrap();
                Duration::from_secs_f64(iters as f64 / rate)
            });
        });
    }
    g.finish();
}

fn main() {
    if bench::run_peer_if(PEER_ENV) {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    in_process(&mut c);
    cross_process(&mut c);
    bulk_bytes(&mut c);
    c.final_summary();
}
