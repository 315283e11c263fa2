//! Membership in a queue: joining (an entry of the endpoint table) and the puts and
//! gets a member makes through it (protocol: the `ring::mpmc` module docs).

use super::{CLOSED, Look, QueueRing, ROLE_GET, ROLE_PUT, SLEEPING};
use crate::error::{ClaimError, TryGetError, TryPutError};
use crate::layout::QUEUE_MEMBERS;
use crate::platform::identity::Identity;
#[cfg(not(shmlane_loom))]
use crate::primitive::Backoff;
use crate::primitive::{AtomicU64, Ordering};
use crate::ring::endpoint;
use crate::wait::{Poll, WaitMode, block_on_armed};
use bytemuck::Pod;
use std::time::Instant;

impl<T> QueueRing<T> {
    /// Joins the queue as `me`: claims a vacant endpoint entry. Entries of dead owners
    /// are retired first (with `is_alive`), so a crash never leaks the table.
    pub fn join(
        &self,
        me: Identity,
        is_alive: fn(Identity) -> bool,
    ) -> Result<Member<T>, ClaimError> {
        for attempt in 0..2 {
            for (index, m) in self.members().iter().enumerate() {
                if let Some(word) = endpoint::claim_vacant(&m.ep, me) {
                    return Ok(Member {
                        ring: self.clone(),
                        index,
                        word,
                        is_alive,
                        crashed: false,
                    });
                }
            }
            if attempt == 0 {
                // A corrupt queue frees nothing: the table stays full.
                let _ = self.recover(is_alive);
            }
        }
        Err(ClaimError::TableFull {
            members: QUEUE_MEMBERS,
        })
    }

    /// True once the message put at `pos` (by [`Member::try_push_at`]) was taken: its
    /// slot's stamp moved past that message (a get released it, or a retirement did),
    /// or holds garbage. One Acquire load. For the buffer carriers (`crate::carrier`):
    /// a get runs its `f` before it releases the slot ([`Member::try_pop_with`]).
    pub(crate) fn taken(&self, pos: u64) -> bool {
        // Acquire — SYNC POINT: pairs with the getter's Release store of the free
        // stamp, so what its `f` did (a join) happens before what we do next.
        self.slot(pos).stamp.load(Ordering::Acquire) != self.full_stamp(pos)
    }

    /// Joins as this process with every other owner considered alive (heap queues,
    /// tests).
    #[cfg_attr(not(feature = "internals"), allow(dead_code))] // for loom-tests, fuzz, benches
    pub fn join_local(&self) -> Result<Member<T>, ClaimError> {
        let me = Identity {
            pid: std::process::id(),
            start: 0,
        };
        self.join(me, |_| true)
    }
}

/// One handle's membership in a queue: an entry of the endpoint table, through which
/// it puts and gets. Leaving (drop) frees the entry.
///
/// # Examples
///
/// ```
/// use shmlane::error::TryGetError;
/// let q = shmlane::ring::mpmc::heap::<u64>(2).unwrap();
/// let mut m = q.join_local().unwrap();
/// m.try_push(1).unwrap();
/// m.try_push(2).unwrap();
/// assert!(m.try_push(3).is_err()); // full
/// q.close();
/// assert_eq!(m.try_pop(), Ok(1));
/// assert_eq!(m.try_pop(), Ok(2));
/// assert_eq!(m.try_pop(), Err(TryGetError::Closed));
/// ```
pub struct Member<T> {
    pub(super) ring: QueueRing<T>,
    pub(super) index: usize,
    pub(super) word: u64,
    is_alive: fn(Identity) -> bool,
    /// Set by the crash simulators: leave the entry as a dead process would.
    crashed: bool,
}

impl<T> core::fmt::Debug for Member<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Member")
            .field("index", &self.index)
            .field("capacity", &self.ring.cap())
            .finish()
    }
}

impl<T> Drop for Member<T> {
    fn drop(&mut self) {
        if !self.crashed {
            endpoint::release(&self.ring.members()[self.index].ep, self.word);
        }
    }
}

impl<T: Pod> Member<T> {
    /// The queue this member belongs to.
    pub fn ring(&self) -> &QueueRing<T> {
        &self.ring
    }

    pub(super) fn intent(&self) -> &AtomicU64 {
        &self.ring.members()[self.index].intent
    }

