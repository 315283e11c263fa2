//! Seed: "Python IPC: A Symphony of Processes", section "Synchronization: Keeping the
//! Peace" (locks, semaphores, events, conditions), and the Value/Array section of
//! "Interprocess Communication and Data Serialization" (IV). The article names the
//! primitives without code; this is the program one would write with
//! `multiprocessing.Event`, `Barrier`, `Semaphore`, `Condition` and `Value`:
//!
//! * four workers start and wait on an `Event` the parent sets ("go");
//! * they meet at a `Barrier(4)`; exactly one of them is told it is the leader;
//! * a `Semaphore(2)` lets at most two of them use "the resource" at a time; a
//!   `Mutex<[u32; 2]>` (now inside, most ever inside) checks that it does;
//! * each adds its number to a `Value` (`SharedValue<u64>`);
//! * each counts itself done under a `Mutex<u32>` and notifies a `Condition`
//!   (`Condvar`); the parent waits on it with `wait_while_timeout`.
//!
//! Seven objects per child, all anonymous, registered on one `Command` with `inherit`.
//!
//! ```text
//! cargo run --example seed_sync
//! ```

use shmlane::sync::{Barrier, Condvar, Event, Mutex, Semaphore, SharedValue};
use std::process::Command;
use std::time::Duration;

const WORKERS: u32 = 4;
const SLOTS: u32 = 2;
const PATIENCE: Duration = Duration::from_secs(10);

struct Objects {
    go: Event,
    start: Barrier,
    slots: Semaphore,
    inside: Mutex<[u32; 2]>,
    total: SharedValue<u64>,
    leaders: SharedValue<u32>,
    done: Mutex<u32>,
    done_cv: Condvar,
}

impl Objects {
    fn new() -> Result<Self, shmlane::CreateError> {
        Ok(Objects {
            go: Event::anonymous()?,
            start: Barrier::anonymous(WORKERS)?,
            slots: Semaphore::anonymous(SLOTS, SLOTS)?,
            inside: Mutex::anonymous([0u32; 2])?,
            total: SharedValue::anonymous(0u64)?,
            leaders: SharedValue::anonymous(0u32)?,
            done: Mutex::anonymous(0u32)?,
            done_cv: Condvar::anonymous()?,
        })
    }

    /// Registers every object with `cmd`, one environment key each.
    fn inherit(&self, cmd: &mut Command) -> std::io::Result<()> {
        self.go.inherit(cmd, "SEED_GO")?;
        self.start.inherit(cmd, "SEED_START")?;
        self.slots.inherit(cmd, "SEED_SLOTS")?;
        self.inside.inherit(cmd, "SEED_INSIDE")?;
        self.total.inherit(cmd, "SEED_TOTAL")?;
        self.leaders.inherit(cmd, "SEED_LEADERS")?;
        self.done.inherit(cmd, "SEED_DONE")?;
        self.done_cv.inherit(cmd, "SEED_DONE_CV")?;
        Ok(())
    }

    fn from_env() -> Result<Self, shmlane::OpenError> {
        Ok(Objects {
            go: Event::from_env("SEED_GO")?,
            start: Barrier::from_env("SEED_START")?,
            slots: Semaphore::from_env("SEED_SLOTS")?,
            inside: Mutex::from_env("SEED_INSIDE")?,
            total: SharedValue::from_env("SEED_TOTAL")?,
            leaders: SharedValue::from_env("SEED_LEADERS")?,
            done: Mutex::from_env("SEED_DONE")?,
            done_cv: Condvar::from_env("SEED_DONE_CV")?,
        })
    }
}

fn worker(me: u64) -> Result<(), Box<dyn std::error::Error>> {
    let o = Objects::from_env()?;
    o.go.wait_timeout(PATIENCE)?;
    if o.start.wait_timeout(PATIENCE)? {
        o.leaders.update(|n| n + 1)?;
    }

    o.slots.acquire_timeout(PATIENCE)?;
    {
        let mut inside = o
            .inside
            .lock()
            .map_err(|_| "a worker died in the resource")?;
        inside[0] += 1;
        inside[1] = inside[1].max(inside[0]);
    }
    std::thread::sleep(Duration::from_millis(20)); // "using the resource"
    o.inside
        .lock()
        .map_err(|_| "a worker died in the resource")?[0] -= 1;
    o.slots.release()?;

    o.total.update(|t| t + me)?;
    *o.done.lock().map_err(|_| "a worker died counting")? += 1;
    o.done_cv.notify_all();
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("worker") {
        return worker(args.next().ok_or("worker number")?.parse()?);
    }
    let o = Objects::new()?;
    let mut children = Vec::new();
    for w in 1..=u64::from(WORKERS) {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.args(["worker", &w.to_string()]);
        o.inherit(&mut cmd)?;
        children.push(cmd.spawn()?);
    }

    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        *o.done.lock().map_err(|_| "lock")?,
        0,
        "nobody passes before go"
    );
    println!("parent: {WORKERS} workers waiting; setting the event");
    o.go.set();

    let done = o.done.lock().map_err(|_| "a worker died counting")?;
    let done = o
        .done_cv
        .wait_while_timeout(done, PATIENCE, |n| *n < WORKERS)
        .map_err(|_| "workers did not finish in time")?;
    println!("parent: condition says {} workers done", *done);
    drop(done);

    for mut c in children {
        assert!(c.wait()?.success(), "a worker failed");
    }
    let [now, most] = *o.inside.lock().map_err(|_| "lock")?;
    let total = o.total.load()?;
    let leaders = o.leaders.load()?;
    println!("parent: most inside the resource at once: {most} (semaphore of {SLOTS})");
    println!("parent: barrier leaders: {leaders}, total of worker numbers: {total}");
    assert_eq!(now, 0);
    assert!((1..=SLOTS).contains(&most));
    assert_eq!(leaders, 1);
    assert_eq!(total, (1..=u64::from(WORKERS)).sum::<u64>());
    assert_eq!(o.slots.value(), SLOTS);
    Ok(())
}
