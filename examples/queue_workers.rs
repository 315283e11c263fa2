//! Three worker processes share one task queue; the parent puts ten tasks and closes
//! the queue instead of sending one `None` sentinel per worker (Python:
//! `multiprocessing.Queue` with three `Process`es). Each task is real work (counting
//! the primes in a block of 200,000 numbers by trial division, tens of milliseconds),
//! so a worker busy with one task leaves the next to the others. Workers report each
//! result, and who computed it, on a second, named queue; the parent prints which
//! worker did each task and checks every result against a sieve.
//!
//! The parent puts the first task only after all three workers have said they are
//! ready, so each of them can take a share. How the tasks are shared is up to the
//! scheduler: the checks are that every task ran exactly once and gave the right count.
//!
//! ```text
//! cargo run --example queue_workers
//! ```

use shmlane::queue::{ByteQueue, Queue};
use std::process::Command;
use std::time::Duration;

const KEY: &str = "EXAMPLE_TASKS";
const WORKERS: u64 = 3;
const TASKS: u64 = 10;
/// Numbers per task: task `i` counts the primes in `[i * BLOCK, (i + 1) * BLOCK)`.
const BLOCK: u64 = 200_000;
/// π(2,000,000): the number of primes below `TASKS * BLOCK`.
const PRIMES_BELOW_2M: u64 = 148_933;
/// A report on the results queue: `[kind, worker, task, count]`.
type Report = [u64; 4];
const READY: u64 = 0;
const DONE: u64 = 1;
/// Longest the parent waits for any one report (a worker that died must not hang it).
const PATIENCE: Duration = Duration::from_secs(60);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("worker") {
        let done_name = args.next().ok_or("worker needs the results queue name")?;
        let me: u64 = args.next().ok_or("worker needs its number")?.parse()?;
        return worker(&done_name, me);
    }

    let mut tasks = ByteQueue::<64>::anonymous(16)?;
    let done_name = format!("example-done-{}", std::process::id());
    let mut done = Queue::<Report>::create(&done_name, 16)?;
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.args(["worker", &done_name, &w.to_string()]);
        workers.push(tasks.spawn_with(&mut cmd, KEY)?);
    }
    // Every worker has opened both queues before the first task exists.
    let mut ready = [false; WORKERS as usize];
    for _ in 0..WORKERS {
        let [kind, w, _, pid] = done.get_timeout(PATIENCE)?;
        assert!(
            kind == READY && !ready[w as usize],
            "one ready report per worker"
        );
        ready[w as usize] = true;
        println!("parent: worker {w} (pid {pid}) is ready");
    }
    for i in 0..TASKS {
        let (lo, hi) = (i * BLOCK, (i + 1) * BLOCK);
        tasks.put_bytes(format!("{i} {lo} {hi}").as_bytes())?;
    }
    tasks.close()?; // no sentinels: workers drain the queue, then see Closed

    let expected = sieve_counts();
    let mut by = [None; TASKS as usize];
    for _ in 0..TASKS {
        let [kind, w, i, count] = done.get_timeout(PATIENCE)?;
        assert!(
            kind == DONE && w < WORKERS && i < TASKS,
            "a well-formed report"
        );
        assert!(by[i as usize].is_none(), "task {i} done twice");
        assert_eq!(count, expected[i as usize], "task {i}'s count");
        by[i as usize] = Some(w);
        println!(
            "parent: task {i} ({count} primes in [{}, {})) done by worker {w}",
            i * BLOCK,
            (i + 1) * BLOCK
        );
    }
    for mut w in workers {
        assert!(w.wait()?.success(), "a worker failed");
    }
    assert!(done.try_get().is_err(), "no report left over");
    assert_eq!(expected.iter().sum::<u64>(), PRIMES_BELOW_2M);

    for w in 0..WORKERS {
        let mine: Vec<u64> = (0..TASKS).filter(|&i| by[i as usize] == Some(w)).collect();
        println!("parent: worker {w} did {} tasks: {mine:?}", mine.len());
    }
    println!(
        "parent: {TASKS} tasks done, each exactly once and correct \
         ({PRIMES_BELOW_2M} primes below {})",
        TASKS * BLOCK
    );
    Ok(())
}

/// A worker: says it is ready, then takes tasks until the queue is closed and drained.
fn worker(done_name: &str, me: u64) -> Result<(), Box<dyn std::error::Error>> {
    let mut tasks = ByteQueue::<64>::from_env(KEY)?;
    let mut done = Queue::<Report>::open(done_name)?;
    done.put([READY, me, 0, u64::from(std::process::id())])?;
    let mut buf = Vec::new();
    // `get_bytes` fails with `Closed` once the parent closed the queue and it is
    // drained: the loop's end replaces the sentinel check.
    while tasks.get_bytes(&mut buf).is_ok() {
        let task = String::from_utf8(buf.clone())?;
        let mut words = task.split(' ').map(str::parse::<u64>);
        let (Some(Ok(i)), Some(Ok(lo)), Some(Ok(hi)), None) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            return Err(format!("malformed task {task:?}").into());
        };
        let count = (lo..hi).filter(|&n| is_prime(n)).count() as u64;
        done.put([DONE, me, i, count])?;
    }
    Ok(())
}

/// Trial division: the deliberately slow, CPU-bound work of a task.
fn is_prime(n: u64) -> bool {
    if n < 4 {
        return n >= 2;
    }
    if n.is_multiple_of(2) {
        return false;
    }
    let mut d = 3;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}

/// The parent's own answer for every task, by a sieve (a different method than the
/// workers', checked against π(2,000,000) in `main`).
fn sieve_counts() -> Vec<u64> {
    let n = (TASKS * BLOCK) as usize;
    let mut composite = vec![false; n];
    composite[..2].fill(true);
    let mut p = 2;
    while p * p < n {
        if !composite[p] {
            (p * p..n).step_by(p).for_each(|m| composite[m] = true);
        }
        p += 1;
    }
    composite
        .chunks(BLOCK as usize)
        .map(|block| block.iter().filter(|&&c| !c).count() as u64)
        .collect()
}
