//! `shmlane` command line: the side-by-side benchmark (the project's main job).
//!
//! ```text
//! shmlane bench                      # tables with ratios
//! shmlane bench --json               # one JSON object per row
//! shmlane bench --plot latency.svg   # also write the latency CDFs
//! shmlane bench pool                 # buffer pool: hand-off vs copies, wake latency
//! shmlane ls                         # segments in /dev/shm, endpoints, staleness
//! shmlane gc                         # remove what only dead processes used
//! ```

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use shmlane_cli::bench::{self, BULK_WRITE, Config, PAYLOADS, Transport};
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
    /// Measure latency, throughput and bulk bandwidth of shmlane pipes against the OS
    /// pipe, a Unix socket, eventfd, a raw futex ping-pong, memcpy and the hardware
    /// floor, two processes on different cores, all in one run.
    Bench {
        /// `pool`: the buffer pool instead (the other options do not apply to it).
        #[command(subcommand)]
        what: Option<BenchWhat>,
        /// Print one JSON object per row instead of tables.
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
        /// Split the round trips, messages and bulk bytes of each transport into this
        /// many blocks, run in turn with every other transport's, so that drift of the
        /// machine's timing hits all of them alike (the tables also give each row's
        /// ratio to its floor, or to memcpy, block by block).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
        blocks: u16,
        /// Bytes moved per transport in the bulk (64 KiB writes) measurement; 0 skips it.
        #[arg(long, default_value_t = 1 << 30)]
        bulk_bytes: u64,
        /// Write the one-way latency CDFs to this SVG file.
        #[arg(long, value_name = "FILE.svg")]
        plot: Option<std::path::PathBuf>,
    },
    /// List shmlane segments in /dev/shm: kind, type, creator, endpoints, staleness;
    /// malformed files with the reason; segments of another format version or kind.
    Ls,
    /// Remove stale segments (creator dead, not persisted, no live endpoint, mapped by
    /// no live process), malformed files under shmlane names that no live process maps,
    /// and temporaries of dead creators. Files whose names shmlane does not make,
    /// symbolic links, and segments of another shmlane format are never touched.
    Gc,
    /// Internal: the child side of a bench measurement.
    #[command(name = "__bench-peer", hide = true)]
    BenchPeer { args: Vec<String> },
}

#[derive(Subcommand, Debug)]
enum BenchWhat {
    /// Moving one buffer of each size from process A to B: by pool handle (24 bytes)
    /// against the shmlane byte pipe, an OS pipe, a Unix socket and memcpy, with an
    /// 8-byte message as reference; and how soon a blocked `alloc` wakes after the
    /// `free` that unblocks it. Every case one block at a time in turn.
    Pool {
        /// Buffer sizes in MiB, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = [1usize, 16, 256])]
        sizes_mib: Vec<usize>,
        /// Blocks: each case runs once per block, in turn.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
        blocks: u16,
        /// Hand-off (and 8-byte message) round trips per block.
        #[arg(long, default_value_t = 2_000)]
        rounds: usize,
        /// MiB at least per block through each byte transport and memcpy.
        #[arg(long, default_value_t = 256)]
        stream_mib: u64,
        /// Wake-latency samples per block and case.
        #[arg(long, default_value_t = 200)]
        wake_rounds: usize,
    },
}

fn pool_main(what: BenchWhat, peer: &dyn Fn() -> Command) -> ExitCode {
    let BenchWhat::Pool {
        sizes_mib,
        blocks,
        rounds,
        stream_mib,
        wake_rounds,
    } = what;
    let cfg = bench::PoolConfig {
        sizes: sizes_mib.iter().map(|m| m << 20).collect(),
        blocks: usize::from(blocks),
        rounds,
        stream_bytes: stream_mib << 20,
        wake_rounds,
    };
    let bar = progress_bar(0);
    let report = bench::run_pool(&cfg, peer, |done, total, what| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        bar.set_message(what.to_string());
    });
    bar.finish_and_clear();
    match report {
        Ok(r) => {
            print!("{}", bench::pool_table(&r));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pool bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_payload(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|e| format!("{e}"))?;
    if PAYLOADS.contains(&n) {
        Ok(n)
    } else {
        Err(format!("payload must be one of {PAYLOADS:?}"))
    }
}

/// Commands that re-execute this program as a bench peer (`None`, reported, when the
/// program cannot find its own executable).
fn self_peer() -> Option<impl Fn() -> Command> {
    let exe = std::env::current_exe()
        .map_err(|e| eprintln!("cannot find own executable: {e}"))
        .ok()?;
    Some(move || {
        let mut c = Command::new(&exe);
        c.arg("__bench-peer").arg("--");
        c
    })
}

/// A progress bar on stderr (drawn only when stderr is a terminal: in a log or a pipe
/// it prints nothing).
fn progress_bar(total: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("[{pos}/{len}] {wide_msg}").expect("valid template"),
    );
    bar
}

