//! Segments: shared-memory files with a validated header, and their lifecycle.
//!
//! * Named segments live in `/dev/shm` (see [`check_name`]). They are created exclusively
//!   with mode 0600 under a temporary name, initialized, and only then linked to their
//!   final name, so an opener never sees a half-built segment. The creating handle
//!   unlinks the name on drop unless [`Segment::persist`] was called.
//! * Anonymous segments are memfds sealed against shrinking and growing, so a peer
//!   cannot truncate them under us (which would SIGBUS us). They are passed to a child
//!   process as an inherited fd (see `Pipe::spawn_with` in [`crate::pipe`]).
//! * Opening validates every header field against the caller's expectation and the real
//!   file size (`validate_header`).
//!
//! * Creation reserves every page of the file (`fallocate`), so a full `/dev/shm` is a
//!   [`CreateError::NoSpace`] at create, not a SIGBUS at the first write.
//! * Opening a named segment refuses a file owned by another user or writable by group
//!   or others ([`OpenError::Untrusted`]) unless [`OpenOptions::allow_foreign`] says so,
//!   and never follows a symbolic link or opens a non-regular file
//!   ([`OpenError::NotRegularFile`]).
//!
//! Caveat: a *named* segment cannot be sealed, so a process with write access to the
//! file (mode 0600 and the owner check limit that to the same user) could truncate it,
//! and every process that has it mapped would die of SIGBUS on its next access. See
//! "Threat model" in `docs/architecture.md`.
//!
//! # Examples
//!
//! ```
//! use shmlane::layout::{ElemDesc, SegmentKind};
//! use shmlane::segment::{Expect, Segment};
//! let e = Expect { kind: SegmentKind::Pipe, elem: ElemDesc::of::<u64>(), capacity: None };
//! let seg = Segment::create_anonymous(&e, 64)?;
//! assert_eq!(seg.header().capacity, 64);
//! # Ok::<(), shmlane::CreateError>(())
//! ```

mod mmap;
#[cfg(feature = "internals")]
pub mod name;
#[cfg(not(feature = "internals"))]
mod name;
mod stale;
mod validate;

pub use name::check_name;
pub use stale::{SegmentInfo, gc, gc_only, list};
#[cfg(feature = "internals")]
pub use validate::{Expect, validate_header};
#[cfg(not(feature = "internals"))]
pub(crate) use validate::{Expect, validate_header};

/// The kind of object a segment holds, as [`SegmentInfo::kind`] reports it.
pub use crate::layout::SegmentKind;
/// The format a segment file declares in its header, and its first 8 bytes (what
/// [`OpenError::VersionMismatch`] and
/// [`OpenError::BadMagic`] compare with).
pub use crate::layout::{FORMAT_VERSION, MAGIC};

use crate::error::{CreateError, OpenError};
use crate::layout::{INIT_READY, MAX_ELEM_ALIGN, SegmentHeader};
use crate::primitive::Ordering;
use crate::ring::spsc::{RawRing, check_capacity};
use mmap::Mapping;
pub(crate) use mmap::SharedWord;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{Mode, SealFlags};
use rustix::shm;
use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// A mapped, validated segment.
///
/// # Examples
///
/// ```
/// use shmlane::layout::{ElemDesc, SegmentKind};
/// use shmlane::segment::{Expect, Segment};
/// let e = Expect { kind: SegmentKind::Pipe, elem: ElemDesc::of::<u8>(), capacity: None };
/// let name = format!("doc-seg-{}", std::process::id());
/// let created = Segment::create(&name, &e, 4096)?;
/// let opened = Segment::open(&name, &e)?;
/// assert_eq!(opened.header(), created.header());
/// drop(created); // unlinks the name
/// assert!(Segment::open(&name, &e).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Segment {
    map: Arc<Mapping>,
    header: SegmentHeader,
    /// User name, for named segments.
    name: Option<String>,
    /// Unlink the name on drop (creator only, until persisted).
    unlink: AtomicBool,
}

