//! The multi-producer multi-consumer queue, written once over raw memory (heap for
//! tests, loom and fuzz; a shared mapping in production). Each message goes to exactly
//! one consumer.
//!
//! # Protocol
//!
//! Bounded, with per-slot stamps (Vyukov). Positions are `u64` counters below 2^62;
//! slot = `pos & (capacity - 1)`; capacity is a power of two ≥ 2. Each slot starts with
//! a stamp, stored *relative to the slot's lap* (`lap(pos) = pos & !(capacity - 1)`) so
//! that all-zero bytes are an empty queue:
//!
//! | stamp                      | meaning for position `pos`                       |
//! |----------------------------|--------------------------------------------------|
//! | `lap(pos) << 1`            | free: a producer may claim `pos`                 |
//! | `(lap(pos) + 1) << 1`      | full: a consumer may claim `pos`                 |
//! | `(lap(pos) + 1) << 1 \| 1` | skipped: a consumer claims it and drops it       |
//!
//! * **put**: record the intent `(pos, put)` in our endpoint entry; claim `pos` by CAS
//!   on `tail`; write the value; store the *full* stamp (Release); clear the intent.
//! * **get**: record `(pos, get)`; claim `pos` by CAS on `head`; read; store *free* for
//!   `pos + capacity` (Release); clear the intent.
//!
//! Two flag bits ride in the position words, so the claim CAS that every operation
//! does anyway also reads them (no fence on the fast path):
//!
//! * `tail` bit 63 [`CLOSED`]: set once by `close`. A put that sees it fails without
//!   claiming; a get that finds `head == tail` with it set reports `Closed`. Claims
//!   before the bit succeed, claims after fail: closing is atomic.
//! * `tail` bit 62 / `head` bit 62 [`SLEEPING`]: a consumer (producer) about to sleep
//!   sets it by CAS *only while* `head == tail` (the slot it needs is unclaimed), so the
//!   next claim on that word sees it, clears it, and wakes the epoch after publishing.
//!   The waiter read the epoch before arming; a wake after arming changes it, so the
//!   futex wait cannot miss it (see `docs/architecture.md`).
//!
//! # Crash safety
//!
//! A process can die between claiming a position and publishing it. Survivors detect
//! the death (the owner identity in the endpoint table is not alive) and *retire* the
//! dead entry's intent:
//!
//! * dead producer, `tail > pos`, stamp still *free*: unless a live entry records the
//!   same intent (it may own `pos`; retry later), CAS the stamp *free → skipped*.
//!   Consumers drop skipped slots. The message was never delivered, so it is never
//!   torn or half-written; it is counted in `abandoned`.
//! * dead consumer, `head > pos`, stamp still *full*: likewise, CAS *full → free for
//!   the next lap*. The message is **counted as lost** (`lost`), not redelivered: the
//!   dead consumer's `get` never returned it, and no survivor may take it without
//!   breaking FIFO claims. A message whose `get` returned before its consumer died is
//!   not counted: that `get` freed the slot and cleared the intent first, so it was
//!   delivered (at most once), and recovery finds nothing to retire.
//!
//! An intent is set exactly while its entry may hold the position: a claim CAS that
//! fails clears it before the call goes on (and perhaps returns Full or Empty).
//!
//! Why "no live entry records the same intent" proves the dead one owned `pos`: an
//! owner writes its intent before its claim CAS and clears it only after publishing;
//! the retirer read `tail > pos` (Acquire, after the owner's Release CAS) first, so it
//! sees the owner's intent unless the owner has already published, which the stamp
//! CAS then detects. Exactly one CAS wins, so a message is skipped or freed once.
//!
//! Everything read from the mapping is checked: stamps that fit no legal state and
//! positions out of range are reported as [`Corrupted`]; indices are masked.
#![allow(unsafe_code)]

use crate::error::{ClaimError, Corrupted, CreateError, TryGetError, TryPutError};
use crate::layout::{QUEUE_MEMBERS, QueueControl, QueueMember};
#[cfg(not(shmlane_loom))]
use crate::primitive::Backoff;
use crate::primitive::{AtomicU64, Ordering, UnsafeCell};
use crate::ring::endpoint::{self, Identity};
use crate::ring::region::Region;
use crate::wait::{Epoch, Poll, WaitMode, block_on_armed};
use bytemuck::Pod;
use std::time::Instant;
#[cfg(not(shmlane_loom))]
use {core::ptr::NonNull, std::any::Any, std::sync::Arc};

