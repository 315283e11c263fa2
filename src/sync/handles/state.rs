//! [`Shared`]: a user's `SyncState` struct in an object segment.

use super::*;

/// Shared-memory state of your own type (see [`SyncState`]), used through `&S`.
#[derive(Debug, Clone)]
pub struct Shared<S: SyncState> {
    pub(super) obj: Object<S>,
}

impl<S: SyncState> ObjectHandle for Shared<S> {
    type E = S;
    const KIND: SegmentKind = SegmentKind::SharedState;
    fn wrap(obj: Object<S>) -> Self {
        Self { obj }
    }
    fn object(&self) -> &Object<S> {
        &self.obj
    }
}

crate::handle::constructors! {
    impl[S: SyncState] Shared<S> {
        what: "object",
        ex: "shmlane::sync::Shared::<shmlane::sync::raw::RawEvent>",
        params: (),
        args: (),
        made: "all-zero (every primitive of `sync::raw` starts so)",
    }
}

impl<S: SyncState> Shared<S> {
    fn build(name: Option<&str>) -> Result<Self, CreateError> {
        Object::create(name, Self::KIND, 1, 0).map(Self::wrap)
    }

    /// Nothing to check: there are no parameters.
    fn made_with(&self) -> Result<(), OpenError> {
        Ok(())
    }
}

impl<S: SyncState> std::ops::Deref for Shared<S> {
    type Target = S;
    fn deref(&self) -> &S {
        self.obj.state()
    }
}
