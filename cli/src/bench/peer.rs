//! The child side of each bench transport.

use super::{SEG_KEY, Transport, WARMUP, floor, pin_to};
use shmlane::WaitMode;
use shmlane::pipe::Duplex;
use shmlane::stats::futex_calls;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;

/// Runs the child side of a measurement: `args` are `transport payload rounds messages`
/// as passed by [`run`](super::run).
pub fn peer_main(args: &[String]) -> io::Result<()> {
    if let Some(done) = super::pool::peer(args) {
        return done;
    }
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "usage: TRANSPORT PAYLOAD ROUNDS MESSAGES",
        )
    };
    let [t, payload, rounds, messages] = args else {
        return Err(bad());
    };
    let transport = Transport::from_arg(t).ok_or_else(bad)?;
    let payload: usize = payload.parse().map_err(|_| bad())?;
    let rounds: usize = rounds.parse::<usize>().map_err(|_| bad())?;
    let rounds = rounds + WARMUP.min(rounds);
    let messages: u64 = messages.parse().map_err(|_| bad())?;
    pin_to(1);
    match transport {
        Transport::Floor => floor::floor_peer(),
        Transport::FutexFloor => floor::futex_floor_peer(),
        Transport::ShmSpin
        | Transport::ShmBlocking
        | Transport::ShmSleep
        | Transport::ShmSpinBulk => {
            with_payload!(payload, shm, transport.wait_mode(), rounds, messages)
        }
        Transport::ShmBytes => {
            let (tx, rx) = Duplex::<u8>::from_env(SEG_KEY)
                .map_err(io::Error::other)?
                .side_b()
                .map_err(io::Error::other)?
                .split();
            stream(payload, rounds, messages, rx, tx)
        }
        Transport::Memcpy | Transport::MemcpyLarge => Err(bad()),
        Transport::Eventfd => {
            let mut rx = std::fs::File::from(io::stdin().as_fd().try_clone_to_owned()?);
            let mut tx = std::fs::File::from(io::stdout().as_fd().try_clone_to_owned()?);
            let mut buf = [0u8; 8];
            for _ in 0..rounds {
                rx.read_exact(&mut buf)?;
                tx.write_all(&1u64.to_ne_bytes())?;
            }
            Ok(())
        }
        Transport::OsPipe => stream(
            payload,
            rounds,
            messages,
            io::stdin().lock(),
            io::stdout().lock(),
        ),
        Transport::UnixSocket => {
            let sock = std::fs::File::from(io::stdin().as_fd().try_clone_to_owned()?);
            stream(payload, rounds, messages, sock.try_clone()?, sock)
        }
    }
}

fn shm<const N: usize>(mode: WaitMode, rounds: usize, messages: u64) -> io::Result<()> {
    let d = Duplex::<[u8; N]>::from_env(SEG_KEY).map_err(io::Error::other)?;
    let mut end = d.side_b().map_err(io::Error::other)?;
    end.sender().set_wait_mode(mode);
    end.receiver().set_wait_mode(mode);
    for _ in 0..rounds {
        let m = end.recv().map_err(io::Error::other)?;
        end.send(m).map_err(io::Error::other)?;
    }
    let before = futex_calls();
    let mut buf = vec![[0u8; N]; 256];
    let mut got = 0u64;
    while got < messages {
        got += end
            .receiver()
            .recv_into(&mut buf)
            .map_err(io::Error::other)? as u64;
    }
    let after = futex_calls();
    end.send([0u8; N]).map_err(io::Error::other)?; // ack
    println!(
        "FUTEX {}",
        (after.waits - before.waits) + (after.wakes - before.wakes)
    );
    Ok(())
}

fn stream(
    payload: usize,
    rounds: usize,
    messages: u64,
    mut rx: impl Read,
    mut tx: impl Write,
) -> io::Result<()> {
    let mut buf = vec![0u8; payload.max(1 << 16)];
    for _ in 0..rounds {
        rx.read_exact(&mut buf[..payload])?;
        tx.write_all(&buf[..payload])?;
        tx.flush()?;
    }
    let mut left = messages * payload as u64;
    while left > 0 {
        let n = rx.read(&mut buf[..(left.min(1 << 16)) as usize])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        left -= n as u64;
    }
    tx.write_all(&[1])?;
    tx.flush()
}
