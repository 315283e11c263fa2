//! Seed: "Interprocess Communication and Data Serialization", section III.B (Creating
//! and Managing Processes: `start()`, `join()`, `terminate()`, `is_alive()`), with the
//! pitfall "Deadlocks" from "Python IPC" ("Common Pitfalls"): what happens to a lock
//! whose holder is terminated.
//!
//! shmlane has no `Process` object yet (issue 15): a child is a `std::process::Child`
//! (`spawn` = `start`, `try_wait()` = `not is_alive()`, `kill()` = `terminate()`,
//! `wait()` = `join()`). The child locks a shared `Mutex<u64>`, sets an `Event` to
//! say it holds it, and then hangs. The parent checks it is alive, kills it, and locks
//! the mutex: Python's `Lock` would stay locked forever; shmlane hands the lock to the
//! parent with `LockError::OwnerDied`, and the parent repairs the data and calls
//! `mark_consistent()`.
//!
//! ```text
//! cargo run --example seed_terminate
//! ```

use shmlane::sync::{Event, LockError, Mutex};
use std::process::Command;
use std::time::{Duration, Instant};

const LOCK: &str = "SEED_LOCK";
const HOLDING: &str = "SEED_HOLDING";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("child") {
        let m = Mutex::<u64>::from_env(LOCK)?;
        let holding = Event::from_env(HOLDING)?;
        let mut g = m.lock().map_err(|_| "lock")?;
        *g = u64::MAX; // a half-done update...
        holding.set();
        std::thread::sleep(Duration::from_secs(60)); // ...that never finishes
        unreachable!("the parent kills us first");
    }
    let m = Mutex::anonymous(7u64)?;
    let holding = Event::anonymous()?;
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("child");
    m.inherit(&mut cmd, LOCK)?;
    holding.inherit(&mut cmd, HOLDING)?;
    let mut p = cmd.spawn()?; // p.start()

    holding.wait_timeout(Duration::from_secs(10))?;
    assert!(p.try_wait()?.is_none(), "is_alive()");
    println!(
        "parent: child {} holds the lock and is alive; terminating it",
        p.id()
    );
    p.kill()?; // p.terminate()
    let status = p.wait()?; // p.join()
    assert!(!status.success());
    println!("parent: child exited: {status}");

    let t = Instant::now();
    let g = match m.lock_timeout(Duration::from_secs(10)) {
        Ok(_) => return Err("the lock should report its dead owner".into()),
        Err(shmlane::sync::LockTimeoutError::OwnerDied(g)) => g,
        Err(e) => return Err(format!("{e}").into()),
    };
    println!(
        "parent: took the lock over from the dead child after {:?}; it left {}",
        t.elapsed(),
        *g
    );
    assert_eq!(*g, u64::MAX);
    let mut g = g;
    *g = 7; // repair
    g.mark_consistent();
    drop(g);
    let g = m.lock().map_err(|e| match e {
        LockError::OwnerDied(_) => "still inconsistent",
        LockError::Corrupted(_) => "corrupted",
    })?;
    assert_eq!(*g, 7);
    println!("parent: repaired, and the next lock is clean");
    Ok(())
}
