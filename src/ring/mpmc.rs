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

use crate::error::{Corrupted, CreateError, TryGetError};
use crate::layout::{QUEUE_MEMBERS, QueueControl, QueueMember};
use crate::primitive::{AtomicU64, Ordering, UnsafeCell};
use crate::ring::region::Region;
use crate::wait::Epoch;
use bytemuck::Pod;
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
#[cfg_attr(not(feature = "internals"), allow(dead_code))] // for loom-tests, fuzz, benches
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
    #[cfg_attr(not(feature = "internals"), allow(dead_code))] // for loom-tests, fuzz, benches
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
    #[cfg(feature = "fault-injection")]
    pub fn poke_stamp(&self, i: usize, value: u64) {
        // Relaxed: simulated garbage.
        self.slot(i as u64).stamp.store(value, Ordering::Relaxed);
    }

    /// Overwrites `head` or `tail` (fuzzing and tests: a hostile peer).
    #[doc(hidden)]
    #[cfg(feature = "fault-injection")]
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

/// Outcome of one look at the slot a position word points to.
enum Look {
    /// The slot is ready for us at this position, with this stamp.
    Ready(u64, u64),
    /// Nothing to do now (full for a put, empty for a get).
    Wait,
    /// Our view of the position word was stale; it is now this.
    Moved(u64),
}

mod member;
mod recovery;
mod sleep;
#[cfg(all(test, not(shmlane_loom)))]
mod tests;

pub use member::Member;
