//! [`Mutex`]: one value under a robust lock, and its guard.

use super::*;

/// A mutex with its data inside, shared between processes; robust: see
/// [`LockError::OwnerDied`].
///
/// # Examples
///
/// ```
/// let m = shmlane::sync::Mutex::anonymous(5u32)?;
/// *m.lock().unwrap() += 1;
/// assert_eq!(*m.lock().unwrap(), 6);
/// # Ok::<(), shmlane::CreateError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Mutex<T: Pod> {
    pub(super) obj: Object<T>,
}

impl<T: Pod> ObjectHandle for Mutex<T> {
    type E = T;
    const KIND: SegmentKind = SegmentKind::Mutex;
    fn wrap(obj: Object<T>) -> Self {
        Self { obj }
    }
    fn object(&self) -> &Object<T> {
        &self.obj
    }
}

crate::handle::constructors! {
    impl[T: Pod] Mutex<T> {
        what: "mutex",
        ex: "shmlane::sync::Mutex::<u64>",
        params: (value: T),
        args: (5),
        made: "holding `value`",
    }
}

impl<T: Pod> Mutex<T> {
    fn init(obj: Object<T>, value: T) -> Result<Self, CreateError> {
        SharedArray::init(obj.clone(), &[value])?;
        Ok(Self { obj })
    }

    fn build(name: Option<&str>, value: T) -> Result<Self, CreateError> {
        Self::init(Object::create(name, Self::KIND, 1, 0)?, value)
    }

    /// Nothing to check: the element type fixes the size.
    fn made_with(&self, _value: T) -> Result<(), OpenError> {
        Ok(())
    }

    /// Locks, waiting as long as a live holder holds it (taking over from a dead
    /// one); fails with [`LockError::Corrupted`] instead of waiting forever when the
    /// lock word names a holder this process knows cannot hold it.
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        self.obj.locked_forever(|inner| MutexGuard { inner })
    }

    /// Locks, waiting at most `timeout`; [`LockTimeoutError::Timeout`] if a live holder
    /// still holds it then (else as [`lock`](Self::lock)).
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<MutexGuard<'_, T>, LockTimeoutError<MutexGuard<'_, T>>> {
        self.obj
            .locked(crate::wait::deadline_after(timeout), |inner| MutexGuard {
                inner,
            })
    }

    /// Locks if free now; [`TryLockError::WouldBlock`] if it is held (else as
    /// [`lock`](Self::lock)).
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError<MutexGuard<'_, T>>> {
        self.obj.try_locked(|inner| MutexGuard { inner })
    }
}

/// The locked value of a [`Mutex`]; unlocks on drop.
#[derive(Debug)]
pub struct MutexGuard<'a, T: Pod> {
    pub(super) inner: Locked<'a, T>,
}

impl<T: Pod> MutexGuard<'_, T> {
    /// Declares the data consistent after [`LockError::OwnerDied`].
    pub fn mark_consistent(&self) {
        self.inner.raw().mark_consistent();
    }
}

impl<T: Pod> std::ops::Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner.slice()[0]
    }
}

impl<T: Pod> std::ops::DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner.slice_mut()[0]
    }
}
