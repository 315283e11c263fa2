//! [`SharedArray`]: a fixed-length array under a robust lock, and its guard.

use super::*;

/// A fixed-length array of `T` in shared memory with a lock (Python's
/// `multiprocessing.Array`), plus lock-free atomic views for 32/64-bit integers
/// (`unsafe`: an array is used either through its lock or through atomics, see
/// [`atomics_u64`](Self::atomics_u64)).
///
/// # Examples
///
/// ```
/// use shmlane::sync::SharedArray;
/// let name = format!("doc-array-{}", std::process::id());
/// let a = SharedArray::<u64>::create(&name, &[1, 2, 3])?;
/// let b = SharedArray::<u64>::open(&name)?; // usually another process
/// b.lock().unwrap()[0] = 10;
/// assert_eq!(a.to_vec()?, [10, 2, 3]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct SharedArray<T: Pod> {
    pub(super) obj: Object<T>,
}

impl<T: Pod> ObjectHandle for SharedArray<T> {
    type E = T;
    const KIND: SegmentKind = SegmentKind::SharedArray;
    fn wrap(obj: Object<T>) -> Self {
        Self { obj }
    }
    fn object(&self) -> &Object<T> {
        &self.obj
    }
}

crate::handle::constructors! {
    impl[T: Pod] SharedArray<T> {
        what: "array",
        ex: "shmlane::sync::SharedArray::<u64>",
        params: (init: &[T]),
        args: (&[1, 2, 3]),
        made: "holding a copy of `init` (at least one element; the length is fixed)",
    }
}

impl<T: Pod> SharedArray<T> {
    /// The array over a new object, filled with `init` under its lock.
    pub(super) fn init(obj: Object<T>, init: &[T]) -> Result<Self, CreateError> {
        let a = Self { obj };
        // Nobody else can have the anonymous segment yet; a named one may have an early
        // opener, which the lock keeps out while we fill it (and which could garble
        // the lock word: then the create fails).
        a.lock()
            .or_else(LockError::into_guard)?
            .copy_from_slice(init);
        Ok(a)
    }

    fn build(name: Option<&str>, init: &[T]) -> Result<Self, CreateError> {
        Self::init(Object::create(name, Self::KIND, init.len(), 0)?, init)
    }

    fn made_with(&self, init: &[T]) -> Result<(), OpenError> {
        handle::same_capacity(self.segment_of(), init.len())
    }

    /// Creates an anonymous array of `len` zero elements, without a slice to copy: the
    /// segment's pages start zero-filled. `len` 0, or above 2^40, is refused with
    /// `InvalidCapacity`; a size that overflows, with `TooLarge` (or `NoSpace` when the
    /// machine cannot back it).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{CreateError, sync::SharedArray};
    /// let a = SharedArray::<u64>::zeroed(1 << 20)?; // 8 MiB, no 8 MiB heap slice
    /// assert!(a.lock().unwrap().iter().all(|&x| x == 0));
    /// assert!(matches!(SharedArray::<u64>::zeroed(0), Err(CreateError::InvalidCapacity { capacity: 0, .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn zeroed(len: usize) -> Result<Self, CreateError> {
        Ok(Self::wrap(Object::create(None, Self::KIND, len, 0)?))
    }

    /// Creates a named array of `len` zero elements, as [`zeroed`](Self::zeroed) (and
    /// named as by `create`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::sync::SharedArray;
    /// let name = format!("doc-array-create-zeroed-{}", std::process::id());
    /// let a = SharedArray::<u32>::create_zeroed(&name, 1000)?;
    /// assert_eq!(SharedArray::<u32>::open(&name)?.to_vec()?, vec![0; 1000]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_zeroed(name: &str, len: usize) -> Result<Self, CreateError> {
        Ok(Self::wrap(Object::create(Some(name), Self::KIND, len, 0)?))
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.obj.seg.header().capacity as usize
    }

    /// Always false: arrays have at least one element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Locks the array, waiting as long as a live holder holds it; the guard derefs
    /// to `&mut [T]`. Fails with [`LockError::Corrupted`] (instead of waiting forever)
    /// when the lock word names a holder this process knows cannot hold it.
    pub fn lock(&self) -> LockResult<ArrayGuard<'_, T>> {
        self.obj.locked_forever(|inner| ArrayGuard { inner })
    }

    /// Locks the array, waiting at most `timeout`; [`LockTimeoutError::Timeout`] if a
    /// live holder still holds it then (else as [`lock`](Self::lock)).
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<ArrayGuard<'_, T>, LockTimeoutError<ArrayGuard<'_, T>>> {
        self.obj
            .locked(crate::wait::deadline_after(timeout), |inner| ArrayGuard {
                inner,
            })
    }

    /// A copy of the elements, taken under the lock (even after an owner died); fails
    /// only if the lock word is corrupted (see [`lock`](Self::lock)).
    pub fn to_vec(&self) -> Result<Vec<T>, ObjectCorrupted> {
        Ok(self.lock().or_else(LockError::into_guard)?.to_vec())
    }

    /// The elements as atomic words `W` (the view behind the `unsafe`
    /// [`atomics_u64`](Self::atomics_u64) / [`atomics_u32`](Self::atomics_u32), in
    /// `shared.rs`), if `T` has `W`'s size and at most its alignment.
    pub(in crate::sync) fn atomics<W: crate::segment::SharedWord>(&self) -> Option<&[W]> {
        (core::mem::size_of::<W>() == core::mem::size_of::<T>()
            && core::mem::align_of::<T>() <= core::mem::align_of::<W>())
        .then(|| self.obj.seg.object_words::<W>())
        .flatten()
        .map(|w| &w[..self.len()])
    }
}

/// The locked elements of a [`SharedArray`]; unlocks on drop.
///
/// # The slice and other processes
///
/// The guard derefs to `&[T]` / `&mut [T]` over memory that other processes map too.
/// The lock makes it exclusive among handles that follow the protocol; it cannot stop
/// a peer that writes without the lock (a bug, or a hostile process), and such a write
/// may change elements while you hold the slice. What holds then: every bit pattern is
/// a valid `T` (`T: Pod`), and the library takes no length, index or pointer from the
/// elements, so this process never touches memory outside the mapping. What does not:
/// that a value read twice is the same both times — read what you check once into a
/// local. Within the library's own API, plain access through a guard and atomic access
/// to the same elements cannot be mixed without `unsafe`
/// ([`SharedArray::atomics_u64`]).
#[derive(Debug)]
pub struct ArrayGuard<'a, T: Pod> {
    inner: Locked<'a, T>,
}

impl<T: Pod> ArrayGuard<'_, T> {
    /// Declares the data consistent after [`LockError::OwnerDied`].
    pub fn mark_consistent(&self) {
        self.inner.raw().mark_consistent();
    }
}

impl<T: Pod> std::ops::Deref for ArrayGuard<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.inner.slice()
    }
}

impl<T: Pod> std::ops::DerefMut for ArrayGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.inner.slice_mut()
    }
}