/// Options for opening a named segment: one shape for every handle kind (`open_with`
/// on pipes, duplexes, queues and sync objects).
///
/// By default an opener refuses a segment file that another user owns or that group or
/// others may write ([`OpenError::Untrusted`]): whoever can write the file can rewrite
/// or truncate it under us. [`allow_foreign`](Self::allow_foreign) accepts such a file
/// (a segment deliberately shared between users, say through a group), with that risk.
/// [`capacity`](Self::capacity) requires a capacity (by default any is accepted).
///
/// # Examples
///
/// ```
/// use shmlane::segment::OpenOptions;
/// let strict = OpenOptions::new();
/// let lax = OpenOptions::new().allow_foreign(true);
/// assert_ne!(strict, lax);
/// assert_eq!(strict, OpenOptions::default());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenOptions {
    allow_foreign: bool,
    capacity: Option<u64>,
}

impl OpenOptions {
    /// The defaults: only files owned by our effective uid, not group/other writable.
    pub const fn new() -> Self {
        Self {
            allow_foreign: false,
            capacity: None,
        }
    }

    /// Require exactly `capacity` slots per ring (pipes, duplexes, queues) or elements
    /// (a [`SharedArray`](crate::sync::SharedArray)'s length; 1 for the other objects):
    /// any other is refused with [`OpenError::CapacityMismatch`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{OpenError, pipe::Pipe, segment::OpenOptions};
    /// let name = format!("doc-options-capacity-{}", std::process::id());
    /// let _p = Pipe::<u64>::create(&name, 16)?;
    /// Pipe::<u64>::open_with(&name, OpenOptions::new().capacity(16))?;
    /// assert!(matches!(
    ///     Pipe::<u64>::open_with(&name, OpenOptions::new().capacity(32)),
    ///     Err(OpenError::CapacityMismatch { expected: 32, found: 16 })
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity as u64);
        self
    }

    /// Also accept a file owned by another user or writable by group or others.
    pub const fn allow_foreign(mut self, allow: bool) -> Self {
        self.allow_foreign = allow;
        self
    }

    /// Checks the type, owner and mode of an opened file (its `fstat`, so the inode
    /// checked is the inode mapped): a regular file ([`OpenError::NotRegularFile`]
    /// otherwise, whatever the options), ours and not group/other writable.
    pub(crate) fn check(&self, stat: &rustix::fs::Stat) -> Result<(), OpenError> {
        let file_type = stat.st_mode & S_IFMT;
        if file_type != S_IFREG {
            return Err(OpenError::NotRegularFile { file_type });
        }
        let euid = rustix::process::geteuid().as_raw();
        let mode = stat.st_mode & 0o7777;
        if self.allow_foreign || (stat.st_uid == euid && mode & 0o022 == 0) {
            Ok(())
        } else {
            Err(OpenError::Untrusted {
                owner: stat.st_uid,
                mode,
                euid,
            })
        }
    }
}

/// File type bits of `st_mode`, and the regular-file and symbolic-link types.
const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;

