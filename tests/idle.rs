//! Idle cost: a receiver blocked for a second sleeps in the kernel, burning no CPU.

mod common;

use common::{peer, result, role, unique};
use shmlane::error::RecvTimeoutError;
use shmlane::pipe::Pipe;
use std::time::Duration;

/// CPU time (user + system) of this process so far, in clock ticks (1/100 s).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap() // utime, stime
}

/// Child-process entry point (ignored in normal runs; see `common::peer`).
#[test]
#[ignore]
fn peer_main() {
    let Some((role, args)) = role() else { return };
    assert_eq!(role, "idle-receiver");
    let mut rx = Pipe::<u64>::open(&args[0]).unwrap().receiver().unwrap();
    let before = cpu_ticks();
    let start = std::time::Instant::now();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(1)),
        Err(RecvTimeoutError::Timeout)
    );
    let waited = start.elapsed();
    println!("RESULT {} {}", cpu_ticks() - before, waited.as_millis());
}

#[test]
fn a_blocked_receiver_uses_almost_no_cpu() {
    let name = unique("idle");
    let pipe = Pipe::<u64>::create(&name, 16).unwrap();
    let _tx = pipe.sender().unwrap(); // a live, silent sender
    let child = peer("idle-receiver", std::slice::from_ref(&name))
        .spawn()
        .unwrap();
    let (status, line) = result(child);
    assert!(status.success());
    let mut it = line.split(' ').map(|s| s.parse::<u64>().unwrap());
    let (ticks, waited_ms) = (it.next().unwrap(), it.next().unwrap());
    assert!(waited_ms >= 1000, "recv_timeout returned early");
    eprintln!("blocked receiver: {ticks} ticks (1/100 s) of CPU in {waited_ms} ms");
    // A spinning receiver would use ~100 ticks in that second; a sleeping one ~0.
    assert!(
        ticks <= 5,
        "blocked receiver used {ticks} ticks of CPU in {waited_ms} ms"
    );
}
