//! Shared helpers for multi-process tests: a test binary re-executes itself as a child
//! process running one named role (see `peer_main!`).
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Environment variable naming the role a child runs.
pub const ROLE: &str = "SHMLANE_TEST_ROLE";
/// Environment variable with the role's arguments, separated by spaces.
pub const ARGS: &str = "SHMLANE_TEST_ARGS";

/// A segment name unique to this process and call.
pub fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "t-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A command that re-runs this test binary as a child executing `role(args)`.
pub fn peer(role: &str, args: &[String]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "peer_main",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ])
    .env(ROLE, role)
    .env(ARGS, args.join(" "))
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    cmd
}

/// Waits for a child and returns the last line it printed that starts with `RESULT `.
pub fn result(child: Child) -> (std::process::ExitStatus, String) {
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or("")
        .to_owned();
    (out.status, line)
}

/// The role and arguments when running as a child, or `None` in the test runner.
pub fn role() -> Option<(String, Vec<String>)> {
    let role = std::env::var(ROLE).ok()?;
    let args = std::env::var(ARGS).unwrap_or_default();
    Some((role, args.split_whitespace().map(str::to_owned).collect()))
}

/// xorshift64*: a deterministic stream both sides can regenerate.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
}

/// A seed from the clock, printed so a failing run can be replayed (SHMLANE_SEED).
pub fn seed() -> u64 {
    let s = std::env::var("SHMLANE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("seed: SHMLANE_SEED={s}");
    s
}

/// Running checksum of a u64 sequence (order-sensitive).
pub fn mix(acc: u64, v: u64) -> u64 {
    (acc ^ v).wrapping_mul(0x1000_0000_01b3).rotate_left(5)
}

/// SIGKILLs a child and reaps it.
pub fn kill9(child: &mut Child) {
    let _ = child.kill(); // std's kill is SIGKILL
    let _ = child.wait();
}

/// The state letter of `/proc/PID/stat` (`T` = stopped, `Z` = zombie), `None` once the
/// process is gone.
pub fn proc_state(pid: u32) -> Option<u8> {
    let text = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let close = text.iter().rposition(|&b| b == b')')?;
    text.get(close + 2).copied()
}

/// Continues our own child `pid` if it is stopped (`SIGCONT`).
pub fn sigcont(pid: u32) {
    // SAFETY: a plain kill(2) on our own child's pid (not yet reaped).
    unsafe { libc::kill(pid as i32, libc::SIGCONT) };
}

/// Continues a child that may be stopped at a fault point, then SIGKILLs and reaps it:
/// what a guard of a stopped child does on drop (also on a failed assertion).
pub fn cont_and_kill(child: &mut Child) {
    sigcont(child.id());
    kill9(child);
}

/// Files this test binary left in /dev/shm whose names contain `tag`.
pub fn leftovers(tag: &str) -> Vec<String> {
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("shmlane.") && n.contains(tag))
                .collect()
        })
        .unwrap_or_default()
}

/// Spawns a child running `role(args)` (see [`peer`]) and waits until it is `READY`.
pub fn spawn_ready(role: &str, args: &[String]) -> Child {
    let mut child = peer(role, args).spawn().unwrap();
    wait_ready(&mut child);
    child
}

/// Reads the child's stdout until it prints a line `READY`.
pub fn wait_ready(child: &mut Child) {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::new(child.stdout.as_mut().unwrap());
    let mut line = String::new();
    while line.trim() != "READY" {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "child exited before READY"
        );
    }
}

/// Overwrites a 64-bit word of a live segment (`/dev/shm/shmlane.NAME` at `offset`), as
/// a hostile or buggy peer could.
pub fn poke(name: &str, offset: u64, value: u64) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/dev/shm/shmlane.{name}"))
        .unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(&value.to_ne_bytes()).unwrap();
}

/// How long [`watchdog`] lets a call block before it fails the test.
pub const WATCHDOG: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs `f` on a thread and returns its result, or fails the test if it has not
/// returned within [`WATCHDOG`] (the bug being a wait that never ends).
pub fn watchdog<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()).unwrap());
    rx.recv_timeout(WATCHDOG)
        .unwrap_or_else(|_| panic!("{what} still blocked after {WATCHDOG:?}: a wait without end"))
}
