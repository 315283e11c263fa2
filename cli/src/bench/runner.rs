//! The run loop: [`run`] and its peer plumbing ([`self_peer`], [`run_peer_if`]), one
//! measurement of each transport, and the round-trip timer they share ([`round_trips`]).

use super::{BULK_WRITE, Config, Latency, PAYLOADS, Row, SEG_KEY, Transport, WARMUP};
use super::{floor, peer_main, pin_to};
use shmlane::WaitMode;
use shmlane::pipe::Duplex;
use shmlane::stats::futex_calls;
use std::io::{self, BufRead, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

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

/// One run of `transport`: its row (without latency) and the raw round-trip times.
pub(super) fn measure(
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

pub(super) fn child_failed(mut child: Child) -> io::Result<()> {
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
