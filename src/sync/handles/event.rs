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

object_handle!(Event, RawEvent, SegmentKind::Event);

impl Event {
    /// Creates a named event (cleared).
    pub fn create(name: &str) -> Result<Self, CreateError> {
        Object::create(Some(name), Self::KIND, 1, 0).map(|obj| Self { obj })
    }

    /// Creates an anonymous event (cleared).
    pub fn anonymous() -> Result<Self, CreateError> {
        Object::create(None, Self::KIND, 1, 0).map(|obj| Self { obj })
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
            .wait(WaitMode::Blocking, Some(Instant::now() + timeout))
    }
}
