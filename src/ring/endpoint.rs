//! Claiming, releasing and retiring a ring endpoint (see [`Endpoint`] for the word's
//! encoding). Pure atomics: liveness of an owner is asked of the caller.
//!
//! The owner's whole identity (pid and start time, the latter modulo 2^30) lives in the
//! one word a claim CASes, so a reader never pairs one owner's pid with another's start
//! time: every state but free names one claimant, as that claimant wrote it (see
//! "Endpoint claim protocol" in `docs/architecture.md`).
//!
//! State machine of `Endpoint::word` (status bits):
//!
//! | from      | event                                   | to                    |
//! |-----------|-----------------------------------------|-----------------------|
//! | free      | claim (CAS)                             | attached(pid, start)  |
//! | attached  | owner drops its handle, in its process  | closed(same owner)    |
//! | attached  | survivor sees owner dead (CAS)          | dead(same owner)      |
//! | attached  | claim, owner dead and not the claimant  | attached(pid', start')|
//! | closed    | claim (CAS)                             | attached(pid', start')|
//! | dead      | retirer vacates it (CAS)                | closed(same owner)    |
//! | dead      | claim (CAS)                             | attached(pid', start')|

use crate::error::ClaimError;
use crate::layout::Endpoint;
use crate::platform::identity::{Identity, START_MASK};
use crate::primitive::Ordering;

/// Status bits of an endpoint word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Never claimed.
    Free,
    /// Held by a process.
    Attached,
    /// Released by its owner (clean drop).
    Closed,
    /// Its owner died holding it.
    Dead,
}

const STATUS_MASK: u64 = 0b11;
const START_SHIFT: u32 = 2;

/// Packs an owner's identity and a status into an endpoint word.
pub(crate) fn pack(owner: Identity, status: Status) -> u64 {
    let s = match status {
        Status::Free => 0,
        Status::Attached => 1,
        Status::Closed => 2,
        Status::Dead => 3,
    };
    (u64::from(owner.pid) << 32) | ((owner.start & START_MASK) << START_SHIFT) | s
}

/// Status of an endpoint word.
///
/// # Examples
///
/// ```
/// use shmlane::ring::endpoint::{Status, status};
/// assert_eq!(status(0), Status::Free);
/// ```
pub fn status(word: u64) -> Status {
    match word & STATUS_MASK {
        0 => Status::Free,
        1 => Status::Attached,
        2 => Status::Closed,
        _ => Status::Dead,
    }
}

/// Pid stored in an endpoint word.
///
/// # Examples
///
/// ```
/// use shmlane::ring::endpoint::pid;
/// assert_eq!(pid(42 << 32 | 1), 42);
/// ```
pub fn pid(word: u64) -> u32 {
    (word >> 32) as u32
}

/// The owner an endpoint word names: its pid and its start time modulo 2^30. The only
/// way to read an owner, so a pid is never paired with another owner's start time.
///
/// # Examples
///
/// ```
/// use shmlane::ring::{Identity, endpoint::owner};
/// let w = 42 << 32 | 7 << 2 | 1; // attached, pid 42, start 7
/// assert_eq!(owner(w), Identity { pid: 42, start: 7 });
/// ```
pub fn owner(word: u64) -> Identity {
    Identity {
        pid: pid(word),
        start: (word >> START_SHIFT) & START_MASK,
    }
}

fn with_status(word: u64, s: Status) -> u64 {
    pack(owner(word), s)
}

/// True if `a` and `b` may be the same process as far as an endpoint word can tell:
/// same pid, and start times equal modulo 2^30 or either unknown (0).
fn same_process(a: Identity, b: Identity) -> bool {
    let (sa, sb) = (a.start & START_MASK, b.start & START_MASK);
    a.pid == b.pid && (sa == 0 || sb == 0 || sa == sb)
}

/// Fault-injection point `endpoint.claim.after_cas` (see `crate::fault`): a claimant
/// stopped or killed right after its claim CAS. (No fault points under loom.)
#[inline(always)]
fn after_claim_cas() {
    #[cfg(not(shmlane_loom))]
    crate::fault::point("endpoint.claim.after_cas");
}

