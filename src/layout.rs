//! The shared-memory ABI: every byte a peer may read, as `#[repr(C)]`, fixed-width,
//! pointer-free types with compile-time size checks.
//!
//! A segment is laid out as:
//!
//! ```text
//! 0        SegmentHeader (immutable after creation, validated with zerocopy)
//! 192      SegmentLive   (init state word)
//! 256      ring 0: SpscControl (6 lines of 128 bytes) | slots (capacity × elem_size, padded to 128)
//! 256+S    ring 1 (duplex only), same shape; S = ring_stride
//! ```
//!
//! A queue segment ([`SegmentKind::Queue`]) has one region: a [`QueueControl`] and then
//! `capacity` slots of `stamp: u64` followed by the element (see [`queue_slot_size`]).
//!
//! Bump [`FORMAT_VERSION`] on any change to this file.

use crate::primitive::{AtomicU32, AtomicU64};
use crate::wait::{Epoch, EventCount};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

mod pool;
pub use pool::*;

/// First eight bytes of every shmlane segment.
pub const MAGIC: [u8; 8] = *b"SHMLANE\0";
/// Version of this layout; an opener rejects any other.
pub const FORMAT_VERSION: u32 = 5;
/// Bytes reserved for [`SegmentHeader`] plus [`SegmentLive`]; ring 0 starts here.
pub const HEADER_LEN: u64 = 256;
/// Offset of [`SegmentLive`] inside the header area.
pub const LIVE_OFFSET: u64 = 192;
/// Cache-line size assumed for padding (two 64-byte lines: adjacent-line prefetch).
pub const LINE: u64 = 128;
/// Bytes of type name kept in the header for error messages.
pub const TYPE_NAME_LEN: usize = 64;
/// Largest element alignment a ring slot can honour (slots start on a line).
pub const MAX_ELEM_ALIGN: u64 = LINE;

/// What a segment holds. Stored as `u32` in `SegmentHeader::kind`.
///
/// # Examples
///
/// ```
/// use shmlane::layout::SegmentKind;
/// assert_eq!(SegmentKind::from_u32(1), Some(SegmentKind::Pipe));
/// assert_eq!(SegmentKind::Duplex.rings(), 2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum SegmentKind {
    /// One SPSC ring: a one-way pipe.
    Pipe = 1,
    /// Two SPSC rings, one per direction.
    Duplex = 2,
    /// One region of plain elements, no ring control (shared arrays, raw words).
    Array = 3,
    /// One MPMC queue: a `QueueControl` and stamped slots.
    Queue = 4,
    /// A [`SharedArray`](crate::sync::SharedArray): an object segment (an
    /// `ObjectControl`, i.e. a robust lock, a sequence word and a user table, then
    /// `capacity` elements, any count). Every object type has its own kind (5..=12),
    /// so one type never opens another's segment; [`is_object`](Self::is_object).
    SharedArray = 5,
    /// A [`Mutex`](crate::sync::Mutex) (object segment, one element).
    Mutex = 6,
    /// A [`SharedValue`](crate::sync::SharedValue) (object segment, one element).
    SharedValue = 7,
    /// A [`Condvar`](crate::sync::Condvar) (object segment).
    Condvar = 8,
    /// A [`Semaphore`](crate::sync::Semaphore) (object segment; `param` = bound).
    Semaphore = 9,
    /// An [`Event`](crate::sync::Event) (object segment).
    Event = 10,
    /// A [`Barrier`](crate::sync::Barrier) (object segment; `param` = parties).
    Barrier = 11,
    /// A [`Shared<S>`](crate::sync::Shared) of a user's state type (object segment).
    SharedState = 12,
    /// A [`Pool`](crate::pool::Pool) of zero-copy buffers (design
    /// `docs/design/buffer-pool.md` §1; `param` = classes, `capacity` = chunks).
    Pool = 13,
}

impl SegmentKind {
    /// Decodes a header value.
    pub fn from_u32(v: u32) -> Option<Self> {
        match v {
            1 => Some(Self::Pipe),
            2 => Some(Self::Duplex),
            3 => Some(Self::Array),
            4 => Some(Self::Queue),
            5 => Some(Self::SharedArray),
            6 => Some(Self::Mutex),
            7 => Some(Self::SharedValue),
            8 => Some(Self::Condvar),
            9 => Some(Self::Semaphore),
            10 => Some(Self::Event),
            11 => Some(Self::Barrier),
            12 => Some(Self::SharedState),
            13 => Some(Self::Pool),
            _ => None,
        }
    }