/// Opens the shm object `object` (`shmlane.<name>` in `/dev/shm`) read-write, as
/// `shm_open` would, but never through a symbolic link (`O_NOFOLLOW`: `ELOOP`) and
/// never as a controlling terminal (`O_NOCTTY`). rustix's `shm::open` adds only
/// `O_CLOEXEC`, so a planted link would make us map its target.
pub(super) fn open_object(object: &str) -> rustix::io::Result<OwnedFd> {
    use rustix::fs::OFlags;
    rustix::fs::open(
        name::path(object),
        OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// What the store behind `file` can hold: `(at most ever, free now)` in bytes. The
/// file system's size and free space; for the kernel's internal tmpfs (memfds), which
/// has no size of its own, memory plus swap and nothing for "free now" (page cache and
/// reclaim make that figure meaningless). `None` if unknown.
fn backing_store(file: &File) -> Option<(u64, Option<u64>)> {
    let fs = rustix::fs::fstatvfs(file).ok()?;
    if fs.f_blocks > 0 {
        return Some((
            fs.f_blocks.saturating_mul(fs.f_frsize),
            Some(fs.f_bavail.saturating_mul(fs.f_frsize)),
        ));
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib = |key: &str| {
        meminfo.lines().find_map(|l| {
            l.strip_prefix(key)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse::<u64>()
                .ok()
        })
    };
    let total = kib("MemTotal:")?.saturating_add(kib("SwapTotal:").unwrap_or(0));
    Some((total.saturating_mul(1024), None))
}

/// Sizes `file` to `len` bytes and reserves every page of it. `ftruncate` alone makes
/// a sparse file: a full `/dev/shm` would then surface as SIGBUS at some later access
/// in every process that maps the segment. A size that can never be backed (a
/// multi-TiB capacity), or that exceeds what the file system has free now, fails
/// before anything is allocated (so a hopeless request never fills `/dev/shm` for a
/// moment); `fallocate` settles the races.
fn reserve(file: &File, len: u64) -> Result<(), CreateError> {
    if let Some((total, free)) = backing_store(file) {
        let no_space = |limit| CreateError::NoSpace { wanted: len, limit };
        if len > total {
            return Err(no_space(Some(total)));
        }
        if free.is_some_and(|f| len > f) {
            return Err(no_space(None));
        }
    }
    use rustix::io::Errno;
    // Mode 0: allocate and extend the size to `len` (the file is empty and private to
    // us, so nobody sees it half-reserved).
    let result = loop {
        match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len) {
            // A signal arrived mid-way; what is allocated stays allocated: go on.
            Err(Errno::INTR) => continue,
            other => break other,
        }
    };
    match result {
        Ok(()) => Ok(()),
        // tmpfs: out of blocks (ENOSPC), the memory cgroup's charge failed (ENOMEM),
        // beyond the largest file (EFBIG).
        Err(Errno::NOSPC | Errno::NOMEM | Errno::FBIG) => Err(CreateError::NoSpace {
            wanted: len,
            limit: None,
        }),
        Err(e) => Err(CreateError::Io {
            op: "fallocate",
            source: e.into(),
        }),
    }
}

impl Segment {
    fn check_create(
        expect: &Expect,
        capacity: u64,
        param: u32,
    ) -> Result<SegmentHeader, CreateError> {
        match expect.kind {
            crate::layout::SegmentKind::Queue => {
                crate::ring::mpmc::check_capacity(capacity)?;
            }
            k if k.is_object() => {
                if capacity == 0 || capacity > crate::ring::spsc::MAX_CAPACITY {
                    return Err(CreateError::InvalidCapacity {
                        capacity,
                        expected: crate::error::OBJECT_LEN,
                    });
                }
            }
            _ => {
                check_capacity(capacity)?;
            }
        }
        if u64::from(expect.elem.align) > MAX_ELEM_ALIGN {
            return Err(CreateError::ElementTooAligned {
                name: expect.elem.name,
                align: expect.elem.align,
            });
        }
        let mut header =
            validate::new_header(expect, capacity, crate::platform::identity::current())
                .filter(|h| usize::try_from(h.total_len).is_ok())
                .ok_or(CreateError::TooLarge {
                    capacity,
                    elem_size: expect.elem.size,
                })?;
        header.param = param;
        Ok(header)
    }

    /// Sizes (reserving every page), maps and initializes a private file; returns the
    /// mapping.
    fn build(file: File, header: &SegmentHeader) -> Result<Mapping, CreateError> {
        let cerr = |op| move |source| CreateError::Io { op, source };
        reserve(&file, header.total_len)?;
        let map = Mapping::new(file, header.total_len).map_err(cerr("mmap"))?;
        map.write_header(header);
        // Rings need no initialization: zero bytes are empty rings with free endpoints.
        // Release: pairs with the Acquire load in `open_mapping`.
        map.live().init.store(INIT_READY, Ordering::Release);
        Ok(map)
    }

    /// Creates a named segment; fails with `AlreadyExists` if the name is taken (by a
    /// segment that is not stale), `OtherFormat` if another shmlane format's segment
    /// has it (kept, never removed), and `NoSpace` if its pages cannot all be reserved
    /// now (every page is, so a full `/dev/shm` never shows up later as SIGBUS).
    #[cfg_attr(not(feature = "internals"), doc(hidden))]
    pub fn create(name: &str, expect: &Expect, capacity: u64) -> Result<Self, CreateError> {
        Self::create_with(name, expect, capacity, 0)
    }

    /// [`create`](Self::create) with the header's kind-specific `param`.
    #[cfg_attr(not(feature = "internals"), doc(hidden))]
    pub fn create_with(
        name: &str,
        expect: &Expect,
        capacity: u64,
        param: u32,
    ) -> Result<Self, CreateError> {
        check_name(name)?;
        let header = Self::check_create(expect, capacity, param)?;
        let tmp = name::temp_object_name();
        let fd = shm::open(
            tmp.as_str(),
            shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR,
            Mode::RUSR | Mode::WUSR,
        )
        .map_err(|e| CreateError::Io {
            op: "shm_open (temporary)",
            source: e.into(),
        })?;
        let result = Self::build(File::from(fd), &header).and_then(|map| {
            let object = name::object_name(name);
            let link = || std::fs::hard_link(name::path(&tmp), name::path(&object));
            let mut result = link();
            // A segment left by processes that are all dead must not block a restart.
            if matches!(&result, Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists) {
                match stale::reclaim(&object) {
                    stale::Reclaim::Removed => result = link(),
                    stale::Reclaim::Kept => {}
                    // Another shmlane's segment: neither ours to adopt nor to delete.
                    stale::Reclaim::OtherFormat { version, kind } => {
                        return Err(CreateError::OtherFormat {
                            name: name.to_owned(),
                            version,
                            kind,
                        });
                    }
                }
            }
            match result {
                Ok(()) => Ok(map),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    Err(CreateError::AlreadyExists(name.to_owned()))
                }
                Err(source) => Err(CreateError::Io {
                    op: "link into place",
                    source,
                }),
            }
        });
        let _ = shm::unlink(tmp.as_str());
        let map = result?;
        Ok(Self {
            map: Arc::new(map),
            header,
            name: Some(name.to_owned()),
            unlink: AtomicBool::new(true),
        })
    }

    /// Creates an anonymous segment (a sealed memfd), every page reserved (`NoSpace` if
    /// that fails).
    #[cfg_attr(not(feature = "internals"), doc(hidden))]
    pub fn create_anonymous(expect: &Expect, capacity: u64) -> Result<Self, CreateError> {
        Self::create_anonymous_with(expect, capacity, 0)
    }

    /// [`create_anonymous`](Self::create_anonymous) with the header's `param`.
    #[cfg_attr(not(feature = "internals"), doc(hidden))]
    pub fn create_anonymous_with(
        expect: &Expect,
        capacity: u64,
        param: u32,
    ) -> Result<Self, CreateError> {
        let header = Self::check_create(expect, capacity, param)?;
        let cerr = |op| {
            move |e: rustix::io::Errno| CreateError::Io {
                op,
                source: e.into(),
            }
        };
        let fd = rustix::fs::memfd_create(
            "shmlane",
            rustix::fs::MemfdFlags::CLOEXEC | rustix::fs::MemfdFlags::ALLOW_SEALING,
        )
        .map_err(cerr("memfd_create"))?;
        let map = Self::build(File::from(fd), &header)?;
        rustix::fs::fcntl_add_seals(
            map.file(),
            SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL,
        )
        .map_err(cerr("seal memfd"))?;
        Ok(Self {
            map: Arc::new(map),
            header,
            name: None,
            unlink: AtomicBool::new(false),
        })
    }

    /// Opens a named segment and validates it against `expect`; refuses a file that
    /// another user owns or that group or others may write ([`OpenError::Untrusted`]).
    #[cfg_attr(not(feature = "internals"), doc(hidden))]
    pub fn open(name: &str, expect: &Expect) -> Result<Self, OpenError> {
        Self::open_with(name, expect, OpenOptions::new())
    }

    /// [`open`](Self::open) with [`OpenOptions`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::layout::{ElemDesc, SegmentKind};
    /// use shmlane::segment::{Expect, OpenOptions, Segment};
    /// use shmlane::OpenError;
    /// use std::os::unix::fs::PermissionsExt;
    /// let e = Expect { kind: SegmentKind::Pipe, elem: ElemDesc::of::<u8>(), capacity: None };
    /// let name = format!("doc-open-with-{}", std::process::id());
    /// let _created = Segment::create(&name, &e, 64)?;
    /// let path = format!("/dev/shm/shmlane.{name}");
    /// std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))?;
    /// // Others may write it now, so they could truncate it under us:
    /// assert!(matches!(Segment::open(&name, &e), Err(OpenError::Untrusted { mode: 0o666, .. })));
    /// Segment::open_with(&name, &e, OpenOptions::new().allow_foreign(true))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg_attr(not(feature = "internals"), doc(hidden))]
    pub fn open_with(name: &str, expect: &Expect, options: OpenOptions) -> Result<Self, OpenError> {
        check_name(name)?;
        let object = name::object_name(name);
        let fd = open_object(&object).map_err(|e| match e {
            rustix::io::Errno::NOENT => OpenError::DoesNotExist(name.to_owned()),
            // O_NOFOLLOW on a symbolic link.
            rustix::io::Errno::LOOP => OpenError::NotRegularFile { file_type: S_IFLNK },
            e => OpenError::Io {
                op: "shm_open",
                source: e.into(),
            },
        })?;
        let stat = rustix::fs::fstat(&fd).map_err(|e| OpenError::Io {
            op: "fstat",
            source: e.into(),
        })?;
        options.check(&stat)?;
        let mut seg = Self::open_mapping(File::from(fd), expect)?;
        if let Some(want) = options.capacity
            && want != seg.header.capacity
        {
            return Err(OpenError::CapacityMismatch {
                expected: want,
                found: seg.header.capacity,
            });
        }
        seg.name = Some(name.to_owned());
        Ok(seg)
    }

    /// Opens an anonymous segment from a file descriptor (inherited or received).
    /// The memfd must be sealed against shrinking.
    #[cfg_attr(not(feature = "internals"), doc(hidden))]
    pub fn from_fd(fd: OwnedFd, expect: &Expect) -> Result<Self, OpenError> {
        let seals = rustix::fs::fcntl_get_seals(&fd).map_err(|e| OpenError::Io {
            op: "F_GET_SEALS",
            source: e.into(),
        })?;
        if !seals.contains(SealFlags::SHRINK) {
            return Err(OpenError::NotSealed);
        }
        Self::open_mapping(File::from(fd), expect)
    }

    fn open_mapping(file: File, expect: &Expect) -> Result<Self, OpenError> {
        let oerr = |op| {
            move |e: rustix::io::Errno| OpenError::Io {
                op,
                source: e.into(),
            }
        };
        let file_len = rustix::fs::fstat(&file).map_err(oerr("fstat"))?.st_size as u64;
        if file_len < crate::layout::HEADER_LEN {
            return Err(OpenError::Truncated {
                expected: crate::layout::HEADER_LEN,
                found: file_len,
            });
        }
        let map =
            Mapping::new(file, file_len).map_err(|source| OpenError::Io { op: "mmap", source })?;
        // Acquire: pairs with the Release store in `build`; the header is complete.
        let init = map.live().init.load(Ordering::Acquire);
        let header = validate_header(&map.header_bytes(), file_len, expect)?;
        if init != INIT_READY {
            return Err(OpenError::NotInitialized(init));
        }
        // Acquire: pairs with the Release store in `persist`. Only 0 and 1 are ever
        // stored; anything else is a scribbler's, and `gc` removes such a file once no
        // process maps it, so no process may open it (one between this open and its
        // mmap, or with unreadable maps, would be invisible to gc's scan).
        let persisted = map.live().persisted.load(Ordering::Acquire);
        if persisted > 1 {
            return Err(OpenError::BadPersistedWord(persisted));
        }
        Ok(Self {
            map: Arc::new(map),
            header,
            name: None,
            unlink: AtomicBool::new(false),
        })
    }

    /// The validated header.
    #[cfg_attr(not(feature = "internals"), doc(hidden))]
    pub fn header(&self) -> &SegmentHeader {
        &self.header
    }

    /// The user name of a named segment.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Keeps a named segment's name after this handle is dropped.
    pub fn persist(&self) {
        self.unlink
            .store(false, std::sync::atomic::Ordering::Relaxed);
        // Release: an opener that sees the flag also sees the segment as we left it.
        self.map.live().persisted.store(1, Ordering::Release);
    }

    /// The segment's file descriptor (for passing to another process).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.map.file().as_fd()
    }

    /// The words of an [`Array`](crate::layout::SegmentKind::Array) segment of `u32`
    /// or `u64`, as atomics.
    #[allow(dead_code)] // only unit tests since the bench harness moved to cli/
    pub(crate) fn words<W: mmap::SharedWord>(&self) -> Option<&[W]> {
        self.map.words(&self.header)
    }

    /// The control block of an `Object` segment.
    pub(crate) fn object_control(&self) -> Option<&crate::layout::ObjectControl> {
        self.map.object_control(&self.header)
    }

    /// The elements of an `Object` segment of element type `T`: pointer and count.
    pub(crate) fn object_elements<T: bytemuck::Pod>(
        &self,
    ) -> Option<(core::ptr::NonNull<T>, usize)> {
        self.map.object_elements(&self.header)
    }

    /// The data of an `Object` segment as atomic words (any element type).
    pub(crate) fn object_words<W: mmap::SharedWord>(&self) -> Option<&[W]> {
        self.map.object_words(&self.header)
    }

    /// The single element of an `Object` segment of shared-state type `S`.
    pub(crate) fn object_state<S: crate::lock::SyncState>(&self) -> Option<&S> {
        self.map.object_state(&self.header)
    }

    /// The queue of a `Queue` segment as element type `T`, or `None` if `T` is not the
    /// validated element type.
    pub(crate) fn queue<T: bytemuck::Pod>(&self) -> Option<crate::ring::mpmc::QueueRing<T>> {
        self.map.queue(&self.header)
    }

    /// Ring `index` as element type `T`, or `None` if `T` is not the validated element
    /// type or there is no such ring.
    pub(crate) fn ring<T: bytemuck::Pod>(&self, index: u32) -> Option<RawRing<T>> {
        self.map.ring(&self.header, index)
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        if !self.unlink.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let Some(name) = &self.name else { return };
        let object = name::object_name(name);
        // Unlink only if the name still refers to our file (it may have been removed and
        // recreated by someone else meanwhile). Best effort, not exact: the name can be
        // replaced between this `lstat` and the `unlink` (there is no unlink-if-inode),
        // and then the replacement loses its name (see "Threat model").
        let ours = rustix::fs::fstat(self.map.file()).ok();
        let theirs = rustix::fs::lstat(name::path(&object)).ok();
        if let (Some(a), Some(b)) = (ours, theirs)
            && (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
        {
            let _ = shm::unlink(object.as_str());
        }
    }
}

#[cfg(all(test, not(miri)))]
mod tests;
