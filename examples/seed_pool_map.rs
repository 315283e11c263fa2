//! Seed: "Interprocess Communication and Data Serialization", section V (Process
//! Pools): `Pool(n)`, `apply` / `apply_async` and `get()`, and `pool.map`.
//!
//! shmlane has no `Pool` yet (issue 15); the docs' suggestion is "a `Queue` of tasks
//! drained by worker processes". This builds the smallest pool on that: four worker
//! processes take `Task { index, x }` from a task queue and put `Done { index, y }` on
//! a result queue, where `y = f(x)`. `map` puts every task, then collects as many
//! results and puts them back in input order; `apply_async` is one task whose
//! `get()` waits for its result. Closing the task queue is `pool.close()` and waiting
//! for the children `pool.join()`.
//!
//! ```text
//! cargo run --example seed_pool_map
//! ```

use shmlane::queue::Queue;
use std::process::{Child, Command};
use std::time::Duration;

const TASKS: &str = "SEED_POOL_TASKS";
const RESULTS: &str = "SEED_POOL_RESULTS";

#[derive(Clone, Copy, shmlane::Pod, shmlane::Zeroable)]
#[bytemuck(crate = "shmlane::bytemuck")]
#[repr(C)]
struct Task {
    index: u64,
    x: u64,
}

#[derive(Clone, Copy, shmlane::Pod, shmlane::Zeroable)]
#[bytemuck(crate = "shmlane::bytemuck")]
#[repr(C)]
struct Done {
    index: u64,
    y: u64,
    worker: u64,
}

/// The function the pool applies: a deliberately CPU-bound one (sum of divisors).
fn f(x: u64) -> u64 {
    (1..=x).filter(|&d| x.is_multiple_of(d)).sum()
}

fn worker() -> Result<(), Box<dyn std::error::Error>> {
    let mut tasks = Queue::<Task>::from_env(TASKS)?;
    let mut results = Queue::<Done>::from_env(RESULTS)?;
    let worker = u64::from(std::process::id());
    for Task { index, x } in tasks.iter() {
        results.put(Done {
            index,
            y: f(x),
            worker,
        })?;
    }
    Ok(())
}

struct Pool {
    tasks: Queue<Task>,
    results: Queue<Done>,
    workers: Vec<Child>,
    next: u64,
}

impl Pool {
    fn new(n: usize) -> Result<Self, Box<dyn std::error::Error>> {
        let tasks = Queue::anonymous(64)?;
        let results = Queue::anonymous(64)?;
        let mut workers = Vec::new();
        for _ in 0..n {
            let mut cmd = Command::new(std::env::current_exe()?);
            cmd.arg("worker");
            tasks.inherit(&mut cmd, TASKS)?;
            results.inherit(&mut cmd, RESULTS)?;
            workers.push(cmd.spawn()?);
        }
        Ok(Pool {
            tasks,
            results,
            workers,
            next: 0,
        })
    }

    /// `pool.map(f, xs)`: results in input order. (Assumes no other call is pending:
    /// results come back on one shared queue.)
    fn map(&mut self, xs: &[u64]) -> Result<Vec<u64>, Box<dyn std::error::Error>> {
        let base = self.next;
        self.next += xs.len() as u64;
        let mut out = vec![None; xs.len()];
        let mut pending = 0;
        let mut put = 0;
        // Interleave puts and gets: both queues are bounded, so putting every task
        // first could fill both and stall the workers and us.
        while put < xs.len() || pending > 0 {
            if put < xs.len() {
                match self.tasks.try_put(Task {
                    index: base + put as u64,
                    x: xs[put],
                }) {
                    Ok(()) => {
                        put += 1;
                        pending += 1;
                        continue;
                    }
                    Err(_) if pending > 0 => {} // full: collect a result first
                    Err(e) => return Err(format!("task queue: {e}").into()),
                }
            }
            let d = self.results.get_timeout(Duration::from_secs(30))?;
            out[(d.index - base) as usize] = Some(d.y);
            pending -= 1;
        }
        Ok(out
            .into_iter()
            .map(|y| y.expect("every result came"))
            .collect())
    }

    /// `pool.apply_async(f, (x,))`: returns the handle whose `get()` waits.
    fn apply_async(&mut self, x: u64) -> Result<AsyncResult<'_>, Box<dyn std::error::Error>> {
        let index = self.next;
        self.next += 1;
        self.tasks
            .put(Task { index, x })
            .map_err(|_| "pool closed")?;
        Ok(AsyncResult { pool: self, index })
    }

    /// `pool.close(); pool.join()`.
    fn close_and_join(self) -> Result<(), Box<dyn std::error::Error>> {
        self.tasks.close()?;
        for mut w in self.workers {
            assert!(w.wait()?.success(), "a worker failed");
        }
        Ok(())
    }
}

struct AsyncResult<'a> {
    pool: &'a mut Pool,
    index: u64,
}

impl AsyncResult<'_> {
    fn get(self) -> Result<u64, Box<dyn std::error::Error>> {
        let d = self.pool.results.get_timeout(Duration::from_secs(30))?;
        assert_eq!(d.index, self.index);
        Ok(d.y)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("worker") {
        return worker();
    }
    let mut pool = Pool::new(4)?;
    let xs: Vec<u64> = (1..=200).map(|i| i * 997).collect();
    let ys = pool.map(&xs)?;
    assert_eq!(ys, xs.iter().map(|&x| f(x)).collect::<Vec<_>>());
    println!(
        "map: f(997..=199400 step 997) -> first {:?} ... last {}",
        &ys[..4],
        ys[199]
    );

    let r = pool.apply_async(28)?.get()?; // 28 is perfect: 1+2+4+7+14+28 = 56
    println!("apply_async(f, (28,)).get() = {r}");
    assert_eq!(r, 56);
    pool.close_and_join()?;
    Ok(())
}