/// `tail` flag: the queue is closed.
pub const CLOSED: u64 = 1 << 63;
/// `tail`/`head` flag: someone sleeps until the next claim on this word.
pub const SLEEPING: u64 = 1 << 62;
const FLAGS: u64 = CLOSED | SLEEPING;

const ROLE_PUT: u64 = 1;
const ROLE_GET: u64 = 2;

/// One slot: the stamp, then the value (layout `queue_slot_size` in `layout`).
#[repr(C)]
pub(crate) struct Slot<T> {
    stamp: AtomicU64,
    value: UnsafeCell<T>,
}

/// The memory of one queue: its control block and `capacity` slots (a crate-internal
/// `ring::region::Region`).
///
/// Invariants on top of the region's: `capacity` is at least 2, and all bit patterns
/// of the slots are valid (`T: Pod`, stamps are atomics).
pub struct QueueRing<T>(Region<QueueControl, Slot<T>>);

// SAFETY: the memory is shared-memory-safe by design: the control block is atomics,
// each value slot is written and read by one party at a time, handed over by the
// stamp's Release/Acquire; the region keeps it alive.
unsafe impl<T: Send> Send for QueueRing<T> {}
// SAFETY: as above; every method takes `&self` and goes through the protocol.
unsafe impl<T: Send> Sync for QueueRing<T> {}

impl<T> Clone for QueueRing<T> {
    fn clone(&self) -> Self {
        Self(self.0.share())
    }
}

impl<T> core::fmt::Debug for QueueRing<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("QueueRing").field(&self.0).finish()
    }
}

/// Checks a queue capacity: a power of two in `2..=MAX_CAPACITY`.
pub fn check_capacity(capacity: u64) -> Result<u64, CreateError> {
    if capacity >= 2 && crate::ring::spsc::check_capacity(capacity).is_ok() {
        Ok(capacity)
    } else {
        Err(CreateError::InvalidCapacity {
            capacity,
            expected: crate::error::QUEUE_CAPACITY,
        })
    }
}

/// Creates a queue on the heap (one process; threads share it by joining).
///
/// # Examples
///
/// ```
/// let q = shmlane::ring::mpmc::heap::<u32>(4).unwrap();
/// let mut a = q.join_local().unwrap();
/// let mut b = q.join_local().unwrap();
/// a.try_push(5).unwrap();
/// assert_eq!(b.try_pop(), Ok(5));
/// ```
pub fn heap<T: Pod + Send>(capacity: usize) -> Result<QueueRing<T>, CreateError> {
    let capacity = check_capacity(capacity as u64)?;
    Ok(QueueRing(Region::heap(
        Box::default(),
        (0..capacity)
            .map(|_| Slot {
                stamp: AtomicU64::new(0),
                value: UnsafeCell::new(T::zeroed()),
            })
            .collect(),
    )))
}

/// Bytes of one slot for `T` (must equal `layout::queue_slot_size`).
pub(crate) const fn slot_size<T>() -> u64 {
    core::mem::size_of::<Slot<T>>() as u64
}

#[cfg(not(shmlane_loom))]
const _: () = {
    use crate::layout::queue_slot_size;
    assert!(matches!(queue_slot_size(8, 8), Some(16)));
    assert!(slot_size::<u64>() == 16 && slot_size::<u8>() == 16 && slot_size::<[u64; 3]>() == 32);
    assert!(slot_size::<u128>() == 32 && matches!(queue_slot_size(16, 16), Some(32)));
    assert!(matches!(queue_slot_size(1, 1), Some(16)));
};

#[inline(always)]
fn pos_of(word: u64) -> u64 {
    word & !FLAGS
}

