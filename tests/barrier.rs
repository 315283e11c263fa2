//! The barrier's round and count are one word: a party stopped (`SIGSTOP`) at a fault
//! point inside `wait` never makes another round's arrival count in its own round.
//!
//! * `barrier.withdraw.before_cas`: a timed-out party about to withdraw its arrival; the
//!   round completes (counting it) and the next round begins before it goes on.
//! * `barrier.complete.before_bump`: the party about to complete a round; a new party
//!   arrives before it goes on.
//! * `wait.before_sleep`: a party whose arrival is counted, about to sleep (used to know
//!   that a child has arrived).
//!
//! No timing assertions: each step waits for a child's state (stopped, exited); the
//! timeouts only bound a failing run.

mod common;

use common::{cont_and_kill, kill9, peer, proc_state, role, sigcont, unique};
use shmlane::sync::Barrier;
use std::process::Child;
use std::time::{Duration, Instant};

/// Watchdog only: a correct run finishes in milliseconds; this turns a hang into a failure.
const WATCHDOG: Duration = Duration::from_secs(60);
/// A wait that must time out alone (nobody else arrives until it has).
const SHORT: Duration = Duration::from_millis(50);
/// A wait that a correct run never sits out (it completes a round, or is released by
/// one, or its deadline passes while it is stopped and its withdrawal then finds the
/// round completed); only a failing run waits this long.
const LONG: Duration = Duration::from_secs(10);

/// Child-process entry point (ignored in normal runs; see `common::peer`).
#[test]
#[ignore]
fn peer_main() {
    let Some((role, args)) = role() else { return };
    match role.as_str() {
        // Opens the barrier, waits at most `args[1]` ms, prints the result.
        "wait" => {
            let b = Barrier::open(&args[0]).unwrap();
            let ms: u64 = args[1].parse().unwrap();
            let r = b.wait_timeout(Duration::from_millis(ms));
            println!("RESULT {r:?}");
        }
        _ => panic!("unknown role {role}"),
    }
}

/// A child waiting on the barrier, armed to `SIGSTOP` itself at one fault point.
/// Dropping it (also on a failed assertion) continues and kills it.
struct Party(Option<Child>);

impl Party {
    /// Spawns a child that opens barrier `name` and waits at most `timeout`, stopping
    /// at fault point `at`.
    fn spawn(name: &str, timeout: Duration, at: &str) -> Self {
        let args = [name.to_owned(), timeout.as_millis().to_string()];
        let child = peer("wait", &args)
            .env("SHMLANE_FAULT", format!("stop:{at}"))
            .spawn()
            .unwrap();
        Self(Some(child))
    }

    fn pid(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }

    /// Waits until the child has stopped at its fault point; with `or_exit`, also
    /// returns once it has exited (true if it stopped).
    fn until_stopped(&mut self, or_exit: bool) -> bool {
        let pid = self.pid();
        let t0 = Instant::now();
        loop {
            match proc_state(pid) {
                Some(b'T') => return true,
                Some(b'Z') | None if or_exit => return false,
                Some(b'Z') | None => panic!("party {pid} exited before its fault point"),
                _ => {}
            }
            assert!(t0.elapsed() < WATCHDOG, "party {pid} never stopped");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Continues the child (again whenever it stops at its point again) until it exits;
    /// returns what its wait returned (`Ok(true)`, `Ok(false)`, `Err(TimedOut)`).
    fn finish(mut self) -> String {
        let mut child = self.0.take().unwrap();
        let pid = child.id();
        let t0 = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if proc_state(pid) == Some(b'T') {
                sigcont(pid);
            }
            if t0.elapsed() > WATCHDOG {
                kill9(&mut child);
                panic!("resumed party {pid} never finished");
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        assert!(status.success(), "party {pid} failed: {status}");
        let mut out = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
        out.lines()
            .rev()
            .find_map(|l| l.strip_prefix("RESULT "))
            .unwrap_or("")
            .to_owned()
    }
}

impl Drop for Party {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            cont_and_kill(&mut child);
        }
    }
}

/// Two parties. A times out alone and stops just before withdrawing its arrival; B
/// arrives and completes round 0 counting A; C arrives for round 1. A's withdrawal must
/// see that its round completed (A passed: `Ok(false)`) and leave C's arrival alone, so
/// that D completes round 1 with C. Before the fix (count and round in two words) A's
/// withdrawal took C's arrival: A reported `TimedOut` although B passed counting it, D
/// waited alone until its timeout, and so did C.
#[test]
fn withdraw_never_cancels_an_arrival_of_the_next_round() {
    let name = unique("bar-withdraw");
    let b = Barrier::create(&name, 2).unwrap();
    let mut a = Party::spawn(&name, SHORT, "barrier.withdraw.before_cas");
    a.until_stopped(false);
    let rb = format!("{:?}", b.wait_timeout(LONG));
    let mut c = Party::spawn(&name, LONG, "wait.before_sleep");
    c.until_stopped(false);
    let ra = a.finish();
    let rd = format!("{:?}", b.wait_timeout(LONG));
    let rc = c.finish();
    assert_eq!(
        [ra.as_str(), &rb, &rd, &rc],
        ["Ok(false)", "Ok(true)", "Ok(true)", "Ok(false)"],
        "[A, B, D, C]: A was counted in round 0 (B its leader), C and D make round 1"
    );
}

/// Two parties. B arrives for round 0 and sleeps; L arrives to complete round 0 and
/// stops just before publishing that; C arrives meanwhile. A round releases exactly two
/// parties, one of them its leader: C completes round 0 with B (L's completion was not
/// published, so C's arrival is the second of round 0), and L, resumed, finds round 0
/// over and waits alone in round 1 until its timeout. Before the fix L had already reset
/// the count: C was counted alone in the next round, yet released by L's generation bump
/// (B, L and C all passed, three parties in a round of two, and C as a follower).
#[test]
fn a_new_arrival_is_never_released_by_the_previous_round() {
    let name = unique("bar-complete");
    let _b = Barrier::create(&name, 2).unwrap();
    let mut b = Party::spawn(&name, LONG, "wait.before_sleep");
    b.until_stopped(false);
    let mut l = Party::spawn(&name, SHORT, "barrier.complete.before_bump");
    l.until_stopped(false);
    let mut c = Party::spawn(&name, LONG, "wait.before_sleep");
    c.until_stopped(true);
    let rl = l.finish();
    let rb = b.finish();
    let rc = c.finish();
    assert_eq!(
        [rb.as_str(), &rc, &rl],
        ["Ok(false)", "Ok(true)", "Err(TimedOut)"],
        "[B, C, L]: round 0 is B and C (C its leader); L arrived after it, alone"
    );
}
