//! Errors of pipes' senders and receivers.

use super::Corrupted;

value_error! {
    /// [`Sender::send`](crate::pipe::Sender::send) failed; the value comes back.
    ///
    /// Not std's `SendError(T)` (a struct meaning "disconnected"): a shared-memory ring
    /// can also be found corrupted, so this is an enum, and named apart.
    BlockingSendError {
        /// The receiver is gone (dropped or its process died).
        Disconnected => "receiver disconnected",
    }
}

value_error! {
    /// A non-blocking send failed; the value comes back.
    TrySendError {
        /// The ring is full.
        Full => "ring full",
        /// The receiver is gone.
        Disconnected => "receiver disconnected",
    }
}

value_error! {
    /// A send with a timeout failed; the value comes back.
    SendTimeoutError {
        /// The deadline passed with the ring still full.
        Timeout => "send timed out",
        /// The receiver is gone.
        Disconnected => "receiver disconnected",
    }
}

/// [`Receiver::recv`](crate::pipe::Receiver::recv) (or `recv_into`) failed.
///
/// Not std's unit `RecvError` (meaning "disconnected"): a shared-memory ring can also be
/// found corrupted, so this is an enum, and named apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlockingRecvError {
    /// The sender is gone and everything it sent has been received.
    #[error("sender disconnected")]
    Disconnected,
    /// The ring is corrupted.
    #[error(transparent)]
    Corrupted(#[from] Corrupted),
}

/// A non-blocking receive failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryRecvError {
    /// Nothing to receive now.
    #[error("ring empty")]
    Empty,
    /// The sender is gone and everything it sent has been received.
    #[error("sender disconnected")]
    Disconnected,
    /// The ring is corrupted.
    #[error(transparent)]
    Corrupted(#[from] Corrupted),
}

/// A receive with a timeout failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvTimeoutError {
    /// The deadline passed with nothing to receive.
    #[error("receive timed out")]
    Timeout,
    /// The sender is gone and everything it sent has been received.
    #[error("sender disconnected")]
    Disconnected,
    /// The ring is corrupted.
    #[error(transparent)]
    Corrupted(#[from] Corrupted),
}

/// [`Sender::send_slice`](crate::pipe::Sender::send_slice) stopped before sending the
/// whole slice; each variant carries how many values were sent (a prefix of the slice,
/// in order).
///
/// # Examples
///
/// ```
/// let (mut tx, rx) = shmlane::pipe::channel::<u8>(4)?;
/// drop(rx);
/// let e = tx.send_slice(&[1, 2, 3]).unwrap_err();
/// assert_eq!(e, shmlane::error::SendSliceError::Disconnected { sent: 0 });
/// assert_eq!(e.sent(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendSliceError {
    /// The receiver is gone.
    #[error("receiver disconnected after {sent} values of the slice were sent")]
    Disconnected {
        /// Values sent before the failure.
        sent: usize,
    },
    /// The ring is corrupted.
    #[error("{corrupted} (after {sent} values of the slice were sent)")]
    Corrupted {
        /// Values sent before the failure.
        sent: usize,
        /// What was found.
        corrupted: Corrupted,
    },
}

impl SendSliceError {
    /// How many values of the slice were sent.
    pub fn sent(&self) -> usize {
        match *self {
            Self::Disconnected { sent } | Self::Corrupted { sent, .. } => sent,
        }
    }
}
