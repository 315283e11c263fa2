//! Seed: "Python IPC: A Symphony of Processes", section 5 (`multiprocessing.Manager`):
//! five processes each set `d[n] = n * n` in a `manager.dict()` while holding a
//! `manager.Lock()`, printing "Worker n added n*n to the dictionary."; the parent
//! prints the dictionary.
//!
//! shmlane has no manager process and no shared dict yet (`Manager().dict()`: issue
//! 16, `SharedMap`). The nearest thing the docs suggest is a `Mutex` over a
//! `#[repr(C)]` `Pod` struct of your own: here a fixed-capacity map (`len` entries of
//! `(key, value)`), which is also what the article's lock protects. The mutex *is* the
//! lock, so `l.acquire()` / `finally: l.release()` becomes the guard's scope.
//!
//! ```text
//! cargo run --example seed_manager_dict
//! ```

use shmlane::sync::Mutex;
use std::process::Command;

const KEY: &str = "SEED_DICT";
const WORKERS: u64 = 5;
const CAPACITY: usize = 8;

/// A tiny fixed-capacity `dict[u64, u64]` that can live in shared memory.
#[derive(Clone, Copy, shmlane::Pod, shmlane::Zeroable)]
#[bytemuck(crate = "shmlane::bytemuck")]
#[repr(C)]
struct Dict {
    len: u64,
    keys: [u64; CAPACITY],
    values: [u64; CAPACITY],
}

impl Dict {
    fn insert(&mut self, key: u64, value: u64) {
        let len = self.len as usize;
        match self.keys[..len].iter().position(|&k| k == key) {
            Some(i) => self.values[i] = value,
            None => {
                assert!(len < CAPACITY, "dict full");
                self.keys[len] = key;
                self.values[len] = value;
                self.len += 1;
            }
        }
    }

    fn items(&self) -> Vec<(u64, u64)> {
        let len = self.len as usize;
        let mut items: Vec<_> = self.keys[..len]
            .iter()
            .copied()
            .zip(self.values[..len].iter().copied())
            .collect();
        items.sort();
        items
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("worker") {
        let n: u64 = args.next().ok_or("worker number")?.parse()?;
        let d = Mutex::<Dict>::from_env(KEY)?;
        let mut d = d.lock().map_err(|_| "a worker died holding the dict")?; // l.acquire()
        d.insert(n, n * n);
        println!("Worker {n} added {} to the dictionary.", n * n);
        return Ok(()); // the guard drops: l.release()
    }
    let d = Mutex::<Dict>::anonymous(shmlane::Zeroable::zeroed())?;
    let mut processes = Vec::new();
    for i in 0..WORKERS {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.args(["worker", &i.to_string()]);
        processes.push(d.spawn_with(&mut cmd, KEY)?);
    }
    for mut p in processes {
        assert!(p.wait()?.success(), "a worker failed");
    }
    let items = d
        .lock()
        .map_err(|_| "a worker died holding the dict")?
        .items();
    println!("Shared dictionary: {items:?}");
    assert_eq!(items, (0..WORKERS).map(|n| (n, n * n)).collect::<Vec<_>>());
    Ok(())
}
