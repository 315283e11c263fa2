//! Opening: [`OpenOptions`] (the owner, mode and capacity an opener accepts), the
//! `O_NOFOLLOW` open of a shm object, and [`Segment::open`], [`Segment::open_with`],
//! [`Segment::from_fd`] with the mapping and validation behind them.

use super::mmap::Mapping;
use super::{Expect, Segment, check_name, name, validate_header};
use crate::error::OpenError;
use crate::layout::INIT_READY;
use crate::primitive::Ordering;
use rustix::fd::OwnedFd;
use rustix::fs::{Mode, SealFlags};
use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

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

impl Segment {
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
        // A pool: validate the private copy of its class table (the creator wrote it
        // before READY, which we acquired above).
        let pool = if header.kind == crate::layout::SegmentKind::Pool as u32 {
            let bytes = map.pool_info_bytes().ok_or(OpenError::Truncated {
                expected: crate::layout::POOL_BUSY_OFFSET,
                found: file_len,
            })?;
            Some(super::validate::validate_pool(&bytes, &header)?)
        } else {
            None
        };
        Ok(Self {
            map: Arc::new(map),
            header,
            name: None,
            unlink: AtomicBool::new(false),
            pool,
        })
    }
}
