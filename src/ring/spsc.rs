//! The single-producer single-consumer ring, written once over raw memory: a heap
//! allocation (unit tests, loom, Miri, fuzz, in-process benches) or a shared mapping.
//!
//! Protocol (positions are `u64` counters, slot = `pos & (capacity - 1)`):
//!
//! * The producer writes slot `tail`, then publishes `tail + 1` (Release) and notifies
//!   `readable`. It refreshes its cached `head` (Acquire) only when the cache says full.
//! * The consumer reads slot `head`, then publishes `head + 1` (Release) and notifies
//!   `writable`. It refreshes its cached `tail` (Acquire) only when the cache says empty.
//! * Every remote position is loaded once into a local and checked there before any
//!   use: `0 <= tail - head <= capacity` (wrapping). Anything else is [`Corrupted`].
//!   Indices are always masked and every run of slots is bounds-checked
//!   (`Region::run`), so even garbage positions never address memory outside the ring.
//! * Attaching trusts no shared position either: an end starts from the shared value
//!   of its own position, with its cache of the other one pessimistic (a producer's
//!   says full, a consumer's empty). The first call that needs room or data therefore
//!   refreshes and validates, so garbage left by a previous owner is reported as
//!   [`Corrupted`] from that call on (attaching itself succeeds: the endpoint is ours,
//!   and a ring whose positions are garbage cannot be repaired from one side).
//! * Waiting ends check on their slow path ([`Producer::verify`], [`Consumer::verify`])
//!   that the shared words agree with what they know themselves (their own position,
//!   a peer that existed): a contradiction is [`Corrupted`] rather than a wait that
//!   cannot end.
//!
//! # Memory a peer can write
//!
//! [`WriteChunk`], [`ReadChunk`] and [`Consumer::peek_slice`] hand out slices over
//! slots in memory the peer process maps too. What a hostile or buggy peer can do to
//! you through them: change the values under you at any time (including between two
//! reads of the same element, so read each value once and validate your copy), and
//! make the ring report [`Corrupted`]. What it cannot do: make these slices reach
//! outside the ring or be invalid `T` (every bit pattern of a `Pod` type is valid), nor
//! make any call of this module read or write outside the mapping or panic. The
//! lengths of the slices are computed from validated local copies of the positions,
//! never re-read from shared memory.
//!
//! # Examples
//!
//! ```
//! let (mut tx, mut rx) = shmlane::ring::spsc::heap::<u64>(4).unwrap();
//! tx.push(1).unwrap();
//! tx.push_slice(&[2, 3]).unwrap();
//! assert_eq!(rx.pop(), Ok(1));
//! let mut buf = [0; 4];
//! assert_eq!(rx.pop_into(&mut buf), Ok(2));
//! assert_eq!(&buf[..2], &[2, 3]);
//! ```
#![allow(unsafe_code)]

use crate::error::{Corrupted, CreateError, PopError, PushError};
#[cfg(not(shmlane_loom))]
use crate::layout::CONTROL_LEN;
use crate::layout::SpscControl;
use crate::primitive::{Ordering, UnsafeCell};
use crate::ring::endpoint::{self, Identity, Status};
use crate::ring::region::Region;
use bytemuck::Pod;
#[cfg(not(shmlane_loom))]
use {core::ptr::NonNull, std::any::Any, std::sync::Arc};

/// Largest capacity a ring accepts (2^40 slots).
pub const MAX_CAPACITY: u64 = 1 << 40;

/// Checks a requested capacity: a power of two in `1..=MAX_CAPACITY`.
pub fn check_capacity(capacity: u64) -> Result<u64, CreateError> {
    if capacity.is_power_of_two() && capacity <= MAX_CAPACITY {
        Ok(capacity)
    } else {
        Err(CreateError::InvalidCapacity {
            capacity,
            expected: crate::error::RING_CAPACITY,
        })
    }
}

/// The memory of one SPSC ring: its control block and `capacity` slots ([`Region`]).
///
/// Invariant on top of the region's: all bit patterns of the slots are valid `T`
/// (`T: Pod`), and the two ends follow the protocol in this module's docs.
pub(crate) struct RawRing<T>(Region<SpscControl, UnsafeCell<T>>);

// SAFETY: the pointed-to memory is shared-memory-safe by design (atomics for control,
// `T: Pod` slots handed over with Release/Acquire), and the region keeps it alive.
unsafe impl<T: Send> Send for RawRing<T> {}

impl<T> core::ops::Deref for RawRing<T> {
    type Target = Region<SpscControl, UnsafeCell<T>>;

