//! `shmlane bench pool`: the buffer pool (issue 14) between two processes, every case
//! one block at a time in turn ([`rotated_blocks`]), so that ratios are taken block by
//! block within one run.
//!
//! * **Moving one buffer** of 1, 16 and 256 MiB (by default) from process A to B:
//!   - `pool-handle`: A allocates (chunks pre-touched), freezes, sends the 24-byte
//!     handle over a shmlane duplex pipe; B joins it ([`Pool::open_handle`]), drops it
//!     and sends the handle back; A drops its hold (the chunk is free again). Cost: the
//!     median of these round trips.
//!   - the same bytes written through the shmlane byte pipe, an OS pipe and a Unix
//!     socket (the bulk transports of `shmlane bench`, 64 KiB writes, at least
//!     [`PoolConfig::stream_bytes`] per block): cost per buffer = its bytes over the
//!     measured bandwidth.
//!   - `memcpy` of the buffer into another of the same size (both pre-touched), in A.
//!   - `pool-ops`: the hand-off's pool work alone (alloc, freeze, a join through a
//!     second handle of the pool, both drops), in A, with no pipe and no second process.
//!   - the reference: one 8-byte message round trip over a shmlane duplex pipe
//!     (`shmlane bench`'s `shmlane-pipe`, blocking).
//! * **Wake latency**: B holds the pool's only chunk, A's `alloc` blocks; B reads the
//!   clock (`CLOCK_MONOTONIC`, one clock for both processes) and frees the chunk; A
//!   reads the clock when `alloc` returns. B's timestamp reaches A through the shared
//!   memory of a pipe. A waits in `Blocking` mode (asleep on the futex: B frees 1 ms
//!   after telling A it holds the chunk; or within the 50 µs spin phase: 10 µs) and in
//!   `Spin` mode (1 ms). The reference: a bare `FUTEX_WAIT` woken 1 ms after the
//!   waiter started (`raw futex`), what waking a sleeping process costs on the machine.
//!
//! A is pinned to cpu 0, B to cpu 1 (as in `shmlane bench`).

use super::floor;
use super::runner::measure;
use super::{BULK_WRITE, BlockRatios, Config, Latency, SEG_KEY, Transport, WARMUP, median, pin_to};
use super::{child_failed, rotated_blocks, round_trips};
use shmlane::WaitMode;
use shmlane::pipe::Duplex;
use shmlane::pool::{BufHandle, Class, Pool};
use std::io;
use std::process::Command;
use std::time::{Duration, Instant};

/// Environment variable through which the anonymous pool reaches the bench child.
const POOL_KEY: &str = "SHMLANE_BENCH_POOL";
/// Chunks of the hand-off pool (one is in flight at a time: the allocation never waits).
const HANDOFF_CHUNKS: usize = 2;
/// Chunk size of the wake-latency pool (one chunk).
const WAKE_CHUNK: usize = 4096;
/// Page size assumed for pre-touching (a smaller real page only touches fewer bytes).
const PAGE: usize = 4096;

/// Sizes of a `shmlane bench pool` run.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// Buffer sizes in bytes (multiples of [`BULK_WRITE`]).
    pub sizes: Vec<usize>,
    /// Blocks: each case runs once per block, in turn.
    pub blocks: usize,
    /// Hand-off and 8-byte round trips per block (after a warm-up).
    pub rounds: usize,
    /// Bytes at least per block for the byte transports and memcpy (whole buffers).
    pub stream_bytes: u64,
    /// Wake-latency samples per block and wait case.
    pub wake_rounds: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            sizes: vec![1 << 20, 16 << 20, 256 << 20],
            blocks: 10,
            rounds: 2_000,
            stream_bytes: 256 << 20,
            wake_rounds: 200,
        }
    }
}

