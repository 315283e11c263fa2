//! Seed: "Python IPC: A Symphony of Processes", section 2 (Queues): three worker
//! processes loop on `q.get()`, printing "Worker processing: Task i" until they get a
//! `None` sentinel; the parent puts "Task 0".."Task 9", then one `None` per worker,
//! then joins them.
//!
//! shmlane: the tasks are strings, so the queue is a `ByteQueue<32>` (messages of up
//! to 32 bytes; a `Queue<T>` carries one `Pod` type, and pickled objects are not
//! there yet -- issue 15). Instead of one sentinel per worker the parent calls
//! `close()`: each worker's `get_bytes` drains what is left, then fails with `Closed`.
//! The article's workers only print; to check the result, each worker also reports
//! `[worker, task]` on a second queue that both children get on the same `Command`.
//!
//! ```text
//! cargo run --example seed_queue_workers
//! ```

use shmlane::error::MessageError;
use shmlane::queue::{ByteQueue, Queue};
use std::process::Command;
use std::time::Duration;

const TASKS: &str = "SEED_TASKS";
const DONE: &str = "SEED_DONE";
const WORKERS: u32 = 3;

fn worker(me: u32) -> Result<(), Box<dyn std::error::Error>> {
    let mut q = ByteQueue::<32>::from_env(TASKS)?;
    let mut done = Queue::<[u32; 2]>::from_env(DONE)?;
    let mut item = Vec::new();
    loop {
        match q.get_bytes(&mut item) {
            Ok(_) => {}
            Err(MessageError::Closed) => break, // the sentinel's replacement
            Err(e) => return Err(e.into()),
        }
        let item = std::str::from_utf8(&item)?;
        println!("Worker {me} processing: {item}");
        let n: u32 = item.strip_prefix("Task ").ok_or("not a task")?.parse()?;
        done.put([me, n])?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("worker") {
        return worker(args.next().ok_or("worker number")?.parse()?);
    }
    let mut q = ByteQueue::<32>::anonymous(16)?;
    let mut done = Queue::<[u32; 2]>::anonymous(16)?;
    let mut processes = Vec::new();
    for i in 0..WORKERS {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.args(["worker", &i.to_string()]);
        q.inherit(&mut cmd, TASKS)?;
        done.inherit(&mut cmd, DONE)?;
        processes.push(cmd.spawn()?);
    }
    for i in 0..10 {
        q.put_bytes(format!("Task {i}").as_bytes())?;
    }
    q.close()?; // instead of `for i in range(3): q.put(None)`
    for p in &mut processes {
        assert!(p.wait()?.success(), "a worker failed");
    }

    let mut seen = vec![None; 10];
    for _ in 0..10 {
        let [w, n] = done.get_timeout(Duration::from_secs(5))?;
        assert!(seen[n as usize].replace(w).is_none(), "task {n} ran twice");
    }
    assert!(done.try_get().is_err(), "no extra reports");
    println!("parent: tasks 0..9 each processed once, by workers {seen:?}");
    Ok(())
}
