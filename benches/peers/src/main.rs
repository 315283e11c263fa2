//! Cross-process ping-pong and streaming of u64: shmlane against iceoryx2 (publish /
//! subscribe) and ipc-channel, with the two-cache-line floor and the OS pipe, all in
//! one run, parent and child pinned to cores 0 and 1. Prints a table with ratios.
//!
//! `cargo run --release --manifest-path benches/peers/Cargo.toml [-- ROUNDS MESSAGES]`

use iceoryx2::prelude::*;
use shmlane_cli::bench::{self, Config, Latency, Row, Transport, pin_to};
use std::process::Command;
use std::time::Instant;

const ROLE: &str = "SHMLANE_PEERS_ROLE";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let Ok(role) = std::env::var(ROLE) {
        pin_to(1);
        return match role.as_str() {
            "shmlane" => Ok(bench::peer_main(&args[args.len() - 4..])?),
            "iceoryx2" => iceoryx2_child(&args[1]),
            "ipc-channel" => ipc_child(&args[1]),
            _ => Err("unknown role".into()),
        };
    }
    let rounds: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(50_000);
    let messages: u64 = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let exe = std::env::current_exe()?;
    let peer = || {
        let mut c = Command::new(&exe);
        c.env(ROLE, "shmlane");
        c
    };
    let cfg = Config {
        rounds,
        messages,
        payload: 8,
    };
    let mut rows = Vec::new();
    for t in [
        Transport::Floor,
        Transport::ShmSpin,
        Transport::ShmBlocking,
        Transport::OsPipe,
    ] {
        eprintln!("measuring {:?}…", t.label());
        rows.push(bench::run(t, &cfg, &peer)?);
    }
    eprintln!("measuring iceoryx2…");
    rows.push(iceoryx2_parent(&exe, rounds, messages)?);
    eprintln!("measuring ipc-channel…");
    rows.push(ipc_parent(&exe, rounds, messages.min(200_000))?);
    print!("{}", bench::table(&rows));
    let p50 = |name: &str, mode: &str| {
        rows.iter()
            .find(|r| r.transport == name && r.mode == mode)
            .and_then(|r| r.latency.as_ref())
            .map(|l| l.p50 as f64)
    };
    if let (Some(shm), Some(ice)) = (p50("shmlane-pipe", "spin"), p50("iceoryx2", "spin")) {
        println!("iceoryx2 p50 / shmlane spin p50 = {:.2}x", ice / shm);
    }
    Ok(())
}

/// Busy-polls `sub` until a sample satisfies `want`; returns its value.
fn recv_until(
    sub: &iceoryx2::port::subscriber::Subscriber<ipc::Service, u64, ()>,
    want: impl Fn(u64) -> bool,
) -> Result<u64, Box<dyn std::error::Error>> {
    loop {
        if let Some(s) = sub.receive()?
            && want(*s)
        {
            return Ok(*s);
        }
        core::hint::spin_loop();
    }
}

/// Any peer error as an `io::Error`, for `bench::round_trips` closures.
fn io(e: impl std::fmt::Debug) -> std::io::Error {
    std::io::Error::other(format!("{e:?}"))
}

fn row(name: &str, rtts: &[u64], rate: f64) -> Row {
    let mut r = Row::new(Transport::ShmSpin, 8);
    r.transport = name.into();
    r.mode = "spin".into();
    r.latency = Some(Latency::from_round_trips(rtts));
    r.msgs_per_sec = Some(rate);
    r
}

type PubSub =
    iceoryx2::service::port_factory::publish_subscribe::PortFactory<ipc::Service, u64, ()>;

/// The "ping" and "pong" services of the run started by process `parent`.
fn services(
    node: &Node<ipc::Service>,
    parent: &str,
) -> Result<(PubSub, PubSub), Box<dyn std::error::Error>> {
    let open = |dir: &str| -> Result<PubSub, Box<dyn std::error::Error>> {
        let name = format!("shmlane-peers/{parent}/{dir}");
        Ok(node
            .service_builder(&name.as_str().try_into()?)
            .publish_subscribe::<u64>()
            .subscriber_max_buffer_size(1024)
            .open_or_create()?)
    };
    Ok((open("ping")?, open("pong")?))
}