    #[inline(always)]
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<T: Pod + Send> RawRing<T> {
    /// A fresh ring on the heap.
    pub(crate) fn heap(capacity: u64) -> Result<Self, CreateError> {
        let capacity = check_capacity(capacity)?;
        Ok(Self(Region::heap(
            Box::default(),
            (0..capacity)
                .map(|_| UnsafeCell::new(T::zeroed()))
                .collect(),
        )))
    }
}

impl<T> RawRing<T> {
    /// A ring whose control block starts at `base`, slots right after it.
    ///
    /// # Safety
    ///
    /// The caller guarantees that:
    /// 1. `base` is aligned to 128 and points to `CONTROL_LEN + capacity * size_of::<T>()`
    ///    bytes that stay mapped as long as `keep` lives;
    /// 2. `capacity` is a power of two and `T` is `Pod` with alignment ≤ 128.
    ///
    /// Any bytes there are acceptable (all-zero is an empty ring). Violating 1 makes
    /// ring accesses touch unmapped or foreign memory.
    #[cfg(not(shmlane_loom))]
    pub(crate) unsafe fn from_raw(
        base: NonNull<u8>,
        capacity: u64,
        keep: Arc<dyn Any + Send + Sync>,
    ) -> Self {
        assert_eq!(
            base.as_ptr() as usize % 128,
            0,
            "ring base not line-aligned"
        );
        // SAFETY: obligations 1 and 2 are the region's: 128-byte alignment covers the
        // control block and `T` (align ≤ 128, and CONTROL_LEN is a multiple of 128),
        // the bytes stay mapped, and any bytes are valid atomics and `Pod` slots.
        Self(unsafe { Region::from_raw(base, CONTROL_LEN, capacity, keep) })
    }

    /// Splits `n` slots starting at `pos` into at most two contiguous runs of slot
    /// indices `(start, len)`: the same code under loom and in production.
    ///
    /// # Panics
    ///
    /// If `n > capacity`: a real check (callers pass counts validated against the
    /// capacity; a miscount must not become a run past the ring).
    #[inline(always)]
    fn runs(&self, pos: u64, n: usize) -> [(usize, usize); 2] {
        assert!(n as u64 <= self.capacity(), "more slots than the ring has");
        let i = self.index(pos);
        let first = n.min(self.capacity() as usize - i);
        [(i, first), (0, n - first)]
    }

    /// Checks that `tail - head` is within `0..=capacity`.
    #[inline(always)]
    fn check(&self, head: u64, tail: u64) -> Result<u64, Corrupted> {
        let used = tail.wrapping_sub(head);
        if used <= self.capacity() {
            Ok(used)
        } else {
            Err(Corrupted {
                head,
                tail,
                capacity: self.capacity(),
            })
        }
    }
}

/// Copies `src` into the slots `dst` (same length): the one step that differs under
/// loom, where each slot access must go through its tracked cell.
#[inline(always)]
fn write_run<T: Copy>(dst: &[UnsafeCell<T>], src: &[T]) {
    assert_eq!(dst.len(), src.len());
    #[cfg(not(shmlane_loom))]
    // SAFETY: `dst` is a run of free slots only this producer writes (see
    // `Producer::push`), `UnsafeCell` is repr(transparent) and allows writes through a
    // shared reference; `src` is process-local, so the ranges do not overlap.
    unsafe {
        core::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_ptr().cast::<T>().cast_mut(), src.len())
    };
    #[cfg(shmlane_loom)]
    for (d, v) in dst.iter().zip(src) {
        // SAFETY: as above, one slot at a time.
        d.with_mut(|p| unsafe { p.write(*v) });
    }
}

/// Copies the slots `src` into `dst` (same length); see [`write_run`].
#[inline(always)]
fn read_run<T: Copy>(src: &[UnsafeCell<T>], dst: &mut [T]) {
    assert_eq!(dst.len(), src.len());
    #[cfg(not(shmlane_loom))]
    // SAFETY: `src` is a run of published slots the producer does not write before we
    // release them (see `Consumer::pop`); `dst` is process-local. Any bits are a `T`.
    unsafe {
        core::ptr::copy_nonoverlapping(src.as_ptr().cast::<T>(), dst.as_mut_ptr(), dst.len())
    };
    #[cfg(shmlane_loom)]
    for (s, v) in src.iter().zip(dst) {
        // SAFETY: as above, one slot at a time.
        *v = s.with(|p| unsafe { p.read() });
    }
}

/// Which end of a ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Producer,
    Consumer,
}

impl<T> RawRing<T> {
    fn endpoint(&self, side: Side) -> &crate::layout::Endpoint {
        match side {
            Side::Producer => &self.ctrl().producer,
            Side::Consumer => &self.ctrl().consumer,
        }
    }

    /// Word and owner of an endpoint.
    pub(crate) fn peer(&self, side: Side) -> (u64, Identity) {
        endpoint::load(self.endpoint(side))
    }

    /// Just the word of an endpoint (one load: the per-message disconnect check).
    #[inline]
    pub(crate) fn peer_word(&self, side: Side) -> u64 {
        // Acquire: a closed/dead status must make the peer's last publish visible.
        self.endpoint(side).word.load(Ordering::Acquire)
    }

    /// Marks `side` dead if it still holds `seen`, then wakes every waiter so they
    /// observe it. Returns whether this call did the retiring.
    pub(crate) fn retire(&self, side: Side, seen: u64) -> bool {
        let done = endpoint::mark_dead(self.endpoint(side), seen);
        self.ctrl().readable.notify();
        self.ctrl().writable.notify();
        done
    }

    /// The eventcount a waiter for `side`'s progress sleeps on.
    pub(crate) fn waits_for(&self, side: Side) -> &crate::wait::EventCount {
        match side {
            Side::Producer => &self.ctrl().readable,
            Side::Consumer => &self.ctrl().writable,
        }
    }

