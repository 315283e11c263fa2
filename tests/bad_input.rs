//! Bad input: each mistake gets its own typed error, never a panic or a stray access.

mod common;

use common::{Rng, kill9, peer, role, unique};
use shmlane::error::{BlockingRecvError, ClaimError, TryRecvError};
use shmlane::pipe::{Duplex, Pipe};
use shmlane::{CreateError, OpenError};
use std::io::{Seek, SeekFrom, Write};

fn path(name: &str) -> String {
    format!("/dev/shm/shmlane.{name}")
}

/// Overwrites bytes of a live segment file, as a hostile or buggy peer could.
fn poke(name: &str, offset: u64, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path(name))
        .unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(bytes).unwrap();
}

/// Child-process entry point (ignored in normal runs; see `common::peer`).
#[test]
#[ignore]
fn peer_main() {
    let Some((role, args)) = role() else { return };
    assert_eq!(role, "hold-sender");
    let _tx = Pipe::<u64>::open(&args[0]).unwrap().sender().unwrap();
    println!("READY");
    std::thread::sleep(std::time::Duration::from_secs(600));
}

#[test]
fn wrong_element_type_size_align() {
    let name = unique("elem");
    let _p = Pipe::<u64>::create(&name, 16).unwrap();
    assert!(matches!(
        Pipe::<u32>::open(&name),
        Err(OpenError::ElementSizeMismatch {
            expected: 4,
            found: 8
        })
    ));
    assert!(matches!(
        Pipe::<[u32; 2]>::open(&name),
        Err(OpenError::ElementAlignMismatch {
            expected: 4,
            found: 8
        })
    ));
    assert!(matches!(
        Pipe::<f64>::open(&name),
        Err(OpenError::TypeMismatch { .. })
    ));
    assert!(Pipe::<u64>::open(&name).is_ok());
}

#[test]
fn wrong_capacity_and_kind() {
    let name = unique("cap");
    let _p = Pipe::<u64>::create(&name, 16).unwrap();
    assert!(matches!(
        Pipe::<u64>::open_with(&name, shmlane::segment::OpenOptions::new().capacity(32)),
        Err(OpenError::CapacityMismatch {
            expected: 32,
            found: 16
        })
    ));
    assert!(matches!(
        Duplex::<u64>::open(&name),
        Err(OpenError::KindMismatch {
            expected: 2,
            found: 1
        })
    ));
    for cap in [0, 3, 100] {
        assert!(matches!(
            Pipe::<u64>::create(&unique("badcap"), cap),
            Err(CreateError::InvalidCapacity { .. })
        ));
    }
}

/// `InvalidCapacity` says what the capacity must be for the kind asked for (before:
/// "a power of two in 1..=2^40" for queues, which need 2.., and for objects, whose
/// element count need not be a power of two).
#[test]
fn invalid_capacity_says_what_each_kind_expects() {
    use shmlane::queue::Queue;
    use shmlane::sync::SharedArray;
    let msg = |e: CreateError| {
        assert!(matches!(e, CreateError::InvalidCapacity { .. }), "{e:?}");
        e.to_string()
    };
    assert_eq!(
        msg(Pipe::<u64>::anonymous(3).unwrap_err()),
        "invalid capacity 3: must be a power of two in 1..=2^40"
    );
    assert_eq!(
        msg(Queue::<u64>::anonymous(1).unwrap_err()),
        "invalid capacity 1: must be a power of two in 2..=2^40"
    );
    assert_eq!(
        msg(Queue::<u64>::anonymous(3).unwrap_err()),
        "invalid capacity 3: must be a power of two in 2..=2^40"
    );
    assert_eq!(
        msg(SharedArray::<u64>::anonymous(&[]).unwrap_err()),
        "invalid capacity 0: must be an element count in 1..=2^40"
    );
}

#[test]
fn too_aligned_element() {
    #[derive(Clone, Copy, bytemuck::Zeroable, bytemuck::Pod)]
    #[repr(C, align(256))]
    struct Big([u8; 256]);
    assert!(matches!(
        Pipe::<Big>::anonymous(4),
        Err(CreateError::ElementTooAligned { align: 256, .. })
    ));
}

