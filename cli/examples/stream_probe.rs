//! Runs only the main bench's cross-process single-item stream (8-byte messages, the
//! `shm-blocking` or `shm-spin` row of `shmlane bench`), several times in a row, and
//! prints each run's rate and futex calls (both processes) per million messages. For
//! counting system calls on the streaming path without the rest of the bench.
//!
//! ```text
//! cargo run --release --example stream_probe -- blocking 1000000 10
//! strace -f -c -o /tmp/s.txt target/release/examples/stream_probe spin 1000000 1
//! ```

use shmlane_cli::bench::{self, Config, Transport};

const PEER: &str = "SHMLANE_STREAM_PROBE_PEER";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if bench::run_peer_if(PEER) {
        return Ok(());
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let transport = match args.first().map(String::as_str) {
        None | Some("blocking") => Transport::ShmBlocking,
        Some("spin") => Transport::ShmSpin,
        Some(other) => return Err(format!("mode must be blocking or spin, not {other}").into()),
    };
    let messages: u64 = args.get(1).map_or(Ok(1_000_000), |s| s.parse())?;
    let runs: u32 = args.get(2).map_or(Ok(10), |s| s.parse())?;
    let cfg = Config {
        rounds: 0,
        messages,
        payload: 8,
    };
    let peer = bench::self_peer(PEER);
    for run in 0..runs {
        let row = bench::run(transport, &cfg, &peer)?;
        println!(
            "run {run}: {} {:.0} msgs/s, futex calls per 1M messages: {:.1}",
            row.mode,
            row.msgs_per_sec.unwrap_or(0.0),
            row.futex_per_million.unwrap_or(f64::NAN)
        );
    }
    Ok(())
}