    /// The error for a contradiction found outside the positions (an endpoint word):
    /// the positions as they are now, for the report.
    pub(crate) fn corrupted(&self) -> Corrupted {
        Corrupted {
            // Relaxed: read for an error message only.
            head: self.ctrl().head.load(Ordering::Relaxed),
            tail: self.ctrl().tail.load(Ordering::Relaxed),
            capacity: self.capacity(),
        }
    }

    /// A second handle to the same memory (no endpoint claimed).
    pub(crate) fn share(&self) -> Self {
        Self(self.0.share())
    }
}

/// Creates a ring on the heap and returns its two ends.
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = shmlane::ring::spsc::heap::<u32>(2).unwrap();
/// tx.push(7).unwrap();
/// assert_eq!(rx.pop(), Ok(7));
/// assert!(shmlane::ring::spsc::heap::<u32>(3).is_err()); // not a power of two
/// ```
pub fn heap<T: Pod + Send>(capacity: usize) -> Result<(Producer<T>, Consumer<T>), CreateError> {
    let me = heap_identity();
    let raw = RawRing::<T>::heap(capacity as u64)?;
    let twin = raw.share();
    let p = Producer::attach(raw, me, |_| true).expect("fresh endpoint");
    let c = Consumer::attach(twin, me, |_| true).expect("fresh endpoint");
    Ok((p, c))
}

/// A ring on the heap whose ends can be claimed, dropped and claimed again, like a
/// shared ring's ends by successive processes: for tests, fuzzing and hand-overs
/// between threads. [`heap`] is the usual way to get both ends at once.
///
/// # Examples
///
/// ```
/// let ring = shmlane::ring::spsc::HeapRing::<u32>::new(4).unwrap();
/// let mut tx = ring.producer().unwrap();
/// assert!(ring.producer().is_err()); // one producer at a time
/// tx.push(1).unwrap();
/// drop(tx);
/// let mut rx = ring.consumer().unwrap();
/// ring.producer().unwrap().push(2).unwrap(); // a new producer resumes at tail
/// assert_eq!((rx.pop(), rx.pop()), (Ok(1), Ok(2)));
/// ```
pub struct HeapRing<T>(RawRing<T>);

impl<T> core::fmt::Debug for HeapRing<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("HeapRing").field(&self.0).finish()
    }
}

impl<T: Pod + Send> HeapRing<T> {
    /// An empty ring of `capacity` slots (a power of two), no end claimed.
    pub fn new(capacity: usize) -> Result<Self, CreateError> {
        RawRing::heap(capacity as u64).map(Self)
    }

    /// Claims the producer end (`EndpointBusy` while another `Producer` holds it).
    pub fn producer(&self) -> Result<Producer<T>, crate::error::ClaimError> {
        Producer::attach(self.0.share(), heap_identity(), |_| true)
    }

    /// Claims the consumer end (`EndpointBusy` while another `Consumer` holds it).
    pub fn consumer(&self) -> Result<Consumer<T>, crate::error::ClaimError> {
        Consumer::attach(self.0.share(), heap_identity(), |_| true)
    }

    /// Overwrites the shared positions `(tail, head)`, as a hostile or buggy peer
    /// could write a shared ring's (for tests: every call must then behave or report
    /// [`Corrupted`]).
    #[doc(hidden)]
    pub fn scribble_positions(&self, tail: Option<u64>, head: Option<u64>) {
        // Relaxed: a test's stand-in for a foreign write; nothing is published by it.
        if let Some(t) = tail {
            self.0.ctrl().tail.store(t, Ordering::Relaxed);
        }
        if let Some(h) = head {
            self.0.ctrl().head.store(h, Ordering::Relaxed);
        }
    }
}

/// The owner recorded for a heap ring's ends: this process (ends held by one process's
/// threads; the claim never asks whether it is alive).
fn heap_identity() -> Identity {
    Identity {
        pid: std::process::id(),
        start: 0,
    }
}

/// The producing end of an SPSC ring.
///
/// # Examples
///
/// ```
/// let (mut tx, _rx) = shmlane::ring::spsc::heap::<u8>(2).unwrap();
/// assert_eq!(tx.push_slice(b"abc"), Ok(2)); // only two slots
/// assert!(tx.push(b'd').is_err());
/// ```
pub struct Producer<T> {
    ring: RawRing<T>,
    /// Next position to write; authoritative copy of `ctrl.tail`.
    tail: u64,
    /// Last `ctrl.head` seen; may lag behind the real one.
    cached_head: u64,
    /// Our endpoint word, to release on drop.
    word: u64,
}

impl<T> core::fmt::Debug for RawRing<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("RawRing").field(&self.0).finish()
    }
}

impl<T> core::fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Producer")
            .field("tail", &self.tail)
            .field("capacity", &self.ring.capacity())
            .finish()
    }
}

