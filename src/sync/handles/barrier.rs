//! [`Barrier`]: a reusable barrier for a fixed number of parties.

use super::*;

/// A reusable barrier for a fixed number of parties (Python's `Barrier`).
///
/// A party that dies before it arrives never arrives: the others wait for it (there
/// is no broken state as in Python). Where a party may die, wait with
/// [`wait_timeout`](Self::wait_timeout).
///
/// # Examples
///
/// ```
/// let b = shmlane::sync::Barrier::anonymous(1)?;
/// assert!(b.wait()); // one party: released at once, as the leader
/// # Ok::<(), shmlane::CreateError>(())
/// ```
///
/// A barrier needs at least one party:
///
/// ```
/// use shmlane::{CreateError, sync::Barrier};
/// assert!(matches!(
///     Barrier::anonymous(0),
///     Err(CreateError::InvalidParameter { param: "party count", value: 0, .. })
/// ));
/// ```
#[derive(Debug, Clone)]
pub struct Barrier {
    pub(super) obj: Object<RawBarrier>,
}

impl ObjectHandle for Barrier {
    type E = RawBarrier;
    const KIND: SegmentKind = SegmentKind::Barrier;
    fn wrap(obj: Object<RawBarrier>) -> Self {
        Self { obj }
    }
    fn object(&self) -> &Object<RawBarrier> {
        &self.obj
    }
    fn header_ok(&self) -> Result<(), OpenError> {
        self.parties_ok()
    }
}

crate::handle::constructors! {
    impl[] Barrier {
        what: "barrier",
        ex: "shmlane::sync::Barrier",
        params: (parties: u32),
        args: (2),
        made: "for `parties` processes or threads (zero is refused with `InvalidParameter`)",
    }
}

impl Barrier {
    fn build(name: Option<&str>, parties: u32) -> Result<Self, CreateError> {
        Self::check_parties(parties)?;
        Object::create(name, Self::KIND, 1, parties).map(Self::wrap)
    }

    /// An existing barrier must be for `parties`.
    fn made_with(&self, parties: u32) -> Result<(), OpenError> {
        match self.parties() {
            found if found == parties => Ok(()),
            found => Err(OpenError::LayoutMismatch {
                field: "param (barrier parties)",
                expected: u64::from(parties),
                found: u64::from(found),
            }),
        }
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
                crate::wait::deadline_after(timeout),
            )
            .map_err(|_| TimedOut)
    }
}
