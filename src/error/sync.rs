//! Errors of the shared objects in `sync`: locks, values, semaphores.

use std::convert::Infallible;

/// A shared object's lock word names a holder that this process knows cannot hold it,
/// so waiting for that holder would never end: the blocking call gives up instead.
/// A live holder that is merely slow or stopped is waited for, never reported.
///
/// # Examples
///
/// ```
/// use shmlane::error::{LockWordLie, ObjectCorrupted};
/// let e = ObjectCorrupted { pid: 1, lie: LockWordLie::NotAUser };
/// assert!(e.to_string().contains("process 1"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", match .lie {
    LockWordLie::NoEntryAfterFork => format!("shared object unusable in process {pid}: {lie}"),
    _ => format!("shared object corrupted: its lock word names process {pid}, {lie}"),
})]
pub struct ObjectCorrupted {
    /// The pid the lock word names.
    pub pid: u32,
    /// Why that process cannot be the holder.
    pub lie: LockWordLie,
}

/// Why a [`SharedValue`](crate::sync::SharedValue) read (`load`, `update`) returned
/// no value.
///
/// # Examples
///
/// ```
/// use shmlane::error::ValueError;
/// let v = shmlane::sync::SharedValue::anonymous(1u64)?;
/// match v.load() {
///     Ok(x) => assert_eq!(x, 1),
///     // the last writer died mid-store: only a `store` of a whole value repairs it
///     Err(ValueError::WriterDied) => v.store(0)?,
///     Err(e) => return Err(e.into()),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The writers' lock word is corrupted (see [`ObjectCorrupted`]).
    #[error(transparent)]
    Corrupted(#[from] ObjectCorrupted),
    /// The last writer died in the middle of a store: the words mix two values. No
    /// value is returned and the value stays marked inconsistent until a `store`
    /// replaces it whole.
    #[error("the shared value's last writer died in the middle of a store; store a new value")]
    WriterDied,
}

/// Why the process a lock word names cannot hold the lock ([`ObjectCorrupted`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LockWordLie {
    /// A live process that does not have the object open (it holds no entry of the
    /// object's user table, which every locker claims before it can lock).
    #[error("a live process that does not have the object open")]
    NotAUser,
    /// This very process, while no thread of it holds the lock or is taking it.
    #[error("this process, which does not hold it")]
    NotHeldHere,
    /// Not about the word: this process, a child forked with the handle, must claim an
    /// entry of the object's user table of its own before its first lock, and found
    /// none free (every entry is held by a live process). `pid` is this process. Open
    /// the object anew, or try again, once an entry is free.
    #[error(
        "a child forked with the handle needs an entry of the object's user table of its own \
         to lock, and every entry is held by a live process"
    )]
    NoEntryAfterFork,
}

/// Why a lock call ([`Mutex::lock`](crate::sync::Mutex::lock),
/// [`SharedArray::lock`](crate::sync::SharedArray::lock), a condvar's relock) returned
/// without a clean guard.
///
/// * `OwnerDied(guard)`: the lock *is held* (the guard is inside), but its previous
///   holder died holding it (or a later holder did not call `mark_consistent`): the
///   data may be half-updated.
/// * `Corrupted`: the lock is *not* held: its shared word names a holder this process
///   knows cannot hold it (see [`ObjectCorrupted`]); waiting would never end.
///
/// # Examples
///
/// ```
/// use shmlane::sync::{LockError, Mutex};
/// let m = Mutex::anonymous(0u64)?;
/// let g = match m.lock() {
///     Ok(g) => g,
///     Err(LockError::OwnerDied(g)) => {
///         // repair the data here, then:
///         g.mark_consistent();
///         g
///     }
///     Err(LockError::Corrupted(e)) => return Err(e.into()),
/// };
/// assert_eq!(*g, 0);
/// // or, accepting a dead owner's data as it is:
/// drop(g);
/// let g = m.lock().or_else(LockError::into_guard)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)] // (where the guard type allows: not a real guard)
pub enum LockError<G> {
    /// Locked, after the previous owner died holding the lock.
    OwnerDied(G),
    /// Not locked: the lock word contradicts this process's own knowledge.
    Corrupted(ObjectCorrupted),
}

