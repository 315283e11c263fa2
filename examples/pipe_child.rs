//! A parent process sends numbers to a child through an anonymous shared-memory pipe
//! (Python: `multiprocessing.Pipe(duplex=False)` with a `Process`).
//!
//! ```text
//! cargo run --example pipe_child
//! ```

use shmlane::pipe::Pipe;
use std::process::Command;

const KEY: &str = "EXAMPLE_PIPE";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("child") {
        // Child: take the inherited segment and read until the parent hangs up.
        let mut rx = Pipe::<u64>::from_env(KEY)?.receiver()?;
        let (mut n, mut sum) = (0u64, 0u64);
        for v in rx.iter() {
            n += 1;
            sum += v;
        }
        println!(
            "child {}: received {n} values, sum {sum}",
            std::process::id()
        );
        return Ok(());
    }
    let pipe = Pipe::<u64>::anonymous(1024)?;
    let mut child = pipe.spawn_with(Command::new(std::env::current_exe()?).arg("child"), KEY)?;
    let mut tx = pipe.sender()?;
    for v in 1..=100_000u64 {
        tx.send(v)?;
    }
    drop(tx); // end of stream: the child's iterator ends after the last value
    assert!(child.wait()?.success());
    println!(
        "parent: sent 100000 values, expected sum {}",
        100_000u64 * 100_001 / 2
    );
    Ok(())
}
