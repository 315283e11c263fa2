//! The pool algorithm over a shared mapping (design §1): the offsets derived from the
//! private class table ([`PoolLayout`]), and [`MappedPool`], the one place the pool's
//! mapping becomes references (descriptors, bitmap, counters, eventcounts, member
//! table, chunk bytes).
#![allow(unsafe_code)]

use super::{ChunkDesc, Class, Core, Geometry};
use crate::layout::{
    ClassDesc, Endpoint, LINE, POOL_BUSY_OFFSET, POOL_MAX_CLASSES, POOL_MEMBERS,
    POOL_MEMBERS_OFFSET, POOL_PAGE, POOL_STATE_OFFSET, POOL_WAITS_OFFSET, PoolInfo, PoolState,
    PoolWait,
};
use crate::platform::identity::Identity;
use crate::primitive::{AtomicU64, Ordering};
use crate::ring::endpoint::{self, Status};
use crate::wait::EventCount;
use core::ptr::NonNull;
use std::any::Any;
use std::sync::Arc;

fn round_up(n: u64, to: u64) -> Option<u64> {
    Some(n.checked_add(to - 1)? / to * to)
}

/// Where each part of a pool lies, in bytes from the start of the segment, derived from
/// a validated class table (never read from shared memory).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PoolLayout {
    /// The chunk descriptors (`N × 16` bytes).
    pub(crate) desc: u64,
    /// Each class's first chunk's data.
    pub(crate) data: [u64; POOL_MAX_CLASSES],
    /// The whole segment.
    pub(crate) total: u64,
}

impl PoolLayout {
    /// The layout of a pool of `geo`; `None` if it does not fit in `u64`/`usize`.
    pub(crate) fn new(geo: &Geometry) -> Option<Self> {
        let busy_end = POOL_BUSY_OFFSET.checked_add((geo.busy_words() as u64).checked_mul(8)?)?;
        let desc = round_up(busy_end, LINE)?;
        let desc_end = desc.checked_add(u64::from(geo.chunks()).checked_mul(16)?)?;
        let mut end = round_up(desc_end, POOL_PAGE)?;
        let mut data = [0u64; POOL_MAX_CLASSES];
        for (class, slot) in data.iter_mut().enumerate().take(geo.classes()) {
            let start = round_up(end, POOL_PAGE)?;
            *slot = start;
            let c = &geo.classes[class];
            end = start.checked_add(c.size.checked_mul(u64::from(c.count))?)?;
        }
        let total = round_up(end, POOL_PAGE)?;
        // Every offset must be a valid `isize` offset from the mapping's base.
        isize::try_from(total).ok()?;
        Some(Self { desc, data, total })
    }
}

/// The class table a pool's header stores, from the classes asked for.
pub(crate) fn info_of(pool_id: u64, classes: &[Class]) -> PoolInfo {
    let mut info = PoolInfo {
        pool_id,
        classes: classes.len() as u32,
        members: POOL_MEMBERS as u32,
        ..PoolInfo::default()
    };
    for (d, c) in info.class.iter_mut().zip(classes) {
        *d = ClassDesc {
            chunk_size: c.size,
            count: u64::from(c.count),
        };
    }
    info
}

/// A pool in a shared mapping: the private geometry and layout, the mapping's base,
/// and what keeps the mapping alive.
///
/// Invariant (from [`from_raw`](Self::from_raw)): `base .. base + layout.total` is
/// mapped, readable and writable, and 4096-aligned, as long as `keep` lives.
pub(crate) struct MappedPool {
    geo: Geometry,
    layout: PoolLayout,
    base: NonNull<u8>,
    _keep: Arc<dyn Any + Send + Sync>,
}

impl core::fmt::Debug for MappedPool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MappedPool")
            .field("geo", &self.geo)
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

// SAFETY: the pool's memory is shared memory accessed only through atomics and through
// chunk byte views whose exclusivity the chunk word protocol provides (see `bytes_mut`);
// the raw pointer is only an address into a mapping `_keep` holds.
unsafe impl Send for MappedPool {}
// SAFETY: as for `Send`.
unsafe impl Sync for MappedPool {}