impl<T: Pod> Producer<T> {
    /// Claims the producer endpoint of `ring` for `me`.
    pub(crate) fn attach(
        ring: RawRing<T>,
        me: Identity,
        is_alive: impl Fn(Identity) -> bool,
    ) -> Result<Self, crate::error::ClaimError> {
        let word = endpoint::claim(&ring.ctrl().producer, me, is_alive)?;
        // Our notifies may then skip their fence (`primitive::membarrier`).
        crate::primitive::membarrier::register();
        // Acquire: the claim's AcqRel already ordered us after the previous owner.
        let tail = ring.ctrl().tail.load(Ordering::Acquire);
        // Not the shared `head`: it is unchecked (a previous owner or a peer may have
        // left anything). A cache that says "full" makes the first call that needs
        // room refresh, which validates the real `head` against our `tail`. This keeps
        // the invariant `tail - cached_head <= capacity` that `free` relies on.
        let cached_head = tail.wrapping_sub(ring.capacity());
        Ok(Self {
            ring,
            tail,
            cached_head,
            word,
        })
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.ring.capacity() as usize
    }

    /// Free slots, refreshing the consumer's position.
    pub fn slots(&mut self) -> Result<usize, Corrupted> {
        self.refresh()?;
        Ok((self.ring.capacity() - self.tail.wrapping_sub(self.cached_head)) as usize)
    }

    /// Reloads `head` and validates it.
    #[inline]
    fn refresh(&mut self) -> Result<(), Corrupted> {
        // Acquire — SYNC POINT: pairs with the Release store of head in `Consumer::publish`,
        // so the consumer's reads of those slots happen before our overwrites.
        let head = self.ring.ctrl().head.load(Ordering::Acquire);
        self.ring.check(head, self.tail)?;
        self.cached_head = head;
        Ok(())
    }

    /// Free slots according to the cache, refreshing only if fewer than `want`.
    ///
    /// No underflow: `cached_head` is only ever a validated `head` (`refresh`) or the
    /// "full" value `attach` starts from, and `tail` advances by at most the free
    /// count, so `tail - cached_head <= capacity` always holds.
    #[inline(always)]
    fn free(&mut self, want: u64) -> Result<u64, Corrupted> {
        let mut free = self.ring.capacity() - self.tail.wrapping_sub(self.cached_head);
        if free < want {
            self.refresh()?;
            free = self.ring.capacity() - self.tail.wrapping_sub(self.cached_head);
        }
        Ok(free)
    }

    #[inline(always)]
    fn publish(&mut self, n: u64) {
        self.tail = self.tail.wrapping_add(n);
        // Release — SYNC POINT: pairs with the Acquire load of tail in `Consumer::refresh`;
        // makes the slot writes visible before the new tail.
        self.ring.ctrl().tail.store(self.tail, Ordering::Release);
        self.ring.ctrl().readable.notify();
    }

    /// Appends one value, or gives it back if the ring is full.
    #[inline]
    pub fn push(&mut self, value: T) -> Result<(), PushError<T>> {
        match self.free(1) {
            Ok(0) => return Err(PushError::Full(value)),
            Ok(_) => {}
            Err(c) => return Err(PushError::Corrupted(value, c)),
        }
        let slot = self.ring.slot(self.tail);
        // SAFETY: the slot at `tail` is free: the consumer has released it (free >= 1,
        // head refreshed with Acquire), and only this producer writes slots.
        slot.with_mut(|p| unsafe { p.write(value) });
        self.publish(1);
        Ok(())
    }

    /// Appends as many values from `src` as fit; returns how many.
    #[inline]
    pub fn push_slice(&mut self, src: &[T]) -> Result<usize, Corrupted> {
        let n = self.free(src.len() as u64)?.min(src.len() as u64) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.copy_in(&src[..n]);
        self.publish(n as u64);
        Ok(n)
    }

    /// Writes `src` (at most the free count) into the slots from `tail` on.
    #[inline]
    fn copy_in(&mut self, src: &[T]) {
        let mut done = 0;
        for (i, len) in self.ring.runs(self.tail, src.len()) {
            write_run(self.ring.run(i, len), &src[done..done + len]);
            done += len;
        }
    }