    /// True for the kinds of shared objects (`sync`): an `ObjectControl` and
    /// elements.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::layout::SegmentKind;
    /// assert!(SegmentKind::Mutex.is_object() && !SegmentKind::Pipe.is_object());
    /// ```
    pub fn is_object(self) -> bool {
        matches!(
            self,
            Self::SharedArray
                | Self::Mutex
                | Self::SharedValue
                | Self::Condvar
                | Self::Semaphore
                | Self::Event
                | Self::Barrier
                | Self::SharedState
        )
    }

    /// The name of a kind code, for messages (`"mutex"`, `"pipe"`, …; `"unknown"`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::layout::SegmentKind;
    /// assert_eq!(SegmentKind::name_of(6), "mutex");
    /// assert_eq!(SegmentKind::name_of(99), "unknown");
    /// ```
    pub fn name_of(code: u32) -> &'static str {
        match Self::from_u32(code) {
            Some(Self::Pipe) => "pipe",
            Some(Self::Duplex) => "duplex",
            Some(Self::Array) => "array",
            Some(Self::Queue) => "queue",
            Some(Self::SharedArray) => "sharedarray",
            Some(Self::Mutex) => "mutex",
            Some(Self::SharedValue) => "sharedvalue",
            Some(Self::Condvar) => "condvar",
            Some(Self::Semaphore) => "semaphore",
            Some(Self::Event) => "event",
            Some(Self::Barrier) => "barrier",
            Some(Self::SharedState) => "sharedstate",
            Some(Self::Pool) => "pool",
            None => "unknown",
        }
    }

    /// Number of regions (rings, or one element array) a segment of this kind holds.
    pub fn rings(self) -> u32 {
        match self {
            Self::Duplex => 2,
            _ => 1,
        }
    }

    /// Bytes of control block in front of each region's elements.
    pub fn control_len(self) -> u64 {
        match self {
            Self::Pipe | Self::Duplex => CONTROL_LEN,
            Self::Array | Self::Pool => 0,
            Self::Queue => QUEUE_CONTROL_LEN,
            _ => OBJECT_CONTROL_LEN,
        }
    }

    /// Bytes per slot for an element of `size` and `align`; `None` on overflow.
    pub fn slot_size(self, size: u64, align: u64) -> Option<u64> {
        match self {
            Self::Queue => queue_slot_size(size, align),
            _ => Some(size),
        }
    }
}

/// The immutable part of a segment header, written once before the segment becomes
/// visible under its name and read back (copied, then parsed by zerocopy) on open.
///
/// # Examples
///
/// ```
/// use shmlane::layout::SegmentHeader;
/// assert_eq!(core::mem::size_of::<SegmentHeader>(), 152);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct SegmentHeader {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// [`FORMAT_VERSION`].
    pub version: u32,
    /// A [`SegmentKind`].
    pub kind: u32,
    /// Length of the whole segment in bytes; must equal the file size.
    pub total_len: u64,
    /// [`HEADER_LEN`].
    pub header_len: u32,
    /// Number of rings (1 for a pipe, 2 for a duplex).
    pub rings: u32,
    /// Slots per ring; a power of two.
    pub capacity: u64,
    /// `size_of::<T>()` of the element.
    pub elem_size: u32,
    /// `align_of::<T>()` of the element.
    pub elem_align: u32,
    /// FNV-1a hash of the element's type name, size and align.
    pub type_fingerprint: u64,
    /// The element's type name, truncated, NUL-padded (for error messages only).
    pub type_name: [u8; TYPE_NAME_LEN],
    /// Creator's pid.
    pub creator_pid: u32,
    /// A kind-specific parameter fixed at creation (objects: a barrier's party count, a
    /// semaphore's bound); zero otherwise.
    pub param: u32,
    /// Creator's process start time (clock ticks after boot).
    pub creator_start: u64,
    /// Offset of ring 0's control block.
    pub ring_offset: u64,
    /// Bytes from one ring's control block to the next.
    pub ring_stride: u64,
}

/// Header words that change after creation.
#[repr(C)]
#[derive(Debug)]
pub struct SegmentLive {
    /// [`INIT_READY`] once the creator has initialized everything.
    pub init: AtomicU32,
    /// Non-zero once a handle called `persist()`: the name must outlive its creator, so
    /// the segment is never reclaimed as stale.
    pub persisted: AtomicU32,
}

