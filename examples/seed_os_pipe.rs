//! Seed: "Python IPC: A Symphony of Processes", section 1 (Pipes): `os.pipe()` +
//! `os.fork()`, the parent writes "Hello from the parent!" and the child reads it
//! until end of file.
//!
//! shmlane: an anonymous byte pipe (`Pipe<u8>`, `io::Write` / `io::Read`) handed to a
//! child process started with `Command` (there is no `fork` here: the child is this
//! same binary run again with the argument `child`). Dropping the sender is the
//! `w.close()`: the child's `read_to_string` then ends.
//!
//! ```text
//! cargo run --example seed_os_pipe
//! ```

use shmlane::pipe::Pipe;
use std::io::{Read, Write};
use std::process::Command;

const KEY: &str = "SEED_OS_PIPE";
const MESSAGE: &str = "Hello from the parent!";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("child") {
        let mut r = Pipe::<u8>::from_env(KEY)?.receiver()?;
        let mut message = String::new();
        r.read_to_string(&mut message)?; // until the parent's sender is gone
        println!("Child received: {message}");
        assert_eq!(message, MESSAGE);
        return Ok(());
    }
    let pipe = Pipe::<u8>::anonymous(4096)?;
    let mut child = pipe.spawn_with(Command::new(std::env::current_exe()?).arg("child"), KEY)?;
    let mut w = pipe.sender()?;
    w.write_all(MESSAGE.as_bytes())?;
    drop(w); // w.close(): the child sees end of file after the message
    assert!(child.wait()?.success(), "the child's check failed");
    Ok(())
}
