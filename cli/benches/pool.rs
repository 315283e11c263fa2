//! Criterion bench of the buffer pool's hand-off (issue 14): a buffer's handle from
//! this process to a peer process that joins and drops it, and back, at 1, 16 and
//! 256 MiB (the same measurement code as `shmlane bench pool`, which also runs the
//! byte transports, memcpy and the wake latencies, interleaved, with ratios).
//!
//! `cargo bench --bench pool`; `cargo test --benches` runs each once as a smoke test.

use criterion::{BenchmarkId, Criterion};
use shmlane_cli::bench;
use std::time::Duration;

/// This binary re-executes itself as the bench peer when this variable is set.
const PEER_ENV: &str = "SHMLANE_CRITERION_PEER";

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
                    let rtts = bench::handoff_round_trips(mib << 20, iters.max(1) as usize, &peer)
                        .unwrap();
                    Duration::from_nanos(rtts.iter().sum())
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
