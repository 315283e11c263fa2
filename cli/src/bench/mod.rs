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
mod peer;
mod plot;
mod stats;

pub use blocks::{BlockRatios, median, pin_to, rotated_blocks};
pub use peer::peer_main;
pub use plot::cdf_svg;
pub use stats::Latency;

use serde::Serialize;
use shmlane::WaitMode;
use shmlane::pipe::Duplex;
use shmlane::stats::futex_calls;
use std::io::{self, BufRead, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

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

/// A `peer` factory for [`run`] that re-executes the current program with `env_var`
/// set; the program calls [`run_peer_if`] with the same variable first thing in `main`.
///
/// # Examples
///
/// ```no_run
/// const PEER: &str = "MY_BENCH_PEER";
/// if shmlane_cli::bench::run_peer_if(PEER) { return; }
/// let peer = shmlane_cli::bench::self_peer(PEER);
/// let row = shmlane_cli::bench::run(shmlane_cli::bench::Transport::ShmSpin, &Default::default(), &peer);
/// ```
pub fn self_peer(env_var: &'static str) -> impl Fn() -> Command {
    let exe = std::env::current_exe().expect("own executable");
    move || {
        let mut cmd = Command::new(&exe);
        cmd.env(env_var, "1");
        cmd
    }
}

/// If `env_var` is set, runs the bench peer on this process's last four arguments
/// (see [`self_peer`]) and returns true; the caller then returns from `main`.
pub fn run_peer_if(env_var: &str) -> bool {
    if std::env::var_os(env_var).is_none() {
        return false;
    }
    let args: Vec<String> = std::env::args().collect();
    if let Err(e) = peer_main(&args[args.len().saturating_sub(4)..]) {
        eprintln!("bench peer: {e}");
        std::process::exit(1);
    }
    true
}

/// Measures one transport. `peer` returns a command that re-executes the current
/// program so that it calls [`peer_main`] with the arguments appended to it.
pub fn run(transport: Transport, cfg: &Config, peer: &dyn Fn() -> Command) -> io::Result<Row> {
    let (mut row, rtts) = measure(transport, cfg, peer)?;
    if !rtts.is_empty() {
        row.latency = Some(Latency::from_round_trips(&rtts));
    }
    Ok(row)
}

/// Runs `transports` in `blocks` rounds, one block of each in turn, and merges each
/// transport's blocks into one row (all round trips in one histogram; rates and futex
/// counts over all messages); `progress(block, index, transport)` is called before each
/// (`index` into `transports`).
///
/// Interleaving is what makes "ratio to the floor in the same run" hold on a machine
/// whose timing drifts: on this project's VM the floor itself moves between ~40 and
/// ~250 ns over seconds, as the host moves the vCPUs. Each row also keeps its
/// per-block p50s ([`Row::block_p50`]), so a ratio can be taken block by block.
///
/// # Examples
///
/// ```no_run
/// use shmlane_cli::bench::{run_interleaved, self_peer, Config, Transport};
/// # if shmlane_cli::bench::run_peer_if("MY_BENCH_PEER") { return Ok(()); }
/// let peer = self_peer("MY_BENCH_PEER");
/// let cfg = Config { rounds: 100_000, messages: 0, payload: 8 };
/// let rows = run_interleaved(&[Transport::Floor, Transport::ShmSpin], &cfg, 10, &peer, |_, _, _| {})?;
/// assert_eq!(rows[1].block_p50.len(), 10);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn run_interleaved(
    transports: &[Transport],
    cfg: &Config,
    blocks: usize,
    peer: &dyn Fn() -> Command,
    mut progress: impl FnMut(usize, usize, Transport),
) -> io::Result<Vec<Row>> {
    let blocks = blocks.max(1);
    let part = |total: u64| total.div_ceil(blocks as u64);
    let block_cfg = Config {
        rounds: part(cfg.rounds as u64) as usize,
        messages: part(cfg.messages),
        payload: cfg.payload,
    };
    let mut merged: Vec<Merged> = transports
        .iter()
        .map(|&t| Merged::new(Row::new(t, cfg.payload)))
        .collect();
    for b in 0..blocks {
        for (i, (&t, m)) in transports.iter().zip(&mut merged).enumerate() {
            progress(b, i, t);
            let (row, rtts) = measure(t, &block_cfg, peer)?;
            m.add(&row, rtts, block_cfg.messages);
        }
    }
    Ok(merged.into_iter().map(Merged::finish).collect())
}

