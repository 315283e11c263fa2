//! SIGKILL one side of a pipe at random points: the survivor never hangs, loses
//! nothing that was published, and sees `Disconnected`.

mod common;

use common::{Rng, kill9, role, seed, spawn_ready, unique};
use shmlane::error::{BlockingSendError, RecvTimeoutError};
use shmlane::pipe::Pipe;
use std::time::Duration;

const RUNS: u64 = 10;
/// Watchdog only: a correct run finishes in milliseconds; this turns a hang into a failure.
const WATCHDOG: Duration = Duration::from_secs(60);

/// Child-process entry point (ignored in normal runs; see `common::peer`).
#[test]
#[ignore]
fn peer_main() {
    let Some((role, args)) = role() else { return };
    match role.as_str() {
        // Sends 0, 1, 2, … until killed.
        "produce-forever" => {
            let mut tx = Pipe::<u64>::open(&args[0]).unwrap().sender().unwrap();
            println!("READY");
            let mut v = 0;
            loop {
                if tx.send(v).is_err() {
                    return;
                }
                v += 1;
            }
        }
        // Receives forever (checking order) until killed.
        "consume-forever" => {
            let mut rx = Pipe::<u64>::open(&args[0]).unwrap().receiver().unwrap();
            println!("READY");
            let mut expect = 0;
            while let Ok(v) = rx.recv() {
                assert_eq!(v, expect);
                expect += 1;
            }
        }
        // Creates a named pipe, holds its sender, and waits to be killed (or, with a
        // second argument "persist", persists it and exits normally).
        "create-and-hold" => {
            let pipe = Pipe::<u64>::create(&args[0], 64).unwrap_or_else(|e| panic!("{e}"));
            let _tx = pipe.sender().unwrap();
            if args.get(1).map(String::as_str) == Some("persist") {
                pipe.persist();
                println!("READY");
                return;
            }
            println!("READY");
            std::thread::sleep(Duration::from_secs(600));
        }
        _ => panic!("unknown role {role}"),
    }
}

#[test]
fn killed_producer_consumer_gets_everything_then_disconnected() {
    let mut rng = Rng(seed());
    for run in 0..RUNS {
        let name = unique("kp");
        let pipe = Pipe::<u64>::create(&name, 1 << (4 + rng.below(8))).unwrap();
        let mut rx = pipe.receiver().unwrap();
        let mut child = spawn_ready("produce-forever", std::slice::from_ref(&name));
        let kill_after = rng.below(300_000);
        let mut expect = 0u64;
        while expect < kill_after {
            assert_eq!(rx.recv_timeout(WATCHDOG), Ok(expect), "run {run}");
            expect += 1;
        }
        kill9(&mut child);
        // Everything published before the kill arrives in order, then Disconnected.
        loop {
            match rx.recv_timeout(WATCHDOG) {
                Ok(v) => {
                    assert_eq!(v, expect, "run {run}: out of order after kill");
                    expect += 1;
                }
                Err(RecvTimeoutError::Disconnected) => break,
                Err(e) => panic!("run {run}: {e}"),
            }
        }
        assert!(expect >= kill_after);
    }
}

#[test]
fn killed_consumer_producer_gets_disconnected() {
    let mut rng = Rng(seed() ^ 0xabcd);
    for run in 0..RUNS {
        let name = unique("kc");
        let capacity = 1usize << (4 + rng.below(8));
        let pipe = Pipe::<u64>::create(&name, capacity).unwrap();
        let mut tx = pipe.sender().unwrap();
        let mut child = spawn_ready("consume-forever", std::slice::from_ref(&name));
        let kill_after = rng.below(300_000);
        for v in 0..kill_after {
            tx.send_timeout(v, WATCHDOG).unwrap();
        }
        kill9(&mut child); // killed and reaped: it is gone for good
        // Death is observed by the watcher thread (pidfd), asynchronously to this
        // thread, or at the latest by the full-ring wait's liveness check; so a send
        // may still succeed in the instant after the kill, but never more than a ring's
        // worth, and the producer never hangs.
        let mut accepted_after_kill = 0;
        loop {
            match tx.send_timeout(kill_after + accepted_after_kill as u64, WATCHDOG) {
                Ok(()) => accepted_after_kill += 1,
                Err(e) => {
                    assert!(
                        matches!(e, shmlane::error::SendTimeoutError::Disconnected(_)),
                        "run {run}: {e}"
                    );
                    break;
                }
            }
            assert!(
                accepted_after_kill <= capacity,
                "run {run}: producer never noticed"
            );
        }
        eprintln!(
            "run {run}: capacity {capacity}, sends accepted after the kill: {accepted_after_kill}"
        );
        assert!(tx.is_disconnected());
        assert!(matches!(
            tx.send(0),
            Err(BlockingSendError::Disconnected(0))
        ));
    }
}

