//! The shared mapping: a file descriptor (shm object or memfd) mapped read-write with
//! memmap2. The only code that turns mapping addresses into references.
#![allow(unsafe_code)]

use crate::layout::{CONTROL_LEN, HEADER_LEN, LINE, LIVE_OFFSET, SegmentHeader, SegmentLive};
use crate::primitive::AtomicU64;
use crate::ring::spsc::RawRing;
use core::ptr::NonNull;
use memmap2::MmapRaw;
use std::fs::File;
use std::sync::Arc;
use zerocopy::IntoBytes;

/// A mapped segment. Invariant: `map` covers `len` bytes, `len >= HEADER_LEN`, and the
/// base is page-aligned (so 128-aligned).
#[derive(Debug)]
pub(crate) struct Mapping {
    map: MmapRaw,
    file: File,
}

impl Mapping {
    /// Maps the whole of `file`, which is `len` bytes long.
    pub(crate) fn new(file: File, len: u64) -> std::io::Result<Self> {
        let len = usize::try_from(len).map_err(|_| std::io::Error::other("segment too large"))?;
        let map = memmap2::MmapOptions::new().len(len).map_raw(&file)?;
        debug_assert!(map.len() >= HEADER_LEN as usize);
        Ok(Self { map, file })
    }

    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    pub(crate) fn len(&self) -> u64 {
        self.map.len() as u64
    }

    /// Copies the header area out of the mapping, byte by byte with volatile reads: a
    /// peer may be writing it, and we only ever look at our private copy.
    pub(crate) fn header_bytes(&self) -> [u8; HEADER_LEN as usize] {
        let mut out = [0u8; HEADER_LEN as usize];
        let base = self.map.as_ptr();
        for (i, b) in out.iter_mut().enumerate() {
            // SAFETY: i < HEADER_LEN <= mapping length (type invariant).
            *b = unsafe { base.add(i).read_volatile() };
        }
        out
    }