/// How the waiter of a wake-latency case waits, and when the chunk is freed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// `WaitMode::Blocking`, freed 1 ms after the waiter started: the waiter is asleep.
    BlockingAsleep,
    /// `WaitMode::Blocking`, freed 10 µs after: the waiter is in its spin phase.
    BlockingSpinning,
    /// `WaitMode::Spin`, freed 1 ms after.
    Spin,
    /// The reference: no pool, a bare `FUTEX_WAIT` woken 1 ms after the waiter started
    /// (what the machine's futex wake-up from sleep costs).
    RawFutex,
}

impl Wake {
    /// Every wake case, in table order.
    pub const ALL: [Wake; 4] = [
        Self::RawFutex,
        Self::BlockingAsleep,
        Self::BlockingSpinning,
        Self::Spin,
    ];

    /// `(mode, waiter state)` as printed.
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Self::BlockingAsleep => ("blocking", "asleep (freed after 1 ms)"),
            Self::BlockingSpinning => ("blocking", "spinning (freed after 10 us)"),
            Self::Spin => ("spin", "spinning (freed after 1 ms)"),
            Self::RawFutex => ("raw futex", "asleep (woken after 1 ms)"),
        }
    }

    fn mode(self) -> WaitMode {
        match self {
            Self::Spin => WaitMode::Spin,
            _ => WaitMode::Blocking,
        }
    }

    /// The freer's delay, and whether it busy-waits it (a sleep is not precise enough
    /// for 10 µs).
    fn delay(self) -> (Duration, bool) {
        match self {
            Self::BlockingSpinning => (Duration::from_micros(10), true),
            _ => (Duration::from_millis(1), false),
        }
    }
}

/// One case of the interleaved run.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Case {
    /// 8-byte round trip over a shmlane duplex pipe (the reference).
    Message,
    /// Handle hand-off of a buffer of this many bytes.
    Handle(usize),
    /// This many bytes through a bulk transport.
    Bytes(Transport, usize),
    /// `memcpy` of this many bytes.
    Memcpy(usize),
    /// The hand-off's pool work alone, in one process.
    Ops(usize),
    /// Wake latency.
    Wake(Wake),
}

/// The per-buffer cost of moving `size` bytes one way, per block.
#[derive(Clone, Debug, PartialEq)]
pub struct CostRow {
    /// What moved the bytes.
    pub transport: &'static str,
    /// Its wait mode (or a note).
    pub mode: &'static str,
    /// Bytes per buffer.
    pub size: usize,
    /// Nanoseconds per buffer, one value per block.
    pub block_ns: Vec<f64>,
}

impl CostRow {
    /// Median over the blocks of the cost per buffer, in nanoseconds.
    pub fn median_ns(&self) -> f64 {
        median(&mut self.block_ns.clone())
    }
}

/// Wake latency of one [`Wake`] case, all blocks together.
#[derive(Clone, Debug, PartialEq)]
pub struct WakeRow {
    /// The case.
    pub wake: Wake,
    /// `free` to `alloc` returning, in ns.
    pub latency: Latency,
    /// The p50 of each block.
    pub block_p50: Vec<f64>,
    /// Samples, all blocks together.
    pub samples: usize,
}

/// What `shmlane bench pool` measured.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolReport {
    /// The 8-byte message row first, then per size: handle, byte pipe, OS pipe, Unix
    /// socket, memcpy.
    pub costs: Vec<CostRow>,
    /// One row per [`Wake`] case.
    pub wakes: Vec<WakeRow>,
}