/// [`SegmentLive::init`] before initialization is complete.
#[cfg_attr(not(feature = "internals"), allow(dead_code))] // for loom-tests, fuzz, benches
pub const INIT_BUILDING: u32 = 0;
/// [`SegmentLive::init`] once the segment may be used.
pub const INIT_READY: u32 = 0x5245_4144; // "READ"

/// Aligns its content to its own 128-byte line, independent of the target
/// (`CachePadded`'s alignment varies by architecture, so it is not used in mappings).
#[repr(C, align(128))]
#[derive(Debug)]
pub struct Line<T>(pub T);

impl<T> core::ops::Deref for Line<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// One endpoint (producer or consumer) of a ring: who holds it and in what state.
///
/// `word` encoding (one CAS claims or changes it, and names the owner in full):
///
/// | bits   | meaning                                                       |
/// |--------|---------------------------------------------------------------|
/// | 0..2   | status: 0 free, 1 attached, 2 closed (clean drop), 3 dead     |
/// | 2..32  | owner's process start time (clock ticks after boot) mod 2^30  |
/// | 32..64 | owner pid                                                     |
///
/// Pid plus start time identify a process even across pid reuse. They are one word so
/// that a reader can never see one owner's pid with another owner's start time (a
/// claimant stopped between two stores would look dead); see `ring::endpoint`.
#[repr(C)]
#[derive(Debug)]
pub struct Endpoint {
    /// Packed status, owner start time and pid (table above).
    pub word: AtomicU64,
    /// Zero; unused since format 4 (the start time used to be stored here, in a
    /// second store after the claim).
    pub reserved: AtomicU64,
}

/// The control block of one SPSC ring: positions, wait words and endpoints, each on its
/// own line so the producer's and consumer's hot words never share a cache line.
///
/// Positions are `u64` counters that never wrap in practice (2^64 messages); a slot is
/// `pos & (capacity - 1)`. Invariant of a healthy ring: `head <= tail <= head + capacity`
/// (wrapping arithmetic). Both sides check it on every refresh, because a peer can
/// write garbage.
#[repr(C)]
#[derive(Debug)]
pub struct SpscControl {
    /// Next position the producer writes; written only by the producer.
    pub tail: Line<AtomicU64>,
    /// Next position the consumer reads; written only by the consumer.
    pub head: Line<AtomicU64>,
    /// The consumer sleeps here waiting for data; the producer notifies after a push.
    pub readable: Line<EventCount>,
    /// The producer sleeps here waiting for space; the consumer notifies after a pop.
    pub writable: Line<EventCount>,
    /// The producer endpoint.
    pub producer: Line<Endpoint>,
    /// The consumer endpoint.
    pub consumer: Line<Endpoint>,
}

impl Default for Endpoint {
    fn default() -> Self {
        Self {
            word: AtomicU64::new(0),
            reserved: AtomicU64::new(0),
        }
    }
}

impl Default for SpscControl {
    /// An empty ring with free endpoints: the same state as all-zero bytes.
    fn default() -> Self {
        Self {
            tail: Line(AtomicU64::new(0)),
            head: Line(AtomicU64::new(0)),
            readable: Line(EventCount::new()),
            writable: Line(EventCount::new()),
            producer: Line(Endpoint::default()),
            consumer: Line(Endpoint::default()),
        }
    }
}

/// Byte size of [`SpscControl`].
pub const CONTROL_LEN: u64 = 6 * LINE;

