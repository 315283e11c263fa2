//! Cross-process measurements behind `shmlane bench` (and `benches/spsc.rs`): latency
//! (one-way, half of each round trip, HDR histogram), streaming throughput, and bulk
//! byte bandwidth of shmlane pipes against the OS pipe, a Unix socket, eventfd, a raw
//! shared-futex ping-pong, memcpy, and the hardware floor (two cache lines bounced
//! between two processes).
//!
//! Each transport runs in a fresh child process (the caller supplies the command that
//! re-executes its binary and calls [`peer_main`]); parent and child pin themselves to
//! cores 0 and 1.
//!
//! # Examples
//!
//! ```
//! use shmlane_cli::bench::{Row, Transport};
//! let row = Row::new(Transport::OsPipe, 8);
//! assert!(row.to_json().contains("\"transport\":\"os-pipe\""));
//! assert!(Transport::ALL.len() >= 8);
//! ```

/// Dispatches a payload size to a const-generic function.
macro_rules! with_payload {
    ($n:expr, $f:ident $(, $arg:expr)*) => {
        match $n {
            8 => $f::<8>($($arg),*),
            64 => $f::<64>($($arg),*),
            512 => $f::<512>($($arg),*),
            _ => $f::<4096>($($arg),*),
        }
    };
}

mod blocks;
mod floor;
mod interleave;
mod peer;
mod plot;
mod pool;
mod runner;
mod stats;
mod table;

pub use blocks::{BlockRatios, median, pin_to, rotated_blocks};
pub use interleave::run_interleaved;
pub use peer::peer_main;
pub use plot::cdf_svg;
pub use pool::{
    CostRow, PoolConfig, PoolReport, Wake, WakeRow, handoff_round_trips, pool_table, run_pool,
};
pub use runner::{round_trips, run, run_peer_if, self_peer};
pub use stats::Latency;
pub use table::{bulk_table, table};

use runner::child_failed;
use serde::Serialize;
use shmlane::WaitMode;

/// Environment variable through which an anonymous segment reaches the bench child.
const SEG_KEY: &str = "SHMLANE_BENCH_SEG";
/// Round trips run before measuring (fewer if fewer are measured).
const WARMUP: usize = 2_000;
/// Write size of the bulk-bytes measurements.
pub const BULK_WRITE: usize = 64 << 10;

/// What is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Two cache lines bounced between two processes: the floor for any shm ping-pong.
    Floor,
    /// Two shared futex words, both sides always asleep: the floor for sleeping waits.
    FutexFloor,
    /// shmlane duplex pipe, both sides busy-polling.
    ShmSpin,
    /// shmlane duplex pipe, spin briefly then sleep (the default).
    ShmBlocking,
    /// shmlane duplex pipe, both sides sleep at once (no spin).
    ShmSleep,
    /// shmlane duplex pipe, busy-polling, streaming with the bulk API (`send_slice` of
    /// 256 messages); its latency is the same ring's as `ShmSpin`.
    ShmSpinBulk,
    /// Two OS pipes (`pipe(2)`), one per direction.
    OsPipe,
    /// A Unix stream socket pair.
    UnixSocket,
    /// Two eventfds, one per direction (latency only: an eventfd carries no data).
    Eventfd,
    /// shmlane byte pipe (`io::Write` / `io::Read`), for bulk bytes.
    ShmBytes,
    /// `memcpy` within one process into a 1 MiB buffer (cache-resident), for bulk bytes.
    Memcpy,
    /// `memcpy` within one process through a 256 MiB buffer (memory-bound).
    MemcpyLarge,
}

impl Transport {
    /// Every transport measured for latency and message throughput, in table order.
    pub const ALL: [Transport; 8] = [
        Self::Floor,
        Self::ShmSpin,
        Self::ShmBlocking,
        Self::FutexFloor,
        Self::ShmSleep,
        Self::Eventfd,
        Self::OsPipe,
        Self::UnixSocket,
    ];

    /// Extra transports for streaming comparisons (not in the default table).
    pub const EXTRA: [Transport; 1] = [Self::ShmSpinBulk];

    /// Transports measured for bulk bytes ([`BULK_WRITE`]-byte writes).
    pub const BULK: [Transport; 5] = [
        Self::Memcpy,
        Self::MemcpyLarge,
        Self::ShmBytes,
        Self::OsPipe,
        Self::UnixSocket,
    ];