    /// Borrows `n` free slots in place; write them, then [`WriteChunk::commit`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = shmlane::ring::spsc::heap::<u32>(4).unwrap();
    /// let mut chunk = tx.write_chunk(3).unwrap();
    /// let (a, b) = chunk.as_mut_slices();
    /// for (i, x) in a.iter_mut().chain(b).enumerate() { *x = i as u32 * 10; }
    /// chunk.commit_all();
    /// assert_eq!(rx.pop(), Ok(0));
    /// assert_eq!(rx.pop(), Ok(10));
    /// ```
    pub fn write_chunk(&mut self, n: usize) -> Result<WriteChunk<'_, T>, ChunkError> {
        let free = self.free(n as u64)?;
        if free < n as u64 {
            return Err(ChunkError::TooFewSlots(free as usize));
        }
        let runs = self.ring.runs(self.tail, n);
        Ok(Chunk::new(runs, self))
    }

    /// Checks the shared words against what this producer knows, for a caller about
    /// to wait (slow path: a few loads, never per message). `Corrupted` if
    ///
    /// * the shared `tail` is not the one this producer published (only we write it:
    ///   a consumer reading it would wait for data we never sent, while we wait for
    ///   room it never frees);
    /// * the shared `head` is out of range of our `tail`;
    /// * the consumer's endpoint word is "free" (never claimed) while `head` shows a
    ///   consumer has read: words never return to free, so nobody is there to free
    ///   room, and nobody will be told to.
    ///
    /// Waiting on a live, silent consumer passes.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, _rx) = shmlane::ring::spsc::heap::<u8>(2).unwrap();
    /// tx.push_slice(b"ab").unwrap();
    /// assert!(tx.verify().is_ok()); // full, but nothing contradicts
    /// ```
    pub fn verify(&mut self) -> Result<(), Corrupted> {
        let ctrl = self.ring.ctrl();
        // Relaxed: our own last store of `tail` is what coherence gives back unless
        // someone else wrote it; no other memory is read on the strength of it.
        let tail = ctrl.tail.load(Ordering::Relaxed);
        // Acquire: as in `refresh` (pairs with the consumer's Release of head).
        let head = ctrl.head.load(Ordering::Acquire);
        let (consumer, _) = endpoint::load(&ctrl.consumer);
        let corrupted = Corrupted {
            head,
            tail,
            capacity: self.ring.capacity(),
        };
        if tail != self.tail {
            return Err(corrupted);
        }
        self.ring.check(head, self.tail)?;
        self.cached_head = head;
        if endpoint::status(consumer) == Status::Free && head != 0 {
            return Err(corrupted);
        }
        Ok(())
    }

    /// True once the consumer has closed its end or was marked dead.
    pub fn is_abandoned(&self) -> bool {
        matches!(self.peer_status(), Status::Closed | Status::Dead)
    }

    /// The eventcount the consumer notifies after freeing slots: sleep on it when full
    /// (see [`crate::wait`] for the protocol).
    pub fn space_event(&self) -> &crate::wait::EventCount {
        &self.ring.ctrl().writable
    }

    /// The consumer endpoint's status.
    pub fn peer_status(&self) -> Status {
        endpoint::status(endpoint::load(&self.ring.ctrl().consumer).0)
    }

    #[cfg(test)]
    pub(crate) fn control(&self) -> &SpscControl {
        self.ring.ctrl()
    }

    pub(crate) fn raw(&self) -> &RawRing<T> {
        &self.ring
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        endpoint::release(&self.ring.ctrl().producer, self.word);
        self.ring.ctrl().readable.notify();
    }
}

/// The consuming end of an SPSC ring.
///
/// # Examples
///
/// ```
/// let (tx, mut rx) = shmlane::ring::spsc::heap::<u8>(2).unwrap();
/// assert!(rx.pop().is_err());
/// drop(tx);
/// assert!(rx.is_abandoned());
/// ```
pub struct Consumer<T> {
    ring: RawRing<T>,
    /// Next position to read; authoritative copy of `ctrl.head`.
    head: u64,
    /// Last `ctrl.tail` seen; may lag behind the real one.
    cached_tail: u64,
    /// Polls in a row that found the ring empty (see [`expect_next`](Self::expect_next)).
    empty_polls: u32,
    word: u64,
}

/// Empty polls in a row after which the consumer counts as waiting for a message
/// rather than catching up with a stream, and starts prefetching the next slot.
/// Measured interleaved (docs/benchmarks.md, fourth session): 0 halves single-item
/// streaming, 8 costs the ping-pong ~0.1× of the floor, 3 keeps both goals.
const PREFETCH_AFTER: u32 = 3;

impl<T> core::fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Consumer")
            .field("head", &self.head)
            .field("capacity", &self.ring.capacity())
            .finish()
    }
}

impl<T: Pod> Consumer<T> {
    /// Claims the consumer endpoint of `ring` for `me`.
    pub(crate) fn attach(
        ring: RawRing<T>,
        me: Identity,
        is_alive: impl Fn(Identity) -> bool,
    ) -> Result<Self, crate::error::ClaimError> {
        let word = endpoint::claim(&ring.ctrl().consumer, me, is_alive)?;
        // Our notifies may then skip their fence (`primitive::membarrier`).
        crate::primitive::membarrier::register();
        // Acquire: see `Producer::attach`.
        let head = ring.ctrl().head.load(Ordering::Acquire);
        let cached_tail = head;
        Ok(Self {
            ring,
            head,
            cached_tail,
            empty_polls: 0,
            word,
        })
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.ring.capacity() as usize
    }

    /// Values ready to read, refreshing the producer's position.
    pub fn available(&mut self) -> Result<usize, Corrupted> {
        self.expect_next();
        self.refresh()?;
        let ready = self.cached_tail.wrapping_sub(self.head) as usize;
        self.count_empty(ready == 0);
        Ok(ready)
    }

    /// Values ready to read now (a snapshot through `&self`: unlike
    /// [`available`](Self::available) it keeps no record of the poll).
    pub(crate) fn ready_now(&self) -> Result<usize, Corrupted> {
        // Acquire — SYNC POINT: as in `refresh`; only the count is used.
        let tail = self.ring.ctrl().tail.load(Ordering::Acquire);
        self.ring.check(self.head, tail).map(|n| n as usize)
    }

