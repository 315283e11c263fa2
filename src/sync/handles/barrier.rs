//! [`Barrier`]: a reusable barrier for a fixed number of parties.

use super::*;

/// A reusable barrier for a fixed number of parties (Python's `Barrier`).
///
/// # Examples
///
/// ```
/// let b = shmlane::sync::Barrier::anonymous(1)?;
/// assert!(b.wait()); // one party: released at once, as the leader
/// # Ok::<(), shmlane::CreateError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Barrier {
    pub(super) obj: Object<RawBarrier>,
}

object_handle!(
    Barrier,
    RawBarrier,
    SegmentKind::Barrier,
    check = Self::parties_ok
);

impl Barrier {
    /// Creates a named barrier for `parties` processes (or threads); zero parties is
    /// refused with [`CreateError::InvalidParameter`].
    pub fn create(name: &str, parties: u32) -> Result<Self, CreateError> {
        Self::check_parties(parties)?;
        Object::create(Some(name), Self::KIND, 1, parties).map(|obj| Self { obj })
    }

    /// Creates an anonymous barrier (at least one party, as for `create`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{CreateError, sync::Barrier};
    /// assert!(matches!(
    ///     Barrier::anonymous(0),
    ///     Err(CreateError::InvalidParameter { param: "party count", value: 0, .. })
    /// ));
    /// ```
    pub fn anonymous(parties: u32) -> Result<Self, CreateError> {
        Self::check_parties(parties)?;
        Object::create(None, Self::KIND, 1, parties).map(|obj| Self { obj })
    }

    fn check_parties(parties: u32) -> Result<(), CreateError> {
        if parties == 0 {
            return Err(CreateError::InvalidParameter {
                param: "party count",
                value: 0,
                reason: "a barrier needs at least one party",
            });
        }
        Ok(())
    }

    /// An opened barrier's header must name at least one party (a creator never
    /// writes 0; a damaged header is refused instead of read as 1).
    fn parties_ok(&self) -> Result<(), OpenError> {
        match self.parties() {
            0 => Err(OpenError::LayoutMismatch {
                field: "param (barrier parties)",
                expected: 1,
                found: 0,
            }),
            _ => Ok(()),
        }
    }

    /// The number of parties.
    pub fn parties(&self) -> u32 {
        self.obj.seg.header().param
    }

    /// Waits for all parties; returns `true` in exactly one of them (the last to
    /// arrive).
    pub fn wait(&self) -> bool {
        self.obj
            .state()
            .wait(self.parties(), WaitMode::Blocking, None)
            .unwrap_or(false)
    }

    /// Waits at most `timeout`: [`TimedOut`] if not every party arrived by then (this
    /// party's arrival is then withdrawn); else as [`wait`](Self::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, TimedOut> {
        self.obj
            .state()
            .wait(
                self.parties(),
                WaitMode::Blocking,
                Some(Instant::now() + timeout),
            )
            .map_err(|_| TimedOut)
    }
}