impl<T> QueueRing<T> {
    /// A queue whose control block starts at `base`, slots right after it.
    ///
    /// # Safety
    ///
    /// 1. `base` is aligned to 128 and points to `QUEUE_CONTROL_LEN + capacity *
    ///    size_of::<Slot<T>>()` bytes that stay mapped as long as `keep` lives;
    /// 2. `capacity` is a power of two ≥ 2 and `T` is `Pod` with alignment ≤ 128.
    ///
    /// Any bytes there are acceptable (all-zero is an empty queue).
    #[cfg(not(shmlane_loom))]
    pub(crate) unsafe fn from_raw(
        base: NonNull<u8>,
        capacity: u64,
        keep: Arc<dyn Any + Send + Sync>,
    ) -> Self {
        debug_assert!(capacity >= 2);
        let control_len = crate::layout::QUEUE_CONTROL_LEN; // a multiple of 128
        // SAFETY: our obligations 1-2 give the region's: 128-byte alignment covers the
        // control block and slots (align ≤ 128), the bytes stay mapped, any bytes valid.
        Self(unsafe { Region::from_raw(base, control_len, capacity, keep) })
    }

    #[inline(always)]
    fn ctrl(&self) -> &QueueControl {
        self.0.ctrl()
    }

    #[inline(always)]
    fn slot(&self, pos: u64) -> &Slot<T> {
        self.0.slot(pos)
    }

    #[inline(always)]
    fn cap(&self) -> u64 {
        self.0.capacity()
    }

    #[inline(always)]
    fn lap(&self, pos: u64) -> u64 {
        pos & !(self.cap() - 1)
    }

    #[inline(always)]
    fn free_stamp(&self, pos: u64) -> u64 {
        self.lap(pos) << 1
    }

    #[inline(always)]
    fn full_stamp(&self, pos: u64) -> u64 {
        (self.lap(pos) + 1) << 1
    }

    fn corrupted(&self, head: u64, tail: u64) -> Corrupted {
        Corrupted {
            head,
            tail,
            capacity: self.cap(),
        }
    }

    /// Slots in the queue.
    pub fn capacity(&self) -> usize {
        self.cap() as usize
    }

    /// Messages in the queue now (claimed positions not yet taken; a snapshot), or
    /// `Corrupted` if the positions are out of range.
    pub fn len(&self) -> Result<usize, Corrupted> {
        // Acquire, head first: what `check_span` needs (see there).
        let head = self.ctrl().head.load(Ordering::Acquire);
        let tail = self.ctrl().tail.load(Ordering::Acquire);
        Ok(self.check_span(head, tail, true)? as usize)
    }

    /// True if no message is waiting (a snapshot); `Corrupted` as for [`len`](Self::len).
    pub fn is_empty(&self) -> Result<bool, Corrupted> {
        Ok(self.len()? == 0)
    }

    /// Range check of two position words read one after the other (`head_first`
    /// says which was read first, both with Acquire or stronger): a healthy queue
    /// has `head ≤ tail ≤ head + capacity` at every instant. Returns `tail - head`
    /// (at most the capacity), or `Corrupted` if no interleaving explains the pair.
    ///
    /// Two reads are not one snapshot, so a pair outside the range is checked against
    /// one more read before it is called corrupt. The bounds that hold for reads in
    /// this order (positions only grow):
    ///
    /// * a `head` read before `tail` is at most that `tail`: the get that moved `head`
    ///   to `h` acquired the stamp of `h - 1`, published after the claim of `h - 1`
    ///   moved `tail` past it, and our Acquire of `head` carries that history;
    /// * a `head` read after a `tail` of `t` is at least `t - capacity`: the put that
    ///   moved `tail` to `t` found the stamp of `t - 1` free, freed by the get of
    ///   `t - 1 - capacity` after it moved `head` past it (likewise through `tail`'s
    ///   Acquire).
    ///
    /// Called on the paths that find nothing to do (Empty, Full) and by the snapshot
    /// calls, never per message.
    fn check_span(&self, head: u64, tail: u64, head_first: bool) -> Result<u64, Corrupted> {
        let (h, t, cap) = (pos_of(head), pos_of(tail), self.cap());
        let used = t.wrapping_sub(h);
        if used <= cap {
            return Ok(used);
        }
        let bad = Err(self.corrupted(h, t));
        if head_first {
            if h > t {
                return bad; // first bound
            }
            // `tail` ran ahead of the `head` we read; a `head` read now must catch up.
            // Acquire: as above.
            let now = pos_of(self.ctrl().head.load(Ordering::Acquire));
            if now < h || (now < t && t - now > cap) {
                return bad; // second bound (or `head` went back)
            }
            Ok(t.saturating_sub(now))
        } else {
            if t > h {
                return bad; // second bound: t - h > capacity
            }
            // `head` ran ahead of the `tail` we read; a `tail` read now must catch up.
            // Acquire: as above.
            let now = pos_of(self.ctrl().tail.load(Ordering::Acquire));
            if now < h {
                return bad; // first bound
            }
            Ok(0)
        }
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        // Relaxed: a snapshot of a flag that never clears.
        self.ctrl().tail.load(Ordering::Relaxed) & CLOSED != 0
    }