    /// Writes the immutable header. Only while the segment is not yet visible to others.
    pub(crate) fn write_header(&self, h: &SegmentHeader) {
        let src = h.as_bytes();
        // SAFETY: the header fits in HEADER_LEN <= mapping length; the segment is still
        // private to its creator (temporary name or unshared memfd), so no one races us.
        unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), self.map.as_mut_ptr(), src.len()) };
    }

    /// Copies a pool's [`PoolInfo`](crate::layout::PoolInfo) area out of the mapping
    /// with volatile reads, as the header is (`None` if the mapping is too short).
    pub(crate) fn pool_info_bytes(&self) -> Option<[u8; crate::layout::POOL_INFO_LEN as usize]> {
        use crate::layout::{POOL_INFO_LEN, POOL_INFO_OFFSET};
        if POOL_INFO_OFFSET + POOL_INFO_LEN > self.len() {
            return None;
        }
        let mut out = [0u8; POOL_INFO_LEN as usize];
        let base = self.map.as_ptr();
        for (i, b) in out.iter_mut().enumerate() {
            // SAFETY: POOL_INFO_OFFSET + i < POOL_INFO_OFFSET + POOL_INFO_LEN <= the
            // mapping's length (checked above).
            *b = unsafe { base.add(POOL_INFO_OFFSET as usize + i).read_volatile() };
        }
        Some(out)
    }

    /// Writes `bytes` at `offset`, if they fit. Only while the segment is not yet
    /// visible to others (a creator's initialization before `READY`).
    pub(crate) fn write_init(&self, offset: u64, bytes: &[u8]) -> bool {
        let fits = offset
            .checked_add(bytes.len() as u64)
            .is_some_and(|end| end <= self.len());
        if fits {
            // SAFETY: `offset .. offset + len` lies inside the mapping (checked above);
            // the segment is still private to its creator, so no one races us.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    bytes.as_ptr(),
                    self.map.as_mut_ptr().add(offset as usize),
                    bytes.len(),
                );
            }
        }
        fits
    }

    /// The member table of a pool segment described by `h`, if it fits this mapping.
    pub(crate) fn pool_members(
        &self,
        h: &SegmentHeader,
    ) -> Option<&[crate::layout::Endpoint; crate::layout::POOL_MEMBERS]> {
        (h.kind == crate::layout::SegmentKind::Pool as u32)
            .then(|| self.block_at(crate::layout::POOL_MEMBERS_OFFSET))
            .flatten()
    }

    /// The pool of a pool segment, shaped by the opener's private, validated `geo`;
    /// `None` if its derived layout does not fit this mapping.
    pub(crate) fn pool(
        self: &Arc<Self>,
        geo: crate::ring::pool::Geometry,
    ) -> Option<crate::ring::pool::mapped::MappedPool> {
        let base = NonNull::new(self.map.as_mut_ptr())?;
        // SAFETY: the whole mapping (`len` bytes, page-aligned base) is mapped
        // read-write as long as the `Arc` we pass as `keep` lives; every shared word
        // of a pool is an atomic, valid for any bits.
        unsafe {
            crate::ring::pool::mapped::MappedPool::from_raw(base, self.len(), geo, self.clone())
        }
    }

    /// The live header words.
    pub(crate) fn live(&self) -> &SegmentLive {
        // SAFETY: LIVE_OFFSET + size_of::<SegmentLive>() <= HEADER_LEN (asserted in
        // layout); the base is page-aligned; SegmentLive is atomics, valid for any bits.
        unsafe {
            &*self
                .map
                .as_ptr()
                .add(LIVE_OFFSET as usize)
                .cast::<SegmentLive>()
        }
    }

    /// Ring `index` of `h` as element type `T`. Checks the type against the header and
    /// the ring's extent against the mapping itself; `None` if anything disagrees.
    pub(crate) fn ring<T: bytemuck::Pod>(
        self: &Arc<Self>,
        h: &SegmentHeader,
        index: u32,
    ) -> Option<RawRing<T>> {
        let elem = crate::layout::ElemDesc::of::<T>();
        if index >= h.rings
            || h.kind == crate::layout::SegmentKind::Array as u32
            || (elem.size, elem.align, elem.fingerprint)
                != (h.elem_size, h.elem_align, h.type_fingerprint)
            || !h.capacity.is_power_of_two()
            || u64::from(elem.align) > crate::layout::MAX_ELEM_ALIGN
        {
            return None;
        }
        let offset = h
            .ring_stride
            .checked_mul(u64::from(index))?
            .checked_add(h.ring_offset)?;
        let need = h
            .capacity
            .checked_mul(u64::from(elem.size))?
            .checked_add(CONTROL_LEN)?;
        if offset % LINE != 0
            || need > h.ring_stride
            || offset.checked_add(h.ring_stride)? > self.len()
        {
            return None;
        }
        // SAFETY: offset < len (checked above), so the pointer stays inside the mapping.
        let base = unsafe { NonNull::new_unchecked(self.map.as_mut_ptr().add(offset as usize)) };
        // Checked above: base is page-aligned + a multiple of 128; control plus `capacity`
        // slots fit in the stride, which fits in the mapping; capacity is a power of two;
        // T is Pod with align <= 128. Zero bytes are a valid empty ring.
        // SAFETY: the obligations of `from_raw` hold as listed; `keep` holds the mapping.
        Some(unsafe { RawRing::from_raw(base, h.capacity, self.clone()) })
    }

    /// The queue of a `Queue` segment described by `h`, with element type `T`, or
    /// `None` if `h` does not describe one of that type that fits this mapping.
    pub(crate) fn queue<T: bytemuck::Pod>(
        self: &Arc<Self>,
        h: &SegmentHeader,
    ) -> Option<crate::ring::mpmc::QueueRing<T>> {
        use crate::layout::{QUEUE_CONTROL_LEN, SegmentKind, queue_slot_size};
        let elem = crate::layout::ElemDesc::of::<T>();
        let slot = queue_slot_size(u64::from(elem.size), u64::from(elem.align))?;
        if h.kind != SegmentKind::Queue as u32
            || (elem.size, elem.align, elem.fingerprint)
                != (h.elem_size, h.elem_align, h.type_fingerprint)
            || !h.capacity.is_power_of_two()
            || h.capacity < 2
            || u64::from(elem.align) > crate::layout::MAX_ELEM_ALIGN
            || slot != crate::ring::mpmc::slot_size::<T>()
            || !h.ring_offset.is_multiple_of(LINE)
        {
            return None;
        }
        let end = h
            .capacity
            .checked_mul(slot)?
            .checked_add(QUEUE_CONTROL_LEN)?
            .checked_add(h.ring_offset)?;
        if end > self.len() {
            return None;
        }
        // SAFETY: ring_offset < end <= len (checked above): inside the mapping.
        let base =
            unsafe { NonNull::new_unchecked(self.map.as_mut_ptr().add(h.ring_offset as usize)) };
        // SAFETY: checked above: base is page-aligned + a multiple of 128; the control
        // block and `capacity` slots of the real slot size fit in the mapping, which
        // `keep` holds; capacity is a power of two ≥ 2; T is Pod with align <= 128.
        Some(unsafe { crate::ring::mpmc::QueueRing::from_raw(base, h.capacity, self.clone()) })
    }

    /// The elements of an `Array` segment of `u32`/`u64` as atomics, or `None` if `h`
    /// does not describe one of that element type that fits this mapping.
    #[allow(dead_code)] // only unit tests since the bench harness moved to cli/
    pub(crate) fn words<W: SharedWord>(&self, h: &SegmentHeader) -> Option<&[W]> {
        let elem = W::elem();
        let len = usize::try_from(h.capacity).ok()?;
        let end = h
            .capacity
            .checked_mul(u64::from(elem.size))?
            .checked_add(h.ring_offset)?;
        if h.kind != crate::layout::SegmentKind::Array as u32
            || (elem.size, elem.align, elem.fingerprint)
                != (h.elem_size, h.elem_align, h.type_fingerprint)
            || !h.ring_offset.is_multiple_of(LINE)
            || end > self.len()
        {
            return None;
        }
        // SAFETY: `capacity` words starting at a 128-aligned offset lie inside the mapping
        // (checked above), which lives as long as `&self`; W is an atomic integer with the
        // size and alignment of the element type checked above, valid for any bits.
        Some(unsafe {
            core::slice::from_raw_parts(
                self.map.as_ptr().add(h.ring_offset as usize).cast::<W>(),
                len,
            )
        })
    }
}

