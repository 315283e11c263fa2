//! Three processes each add 1 to every element of a shared array under its lock
//! (Python: `multiprocessing.Array('i', [0, 1, 2, 3, 4])` with a `Lock`):
//! `[0, 1, 2, 3, 4]` becomes `[3, 4, 5, 6, 7]`.
//!
//! ```text
//! cargo run --example shared_array
//! ```

use shmlane::sync::{LockError, SharedArray};
use std::process::Command;

const KEY: &str = "EXAMPLE_ARRAY";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("worker") {
        let arr = SharedArray::<i32>::from_env(KEY)?;
        // A worker that died holding the lock left the data as it was: accept it.
        let mut guard = arr.lock().or_else(LockError::into_guard)?;
        for x in guard.iter_mut() {
            *x += 1;
        }
        return Ok(());
    }
    let arr = SharedArray::<i32>::anonymous(&[0, 1, 2, 3, 4])?;
    let workers: Vec<_> = (0..3)
        .map(|_| arr.spawn_with(Command::new(std::env::current_exe()?).arg("worker"), KEY))
        .collect::<Result<_, _>>()?;
    for mut w in workers {
        assert!(w.wait()?.success());
    }
    let result = arr.to_vec()?;
    println!("Shared array: {result:?}");
    assert_eq!(result, [3, 4, 5, 6, 7]);
    Ok(())
}