/// Claims `ep` for `me`. A live holder (per `is_alive`, which must say "alive" unless
/// the holder is known dead) makes this `EndpointBusy`; a dead holder's claim is taken
/// over. A holder that is `me` itself (same pid, start time equal modulo 2^30 or
/// unknown) is busy whatever `is_alive` says: we hold that end through another handle,
/// and a second handle would make two writers of its position. Returns the word now
/// stored.
pub(crate) fn claim(
    ep: &Endpoint,
    me: Identity,
    is_alive: impl Fn(Identity) -> bool,
) -> Result<u64, ClaimError> {
    let new = pack(me, Status::Attached);
    for _ in 0..8 {
        // Acquire: pairs with the Release of `release`/`mark_dead`/a previous claim.
        let cur = ep.word.load(Ordering::Acquire);
        if status(cur) == Status::Attached {
            let holder = owner(cur);
            if same_process(holder, me) || is_alive(holder) {
                return Err(ClaimError::EndpointBusy { pid: holder.pid });
            }
        }
        // AcqRel: acquire the previous owner's writes (its last position), release ours.
        // This one CAS publishes our whole identity: no second store follows.
        if ep
            .word
            .compare_exchange(cur, new, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            after_claim_cas();
            return Ok(new);
        }
    }
    Err(ClaimError::Contended)
}

/// Claims `ep` for `me` only if it is free or closed: never takes over an attached or
/// dead owner's entry (a dead owner's retirement may still be pending). Returns the
/// word now stored.
pub(crate) fn claim_vacant(ep: &Endpoint, me: Identity) -> Option<u64> {
    // Acquire: pairs with the Release of `release`/a retirer, so the entry's other
    // words (a queue member's intent) are seen as they left them.
    let cur = ep.word.load(Ordering::Acquire);
    if !matches!(status(cur), Status::Free | Status::Closed) {
        return None;
    }
    let new = pack(me, Status::Attached);
    // AcqRel: as in `claim`; this one CAS publishes our whole identity.
    ep.word
        .compare_exchange(cur, new, Ordering::AcqRel, Ordering::Relaxed)
        .ok()?;
    after_claim_cas();
    Some(new)
}

/// Claims one entry of a table of `entries` for `me`: a vacant one if any, else the
/// entry of an owner `is_alive` says is dead (for tables whose entries leave nothing to
/// retire). Returns the entry's index and the word now stored.
pub(crate) fn claim_any(
    entries: &[Endpoint],
    me: Identity,
    is_alive: impl Fn(Identity) -> bool,
) -> Result<(usize, u64), ClaimError> {
    let vacant = entries
        .iter()
        .enumerate()
        .find_map(|(i, ep)| claim_vacant(ep, me).map(|w| (i, w)));
    vacant
        .or_else(|| {
            entries
                .iter()
                .enumerate()
                .find_map(|(i, ep)| claim(ep, me, &is_alive).ok().map(|w| (i, w)))
        })
        .ok_or(ClaimError::TableFull {
            members: entries.len(),
        })
}

/// Marks a dead owner's endpoint closed (vacant again) once its leftovers are retired.
/// Fails harmlessly if someone else did it first. The word keeps the dead owner's
/// identity (for `shmlane ls`); a claim replaces it in one CAS.
pub(crate) fn vacate_dead(ep: &Endpoint, dead: u64) {
    if status(dead) == Status::Dead {
        // Release: a later claimant (Acquire) sees the retirement's writes.
        let _ = ep.word.compare_exchange(
            dead,
            with_status(dead, Status::Closed),
            Ordering::Release,
            Ordering::Relaxed,
        );
    }
}