/// Shared-memory control blocks: `#[repr(C)]`, atomics only (valid for any bits),
/// alignment at most 128.
pub(crate) trait ControlBlock {}
impl ControlBlock for crate::layout::SpscControl {}
impl ControlBlock for crate::layout::QueueControl {}
impl ControlBlock for crate::layout::ObjectControl {}
impl ControlBlock for [crate::layout::Endpoint; crate::layout::POOL_MEMBERS] {}

impl Mapping {
    /// The control block of type `C` at `offset`, if it lies inside the mapping at a
    /// 128-aligned offset.
    fn block_at<C: ControlBlock>(&self, offset: u64) -> Option<&C> {
        let len = core::mem::size_of::<C>() as u64;
        if !offset.is_multiple_of(LINE) || offset.checked_add(len)? > self.len() {
            return None;
        }
        // SAFETY: `len` bytes at a 128-aligned offset (the base is page-aligned) lie
        // inside the mapping (checked above), which lives as long as `&self`; `C` is
        // atomics only (ControlBlock), valid for any bits, alignment <= 128.
        Some(unsafe { &*self.map.as_ptr().add(offset as usize).cast::<C>() })
    }

    /// Control block of ring `index` of a pipe or duplex segment described by `h`, or
    /// `None` if `h` has no such ring inside this mapping. Any element type: only the
    /// control block is touched.
    pub(crate) fn control(
        &self,
        h: &SegmentHeader,
        index: u32,
    ) -> Option<&crate::layout::SpscControl> {
        use crate::layout::SegmentKind;
        let ring_kind = h.kind == SegmentKind::Pipe as u32 || h.kind == SegmentKind::Duplex as u32;
        if !ring_kind || index >= h.rings {
            return None;
        }
        self.block_at(
            h.ring_stride
                .checked_mul(u64::from(index))?
                .checked_add(h.ring_offset)?,
        )
    }

    /// Control block of a queue segment described by `h`, or `None` if `h` is not a
    /// queue or the block does not fit this mapping.
    pub(crate) fn queue_control(&self, h: &SegmentHeader) -> Option<&crate::layout::QueueControl> {
        (h.kind == crate::layout::SegmentKind::Queue as u32)
            .then(|| self.block_at(h.ring_offset))
            .flatten()
    }