    /// `(transport, mode)` as printed.
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Self::Floor => ("shm-atomics-floor", "spin"),
            Self::FutexFloor => ("shm-futex-floor", "sleep"),
            Self::ShmSpin => ("shmlane-pipe", "spin"),
            Self::ShmBlocking => ("shmlane-pipe", "blocking"),
            Self::ShmSleep => ("shmlane-pipe", "sleep"),
            Self::ShmSpinBulk => ("shmlane-pipe-bulk", "spin"),
            Self::OsPipe => ("os-pipe", "blocking"),
            Self::UnixSocket => ("unix-socket", "blocking"),
            Self::Eventfd => ("eventfd", "blocking"),
            Self::ShmBytes => ("shmlane-byte-pipe", "blocking"),
            Self::Memcpy => ("memcpy", "1MiB"),
            Self::MemcpyLarge => ("memcpy", "256MiB"),
        }
    }

    fn arg(self) -> &'static str {
        match self {
            Self::Floor => "floor",
            Self::FutexFloor => "futex-floor",
            Self::ShmSpin => "shm-spin",
            Self::ShmBlocking => "shm-blocking",
            Self::ShmSleep => "shm-sleep",
            Self::ShmSpinBulk => "shm-spin-bulk",
            Self::OsPipe => "os-pipe",
            Self::UnixSocket => "unix-socket",
            Self::Eventfd => "eventfd",
            Self::ShmBytes => "shm-bytes",
            Self::Memcpy => "memcpy",
            Self::MemcpyLarge => "memcpy-large",
        }
    }

    fn from_arg(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .chain(Self::BULK)
            .chain(Self::EXTRA)
            .find(|t| t.arg() == s)
    }

    fn wait_mode(self) -> WaitMode {
        match self {
            Self::ShmSpin | Self::ShmSpinBulk => WaitMode::Spin,
            Self::ShmSleep => WaitMode::Sleep,
            _ => WaitMode::Blocking,
        }
    }
}

/// Sizes of the measurement.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Round trips measured for latency (0: no latency measurement).
    pub rounds: usize,
    /// Messages streamed for throughput (0: none).
    pub messages: u64,
    /// Bytes per message: 8, 64, 512 or 4096 (or [`BULK_WRITE`] for bulk runs).
    pub payload: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            rounds: 100_000,
            messages: 2_000_000,
            payload: 8,
        }
    }
}

/// Payload sizes of message runs (the shm pipes carry `[u8; N]`).
pub const PAYLOADS: [usize; 4] = [8, 64, 512, 4096];

/// One line of results.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Transport name.
    pub transport: String,
    /// Wait mode.
    pub mode: String,
    /// Bytes per message (or per write, for bulk rows).
    pub payload_bytes: usize,
    /// One-way latency distribution, if measured.
    pub latency: Option<Latency>,
    /// Streamed messages (or bulk writes) per second, if measured.
    pub msgs_per_sec: Option<f64>,
    /// Futex system calls (both processes) per million streamed messages, for shmlane.
    pub futex_per_million: Option<f64>,
    /// One-way p50 of each block of an interleaved run ([`run_interleaved`]), in block
    /// order; empty for a single run.
    pub block_p50: Vec<u64>,
    /// Messages (or bulk writes) per second of each block of an interleaved run, in
    /// block order; empty for a single run or when nothing was streamed.
    pub block_rate: Vec<f64>,
}

impl Row {
    /// An empty row for `transport`.
    pub fn new(transport: Transport, payload_bytes: usize) -> Self {
        let (t, m) = transport.label();
        Self {
            transport: t.into(),
            mode: m.into(),
            payload_bytes,
            latency: None,
            msgs_per_sec: None,
            futex_per_million: None,
            block_p50: Vec::new(),
            block_rate: Vec::new(),
        }
    }

    /// Bytes per second (messages per second × payload).
    pub fn bytes_per_sec(&self) -> Option<f64> {
        self.msgs_per_sec.map(|m| m * self.payload_bytes as f64)
    }

    /// One JSON object: `transport, mode, payload_bytes, p50_ns, p99_ns, p999_ns,
    /// mean_ns, msgs_per_sec, bytes_per_sec, futex_calls_per_million` (`null` where
    /// not measured).
    pub fn to_json(&self) -> String {
        let lat = |f: fn(&Latency) -> u64| self.latency.as_ref().map(f);
        let json = JsonRow {
            transport: &self.transport,
            mode: &self.mode,
            payload_bytes: self.payload_bytes,
            p50_ns: lat(|l| l.p50),
            p99_ns: lat(|l| l.p99),
            p999_ns: lat(|l| l.p999),
            mean_ns: self.latency.as_ref().map(|l| l.mean),
            msgs_per_sec: self.msgs_per_sec,
            bytes_per_sec: self.bytes_per_sec(),
            futex_calls_per_million: self.futex_per_million,
        };
        serde_json::to_string(&json).expect("a struct of strings and numbers serializes")
    }
}

/// The flat JSON shape of a [`Row`] (what `shmlane bench --json` prints per line).
#[derive(Serialize)]
struct JsonRow<'a> {
    transport: &'a str,
    mode: &'a str,
    payload_bytes: usize,
    p50_ns: Option<u64>,
    p99_ns: Option<u64>,
    p999_ns: Option<u64>,
    mean_ns: Option<f64>,
    msgs_per_sec: Option<f64>,
    bytes_per_sec: Option<f64>,
    futex_calls_per_million: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_rows_escape_and_parse() {
        let mut row = Row::new(Transport::ShmSpin, 8);
        row.transport = "quote\" and \\ backslash".into();
        row.latency = Some(Latency::from_round_trips(&[200, 400]));
        row.msgs_per_sec = Some(1.5e6);
        let v: serde_json::Value = serde_json::from_str(&row.to_json()).expect("valid JSON");
        assert_eq!(v["transport"], "quote\" and \\ backslash");
        assert_eq!(v["mode"], "spin");
        assert_eq!(v["payload_bytes"], 8);
        assert_eq!(v["p50_ns"], 100);
        assert_eq!(v["msgs_per_sec"], 1.5e6);
        assert_eq!(v["bytes_per_sec"], 12e6);
        assert!(v["futex_calls_per_million"].is_null());
    }
}
