//! Three worker processes share one task queue; the parent puts ten tasks and closes
//! the queue instead of sending one `None` sentinel per worker (Python:
//! `multiprocessing.Queue` with three `Process`es). Each worker reports what it did on
//! a second, named queue, and the parent checks every task ran exactly once.
//!
//! ```text
//! cargo run --example queue_workers
//! ```

use shmlane::queue::{ByteQueue, Queue};
use std::process::Command;

const KEY: &str = "EXAMPLE_TASKS";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("worker") {
        let done_name = args.next().ok_or("worker needs the results queue name")?;
        let mut tasks = ByteQueue::<64>::from_env(KEY)?;
        let mut done = Queue::<u32>::open(&done_name)?;
        let mut buf = Vec::new();
        // `get_bytes` fails with `Closed` once the parent closed the queue and it is
        // drained: the loop's end replaces the sentinel check.
        while tasks.get_bytes(&mut buf).is_ok() {
            let task = String::from_utf8_lossy(&buf);
            println!("Worker {} processing: {task}", std::process::id());
            let n: u32 = task.trim_start_matches("Task ").parse()?;
            done.put(n)?;
        }
        return Ok(());
    }

    let mut tasks = ByteQueue::<64>::anonymous(16)?;
    let done_name = format!("example-done-{}", std::process::id());
    let mut done = Queue::<u32>::create(&done_name, 16)?;
    let mut workers = Vec::new();
    for _ in 0..3 {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.args(["worker", &done_name]);
        workers.push(tasks.spawn_with(&mut cmd, KEY)?);
    }
    for i in 0..10 {
        tasks.put_bytes(format!("Task {i}").as_bytes())?;
    }
    tasks.close()?; // no sentinels: workers drain the queue, then see Closed
    for mut w in workers {
        assert!(w.wait()?.success(), "a worker failed");
    }
    let mut seen = [0u32; 10];
    while let Ok(n) = done.try_get() {
        seen[n as usize] += 1;
    }
    assert_eq!(seen, [1; 10], "every task exactly once");
    println!("parent: 10 tasks done by 3 workers, each exactly once");
    Ok(())
}
