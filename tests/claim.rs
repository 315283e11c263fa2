//! A claimant stopped right after its claim CAS (fault point
//! `endpoint.claim.after_cas`, `SIGSTOP`) is a live owner: no survivor or liveness
//! sweep in another process may take it for dead. Each test makes the endpoint entry the
//! claimant takes one whose previous owner (another process, started at another clock
//! tick) left its identity behind, so a reader that paired the new owner's pid with the
//! old owner's start time would declare the claimant dead.

mod common;

use common::{cont_and_kill, kill9, peer, proc_state, role, sigcont, spawn_ready, unique};
use shmlane::error::{GetTimeoutError, RecvTimeoutError};
use shmlane::pipe::Pipe;
use shmlane::queue::Queue;
use shmlane::sync::Mutex;
use std::process::Child;
use std::time::{Duration, Instant};

/// Watchdog only: a correct run finishes in milliseconds; this turns a hang into a failure.
const WATCHDOG: Duration = Duration::from_secs(60);
/// How long a survivor keeps looking at the stopped claimant (several 50 ms liveness
/// ticks). Not a timing assertion: nothing may arrive, and nothing may disconnect, in
/// however long we look.
const LOOK: Duration = Duration::from_millis(500);
/// Values the resumed claimant sends / puts.
const AFTER: [u64; 3] = [1000, 1001, 1002];

/// Child-process entry point (ignored in normal runs; see `common::peer`).
#[test]
#[ignore]
fn peer_main() {
    let Some((role, args)) = role() else { return };
    match role.as_str() {
        // Claims the sender, sends 1, and waits to be killed.
        "pipe-send-hold" => {
            let mut tx = Pipe::<u64>::open(&args[0]).unwrap().sender().unwrap();
            tx.send(1).unwrap();
            println!("READY");
            std::thread::sleep(Duration::from_secs(600));
        }
        // Claims the sender (stopped there when the fault point is armed), then sends
        // `AFTER` and exits (its drop closes the sender).
        "pipe-claim-send" => {
            let mut tx = Pipe::<u64>::open(&args[0]).unwrap().sender().unwrap();
            for v in AFTER {
                tx.send(v).unwrap();
            }
        }
        // Joins the queue and leaves it cleanly (its entry becomes closed).
        "queue-join-leave" => {
            let q = Queue::<u64>::open(&args[0]).unwrap();
            drop(q);
        }
        // Joins the queue (stopped there when armed), then puts `AFTER`.
        "queue-join-put" => {
            let mut q = Queue::<u64>::open(&args[0]).unwrap();
            for v in AFTER {
                q.put(v).unwrap();
            }
        }
        // Creates a named mutex, opens and drops a second handle (a closed user-table
        // entry with our identity), and waits to be killed.
        "mutex-create-hold" => {
            let _m = Mutex::<u64>::create(&args[0], 0).unwrap();
            drop(Mutex::<u64>::open(&args[0]).unwrap());
            println!("READY");
            std::thread::sleep(Duration::from_secs(600));
        }
        // Opens the mutex (stopped there when armed), then locks it and stores 7.
        "mutex-open-store" => {
            let m = Mutex::<u64>::open(&args[0]).unwrap();
            *m.lock().unwrap() = 7;
        }
        _ => panic!("unknown role {role}"),
    }
}

/// A child armed to `SIGSTOP` itself right after its claim CAS. Dropping the guard
/// (also on a failed assertion) continues and kills it, so no stopped process is left.
struct Stopped(Option<Child>);

impl Stopped {
    /// Spawns `role(args)` armed at the claim point and waits until it has stopped there.
    fn spawn(role: &str, args: &[String]) -> Self {
        let child = peer(role, args)
            .env("SHMLANE_FAULT", "stop:endpoint.claim.after_cas")
            .spawn()
            .unwrap();
        let pid = child.id();
        let guard = Self(Some(child));
        let t0 = Instant::now();
        while proc_state(pid) != Some(b'T') {
            assert!(
                proc_state(pid).is_some_and(|s| s != b'Z'),
                "claimant {pid} exited before reaching the claim point"
            );
            assert!(t0.elapsed() < WATCHDOG, "claimant {pid} never stopped");
            std::thread::sleep(Duration::from_millis(2));
        }
        guard
    }

    fn pid(&self) -> i32 {
        self.0.as_ref().unwrap().id() as i32
    }

