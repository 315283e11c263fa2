//! Real processes exchanging data through pipes: order and checksum exact.

mod common;

use common::{Rng, mix, peer, result, role, unique};
use shmlane::pipe::{Duplex, Pipe};
use std::io::{Read, Write};

const COUNT: u64 = 10_000_000;
const STREAM_BYTES: u64 = 256 << 20;
const STREAM_SEED: u64 = 0x5eed_0001;

/// Child-process entry point (ignored in normal runs; see `common::peer`).
#[test]
#[ignore]
fn peer_main() {
    let Some((role, args)) = role() else { return };
    let n: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let rx = match role.as_str() {
        "consume-named" => Pipe::<u64>::open(&args[0]).unwrap().receiver(),
        "consume-inherited" => Pipe::<u64>::from_env(&args[0]).unwrap().receiver(),
        "read-stream" => return read_stream(&args[0]),
        "echo-duplex" => return echo_duplex(&args[0], n),
        _ => panic!("unknown role {role}"),
    };
    let mut rx = rx.unwrap();
    let (mut acc, mut expect) = (0u64, 0u64);
    while let Ok(v) = rx.recv() {
        assert_eq!(v, expect, "out of order");
        acc = mix(acc, v);
        expect += 1;
    }
    println!("RESULT {expect} {acc}");
}

fn read_stream(name: &str) {
    let mut rx = Pipe::<u8>::open(name).unwrap().receiver().unwrap();
    let mut rng = Rng(STREAM_SEED);
    let (mut got, mut want) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    let mut total: u64 = 0;
    let mut pending = 0; // bytes of `want` generated but not yet compared
    loop {
        let n = rx.read(&mut got).unwrap();
        if n == 0 {
            break;
        }
        let mut off = 0;
        while off < n {
            if pending == 0 {
                rng.fill(&mut want);
                pending = want.len();
            }
            let start = want.len() - pending;
            let k = (n - off).min(pending);
            assert_eq!(
                &got[off..off + k],
                &want[start..start + k],
                "byte mismatch near offset {total}"
            );
            off += k;
            pending -= k;
            total += k as u64;
        }
    }
    println!("RESULT {total}");
}

fn echo_duplex(name: &str, n: u64) {
    let mut end = Duplex::<u64>::open(name).unwrap().side_b().unwrap();
    for _ in 0..n {
        let v = end.recv().unwrap();
        end.send(v * 2).unwrap();
    }
    println!("RESULT done");
}

fn send_and_check(mut tx: shmlane::pipe::Sender<u64>, child: std::process::Child) {
    let mut acc = 0u64;
    for v in 0..COUNT {
        tx.send(v).unwrap();
        acc = mix(acc, v);
    }
    drop(tx); // end of stream
    let (status, line) = result(child);
    assert!(status.success());
    assert_eq!(line, format!("{COUNT} {acc}"));
}

#[test]
fn ten_million_u64_through_a_named_pipe() {
    let name = unique("named");
    let pipe = Pipe::<u64>::create(&name, 4096).unwrap();
    let tx = pipe.sender().unwrap();
    let child = peer("consume-named", &[name, COUNT.to_string()])
        .spawn()
        .unwrap();
    send_and_check(tx, child);
}

#[test]
fn ten_million_u64_through_an_inherited_anonymous_pipe() {
    let pipe = Pipe::<u64>::anonymous(4096).unwrap();
    let tx = pipe.sender().unwrap();
    let key = "SHMLANE_TEST_PIPE";
    let child = pipe
        .spawn_with(&mut peer("consume-inherited", &[key.into()]), key)
        .unwrap();
    send_and_check(tx, child);
}

#[test]
fn a_256_mib_random_stream_crosses_the_byte_pipe_exactly() {
    let name = unique("stream");
    let pipe = Pipe::<u8>::create(&name, 1 << 20).unwrap();
    let mut tx = pipe.sender().unwrap();
    let child = peer("read-stream", std::slice::from_ref(&name))
        .spawn()
        .unwrap();
    let mut rng = Rng(STREAM_SEED);
    let mut buf = vec![0u8; 1 << 16];
    let mut sent = 0;
    while sent < STREAM_BYTES {
        rng.fill(&mut buf);
        tx.write_all(&buf).unwrap();
        sent += buf.len() as u64;
    }
    drop(tx);
    let (status, line) = result(child);
    assert!(status.success());
    assert_eq!(line, STREAM_BYTES.to_string());
}

#[test]
fn duplex_round_trips_between_processes() {
    let name = unique("duplex");
    let d = Duplex::<u64>::create(&name, 64).unwrap();
    let mut a = d.side_a().unwrap();
    let n = 20_000u64;
    let child = peer("echo-duplex", &[name, n.to_string()]).spawn().unwrap();
    for v in 0..n {
        a.send(v).unwrap();
        assert_eq!(a.recv().unwrap(), v * 2);
    }
    let (status, line) = result(child);
    assert!(status.success());
    assert_eq!(line, "done");
}

#[test]
fn nothing_left_in_dev_shm() {
    let name = unique("cleanup");
    {
        let p = Pipe::<u64>::create(&name, 8).unwrap();
        let _tx = p.sender().unwrap();
        assert!(std::path::Path::new(&format!("/dev/shm/shmlane.{name}")).exists());
    }
    assert!(!std::path::Path::new(&format!("/dev/shm/shmlane.{name}")).exists());
    let p = Pipe::<u64>::create(&name, 8).unwrap();
    p.persist();
    drop(p);
    let reopened = Pipe::<u64>::open(&name).unwrap();
    assert_eq!(reopened.capacity(), 8);
    std::fs::remove_file(format!("/dev/shm/shmlane.{name}")).unwrap();
}
