//! Seed: the producer-consumer pattern both articles recommend queues for ("Python
//! IPC", section 2 and the decision table: "Asynchronous task processing,
//! producer-consumer patterns"; "IPC and Data Serialization", II.A.2: "one-to-one and
//! one-to-many communication").
//!
//! Three stages, five processes: a producer process puts 1..=1000 on `raw`; three
//! transformer processes take from `raw` and put `x * x` on `squared`; the parent
//! consumes `squared`. Ending the stream without sentinels: the producer closes `raw`;
//! each transformer, when `raw` is closed and drained, decrements a shared count of
//! running transformers (`SharedValue<u32>`), and the last one closes `squared`, so the
//! parent's `iter()` ends exactly when everything has been consumed.
//!
//! Each transformer gets three objects (two queues and the count) on one `Command`.
//!
//! ```text
//! cargo run --example seed_pipeline
//! ```

use shmlane::queue::Queue;
use shmlane::sync::SharedValue;
use std::process::Command;

const RAW: &str = "SEED_RAW";
const SQUARED: &str = "SEED_SQUARED";
const RUNNING: &str = "SEED_RUNNING";
const TRANSFORMERS: u32 = 3;
const N: u64 = 1000;

fn producer() -> Result<(), Box<dyn std::error::Error>> {
    let mut raw = Queue::<u64>::from_env(RAW)?;
    for x in 1..=N {
        raw.put(x)?;
    }
    raw.close()?;
    Ok(())
}

fn transformer() -> Result<(), Box<dyn std::error::Error>> {
    let mut raw = Queue::<u64>::from_env(RAW)?;
    let mut squared = Queue::<u64>::from_env(SQUARED)?;
    let running = SharedValue::<u32>::from_env(RUNNING)?;
    let mut n = 0;
    for x in raw.iter() {
        squared.put(x * x)?;
        n += 1;
    }
    eprintln!("transformer {}: squared {n} numbers", std::process::id());
    if running.update(|r| r - 1)? == 0 {
        squared.close()?; // the last transformer out ends the stream
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::args().nth(1).as_deref() {
        Some("producer") => return producer(),
        Some("transformer") => return transformer(),
        _ => {}
    }
    let raw = Queue::<u64>::anonymous(64)?;
    let mut squared = Queue::<u64>::anonymous(64)?;
    let running = SharedValue::anonymous(TRANSFORMERS)?;

    let mut children = Vec::new();
    for _ in 0..TRANSFORMERS {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.arg("transformer");
        raw.inherit(&mut cmd, RAW)?;
        squared.inherit(&mut cmd, SQUARED)?;
        running.inherit(&mut cmd, RUNNING)?;
        children.push(cmd.spawn()?);
    }
    children.push(raw.spawn_with(Command::new(std::env::current_exe()?).arg("producer"), RAW)?);

    let (mut count, mut sum) = (0u64, 0u64);
    for y in squared.iter() {
        count += 1;
        sum += y;
    }
    for mut c in children {
        assert!(c.wait()?.success(), "a stage failed");
    }
    println!("consumer: {count} squares, sum {sum}");
    assert_eq!(count, N);
    assert_eq!(sum, N * (N + 1) * (2 * N + 1) / 6);
    assert_eq!(running.load()?, 0);
    Ok(())
}
