//! Errors of queues and byte queues.

use super::Corrupted;

value_error! {
    /// [`Queue::put`](crate::queue::Queue::put) failed; the value comes back.
    PutError {
        /// The queue was closed.
        Closed => "queue closed",
    }
}

value_error! {
    /// A non-blocking put failed; the value comes back.
    TryPutError {
        /// Every slot is taken.
        Full => "queue full",
        /// The queue was closed.
        Closed => "queue closed",
    }
}

value_error! {
    /// A put with a timeout failed; the value comes back.
    PutTimeoutError {
        /// The deadline passed with the queue still full.
        Timeout => "put timed out",
        /// The queue was closed.
        Closed => "queue closed",
    }
}

/// A blocking get from a queue failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GetError {
    /// The queue is closed and drained.
    #[error("queue closed")]
    Closed,
    /// The queue's shared state is inconsistent.
    #[error(transparent)]
    Corrupted(#[from] Corrupted),
}

/// A non-blocking get failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryGetError {
    /// Nothing to take now.
    #[error("queue empty")]
    Empty,
    /// The queue is closed and drained.
    #[error("queue closed")]
    Closed,
    /// The queue's shared state is inconsistent.
    #[error(transparent)]
    Corrupted(#[from] Corrupted),
}

/// A get with a timeout failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GetTimeoutError {
    /// The deadline passed with nothing to take.
    #[error("get timed out")]
    Timeout,
    /// The queue is closed and drained.
    #[error("queue closed")]
    Closed,
    /// The queue's shared state is inconsistent.
    #[error(transparent)]
    Corrupted(#[from] Corrupted),
}

/// A byte-message operation on a [`ByteQueue`](crate::queue::ByteQueue) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The message is longer than the queue's fixed maximum; nothing was sent (never
    /// truncated).
    #[error("message of {len} bytes exceeds the maximum of {max}")]
    MessageTooLarge {
        /// The message's length.
        len: usize,
        /// The queue's maximum.
        max: usize,
    },
    /// Non-blocking put: every slot is taken.
    #[error("queue full")]
    Full,
    /// Non-blocking get: nothing to take.
    #[error("queue empty")]
    Empty,
    /// The deadline passed.
    #[error("timed out")]
    Timeout,
    /// The queue is closed (and, for a get, drained).
    #[error("queue closed")]
    Closed,
    /// A length or position read from shared memory is inconsistent.
    #[error(transparent)]
    Corrupted(#[from] Corrupted),
}

/// [`Queue::put_slice`](crate::queue::Queue::put_slice) stopped before putting the
/// whole slice; each variant carries how many items were put (a prefix of the slice, in
/// order).
///
/// # Examples
///
/// ```
/// let mut q = shmlane::queue::Queue::<u8>::anonymous(4)?;
/// q.close()?;
/// let e = q.put_slice(&[1, 2]).unwrap_err();
/// assert_eq!(e, shmlane::error::PutSliceError::Closed { put: 0 });
/// assert_eq!(e.put(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PutSliceError {
    /// The queue was closed.
    #[error("queue closed after {put} items of the slice were put")]
    Closed {
        /// Items put before the failure.
        put: usize,
    },
    /// The queue's shared state is inconsistent.
    #[error("{corrupted} (after {put} items of the slice were put)")]
    Corrupted {
        /// Items put before the failure.
        put: usize,
        /// What was found.
        corrupted: Corrupted,
    },
}

impl PutSliceError {
    /// How many items of the slice were put.
    pub fn put(&self) -> usize {
        match *self {
            Self::Closed { put } | Self::Corrupted { put, .. } => put,
        }
    }
}
