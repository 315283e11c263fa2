//! Claiming, releasing and retiring a ring endpoint (see [`Endpoint`] for the word's
//! encoding). Pure atomics: liveness of an owner is asked of the caller.
//!
//! The owner's whole identity (pid and start time, the latter modulo 2^30) lives in the
//! one word a claim CASes, so a reader never pairs one owner's pid with another's start
//! time: every state a reader can see names a real owner (see "Endpoint claim protocol"
//! in `docs/architecture.md`).
//!
//! State machine of `Endpoint::word` (status bits):
//!
//! | from      | event                              | to                   |
//! |-----------|------------------------------------|----------------------|
//! | free      | claim (CAS)                        | attached(pid, start) |
//! | attached  | owner drops its handle (CAS)       | closed(same owner)   |
//! | attached  | survivor sees owner dead (CAS)     | dead(same owner)     |
//! | attached  | claim while owner dead (CAS)       | attached(pid', start')|
//! | closed    | claim (CAS)                        | attached(pid', start')|
//! | dead      | retirer vacates it (CAS)           | closed(same owner)   |
//! | dead      | claim (CAS)                        | attached(pid', start')|

use crate::error::ClaimError;
use crate::layout::Endpoint;
use crate::primitive::Ordering;

/// A process, identified so that a reused pid is not mistaken for the original owner.
///
/// An identity read back from an endpoint word carries the start time modulo 2^30
/// ([`START_MASK`]); liveness checks compare start times modulo 2^30.
///
/// # Examples
///
/// ```
/// use shmlane::ring::Identity;
/// let me = Identity { pid: 42, start: 1000 };
/// assert_eq!(me.pid, 42);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Identity {
    /// Process id.
    pub pid: u32,
    /// Process start time in clock ticks after boot (0 = unknown).
    pub start: u64,
}

/// The bits of a start time an endpoint word keeps (2^30 ticks: 124 days at 100 Hz).
///
/// # Examples
///
/// ```
/// use shmlane::ring::endpoint::START_MASK;
/// assert_eq!(START_MASK, (1 << 30) - 1);
/// ```
pub const START_MASK: u64 = (1 << 30) - 1;

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

/// Fault-injection point `endpoint.claim.after_cas` (see `crate::fault`): a claimant
/// stopped or killed right after its claim CAS. (No fault points under loom.)
#[inline(always)]
fn after_claim_cas() {
    #[cfg(not(shmlane_loom))]
    crate::fault::point("endpoint.claim.after_cas");
}

/// Claims `ep` for `me`. A live holder (per `is_alive`) makes this `EndpointBusy`;
/// a dead holder's claim is taken over. Returns the word now stored.
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
            if is_alive(holder) {
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
///
/// No ABA: the word holds `mine` again only if the same process (same pid and start
/// time) claimed it again, and a handle is released once, by the process that holds it.
pub(crate) fn release(ep: &Endpoint, mine: u64) {
    // Release: the peer that observes `closed` (Acquire) also sees our last position.
    let _ = ep.word.compare_exchange(
        mine,
        with_status(mine, Status::Closed),
        Ordering::Release,
        Ordering::Relaxed,
    );
}

/// Marks the endpoint dead if it still holds `seen` (the word observed with a dead
/// owner). Exactly one of several concurrent retirers succeeds.
///
/// A later owner is never retired by a stale `seen`: the word names its owner in full,
/// so it equals `seen` again only if the very process seen dead claimed it again, which
/// a dead process cannot do.
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

    /// The word a claim stores names the claimant in full: a reader that loads it
    /// right after the CAS (before anything else is stored) sees the claimant, not
    /// the claimant's pid with the previous owner's start time.
    #[test]
    fn claim_publishes_the_whole_identity_in_its_cas() {
        let ep = Endpoint::default();
        let old = Identity { pid: 10, start: 1 };
        let new = Identity { pid: 11, start: 2 };
        let w_old = claim(&ep, old, |_| true).unwrap();
        release(&ep, w_old);
        let w_new = claim_vacant(&ep, new).unwrap();
        assert_eq!(load(&ep), (w_new, new));
        assert!(mark_dead(&ep, w_new));
        vacate_dead(&ep, w_new | 3);
        assert_eq!(load(&ep).1, new, "retirement keeps the owner it retired");
        let w_3 = claim(&ep, old, |id| id != new).unwrap();
        assert_eq!(load(&ep), (w_3, old));
    }

    #[test]
    fn claim_busy_takeover_release() {
        let ep = Endpoint::default();
        let a = Identity { pid: 10, start: 1 };
        let b = Identity { pid: 11, start: 2 };
        let wa = claim(&ep, a, |_| true).unwrap();
        assert_eq!(
            claim(&ep, b, |_| true),
            Err(ClaimError::EndpointBusy { pid: 10 })
        );
        // a dies: b takes over, generation moves on
        let wb = claim(&ep, b, |_| false).unwrap();
        assert_ne!(wa, wb);
        assert!(
            !mark_dead(&ep, wa),
            "stale word must not retire the new owner"
        );
        release(&ep, wa); // a's late release must not close b's endpoint
        assert_eq!(status(load(&ep).0), Status::Attached);
        release(&ep, wb);
        assert_eq!(status(load(&ep).0), Status::Closed);
        assert!(claim(&ep, a, |_| true).is_ok());
    }

    #[test]
    fn claim_any_prefers_vacant_then_takes_over_the_dead_then_is_full() {
        let table: Vec<Endpoint> = (0..3).map(|_| Endpoint::default()).collect();
        let who = |pid| Identity { pid, start: 1 };
        let alive_but_20 = |id: Identity| id.pid != 20;
        assert_eq!(claim_any(&table, who(10), alive_but_20).unwrap().0, 0);
        assert_eq!(claim_any(&table, who(20), alive_but_20).unwrap().0, 1);
        let (_, w30) = claim_any(&table, who(30), alive_but_20).unwrap();
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