    /// Puts `value` if a slot is free now.
    #[inline]
    pub fn try_push(&mut self, value: T) -> Result<(), TryPutError<T>> {
        self.push_once(value).map(|_| ())
    }

    /// [`try_push`](Self::try_push) that returns the position the value was put at
    /// (for the buffer carriers, `crate::carrier`: see [`QueueRing::taken`]).
    pub(crate) fn try_push_at(&mut self, value: T) -> Result<u64, TryPutError<T>> {
        self.push_once(value)
    }

    /// `try_push` behind a shared borrow, so the waiting loop can poll it while also
    /// borrowing the ring. `&mut self` in the public API keeps one operation per
    /// member (one intent word) at a time.
    #[inline]
    fn push_once(&self, value: T) -> Result<u64, TryPutError<T>> {
        let ctrl = self.ring.ctrl();
        // Acquire — SYNC POINT: every guess of `tail` is read with Acquire (also on CAS
        // failure). Reading `pos` synchronizes with the claim CASes before it, hence
        // with the stamp the claimer of `pos - capacity` saw free: the stamp load below
        // returns that lap's stamp or a later one, never an older lap (which would look
        // corrupt). Miri's weak-memory emulation found the Relaxed version failing.
        let mut tail = ctrl.tail.load(Ordering::Acquire);
        #[cfg(not(shmlane_loom))]
        let backoff = Backoff::new();
        loop {
            if tail & CLOSED != 0 {
                return Err(TryPutError::Closed(value));
            }
            let pos = match self.ring.look_put(tail) {
                Ok(Look::Ready(pos, _)) => pos,
                Ok(Look::Wait) => {
                    // Full, unless the positions are out of range (`check_span`:
                    // `tail` was read first, with Acquire).
                    // Acquire: as `check_span` needs.
                    let head = ctrl.head.load(Ordering::Acquire);
                    return match self.ring.check_span(head, tail, false) {
                        Ok(_) => Err(TryPutError::Full(value)),
                        Err(c) => Err(TryPutError::Corrupted(value, c)),
                    };
                }
                Ok(Look::Moved(t)) => {
                    tail = t;
                    continue;
                }
                Err(c) => return Err(TryPutError::Corrupted(value, c)),
            };
            // Release: a retirer that reads this intent also sees our claim of the
            // entry (`retire` checks the entry is still the dead owner's); to retirers
            // that see the claim CAS below, that CAS's Release publishes it.
            self.intent().store(pos << 2 | ROLE_PUT, Ordering::Release);
            // SeqCst: one total order with `close` and the sleep-flag CAS of waiters;
            // Release for the intent above; Acquire for the previous claimer's state.
            match ctrl.tail.compare_exchange_weak(
                tail,
                pos + 1,
                Ordering::SeqCst,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    let slot = self.ring.slot(pos);
                    // SAFETY: we own position `pos` (claimed by the CAS, stamp free),
                    // so no one else reads or writes this value until we publish.
                    slot.value.with_mut(|p| unsafe { p.write(value) });
                    // Release — SYNC POINT: pairs with the consumer's Acquire stamp load.
                    slot.stamp
                        .store(self.ring.full_stamp(pos), Ordering::Release);
                    // Release: a retirer that sees the clear also sees the stamp.
                    self.intent().store(0, Ordering::Release);
                    // (`shmlane_mutant_no_flag_wake` drops this wake, to show that loom
                    // then finds the lost wake-up; never set it outside that check.)
                    #[cfg(not(shmlane_mutant_no_flag_wake))]
                    if tail & SLEEPING != 0 {
                        ctrl.not_empty.wake();
                    }
                    return Ok(pos);
                }
                Err(t) => {
                    // Not claimed: withdraw the intent before anything else, since the
                    // next look may return (Full, Closed, Corrupted). A stale intent
                    // naming a position someone else claimed would pass for a live
                    // twin of that claimant, and its death could never be retired.
                    // Relaxed: a retirer that still sees the intent only defers.
                    self.intent().store(0, Ordering::Relaxed);
                    // Another producer won: back off a little before retrying, so
                    // contending producers do not keep stealing the line from each
                    // other (as crossbeam's ArrayQueue does). Timing only: the loom
                    // model leaves it out (a yield per lost CAS only lengthens paths).
                    #[cfg(not(shmlane_loom))]
                    backoff.spin();
                    tail = t;
                }
            }
        }
    }

    /// Takes the oldest message if there is one now.
    #[inline]
    pub fn try_pop(&mut self) -> Result<T, TryGetError> {
        self.pop_once(&mut |v| v)
    }

    /// [`try_pop`](Self::try_pop) that runs `f` on the value *before* the slot is
    /// released (between the value read and the free-stamp store), and returns what
    /// `f` returns: a producer that watches the slot ([`QueueRing::taken`]) then knows
    /// `f` has run. For the buffer carriers (`crate::carrier`): `f` joins the buffer.
    /// A process that dies in `f` leaves a claimed position, retired as any get's.
    pub(crate) fn try_pop_with<R>(&mut self, mut f: impl FnMut(T) -> R) -> Result<R, TryGetError> {
        self.pop_once(&mut f)
    }

    /// `try_pop` behind a shared borrow (see `push_once`), running `f` on the value
    /// before the slot is released (see `try_pop_with`).
    #[inline]
    fn pop_once<R>(&self, f: &mut impl FnMut(T) -> R) -> Result<R, TryGetError> {
        let ctrl = self.ring.ctrl();
        // Acquire: as for `tail` in `try_push`.
        let mut head = ctrl.head.load(Ordering::Acquire);
        #[cfg(not(shmlane_loom))]
        let backoff = Backoff::new();
        loop {
            let (pos, stamp) = match self.ring.look_get(head)? {
                Look::Ready(pos, stamp) => (pos, stamp),
                Look::Wait => return Err(self.ring.empty_or_closed(head)),
                Look::Moved(h) => {
                    head = h;
                    continue;
                }
            };
            // Release: as in `try_push`.
            self.intent().store(pos << 2 | ROLE_GET, Ordering::Release);
            // SeqCst: one total order with the sleep-flag CAS of waiting producers.
            match ctrl.head.compare_exchange_weak(
                head,
                pos + 1,
                Ordering::SeqCst,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    let slot = self.ring.slot(pos);
                    // The stamp cannot have changed since the look: a retirer touches a
                    // full slot only once `head` has passed it, and our CAS just did.
                    let skipped = stamp & 1 != 0;
                    // SAFETY: we own position `pos` (claimed by the CAS, stamp full):
                    // the producer finished writing (Acquire in the look), and no one
                    // writes the slot until we free it below.
                    let value = slot.value.with(|p| unsafe { p.read() });
                    let out = if skipped { None } else { Some(f(value)) };
                    let next = self.ring.free_stamp(pos.wrapping_add(self.ring.cap()));
                    // Release — SYNC POINT: pairs with the next producer's Acquire load;
                    // our read above happens before its write.
                    slot.stamp.store(next, Ordering::Release);
                    // Release: a retirer that sees the clear also sees the stamp.
                    self.intent().store(0, Ordering::Release);
                    if head & SLEEPING != 0 {
                        ctrl.not_full.wake();
                    }
                    if let Some(out) = out {
                        return Ok(out);
                    }
                    // Acquire: a new guess, as above.
                    head = ctrl.head.load(Ordering::Acquire);
                }
                Err(h) => {
                    // Not claimed: withdraw the intent, as in `try_push`.
                    // Relaxed: as there.
                    self.intent().store(0, Ordering::Relaxed);
                    // Back off, as in `try_push`.
                    #[cfg(not(shmlane_loom))]
                    backoff.spin();
                    head = h;
                }
            }
        }
    }

    /// Puts `value`, waiting for a free slot until `deadline`. On every slow tick of
    /// the wait, dead members are retired (a dead consumer may hold the slot we need),
    /// and the wait ends with `Corrupted` if the shared words say it can never end
    /// (`check_wait`).
    pub fn push_until(
        &mut self,
        value: T,
        mode: WaitMode,
        deadline: Option<Instant>,
    ) -> Result<(), TryPutError<T>> {
        self.push_until_at(value, mode, deadline).map(|_| ())
    }

    /// [`push_until`](Self::push_until) that returns the position the value was put
    /// at (see [`try_push_at`](Self::try_push_at)).
    pub(crate) fn push_until_at(
        &mut self,
        value: T,
        mode: WaitMode,
        deadline: Option<Instant>,
    ) -> Result<u64, TryPutError<T>> {
        let mut value = Some(value);
        let ring = &self.ring;
        let mut suspect = None;
        let result = block_on_armed(
            ring.not_full(),
            mode,
            deadline,
            |slow| {
                let v = value.take().expect("value present while waiting");
                if slow && let Err(c) = ring.recover(self.is_alive) {
                    return Poll::Ready(Err(TryPutError::Corrupted(v, c)));
                }
                match self.push_once(v) {
                    Err(TryPutError::Full(v)) => {
                        if slow && let Err(c) = self.check_wait(true, &mut suspect) {
                            return Poll::Ready(Err(TryPutError::Corrupted(v, c)));
                        }
                        value = Some(v);
                        Poll::Pending
                    }
                    done => Poll::Ready(done),
                }
            },
            || ring.arm_put(),
        );
        match result {
            Ok(done) => done,
            Err(_) => Err(TryPutError::Full(value.take().expect("value kept"))),
        }
    }

    /// Takes a message, waiting until `deadline`. `Err(Empty)` means the deadline
    /// passed. On every slow tick, dead members are retired, and contradictions end
    /// the wait with `Corrupted`, as in [`push_until`](Self::push_until).
    pub fn pop_until(
        &mut self,
        mode: WaitMode,
        deadline: Option<Instant>,
    ) -> Result<T, TryGetError> {
        self.pop_until_with(mode, deadline, |v| v)
    }

    /// [`pop_until`](Self::pop_until) that runs `f` before the slot is released (see
    /// [`try_pop_with`](Self::try_pop_with)).
    pub(crate) fn pop_until_with<R>(
        &mut self,
        mode: WaitMode,
        deadline: Option<Instant>,
        mut f: impl FnMut(T) -> R,
    ) -> Result<R, TryGetError> {
        let ring = &self.ring;
        let mut suspect = None;
        block_on_armed(
            ring.not_empty(),
            mode,
            deadline,
            |slow| {
                if slow && let Err(c) = ring.recover(self.is_alive) {
                    return Poll::Ready(Err(TryGetError::Corrupted(c)));
                }
                match self.pop_once(&mut f) {
                    Err(TryGetError::Empty) => {
                        if slow && let Err(c) = self.check_wait(false, &mut suspect) {
                            return Poll::Ready(Err(TryGetError::Corrupted(c)));
                        }
                        Poll::Pending
                    }
                    done => Poll::Ready(done),
                }
            },
            || ring.arm_get(),
        )
        .unwrap_or(Err(TryGetError::Empty))
    }

    /// Claims a position for a put and stops, like a process killed between claim and
    /// publish: the entry stays attached (loom and tests of the retirement protocol).
    /// Returns whether a position was claimed.
    #[doc(hidden)]
    #[cfg(feature = "fault-injection")]
    pub fn crash_in_push(self) -> bool {
        self.crash(true)
    }

    /// Claims a position for a get and stops, like a process killed mid-get.
    #[doc(hidden)]
    #[cfg(feature = "fault-injection")]
    pub fn crash_in_pop(self) -> bool {
        self.crash(false)
    }

    /// Stops without a claim, like a process killed while idle: the entry stays
    /// attached until a recovery finds its owner dead (fuzzing and tests).
    #[doc(hidden)]
    #[cfg(feature = "fault-injection")]
    pub fn crash_idle(mut self) {
        self.crashed = true;
    }

    #[cfg(feature = "fault-injection")]
    fn crash(mut self, put: bool) -> bool {
        let ctrl = self.ring.ctrl();
        let word = if put { &ctrl.tail } else { &ctrl.head };
        // Acquire: as in try_push / try_pop.
        let cur = word.load(Ordering::Acquire);
        let look = if put {
            self.ring.look_put(cur)
        } else {
            self.ring.look_get(cur)
        };
        let claimed = match look {
            Ok(Look::Ready(pos, _)) if !put || cur & CLOSED == 0 => {
                let role = if put { ROLE_PUT } else { ROLE_GET };
                // Release/SeqCst: as in try_push / try_pop.
                self.intent().store(pos << 2 | role, Ordering::Release);
                word.compare_exchange(cur, pos + 1, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
            }
            _ => false,
        };
        // Keep the entry attached, as a killed process leaves it.
        self.crashed = true;
        claimed
    }
}
