//! Claiming, releasing and retiring a ring endpoint (see [`Endpoint`] for the word's
//! encoding). Pure atomics: liveness of an owner is asked of the caller.
//!
//! State machine of `Endpoint::word` (status bits):
//!
//! | from      | event                              | to                 |
//! |-----------|------------------------------------|--------------------|
//! | free      | claim (CAS)                        | attached(pid, g+1) |
//! | attached  | owner drops its handle (CAS)       | closed             |
//! | attached  | survivor sees owner dead (CAS)     | dead               |
//! | attached  | claim while owner dead (CAS)       | attached(pid', g+1)|
//! | closed    | claim (CAS)                        | attached(pid', g+1)|
//! | dead      | claim (CAS)                        | attached(pid', g+1)|

use crate::error::ClaimError;
use crate::layout::Endpoint;
use crate::primitive::Ordering;

/// A process, identified so that a reused pid is not mistaken for the original owner.
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
const GEN_MASK: u64 = (1 << 30) - 1;

/// Packs pid, generation and status into an endpoint word.
pub(crate) fn pack(pid: u32, generation: u64, status: Status) -> u64 {
    let s = match status {
        Status::Free => 0,
        Status::Attached => 1,
        Status::Closed => 2,
        Status::Dead => 3,
    };
    (u64::from(pid) << 32) | ((generation & GEN_MASK) << 2) | s
}

/// Status of an endpoint word.
pub fn status(word: u64) -> Status {
    match word & STATUS_MASK {
        0 => Status::Free,
        1 => Status::Attached,
        2 => Status::Closed,
        _ => Status::Dead,
    }
}

/// Pid stored in an endpoint word.
pub fn pid(word: u64) -> u32 {
    (word >> 32) as u32
}

fn generation(word: u64) -> u64 {
    (word >> 2) & GEN_MASK
}

fn with_status(word: u64, s: Status) -> u64 {
    pack(pid(word), generation(word), s)
}

/// Claims `ep` for `me`. A live holder (per `is_alive`) makes this `EndpointBusy`;
/// a dead holder's claim is taken over. Returns the word now stored.
pub(crate) fn claim(
    ep: &Endpoint,
    me: Identity,
    is_alive: impl Fn(Identity) -> bool,
) -> Result<u64, ClaimError> {
    for _ in 0..8 {
        // Acquire: pairs with the Release CAS of a previous claim, so `start` below is
        // that claimant's (or 0 if it has not stored it yet).
        let cur = ep.word.load(Ordering::Acquire);
        if status(cur) == Status::Attached {
            let owner = Identity {
                pid: pid(cur),
                start: ep.start.load(Ordering::Acquire),
            };
            if is_alive(owner) {
                return Err(ClaimError::EndpointBusy { pid: owner.pid });
            }
        }
        let new = pack(me.pid, generation(cur).wrapping_add(1), Status::Attached);
        // AcqRel: acquire the previous owner's writes (its last position), release ours.
        if ep
            .word
            .compare_exchange(cur, new, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            // Release: pairs with the Acquire load of `start` in a later claim/liveness check.
            ep.start.store(me.start, Ordering::Release);
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
    let new = pack(me.pid, generation(cur).wrapping_add(1), Status::Attached);
    // AcqRel: as in `claim`.
    ep.word
        .compare_exchange(cur, new, Ordering::AcqRel, Ordering::Relaxed)
        .ok()?;
    // Release: pairs with the Acquire load of `start` in a liveness check.
    ep.start.store(me.start, Ordering::Release);
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
/// Fails harmlessly if someone else did it first.
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

/// Loads the endpoint's word and owner.
pub(crate) fn load(ep: &Endpoint) -> (u64, Identity) {
    // Acquire: a closed/dead status must make the peer's last publish visible.
    let w = ep.word.load(Ordering::Acquire);
    (
        w,
        Identity {
            pid: pid(w),
            start: ep.start.load(Ordering::Acquire),
        },
    )
}

#[cfg(all(test, not(shmlane_loom)))]
mod tests {
    use super::*;

    #[test]
    fn pack_roundtrip() {
        let w = pack(4_000_000, 7, Status::Attached);
        assert_eq!(
            (pid(w), generation(w), status(w)),
            (4_000_000, 7, Status::Attached)
        );
        assert_eq!(status(with_status(w, Status::Dead)), Status::Dead);
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
