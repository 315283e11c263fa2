//! Errors of buffer pools ([`crate::pool`]) and of the pipes that carry their buffers
//! ([`crate::carrier`]).

/// The capacity (chunk count) a pool segment may have, for `InvalidCapacity`.
pub(crate) const POOL_CHUNKS: &str = "a chunk count in 1..=2^20";

/// A chunk word that no legal transition produces, or one that contradicts what this
/// process holds: the pool's shared state is inconsistent (a scribbled segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("buffer pool corrupted: chunk {index} has the illegal word {word:#018x}")]
pub struct PoolCorrupted {
    /// Global chunk index.
    pub index: u32,
    /// The word read.
    pub word: u64,
}

/// A blocking [`Pool::alloc`](crate::pool::Pool::alloc) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// No class of the pool has chunks of `len` bytes or more.
    #[error("no chunk of {len} bytes: the largest class holds {max}")]
    TooLarge {
        /// The length asked for.
        len: usize,
        /// The largest chunk size of the pool.
        max: usize,
    },
    /// The wait could never end: the pool's shared state is inconsistent.
    #[error(transparent)]
    Corrupted(#[from] PoolCorrupted),
    /// Called in a process other than the one that opened this `Pool` handle (a
    /// `fork`ed child): its member entry is the parent's. Nothing was changed; open
    /// the pool again in this process.
    #[error("pool handle opened by another process (fork): open the pool again in this process")]
    Forked,
}

/// A non-blocking [`Pool::try_alloc`](crate::pool::Pool::try_alloc) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryAllocError {
    /// Every chunk of the fitting class is held (after a sweep and, at most once per
    /// tick, a recovery of dead holders).
    #[error("buffer pool exhausted")]
    Exhausted,
    /// No class of the pool has chunks of `len` bytes or more.
    #[error("no chunk of {len} bytes: the largest class holds {max}")]
    TooLarge {
        /// The length asked for.
        len: usize,
        /// The largest chunk size of the pool.
        max: usize,
    },
    /// The pool's shared state is inconsistent.
    #[error(transparent)]
    Corrupted(#[from] PoolCorrupted),
    /// Called in a process other than the one that opened this `Pool` handle (a
    /// `fork`ed child): its member entry is the parent's. Nothing was changed; open
    /// the pool again in this process.
    #[error("pool handle opened by another process (fork): open the pool again in this process")]
    Forked,
}

/// An [`Pool::alloc_timeout`](crate::pool::Pool::alloc_timeout) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AllocTimeoutError {
    /// The deadline passed with every chunk of the fitting class held.
    #[error("alloc timed out")]
    Timeout,
    /// No class of the pool has chunks of `len` bytes or more.
    #[error("no chunk of {len} bytes: the largest class holds {max}")]
    TooLarge {
        /// The length asked for.
        len: usize,
        /// The largest chunk size of the pool.
        max: usize,
    },
    /// The wait could never end: the pool's shared state is inconsistent.
    #[error(transparent)]
    Corrupted(#[from] PoolCorrupted),
    /// Called in a process other than the one that opened this `Pool` handle (a
    /// `fork`ed child): its member entry is the parent's. Nothing was changed; open
    /// the pool again in this process.
    #[error("pool handle opened by another process (fork): open the pool again in this process")]
    Forked,
}

/// A [`BufHandle`](crate::pool::BufHandle) was refused by
/// [`Pool::open_handle`](crate::pool::Pool::open_handle): nothing of the chunk was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    /// The handle names another pool.
    #[error("handle of pool {found:#x}, this is pool {expected:#x}")]
    Foreign {
        /// This pool's identity.
        expected: u64,
        /// The handle's.
        found: u64,
    },
    /// A field out of range for this pool (`"index"`, `"generation"`, `"len"`).
    #[error("forged buffer handle: {what} out of range")]
    Forged {
        /// The field.
        what: &'static str,
    },
    /// The chunk is not frozen in the handle's generation: freed (maybe reused), or
    /// never frozen (its writer died mid-write).
    #[error("stale buffer handle: chunk {index} is no longer generation {generation}")]
    Stale {
        /// Global chunk index.
        index: u32,
        /// The handle's generation.
        generation: u32,
    },
    /// The pool's shared state is inconsistent.
    #[error(transparent)]
    Corrupted(#[from] PoolCorrupted),
    /// Called in a process other than the one that opened this `Pool` handle (a
    /// `fork`ed child): its member entry is the parent's. Nothing was changed; open
    /// the pool again in this process.
    #[error("pool handle opened by another process (fork): open the pool again in this process")]
    Forked,
}

/// A typed view of a buffer does not fit the element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    /// The buffer's length is not a multiple of the element size.
    #[error("{len} bytes are not a whole number of {size}-byte elements")]
    Length {
        /// The buffer's length.
        len: usize,
        /// `size_of` the element type.
        size: usize,
    },
    /// The element type needs more alignment than a chunk has (128).
    #[error("element alignment {align} exceeds the chunk alignment 128")]
    Align {
        /// `align_of` the element type.
        align: usize,
    },
}

