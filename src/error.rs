//! Per-operation error types. Each names what went wrong with the values involved, and
//! the send errors give back the value that could not be sent.
//!
//! # Examples
//!
//! ```
//! use shmlane::TrySendError;
//! let e = TrySendError::Full(7u64);
//! assert_eq!(e.into_inner(), 7);
//! ```

use std::fmt;

/// Why a segment could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreateError {
    /// The name is not usable (empty, contains '/', too long, …).
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// A segment of that name exists already.
    #[error("a segment named {0:?} already exists")]
    AlreadyExists(String),
    /// Capacity must be a power of two between 1 and 2^40.
    #[error("invalid capacity {0}: must be a power of two in 1..=2^40")]
    InvalidCapacity(u64),
    /// The element type cannot live in a ring slot.
    #[error("element type {name} has alignment {align}; at most 128 is supported")]
    ElementTooAligned {
        /// Type name.
        name: &'static str,
        /// Its alignment.
        align: u32,
    },
    /// The layout does not fit in 64 bits or in the address space.
    #[error("segment size overflows: capacity {capacity} × element size {elem_size}")]
    TooLarge {
        /// Requested capacity.
        capacity: u64,
        /// Element size.
        elem_size: u32,
    },
    /// A parameter of the object to create is out of range (a semaphore's initial
    /// count above its bound, a barrier of no parties); nothing was created.
    #[error("invalid {param} {value}: {reason}")]
    InvalidParameter {
        /// Which parameter.
        param: &'static str,
        /// Its value.
        value: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A shared object was made but its lock word was garbled before it could be
    /// initialized (by an early opener of the name).
    #[error(transparent)]
    ObjectCorrupted(#[from] ObjectCorrupted),
    /// The segment was made but this handle could not join it.
    #[error(transparent)]
    Claim(#[from] ClaimError),
    /// The memory for the segment could not be reserved (a full `/dev/shm`, a size
    /// beyond what the file system or the machine can ever back). Nothing was created.
    #[error("no space for the segment: {wanted} bytes wanted{}", match .limit {
        Some(l) => format!(", at most {l} can ever be backed"),
        None => String::new(),
    })]
    NoSpace {
        /// Bytes the segment needs.
        wanted: u64,
        /// The most the backing store can hold, when the size exceeds it outright
        /// (`None`: the store is full now).
        limit: Option<u64>,
    },
    /// A system call failed.
    #[error("{op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file under the name carries shmlane's magic but another format version or a
    /// kind this version does not know: made by another shmlane, perhaps in use. It is
    /// neither adopted nor removed; nothing was created.
    #[error(
        "a segment named {name:?} of another shmlane format exists (format version {version}, kind {kind}); it is kept"
    )]
    OtherFormat {
        /// The user name.
        name: String,
        /// Its format version.
        version: u32,
        /// Its kind code.
        kind: u32,
    },
}