/// Marks our endpoint closed if it still holds `mine` (a survivor may have retired it).
/// Does nothing in any process but the one `mine` names: a forked child holds copies
/// of its parent's handles, and their drop must not close the parent's ends.
///
/// ABA: the word holds `mine` after a change only if a process with our pid and our
/// start time modulo 2^30 (or an unknown start, 0) claimed it. While we run, no other
/// process has our pid, so that claimant is this process; `claim` refuses an end
/// attached to this process, so at most one of our handles holds `mine` (unless the end
/// was marked dead while we held it, which takes a wrong death verdict or a hostile
/// write), and a handle is released once. So a successful CAS closes the claim of the
/// handle released.
pub(crate) fn release(ep: &Endpoint, mine: u64) {
    if pid(mine) != std::process::id() {
        return;
    }
    // Release: the peer that observes `closed` (Acquire) also sees our last position.
    let _ = ep.word.compare_exchange(
        mine,
        with_status(mine, Status::Closed),
        Ordering::Release,
        Ordering::Relaxed,
    );
    // Fault-injection point `endpoint.released`: an owner stopped right after its
    // release, before the rest of its handle is dropped.
    #[cfg(not(shmlane_loom))]
    crate::fault::point("endpoint.released");
}

/// Marks the endpoint dead if it still holds `seen` (the word observed with a dead
/// owner). Exactly one of several concurrent retirers succeeds.
///
/// A later owner is retired by a stale `seen` only in a case of pid reuse the word
/// cannot tell apart: the word names its owner by pid and start time modulo 2^30, so
/// it equals `seen` again only if a process with the same pid claims it and its start
/// time equals the dead owner's modulo 2^30 (it started a multiple of 2^30 clock ticks,
/// 124 days at 100 Hz, later, to the tick) or both were recorded as unknown (0). The
/// process seen dead cannot claim again.
pub(crate) fn mark_dead(ep: &Endpoint, seen: u64) -> bool {
    status(seen) == Status::Attached
        && ep
            .word
            // AcqRel: whoever acts on `dead` sees the state we saw.
            .compare_exchange(
                seen,
                with_status(seen, Status::Dead),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
}

/// Loads the endpoint's word and the owner it names (one load: both come from the
/// same word, see [`owner`]).
pub(crate) fn load(ep: &Endpoint) -> (u64, Identity) {
    // Acquire: a closed/dead status must make the peer's last publish visible.
    let w = ep.word.load(Ordering::Acquire);
    (w, owner(w))
}

#[cfg(all(test, not(shmlane_loom)))]
mod tests {
    use super::*;

    #[test]
    fn pack_roundtrip() {
        let id = Identity {
            pid: u32::MAX,
            start: START_MASK,
        };
        let w = pack(id, Status::Attached);
        assert_eq!((owner(w), status(w)), (id, Status::Attached));
        assert_eq!(status(with_status(w, Status::Dead)), Status::Dead);
        assert_eq!(owner(with_status(w, Status::Dead)), id);
        // Only the low 30 bits of a start time are kept.
        let long = Identity {
            pid: 7,
            start: (5 << 30) | 9,
        };
        assert_eq!(owner(pack(long, Status::Closed)).start, 9);
    }

    /// This process with a made-up start time (release acts only for our own pid).
    fn me(start: u64) -> Identity {
        Identity {
            pid: std::process::id(),
            start,
        }
    }

    /// Another process: pids above `PID_MAX_LIMIT` (2^22) are never ours.
    fn other(k: u32, start: u64) -> Identity {
        Identity {
            pid: (1 << 23) + k,
            start,
        }
    }

    /// Single-threaded walk through the state table: each transition stores one word
    /// that names its owner in full, and retirement keeps the owner it retired. (That no
    /// reader can see a claimant's pid with another owner's start time *during* a claim
    /// is the loom model's job: `loom-tests/tests/endpoint.rs`.)
    #[test]
    fn each_transition_keeps_the_owner_it_names() {
        let ep = Endpoint::default();
        let (old, new) = (me(1), other(1, 2));
        let w_old = claim(&ep, old, |_| true).unwrap();
        assert_eq!(load(&ep), (w_old, old));
        release(&ep, w_old);
        assert_eq!(load(&ep), (with_status(w_old, Status::Closed), old));
        let w_new = claim_vacant(&ep, new).unwrap();
        assert_eq!(load(&ep), (w_new, new));
        assert!(mark_dead(&ep, w_new));
        assert_eq!(load(&ep), (with_status(w_new, Status::Dead), new));
        vacate_dead(&ep, with_status(w_new, Status::Dead));
        assert_eq!(load(&ep), (with_status(w_new, Status::Closed), new));
        let w_3 = claim(&ep, old, |id| id != new).unwrap();
        assert_eq!(load(&ep), (w_3, old));
    }

    #[test]
    fn claim_busy_takeover_release() {
        let ep = Endpoint::default();
        let a = me(1);
        let b = other(2, 2);
        let wa = claim(&ep, a, |_| true).unwrap();
        assert_eq!(
            claim(&ep, b, |_| true),
            Err(ClaimError::EndpointBusy { pid: a.pid })
        );
        // a is seen dead: b takes over, and the word names b now
        let wb = claim(&ep, b, |_| false).unwrap();
        assert_ne!(wa, wb);
        assert!(
            !mark_dead(&ep, wa),
            "stale word must not retire the new owner"
        );
        release(&ep, wa); // a's late release must not close b's endpoint
        assert_eq!(load(&ep), (wb, b));
        assert!(claim(&ep, a, |id| id != b).is_ok());
    }

    /// A handle copied into another process (a forked child: same word, other pid)
    /// releases nothing; the process the word names does.
    #[test]
    fn release_acts_only_in_the_owning_process() {
        let ep = Endpoint::default();
        let w = claim(&ep, other(3, 5), |_| true).unwrap();
        release(&ep, w);
        assert_eq!(status(load(&ep).0), Status::Attached);
        let ep = Endpoint::default();
        let w = claim(&ep, me(5), |_| true).unwrap();
        release(&ep, w);
        assert_eq!(status(load(&ep).0), Status::Closed);
    }

    /// An end attached to this process is busy for this process even if liveness says
    /// dead (a wrong verdict must not hand out a second handle to one end); an earlier
    /// process with our pid but another start time is taken over as any dead owner.
    #[test]
    fn self_claim_is_busy_whatever_liveness_says() {
        let ep = Endpoint::default();
        let w = claim(&ep, me(7), |_| true).unwrap();
        let busy = Err(ClaimError::EndpointBusy {
            pid: std::process::id(),
        });
        assert_eq!(claim(&ep, me(7), |_| false), busy);
        assert_eq!(
            claim(&ep, me(0), |_| false),
            busy,
            "unknown start: maybe us"
        );
        assert_eq!(
            claim(&ep, me(7 | (1 << 30)), |_| false),
            busy,
            "same mod 2^30"
        );
        assert_eq!(
            claim_any(std::slice::from_ref(&ep), me(7), |_| false).err(),
            Some(ClaimError::TableFull { members: 1 })
        );
        assert_eq!(load(&ep).0, w);
        // A previous process with our (reused) pid, seen dead: taken over.
        assert!(claim(&ep, me(8), |id| id.start != 7).is_ok());
    }

    #[test]
    fn claim_any_prefers_vacant_then_takes_over_the_dead_then_is_full() {
        let table: Vec<Endpoint> = (0..3).map(|_| Endpoint::default()).collect();
        let who = |k| other(k, 1);
        let alive_but_20 = |id: Identity| id != who(20);
        assert_eq!(claim_any(&table, who(10), alive_but_20).unwrap().0, 0);
        assert_eq!(claim_any(&table, who(20), alive_but_20).unwrap().0, 1);
        // This process (so that its release below acts).
        let (_, w30) = claim_any(&table, me(30), alive_but_20).unwrap();
        // Full; 20 is dead, so its entry is the one taken over.
        assert_eq!(claim_any(&table, who(40), alive_but_20).unwrap().0, 1);
        assert_eq!(
            claim_any(&table, who(50), alive_but_20),
            Err(ClaimError::TableFull { members: 3 })
        );
        release(&table[2], w30);
        assert_eq!(claim_any(&table, who(50), alive_but_20).unwrap().0, 2);
    }
}