    /// Control block of an `Object` segment, if `h` is one that fits this mapping.
    pub(crate) fn object_control(
        &self,
        h: &SegmentHeader,
    ) -> Option<&crate::layout::ObjectControl> {
        crate::layout::SegmentKind::from_u32(h.kind)
            .is_some_and(crate::layout::SegmentKind::is_object)
            .then(|| self.block_at(h.ring_offset))
            .flatten()
    }

    /// Start and byte length of an `Object` segment's data area (line-padded), if it
    /// fits this mapping.
    fn object_data(&self, h: &SegmentHeader) -> Option<(NonNull<u8>, u64)> {
        use crate::layout::{OBJECT_CONTROL_LEN, round_to_line};
        self.object_control(h)?;
        let start = h.ring_offset.checked_add(OBJECT_CONTROL_LEN)?;
        let bytes = round_to_line(h.capacity.checked_mul(u64::from(h.elem_size))?)?;
        if start.checked_add(bytes)? > self.len() {
            return None;
        }
        // SAFETY: start <= len (checked above), inside the mapping.
        Some((
            unsafe { NonNull::new_unchecked(self.map.as_mut_ptr().add(start as usize)) },
            bytes,
        ))
    }

    /// The elements of an `Object` segment of element type `T`, if `h` says so.
    pub(crate) fn object_elements<T: bytemuck::Pod>(
        &self,
        h: &SegmentHeader,
    ) -> Option<(NonNull<T>, usize)> {
        // Size and alignment are what memory safety needs (any bits are a valid `T`);
        // the type's identity was checked once, when the segment was opened. Hashing
        // the type name here would cost more than the lock itself.
        let (size, align) = (core::mem::size_of::<T>(), core::mem::align_of::<T>());
        if (size as u32, align as u32) != (h.elem_size, h.elem_align) || align as u64 > LINE {
            return None;
        }
        let (p, _) = self.object_data(h)?;
        Some((p.cast(), usize::try_from(h.capacity).ok()?))
    }

    /// The data area of an `Object` segment as atomic words (`W` = `AtomicU64` or
    /// `AtomicU32`), whatever its element type.
    pub(crate) fn object_words<W: SharedWord>(&self, h: &SegmentHeader) -> Option<&[W]> {
        let (p, bytes) = self.object_data(h)?;
        let n = bytes / core::mem::size_of::<W>() as u64;
        // SAFETY: the data area is `bytes` (a multiple of 128) long, 128-aligned, inside
        // the mapping (object_data), alive as long as `&self`; W is an atomic integer of
        // size and alignment 4 or 8, valid for any bits.
        Some(unsafe { core::slice::from_raw_parts(p.as_ptr().cast::<W>(), n as usize) })
    }

    /// The single element of an `Object` segment as shared-state type `S`.
    pub(crate) fn object_state<S: crate::lock::SyncState>(&self, h: &SegmentHeader) -> Option<&S> {
        // As in `object_elements`: size and alignment per call, identity at open.
        let (size, align) = (core::mem::size_of::<S>(), core::mem::align_of::<S>());
        if (size as u32, align as u32) != (h.elem_size, h.elem_align)
            || align as u64 > LINE
            || h.capacity < 1
        {
            return None;
        }
        let (p, _) = self.object_data(h)?;
        // SAFETY: one `S` (size/align checked against the header, align <= 128, area
        // 128-aligned) lies in the mapping, alive as long as `&self`; `S: SyncState`
        // is valid for any bytes and used through shared references only (atomics).
        Some(unsafe { &*p.as_ptr().cast::<S>() })
    }
}

/// Atomic integer types an `Array` segment can be viewed as.
pub(crate) trait SharedWord: Sized {
    /// Descriptor of the plain integer the atomic wraps.
    #[allow(dead_code)] // only `words`
    fn elem() -> crate::layout::ElemDesc;
}

impl SharedWord for AtomicU64 {
    fn elem() -> crate::layout::ElemDesc {
        crate::layout::ElemDesc::of::<u64>()
    }
}

impl SharedWord for crate::primitive::AtomicU32 {
    fn elem() -> crate::layout::ElemDesc {
        crate::layout::ElemDesc::of::<u32>()
    }
}
