//! The promise that a type may be viewed in shared memory and used from several
//! processes at once.
#![allow(unsafe_code)]

use super::{RawBarrier, RawCondvar, RawEvent, RawMutex, RawSemaphore};
use crate::primitive::{AtomicU32, AtomicU64};

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

// SAFETY: each is repr(C) of atomics only (see their definitions in this module).
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