/// Parent: publishes on "ping", subscribes to "pong"; busy-polls like shmlane's spin mode.
fn iceoryx2_parent(
    exe: &std::path::Path,
    rounds: usize,
    messages: u64,
) -> Result<Row, Box<dyn std::error::Error>> {
    pin_to(0);
    let node = NodeBuilder::new().create::<ipc::Service>()?;
    let (ping, pong) = services(&node, &std::process::id().to_string())?;
    let publisher = ping.publisher_builder().create()?;
    let subscriber = pong.subscriber_builder().create()?;
    let mut child = Command::new(exe)
        .env(ROLE, "iceoryx2")
        .arg(std::process::id().to_string())
        .spawn()?;
    // handshake: wait until the child echoes
    loop {
        publisher.loan_uninit()?.write_payload(u64::MAX).send()?;
        std::thread::sleep(std::time::Duration::from_millis(10));
        if subscriber.receive()?.is_some() {
            break;
        }
    }
    while subscriber.receive()?.is_some() {}
    let rtts = bench::round_trips(rounds, |i| {
        publisher
            .loan_uninit()
            .map_err(io)?
            .write_payload(i)
            .send()
            .map_err(io)?;
        recv_until(&subscriber, |v| v == i).map_err(io)?;
        Ok(())
    })?;
    // Streaming: the child counts messages (sent with flow control: one ack per 512).
    let t0 = Instant::now();
    let mut acked = 0u64;
    for i in 0..messages {
        if i - acked >= 512 {
            acked = recv_until(&subscriber, |_| true)?;
        }
        publisher.loan_uninit()?.write_payload(1 << 62 | i).send()?;
    }
    publisher
        .loan_uninit()?
        .write_payload(u64::MAX - 1)
        .send()?;
    loop {
        if let Some(s) = subscriber.receive()? {
            if *s == u64::MAX - 1 {
                break;
            }
        }
        core::hint::spin_loop();
    }
    let rate = messages as f64 / t0.elapsed().as_secs_f64();
    child.wait()?;
    Ok(row("iceoryx2", &rtts, rate))
}

fn iceoryx2_child(parent: &str) -> Result<(), Box<dyn std::error::Error>> {
    let node = NodeBuilder::new().create::<ipc::Service>()?;
    let (ping, pong) = services(&node, parent)?;
    let subscriber = ping.subscriber_builder().create()?;
    let publisher = pong.publisher_builder().create()?;
    let mut received = 0u64;
    loop {
        let Some(s) = subscriber.receive()? else {
            core::hint::spin_loop();
            continue;
        };
        let v = *s;
        if v == u64::MAX - 1 {
            publisher.loan_uninit()?.write_payload(v).send()?;
            return Ok(());
        }
        if v & (1 << 62) != 0 {
            received += 1;
            if received % 256 == 0 {
                publisher
                    .loan_uninit()?
                    .write_payload(v & !(1 << 62))
                    .send()?;
            }
        } else {
            publisher.loan_uninit()?.write_payload(v).send()?;
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
enum Msg {
    Ping(u64),
    Stream(u64),
    Done,
}

fn ipc_parent(
    exe: &std::path::Path,
    rounds: usize,
    messages: u64,
) -> Result<Row, Box<dyn std::error::Error>> {
    use ipc_channel::ipc::{IpcOneShotServer, IpcReceiver, IpcSender};
    pin_to(0);
    let (server, name) = IpcOneShotServer::<(IpcSender<Msg>, IpcReceiver<u64>)>::new()?;
    let mut child = Command::new(exe)
        .env(ROLE, "ipc-channel")
        .arg(name)
        .spawn()?;
    let (_, (tx, rx)) = server.accept()?;
    let rtts = bench::round_trips(rounds, |i| {
        tx.send(Msg::Ping(i)).map_err(io)?;
        rx.recv().map_err(io)?;
        Ok(())
    })?;
    let t0 = Instant::now();
    for i in 0..messages {
        tx.send(Msg::Stream(i))?;
    }
    tx.send(Msg::Done)?;
    let _ = rx.recv()?;
    let rate = messages as f64 / t0.elapsed().as_secs_f64();
    child.wait()?;
    let mut r = row("ipc-channel", &rtts, rate);
    r.mode = "blocking".into();
    Ok(r)
}

fn ipc_child(server: &str) -> Result<(), Box<dyn std::error::Error>> {
    use ipc_channel::ipc::{self, IpcSender};
    let (tx, rx) = ipc::channel::<Msg>()?;
    let (back_tx, back_rx) = ipc::channel::<u64>()?;
    IpcSender::connect(server.to_owned())?.send((tx, back_rx))?;
    loop {
        match rx.recv()? {
            Msg::Ping(v) => back_tx.send(v)?,
            Msg::Stream(_) => {}
            Msg::Done => {
                back_tx.send(0)?;
                return Ok(());
            }
        }
    }
}
