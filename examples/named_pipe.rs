//! A named pipe between two independently started processes (Python: `os.mkfifo`).
//!
//! ```text
//! Terminal 1: cargo run --example named_pipe -- recv demo
//! Terminal 2: cargo run --example named_pipe -- send demo
//! ```
//! Either side may start first; the receiver creates the pipe if it does not exist and
//! waits. Kill the sender with Ctrl-C (or `kill -9`): the receiver prints what it got
//! and reports the disconnect instead of hanging.

use shmlane::pipe::Pipe;
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (role, name) = match args.as_slice() {
        [r, n] => (r.as_str(), n.as_str()),
        _ => return Err("usage: named_pipe send|recv NAME".into()),
    };
    let pipe = Pipe::<u64>::open_or_create(name, 1024)?;
    match role {
        "send" => {
            let mut tx = pipe.sender()?;
            for v in 0.. {
                tx.send(v)?;
                println!("sent {v}");
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        "recv" => {
            let mut rx = pipe.receiver()?;
            loop {
                match rx.recv() {
                    Ok(v) => println!("received {v}"),
                    Err(e) => {
                        println!("sender gone: {e}");
                        break;
                    }
                }
            }
        }
        _ => return Err("role must be send or recv".into()),
    }
    Ok(())
}