const _: () = {
    assert!(core::mem::size_of::<SegmentHeader>() == 152);
    assert!(core::mem::size_of::<SegmentHeader>() as u64 <= LIVE_OFFSET);
    assert!(LIVE_OFFSET + core::mem::size_of::<SegmentLive>() as u64 <= HEADER_LEN);
    assert!(HEADER_LEN.is_multiple_of(LINE));
    #[cfg(not(shmlane_loom))]
    assert!(core::mem::size_of::<SpscControl>() as u64 == CONTROL_LEN);
    #[cfg(not(shmlane_loom))]
    assert!(core::mem::align_of::<SpscControl>() as u64 == LINE);
    #[cfg(not(shmlane_loom))]
    assert!(core::mem::size_of::<Endpoint>() == 16);
    #[cfg(not(shmlane_loom))]
    assert!(core::mem::size_of::<EventCount>() == 8);
    #[cfg(not(shmlane_loom))]
    assert!(core::mem::size_of::<QueueControl>() as u64 == QUEUE_CONTROL_LEN);
    #[cfg(not(shmlane_loom))]
    assert!(core::mem::size_of::<QueueMember>() == 24);
    #[cfg(not(shmlane_loom))]
    assert!(core::mem::size_of::<ObjectControl>() as u64 == OBJECT_CONTROL_LEN);
    // Format 5: the barrier's round and count in one 8-byte word, then its eventcount.
    #[cfg(not(shmlane_loom))]
    assert!(core::mem::size_of::<crate::lock::RawBarrier>() == 16);
    #[cfg(not(shmlane_loom))]
    assert!(core::mem::align_of::<crate::lock::RawBarrier>() == 8);
};

/// Endpoint table entries of a queue: at most this many handles (in all processes
/// together) use one queue at a time. Small under loom to keep the model small.
#[cfg(not(shmlane_loom))]
pub const QUEUE_MEMBERS: usize = 64;
/// Endpoint table entries of a queue (loom model).
#[cfg(shmlane_loom)]
pub const QUEUE_MEMBERS: usize = 4;

/// One handle's entry in a queue's endpoint table.
///
/// `intent` is `(position << 2) | role` while the handle is inside a put (role 1) or a
/// get (role 2) and `0` otherwise. It is written *before* the position is claimed, so a
/// survivor that sees the claim also sees who may hold it (see `ring::mpmc`).
#[repr(C)]
#[derive(Debug)]
pub struct QueueMember {
    /// Owner and status, as for a ring endpoint.
    pub ep: Endpoint,
    /// The position in hand, with its role.
    pub intent: AtomicU64,
}

/// Queue-wide state words that change rarely.
#[repr(C)]
#[derive(Debug)]
pub struct QueueState {
    /// Reserved, zero. (Closing is not recorded here: it is a bit of `tail`, so that it
    /// is atomic with respect to claims; see `ring::mpmc`.)
    pub reserved: AtomicU64,
    /// Messages a consumer took and died before returning (counted, not redelivered).
    pub lost: AtomicU64,
    /// Positions a producer claimed and died before filling (never delivered).
    pub abandoned: AtomicU64,
}

/// The control block of an MPMC queue.
///
/// Invariant of a healthy queue: `head <= tail <= head + capacity`. Slot `i` holds a
/// *stamp* relative to its index (see `ring::mpmc`), so all-zero bytes are an empty,
/// open queue with a free endpoint table.
#[repr(C)]
#[derive(Debug)]
pub struct QueueControl {
    /// Next position a producer claims (CAS).
    pub tail: Line<AtomicU64>,
    /// Next position a consumer claims (CAS).
    pub head: Line<AtomicU64>,
    /// Consumers sleep here; a put that clears `tail`'s sleeping flag wakes it.
    pub not_empty: Line<Epoch>,
    /// Producers sleep here; a get that clears `head`'s sleeping flag wakes it.
    pub not_full: Line<Epoch>,
    /// Closed flag and loss counters.
    pub state: Line<QueueState>,
    /// One entry per handle, each on its own line (a handle writes its intent per op).
    pub members: [Line<QueueMember>; QUEUE_MEMBERS],
}

impl Default for QueueControl {
    /// An empty, open queue: the same state as all-zero bytes.
    fn default() -> Self {
        Self {
            tail: Line(AtomicU64::new(0)),
            head: Line(AtomicU64::new(0)),
            not_empty: Line(Epoch::new()),
            not_full: Line(Epoch::new()),
            state: Line(QueueState {
                reserved: AtomicU64::new(0),
                lost: AtomicU64::new(0),
                abandoned: AtomicU64::new(0),
            }),
            members: core::array::from_fn(|_| {
                Line(QueueMember {
                    ep: Endpoint::default(),
                    intent: AtomicU64::new(0),
                })
            }),
        }
    }
}

/// Entries of an object's user table: at most this many opened handles (mappings, in
/// all processes together) use one object at a time.
pub const OBJECT_USERS: usize = 64;

