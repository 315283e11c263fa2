//! Criterion bench of the buffer pool's hand-off (issue 14): a buffer's handle from
//! this process to a peer process that joins and drops it, and back, at 1, 16 and
//! 256 MiB (the same measurement code as `shmlane bench pool`, which also runs the
//! byte transports, memcpy and the wake latencies, interleaved, with ratios).
//!
//! `cargo bench --bench pool`; `cargo test --benches` runs each once as a smoke test.
//! Criterion reports means, so the neighbours' time slices weigh in; `shmlane bench
//! pool` reports medians.

use criterion::{BenchmarkId, Criterion};
use shmlane_cli::bench;
use std::time::Duration;

/// This binary re-executes itself as the bench peer when this variable is set.
const PEER_ENV: &str = "SHMLANE_CRITERION_PEER";
/// Round trips timed at least per sample.
const MIN_ROUNDS: usize = 1000;

fn handoff(c: &mut Criterion) {
    let peer = bench::self_peer(PEER_ENV);
    let mut g = c.benchmark_group("pool_handoff_round_trip");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    for mib in [1usize, 16, 256] {
        g.bench_with_input(
            BenchmarkId::from_parameter(format!("{mib}MiB")),
            &mib,
            |b, &mib| {
                b.iter_custom(|iters| {
                    // Each call starts a peer and a pool (untimed): time at least
                    // MIN_ROUNDS warm rounds and scale, or the 256 MiB samples (few
                    // iterations, since creating and touching the pool dominates) time
                    // one cold round each.
                    let rounds = (iters as usize).max(MIN_ROUNDS);
                    let rtts = bench::handoff_round_trips(mib << 20, rounds, &peer).unwrap();
                    let mean = rtts.iter().sum::<u64>() as f64 / rounds as f64;
                    Duration::from_nanos((mean * iters as f64) as u64)
                });
            },
        );
    }
    g.finish();
}

fn main() {
    if bench::run_peer_if(PEER_ENV) {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    handoff(&mut c);
    c.final_summary();
}