    /// Called on every poll of a waiter (every [`available`](Self::available), and a
    /// `pop` that finds the ring empty). Once the consumer has found the ring empty
    /// [`PREFETCH_AFTER`] times in a row, i.e. it waits for a message (a ping-pong)
    /// rather than catching up with a stream, it starts fetching the next slot's cache
    /// line, so that once the producer has written it the line travels here alongside
    /// `tail`'s instead of after it (the slot read that follows a new `tail` is
    /// otherwise a second, dependent cache miss). `available` issues it *before*
    /// loading `tail`, so the poll whose `tail` load sees the new value has the slot's
    /// line requested too.
    ///
    /// Not sooner: in a stream the next slot's line is often the one the producer is
    /// filling, and pulling it over after every element made the line bounce between
    /// the cores (single-item streaming fell to about half, measured).
    #[inline(always)]
    fn expect_next(&self) {
        if self.empty_polls >= PREFETCH_AFTER {
            crate::primitive::prefetch(self.ring.slot(self.head));
        }
    }

    #[inline(always)]
    fn count_empty(&mut self, empty: bool) {
        self.empty_polls = if empty {
            self.empty_polls.saturating_add(1)
        } else {
            0
        };
    }

    #[inline]
    fn refresh(&mut self) -> Result<(), Corrupted> {
        // Acquire — SYNC POINT: pairs with the Release store of tail in
        // `Producer::publish`, making the slot contents visible.
        let tail = self.ring.ctrl().tail.load(Ordering::Acquire);
        self.ring.check(self.head, tail)?;
        self.cached_tail = tail;
        Ok(())
    }

    #[inline(always)]
    fn ready(&mut self, want: u64) -> Result<u64, Corrupted> {
        let mut ready = self.cached_tail.wrapping_sub(self.head);
        if ready < want {
            self.refresh()?;
            ready = self.cached_tail.wrapping_sub(self.head);
        }
        Ok(ready)
    }

    #[inline(always)]
    fn publish(&mut self, n: u64) {
        self.empty_polls = 0;
        self.head = self.head.wrapping_add(n);
        // Release — SYNC POINT: pairs with the Acquire load of head in
        // `Producer::refresh`; our slot reads happen before the producer reuses them.
        self.ring.ctrl().head.store(self.head, Ordering::Release);
        self.ring.ctrl().writable.notify();
    }

    /// Takes the oldest value.
    #[inline]
    pub fn pop(&mut self) -> Result<T, PopError> {
        if self.ready(1)? == 0 {
            self.count_empty(true);
            self.expect_next();
            return Err(PopError::Empty);
        }
        // SAFETY: `head < tail` (validated): the producer published this slot with
        // Release and will not touch it before we advance head. Any bits are a valid T.
        let v = self.ring.slot(self.head).with(|p| unsafe { p.read() });
        self.publish(1);
        Ok(v)
    }

    /// Moves up to `dst.len()` values into `dst`; returns how many (0 if empty).
    // `#[inline]`: out of line (as the bounds-checked copy path made it), the consumer of
    // a single-item cross-process stream fell from 1.7-1.9x rtrb to 0.6-0.8x (bisected,
    // docs/benchmarks.md); inlined into the caller's receive loop it is back.
    #[inline]
    pub fn pop_into(&mut self, dst: &mut [T]) -> Result<usize, Corrupted> {
        let n = self.ready(dst.len() as u64)?.min(dst.len() as u64) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.copy_out(&mut dst[..n]);
        self.publish(n as u64);
        Ok(n)
    }

    /// Reads the slots from `head` on into `dst` (at most the ready count).
    #[inline]
    fn copy_out(&mut self, dst: &mut [T]) {
        let mut done = 0;
        for (i, len) in self.ring.runs(self.head, dst.len()) {
            read_run(self.ring.run(i, len), &mut dst[done..done + len]);
            done += len;
        }
    }

