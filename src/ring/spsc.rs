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

use crate::error::{Corrupted, CreateError};
#[cfg(not(shmlane_loom))]
use crate::layout::CONTROL_LEN;
use crate::layout::SpscControl;
use crate::platform::identity::Identity;
use crate::primitive::{Ordering, UnsafeCell};
use crate::ring::endpoint;
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

    /// The consumer's position now, unchecked: for a producer gone from the ring that
    /// still watches the consumer pass a position (the buffer carriers' parked holds).
    pub(crate) fn head_now(&self) -> u64 {
        // Acquire — SYNC POINT: pairs with the Release store of head in
        // `Consumer::publish`, so what the consumer did before passing (a join) is seen.
        self.ctrl().head.load(Ordering::Acquire)
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

impl<T> core::fmt::Debug for RawRing<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("RawRing").field(&self.0).finish()
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

mod chunk;
mod consumer;
mod heap_ring;
mod producer;

pub use chunk::{Chunk, ChunkError, ReadChunk, WriteChunk};
pub use consumer::Consumer;
pub use heap_ring::{HeapRing, heap};
pub use producer::Producer;

#[cfg(all(test, not(shmlane_loom)))]
mod tests;