impl<G> LockError<G> {
    /// The guard if the lock is held (`OwnerDied`), else the corruption.
    pub fn into_guard(self) -> Result<G, ObjectCorrupted> {
        match self {
            Self::OwnerDied(g) => Ok(g),
            Self::Corrupted(c) => Err(c),
        }
    }

    /// The guard if the lock is held (`OwnerDied`).
    pub fn into_inner(self) -> Option<G> {
        self.into_guard().ok()
    }
}

/// The result of a lock: the guard, or a [`LockError`] (which may hold the guard).
pub type LockResult<G> = Result<G, LockError<G>>;

/// Why a lock with a timeout (`lock_timeout`) returned without a clean guard: the
/// [`LockError`] cases, or `Timeout` (not locked).
///
/// # Examples
///
/// ```
/// use shmlane::error::LockTimeoutError;
/// use std::time::Duration;
/// let m = shmlane::sync::Mutex::anonymous(0u8)?;
/// let g = m.lock_timeout(Duration::from_secs(1)).or_else(LockTimeoutError::into_guard)?;
/// // another thread (or process) waits at most 1 ms while `g` is held:
/// std::thread::scope(|s| {
///     s.spawn(|| {
///         let e = m.lock_timeout(Duration::from_millis(1)).unwrap_err();
///         assert!(matches!(e, LockTimeoutError::Timeout));
///         assert_eq!(e.to_string(), "lock timed out");
///     });
/// });
/// drop(g);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)] // (where the guard type allows: not a real guard)
pub enum LockTimeoutError<G> {
    /// Not locked: a live holder held the lock until the timeout passed.
    Timeout,
    /// Locked, after the previous owner died holding the lock.
    OwnerDied(G),
    /// Not locked: the lock word contradicts this process's own knowledge.
    Corrupted(ObjectCorrupted),
}

impl<G> LockTimeoutError<G> {
    /// The guard if the lock is held (`OwnerDied`), else the error without a guard
    /// type (its `OwnerDied` cannot occur), which `?` can turn into a boxed error.
    pub fn into_guard(self) -> Result<G, LockTimeoutError<Infallible>> {
        match self {
            Self::OwnerDied(g) => Ok(g),
            Self::Timeout => Err(LockTimeoutError::Timeout),
            Self::Corrupted(c) => Err(LockTimeoutError::Corrupted(c)),
        }
    }

    /// The guard if the lock is held (`OwnerDied`).
    pub fn into_inner(self) -> Option<G> {
        self.into_guard().ok()
    }
}

impl<G> From<LockError<G>> for LockTimeoutError<G> {
    fn from(e: LockError<G>) -> Self {
        match e {
            LockError::OwnerDied(g) => Self::OwnerDied(g),
            LockError::Corrupted(c) => Self::Corrupted(c),
        }
    }
}

/// Why `try_lock` returned without a clean guard: the [`LockError`] cases, or
/// `WouldBlock` (not locked: someone holds it now).
///
/// # Examples
///
/// ```
/// use shmlane::error::TryLockError;
/// let m = shmlane::sync::Mutex::anonymous(0u8)?;
/// let g = m.try_lock().or_else(TryLockError::into_guard)?;
/// std::thread::scope(|s| {
///     s.spawn(|| assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock))));
/// });
/// drop(g);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)] // (where the guard type allows: not a real guard)
pub enum TryLockError<G> {
    /// Not locked: it is held now.
    WouldBlock,
    /// Locked, after the previous owner died holding the lock.
    OwnerDied(G),
    /// Not locked: the lock word contradicts this process's own knowledge.
    Corrupted(ObjectCorrupted),
}

impl<G> TryLockError<G> {
    /// The guard if the lock is held (`OwnerDied`), else the error without a guard
    /// type (its `OwnerDied` cannot occur), which `?` can turn into a boxed error.
    pub fn into_guard(self) -> Result<G, TryLockError<Infallible>> {
        match self {
            Self::OwnerDied(g) => Ok(g),
            Self::WouldBlock => Err(TryLockError::WouldBlock),
            Self::Corrupted(c) => Err(TryLockError::Corrupted(c)),
        }
    }

    /// The guard if the lock is held (`OwnerDied`).
    pub fn into_inner(self) -> Option<G> {
        self.into_guard().ok()
    }
}

