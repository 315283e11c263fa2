//! The places the sync layer needs `unsafe`: promising that our state types may be
//! viewed in shared memory ([`SyncState`]), handing out `&mut [T]` under a lock, and
//! the `unsafe fn` atomic views of a shared array (which must not be mixed with it).
#![allow(unsafe_code)]

use super::raw::{RawBarrier, RawCondvar, RawEvent, RawMutex, RawSemaphore};
use crate::primitive::{AtomicU32, AtomicU64};
#[cfg(not(shmlane_loom))]
use core::ptr::NonNull;
#[cfg(not(shmlane_loom))]
use {
    super::raw::Acquired, crate::layout::ObjectControl, crate::platform::identity,
    crate::ring::Identity, crate::segment::Segment, crate::wait::WaitMode, std::time::Instant,
};

/// Types that can live in shared memory and be used through `&Self` from several
/// processes at once.
///
/// # Safety
///
/// The implementor must be `#[repr(C)]`, contain no pointers or references, and consist
/// only of atomics (or arrays/structs of them), so that every bit pattern, all-zero
/// included, is a valid value and concurrent access from other processes is never a
/// data race. Plain (non-atomic) fields are **not** allowed: another process may write
/// them while we hold `&Self`.
///
/// # Examples
///
/// Embedding shmlane's primitives in a struct of your own:
///
/// ```
/// use shmlane::sync::{Shared, SyncState};
/// use shmlane::sync::raw::{RawEvent, RawMutex};
///
/// #[repr(C)]
/// #[derive(Default)]
/// struct Job {
///     lock: RawMutex,
///     done: RawEvent,
/// }
/// // SAFETY: repr(C), atomics only (the raw primitives are themselves SyncState).
/// unsafe impl SyncState for Job {}
///
/// let job = Shared::<Job>::anonymous()?;
/// job.done.set();
/// assert!(job.done.is_set());
/// # Ok::<(), shmlane::CreateError>(())
/// ```
pub unsafe trait SyncState: Send + Sync + 'static {}

// SAFETY: each is repr(C) of atomics only (see their definitions in `raw`).
unsafe impl SyncState for RawMutex {}
// SAFETY: as above.
unsafe impl SyncState for RawCondvar {}
// SAFETY: as above.
unsafe impl SyncState for RawSemaphore {}
// SAFETY: as above.
unsafe impl SyncState for RawEvent {}
// SAFETY: as above.
unsafe impl SyncState for RawBarrier {}
// SAFETY: atomics.
unsafe impl SyncState for AtomicU32 {}
// SAFETY: atomics.
unsafe impl SyncState for AtomicU64 {}
// SAFETY: arrays of SyncState are repr(C)-like sequences of them.
unsafe impl<S: SyncState, const N: usize> SyncState for [S; N] {}

#[cfg(not(shmlane_loom))]
impl<T: bytemuck::Pod> super::SharedArray<T> {
    /// The elements as `AtomicU64`s, if `T` is 8 bytes (`u64`, `i64`, …): lock-free
    /// access that does not take the lock.
    ///
    /// # Safety
    ///
    /// The array's elements must be accessed either through these atomic views or
    /// through the lock, not both: while any view returned here is used, no
    /// [`ArrayGuard`](super::ArrayGuard) of the same array may exist, in this process
    /// or in another one that maps it (that includes the guard `to_vec` takes
    /// internally). A guard lends `&mut [T]` / `&[T]`, which promise that nobody
    /// else reads or writes those elements; an atomic access to an element while such
    /// a reference to it is alive is a data race (undefined behaviour). In practice:
    /// give an array that you use atomically no lock users at all.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::sync::SharedArray;
    /// use std::sync::atomic::Ordering;
    /// let counters = SharedArray::<u64>::anonymous(&[0, 0])?;
    /// // SAFETY: `counters` is only ever used through atomics (no guard, no to_vec).
    /// let c = unsafe { counters.atomics_u64() }.expect("8-byte elements");
    /// c[1].fetch_add(5, Ordering::Relaxed);
    /// assert_eq!(c[1].load(Ordering::Relaxed), 5);
    /// # Ok::<(), shmlane::CreateError>(())
    /// ```
    ///
    /// Without `unsafe`, the atomic view cannot be had:
    ///
    /// ```compile_fail,E0133
    /// let a = shmlane::sync::SharedArray::<u64>::anonymous(&[0]).unwrap();
    /// let _ = a.atomics_u64();
    /// ```
    pub unsafe fn atomics_u64(&self) -> Option<&[AtomicU64]> {
        self.atomics()
    }

