//! Cross-process measurements behind `shmlane bench`: latency (one-way, from round
//! trips) and throughput of shmlane pipes against the OS pipe, a Unix socket and the
//! hardware floor (two cache lines bounced between two processes).
//!
//! Each transport runs in a fresh child process (the caller supplies the command that
//! re-executes its binary and calls [`peer_main`]); parent and child pin themselves to
//! different cores.
//!
//! # Examples
//!
//! ```
//! use shmlane::bench::{Row, Transport};
//! let row = Row { transport: "x".into(), mode: "spin".into(), payload_bytes: 8,
//!     p50_ns: 100, p99_ns: 200, p999_ns: 300, msgs_per_sec: Some(1e6), futex_per_million: None,
//!     mean_rtt_ns: 200.0 };
//! assert!(row.to_json().contains("\"p50_ns\":100"));
//! assert_eq!(Transport::ALL.len(), 5);
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

mod peer;
mod stats;

pub use peer::peer_main;
pub use stats::percentiles;

use crate::layout::{ElemDesc, SegmentKind};
use crate::pipe::Duplex;
use crate::platform::inherit;
use crate::segment::{Expect, Segment};
use crate::wait::WaitMode;
use crate::wait::stats::futex_calls;
use std::io::{self, BufRead, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

/// Environment variable through which an anonymous segment reaches the bench child.
const SEG_KEY: &str = "SHMLANE_BENCH_SEG";
/// Round trips run before measuring.
const WARMUP: usize = 2_000;

/// What is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Two cache lines bounced between two processes: the floor for any shm ping-pong.
    Floor,
    /// shmlane duplex pipe, both sides busy-polling.
    ShmSpin,
    /// shmlane duplex pipe, both sides spin briefly then sleep on the futex.
    ShmBlocking,
    /// Two OS pipes (`pipe(2)`), one per direction.
    OsPipe,
    /// A Unix stream socket pair.
    UnixSocket,
}

impl Transport {
    /// Every transport, in table order.
    pub const ALL: [Transport; 5] = [
        Self::Floor,
        Self::ShmSpin,
        Self::ShmBlocking,
        Self::OsPipe,
        Self::UnixSocket,
    ];

    /// `(transport, mode)` as printed.
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Self::Floor => ("shm-atomics-floor", "spin"),
            Self::ShmSpin => ("shmlane-pipe", "spin"),
            Self::ShmBlocking => ("shmlane-pipe", "blocking"),
            Self::OsPipe => ("os-pipe", "blocking"),
            Self::UnixSocket => ("unix-socket", "blocking"),
        }
    }

    fn arg(self) -> &'static str {
        match self {
            Self::Floor => "floor",
            Self::ShmSpin => "shm-spin",
            Self::ShmBlocking => "shm-blocking",
            Self::OsPipe => "os-pipe",
            Self::UnixSocket => "unix-socket",
        }
    }

    fn from_arg(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.arg() == s)
    }
}

/// Sizes of the measurement.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Round trips measured for latency.
    pub rounds: usize,
    /// Messages streamed for throughput.
    pub messages: u64,
    /// Bytes per message: 8, 64, 512 or 4096.
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

/// Payload sizes the bench supports (the shm pipes carry `[u8; N]`).
pub const PAYLOADS: [usize; 4] = [8, 64, 512, 4096];

/// One line of results.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Transport name.
    pub transport: String,
    /// Wait mode.
    pub mode: String,
    /// Bytes per message.
    pub payload_bytes: usize,
    /// Median one-way latency (half a round trip).
    pub p50_ns: u64,
    /// 99th percentile one-way latency.
    pub p99_ns: u64,
    /// 99.9th percentile one-way latency.
    pub p999_ns: u64,
    /// Streamed messages per second (none for the floor, which has no queue).
    pub msgs_per_sec: Option<f64>,
    /// Futex system calls (both processes) per million streamed messages, for shmlane.
    pub futex_per_million: Option<f64>,
    /// Mean round trip (for criterion's `iter_custom`; not printed).
    pub mean_rtt_ns: f64,
}

impl Row {
    /// One JSON object (no external serializer needed for these flat fields).
    pub fn to_json(&self) -> String {
        let opt = |v: Option<f64>| v.map_or("null".to_owned(), |v| format!("{v:.0}"));
        format!(
            "{{\"transport\":\"{}\",\"mode\":\"{}\",\"payload_bytes\":{},\"p50_ns\":{},\"p99_ns\":{},\"p999_ns\":{},\"msgs_per_sec\":{},\"futex_calls_per_million\":{}}}",
            self.transport,
            self.mode,
            self.payload_bytes,
            self.p50_ns,
            self.p99_ns,
            self.p999_ns,
            opt(self.msgs_per_sec),
            self.futex_per_million
                .map_or("null".to_owned(), |v| format!("{v:.1}")),
        )
    }
}