impl MappedPool {
    /// The pool of `geo` at `base`, or `None` if its layout does not fit in `len`.
    ///
    /// # Safety
    ///
    /// `base .. base + len` must be mapped readable and writable, 4096-aligned, for as
    /// long as `keep` lives, and hold a pool segment (any bytes: every shared word is
    /// an atomic, valid for any bits).
    pub(crate) unsafe fn from_raw(
        base: NonNull<u8>,
        len: u64,
        geo: Geometry,
        keep: Arc<dyn Any + Send + Sync>,
    ) -> Option<Self> {
        let layout = PoolLayout::new(&geo)?;
        if layout.total > len || !(base.as_ptr() as usize).is_multiple_of(POOL_PAGE as usize) {
            return None;
        }
        Some(Self {
            geo,
            layout,
            base,
            _keep: keep,
        })
    }

    /// `count` values of `T` at `offset`.
    fn at<T>(&self, offset: u64, count: usize) -> &[T] {
        debug_assert!(offset + (count * core::mem::size_of::<T>()) as u64 <= self.layout.total);
        debug_assert!(offset.is_multiple_of(core::mem::align_of::<T>() as u64));
        // Every caller passes an offset and count of the derived layout, aligned for `T`
        // (lines and pages from a page-aligned base); `T` is atomics only.
        // SAFETY: inside the mapping (`from_raw` checked `total <= len`), which lives as
        // long as `self` (`_keep`); aligned; atomics are valid for any bits.
        unsafe {
            core::slice::from_raw_parts(self.base.as_ptr().add(offset as usize).cast::<T>(), count)
        }
    }

    /// The private geometry.
    pub(crate) fn geometry(&self) -> &Geometry {
        &self.geo
    }

