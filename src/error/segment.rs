//! Errors of making, opening and joining segments.

use super::ObjectCorrupted;

/// What a pipe's (an SPSC ring's) capacity must be.
pub(crate) const RING_CAPACITY: &str = "a power of two in 1..=2^40";
/// What a queue's capacity must be.
pub(crate) const QUEUE_CAPACITY: &str = "a power of two in 2..=2^40";
/// What a shared object's element count must be.
pub(crate) const OBJECT_LEN: &str = "an element count in 1..=2^40";

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
    /// The capacity (a ring's or queue's slot count, an object's element count) is out
    /// of range for the kind of segment; `expected` says what it must be.
    ///
    /// ```
    /// use shmlane::error::CreateError;
    /// let e = shmlane::queue::Queue::<u8>::anonymous(1).unwrap_err();
    /// assert!(matches!(e, CreateError::InvalidCapacity { capacity: 1, .. }));
    /// assert_eq!(e.to_string(), "invalid capacity 1: must be a power of two in 2..=2^40");
    /// ```
    #[error("invalid capacity {capacity}: must be {expected}")]
    InvalidCapacity {
        /// The capacity asked for.
        capacity: u64,
        /// What it must be (e.g. "a power of two in 1..=2^40" for a pipe).
        expected: &'static str,
    },
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
    /// The capacity in the header is out of range for the kind of segment; `expected`
    /// says what it must be.
    #[error("invalid capacity in header: {found}, must be {expected}")]
    InvalidCapacity {
        /// The header's capacity.
        found: u64,
        /// What it must be for this kind of segment.
        expected: &'static str,
    },
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
