//! Seed: "Python IPC: A Symphony of Processes", section 4 (Sockets): an echo server
//! (`bind`, `listen`, `accept`, `recv`/`sendall` until the client hangs up) and a
//! client that sends `b'Hello, world'` and prints what comes back.
//!
//! shmlane is for processes on one machine, so the "address" is a segment name: the
//! server `create`s a named byte `Duplex` (its `bind` + `listen`), the client `open`s
//! it by name (`connect`). There is no `accept` and no notion of a connection
//! backlog: a named duplex is one connection; the server here serves one client, as
//! the article's does. The client must not open before the server created the name,
//! so the server sets an `Event` (inherited by both children) once it listens; the
//! client half-closes (drops its sender, like `shutdown(SHUT_WR)`) and reads the echo
//! to end of stream.
//!
//! Server and client are two child processes of this example; run by hand, they are
//! independent processes that only share the name (see `examples/named_pipe.rs`).
//!
//! ```text
//! cargo run --example seed_socket_echo
//! ```

use shmlane::pipe::Duplex;
use shmlane::sync::Event;
use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

const READY: &str = "SEED_READY";

fn server(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let ready = Event::from_env(READY)?;
    let listener = Duplex::<u8>::create(name, 1024)?; // s.bind(); s.listen()
    let mut conn = listener.side_a()?;
    ready.set();
    println!("server: listening on {name:?}");
    let mut data = [0u8; 1024];
    loop {
        let n = conn.read(&mut data)?; // conn.recv(1024)
        if n == 0 {
            break; // the client hung up
        }
        conn.write_all(&data[..n])?; // conn.sendall(data)
    }
    println!("server: client hung up");
    Ok(())
}

fn client(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let ready = Event::from_env(READY)?;
    ready.wait_timeout(Duration::from_secs(10))?;
    let (mut tx, mut rx) = Duplex::<u8>::open(name)?.side_b()?.split(); // s.connect()
    tx.write_all(b"Hello, world")?;
    drop(tx); // shutdown(SHUT_WR): the server's read returns 0 after the message
    let mut data = Vec::new();
    rx.read_to_end(&mut data)?;
    println!("Received {:?}", String::from_utf8_lossy(&data));
    assert_eq!(data, b"Hello, world");
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (Some("server"), Some(name)) => return server(&name),
        (Some("client"), Some(name)) => return client(&name),
        _ => {}
    }
    // The "address": unique per run, so two runs never meet.
    let name = format!("seed-echo-{}", std::process::id());
    let ready = Event::anonymous()?;
    let exe = std::env::current_exe()?;
    let mut server = ready.spawn_with(Command::new(&exe).args(["server", &name]), READY)?;
    let mut client = ready.spawn_with(Command::new(&exe).args(["client", &name]), READY)?;
    assert!(client.wait()?.success(), "the client failed");
    assert!(server.wait()?.success(), "the server failed");
    Ok(())
}
