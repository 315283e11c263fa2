//! One pipe end's waiting state: a second handle on its ring (so a wait can borrow the
//! eventcount while the poll borrows the end mutably) and its fence request there.

use crate::ring::spsc::{RawRing, Side};
use crate::wait::{FenceRequest, Poll, TimedOut, WaitMode, block_on};
use std::time::Instant;

/// Where one end of a pipe waits for the other end's progress.
///
/// The handle is made once: one made per wait would cost two atomic read-modify-writes
/// of the mapping's reference count per wait, one of them between seeing the data and
/// returning it. Dropping it withdraws the fence request.
#[derive(Debug)]
pub(crate) struct Waits<T> {
    ring: RawRing<T>,
    /// The end whose progress we wait for.
    peer: Side,
    request: FenceRequest,
    /// The process that made it: a copy inherited over `fork` holds no request of its
    /// own (the parent's is the parent's to withdraw).
    pid: u32,
}

impl<T> Waits<T> {
    /// Waits on `ring` for `peer`'s progress. Call it once the end is claimed: it
    /// resets the eventcount this end sleeps on, of which the end's owner is the only
    /// possible sleeper, so that a previous owner killed in its sleep leaves no
    /// announcement (every notify would wake) or fence request (every notify would
    /// fence) behind ([`EventCount::reset_owned`](crate::wait::EventCount::reset_owned)).
    pub(crate) fn new(ring: &RawRing<T>, peer: Side) -> Self {
        ring.waits_for(peer).reset_owned();
        Self {
            ring: ring.share(),
            peer,
            request: FenceRequest::default(),
            pid: std::process::id(),
        }
    }

    /// [`block_on`] this ring's eventcount for `peer`, with this end's fence request.
    pub(crate) fn block_on<R>(
        &mut self,
        mode: WaitMode,
        deadline: Option<Instant>,
        poll: impl FnMut(bool) -> Poll<R>,
    ) -> Result<R, TimedOut> {
        let ec = self.ring.waits_for(self.peer);
        block_on(ec, Some(&mut self.request), mode, deadline, poll)
    }
}

impl<T> Drop for Waits<T> {
    fn drop(&mut self) {
        if self.pid == std::process::id() {
            self.request.withdraw(self.ring.waits_for(self.peer));
        }
    }
}