/// Why a segment name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid segment name {name:?}: {reason}")]
pub struct NameError {
    /// The name as given.
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Why an existing segment could not be opened. Every mismatch names the value the
/// opener expected and the value it found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The name is not usable.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// No segment has that name.
    #[error("no segment named {0:?}")]
    DoesNotExist(String),
    /// The file is shorter than a header.
    #[error("segment is truncated: {found} bytes, a header needs {expected}")]
    Truncated {
        /// Minimum length.
        expected: u64,
        /// Actual file length.
        found: u64,
    },
    /// Not a shmlane segment.
    #[error("bad magic: expected {expected:?}, found {found:?}")]
    BadMagic {
        /// [`crate::layout::MAGIC`].
        expected: [u8; 8],
        /// First eight bytes found.
        found: [u8; 8],
    },
    /// Made by an incompatible version of shmlane.
    #[error("format version mismatch: expected {expected}, found {found}")]
    VersionMismatch {
        /// Our [`crate::layout::FORMAT_VERSION`].
        expected: u32,
        /// The segment's.
        found: u32,
    },
    /// A different kind of segment (e.g. a duplex opened as a pipe).
    #[error(
        "segment kind mismatch: expected {expected} ({}), found {found} ({})",
        crate::layout::SegmentKind::name_of(*expected),
        crate::layout::SegmentKind::name_of(*found)
    )]
    KindMismatch {
        /// Kind code expected.
        expected: u32,
        /// Kind code found.
        found: u32,
    },
    /// The header's total length disagrees with the file size.
    #[error("length mismatch: header says {header} bytes, file has {file}")]
    LengthMismatch {
        /// `total_len` in the header.
        header: u64,
        /// Real file size.
        file: u64,
    },
    /// Capacity in the header is not a power of two in range.
    #[error("invalid capacity in header: {0}")]
    InvalidCapacity(u64),
    /// The caller asked for a specific capacity and the segment has another.
    #[error("capacity mismatch: expected {expected}, found {found}")]
    CapacityMismatch {
        /// Requested.
        expected: u64,
        /// In the segment.
        found: u64,
    },
    /// Element size differs.
    #[error("element size mismatch: expected {expected}, found {found}")]
    ElementSizeMismatch {
        /// `size_of::<T>()`.
        expected: u32,
        /// In the segment.
        found: u32,
    },
    /// Element alignment differs.
    #[error("element alignment mismatch: expected {expected}, found {found}")]
    ElementAlignMismatch {
        /// `align_of::<T>()`.
        expected: u32,
        /// In the segment.
        found: u32,
    },
    /// Same size and alignment but a different type.
    #[error("element type mismatch: expected {expected}, found {found}")]
    TypeMismatch {
        /// Our type name.
        expected: String,
        /// The segment's type name.
        found: String,
    },
    /// A derived layout field disagrees with what the header's own values imply.
    #[error("layout mismatch in {field}: expected {expected}, found {found}")]
    LayoutMismatch {
        /// Which field.
        field: &'static str,
        /// Value implied by the other fields.
        expected: u64,
        /// Value stored.
        found: u64,
    },
    /// No usable inherited descriptor under that environment variable.
    #[error("no inherited segment in ${key}: {reason}")]
    NoInheritedFd {
        /// The environment variable.
        key: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// An anonymous segment's memfd is not sealed against shrinking.
    #[error("memfd is not sealed against shrinking")]
    NotSealed,
    /// The creator has not finished initializing (or crashed while doing so).
    #[error("segment not initialized (init word {0:#x})")]
    NotInitialized(u32),
    /// A named segment's file is owned by another user or writable by group or others,
    /// so someone else could rewrite or truncate it under us. Open it anyway only with
    /// [`OpenOptions::allow_foreign`](crate::segment::OpenOptions::allow_foreign).
    #[error(
        "untrusted segment file: owner uid {owner}, mode {mode:#o} (need owner {euid} and no group/other write)"
    )]
    Untrusted {
        /// Owner of the file.
        owner: u32,
        /// Permission bits of the file.
        mode: u32,
        /// Our effective uid.
        euid: u32,
    },
    /// The segment is valid but this handle could not join it.
    #[error(transparent)]
    Claim(#[from] ClaimError),
    /// A system call failed.
    #[error("{op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The segment's `persisted` word holds neither 0 nor 1: a scribbler wrote it. Such
    /// a segment is refused, so that `gc` may remove it as one nobody can open.
    #[error("garbage in the persisted word: {0:#x}")]
    BadPersistedWord(u32),
    /// The name is not a regular file (a symbolic link, a directory, a FIFO, …): not a
    /// segment, never followed or opened.
    #[error("not a regular file (file type {file_type:#o})")]
    NotRegularFile {
        /// The file type bits of `st_mode` (`0o120000` for a symbolic link).
        file_type: u32,
    },
}

/// Why an endpoint (sender or receiver side) could not be claimed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimError {
    /// A live process holds that endpoint already.
    #[error("endpoint busy: held by live process {pid}")]
    EndpointBusy {
        /// The holder.
        pid: u32,
    },
    /// Another claimant changed the endpoint while we tried; try again.
    #[error("endpoint changed concurrently")]
    Contended,
    /// Every entry of a queue's endpoint table is held by a live handle.
    #[error("all {members} endpoint table entries are in use")]
    TableFull {
        /// Entries in the table.
        members: usize,
    },
}

/// The ring's shared positions are inconsistent: a peer (or something else) wrote
/// garbage into the mapping. The operation was refused without touching memory
/// outside the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ring corrupted: head {head}, tail {tail}, capacity {capacity}")]
pub struct Corrupted {
    /// Consumer position seen.
    pub head: u64,
    /// Producer position seen.
    pub tail: u64,
    /// Ring capacity.
    pub capacity: u64,
}

