//! The MPMC queue across real processes: a 4 × 4 stress test with exactly-once
//! accounting, and SIGKILL runs that check survivors finish and losses stay within
//! what `ring::mpmc` documents.

mod common;

use common::{Rng, kill9, peer, role, seed, spawn_ready, unique, wait_ready};
use shmlane::queue::ByteQueue;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::process::Child;
use std::time::{Duration, Instant};

/// Largest message; messages are 16..=MAXB bytes.
const MAXB: usize = 120;
type Q = ByteQueue<MAXB>;
/// Watchdog only: turns a hang into a failure.
const WATCHDOG: Duration = Duration::from_secs(120);

/// Message `seq` of producer `p`: `p`, `seq`, then pseudo-random bytes of a
/// pseudo-random length, all derived from `(p, seq)` so a consumer can check it.
fn message(p: u64, seq: u64, buf: &mut Vec<u8>) {
    let mut r = Rng((p << 40 ^ seq).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let len = 16 + r.below((MAXB - 16 + 1) as u64) as usize;
    buf.clear();
    buf.extend_from_slice(&p.to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.resize(len, 0);
    r.fill(&mut buf[16..]);
}

/// `(p, seq)` of an intact message, `None` for a torn or garbled one.
fn check(buf: &[u8], want: &mut Vec<u8>) -> Option<(u64, u64)> {
    let p = u64::from_le_bytes(buf.get(..8)?.try_into().ok()?);
    let seq = u64::from_le_bytes(buf.get(8..16)?.try_into().ok()?);
    if p >= 1 << 20 || seq >= 1 << 40 {
        return None;
    }
    message(p, seq, want);
    (buf == want.as_slice()).then_some((p, seq))
}

fn id(p: u64, seq: u64) -> u64 {
    p << 40 | seq
}

/// Child-process entry point (ignored in normal runs; see `common::peer`).
#[test]
#[ignore]
fn peer_main() {
    let Some((role, args)) = role() else { return };
    if role == "create-and-hold" {
        let _q = Q::create(&args[0], 8).unwrap_or_else(|e| panic!("create: {e}"));
        println!("READY");
        std::thread::sleep(Duration::from_secs(600));
        return;
    }
    let mut q = Q::open(&args[0]).unwrap_or_else(|e| panic!("open: {e}"));
    println!("READY");
    let mut buf = Vec::new();
    let mut want = Vec::new();
    match role.as_str() {
        // args: name p count progress-file. Puts `count` messages; after each, writes
        // how many were put to the progress file (one pwrite: survives a SIGKILL).
        "produce" => {
            let p: u64 = args[1].parse().unwrap();
            let count: u64 = args[2].parse().unwrap();
            let progress = std::fs::File::create(&args[3]).unwrap();
            for seq in 0..count {
                message(p, seq, &mut buf);
                q.put_bytes(&buf).unwrap();
                progress.write_all_at(&(seq + 1).to_le_bytes(), 0).unwrap();
            }
        }
        // args: name log-file live|end. Gets until Closed; exits 3 on a torn message.
        // "live" appends each id to the log as it arrives (one write: survives a
        // SIGKILL); "end" writes them all at the end.
        "consume" => {
            let mut log = std::fs::File::create(&args[1]).unwrap();
            let live = args[2] == "live";
            let mut ids: Vec<u8> = Vec::new();
            while q.get_bytes(&mut buf).is_ok() {
                let Some((p, seq)) = check(&buf, &mut want) else {
                    eprintln!("torn message: {buf:?}");
                    std::process::exit(3);
                };
                if live {
                    log.write_all(&id(p, seq).to_le_bytes()).unwrap();
                } else {
                    ids.extend_from_slice(&id(p, seq).to_le_bytes());
                }
            }
            log.write_all(&ids).unwrap();
        }
        // Claim a position and exit without finishing, as a SIGKILL there would.
        "crash-put" => q.crash_in_put(),
        "crash-get" => q.crash_in_get(),
        _ => panic!("unknown role {role}"),
    }
}

fn run_to_exit(role: &str, name: &str) {
    let mut child = peer(role, &[name.to_owned()]).spawn().unwrap();
    let status = wait_or_kill(&mut child, Instant::now() + WATCHDOG);
    assert!(status.success());
}

/// A process that dies between claiming a put and publishing it: the survivors'
/// wait notices the death and skips the position; the message is never delivered.
#[test]
fn producer_dead_mid_put_is_retired_by_a_waiting_consumer() {
    let name = unique("qdp");
    let mut q = Q::create(&name, 4).unwrap();
    q.put_bytes(b"first").unwrap();
    run_to_exit("crash-put", &name);
    q.put_bytes(b"third").unwrap();
    let mut buf = Vec::new();
    q.get_bytes(&mut buf).unwrap();
    assert_eq!(buf, b"first");
    // Position 1 is held by the dead process; the wait retires it.
    q.get_bytes_timeout(&mut buf, Duration::from_secs(10))
        .unwrap();
    assert_eq!(buf, b"third");
    assert_eq!((q.abandoned(), q.lost()), (1, 0));
}

/// A process that dies holding a taken message: a waiting producer notices the death
/// and frees the slot; the message is counted as lost.
#[test]
fn consumer_dead_mid_get_is_retired_by_a_waiting_producer() {
    let name = unique("qdc");
    let mut q = Q::create(&name, 2).unwrap();
    q.put_bytes(b"one").unwrap();
    q.put_bytes(b"two").unwrap();
    run_to_exit("crash-get", &name);
    q.put_bytes_timeout(b"three", Duration::from_secs(10))
        .unwrap();
    assert_eq!((q.abandoned(), q.lost()), (0, 1));
    let mut buf = Vec::new();
    q.get_bytes(&mut buf).unwrap();
    assert_eq!(buf, b"two");
    q.get_bytes(&mut buf).unwrap();
    assert_eq!(buf, b"three");
}

fn wait_or_kill(child: &mut Child, deadline: Instant) -> std::process::ExitStatus {
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            kill9(child);
            panic!("child {} hung", child.id());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn read_ids(path: &str) -> Vec<u64> {
    let mut bytes = Vec::new();
    // No file: the consumer was killed before it created its log, so it logged nothing.
    if let Ok(mut f) = std::fs::File::open(path) {
        f.read_to_end(&mut bytes).unwrap();
    }
    bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

struct Run {
    name: String,
    dir: tempdir::Dir,
    producers: Vec<Child>,
    consumers: Vec<Child>,
}

/// A scratch directory removed on drop.
mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new(tag: &str) -> Self {
            let p = std::env::temp_dir().join(super::unique(tag));
            std::fs::create_dir_all(&p).unwrap();
            Self(p)
        }
        pub fn file(&self, name: &str) -> String {
            self.0.join(name).to_string_lossy().into_owned()
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn start(name: &str, producers: u64, per_producer: u64, consumers: u64, live: bool) -> Run {
    let dir = tempdir::Dir::new("qlogs");
    let mode = if live { "live" } else { "end" };
    let consumers = (0..consumers)
        .map(|c| {
            let args = [name.to_owned(), dir.file(&format!("c{c}")), mode.into()];
            peer("consume", &args).spawn().unwrap()
        })
        .collect();
    let producers = (0..producers)
        .map(|p| {
            let args = [
                name.to_owned(),
                p.to_string(),
                per_producer.to_string(),
                dir.file(&format!("p{p}")),
            ];
            peer("produce", &args).spawn().unwrap()
        })
        .collect();
    Run {
        name: name.to_owned(),
        dir,
        producers,
        consumers,
    }
}

/// 4 producer processes × 4 consumer processes, 2 M messages of 16–120 bytes through
/// 64 slots: every message arrives exactly once and intact.
#[test]
fn four_by_four_exactly_once() {
    const P: u64 = 4;
    const PER: u64 = 500_000;
    let name = unique("q44");
    let q = Q::create(&name, 64).unwrap();
    let mut run = start(&name, P, PER, 4, false);
    let deadline = Instant::now() + WATCHDOG;
    for c in &mut run.producers {
        assert!(wait_or_kill(c, deadline).success(), "producer failed");
    }
    q.close().unwrap();
    for c in &mut run.consumers {
        assert!(wait_or_kill(c, deadline).success(), "consumer failed");
    }
    let mut seen = vec![vec![false; PER as usize]; P as usize];
    let mut total = 0;
    for c in 0..4 {
        for v in read_ids(&run.dir.file(&format!("c{c}"))) {
            let (p, seq) = ((v >> 40) as usize, (v & ((1 << 40) - 1)) as usize);
            assert!(!seen[p][seq], "duplicate {p}:{seq}");
            seen[p][seq] = true;
            total += 1;
        }
    }
    assert_eq!(total, P * PER, "messages lost");
    assert_eq!((q.lost(), q.abandoned()), (0, 0));
    drop(run.name);
}

/// 20 runs of 3 producers × 3 consumers, 210 k messages each; in each run one random
/// producer and one random consumer are SIGKILLed at random moments. Survivors finish,
/// no message is duplicated or torn, and the missing ones are exactly those the queue
/// counted as lost, plus at most the one the killed consumer had taken but not yet
/// logged.
#[test]
fn kill_a_producer_and_a_consumer() {
    const RUNS: u64 = 20;
    const P: u64 = 3;
    const C: u64 = 3;
    const PER: u64 = 70_000;
    let mut rng = Rng(seed());
    let (mut lost_total, mut abandoned_total) = (0, 0);
    for run_no in 0..RUNS {
        let name = unique("qkill");
        let q = Q::create(&name, 1 << (3 + rng.below(5))).unwrap();
        let mut run = start(&name, P, PER, C, true);
        for c in run.producers.iter_mut().chain(&mut run.consumers) {
            wait_ready(c);
        }
        let (kp, kc) = (rng.below(P) as usize, rng.below(C) as usize);
        let (tp, tc) = (rng.below(100), rng.below(100));
        let t0 = Instant::now();
        for (at, child) in [(tp, &mut run.producers[kp]), (tc, &mut run.consumers[kc])]
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>()
        {
            std::thread::sleep(Duration::from_millis(at).saturating_sub(t0.elapsed()));
            kill9(child);
        }
        let deadline = Instant::now() + WATCHDOG;
        for (i, c) in run.producers.iter_mut().enumerate() {
            if i != kp {
                assert!(
                    wait_or_kill(c, deadline).success(),
                    "run {run_no}: producer failed"
                );
            }
        }
        q.close().unwrap();
        for (i, c) in run.consumers.iter_mut().enumerate() {
            if i != kc {
                assert!(
                    wait_or_kill(c, deadline).success(),
                    "run {run_no}: consumer failed"
                );
            }
        }
        // What each producer knows it put (the killed one: its progress file, which
        // may lag its last successful put by one).
        let put: Vec<u64> = (0..P)
            .map(|p| {
                let mut b = [0u8; 8];
                // No file: killed before creating it, which it does before any put.
                let Ok(f) = std::fs::File::open(run.dir.file(&format!("p{p}"))) else {
                    return 0;
                };
                let n = f.read_at(&mut b, 0).unwrap();
                if n == 8 { u64::from_le_bytes(b) } else { 0 }
            })
            .collect();
        let mut got = HashSet::new();
        for c in 0..C {
            for v in read_ids(&run.dir.file(&format!("c{c}"))) {
                assert!(got.insert(v), "run {run_no}: duplicate {v:#x}");
            }
        }
        for &v in &got {
            let (p, seq) = (v >> 40, v & ((1 << 40) - 1));
            let limit = if p as usize == kp { put[kp] + 1 } else { PER };
            assert!(seq < limit, "run {run_no}: message {p}:{seq} was never put");
        }
        let missing = (0..P)
            .flat_map(|p| (0..put[p as usize]).map(move |s| id(p, s)))
            .filter(|v| !got.contains(v))
            .count() as u64;
        let lost = q.lost();
        assert!(
            lost <= missing && missing <= lost + 1,
            "run {run_no}: {missing} missing, queue counted {lost} lost"
        );
        let killed_got = read_ids(&run.dir.file(&format!("c{kc}"))).len();
        eprintln!(
            "run {run_no}: producer {kp} killed at {tp} ms after {} puts, consumer {kc} \
             at {tc} ms after {killed_got} gets; lost {lost}, abandoned {}",
            put[kp],
            q.abandoned()
        );
        lost_total += lost;
        abandoned_total += q.abandoned();
    }
    eprintln!(
        "{RUNS} runs: {lost_total} messages lost with killed consumers, \
         {abandoned_total} puts abandoned by killed producers"
    );
}

/// A queue whose creator was SIGKILLed, with no live member left, does not block a
/// restart: `create` reclaims the name. While a live member holds it, `ls` shows the
/// member and `gc` leaves it alone.
#[test]
fn killed_creator_queue_is_reclaimed_live_one_is_kept() {
    let name = unique("qstale");
    let mut child = spawn_ready("create-and-hold", std::slice::from_ref(&name));
    let opened = Q::open(&name).unwrap();
    let info = shmlane::segment::list()
        .into_iter()
        .find(|i| i.name == name)
        .expect("listed");
    assert_eq!(info.kind, Some(shmlane::layout::SegmentKind::Queue));
    assert_eq!(info.endpoints.len(), 2, "creator's and ours: {info:?}");
    kill9(&mut child);
    assert!(
        !shmlane::segment::list()
            .iter()
            .any(|i| i.name == name && i.stale)
    );
    drop(opened); // the last live member leaves
    let q = Q::create(&name, 8).expect("stale queue reclaimed");
    assert_eq!(q.capacity(), 8);
}