/// Runs every case of `cfg` interleaved; `peer` re-executes this program so that it
/// calls [`peer_main`](super::peer_main) with the arguments appended to it;
/// `progress(done, total, what)` is called before each measurement.
pub fn run_pool(
    cfg: &PoolConfig,
    peer: &dyn Fn() -> Command,
    mut progress: impl FnMut(usize, usize, &str),
) -> io::Result<PoolReport> {
    if let Some(s) = cfg
        .sizes
        .iter()
        .find(|s| **s == 0 || !s.is_multiple_of(BULK_WRITE))
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("buffer size {s} is not a positive multiple of {BULK_WRITE}"),
        ));
    }
    let mut cases = vec![Case::Message];
    for &s in &cfg.sizes {
        cases.push(Case::Handle(s));
        cases.extend(
            [
                Transport::ShmBytes,
                Transport::OsPipe,
                Transport::UnixSocket,
            ]
            .map(|t| Case::Bytes(t, s)),
        );
        cases.push(Case::Memcpy(s));
        cases.push(Case::Ops(s));
    }
    cases.extend(Wake::ALL.map(Case::Wake));
    let mut samples: Vec<Vec<u64>> = vec![Vec::new(); cases.len()];
    let mut failed = None;
    let mut calls = 0;
    let per_block = rotated_blocks(cases.len(), cfg.blocks.max(1), |i| {
        progress(calls, cases.len() * cfg.blocks.max(1), &case_name(cases[i]));
        calls += 1;
        if failed.is_some() {
            return f64::NAN;
        }
        match one(cases[i], cfg, peer, &mut samples[i]) {
            Ok(ns) => ns,
            Err(e) => {
                failed = Some(e);
                f64::NAN
            }
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    let mut report = PoolReport {
        costs: Vec::new(),
        wakes: Vec::new(),
    };
    for ((case, block_ns), samples) in cases.into_iter().zip(per_block).zip(samples) {
        let (transport, mode, size) = match case {
            Case::Message => ("shmlane-pipe 8 B", "blocking", 8),
            Case::Handle(s) => ("pool-handle", "blocking", s),
            Case::Bytes(t, s) => (t.label().0, t.label().1, s),
            Case::Memcpy(s) => ("memcpy", "in A", s),
            Case::Ops(s) => ("pool-ops", "in A", s),
            Case::Wake(wake) => {
                report.wakes.push(WakeRow {
                    wake,
                    latency: Latency::from_samples(samples.iter().copied()),
                    block_p50: block_ns,
                    samples: samples.len(),
                });
                continue;
            }
        };
        report.costs.push(CostRow {
            transport,
            mode,
            size,
            block_ns,
        });
    }
    Ok(report)
}

fn case_name(c: Case) -> String {
    match c {
        Case::Message => "8-byte message".into(),
        Case::Handle(s) => format!("handle hand-off, {}", size_label(s)),
        Case::Bytes(t, s) => format!("{}, {}", t.label().0, size_label(s)),
        Case::Memcpy(s) => format!("memcpy, {}", size_label(s)),
        Case::Ops(s) => format!("pool operations, {}", size_label(s)),
        Case::Wake(w) => format!("wake latency, {} {}", w.label().0, w.label().1),
    }
}

/// One block of `case`: its cost per buffer in ns (the block's p50 for wake cases,
/// whose samples are appended to `samples`).
fn one(
    case: Case,
    cfg: &PoolConfig,
    peer: &dyn Fn() -> Command,
    samples: &mut Vec<u64>,
) -> io::Result<f64> {
    let p50 = |rtts: &[u64]| median(&mut rtts.iter().map(|&r| r as f64).collect::<Vec<_>>());
    // Whole buffers, at least `stream_bytes` of them.
    let buffers = |size: usize| (cfg.stream_bytes / size as u64).max(1);
    match case {
        Case::Message => {
            let c = Config {
                rounds: cfg.rounds,
                messages: 0,
                payload: 8,
            };
            Ok(p50(&measure(Transport::ShmBlocking, &c, peer)?.1))
        }
        Case::Handle(size) => Ok(p50(&handoff_round_trips(size, cfg.rounds, peer)?)),
        Case::Bytes(t, size) => {
            let writes = buffers(size) * (size / BULK_WRITE) as u64;
            let c = Config {
                rounds: 1,
                messages: writes,
                payload: BULK_WRITE,
            };
            let rate = measure(t, &c, peer)?.0.msgs_per_sec.unwrap_or(f64::NAN);
            Ok((size / BULK_WRITE) as f64 / rate * 1e9)
        }
        Case::Memcpy(size) => Ok(memcpy(size, buffers(size))),
        Case::Ops(size) => pool_ops(size, cfg.rounds),
        Case::Wake(wake) => {
            let lat = wake_latency(wake, cfg.wake_rounds, peer)?;
            let block = p50(&lat);
            samples.extend(lat);
            Ok(block)
        }
    }
}

/// An anonymous pool of `count` chunks of `size` bytes, every chunk allocated once and
/// written one byte per page, so that no measured round pays a page fault.
fn touched_pool(size: usize, count: usize) -> io::Result<Pool> {
    let pool = Pool::anonymous(&[Class { size, count }]).map_err(io::Error::other)?;
    let mut held = Vec::with_capacity(count);
    for _ in 0..count {
        let mut b = pool.try_alloc(size).map_err(io::Error::other)?;
        b.iter_mut().step_by(PAGE).for_each(|x| *x = 1);
        held.push(b);
    }
    drop(held); // unfrozen: back to the pool
    Ok(pool)
}

/// The hand-off of `shmlane bench pool`, alone: `rounds` round trips (after a warm-up)
/// of a `size`-byte buffer's handle to a peer process that joins and drops it; their
/// times in ns. `peer` as for [`run_pool`].
///
/// # Examples
///
/// ```no_run
/// # if shmlane_cli::bench::run_peer_if("MY_BENCH_PEER") { return Ok(()); }
/// let peer = shmlane_cli::bench::self_peer("MY_BENCH_PEER");
/// let rtts = shmlane_cli::bench::handoff_round_trips(1 << 20, 1000, &peer)?;
/// assert_eq!(rtts.len(), 1000);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn handoff_round_trips(
    size: usize,
    rounds: usize,
    peer: &dyn Fn() -> Command,
) -> io::Result<Vec<u64>> {
    pin_to(0);
    let pool = touched_pool(size, HANDOFF_CHUNKS)?;
    let d = Duplex::<BufHandle>::anonymous(16).map_err(io::Error::other)?;
    let mut cmd = peer();
    cmd.args(["pool-handoff", &size.to_string(), &rounds.to_string(), "0"]);
    pool.inherit(&mut cmd, POOL_KEY)?;
    let child = d.spawn_with(&mut cmd, SEG_KEY)?;
    let mut end = d.side_a().map_err(io::Error::other)?;
    let rtts = round_trips(rounds, |_| {
        let buf = pool.alloc(size).map_err(io::Error::other)?.freeze();
        end.send(buf.handle()).map_err(io::Error::other)?;
        end.recv().map_err(io::Error::other)?; // B has joined and dropped its hold
        Ok(())
    }); // each round drops `buf`, the last hold: the chunk is free
    drop(end); // stops the child even when a round failed
    let done = child_failed(child);
    let rtts = rtts?;
    done?;
    Ok(rtts)
}

/// `CLOCK_MONOTONIC` in ns: one clock for every process of the machine.
pub(super) fn now_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Parent side of a wake-latency case (the waiter): `rounds` latencies in ns.
fn wake_latency(wake: Wake, rounds: usize, peer: &dyn Fn() -> Command) -> io::Result<Vec<u64>> {
    pin_to(0);
    let (delay, busy) = wake.delay();
    let warmup = (rounds / 10).max(1);
    let mut cmd = peer();
    let case = match (wake, busy) {
        (Wake::RawFutex, _) => "pool-futex-sleep",
        (_, true) => "pool-free-busy",
        (_, false) => "pool-free-sleep",
    };
    let total = (warmup + rounds).to_string();
    cmd.args([case, &delay.as_nanos().to_string(), &total, "0"]);
    if wake == Wake::RawFutex {
        let mut lat = floor::futex_wake(warmup + rounds, &mut cmd)?;
        lat.drain(..warmup);
        return Ok(lat);
    }
    let mut pool = touched_pool(WAKE_CHUNK, 1)?;
    pool.set_wait_mode(wake.mode());
    let d = Duplex::<u64>::anonymous(16).map_err(io::Error::other)?;
    let (delay, busy) = wake.delay();
    let warmup = (rounds / 10).max(1);
    let mut cmd = peer();
    cmd.args([
        if busy {
            "pool-free-busy"
        } else {
            "pool-free-sleep"
        },
        &delay.as_nanos().to_string(),
        &(warmup + rounds).to_string(),
        "0",
    ]);
    pool.inherit(&mut cmd, POOL_KEY)?;
    let child = d.spawn_with(&mut cmd, SEG_KEY)?;
    let mut end = d.side_a().map_err(io::Error::other)?;
    let mut lat = Vec::with_capacity(rounds);
    let mut round = || -> io::Result<u64> {
        end.recv().map_err(io::Error::other)?; // B holds the only chunk
        let (woke, freed) = {
            let _buf = pool.alloc(WAKE_CHUNK).map_err(io::Error::other)?; // until B frees it
            let woke = now_ns();
            (woke, end.recv().map_err(io::Error::other)?)
        }; // `_buf` dropped: the chunk is free again
        end.send(0).map_err(io::Error::other)?; // B may take it
        Ok(woke.saturating_sub(freed))
    };
    let rounds_done = (0..warmup + rounds).try_for_each(|i| {
        let ns = round()?;
        if i >= warmup {
            lat.push(ns);
        }
        Ok::<_, io::Error>(())
    });
    drop(end);
    let done = child_failed(child);
    rounds_done?;
    done?;
    Ok(lat)
}

/// A hand-off's pool work without the pipe and without a second process: alloc,
/// freeze, a join through a second handle of the pool (its own member entry, as B's),
/// both drops; mean ns per round over `rounds` (after as many warm-up rounds).
fn pool_ops(size: usize, rounds: usize) -> io::Result<f64> {
    use std::os::fd::AsFd;
    pin_to(0);
    let pool = touched_pool(size, HANDOFF_CHUNKS)?;
    let b = Pool::from_fd(pool.as_fd().try_clone_to_owned()?).map_err(io::Error::other)?;
    let round = || -> io::Result<()> {
        let buf = pool.alloc(size).map_err(io::Error::other)?.freeze();
        let _ = b.open_handle(buf.handle()).map_err(io::Error::other)?;
        Ok(())
    };
    (0..rounds).try_for_each(|_| round())?;
    let t0 = Instant::now();
    (0..rounds).try_for_each(|_| round())?;
    Ok(t0.elapsed().as_nanos() as f64 / rounds.max(1) as f64)
}

/// `copies` copies of a `size`-byte buffer into another (both pre-touched): ns per copy.
fn memcpy(size: usize, copies: u64) -> f64 {
    pin_to(0);
    let src = vec![7u8; size];
    let mut dst = vec![1u8; size]; // non-zero: really allocated and faulted in
    let t0 = Instant::now();
    for _ in 0..copies {
        dst.copy_from_slice(std::hint::black_box(&src));
        std::hint::black_box(&mut dst);
    }
    t0.elapsed().as_nanos() as f64 / copies as f64
}

/// The child side of the pool cases, `args` as for [`peer_main`](super::peer_main)
/// (`CASE PAYLOAD ROUNDS _`), or `None` when `args` names no pool case.
pub(super) fn peer(args: &[String]) -> Option<io::Result<()>> {
    let [case, payload, rounds, _] = args else {
        return None;
    };
    let busy = match case.as_str() {
        "pool-handoff" | "pool-futex-sleep" => None,
        "pool-free-busy" => Some(true),
        "pool-free-sleep" => Some(false),
        _ => return None,
    };
    let (Ok(payload), Ok(rounds)) = (payload.parse::<u64>(), rounds.parse::<usize>()) else {
        return Some(Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "usage: CASE PAYLOAD ROUNDS MESSAGES",
        )));
    };
    pin_to(1);
    let delay = Duration::from_nanos(payload);
    Some(match busy {
        None if case == "pool-futex-sleep" => floor::futex_wake_peer(delay),
        // The parent's `round_trips` adds a warm-up.
        None => handoff_peer(rounds + WARMUP.min(rounds)),
        Some(busy) => free_peer(delay, busy, rounds),
    })
}

