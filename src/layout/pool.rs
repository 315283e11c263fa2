//! The buffer pool's segment layout (kind [`SegmentKind::Pool`](super::SegmentKind::Pool),
//! design `docs/design/buffer-pool.md` §1). Fixed-offset parts only: the class table
//! ([`PoolInfo`]), the counters, the per-class eventcounts and the member table. The
//! offsets that depend on the class table (bitmap, chunk descriptors, chunk data) are
//! derived from the opener's private copy of the table by `ring::pool::mapped`
//! (`PoolLayout`), never stored.
//!
//! ```text
//! 256 + 0     PoolInfo (256 bytes)                  creator, before READY; immutable
//! 256 + 256   PoolState (one line)                  counters, Relaxed
//! 256 + 384   waits: [Line<EventCount>; 8]          one per class
//! 256 + 1408  members: [Endpoint; 32]               the endpoint claim protocol
//! 256 + 1920  busy bitmap, all classes, ⌈count/64⌉ words each, contiguous, padded to a line
//! next line   ChunkDesc (16 bytes) × N, padded to a page
//! next page   chunk data, class 0 first, each class on a page
//! ```

use super::{ElemDesc, LINE};
use crate::primitive::AtomicU64;
use crate::wait::EventCount;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Most size classes of one pool.
pub const POOL_MAX_CLASSES: usize = 8;
/// Member entries of one pool (one holder bit each in the chunk word).
pub const POOL_MEMBERS: usize = 32;
/// Page size the layout aligns the descriptor end and each class's data to (fixed, not
/// the machine's: the layout must be the same for every opener).
pub const POOL_PAGE: u64 = 4096;
/// The type name the header of a pool records (its element is "1 byte, align 128").
pub const POOL_TYPE_NAME: &str = "shmlane::pool";

/// Offset of [`PoolInfo`] from the start of the segment.
pub const POOL_INFO_OFFSET: u64 = super::HEADER_LEN;
/// Bytes reserved for [`PoolInfo`] (two lines).
pub const POOL_INFO_LEN: u64 = 2 * LINE;
/// Offset of [`PoolState`].
pub const POOL_STATE_OFFSET: u64 = POOL_INFO_OFFSET + POOL_INFO_LEN;
/// Offset of the per-class eventcounts (`[Line<EventCount>; 8]`).
pub const POOL_WAITS_OFFSET: u64 = POOL_STATE_OFFSET + LINE;
/// Offset of the member table (`[Endpoint; 32]`, packed).
pub const POOL_MEMBERS_OFFSET: u64 = POOL_WAITS_OFFSET + POOL_MAX_CLASSES as u64 * LINE;
/// Offset of the free-hint bitmap (all classes).
pub const POOL_BUSY_OFFSET: u64 = POOL_MEMBERS_OFFSET + POOL_MEMBERS as u64 * 16;

/// One class of the table: `count` chunks of `chunk_size` bytes.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct ClassDesc {
    /// Chunk size in bytes (a positive multiple of 128).
    pub chunk_size: u64,
    /// Chunks in the class (≥ 1).
    pub count: u64,
}

/// The pool's immutable description, written by the creator before the segment is
/// `READY` and copied out (volatile) by every opener, which validates its copy.
///
/// # Examples
///
/// ```
/// use shmlane::layout::PoolInfo;
/// assert_eq!(core::mem::size_of::<PoolInfo>(), 152);
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct PoolInfo {
    /// The pool's identity: 64 random bits fixed at create (a handle's `pool` field).
    pub pool_id: u64,
    /// Classes in use in [`class`](Self::class) (`1..=8`; equals the header's `param`).
    pub classes: u32,
    /// Member entries ([`POOL_MEMBERS`]).
    pub members: u32,
    /// Zero.
    pub reserved: u64,
    /// The class table; entries at and past `classes` are zero.
    pub class: [ClassDesc; POOL_MAX_CLASSES],
}

/// Pool-wide counters (Relaxed: statistics, nothing is decided on them).
#[repr(C)]
#[derive(Debug)]
pub struct PoolState {
    /// Sweeps run.
    pub sweeps: AtomicU64,
    /// Holds of dead members released.
    pub reclaimed: AtomicU64,
    /// Illegal chunk words seen by sweeps and recoveries.
    pub corrupt: AtomicU64,
}

/// The eventcount blocked allocations of one class sleep on.
pub type PoolWait = super::Line<EventCount>;

/// The element description a pool's header carries: `"shmlane::pool"`, size 1, align 128.
///
/// # Examples
///
/// ```
/// let d = shmlane::layout::pool_elem();
/// assert_eq!((d.size, d.align, d.name), (1, 128, "shmlane::pool"));
/// ```
pub fn pool_elem() -> ElemDesc {
    ElemDesc::named(POOL_TYPE_NAME, 1, 128)
}

const _: () = {
    assert!(core::mem::size_of::<PoolInfo>() as u64 <= POOL_INFO_LEN);
    assert!(core::mem::size_of::<ClassDesc>() == 16);
    assert!(POOL_INFO_OFFSET.is_multiple_of(LINE));
    assert!(POOL_BUSY_OFFSET == HEADER_PLUS_1920);
    #[cfg(not(shmlane_loom))]
    assert!(core::mem::size_of::<PoolState>() as u64 <= LINE);
    #[cfg(not(shmlane_loom))]
    assert!(core::mem::size_of::<PoolWait>() as u64 == LINE);
    #[cfg(not(shmlane_loom))]
    assert!(core::mem::size_of::<super::Endpoint>() == 16);
};
/// Design §1: the bitmap starts 1920 bytes after the header.
const HEADER_PLUS_1920: u64 = super::HEADER_LEN + 1920;
