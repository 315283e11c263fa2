//! [`Shared`]: a user's `SyncState` struct in an object segment.

use super::*;

/// Shared-memory state of your own type (see [`SyncState`]), used through `&S`.
#[derive(Debug, Clone)]
pub struct Shared<S: SyncState> {
    pub(super) obj: Object<S>,
}

object_handle!(Shared<S: SyncState>, S, SegmentKind::SharedState);

impl<S: SyncState> Shared<S> {
    /// Creates a named object, all-zero (every primitive of [`crate::sync::raw`] starts so).
    pub fn create(name: &str) -> Result<Self, CreateError> {
        Object::create(Some(name), Self::KIND, 1, 0).map(|obj| Self { obj })
    }

    /// Creates an anonymous object, all-zero.
    pub fn anonymous() -> Result<Self, CreateError> {
        Object::create(None, Self::KIND, 1, 0).map(|obj| Self { obj })
    }
}

impl<S: SyncState> std::ops::Deref for Shared<S> {
    type Target = S;
    fn deref(&self) -> &S {
        self.obj.state()
    }
}
