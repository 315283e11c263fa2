//! Seed: "Python IPC: A Symphony of Processes", the decision tree ("1. Are the
//! processes related (parent-child)? ... No: move to step 2" -- queues) and section 2's
//! claim that queues support "multiple producers and consumers": here the processes
//! share nothing but a *name*, as two programs started from two terminals would.
//!
//! Each process calls `open_or_create` on the same names: whichever comes first
//! creates, the other opens. A named segment is removed when its *creating* process
//! drops its last handle, so a producer that created the queue, put everything and
//! exited before the consumer opened it would take the queue (and its messages) with
//! it, and the consumer would create a fresh, empty one. So the two first meet at a
//! named `Barrier` of 2 (both are attached once it releases them); only then does the
//! producer put and close.
//!
//! The parent only starts the two programs with a name on their command line (no
//! inherited descriptors) and checks their exit status; the consumer checks the data.
//!
//! ```text
//! cargo run --example seed_named_unrelated
//! ```

use shmlane::queue::Queue;
use shmlane::sync::Barrier;
use std::process::Command;
use std::time::Duration;

const N: u64 = 500;
const PATIENCE: Duration = Duration::from_secs(10);

fn meet(name: &str) -> Result<Queue<u64>, Box<dyn std::error::Error>> {
    let q = Queue::<u64>::open_or_create(&format!("{name}-q"), 64)?;
    let b = Barrier::open_or_create(&format!("{name}-b"), 2)?;
    b.wait_timeout(PATIENCE)?; // both processes now hold the queue
    Ok(q)
}

fn producer(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut q = meet(name)?;
    for x in 1..=N {
        q.put(x)?;
    }
    q.close()?;
    println!("producer {}: put 1..={N} and closed", std::process::id());
    Ok(())
}

fn consumer(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut q = meet(name)?;
    let got: Vec<u64> = q.iter().collect();
    println!(
        "consumer {}: got {} messages",
        std::process::id(),
        got.len()
    );
    assert_eq!(got, (1..=N).collect::<Vec<_>>(), "one producer: order kept");
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (Some("producer"), Some(name)) => return producer(&name),
        (Some("consumer"), Some(name)) => return consumer(&name),
        _ => {}
    }
    let name = format!("seed-unrelated-{}", std::process::id());
    let exe = std::env::current_exe()?;
    // Start the consumer second and the producer first, or the other way round:
    // either may be the creator.
    let mut p = Command::new(&exe).args(["producer", &name]).spawn()?;
    let mut c = Command::new(&exe).args(["consumer", &name]).spawn()?;
    assert!(c.wait()?.success(), "the consumer failed");
    assert!(p.wait()?.success(), "the producer failed");
    for suffix in ["q", "b"] {
        let path = format!("/dev/shm/shmlane.{name}-{suffix}");
        assert!(!std::path::Path::new(&path).exists(), "{path} left behind");
    }
    Ok(())
}