/// A [`BufReceiver::recv`](crate::carrier::BufReceiver::recv) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BufRecvError {
    /// The sender is gone and every buffer it sent was received.
    #[error("buffer sender disconnected")]
    Disconnected,
    /// The handle pipe is corrupted.
    #[error(transparent)]
    Corrupted(#[from] super::Corrupted),
    /// A handle of another pool arrived.
    #[error("handle of pool {found:#x}, this is pool {expected:#x}")]
    Foreign {
        /// This pool's identity.
        expected: u64,
        /// The handle's.
        found: u64,
    },
    /// The pool's shared state is inconsistent.
    #[error(transparent)]
    Pool(#[from] PoolCorrupted),
    /// Called in a process other than the one that opened this `Pool` handle (a
    /// `fork`ed child): its member entry is the parent's. Nothing was changed; open
    /// the pool again in this process.
    #[error("pool handle opened by another process (fork): open the pool again in this process")]
    Forked,
}

/// A [`BufReceiver::try_recv`](crate::carrier::BufReceiver::try_recv) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryBufRecvError {
    /// No buffer in flight now.
    #[error("no buffer in flight")]
    Empty,
    /// The sender is gone and every buffer it sent was received.
    #[error("buffer sender disconnected")]
    Disconnected,
    /// The handle pipe is corrupted.
    #[error(transparent)]
    Corrupted(#[from] super::Corrupted),
    /// A handle of another pool arrived (it was taken off the pipe).
    #[error("handle of pool {found:#x}, this is pool {expected:#x}")]
    Foreign {
        /// This pool's identity.
        expected: u64,
        /// The handle's.
        found: u64,
    },
    /// The pool's shared state is inconsistent.
    #[error(transparent)]
    Pool(#[from] PoolCorrupted),
    /// Called in a process other than the one that opened this `Pool` handle (a
    /// `fork`ed child): its member entry is the parent's. Nothing was changed; open
    /// the pool again in this process.
    #[error("pool handle opened by another process (fork): open the pool again in this process")]
    Forked,
}

/// A [`BufReceiver::recv_timeout`](crate::carrier::BufReceiver::recv_timeout) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BufRecvTimeoutError {
    /// The deadline passed with no buffer in flight.
    #[error("receive timed out")]
    Timeout,
    /// The sender is gone and every buffer it sent was received.
    #[error("buffer sender disconnected")]
    Disconnected,
    /// The handle pipe is corrupted.
    #[error(transparent)]
    Corrupted(#[from] super::Corrupted),
    /// A handle of another pool arrived (it was taken off the pipe).
    #[error("handle of pool {found:#x}, this is pool {expected:#x}")]
    Foreign {
        /// This pool's identity.
        expected: u64,
        /// The handle's.
        found: u64,
    },
    /// The pool's shared state is inconsistent.
    #[error(transparent)]
    Pool(#[from] PoolCorrupted),
    /// Called in a process other than the one that opened this `Pool` handle (a
    /// `fork`ed child): its member entry is the parent's. Nothing was changed; open
    /// the pool again in this process.
    #[error("pool handle opened by another process (fork): open the pool again in this process")]
    Forked,
}

/// A [`BufQueue::get`](crate::carrier::BufQueue::get) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BufGetError {
    /// The queue is closed and drained.
    #[error("queue closed")]
    Closed,
    /// The queue's shared state is inconsistent.
    #[error(transparent)]
    Corrupted(#[from] super::Corrupted),
    /// A handle of another pool arrived (it was taken off the queue).
    #[error("handle of pool {found:#x}, this is pool {expected:#x}")]
    Foreign {
        /// This pool's identity.
        expected: u64,
        /// The handle's.
        found: u64,
    },
    /// The pool's shared state is inconsistent.
    #[error(transparent)]
    Pool(#[from] PoolCorrupted),
    /// Called in a process other than the one that opened this `Pool` handle (a
    /// `fork`ed child): its member entry is the parent's. Nothing was changed; open
    /// the pool again in this process.
    #[error("pool handle opened by another process (fork): open the pool again in this process")]
    Forked,
}

/// A [`BufQueue::try_get`](crate::carrier::BufQueue::try_get) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryBufGetError {
    /// No buffer in the queue now.
    #[error("queue empty")]
    Empty,
    /// The queue is closed and drained.
    #[error("queue closed")]
    Closed,
    /// The queue's shared state is inconsistent.
    #[error(transparent)]
    Corrupted(#[from] super::Corrupted),
    /// A handle of another pool arrived (it was taken off the queue).
    #[error("handle of pool {found:#x}, this is pool {expected:#x}")]
    Foreign {
        /// This pool's identity.
        expected: u64,
        /// The handle's.
        found: u64,
    },
    /// The pool's shared state is inconsistent.
    #[error(transparent)]
    Pool(#[from] PoolCorrupted),
    /// Called in a process other than the one that opened this `Pool` handle (a
    /// `fork`ed child): its member entry is the parent's. Nothing was changed; open
    /// the pool again in this process.
    #[error("pool handle opened by another process (fork): open the pool again in this process")]
    Forked,
}

/// A [`BufQueue::get_timeout`](crate::carrier::BufQueue::get_timeout) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BufGetTimeoutError {
    /// The deadline passed with the queue empty.
    #[error("get timed out")]
    Timeout,
    /// The queue is closed and drained.
    #[error("queue closed")]
    Closed,
    /// The queue's shared state is inconsistent.
    #[error(transparent)]
    Corrupted(#[from] super::Corrupted),
    /// A handle of another pool arrived (it was taken off the queue).
    #[error("handle of pool {found:#x}, this is pool {expected:#x}")]
    Foreign {
        /// This pool's identity.
        expected: u64,
        /// The handle's.
        found: u64,
    },
    /// The pool's shared state is inconsistent.
    #[error(transparent)]
    Pool(#[from] PoolCorrupted),
    /// Called in a process other than the one that opened this `Pool` handle (a
    /// `fork`ed child): its member entry is the parent's. Nothing was changed; open
    /// the pool again in this process.
    #[error("pool handle opened by another process (fork): open the pool again in this process")]
    Forked,
}
