//! [`Condvar`]: a condition variable for a [`Mutex`](super::Mutex)'s guard.

use super::*;

/// A condition variable used with a [`Mutex`]'s guard.
///
/// # Examples
///
/// ```
/// use shmlane::sync::{Condvar, Mutex};
/// let (m, cv) = (Mutex::anonymous(0u8)?, Condvar::anonymous()?);
/// cv.notify_all(); // nobody waits: no effect
/// let g = m.lock().unwrap();
/// let e = cv.wait_timeout(g, std::time::Duration::from_millis(1)).unwrap_err();
/// assert_eq!(e.to_string(), "condvar wait timed out (the lock is held again)");
/// assert_eq!(*e.into_guard()?, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Condvar {
    pub(super) obj: Object<RawCondvar>,
}

impl ObjectHandle for Condvar {
    type E = RawCondvar;
    const KIND: SegmentKind = SegmentKind::Condvar;
    fn wrap(obj: Object<RawCondvar>) -> Self {
        Self { obj }
    }
    fn object(&self) -> &Object<RawCondvar> {
        &self.obj
    }
}

crate::handle::constructors! {
    impl[] Condvar {
        what: "condvar",
        ex: "shmlane::sync::Condvar",
        params: (),
        args: (),
        made: "(nobody waits on it)",
    }
}

impl Condvar {
    fn build(name: Option<&str>) -> Result<Self, CreateError> {
        Object::create(name, Self::KIND, 1, 0).map(Self::wrap)
    }

    /// Nothing to check: there are no parameters.
    fn made_with(&self) -> Result<(), OpenError> {
        Ok(())
    }

    fn wait_until<'a, T: Pod>(
        &self,
        g: MutexGuard<'a, T>,
        until: Option<Instant>,
    ) -> LockResult<MutexGuard<'a, T>> {
        // The guard's lock is held again when `wait_on` returns Ok (it unlocks and
        // relocks, judging the holder as `Mutex::lock` does), so from the caller's view
        // the guard held it throughout.
        let MutexGuard { inner } = g;
        match inner.wait_on(self.obj.state(), until) {
            Ok((inner, how)) => verdict(MutexGuard { inner }, how),
            Err(c) => Err(LockError::Corrupted(c)),
        }
    }

    /// Unlocks the guard's mutex, sleeps until notified (or spuriously), locks again.
    /// Loop on your condition. The relock reports what [`Mutex::lock`] reports: a dead
    /// holder taken over ([`LockError::OwnerDied`], guard inside) or a corrupted lock
    /// word ([`LockError::Corrupted`], the lock is not held).
    pub fn wait<'a, T: Pod>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        self.wait_until(guard, None)
    }

    /// Like [`wait`](Self::wait), at most `timeout`:
    /// [`WaitTimeoutError::Timeout`] (with the guard: the mutex is locked again) if the
    /// timeout passed.
    pub fn wait_timeout<'a, T: Pod>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> Result<MutexGuard<'a, T>, WaitTimeoutError<MutexGuard<'a, T>>> {
        let until = crate::wait::deadline_after(timeout);
        let g = self.wait_until(guard, until)?;
        if until.is_some_and(|u| Instant::now() >= u) {
            return Err(WaitTimeoutError::Timeout(g));
        }
        Ok(g)
    }

    /// Waits (as [`wait`](Self::wait), looping over wake-ups) until `cond(&value)` is
    /// false; returns at once if a relock reports an error.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::sync::{Condvar, Mutex};
    /// let (m, cv) = (Mutex::anonymous(0u32)?, Condvar::anonymous()?);
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         *m.lock().unwrap() = 1;
    ///         cv.notify_all();
    ///     });
    ///     let g = cv.wait_while(m.lock().unwrap(), |v| *v == 0).unwrap();
    ///     assert_eq!(*g, 1);
    /// });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_while<'a, T: Pod>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut cond: impl FnMut(&T) -> bool,
    ) -> LockResult<MutexGuard<'a, T>> {
        while cond(&guard) {
            guard = self.wait_until(guard, None)?;
        }
        Ok(guard)
    }

    /// Waits until `cond(&value)` is false, at most `timeout` in all:
    /// [`WaitTimeoutError::Timeout`] (with the guard) if `cond` still holds then;
    /// returns at once if a relock reports an error.
    pub fn wait_while_timeout<'a, T: Pod>(
        &self,
        mut guard: MutexGuard<'a, T>,
        timeout: Duration,
        mut cond: impl FnMut(&T) -> bool,
    ) -> Result<MutexGuard<'a, T>, WaitTimeoutError<MutexGuard<'a, T>>> {
        let until = crate::wait::deadline_after(timeout);
        while cond(&guard) {
            if until.is_some_and(|u| Instant::now() >= u) {
                return Err(WaitTimeoutError::Timeout(guard));
            }
            guard = self.wait_until(guard, until)?;
        }
        Ok(guard)
    }

    /// Wakes one waiter (possibly more: waiters re-check their condition anyway).
    pub fn notify_one(&self) {
        self.obj.state().notify_one();
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        self.obj.state().notify_all();
    }
}