impl<G> From<LockError<G>> for TryLockError<G> {
    fn from(e: LockError<G>) -> Self {
        match e {
            LockError::OwnerDied(g) => Self::OwnerDied(g),
            LockError::Corrupted(c) => Self::Corrupted(c),
        }
    }
}

/// Why [`Condvar::wait_timeout`](crate::sync::Condvar::wait_timeout) or
/// [`wait_while_timeout`](crate::sync::Condvar::wait_while_timeout) returned without a
/// clean guard. Unlike a lock's timeout, a condvar's `Timeout` holds the guard: the
/// mutex is locked again, as after every wait.
///
/// # Examples
///
/// ```
/// use shmlane::{error::WaitTimeoutError, sync::{Condvar, Mutex}};
/// let (m, cv) = (Mutex::anonymous(0u8)?, Condvar::anonymous()?);
/// let g = m.lock().unwrap();
/// match cv.wait_timeout(g, std::time::Duration::from_millis(1)) {
///     Err(WaitTimeoutError::Timeout(g)) => assert_eq!(*g, 0), // locked again
///     other => panic!("nobody notifies: {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)] // (where the guard type allows: not a real guard)
pub enum WaitTimeoutError<G> {
    /// The timeout passed (the lock is held again: the guard is inside).
    Timeout(G),
    /// Locked again, after a previous owner died holding the lock (whether the timeout
    /// also passed is not told: check your condition, and the clock).
    OwnerDied(G),
    /// Not locked: the lock word contradicts this process's own knowledge.
    Corrupted(ObjectCorrupted),
}

impl<G> WaitTimeoutError<G> {
    /// The guard if the lock is held (`Timeout`, `OwnerDied`), else the corruption.
    pub fn into_guard(self) -> Result<G, ObjectCorrupted> {
        match self {
            Self::Timeout(g) | Self::OwnerDied(g) => Ok(g),
            Self::Corrupted(c) => Err(c),
        }
    }

    /// The guard if the lock is held (`Timeout`, `OwnerDied`).
    pub fn into_inner(self) -> Option<G> {
        self.into_guard().ok()
    }
}

impl<G> From<LockError<G>> for WaitTimeoutError<G> {
    fn from(e: LockError<G>) -> Self {
        match e {
            LockError::OwnerDied(g) => Self::OwnerDied(g),
            LockError::Corrupted(c) => Self::Corrupted(c),
        }
    }
}

/// Debug (the guard elided), Display and Error for the lock error enums.
macro_rules! lock_error_fmt {
    ($ty:ident { $($var:ident $(($g:tt))? => $msg:literal),* }) => {
        impl<G> std::fmt::Debug for $ty<G> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self {
                    $(Self::$var $(($g))? => {
                        f.write_str(stringify!($var))?;
                        // (`$g` is `_`: the guard, shown elided)
                        $(let _ = stringify!($g); f.write_str("(..)")?;)?
                        Ok(())
                    })*
                    Self::Corrupted(c) => write!(f, "Corrupted({c:?})"),
                }
            }
        }

        impl<G> std::fmt::Display for $ty<G> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self {
                    $(Self::$var $(($g))? => f.write_str($msg),)*
                    Self::Corrupted(c) => std::fmt::Display::fmt(c, f),
                }
            }
        }

        impl<G> std::error::Error for $ty<G> {}
    };
}

lock_error_fmt!(LockError { OwnerDied(_) => "the previous lock owner died holding the lock" });
lock_error_fmt!(LockTimeoutError {
    Timeout => "lock timed out",
    OwnerDied(_) => "the previous lock owner died holding the lock"
});
lock_error_fmt!(TryLockError {
    WouldBlock => "lock held now",
    OwnerDied(_) => "the previous lock owner died holding the lock"
});
lock_error_fmt!(WaitTimeoutError {
    Timeout(_) => "condvar wait timed out (the lock is held again)",
    OwnerDied(_) => "the previous lock owner died holding the lock"
});

/// A semaphore release would exceed its bound.
///
/// # Examples
///
/// ```
/// let s = shmlane::sync::Semaphore::anonymous(1, 1)?;
/// assert_eq!(s.release().unwrap_err().to_string(), "semaphore already at its bound of 1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("semaphore already at its bound of {max}")]
pub struct SemaphoreFull {
    /// The bound.
    pub max: u32,
}