    /// Closes the queue: puts fail from now on; gets drain what was put before, then
    /// fail. Wakes every sleeper. Idempotent. The queue is closed in any case; `Err`
    /// reports that the positions were out of range (see [`len`](Self::len)).
    pub fn close(&self) -> Result<(), Corrupted> {
        // SeqCst: ordered in the single total order with every claim CAS on tail.
        let tail = self.ctrl().tail.fetch_or(CLOSED, Ordering::SeqCst);
        self.ctrl().not_empty.wake();
        self.ctrl().not_full.wake();
        // Acquire: `check_span`, tail read first.
        let head = self.ctrl().head.load(Ordering::Acquire);
        self.check_span(head, tail, false).map(|_| ())
    }

    /// Messages a consumer claimed and died before its `get` returned them (module
    /// docs); a message whose `get` returned is not counted, even if its consumer died
    /// right after.
    pub fn lost(&self) -> u64 {
        // Relaxed: a counter snapshot.
        self.ctrl().state.lost.load(Ordering::Relaxed)
    }

    /// Positions a producer claimed and died before filling (never delivered).
    pub fn abandoned(&self) -> u64 {
        // Relaxed: a counter snapshot.
        self.ctrl().state.abandoned.load(Ordering::Relaxed)
    }

    /// The epoch consumers sleep on.
    pub(crate) fn not_empty(&self) -> &Epoch {
        &self.ctrl().not_empty
    }

    /// The epoch producers sleep on.
    pub(crate) fn not_full(&self) -> &Epoch {
        &self.ctrl().not_full
    }

    fn members(&self) -> &[crate::layout::Line<QueueMember>; QUEUE_MEMBERS] {
        &self.ctrl().members
    }

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

    /// Joins as this process with every other owner considered alive (heap queues,
    /// tests).
    pub fn join_local(&self) -> Result<Member<T>, ClaimError> {
        let me = Identity {
            pid: std::process::id(),
            start: 0,
        };
        self.join(me, |_| true)
    }

    /// Reloads `word` after a stamp said our position `pos` is stale. Legitimately the
    /// word has moved (the stamp's writer claimed `pos` first, and we acquired its
    /// stamp); if it has not, the stamp is garbage.
    fn moved(&self, word: &AtomicU64, pos: u64) -> Result<Look, Corrupted> {
        // Acquire: see `try_push` (a fresh guess must carry the slot's history).
        let now = word.load(Ordering::Acquire);
        if pos_of(now) == pos {
            Err(self.corrupted(pos, pos))
        } else {
            Ok(Look::Moved(now))
        }
    }

    fn look_put(&self, tail: u64) -> Result<Look, Corrupted> {
        let pos = pos_of(tail);
        let (lap, cap) = (self.lap(pos), self.cap());
        // Acquire — SYNC POINT: pairs with the consumer's Release store of the free
        // stamp, so its read of the old value happens before our write.
        let stamp = self.slot(pos).stamp.load(Ordering::Acquire);
        let seq = stamp >> 1;
        if stamp == lap << 1 {
            Ok(Look::Ready(pos, stamp))
        } else if seq == lap.wrapping_sub(cap) || seq == lap.wrapping_sub(cap) + 1 {
            Ok(Look::Wait) // the previous lap's message is still in the slot: full
        } else if seq > lap && seq - lap < 1 << 60 {
            self.moved(&self.ctrl().tail, pos)
        } else {
            Err(self.corrupted(pos, pos))
        }
    }

    fn look_get(&self, head: u64) -> Result<Look, Corrupted> {
        let pos = pos_of(head);
        let (lap, cap) = (self.lap(pos), self.cap());
        // Acquire — SYNC POINT: pairs with the producer's Release store of the full
        // stamp, so its value write happens before our read.
        let stamp = self.slot(pos).stamp.load(Ordering::Acquire);
        let seq = stamp >> 1;
        if seq == lap + 1 {
            Ok(Look::Ready(pos, stamp))
        } else if stamp == lap << 1 || seq == lap.wrapping_sub(cap) + 1 {
            Ok(Look::Wait) // not yet published, or the previous lap's get in flight
        } else if seq > lap + 1 && seq - lap < 1 << 60 {
            self.moved(&self.ctrl().head, pos)
        } else {
            Err(self.corrupted(pos, pos))
        }
    }

