//! The memory a ring lives in, once for every ring kind: a control block `C` followed
//! by `capacity` slots `S`, on the heap or in a shared mapping, kept alive by an owner.
//!
//! The ring kinds ([`spsc`](super::spsc), [`mpmc`](super::mpmc)) wrap a [`Region`] and
//! add their protocol (and the `Send`/`Sync` that protocol justifies); this module only
//! turns positions into slot references without ever leaving the region.

use core::ptr::NonNull;
use std::any::Any;
use std::sync::Arc;

/// A control block plus `capacity` slots, valid as long as `keep` lives.
///
/// Invariants (established by the constructors):
/// 1. `ctrl` points to a valid, initialized `C` for as long as `keep` lives;
/// 2. `slots` points to `capacity` consecutive, initialized `S`, valid as long as
///    `keep` lives, with provenance over all of them;
/// 3. `capacity` is a power of two.
///
/// (Crate-internal, so its example is the unit test below: positions wrap, a shared
/// handle keeps the memory alive.)
pub(crate) struct Region<C, S> {
    ctrl: NonNull<C>,
    slots: NonNull<S>,
    capacity: u64,
    keep: Arc<dyn Any + Send + Sync>,
}

/// A heap region's storage. Apart from [`Region::heap`] taking the region's pointers
/// from it, nothing ever reads it: it is held only so that it can be dropped.
struct Owned<C, S> {
    ctrl: Box<C>,
    slots: Box<[S]>,
}

// SAFETY: `Owned`'s fields are private to this module, and the only access through a
// shared `&Owned` is `heap` deriving the region's pointers once; the threads that do
// touch the memory go through those pointers, the ring's protocol and its own
// `Send`/`Sync` claims. (`Send` is derived: it needs `C: Send` and `S: Send`, as
// dropping them on another thread does.)
unsafe impl<C, S> Sync for Owned<C, S> {}

impl<C: Send + 'static, S: Send + 'static> Region<C, S> {
    /// A region over a heap control block and slots.
    ///
    /// # Panics
    ///
    /// If `slots.len()` is not a power of two (the callers check capacities first).
    pub(crate) fn heap(ctrl: Box<C>, slots: Box<[S]>) -> Self {
        assert!(
            slots.len().is_power_of_two(),
            "capacity checked by the caller"
        );
        let capacity = slots.len() as u64;
        // The boxes move into their final place first: pointers taken before a move of
        // a `Box` would be invalidated by it (Miri's Stacked Borrows says so).
        let owned = Arc::new(Owned { ctrl, slots });
        let ctrl = NonNull::from(&*owned.ctrl);
        // From the whole slice, not its first element: the pointer must carry provenance
        // for every slot (Miri's Stacked Borrows caught the element-0 version).
        let slots = NonNull::from(&*owned.slots).cast::<S>();
        Self {
            ctrl,
            slots,
            capacity,
            keep: owned,
        }
    }
}

impl<C, S> Region<C, S> {
    /// A region whose control block starts at `base`, slots at `base + control_len`.
    ///
    /// # Safety
    ///
    /// The caller guarantees that:
    /// 1. `base` is aligned for `C` and `S`, and `base + control_len` is aligned for
    ///    `S`; the `control_len + capacity * size_of::<S>()` bytes from `base` stay
    ///    mapped, readable and writable, as long as `keep` lives;
    /// 2. `control_len >= size_of::<C>()`, and every bit pattern there is a valid `C`
    ///    and a valid `S` (control blocks and slots of atomics and `Pod` values);
    /// 3. `capacity` is a power of two.
    ///
    /// Violating 1 makes ring accesses touch unmapped or foreign memory.
    #[cfg(not(shmlane_loom))]
    pub(crate) unsafe fn from_raw(
        base: NonNull<u8>,
        control_len: u64,
        capacity: u64,
        keep: Arc<dyn Any + Send + Sync>,
    ) -> Self {
        // Real checks (once per handle, never per message): a zero capacity would make
        // the index mask all ones, and the others guard the control block's accesses.
        assert!(capacity.is_power_of_two(), "ring capacity {capacity}");
        assert!(control_len as usize >= core::mem::size_of::<C>());
        assert_eq!(base.as_ptr() as usize % core::mem::align_of::<C>(), 0);
        // SAFETY: in bounds of the mapped bytes per obligation 1.
        let slots = unsafe { base.add(control_len as usize) }.cast::<S>();
        assert_eq!(slots.as_ptr() as usize % core::mem::align_of::<S>(), 0);
        Self {
            ctrl: base.cast(),
            slots,
            capacity,
            keep,
        }
    }