/// B of a hand-off: joins each handle, drops it, sends it back. `rounds` includes the
/// parent's warm-up.
fn handoff_peer(rounds: usize) -> io::Result<()> {
    let pool = Pool::from_env(POOL_KEY).map_err(io::Error::other)?;
    let d = Duplex::<BufHandle>::from_env(SEG_KEY).map_err(io::Error::other)?;
    let mut end = d.side_b().map_err(io::Error::other)?;
    for _ in 0..rounds {
        let h = end.recv().map_err(io::Error::other)?;
        // `let _`: joined and dropped at once, before the handle goes back.
        let _ = pool.open_handle(h).map_err(io::Error::other)?;
        end.send(h).map_err(io::Error::other)?;
    }
    Ok(())
}

/// B of a wake-latency case: takes the only chunk, tells A, waits `delay`, stamps
/// the clock and frees the chunk; then waits until A has freed it again.
fn free_peer(delay: Duration, busy: bool, rounds: usize) -> io::Result<()> {
    let pool = Pool::from_env(POOL_KEY).map_err(io::Error::other)?;
    let d = Duplex::<u64>::from_env(SEG_KEY).map_err(io::Error::other)?;
    let mut end = d.side_b().map_err(io::Error::other)?;
    for _ in 0..rounds {
        let freed = {
            let _buf = pool.try_alloc(WAKE_CHUNK).map_err(io::Error::other)?;
            end.send(0).map_err(io::Error::other)?;
            if busy {
                let t = Instant::now();
                while t.elapsed() < delay {
                    std::hint::spin_loop();
                }
            } else {
                std::thread::sleep(delay);
            }
            now_ns()
        }; // `_buf` dropped right after the clock read: the free A waits for
        end.send(freed).map_err(io::Error::other)?;
        end.recv().map_err(io::Error::other)?;
    }
    Ok(())
}