macro_rules! value_error {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident => $msg:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq)]
        pub enum $name<T> {
            $($(#[$vm])* $var(T),)*
            /// The ring is corrupted; the value is given back.
            Corrupted(T, Corrupted),
        }

        impl<T> $name<T> {
            /// Gives back the value that was not sent.
            pub fn into_inner(self) -> T {
                match self { $(Self::$var(v))|* | Self::Corrupted(v, _) => v }
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $(Self::$var(_) => f.write_str(concat!(stringify!($name), "::", stringify!($var), "(..)")),)*
                    Self::Corrupted(_, c) => write!(f, "{}::Corrupted(.., {c:?})", stringify!($name)),
                }
            }
        }

        impl<T> fmt::Display for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $(Self::$var(_) => f.write_str($msg),)*
                    Self::Corrupted(_, c) => fmt::Display::fmt(c, f),
                }
            }
        }

        impl<T> std::error::Error for $name<T> {}
    };
}

value_error! {
    /// A blocking send failed; the value comes back. For bulk sends `T` is the number
    /// of elements sent before the failure.
    SendError {
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

/// A blocking receive failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
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

/// Error of the push side of a bare ring ([`crate::ring::spsc::Producer::push`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PushError<T> {
    /// No free slot.
    Full(T),
    /// The consumer's position is inconsistent.
    Corrupted(T, Corrupted),
}

impl<T> fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("PushError::Full(..)"),
            Self::Corrupted(_, c) => write!(f, "PushError::Corrupted(.., {c:?})"),
        }
    }
}

/// Error of the pop side of a bare ring ([`crate::ring::spsc::Consumer::pop`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PopError {
    /// Nothing published.
    #[error("ring empty")]
    Empty,
    /// The producer's position is inconsistent.
    #[error(transparent)]
    Corrupted(#[from] Corrupted),
}

value_error! {
    /// A blocking put into a queue failed; the value comes back.
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

/// A shared object's lock word names a holder that this process knows cannot hold it,
/// so waiting for that holder would never end: the blocking call gives up instead.
/// A live holder that is merely slow or stopped is waited for, never reported.
///
/// # Examples
///
/// ```
/// use shmlane::error::{LockWordLie, ObjectCorrupted};
/// let e = ObjectCorrupted { pid: 1, lie: LockWordLie::NotAUser };
/// assert!(e.to_string().contains("process 1"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", match .lie {
    LockWordLie::NoEntryAfterFork => format!("shared object unusable in process {pid}: {lie}"),
    _ => format!("shared object corrupted: its lock word names process {pid}, {lie}"),
})]
pub struct ObjectCorrupted {
    /// The pid the lock word names.
    pub pid: u32,
    /// Why that process cannot be the holder.
    pub lie: LockWordLie,
}

/// Why a [`SharedValue`](crate::sync::SharedValue) read (`load`, `update`) returned
/// no value.
///
/// # Examples
///
/// ```
/// use shmlane::error::ValueError;
/// let v = shmlane::sync::SharedValue::anonymous(1u64)?;
/// match v.load() {
///     Ok(x) => assert_eq!(x, 1),
///     // the last writer died mid-store: only a `store` of a whole value repairs it
///     Err(ValueError::WriterDied) => v.store(0)?,
///     Err(e) => return Err(e.into()),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The writers' lock word is corrupted (see [`ObjectCorrupted`]).
    #[error(transparent)]
    Corrupted(#[from] ObjectCorrupted),
    /// The last writer died in the middle of a store: the words mix two values. No
    /// value is returned and the value stays marked inconsistent until a `store`
    /// replaces it whole.
    #[error("the shared value's last writer died in the middle of a store; store a new value")]
    WriterDied,
}

/// Why the process a lock word names cannot hold the lock ([`ObjectCorrupted`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LockWordLie {
    /// A live process that does not have the object open (it holds no entry of the
    /// object's user table, which every locker claims before it can lock).
    #[error("a live process that does not have the object open")]
    NotAUser,
    /// This very process, while no thread of it holds the lock or is taking it.
    #[error("this process, which does not hold it")]
    NotHeldHere,
    /// Not about the word: this process, a child forked with the handle, must claim an
    /// entry of the object's user table of its own before its first lock, and found
    /// none free (every entry is held by a live process). `pid` is this process. Open
    /// the object anew, or try again, once an entry is free.
    #[error(
        "a child forked with the handle needs an entry of the object's user table of its own \
         to lock, and every entry is held by a live process"
    )]
    NoEntryAfterFork,
}
