//! [`Event`]: a flag processes wait for.

use super::*;

/// A flag that processes wait for (Python's `Event`).
///
/// # Examples
///
/// ```
/// let e = shmlane::sync::Event::anonymous()?;
/// let e2 = e.clone();
/// assert_eq!(e.wait_timeout(std::time::Duration::from_millis(1)), Err(shmlane::error::TimedOut));
/// e2.set();
/// e.wait_timeout(std::time::Duration::from_millis(1))?; // set: returns at once
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Event {
    pub(super) obj: Object<RawEvent>,
}

impl ObjectHandle for Event {
    type E = RawEvent;
    const KIND: SegmentKind = SegmentKind::Event;
    fn wrap(obj: Object<RawEvent>) -> Self {
        Self { obj }
    }
    fn object(&self) -> &Object<RawEvent> {
        &self.obj
    }
}

crate::handle::constructors! {
    impl[] Event {
        what: "event",
        ex: "shmlane::sync::Event",
        params: (),
        args: (),
        made: "(cleared)",
    }
}

impl Event {
    fn build(name: Option<&str>) -> Result<Self, CreateError> {
        Object::create(name, Self::KIND, 1, 0).map(Self::wrap)
    }

    /// Nothing to check: there are no parameters.
    fn made_with(&self) -> Result<(), OpenError> {
        Ok(())
    }

    /// Sets the flag, waking every waiter in every process.
    pub fn set(&self) {
        self.obj.state().set();
    }

    /// Clears the flag.
    pub fn clear(&self) {
        self.obj.state().clear();
    }

    /// True if set.
    pub fn is_set(&self) -> bool {
        self.obj.state().is_set()
    }

    /// Waits until set.
    pub fn wait(&self) {
        let _ = self.obj.state().wait(WaitMode::Blocking, None);
    }

    /// Waits until set, at most `timeout`; [`TimedOut`] if it is still not set then.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<(), TimedOut> {
        self.obj
            .state()
            .wait(WaitMode::Blocking, crate::wait::deadline_after(timeout))
    }
}
