//! Seed: "Python IPC: A Symphony of Processes", section 3 (Shared Memory):
//! `worker(shared_array, lock)`, three processes each add 1 to every element of
//! `Array('i', [0, 1, 2, 3, 4])` while holding a separate `Lock()`; the parent prints
//! `[3, 4, 5, 6, 7]`.
//!
//! shmlane: a `SharedArray<i32>` already has its own lock (`arr.lock()` is Python's
//! `with arr.get_lock():`), so a separate lock is not needed for the array. To keep the
//! article's shape -- a child that is handed *several* objects -- each child here also
//! gets a separate `Mutex<u32>` (the `Lock()`, here also counting the workers that
//! passed through it) and a `Queue<u32>` on which it reports the array's first
//! element as it saw it. All three anonymous objects are registered on one `Command`
//! with `inherit` and opened in the child with `from_env`.
//!
//! ```text
//! cargo run --example seed_array_lock
//! ```

use shmlane::queue::Queue;
use shmlane::sync::{Mutex, SharedArray};
use std::process::Command;
use std::time::Duration;

const ARRAY: &str = "SEED_ARRAY";
const LOCK: &str = "SEED_LOCK";
const REPORTS: &str = "SEED_REPORTS";
const WORKERS: usize = 3;

fn worker() -> Result<(), Box<dyn std::error::Error>> {
    let shared_array = SharedArray::<i32>::from_env(ARRAY)?;
    let lock = Mutex::<u32>::from_env(LOCK)?;
    let mut reports = Queue::<i32>::from_env(REPORTS)?;
    // `with lock:` -- the separate lock, as in the article; it guards a visit count.
    let mut visits = lock.lock().map_err(|_| "a worker died holding the lock")?;
    *visits += 1;
    // The array's own lock; in shmlane the array cannot be touched without it.
    let mut arr = shared_array
        .lock()
        .map_err(|_| "a worker died holding the array")?;
    for x in arr.iter_mut() {
        *x += 1;
    }
    reports.put(arr[0])?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("worker") {
        return worker();
    }
    let shared_array = SharedArray::<i32>::anonymous(&[0, 1, 2, 3, 4])?;
    let lock = Mutex::anonymous(0u32)?;
    let mut reports = Queue::<i32>::anonymous(8)?;

    let mut processes = Vec::new();
    for _ in 0..WORKERS {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.arg("worker");
        shared_array.inherit(&mut cmd, ARRAY)?;
        lock.inherit(&mut cmd, LOCK)?;
        reports.inherit(&mut cmd, REPORTS)?;
        processes.push(cmd.spawn()?);
    }
    for mut p in processes {
        assert!(p.wait()?.success(), "a worker failed");
    }

    let result = shared_array.to_vec()?;
    println!("Shared array: {result:?}");
    assert_eq!(result, [3, 4, 5, 6, 7]);
    assert_eq!(*lock.lock().map_err(|_| "lock")?, WORKERS as u32);
    let mut seen: Vec<i32> = (0..WORKERS)
        .map(|_| reports.get_timeout(Duration::from_secs(5)))
        .collect::<Result<_, _>>()?;
    seen.sort();
    println!("first element as each worker left it: {seen:?}");
    assert_eq!(seen, [1, 2, 3]); // the workers ran one after another
    Ok(())
}
