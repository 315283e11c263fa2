//! Pipes that carry pool buffers: `tx.send(buf)` / `let buf = rx.recv()?`, with no
//! handle bookkeeping by the user (issue 14; design `docs/design/buffer-pool.md` §5).
//!
//! SKELETON (branch h/pool-skel): the public signatures every engineer codes against.
//! Bodies are `unimplemented!` until the carrier engineer fills them; nothing here is done.

use crate::error::{BlockingSendError, BufRecvError};
use crate::pipe::{Receiver, Sender};
use crate::pool::{Buf, BufHandle, Pool};

/// The sending end: moves frozen buffers to a [`BufReceiver`] in another process. A
/// buffer in flight stays held by this sender until the receiver has taken it.
#[derive(Debug)]
pub struct BufSender {
    _todo: (Pool, Sender<BufHandle>),
}

/// The receiving end: each received [`Buf`] is a read-only view in place.
#[derive(Debug)]
pub struct BufReceiver {
    _todo: (Pool, Receiver<BufHandle>),
}

impl BufSender {
    /// A sender of `pool`'s buffers over the handle pipe `tx`.
    pub fn new(pool: &Pool, tx: Sender<BufHandle>) -> Self {
        unimplemented!("skeleton: {pool:?} {tx:?}")
    }
    /// Sends `buf`, waiting while the pipe is full.
    pub fn send(&mut self, buf: Buf) -> Result<(), BlockingSendError<Buf>> {
        unimplemented!("skeleton: {buf:?}")
    }
}

impl BufReceiver {
    /// A receiver of `pool`'s buffers over the handle pipe `rx`.
    pub fn new(pool: &Pool, rx: Receiver<BufHandle>) -> Self {
        unimplemented!("skeleton: {pool:?} {rx:?}")
    }
    /// The next buffer, waiting while none is in flight.
    pub fn recv(&mut self) -> Result<Buf, BufRecvError> {
        unimplemented!("skeleton")
    }
    /// Handles received whose buffer was gone (the sender died and its holds were
    /// reclaimed before this receiver joined): skipped, counted here.
    pub fn lost(&self) -> u64 {
        unimplemented!("skeleton")
    }
}
