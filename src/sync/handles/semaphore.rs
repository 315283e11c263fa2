//! [`Semaphore`]: a bounded counting semaphore.

use super::*;

/// A bounded counting semaphore (Python's `BoundedSemaphore`).
///
/// A unit is not owned by anyone: if a process dies between `acquire` and `release`,
/// its unit is not given back (as in Python). Where a holder may die, wait with
/// [`acquire_timeout`](Self::acquire_timeout), or use a [`Mutex`](super::Mutex),
/// which hands a dead holder's lock to the next locker.
///
/// # Examples
///
/// ```
/// let s = shmlane::sync::Semaphore::anonymous(1, 1)?;
/// s.acquire();
/// assert!(!s.try_acquire());
/// s.release()?;
/// assert!(s.release().is_err()); // above the bound
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// An initial count above the bound is refused, never clamped:
///
/// ```
/// use shmlane::{CreateError, sync::Semaphore};
/// assert!(matches!(
///     Semaphore::anonymous(5, 2),
///     Err(CreateError::InvalidParameter { param: "initial count", value: 5, .. })
/// ));
/// ```
#[derive(Debug, Clone)]
pub struct Semaphore {
    pub(super) obj: Object<RawSemaphore>,
}

impl ObjectHandle for Semaphore {
    type E = RawSemaphore;
    const KIND: SegmentKind = SegmentKind::Semaphore;
    fn wrap(obj: Object<RawSemaphore>) -> Self {
        Self { obj }
    }
    fn object(&self) -> &Object<RawSemaphore> {
        &self.obj
    }
}

crate::handle::constructors! {
    impl[] Semaphore {
        what: "semaphore",
        ex: "shmlane::sync::Semaphore",
        params: (initial: u32, max: u32),
        args: (1, 2),
        made: "with `initial` units and at most `max` (`initial` above `max` is refused with `InvalidParameter`, never clamped)",
    }
}

impl Semaphore {
    fn init(obj: Object<RawSemaphore>, initial: u32) -> Self {
        let s = Self { obj };
        // Released, not stored: an early opener's own releases are kept.
        let _ = s.obj.state().release_bounded(initial, s.max());
        s
    }

    fn build(name: Option<&str>, initial: u32, max: u32) -> Result<Self, CreateError> {
        Self::check_initial(initial, max)?;
        Object::create(name, Self::KIND, 1, max).map(|o| Self::init(o, initial))
    }

    /// An existing semaphore must have the bound `max` (its count is its own).
    fn made_with(&self, _initial: u32, max: u32) -> Result<(), OpenError> {
        match self.max() {
            found if found == max => Ok(()),
            found => Err(OpenError::LayoutMismatch {
                field: "param (semaphore bound)",
                expected: u64::from(max),
                found: u64::from(found),
            }),
        }
    }

    fn check_initial(initial: u32, max: u32) -> Result<(), CreateError> {
        if initial > max {
            return Err(CreateError::InvalidParameter {
                param: "initial count",
                value: u64::from(initial),
                reason: "above the semaphore's bound",
            });
        }
        Ok(())
    }

    /// The bound.
    pub fn max(&self) -> u32 {
        self.obj.seg.header().param
    }

    /// Takes a unit, waiting as long as it takes.
    pub fn acquire(&self) {
        let _ = self.obj.state().acquire(WaitMode::Blocking, None);
    }

    /// Takes a unit if one is available now.
    pub fn try_acquire(&self) -> bool {
        self.obj.state().try_acquire()
    }

    /// Takes a unit, waiting at most `timeout`: [`TimedOut`] if none came by then.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<(), TimedOut> {
        self.obj
            .state()
            .acquire(WaitMode::Blocking, crate::wait::deadline_after(timeout))
            .map_err(|_| TimedOut)
    }

    /// Returns a unit; fails if that would exceed the bound.
    pub fn release(&self) -> Result<(), SemaphoreFull> {
        self.obj
            .state()
            .release_bounded(1, self.max())
            .map_err(|_| SemaphoreFull { max: self.max() })
    }

    /// Units available now (a snapshot).
    pub fn value(&self) -> u32 {
        self.obj.state().value()
    }
}
