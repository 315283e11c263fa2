//! A shared counter (Python: `multiprocessing.Value('i', 0)`): four processes add 1000
//! each with `update`, which is atomic with respect to other writers; readers use
//! `load`, which never blocks and never sees a torn value.
//!
//! ```text
//! cargo run --example shared_value
//! ```

use shmlane::sync::SharedValue;
use std::process::Command;

const KEY: &str = "EXAMPLE_VALUE";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("worker") {
        let counter = SharedValue::<u64>::from_env(KEY)?;
        for _ in 0..1000 {
            counter.update(|v| v + 1)?;
        }
        return Ok(());
    }
    let counter = SharedValue::<u64>::anonymous(0)?;
    let workers: Vec<_> = (0..4)
        .map(|_| counter.spawn_with(Command::new(std::env::current_exe()?).arg("worker"), KEY))
        .collect::<Result<_, _>>()?;
    for mut w in workers {
        assert!(w.wait()?.success());
    }
    let total = counter.load()?;
    println!("Counter value: {total}");
    assert_eq!(total, 4000);
    Ok(())
}