    /// The elements as `AtomicU32`s, if `T` is 4 bytes.
    ///
    /// # Safety
    ///
    /// As for [`atomics_u64`](Self::atomics_u64): no guard of the array may exist
    /// (in any process) while the views are used.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::sync::SharedArray;
    /// let flags = SharedArray::<u32>::anonymous(&[0; 4])?;
    /// // SAFETY: `flags` is only used through atomics.
    /// let f = unsafe { flags.atomics_u32() }.expect("4-byte elements");
    /// f[0].store(1, std::sync::atomic::Ordering::Release);
    /// # Ok::<(), shmlane::CreateError>(())
    /// ```
    pub unsafe fn atomics_u32(&self) -> Option<&[AtomicU32]> {
        self.atomics()
    }
}

#[cfg(not(shmlane_loom))]
/// Takes an object's robust lock as `me` (waiting until `deadline`; `None` on timeout),
/// judging a sleeping tick's owner with the 32-bit start times the lock records.
pub(super) fn acquire(
    lock: &RawMutex,
    me: Identity,
    deadline: Option<Instant>,
) -> Option<Acquired> {
    lock.lock(me, WaitMode::Blocking, deadline, identity::is_alive_start32)
        .ok()
}

#[cfg(not(shmlane_loom))]
/// The elements of an object segment, lent out while its lock is held; unlocks on drop.
///
/// Invariant: `ptr` points to `len` valid `T` inside the mapping that `ctrl` also lies
/// in (alive for `'a`), and this value holds `ctrl.lock` (it is only made right after
/// acquiring it).
pub(super) struct Locked<'a, T> {
    ptr: NonNull<T>,
    len: usize,
    ctrl: &'a ObjectControl,
}

#[cfg(not(shmlane_loom))]
// SAFETY: like `&mut [T]` for `T: Send`: the elements are exclusively ours while locked.
unsafe impl<T: Send> Send for Locked<'_, T> {}
#[cfg(not(shmlane_loom))]
// SAFETY: like `&mut [T]` for `T: Sync`.
unsafe impl<T: Sync> Sync for Locked<'_, T> {}

#[cfg(not(shmlane_loom))]
impl<'a, T: bytemuck::Pod> Locked<'a, T> {
    fn lend(seg: &'a Segment, ctrl: &'a ObjectControl) -> Self {
        let (ptr, len) = seg.object_elements::<T>().expect("validated object of T");
        Self { ptr, len, ctrl }
    }

    /// Locks `seg`'s object as `me` (waiting until `deadline`) and lends its elements.
    pub(super) fn lock(
        seg: &'a Segment,
        me: Identity,
        deadline: Option<Instant>,
    ) -> Option<(Self, Acquired)> {
        let ctrl = seg.object_control().expect("validated object");
        let how = acquire(&ctrl.lock, me, deadline)?;
        Some((Self::lend(seg, ctrl), how))
    }

    /// Locks `seg`'s object if free now and lends its elements.
    pub(super) fn try_lock(seg: &'a Segment, me: Identity) -> Option<(Self, Acquired)> {
        let ctrl = seg.object_control().expect("validated object");
        if !ctrl.lock.try_lock(me.pid, me.start) {
            return None;
        }
        let how = if ctrl.lock.is_inconsistent() {
            Acquired::OwnerDied
        } else {
            Acquired::Clean
        };
        Some((Self::lend(seg, ctrl), how))
    }
}

#[cfg(not(shmlane_loom))]
impl<T> Locked<'_, T> {
    /// The object's lock (held by us).
    pub(super) fn raw(&self) -> &RawMutex {
        &self.ctrl.lock
    }

    pub(super) fn slice(&self) -> &[T] {
        // SAFETY: type invariant: valid, exclusively ours while locked; any bits are a
        // valid `T: Pod` (`lend` requires it).
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub(super) fn slice_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `slice`, and `&mut self` makes this the only reference.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

#[cfg(not(shmlane_loom))]
impl<T> Drop for Locked<'_, T> {
    fn drop(&mut self) {
        self.ctrl.lock.unlock();
    }
}

#[cfg(not(shmlane_loom))]
impl<T> core::fmt::Debug for Locked<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Locked").field("len", &self.len).finish()
    }
}