    /// Continues the child and waits for it to exit successfully.
    fn resume_and_finish(mut self) {
        sigcont(self.pid() as u32);
        let mut child = self.0.take().unwrap();
        let t0 = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if t0.elapsed() > WATCHDOG {
                kill9(&mut child);
                panic!("resumed claimant never finished");
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        assert!(status.success(), "resumed claimant failed: {status}");
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            cont_and_kill(&mut child);
        }
    }
}

/// Process start times have clock-tick (10 ms) resolution: wait long enough that the
/// next child starts at a later tick than the previous owner did, so the two owners'
/// identities differ (otherwise mixing them up would go unseen). Not a timing
/// assertion: it only makes the pre-fix failure certain.
fn next_tick() {
    std::thread::sleep(Duration::from_millis(30));
}

/// Sender dies; a new sender process claims the end and is stopped right after the
/// claim CAS. The receiver keeps waiting (no `Disconnected` from a live new peer), and
/// once the claimant continues its messages arrive, then its clean close.
#[test]
fn pipe_survivor_waits_for_a_claimant_stopped_after_its_claim() {
    let name = unique("claim-pipe");
    let pipe = Pipe::<u64>::create(&name, 16).unwrap();
    let mut rx = pipe.receiver().unwrap();
    let mut first = spawn_ready("pipe-send-hold", std::slice::from_ref(&name));
    assert_eq!(rx.recv_timeout(WATCHDOG), Ok(1));
    kill9(&mut first);
    next_tick();
    let claimant = Stopped::spawn("pipe-claim-send", std::slice::from_ref(&name));
    assert_eq!(
        rx.recv_timeout(LOOK),
        Err(RecvTimeoutError::Timeout),
        "the receiver took the stopped claimant {} for dead",
        claimant.pid()
    );
    claimant.resume_and_finish();
    for v in AFTER {
        assert_eq!(rx.recv_timeout(WATCHDOG), Ok(v));
    }
    assert_eq!(
        rx.recv_timeout(WATCHDOG),
        Err(RecvTimeoutError::Disconnected)
    );
}

/// A queue member stopped right after its claim (in an entry a previous member left
/// closed) is not retired by `recover()` nor by a waiting `get`'s liveness sweep in
/// another process, and its puts arrive once it continues.
#[test]
fn queue_recover_keeps_a_member_stopped_after_its_claim() {
    let name = unique("claim-queue");
    let mut q = Queue::<u64>::create(&name, 16).unwrap();
    let first = peer("queue-join-leave", std::slice::from_ref(&name))
        .status()
        .unwrap();
    assert!(first.success());
    next_tick();
    let claimant = Stopped::spawn("queue-join-put", std::slice::from_ref(&name));
    assert_eq!(
        q.recover(),
        Ok(0),
        "recover() retired the stopped member {}",
        claimant.pid()
    );
    assert_eq!(q.get_timeout(LOOK), Err(GetTimeoutError::Timeout));
    assert_eq!(
        q.recover(),
        Ok(0),
        "a sweep retired the stopped member {}",
        claimant.pid()
    );
    claimant.resume_and_finish();
    for v in AFTER {
        assert_eq!(q.get_timeout(WATCHDOG), Ok(v));
    }
}

/// A named mutex whose creator died, opened by a process stopped right after it
/// claimed a user-table entry (one the creator left closed): the object is in use, so
/// it is not stale (`shmlane gc` / a `create` of the same name would remove it).
#[test]
fn object_user_stopped_after_its_claim_keeps_the_object_in_use() {
    let name = unique("claim-mutex");
    let mut creator = spawn_ready("mutex-create-hold", std::slice::from_ref(&name));
    kill9(&mut creator);
    next_tick();
    let claimant = Stopped::spawn("mutex-open-store", std::slice::from_ref(&name));
    let info = shmlane::segment::list()
        .into_iter()
        .find(|i| i.name == name)
        .expect("segment listed");
    assert!(
        !info.stale,
        "object in use by the stopped claimant {} listed as stale: {info:?}",
        claimant.pid()
    );
    claimant.resume_and_finish();
    assert_eq!(*Mutex::<u64>::open(&name).unwrap().lock().unwrap(), 7);
    let _ = std::fs::remove_file(format!("/dev/shm/shmlane.{name}"));
}