/// "1 MiB", "256 MiB", "8 B".
fn size_label(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} B")
    }
}

/// "850 ns", "3.21 us", "152.4 ms".
fn time_label(ns: f64) -> String {
    match ns {
        n if !n.is_finite() => "-".into(),
        n if n < 1e3 => format!("{n:.0} ns"),
        n if n < 1e6 => format!("{:.2} us", n / 1e3),
        n if n < 1e9 => format!("{:.2} ms", n / 1e6),
        n => format!("{:.2} s", n / 1e9),
    }
}

/// The tables of a pool run: cost per buffer with per-block ratios to the hand-off of
/// the same size, the two goals (on the largest size), and the wake latencies.
pub fn pool_table(r: &PoolReport) -> String {
    let message = r.costs.iter().find(|c| c.transport == "shmlane-pipe 8 B");
    let handle = |size| {
        r.costs
            .iter()
            .find(|c| c.transport == "pool-handle" && c.size == size)
    };
    let mut out = format!(
        "{:<18} {:<9} {:>8} {:>11} {:>9}  {}\n",
        "moving one buffer",
        "mode",
        "size",
        "per buffer",
        "GB/s",
        "per block: cost over the hand-off's of the same size (median, range)"
    );
    for c in &r.costs {
        let ns = c.median_ns();
        let vs = match handle(c.size).filter(|h| !std::ptr::eq(*h, c)) {
            Some(h) => BlockRatios::new(&c.block_ns, &h.block_ns).map_or("-".into(), |b| {
                let d = if b.median < 10.0 { 2 } else { 0 };
                format!("{:.d$}x ({:.d$}-{:.d$}x)", b.median, b.min, b.max)
            }),
            None => "-".into(),
        };
        out += &format!(
            "{:<18} {:<9} {:>8} {:>11} {:>9}  {}\n",
            c.transport,
            c.mode,
            size_label(c.size),
            time_label(ns),
            format!("{:.2}", c.size as f64 / ns),
            vs
        );
    }
    out += "(per buffer: median round trip for the hand-off and the 8-byte message; \
            bytes over bandwidth, 64 KiB writes, for the byte transports; pool-ops: the \
            hand-off's alloc, freeze, join and drops in one process, no pipe)\n\n";
    let largest = r
        .costs
        .iter()
        .filter(|c| c.transport == "pool-handle")
        .map(|c| c.size)
        .max();
    if let (Some(size), Some(m)) = (largest, message) {
        let h = handle(size).expect("the largest size has a hand-off row");
        let goal = |name: &str, ratio: Option<BlockRatios>, met: fn(f64) -> bool| {
            ratio.map_or(format!("{name}: -\n"), |b| {
                format!(
                    "{name}: {b} per block: {}\n",
                    if met(b.median) { "met" } else { "NOT met" }
                )
            })
        };
        out += &goal(
            &format!(
                "goal: {} hand-off <= 2x the 8-byte message",
                size_label(size)
            ),
            BlockRatios::new(&h.block_ns, &m.block_ns),
            |x| x <= 2.0,
        );
        let pipe = r
            .costs
            .iter()
            .find(|c| c.transport == "os-pipe" && c.size == size);
        out += &goal(
            &format!(
                "goal: OS pipe >= 1000x the hand-off at {}",
                size_label(size)
            ),
            pipe.and_then(|p| BlockRatios::new(&p.block_ns, &h.block_ns)),
            |x| x >= 1000.0,
        );
        out += "\n";
    }
    let futex = r.wakes.iter().find(|w| w.wake == Wake::RawFutex);
    out += &format!(
        "{:<10} {:<30} {:>9} {:>9} {:>9} {:>8}  {}\n",
        "wake", "waiter", "p50", "p99", "p99.9", "samples", "per block: p50 over the raw futex's"
    );
    for w in &r.wakes {
        let (mode, state) = w.wake.label();
        let vs = futex
            .filter(|f| f.wake != w.wake)
            .and_then(|f| BlockRatios::new(&w.block_p50, &f.block_p50))
            .map_or("-".into(), |b| b.to_string());
        out += &format!(
            "{:<10} {:<30} {:>9} {:>9} {:>9} {:>8}  {}\n",
            mode,
            state,
            time_label(w.latency.p50 as f64),
            time_label(w.latency.p99 as f64),
            time_label(w.latency.p999 as f64),
            w.samples,
            vs,
        );
    }
    out += "(wake: the freer's clock read just before its free, to the waiter's just after \
            alloc returned; CLOCK_MONOTONIC; waiter on cpu 0, freer on cpu 1)\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_pick_the_unit() {
        assert_eq!(size_label(256 << 20), "256 MiB");
        assert_eq!(size_label(8), "8 B");
        assert_eq!(time_label(850.0), "850 ns");
        assert_eq!(time_label(3_210.0), "3.21 us");
        assert_eq!(time_label(152_400_000.0), "152.40 ms");
        assert_eq!(time_label(f64::NAN), "-");
    }

    #[test]
    fn the_table_states_whether_the_goals_are_met() {
        let row = |transport, size, ns: [f64; 2]| CostRow {
            transport,
            mode: "blocking",
            size,
            block_ns: ns.to_vec(),
        };
        let r = PoolReport {
            costs: vec![
                row("shmlane-pipe 8 B", 8, [1000.0, 1000.0]),
                row("pool-handle", 256 << 20, [1500.0, 3000.0]),
                row("os-pipe", 256 << 20, [3e6, 6e6]),
            ],
            wakes: Vec::new(),
        };
        let t = pool_table(&r);
        // Per block: 1.5x and 3x the message (median 2.25x); the pipe 2000x both times.
        assert!(
            t.contains("goal: 256 MiB hand-off <= 2x the 8-byte message: 2.25x (1.50-3.00x, 2 blocks) per block: NOT met"),
            "{t}"
        );
        assert!(
            t.contains("goal: OS pipe >= 1000x the hand-off at 256 MiB: 2000.00x (2000.00-2000.00x, 2 blocks) per block: met"),
            "{t}"
        );
    }
}