/// The control block of an object segment ([`SegmentKind::is_object`]): the object's robust lock
/// and the sequence word of its seqlock, each on its own line, then the user table.
///
/// Each opened object (one per `create`/`open`/`from_env`; its clones share it) holds
/// one `users` entry while it lives, so a named object whose creator died is still
/// known to be in use by its other processes and is not reclaimed under them.
#[repr(C)]
#[derive(Debug)]
pub struct ObjectControl {
    /// Guards writes to the elements (arrays, mutexes, seqlock writers).
    pub lock: Line<crate::lock::RawMutex>,
    /// The seqlock sequence of a shared value (even = stable).
    pub seq: Line<AtomicU64>,
    /// Who has the object open (same protocol as a queue's endpoint table).
    pub users: Line<[Endpoint; OBJECT_USERS]>,
}

/// Byte size of [`ObjectControl`].
pub const OBJECT_CONTROL_LEN: u64 = 2 * LINE + OBJECT_USERS as u64 * 16;

/// Byte size of [`QueueControl`].
pub const QUEUE_CONTROL_LEN: u64 = (5 + QUEUE_MEMBERS as u64) * LINE;

/// Bytes of one queue slot: an 8-byte stamp, then the element at its alignment, the
/// whole padded to `max(8, align)` (the layout of `#[repr(C)] { u64, T }`).
pub const fn queue_slot_size(size: u64, align: u64) -> Option<u64> {
    let a = if align > 8 { align } else { 8 };
    match a.checked_add(size) {
        Some(end) => match end.checked_add(a - 1) {
            Some(v) => Some(v / a * a),
            None => None,
        },
        None => None,
    }
}

/// Rounds `n` up to a multiple of [`LINE`]; `None` on overflow.
pub const fn round_to_line(n: u64) -> Option<u64> {
    match n.checked_add(LINE - 1) {
        Some(v) => Some(v / LINE * LINE),
        None => None,
    }
}

/// Bytes from one region to the next: control block (if the kind has one) plus padded
/// slots. `None` if the sizes overflow.
pub fn ring_stride(kind: SegmentKind, capacity: u64, elem_size: u64, align: u64) -> Option<u64> {
    let slot = kind.slot_size(elem_size, align)?;
    round_to_line(capacity.checked_mul(slot)?)?.checked_add(kind.control_len())
}

/// Total segment length; `None` on overflow.
pub fn total_len(kind: SegmentKind, capacity: u64, elem_size: u64, align: u64) -> Option<u64> {
    ring_stride(kind, capacity, elem_size, align)?
        .checked_mul(u64::from(kind.rings()))?
        .checked_add(HEADER_LEN)
}

/// Describes a ring element type for the header: size, align, name and fingerprint.
///
/// # Examples
///
/// ```
/// use shmlane::layout::ElemDesc;
/// let d = ElemDesc::of::<u64>();
/// assert_eq!((d.size, d.align), (8, 8));
/// assert_ne!(d.fingerprint, ElemDesc::of::<i64>().fingerprint);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElemDesc {
    /// `size_of::<T>()`.
    pub size: u32,
    /// `align_of::<T>()`.
    pub align: u32,
    /// FNV-1a over name, size and align.
    pub fingerprint: u64,
    /// `type_name::<T>()`.
    pub name: &'static str,
}

impl ElemDesc {
    /// The descriptor of `T`.
    pub fn of<T>() -> Self {
        Self::named(
            core::any::type_name::<T>(),
            core::mem::size_of::<T>() as u32,
            core::mem::align_of::<T>() as u32,
        )
    }

    /// The descriptor of a type known by name only (a pool's fixed `"shmlane::pool"`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::layout::ElemDesc;
    /// assert_eq!(ElemDesc::named("u64", 8, 8), ElemDesc::of::<u64>());
    /// ```
    pub fn named(name: &'static str, size: u32, align: u32) -> Self {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name
            .bytes()
            .chain(size.to_le_bytes())
            .chain(align.to_le_bytes())
        {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        Self {
            size,
            align,
            fingerprint: h,
            name,
        }
    }

    /// The name as stored in the header (truncated to [`TYPE_NAME_LEN`], NUL-padded).
    pub fn name_bytes(&self) -> [u8; TYPE_NAME_LEN] {
        let mut out = [0u8; TYPE_NAME_LEN];
        let n = self.name.len().min(TYPE_NAME_LEN);
        out[..n].copy_from_slice(&self.name.as_bytes()[..n]);
        out
    }
}
