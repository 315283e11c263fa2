//! `shmlane` command line: the side-by-side benchmark (the project's main job).
//!
//! ```text
//! shmlane bench            # table with ratios
//! shmlane bench --json     # one JSON object per row
//! ```

use clap::{Parser, Subcommand};
use shmlane::bench::{self, Config, PAYLOADS, Transport};
use std::io::Write;
use std::process::{Command, ExitCode};

#[derive(Parser, Debug)]
#[command(
    name = "shmlane",
    version,
    about = "Shared-memory IPC: benchmark and tools"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Measure latency and throughput of shmlane pipes against the OS pipe, a Unix
    /// socket and the hardware floor, two processes on different cores.
    Bench {
        /// Print one JSON object per row instead of a table.
        #[arg(long)]
        json: bool,
        /// Round trips measured per transport.
        #[arg(long, default_value_t = 100_000)]
        rounds: usize,
        /// Messages streamed per transport for throughput.
        #[arg(long, default_value_t = 2_000_000)]
        messages: u64,
        /// Message size in bytes (8, 64, 512 or 4096).
        #[arg(long, default_value_t = 8, value_parser = parse_payload)]
        payload: usize,
    },
    /// Internal: the child side of a bench measurement.
    #[command(name = "__bench-peer", hide = true)]
    BenchPeer { args: Vec<String> },
}

fn parse_payload(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|e| format!("{e}"))?;
    if PAYLOADS.contains(&n) {
        Ok(n)
    } else {
        Err(format!("payload must be one of {PAYLOADS:?}"))
    }
}

fn main() -> ExitCode {
    match Cli::parse().cmd {
        Cmd::BenchPeer { args } => match bench::peer_main(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench peer: {e}");
                ExitCode::FAILURE
            }
        },
        Cmd::Bench {
            json,
            rounds,
            messages,
            payload,
        } => {
            let cfg = Config {
                rounds,
                messages,
                payload,
            };
            let exe = match std::env::current_exe() {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("cannot find own executable: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let peer = || {
                let mut c = Command::new(&exe);
                c.arg("__bench-peer").arg("--");
                c
            };
            let mut rows = Vec::new();
            let total = Transport::ALL.len();
            for (i, t) in Transport::ALL.into_iter().enumerate() {
                let (name, mode) = t.label();
                eprint!(
                    "\r[{}/{total}] {name} ({mode}): {rounds} round trips, {messages} messages…          ",
                    i + 1
                );
                let _ = std::io::stderr().flush();
                match bench::run(t, &cfg, &peer) {
                    Ok(row) => {
                        if json {
                            println!("{}", row.to_json());
                        }
                        rows.push(row);
                    }
                    Err(e) => {
                        eprintln!("\n{name} ({mode}) failed: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            eprintln!("\r{:80}\r", "done");
            if !json {
                print!("{}", bench::table(&rows));
                println!(
                    "(one-way latency = half the round trip; parent on cpu 0, child on cpu 1)"
                );
            }
            ExitCode::SUCCESS
        }
    }
}