#[test]
fn wrong_version_and_magic() {
    let name = unique("ver");
    let p = Pipe::<u64>::create(&name, 16).unwrap();
    poke(&name, 8, &7u32.to_ne_bytes());
    assert!(matches!(
        Pipe::<u64>::open(&name),
        Err(OpenError::VersionMismatch {
            expected: shmlane::layout::FORMAT_VERSION,
            found: 7
        })
    ));
    poke(&name, 0, b"NOTSHML!");
    assert!(matches!(
        Pipe::<u64>::open(&name),
        Err(OpenError::BadMagic { .. })
    ));
    drop(p);
}

#[test]
fn truncated_and_random_files() {
    let name = unique("trunc");
    std::fs::write(path(&name), [0u8; 100]).unwrap();
    assert!(matches!(
        Pipe::<u64>::open(&name),
        Err(OpenError::Truncated {
            expected: 256,
            found: 100
        })
    ));
    // a valid segment cut short
    let name2 = unique("cut");
    let p = Pipe::<u64>::create(&name2, 1024).unwrap();
    p.persist();
    drop(p);
    std::fs::OpenOptions::new()
        .write(true)
        .open(path(&name2))
        .unwrap()
        .set_len(4096)
        .unwrap();
    assert!(matches!(
        Pipe::<u64>::open(&name2),
        Err(OpenError::LengthMismatch { file: 4096, .. })
    ));
    // random bytes, with and without a valid magic
    let name3 = unique("rand");
    let mut rng = Rng(42);
    for round in 0..200 {
        let mut bytes = vec![0u8; 256 + rng.below(8192) as usize];
        rng.fill(&mut bytes);
        if round % 2 == 0 {
            bytes[..8].copy_from_slice(b"SHMLANE\0");
        }
        std::fs::write(path(&name3), &bytes).unwrap();
        assert!(Pipe::<u64>::open(&name3).is_err());
    }
    for n in [name, name2, name3] {
        std::fs::remove_file(path(&n)).unwrap();
    }
}

#[test]
fn half_initialized_segment_is_refused() {
    let name = unique("init");
    let p = Pipe::<u64>::create(&name, 16).unwrap();
    poke(&name, 192, &0u32.to_ne_bytes()); // init word back to "building"
    assert!(matches!(
        Pipe::<u64>::open(&name),
        Err(OpenError::NotInitialized(0))
    ));
    drop(p);
}

#[test]
fn missing_and_invalid_names() {
    assert!(matches!(
        Pipe::<u64>::open(&unique("nope")),
        Err(OpenError::DoesNotExist(_))
    ));
    for bad in ["", "/", "a/b", &"x".repeat(201), "..", "sp ace"] {
        assert!(
            matches!(Pipe::<u64>::open(bad), Err(OpenError::InvalidName(_))),
            "{bad:?}"
        );
        assert!(
            matches!(
                Pipe::<u64>::create(bad, 8),
                Err(CreateError::InvalidName(_))
            ),
            "{bad:?}"
        );
    }
    let name = unique("dup");
    let _p = Pipe::<u64>::create(&name, 8).unwrap();
    assert!(matches!(
        Pipe::<u64>::create(&name, 8),
        Err(CreateError::AlreadyExists(_))
    ));
    assert!(matches!(
        Pipe::<u64>::from_env("SHMLANE_NOT_SET"),
        Err(OpenError::NoInheritedFd { .. })
    ));
}

#[test]
fn second_producer_gets_endpoint_busy() {
    let name = unique("busy");
    let pipe = Pipe::<u64>::create(&name, 8).unwrap();
    let tx = pipe.sender().unwrap();
    assert_eq!(
        pipe.sender().unwrap_err(),
        ClaimError::EndpointBusy {
            pid: std::process::id()
        }
    );
    drop(tx);
    // held by another live process
    let mut child = peer("hold-sender", std::slice::from_ref(&name))
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while line.trim() != "READY" {
        line.clear();
        assert!(std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0);
    }
    assert_eq!(
        pipe.sender().unwrap_err(),
        ClaimError::EndpointBusy { pid: child.id() }
    );
    kill9(&mut child);
    assert!(
        pipe.sender().is_ok(),
        "a dead holder's endpoint is taken over"
    );
}