    /// The algorithm over this mapping.
    pub(crate) fn core(&self) -> Core<'_> {
        let chunks: &[ChunkDesc] = self.at(self.layout.desc, self.geo.chunks() as usize);
        let busy: &[AtomicU64] = self.at(POOL_BUSY_OFFSET, self.geo.busy_words());
        Core::new(&self.geo, chunks, busy)
    }

    /// The pool-wide counters.
    pub(crate) fn state(&self) -> &PoolState {
        &self.at::<PoolState>(POOL_STATE_OFFSET, 1)[0]
    }

    /// The eventcount blocked allocations of `class` sleep on (`class < classes`).
    pub(crate) fn wait(&self, class: usize) -> &EventCount {
        &self.at::<PoolWait>(POOL_WAITS_OFFSET, POOL_MAX_CLASSES)[class].0
    }

    /// The member table.
    pub(crate) fn members(&self) -> &[Endpoint] {
        self.at(POOL_MEMBERS_OFFSET, POOL_MEMBERS)
    }

    /// Address and size of chunk `index`'s bytes, `None` out of range.
    fn chunk(&self, index: u32) -> Option<(*mut u8, usize)> {
        let class = self.geo.class_of(index)?;
        let c = &self.geo.classes[class];
        let offset = self.layout.data[class] + u64::from(index - c.first) * c.size;
        // SAFETY: inside class `class`'s data, which lies inside the mapping (derived
        // layout, `total <= len`).
        let ptr = unsafe { self.base.as_ptr().add(offset as usize) };
        Some((ptr, c.size as usize))
    }

    /// The first `len` bytes of chunk `index` (clamped to the chunk size), read-only.
    ///
    /// For a chunk this process holds `FROZEN` (its bit pins the chunk: nobody may
    /// write it). A scribbled chunk word can break that (design §3 "Hostile memory"):
    /// then the bytes are garbled, never outside the chunk.
    pub(crate) fn bytes(&self, index: u32, len: usize) -> &[u8] {
        let Some((ptr, size)) = self.chunk(index) else {
            return &[];
        };
        // SAFETY: `ptr .. ptr + min(len, size)` is inside the mapping (`chunk`), which
        // lives as long as `self`; u8 is valid for any bits; read-only by the protocol
        // above (a peer's racing write garbles bytes, as for ring slots).
        unsafe { core::slice::from_raw_parts(ptr, len.min(size)) }
    }

    /// The first `len` bytes of chunk `index` (clamped), writable.
    ///
    /// Only for the one writer: a `BufMut` of a chunk this process CASed to
    /// `WRITING(g, {m})`, which no one else may join, read or write until it is
    /// released or frozen, and of which this process forms one view at a time (the
    /// `BufMut` borrows it mutably).
    #[allow(clippy::mut_from_ref)] // exclusivity is the chunk word's, see above
    pub(crate) fn bytes_mut(&self, index: u32, len: usize) -> &mut [u8] {
        let Some((ptr, size)) = self.chunk(index) else {
            return &mut [];
        };
        // SAFETY: in bounds as in `bytes`; exclusive by the protocol above.
        unsafe { core::slice::from_raw_parts_mut(ptr, len.min(size)) }
    }

    /// Wakes the waiters of every class (after releases whose classes we did not
    /// track: an adoption).
    pub(crate) fn wake_all(&self) {
        for class in 0..self.geo.classes() {
            self.wait(class).notify_fenced();
        }
    }

    /// Member entry `entry`, just taken by the claim CAS that stored `mine`: releases
    /// every hold of its previous owner (counted in `reclaimed`; a freed chunk wakes its
    /// class's waiters), then releases the entry. Returns the chunks freed.
    fn adopt_entry(&self, entry: usize, mine: u64) -> usize {
        // A death here leaves the entry naming us: the next recovery adopts it from us
        // (design §3 row 10).
        crate::fault::point("pool.adopt.after_claim");
        let mut freed = 0;
        if let Ok(a) = self.core().adopt(entry as u32) {
            let state = self.state();
            // Relaxed: statistics.
            state
                .reclaimed
                .fetch_add(u64::from(a.released), Ordering::Relaxed);
            state
                .corrupt
                .fetch_add(u64::from(a.corrupted), Ordering::Relaxed);
            if a.freed > 0 {
                self.wake_all();
            }
            freed = a.freed as usize;
        }
        endpoint::release(&self.members()[entry], mine);
        freed
    }

    /// Releases the holds of dead members (design §3 "Recover"), as `me`, never
    /// touching entry `skip` (the caller's own): each entry `attached` to an owner
    /// `is_alive` calls dead (unknown = alive), or marked `dead`, is adopted by the
    /// claim CAS (one winner), its bits cleared, the entry released. Then the bits of
    /// entries nobody owns (free or closed: only a scribble or a forked copy leaves
    /// them) are adopted from the vacant word. Returns the chunks freed.
    pub(crate) fn recover(
        &self,
        me: Identity,
        skip: Option<u32>,
        is_alive: impl Fn(Identity) -> bool,
    ) -> usize {
        self.recover_owning(me, skip, None, is_alive)
    }

    /// [`recover`](Self::recover), knowing `ours` (when `Some`): the mask of the
    /// entries this process's handles own. An entry attached to `me` outside `ours` is
    /// false (a scribble or a stale copy of our identity) and adopted like a dead
    /// one. The caller keeps `ours` exact for the whole call (no claim of ours races).
    pub(crate) fn recover_owning(
        &self,
        me: Identity,
        skip: Option<u32>,
        ours: Option<u32>,
        is_alive: impl Fn(Identity) -> bool,
    ) -> usize {
        let members = self.members();
        let mut freed = 0;
        for (entry, ep) in members.iter().enumerate() {
            if skip == Some(entry as u32) {
                continue;
            }
            let (word, owner) = endpoint::load(ep);
            let dead = match endpoint::status(word) {
                Status::Attached => match ours {
                    Some(ours) if owner == me => ours & (1 << entry) == 0,
                    _ => !is_alive(owner),
                },
                Status::Dead => true,
                Status::Free | Status::Closed => false,
            };
            if !dead {
                continue;
            }
            let mine = endpoint::pack(me, Status::Attached);
            // AcqRel: acquire the dead owner's last writes; one claimant wins.
            if ep
                .word
                .compare_exchange(word, mine, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                freed += self.adopt_entry(entry, mine);
            }
        }
        let core = self.core();
        let mut orphans = 0u32;
        for index in 0..self.geo.chunks() {
            if let Ok(c) = core.chunk(index) {
                orphans |= c.holders;
            }
        }
        if let Some(m) = skip {
            orphans &= !(1u32 << m);
        }
        while orphans != 0 {
            let entry = orphans.trailing_zeros() as usize;
            orphans &= orphans - 1;
            if let Some(mine) = endpoint::claim_vacant(&members[entry], me) {
                freed += self.adopt_entry(entry, mine);
            }
        }
        freed
    }
}