    /// Borrows up to `max` published values in place; read them, then
    /// [`ReadChunk::commit`]. Returns an empty chunk when nothing is ready.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = shmlane::ring::spsc::heap::<u32>(4).unwrap();
    /// tx.push_slice(&[1, 2, 3]).unwrap();
    /// let chunk = rx.read_chunk(8).unwrap();
    /// let (a, b) = chunk.as_slices();
    /// assert_eq!(a.len() + b.len(), 3);
    /// chunk.commit(2);
    /// assert_eq!(rx.pop(), Ok(3));
    /// ```
    pub fn read_chunk(&mut self, max: usize) -> Result<ReadChunk<'_, T>, Corrupted> {
        let n = self.ready(max as u64)?.min(max as u64) as usize;
        let runs = self.ring.runs(self.head, n);
        Ok(Chunk::new(runs, self))
    }

    /// Checks the shared words against what this consumer knows, for a caller about
    /// to wait (slow path: a few loads, never per message). `Corrupted` if
    ///
    /// * the shared `head` is not the one this consumer published (only we write it:
    ///   a producer may wait for room that is free, or overwrite unread values);
    /// * the shared `tail` is out of range of our `head`;
    /// * the producer's endpoint word is "free" (never claimed) while the positions
    ///   show a producer has written: words never return to free, so no producer is
    ///   there to publish, close or be seen dead, and the wait could never end.
    ///
    /// Waiting on a live, silent producer passes.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, mut rx) = shmlane::ring::spsc::heap::<u8>(2).unwrap();
    /// assert!(rx.verify().is_ok()); // empty, but nothing contradicts
    /// ```
    pub fn verify(&mut self) -> Result<(), Corrupted> {
        let ctrl = self.ring.ctrl();
        // Relaxed: as for `tail` in `Producer::verify`.
        let head = ctrl.head.load(Ordering::Relaxed);
        // Acquire: as in `refresh` (pairs with the producer's Release of tail).
        let tail = ctrl.tail.load(Ordering::Acquire);
        let (producer, _) = endpoint::load(&ctrl.producer);
        let corrupted = Corrupted {
            head,
            tail,
            capacity: self.ring.capacity(),
        };
        if head != self.head {
            return Err(corrupted);
        }
        self.ring.check(self.head, tail)?;
        self.cached_tail = tail;
        if endpoint::status(producer) == Status::Free && (tail | self.head) != 0 {
            return Err(corrupted);
        }
        Ok(())
    }

    /// True once the producer has closed its end or was marked dead.
    pub fn is_abandoned(&self) -> bool {
        matches!(self.peer_status(), Status::Closed | Status::Dead)
    }

    /// The eventcount the producer notifies after publishing: sleep on it when empty
    /// (see [`crate::wait`] for the protocol).
    pub fn data_event(&self) -> &crate::wait::EventCount {
        &self.ring.ctrl().readable
    }

    /// The producer endpoint's status.
    pub fn peer_status(&self) -> Status {
        endpoint::status(endpoint::load(&self.ring.ctrl().producer).0)
    }

    #[cfg(test)]
    pub(crate) fn control(&self) -> &SpscControl {
        self.ring.ctrl()
    }

    pub(crate) fn raw(&self) -> &RawRing<T> {
        &self.ring
    }

    /// The first contiguous run of ready values, borrowed in place (empty if none);
    /// release them with [`consume`](Self::consume).
    ///
    /// The slice lies in memory the producer's process maps too: see "Memory a peer can
    /// write" in the [module docs](self) for what a hostile producer can (change the
    /// values under you) and cannot (anything unsafe) do through it.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = shmlane::ring::spsc::heap::<u8>(4).unwrap();
    /// tx.push_slice(b"hey").unwrap();
    /// assert_eq!(rx.peek_slice().unwrap(), b"hey");
    /// rx.consume(2);
    /// assert_eq!(rx.peek_slice().unwrap(), b"y");
    /// ```
    #[cfg(not(shmlane_loom))]
    pub fn peek_slice(&mut self) -> Result<&[T], Corrupted> {
        let n = self.ready(u64::MAX)? as usize;
        let [(i, len), _] = self.ring.runs(self.head, n);
        Ok(as_values(self.ring.run(i, len)))
    }

    /// Releases the next `n` ready values without reading them (clamped to what is
    /// ready according to the last refresh).
    pub fn consume(&mut self, n: usize) {
        let n = (n as u64).min(self.cached_tail.wrapping_sub(self.head));
        if n > 0 {
            self.publish(n);
        }
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        endpoint::release(&self.ring.ctrl().consumer, self.word);
        self.ring.ctrl().writable.notify();
    }
}

pub use crate::error::ChunkError;

mod sealed {
    /// One end of a ring, seen by a chunk: its memory and how to advance its position
    /// (implemented by both ends).
    pub trait End<T> {
        // Crate-private type in a sealed trait: unnameable outside the crate anyway.
        #[allow(private_interfaces)]
        fn raw(&self) -> &super::RawRing<T>;
        fn publish_n(&mut self, n: u64);
    }
}

impl<T: Pod> sealed::End<T> for Producer<T> {
    #[allow(private_interfaces)] // see the trait
    fn raw(&self) -> &RawRing<T> {
        &self.ring
    }
    fn publish_n(&mut self, n: u64) {
        self.publish(n);
    }
}

impl<T: Pod> sealed::End<T> for Consumer<T> {
    #[allow(private_interfaces)] // see the trait
    fn raw(&self) -> &RawRing<T> {
        &self.ring
    }
    fn publish_n(&mut self, n: u64) {
        self.publish(n);
    }
}

/// `T` values of a run of slots, borrowed in place.
#[cfg(not(shmlane_loom))]
fn as_values<T>(run: &[UnsafeCell<T>]) -> &[T] {
    // The callers hand out published slots that a conforming producer does not write
    // before they are released (which needs `&mut` of the end, ending this borrow); a
    // hostile one can only change their values, all valid for `T: Pod`.
    // SAFETY: `UnsafeCell<T>` is repr(transparent) over `T`; the run is in bounds
    // (`Region::run`) and its slots are not written while borrowed (above).
    unsafe { core::slice::from_raw_parts(run.as_ptr().cast::<T>(), run.len()) }
}

