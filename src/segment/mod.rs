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
//! [`CreateError::NoSpace`]: crate::CreateError::NoSpace
//! [`OpenError::Untrusted`]: crate::OpenError::Untrusted
//! [`OpenError::NotRegularFile`]: crate::OpenError::NotRegularFile
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

mod create;
mod mmap;
#[cfg(feature = "internals")]
pub mod name;
#[cfg(not(feature = "internals"))]
mod name;
mod open;
mod stale;
mod validate;

pub use name::check_name;
pub use open::OpenOptions;
use open::open_object;
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
///
/// [`OpenError::VersionMismatch`]: crate::OpenError::VersionMismatch
/// [`OpenError::BadMagic`]: crate::OpenError::BadMagic
pub use crate::layout::{FORMAT_VERSION, MAGIC};

use crate::layout::SegmentHeader;
use crate::primitive::Ordering;
use crate::ring::spsc::RawRing;
use mmap::Mapping;
pub(crate) use mmap::SharedWord;
use rustix::fd::{AsFd, BorrowedFd};
use rustix::shm;
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
    /// A pool's class table and geometry: the private copy, validated (pools only).
    pool: Option<(crate::layout::PoolInfo, crate::ring::pool::Geometry)>,
}

impl Segment {
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

    /// A pool segment's class table (the private copy taken and validated at open, or
    /// written at create) and its mapped view.
    pub(crate) fn pool(
        &self,
    ) -> Option<(
        crate::layout::PoolInfo,
        crate::ring::pool::mapped::MappedPool,
    )> {
        let (info, geo) = self.pool.as_ref()?;
        Some((*info, self.map.pool(geo.clone())?))
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