/// One transport's blocks of an interleaved run, summed.
struct Merged {
    row: Row,
    rtts: Vec<u64>,
    messages: f64,
    seconds: f64,
    futex_calls: Option<f64>,
}

impl Merged {
    fn new(row: Row) -> Self {
        Self {
            row,
            rtts: Vec::new(),
            messages: 0.0,
            seconds: 0.0,
            futex_calls: None,
        }
    }

    fn add(&mut self, block: &Row, rtts: Vec<u64>, messages: u64) {
        if !rtts.is_empty() {
            self.row
                .block_p50
                .push(Latency::from_round_trips(&rtts).p50);
            self.rtts.extend(rtts);
        }
        if let Some(rate) = block.msgs_per_sec.filter(|r| r.is_finite() && *r > 0.0) {
            self.row.block_rate.push(rate);
            let n = messages as f64;
            self.messages += n;
            self.seconds += n / rate;
            if let Some(per_million) = block.futex_per_million {
                *self.futex_calls.get_or_insert(0.0) += per_million * n / 1e6;
            }
        }
    }

    fn finish(mut self) -> Row {
        if !self.rtts.is_empty() {
            self.row.latency = Some(Latency::from_round_trips(&self.rtts));
        }
        if self.seconds > 0.0 {
            self.row.msgs_per_sec = Some(self.messages / self.seconds);
            self.row.futex_per_million = self.futex_calls.map(|c| c * 1e6 / self.messages);
        }
        self.row
    }
}