fn main() -> ExitCode {
    let (json, cfg, blocks, bulk_bytes, plot) = match Cli::parse().cmd {
        Cmd::BenchPeer { args } => {
            return match bench::peer_main(&args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("bench peer: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Cmd::Ls => {
            print!("{}", shmlane_cli::ls::table(&shmlane::segment::list()));
            return ExitCode::SUCCESS;
        }
        Cmd::Gc => {
            let removed = shmlane::segment::gc();
            for r in &removed {
                println!("removed /dev/shm/{r}");
            }
            println!("{} removed", removed.len());
            return ExitCode::SUCCESS;
        }
        Cmd::Bench {
            what: Some(what), ..
        } => {
            let Some(peer) = self_peer() else {
                return ExitCode::FAILURE;
            };
            return pool_main(what, &peer);
        }
        Cmd::Bench {
            what: None,
            json,
            rounds,
            messages,
            payload,
            blocks,
            bulk_bytes,
            plot,
        } => (
            json,
            Config {
                rounds,
                messages,
                payload,
            },
            usize::from(blocks),
            bulk_bytes,
            plot,
        ),
    };
    let Some(peer) = self_peer() else {
        return ExitCode::FAILURE;
    };
    let bulk_cfg = Config {
        // One round trip (plus its warm-up) before the clock starts, so that no block
        // times the peer's start-up.
        rounds: 1,
        messages: bulk_bytes / BULK_WRITE as u64,
        payload: BULK_WRITE,
    };
    // One interleaved run of `transports`, its rows printed as JSON if asked for.
    let run = |transports: &[Transport], cfg: &Config, what: &str| {
        let n = transports.len();
        let bar = progress_bar(blocks * n);
        let rows = bench::run_interleaved(transports, cfg, blocks, &peer, |b, i, t| {
            let (name, mode) = t.label();
            bar.set_position((b * n + i) as u64);
            bar.set_message(format!("{name} ({mode}): {what}"));
        });
        bar.finish_and_clear();
        let rows = rows?;
        if json {
            rows.iter().for_each(|r| println!("{}", r.to_json()));
        }
        Ok::<_, std::io::Error>(rows)
    };
    let what = format!(
        "{} round trips, {} messages in {blocks} blocks",
        cfg.rounds, cfg.messages
    );
    let rows = match run(&Transport::ALL, &cfg, &what) {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("latency/throughput run failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut bulk_rows = Vec::new();
    if bulk_cfg.messages > 0 {
        let what = format!("{} MiB in 64 KiB writes, {blocks} blocks", bulk_bytes >> 20);
        bulk_rows = match run(&Transport::BULK, &bulk_cfg, &what) {
            Ok(rows) => rows,
            Err(e) => {
                eprintln!("bulk run failed: {e}");
                return ExitCode::FAILURE;
            }
        };
    }
    if !json {
        print!("{}", bench::table(&rows));
        println!(
            "(one-way latency = half the round trip, HDR histogram; parent on cpu 0, child on cpu 1)\n"
        );
        if !bulk_rows.is_empty() {
            print!("{}", bench::bulk_table(&bulk_rows));
        }
    }
    if let Some(path) = plot {
        let title = format!(
            "one-way latency, {}-byte messages, {} round trips",
            cfg.payload, cfg.rounds
        );
        let written = bench::cdf_svg(&rows, &title).and_then(|svg| std::fs::write(&path, svg));
        if let Err(e) = written {
            eprintln!("cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        eprintln!("latency CDF written to {}", path.display());
    }
    ExitCode::SUCCESS
}