/// Slots borrowed in place from one end of a ring: free slots from a [`Producer`]
/// ([`WriteChunk`]) or published values from a [`Consumer`] ([`ReadChunk`]). Nothing
/// is published or released unless [`commit`](Self::commit) is called.
///
/// The slots lie in memory the peer's process maps too: see "Memory a peer can write"
/// in the [module docs](self). In short, a hostile peer may change the values under
/// you (they are always valid `T`), never make a chunk reach outside the ring: its
/// length is fixed from validated positions when it is made.
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = shmlane::ring::spsc::heap::<u32>(4).unwrap();
/// let mut w = tx.write_chunk(2).unwrap();
/// w.set(0, 5);
/// w.set(1, 6);
/// w.commit_all();
/// let r = rx.read_chunk(4).unwrap();
/// assert_eq!((r.len(), r.get(0), r.get(1)), (2, 5, 6));
/// r.commit(1);
/// assert_eq!(rx.pop(), Ok(6));
/// ```
#[derive(Debug)]
pub struct Chunk<'a, T: Pod, End: sealed::End<T>> {
    /// Slot index runs `(start, len)`, fixed when the chunk is made.
    runs: [(usize, usize); 2],
    end: &'a mut End,
    _t: core::marker::PhantomData<T>,
}

/// Free slots borrowed from a [`Producer`] (see [`Producer::write_chunk`]).
pub type WriteChunk<'a, T> = Chunk<'a, T, Producer<T>>;

/// Published values borrowed from a [`Consumer`] (see [`Consumer::read_chunk`]).
pub type ReadChunk<'a, T> = Chunk<'a, T, Consumer<T>>;

impl<'a, T: Pod, End: sealed::End<T>> Chunk<'a, T, End> {
    fn new(runs: [(usize, usize); 2], end: &'a mut End) -> Self {
        Self {
            runs,
            end,
            _t: core::marker::PhantomData,
        }
    }

    /// Number of borrowed slots.
    pub fn len(&self) -> usize {
        self.runs[0].1 + self.runs[1].1
    }

    /// True if nothing was borrowed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The slot of the chunk's `k`-th element.
    ///
    /// # Panics
    ///
    /// If `k >= len()`.
    fn cell(&self, k: usize) -> &UnsafeCell<T> {
        let [(a, an), (b, bn)] = self.runs;
        let run = if k < an { (a, k) } else { (b, k - an) };
        assert!(k < an + bn, "chunk index {k} out of range");
        &self.end.raw().run(run.0, run.1 + 1)[run.1]
    }

    /// Publishes (writer) or releases (reader) the first `n` slots, clamped to the
    /// chunk length.
    pub fn commit(self, n: usize) {
        let n = n.min(self.len());
        if n > 0 {
            self.end.publish_n(n as u64);
        }
    }

    /// Commits every slot of the chunk.
    pub fn commit_all(self) {
        let n = self.len();
        self.commit(n);
    }
}

impl<T: Pod> WriteChunk<'_, T> {
    /// Writes the chunk's `k`-th slot (the same as through [`as_mut_slices`]).
    ///
    /// [`as_mut_slices`]: Self::as_mut_slices
    ///
    /// # Panics
    ///
    /// If `k >= len()`.
    pub fn set(&mut self, k: usize, value: T) {
        // SAFETY: a free slot that only this producer writes (see `Producer::push`);
        // `&mut self` keeps it unaliased here.
        self.cell(k).with_mut(|p| unsafe { p.write(value) });
    }

    /// The borrowed slots as two slices (the second is empty unless the chunk wraps).
    #[cfg(not(shmlane_loom))]
    pub fn as_mut_slices(&mut self) -> (&mut [T], &mut [T]) {
        let [(a, an), (b, bn)] = self.runs;
        let raw = self.end.raw();
        let (a, b) = (raw.run(a, an).as_ptr(), raw.run(b, bn).as_ptr());
        // `UnsafeCell` allows writes through a shared reference and is repr(transparent).
        // SAFETY: disjoint in-bounds runs (`Region::run`) of free slots only this producer
        // writes (see `Producer::push`); `&mut self` keeps them unaliased here.
        unsafe {
            (
                core::slice::from_raw_parts_mut(a.cast::<T>().cast_mut(), an),
                core::slice::from_raw_parts_mut(b.cast::<T>().cast_mut(), bn),
            )
        }
    }
}

impl<T: Pod> ReadChunk<'_, T> {
    /// Reads the chunk's `k`-th value (a copy; the same as through [`as_slices`]).
    ///
    /// [`as_slices`]: Self::as_slices
    ///
    /// # Panics
    ///
    /// If `k >= len()`.
    pub fn get(&self, k: usize) -> T {
        // SAFETY: a published slot (see `Consumer::pop`); any bits are a valid `T`.
        self.cell(k).with(|p| unsafe { p.read() })
    }

    /// The values as two slices (the second is empty unless the chunk wraps).
    ///
    /// A conforming producer never writes these slots before we commit; a hostile one
    /// can only change their (always valid, `Pod`) values, even while you read them:
    /// read each value once and validate the copy.
    #[cfg(not(shmlane_loom))]
    pub fn as_slices(&self) -> (&[T], &[T]) {
        let [(a, an), (b, bn)] = self.runs;
        let raw = self.end.raw();
        (as_values(raw.run(a, an)), as_values(raw.run(b, bn)))
    }
}

#[cfg(all(test, not(shmlane_loom)))]
mod tests;
