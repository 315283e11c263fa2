//! A byte-stream duplex pipe between two processes: the parent writes lines, the child
//! answers each one in upper case (Python: `conn.send(...)` / `conn.recv()` on a duplex
//! `multiprocessing.Pipe`, here as `io::Write` / `io::BufRead`).
//!
//! ```text
//! cargo run --example byte_stream
//! ```

use shmlane::pipe::Duplex;
use std::io::{BufRead, BufReader, Write};
use std::process::Command;

const KEY: &str = "EXAMPLE_DUPLEX";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("child") {
        let (mut tx, rx) = Duplex::<u8>::from_env(KEY)?.side_b()?.split();
        for line in BufReader::new(rx).lines() {
            writeln!(tx, "{}", line?.to_uppercase())?;
        }
        return Ok(());
    }
    let duplex = Duplex::<u8>::anonymous(4096)?;
    let mut child = duplex.spawn_with(Command::new(std::env::current_exe()?).arg("child"), KEY)?;
    let (mut tx, rx) = duplex.side_a()?.split();
    let mut replies = BufReader::new(rx).lines();
    for word in ["hello", "shared", "memory"] {
        writeln!(tx, "{word}")?;
        let reply = replies.next().ok_or("child hung up")??;
        println!("sent {word:>7} → got {reply}");
        assert_eq!(reply, word.to_uppercase());
    }
    drop(tx); // the child's `lines()` ends, it exits
    assert!(child.wait()?.success());
    Ok(())
}