    /// The control block.
    #[inline(always)]
    pub(crate) fn ctrl(&self) -> &C {
        // SAFETY: invariant 1; `&self` keeps `keep`, hence the memory, alive.
        unsafe { self.ctrl.as_ref() }
    }

    /// Number of slots (a power of two).
    #[inline(always)]
    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The slot index of position `pos`: `pos` masked, so always `< capacity`.
    #[inline(always)]
    pub(crate) fn index(&self, pos: u64) -> usize {
        (pos & (self.capacity - 1)) as usize
    }

    /// The slot of position `pos` (any `pos`: it is masked).
    #[inline(always)]
    pub(crate) fn slot(&self, pos: u64) -> &S {
        let i = self.index(pos);
        debug_assert!((i as u64) < self.capacity);
        // SAFETY: `i < capacity` by masking (invariant 3), so in bounds (invariant 2);
        // `&self` keeps the memory alive.
        unsafe { self.slots.add(i).as_ref() }
    }

    /// The `len` contiguous slots from index `i` (not a position: no wrap).
    ///
    /// # Panics
    ///
    /// If the run does not lie inside the region (`i + len > capacity`). A real check,
    /// not a debug assertion: it is what keeps a miscomputed length from addressing
    /// memory past the ring. Callers pass lengths validated against `capacity`, so it
    /// never fires on any input a peer can write.
    #[inline(always)]
    pub(crate) fn run(&self, i: usize, len: usize) -> &[S] {
        assert!(
            i as u64 <= self.capacity && len as u64 <= self.capacity - i as u64,
            "slot run outside the region"
        );
        // SAFETY: `i + len <= capacity` (checked above), so the run is in bounds
        // (invariant 2, whose pointer has provenance over every slot); `&self` keeps
        // the memory alive.
        unsafe { core::slice::from_raw_parts(self.slots.add(i).as_ptr(), len) }
    }

    /// A second handle on the same memory.
    pub(crate) fn share(&self) -> Self {
        Self {
            keep: self.keep.clone(),
            ..*self
        }
    }
}

impl<C, S> core::fmt::Debug for Region<C, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Region")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(shmlane_loom)))]
mod tests {
    use super::*;

    #[test]
    fn positions_wrap_inside_the_region() {
        let r = Region::heap(Box::new(7u64), vec![10u8, 11, 12, 13].into_boxed_slice());
        assert_eq!(*r.ctrl(), 7);
        assert_eq!(r.capacity(), 4);
        for pos in [0u64, 5, 6, 7, u64::MAX] {
            assert_eq!(*r.slot(pos), 10 + (pos % 4) as u8);
        }
        assert_eq!(r.run(1, 3), &[11, 12, 13]);
        assert!(r.run(4, 0).is_empty());
        let twin = r.share();
        drop(r);
        assert_eq!(*twin.slot(9), 11, "the twin keeps the memory alive");
    }

    #[test]
    #[should_panic(expected = "slot run outside the region")]
    fn a_run_past_the_end_is_refused() {
        let r = Region::heap(Box::new(0u8), vec![0u8; 4].into_boxed_slice());
        let _ = r.run(3, 2);
    }
}