/// One run of `transport`: its row (without latency) and the raw round-trip times.
fn measure(
    transport: Transport,
    cfg: &Config,
    peer: &dyn Fn() -> Command,
) -> io::Result<(Row, Vec<u64>)> {
    let bulk = cfg.payload == BULK_WRITE;
    if !bulk && !PAYLOADS.contains(&cfg.payload) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("payload must be one of {PAYLOADS:?}"),
        ));
    }
    pin_to(0);
    let mut row = Row::new(transport, cfg.payload);
    match transport {
        Transport::Memcpy => {
            row.msgs_per_sec = Some(memcpy(cfg.messages, 1 << 20));
            return Ok((row, Vec::new()));
        }
        Transport::MemcpyLarge => {
            row.msgs_per_sec = Some(memcpy(cfg.messages, 256 << 20));
            return Ok((row, Vec::new()));
        }
        _ => {}
    }
    let mut cmd = peer();
    cmd.args([
        transport.arg(),
        &cfg.payload.to_string(),
        &cfg.rounds.to_string(),
        &cfg.messages.to_string(),
    ]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let rtts = match transport {
        Transport::Floor => floor::floor(cfg, &mut cmd)?,
        Transport::FutexFloor => floor::futex_floor(cfg, &mut cmd)?,
        Transport::ShmSpin
        | Transport::ShmBlocking
        | Transport::ShmSleep
        | Transport::ShmSpinBulk => {
            let bulk = transport == Transport::ShmSpinBulk;
            let (rtts, rate, futex) =
                with_payload!(cfg.payload, shm, cfg, transport.wait_mode(), bulk, &mut cmd)?;
            row.msgs_per_sec = Some(rate);
            row.futex_per_million = Some(futex);
            rtts
        }
        Transport::ShmBytes => {
            let d = Duplex::<u8>::anonymous(1 << 20).map_err(io::Error::other)?;
            let child = d.spawn_with(&mut cmd, SEG_KEY)?;
            let (tx, rx) = d.side_a().map_err(io::Error::other)?.split();
            let (rtts, rate) = stream(cfg, tx, rx, child)?;
            row.msgs_per_sec = Some(rate);
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
        Transport::Eventfd => {
            let flags = rustix::event::EventfdFlags::CLOEXEC;
            let (to_child, from_child) = (
                rustix::event::eventfd(0, flags)?,
                rustix::event::eventfd(0, flags)?,
            );
            cmd.stdin(Stdio::from(to_child.try_clone()?))
                .stdout(Stdio::from(from_child.try_clone()?));
            let child = cmd.spawn()?;
            drop(cmd);
            let (mut tx, mut rx) = (
                std::fs::File::from(to_child),
                std::fs::File::from(from_child),
            );
            let mut buf = [0u8; 8];
            let rtts = round_trips(cfg.rounds, |_| {
                tx.write_all(&1u64.to_ne_bytes())?;
                rx.read_exact(&mut buf)
            })?;
            child_failed(child)?;
            rtts
        }
        Transport::Memcpy | Transport::MemcpyLarge => unreachable!("handled above"),
    };
    Ok((row, rtts))
}

/// Runs `rounds` round trips (after a warm-up of up to 2 000) and returns each one's
/// time in ns, from consecutive timestamps: one clock read per round.
///
/// # Examples
///
/// ```
/// let rtts = shmlane_cli::bench::round_trips(10, |_| Ok(())).unwrap();
/// assert_eq!(rtts.len(), 10);
/// ```
pub fn round_trips(
    rounds: usize,
    mut round: impl FnMut(u64) -> io::Result<()>,
) -> io::Result<Vec<u64>> {
    let warmup = WARMUP.min(rounds);
    for i in 0..warmup {
        round(i as u64)?;
    }
    let mut stamps = Vec::with_capacity(rounds + 1);
    stamps.push(Instant::now());
    for i in 0..rounds {
        round((warmup + i) as u64)?;
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

fn shm<const N: usize>(
    cfg: &Config,
    mode: WaitMode,
    bulk: bool,
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
    if bulk {
        let batch: Vec<[u8; N]> = std::iter::repeat_n(msg, 256).collect();
        let mut sent = 0;
        while sent < cfg.messages {
            let n = (cfg.messages - sent).min(256) as usize;
            tx.send_slice(&batch[..n]).map_err(io::Error::other)?;
            sent += n as u64;
        }
    } else {
        for i in 0..cfg.messages {
            msg[..8].copy_from_slice(&i.to_le_bytes());
            tx.send(msg).map_err(io::Error::other)?;
        }
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
    let per_million = (ours + theirs) as f64 * 1e6 / cfg.messages.max(1) as f64;
    Ok((rtts, cfg.messages as f64 / secs, per_million))
}

/// Round trips of `payload` bytes, then `messages` writes of `payload` bytes and an ack.
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

/// `writes` copies of [`BULK_WRITE`] bytes cycling through a `dst_len` buffer: 1 MiB
/// (the byte pipe's ring size, cache-resident) or 256 MiB (memory-bound). Copies/s.
fn memcpy(writes: u64, dst_len: usize) -> f64 {
    let src = vec![7u8; BULK_WRITE];
    let mut dst = vec![1u8; dst_len]; // non-zero: really allocated and faulted in
    let t0 = Instant::now();
    for i in 0..writes as usize {
        let off = (i * BULK_WRITE) % dst.len();
        dst[off..off + BULK_WRITE].copy_from_slice(std::hint::black_box(&src));
    }
    std::hint::black_box(&dst);
    writes as f64 / t0.elapsed().as_secs_f64()
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".into(),
    }
}

/// Formats latency/throughput rows as a table, with ratios to peers of the same run:
/// p50 relative to the spinning floor, msgs/s relative to the OS pipe.
pub fn table(rows: &[Row]) -> String {
    let p50 = |r: &Row| r.latency.as_ref().map(|l| l.p50 as f64);
    let floor = rows
        .iter()
        .find(|r| r.transport == "shm-atomics-floor")
        .and_then(p50);
    let pipe = rows
        .iter()
        .find(|r| r.transport == "os-pipe")
        .and_then(|r| r.msgs_per_sec);
    let of = |name: &str| rows.iter().find(|r| r.transport == name);
    let (spin_floor, sleep_floor) = (of("shm-atomics-floor"), of("shm-futex-floor"));
    let mut out = format!(
        "{:<18} {:<9} {:>7} {:>9} {:>9} {:>9} {:>10} {:>13} {:>11} {:>12}  {}\n",
        "transport",
        "mode",
        "payload",
        "p50 ns",
        "p99 ns",
        "p99.9 ns",
        "p50/floor",
        "msgs/s",
        "vs os-pipe",
        "futex/1M msg",
        "per block: p50/its floor"
    );
    for r in rows {
        let l =
            |f: fn(&Latency) -> u64| r.latency.as_ref().map_or("-".into(), |l| f(l).to_string());
        out += &format!(
            "{:<18} {:<9} {:>7} {:>9} {:>9} {:>9} {:>10} {:>13} {:>11} {:>12}  {}\n",
            r.transport,
            r.mode,
            r.payload_bytes,
            l(|l| l.p50),
            l(|l| l.p99),
            l(|l| l.p999),
            ratio(p50(r), floor),
            r.msgs_per_sec.map_or("-".into(), |v| format!("{v:.0}")),
            ratio(r.msgs_per_sec, pipe),
            r.futex_per_million
                .map_or("-".into(), |v| format!("{v:.1}")),
            // Sleeping rows against the sleeping floor, the others against the spinning one.
            block_ratios(
                r,
                if r.mode == "sleep" {
                    sleep_floor
                } else {
                    spin_floor
                }
            ),
        );
    }
    out
}

/// Median and range of `row`'s per-block p50 over `floor`'s, block by block ("-" when
/// either ran in one block, or for the floor itself).
fn block_ratios(row: &Row, floor: Option<&Row>) -> String {
    let Some(floor) = floor.filter(|f| f.transport != row.transport) else {
        return "-".into();
    };
    let as_f64 = |v: &[u64]| v.iter().map(|&p| p as f64).collect::<Vec<_>>();
    block_summary(
        &as_f64(&row.block_p50),
        &as_f64(&floor.block_p50),
        &floor.transport,
    )
}

/// [`BlockRatios`] of `values` over `base`, naming the base ("-" when there are none).
fn block_summary(values: &[f64], base: &[f64], base_name: &str) -> String {
    BlockRatios::new(values, base).map_or("-".into(), |r| {
        format!(
            "{:.2}x ({:.2}-{:.2}x, {} blocks, vs {base_name})",
            r.median, r.min, r.max, r.blocks
        )
    })
}

/// Formats bulk rows: bandwidth relative to memcpy (cache-resident and memory-bound)
/// and to the OS pipe.
pub fn bulk_table(rows: &[Row]) -> String {
    let of = |name: &str, mode: &str| {
        rows.iter()
            .find(|r| r.transport == name && (mode.is_empty() || r.mode == mode))
            .and_then(Row::bytes_per_sec)
    };
    let (cached, large, pipe) = (
        of("memcpy", "1MiB"),
        of("memcpy", "256MiB"),
        of("os-pipe", ""),
    );
    let large_row = rows
        .iter()
        .find(|r| r.transport == "memcpy" && r.mode == "256MiB");
    let mut out = format!(
        "{:<18} {:<9} {:>8} {:>8} {:>12} {:>14} {:>11}  {}\n",
        "bulk transport",
        "mode",
        "write",
        "GB/s",
        "vs memcpy1M",
        "vs memcpy256M",
        "vs os-pipe",
        "per block: GB/s over memcpy256M's"
    );
    for r in rows {
        let per_block = match large_row {
            Some(l) if !std::ptr::eq(l, r) => {
                block_summary(&r.block_rate, &l.block_rate, "memcpy 256MiB")
            }
            _ => "-".into(),
        };
        out += &format!(
            "{:<18} {:<9} {:>8} {:>8} {:>12} {:>14} {:>11}  {}\n",
            r.transport,
            r.mode,
            r.payload_bytes,
            r.bytes_per_sec()
                .map_or("-".into(), |b| format!("{:.2}", b / 1e9)),
            ratio(r.bytes_per_sec(), cached),
            ratio(r.bytes_per_sec(), large),
            ratio(r.bytes_per_sec(), pipe),
            per_block,
        );
    }
    out
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

    #[test]
    fn block_summary_takes_ratios_block_by_block() {
        // Block 2's base is 0 (nothing measured): skipped, not a division by zero.
        let s = block_summary(&[2.0, 6.0, 5.0, 9.0], &[1.0, 2.0, 0.0, 10.0], "base");
        assert_eq!(s, "2.00x (0.90-3.00x, 3 blocks, vs base)");
        assert_eq!(
            block_summary(&[1.0, 2.0], &[1.0], "base"),
            "-",
            "mismatched"
        );
        assert_eq!(block_summary(&[1.0], &[1.0], "base"), "-", "one block");
    }

    #[test]
    fn merged_blocks_keep_per_block_rates_and_sum_time() {
        let mut m = Merged::new(Row::new(Transport::Memcpy, BULK_WRITE));
        for rate in [100.0, 300.0] {
            let mut block = Row::new(Transport::Memcpy, BULK_WRITE);
            block.msgs_per_sec = Some(rate);
            m.add(&block, Vec::new(), 300);
        }
        let row = m.finish();
        assert_eq!(row.block_rate, [100.0, 300.0]);
        // 600 messages in 3 s + 1 s: the merged rate is total over total, not a mean.
        assert_eq!(row.msgs_per_sec, Some(150.0));
        assert!(row.latency.is_none() && row.block_p50.is_empty());
    }
}