#[test]
fn garbage_positions_while_mapped_give_errors() {
    let name = unique("garbage");
    let pipe = Pipe::<u64>::create(&name, 16).unwrap();
    let (mut tx, mut rx) = (pipe.sender().unwrap(), pipe.receiver().unwrap());
    tx.send(1).unwrap();
    assert_eq!(rx.recv(), Ok(1));
    let tail_at = 256; // ring 0: tail line, then head line
    let head_at = 256 + 128;
    poke(&name, tail_at, &u64::MAX.to_ne_bytes());
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Corrupted(_))));
    assert!(matches!(rx.recv(), Err(BlockingRecvError::Corrupted(_))));
    poke(&name, tail_at, &1000u64.to_ne_bytes());
    assert!(matches!(
        rx.recv_into(&mut [0; 4]),
        Err(BlockingRecvError::Corrupted(_))
    ));
    // a tail within range of head reads stale (but in-bounds) slots: garbled, not unsafe
    poke(&name, tail_at, &17u64.to_ne_bytes());
    let mut buf = [0u64; 32];
    assert_eq!(rx.recv_into(&mut buf), Ok(16));
    // garbage head seen by the producer when it refreshes
    poke(&name, head_at, &(u64::MAX / 2).to_ne_bytes());
    let mut corrupted = false;
    for v in 0..64 {
        if let Err(e) = tx.try_send(v) {
            assert!(
                matches!(e, shmlane::error::TrySendError::Corrupted(..)),
                "{e}"
            );
            corrupted = true;
            break;
        }
    }
    assert!(corrupted);
}

#[test]
fn queue_kind_capacity_type_and_garbage() {
    use shmlane::queue::{ByteQueue, Queue};
    let name = unique("badq");
    let _pipe = Pipe::<u64>::create(&name, 8).unwrap();
    assert!(matches!(
        Queue::<u64>::open(&name),
        Err(OpenError::KindMismatch {
            expected: 4,
            found: 1
        })
    ));
    assert!(matches!(
        Queue::<u64>::anonymous(1),
        Err(CreateError::InvalidCapacity { capacity: 1, .. })
    ));
    let qname = unique("badq2");
    let q = Queue::<u64>::create(&qname, 8).unwrap();
    assert!(matches!(
        Queue::<i64>::open(&qname),
        Err(OpenError::TypeMismatch { .. })
    ));
    assert!(matches!(
        ByteQueue::<32>::open(&qname),
        Err(OpenError::ElementSizeMismatch { .. })
    ));
    drop(q);
    // A byte queue's maximum is part of its type: a different maximum is refused.
    let bname = unique("badq3");
    let _b = ByteQueue::<64>::create(&bname, 8).unwrap();
    assert!(ByteQueue::<128>::open(&bname).is_err());
    // Garbage in a live queue's stamps and positions: typed errors, no panic, no hang.
    let mut q = Queue::<u64>::create(&qname, 8).unwrap();
    q.put(1).unwrap();
    poke(&qname, 256, &[0xff; 16]); // tail line: garbage position with flags
    poke(&qname, 256 + 128, &[0xee; 8]); // head
    let _ = q.try_put(2);
    let _ = q.try_get();
    let _ = q.get_timeout(std::time::Duration::from_millis(20));
    let _ = q.put_timeout(3, std::time::Duration::from_millis(20));
    assert!(q.len().is_err()); // garbage positions are reported
}

/// `get_into` that meets garbage positions after it has taken a message returns that
/// message (`Ok(1)`) instead of an error that drops it: the message has left the queue,
/// and only the caller's buffer holds it now. The next call reports the corruption.
#[test]
fn get_into_keeps_what_it_took_before_a_corruption() {
    use shmlane::queue::Queue;
    let name = unique("getinto");
    let mut q = Queue::<u64>::create(&name, 8).unwrap();
    q.put(41).unwrap();
    poke(&name, 256, &[0xff; 8]); // tail: garbage, found once slot 0 has been taken
    let mut buf = [0u64; 4];
    let got = q.get_into(&mut buf);
    assert!(matches!(got, Ok(1)), "{got:?}");
    assert_eq!(buf[0], 41);
    assert!(
        q.get_into(&mut buf).is_err(),
        "the corruption is reported next"
    );
}