    /// Nothing is ready at `head`: `Closed` if the queue is closed and every claimed
    /// position has been taken, else `Empty`.
    /// `head` was read (Acquire) before this call; `Corrupted` if the pair is out of
    /// range (`check_span`).
    fn empty_or_closed(&self, head: u64) -> TryGetError {
        // SeqCst: in one order with the claim CASes; a claim after this load saw the
        // flag and failed, a claim before it makes `tail != head`.
        let tail = self.ctrl().tail.load(Ordering::SeqCst);
        if let Err(c) = self.check_span(head, tail, true) {
            TryGetError::Corrupted(c)
        } else if tail & CLOSED != 0 && pos_of(tail) == pos_of(head) {
            TryGetError::Closed
        } else {
            TryGetError::Empty
        }
    }

    /// Overwrites slot `i`'s stamp (fuzzing and tests: a hostile peer).
    #[doc(hidden)]
    pub fn poke_stamp(&self, i: usize, value: u64) {
        // Relaxed: simulated garbage.
        self.slot(i as u64).stamp.store(value, Ordering::Relaxed);
    }

    /// Overwrites `head` or `tail` (fuzzing and tests: a hostile peer).
    #[doc(hidden)]
    pub fn poke_position(&self, tail: bool, value: u64) {
        let w = if tail {
            &self.ctrl().tail
        } else {
            &self.ctrl().head
        };
        // Relaxed: simulated garbage.
        w.store(value, Ordering::Relaxed);
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
    ring: QueueRing<T>,
    index: usize,
    word: u64,
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

/// Outcome of one look at the slot a position word points to.
enum Look {
    /// The slot is ready for us at this position, with this stamp.
    Ready(u64, u64),
    /// Nothing to do now (full for a put, empty for a get).
    Wait,
    /// Our view of the position word was stale; it is now this.
    Moved(u64),
}

impl<T: Pod> Member<T> {
    /// The queue this member belongs to.
    pub fn ring(&self) -> &QueueRing<T> {
        &self.ring
    }

    fn intent(&self) -> &AtomicU64 {
        &self.ring.members()[self.index].intent
    }

    /// Puts `value` if a slot is free now.
    #[inline]
    pub fn try_push(&mut self, value: T) -> Result<(), TryPutError<T>> {
        self.push_once(value)
    }

    /// `try_push` behind a shared borrow, so the waiting loop can poll it while also
    /// borrowing the ring. `&mut self` in the public API keeps one operation per
    /// member (one intent word) at a time.
    #[inline]
    fn push_once(&self, value: T) -> Result<(), TryPutError<T>> {
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
                    return Ok(());
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
        self.pop_once()
    }

    /// `try_pop` behind a shared borrow (see `push_once`).
    #[inline]
    fn pop_once(&self) -> Result<T, TryGetError> {
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
                    let next = self.ring.free_stamp(pos.wrapping_add(self.ring.cap()));
                    // Release — SYNC POINT: pairs with the next producer's Acquire load;
                    // our read above happens before its write.
                    slot.stamp.store(next, Ordering::Release);
                    // Release: a retirer that sees the clear also sees the stamp.
                    self.intent().store(0, Ordering::Release);
                    if head & SLEEPING != 0 {
                        ctrl.not_full.wake();
                    }
                    if !skipped {
                        return Ok(value);
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
                match self.pop_once() {
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
    pub fn crash_in_push(self) -> bool {
        self.crash(true)
    }

    /// Claims a position for a get and stops, like a process killed mid-get.
    #[doc(hidden)]
    pub fn crash_in_pop(self) -> bool {
        self.crash(false)
    }

    /// Stops without a claim, like a process killed while idle: the entry stays
    /// attached until a recovery finds its owner dead (fuzzing and tests).
    #[doc(hidden)]
    pub fn crash_idle(mut self) {
        self.crashed = true;
    }

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

mod recovery;
mod sleep;
#[cfg(all(test, not(shmlane_loom)))]
mod tests;