#[test]
fn a_killed_endpoint_can_be_reclaimed() {
    let name = unique("reclaim");
    let pipe = Pipe::<u64>::create(&name, 64).unwrap();
    let mut rx = pipe.receiver().unwrap();
    let mut child = spawn_ready("produce-forever", std::slice::from_ref(&name));
    assert!(matches!(
        pipe.sender(),
        Err(shmlane::error::ClaimError::EndpointBusy { .. })
    ));
    kill9(&mut child);
    // The restarted producer takes over the dead one's endpoint and continues the stream.
    let mut tx = pipe.sender().unwrap();
    let mut last = None;
    while let Ok(v) = rx.try_recv() {
        last = Some(v);
    }
    let next = last.map_or(0, |v| v + 1);
    tx.send(next).unwrap();
    assert_eq!(rx.recv_timeout(WATCHDOG), Ok(next));
}

#[test]
fn a_killed_creators_segment_does_not_block_a_restart() {
    let name = unique("restart");
    let mut child = spawn_ready("create-and-hold", std::slice::from_ref(&name));
    // While its creator lives, the name is taken.
    assert!(matches!(
        Pipe::<u64>::create(&name, 64),
        Err(shmlane::CreateError::AlreadyExists(_))
    ));
    kill9(&mut child);
    // Creator and sender dead, not persisted: the restart reclaims the name.
    let fresh = Pipe::<u64>::create(&name, 128).unwrap();
    assert_eq!(fresh.capacity(), 128);
}

#[test]
fn a_stale_looking_segment_with_a_live_user_or_persisted_is_kept() {
    // Dead creator, but this process holds an endpoint: not stale.
    let name = unique("inuse");
    let mut child = spawn_ready("create-and-hold", std::slice::from_ref(&name));
    let pipe = Pipe::<u64>::open(&name).unwrap();
    let _rx = pipe.receiver().unwrap();
    kill9(&mut child);
    assert!(matches!(
        Pipe::<u64>::create(&name, 64),
        Err(shmlane::CreateError::AlreadyExists(_))
    ));
    pipe.persist(); // keep it past our drop, then check the persisted case
    drop(_rx);
    drop(pipe);
    // Persisted by its creator, creator gone, nobody attached: still kept.
    let name2 = unique("persisted");
    let mut child = spawn_ready("create-and-hold", &[name2.clone(), "persist".into()]);
    child.wait().unwrap();
    assert!(matches!(
        Pipe::<u64>::create(&name2, 64),
        Err(shmlane::CreateError::AlreadyExists(_))
    ));
    for n in [name, name2] {
        std::fs::remove_file(format!("/dev/shm/shmlane.{n}")).unwrap();
    }
}

#[test]
fn ls_shows_and_gc_removes_only_what_the_dead_left() {
    let dead = unique("gcdead");
    let mut child = spawn_ready("create-and-hold", std::slice::from_ref(&dead));
    kill9(&mut child);
    let live = unique("gclive");
    let _keep = Pipe::<u64>::create(&live, 64).unwrap();
    // a temporary left by a creator that died before linking it into place
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let tmp = format!("shmlane.tmp.{}.7", gone.id());
    std::fs::write(format!("/dev/shm/{tmp}"), [0u8; 8]).unwrap();

    let list = shmlane::segment::list();
    let find = |n: &str| list.iter().find(|i| i.name == n).cloned();
    let d = find(&dead).expect("listed");
    assert!(d.stale && !d.creator.1);
    assert_eq!(d.type_name, "u64");
    assert!(d.endpoints.iter().any(|e| e.1 == "producer" && !e.4));
    assert!(!find(&live).expect("listed").stale);

    let removed = shmlane::segment::gc();
    assert!(removed.contains(&format!("shmlane.{dead}")), "{removed:?}");
    assert!(removed.contains(&tmp), "{removed:?}");
    assert!(!removed.contains(&format!("shmlane.{live}")));
    assert!(Pipe::<u64>::open(&live).is_ok());
    assert!(matches!(
        Pipe::<u64>::open(&dead),
        Err(shmlane::OpenError::DoesNotExist(_))
    ));
}