/// Pins the calling thread to `cpu` (best effort: the kernel refuses a CPU that does
/// not exist, and the thread then keeps its mask). Not based on the inherited mask, which
/// a pinned parent narrows to its own CPU.
pub fn pin_to(cpu: usize) {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    let _ = rustix::thread::sched_setaffinity(None, &set);
}

/// Measures one transport. `peer` returns a command that re-executes the current
/// program so that it calls [`peer_main`] with the arguments appended to it.
pub fn run(transport: Transport, cfg: &Config, peer: &dyn Fn() -> Command) -> io::Result<Row> {
    if !PAYLOADS.contains(&cfg.payload) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("payload must be one of {PAYLOADS:?}"),
        ));
    }
    pin_to(0);
    let mut cmd = peer();
    cmd.args([
        transport.arg(),
        &cfg.payload.to_string(),
        &cfg.rounds.to_string(),
        &cfg.messages.to_string(),
    ]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let (label_t, label_m) = transport.label();
    let mut row = Row {
        transport: label_t.into(),
        mode: label_m.into(),
        payload_bytes: cfg.payload,
        p50_ns: 0,
        p99_ns: 0,
        p999_ns: 0,
        msgs_per_sec: None,
        futex_per_million: None,
        mean_rtt_ns: 0.0,
    };
    let rtts = match transport {
        Transport::Floor => floor(cfg, &mut cmd)?,
        Transport::ShmSpin | Transport::ShmBlocking => {
            let mode = if transport == Transport::ShmSpin {
                WaitMode::Spin
            } else {
                WaitMode::Blocking
            };
            let (rtts, rate, futex) = with_payload!(cfg.payload, shm, cfg, mode, &mut cmd)?;
            row.msgs_per_sec = Some(rate);
            row.futex_per_million = Some(futex);
            rtts
        }
        Transport::OsPipe => {
            let (to_child_r, to_child_w) = io::pipe()?;
            let (from_child_r, from_child_w) = io::pipe()?;
            cmd.stdin(Stdio::from(to_child_r))
                .stdout(Stdio::from(from_child_w));
            let child = cmd.spawn()?;
            drop(cmd); // closes our copies of the child's ends
            let (rtts, rate) = stream(cfg, to_child_w, from_child_r, child)?;
            row.msgs_per_sec = Some(rate);
            rtts
        }
        Transport::UnixSocket => {
            let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
            cmd.stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)));
            let child = cmd.spawn()?;
            drop(cmd);
            let (rtts, rate) = stream(cfg, ours.try_clone()?, ours, child)?;
            row.msgs_per_sec = Some(rate);
            rtts
        }
    };
    row.mean_rtt_ns = rtts.iter().sum::<u64>() as f64 / rtts.len().max(1) as f64;
    let [p50, p99, p999] = percentiles(rtts, [50.0, 99.0, 99.9]);
    (row.p50_ns, row.p99_ns, row.p999_ns) = (p50 / 2, p99 / 2, p999 / 2);
    Ok(row)
}

/// Round-trip times (ns) from consecutive timestamps, one clock read per round.
fn round_trips(
    rounds: usize,
    mut round: impl FnMut(u64) -> io::Result<()>,
) -> io::Result<Vec<u64>> {
    for i in 0..WARMUP {
        round(i as u64)?;
    }
    let mut stamps = Vec::with_capacity(rounds + 1);
    stamps.push(Instant::now());
    for i in 0..rounds {
        round((WARMUP + i) as u64)?;
        stamps.push(Instant::now());
    }
    Ok(stamps
        .windows(2)
        .map(|w| (w[1] - w[0]).as_nanos() as u64)
        .collect())
}

fn child_failed(mut child: Child) -> io::Result<()> {
    let status = child.wait()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("bench peer failed: {status}")))
    }
}

fn floor(cfg: &Config, cmd: &mut Command) -> io::Result<Vec<u64>> {
    let expect = Expect {
        kind: SegmentKind::Array,
        elem: ElemDesc::of::<u64>(),
        capacity: None,
    };
    let seg = Segment::create_anonymous(&expect, 32).map_err(io::Error::other)?;
    let child = inherit::spawn_with(seg.fd(), cmd, SEG_KEY)?;
    let words = seg
        .words()
        .ok_or_else(|| io::Error::other("array segment"))?;
    let (ping, pong) = (&words[0], &words[16]); // 128 bytes apart: separate lines
    let rtts = round_trips(cfg.rounds, |i| {
        let v = i + 1;
        ping.store(v, crate::primitive::Ordering::Release);
        while pong.load(crate::primitive::Ordering::Acquire) != v {
            core::hint::spin_loop();
        }
        Ok(())
    })?;
    ping.store(u64::MAX, crate::primitive::Ordering::Release); // tell the child to stop
    child_failed(child)?;
    Ok(rtts)
}

fn shm<const N: usize>(
    cfg: &Config,
    mode: WaitMode,
    cmd: &mut Command,
) -> io::Result<(Vec<u64>, f64, f64)> {
    let d = Duplex::<[u8; N]>::anonymous(1024).map_err(io::Error::other)?;
    let mut child = d.spawn_with(cmd, SEG_KEY)?;
    let mut end = d.side_a().map_err(io::Error::other)?;
    end.sender().set_wait_mode(mode);
    end.receiver().set_wait_mode(mode);
    let mut msg = [0u8; N];
    let rtts = round_trips(cfg.rounds, |i| {
        msg[..8].copy_from_slice(&i.to_le_bytes());
        end.send(msg).map_err(io::Error::other)?;
        let back = end.recv().map_err(io::Error::other)?;
        debug_assert_eq!(back[..8], msg[..8]);
        Ok(())
    })?;
    let before = futex_calls();
    let t0 = Instant::now();
    let tx = end.sender();
    for i in 0..cfg.messages {
        msg[..8].copy_from_slice(&i.to_le_bytes());
        tx.send(msg).map_err(io::Error::other)?;
    }
    end.recv().map_err(io::Error::other)?; // ack: the child has received everything
    let secs = t0.elapsed().as_secs_f64();
    let ours = futex_calls();
    let ours = (ours.waits - before.waits) + (ours.wakes - before.wakes);
    drop(end);
    let mut line = String::new();
    io::BufReader::new(
        child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?,
    )
    .read_line(&mut line)?;
    let theirs: u64 = line
        .trim()
        .strip_prefix("FUTEX ")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    child_failed(child)?;
    let per_million = (ours + theirs) as f64 * 1e6 / cfg.messages as f64;
    Ok((rtts, cfg.messages as f64 / secs, per_million))
}

fn stream(
    cfg: &Config,
    mut tx: impl Write,
    mut rx: impl Read,
    child: Child,
) -> io::Result<(Vec<u64>, f64)> {
    let n = cfg.payload;
    let mut msg = vec![0u8; n];
    let mut back = vec![0u8; n];
    let rtts = round_trips(cfg.rounds, |i| {
        msg[..8].copy_from_slice(&i.to_le_bytes());
        tx.write_all(&msg)?;
        rx.read_exact(&mut back)
    })?;
    let t0 = Instant::now();
    for i in 0..cfg.messages {
        msg[..8].copy_from_slice(&i.to_le_bytes());
        tx.write_all(&msg)?;
    }
    rx.read_exact(&mut back[..1])?; // ack
    let secs = t0.elapsed().as_secs_f64();
    drop(tx);
    child_failed(child)?;
    Ok((rtts, cfg.messages as f64 / secs))
}

/// Formats rows as a table, with latency relative to the floor and throughput relative
/// to the OS pipe (both measured in the same run).
pub fn table(rows: &[Row]) -> String {
    let floor = rows
        .iter()
        .find(|r| r.transport == "shm-atomics-floor")
        .map(|r| r.p50_ns.max(1));
    let pipe = rows
        .iter()
        .find(|r| r.transport == "os-pipe")
        .and_then(|r| r.msgs_per_sec);
    let mut out = format!(
        "{:<18} {:<9} {:>7} {:>9} {:>9} {:>9} {:>10} {:>13} {:>11} {:>12}\n",
        "transport",
        "mode",
        "payload",
        "p50 ns",
        "p99 ns",
        "p99.9 ns",
        "p50/floor",
        "msgs/s",
        "vs os-pipe",
        "futex/1M msg"
    );
    for r in rows {
        let ratio = floor.map_or("-".into(), |f| {
            format!("{:.2}x", r.p50_ns as f64 / f as f64)
        });
        let rate = r.msgs_per_sec.map_or("-".into(), |v| format!("{v:.0}"));
        let vs = match (r.msgs_per_sec, pipe) {
            (Some(v), Some(p)) => format!("{:.1}x", v / p),
            _ => "-".into(),
        };
        let fx = r
            .futex_per_million
            .map_or("-".into(), |v| format!("{v:.1}"));
        out += &format!(
            "{:<18} {:<9} {:>7} {:>9} {:>9} {:>9} {:>10} {:>13} {:>11} {:>12}\n",
            r.transport,
            r.mode,
            r.payload_bytes,
            r.p50_ns,
            r.p99_ns,
            r.p999_ns,
            ratio,
            rate,
            vs,
            fx
        );
    }
    out
}
