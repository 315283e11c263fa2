//! Creation: [`Segment::create`] (named: built under a temporary name, then linked into
//! place) and [`Segment::create_anonymous`] (a sealed memfd), with the header checks and
//! the page reservation (`fallocate`) both share.

use super::mmap::Mapping;
use super::{Expect, Segment, check_name, name, stale, validate};
use crate::error::CreateError;
use crate::layout::{INIT_READY, MAX_ELEM_ALIGN, SegmentHeader};
use crate::primitive::Ordering;
use crate::ring::spsc::check_capacity;
use rustix::fs::{Mode, SealFlags};
use rustix::shm;
use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

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
            crate::layout::SegmentKind::Pool => {
                if capacity == 0 || capacity > u64::from(crate::ring::pool::MAX_CHUNKS) {
                    return Err(CreateError::InvalidCapacity {
                        capacity,
                        expected: crate::error::POOL_CHUNKS,
                    });
                }
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
    ///
    /// `init` (a pool's class table) is written right after the header, before the
    /// segment is `READY`.
    fn build(file: File, header: &SegmentHeader, init: &[u8]) -> Result<Mapping, CreateError> {
        let cerr = |op| move |source| CreateError::Io { op, source };
        reserve(&file, header.total_len)?;
        let map = Mapping::new(file, header.total_len).map_err(cerr("mmap"))?;
        map.write_header(header);
        if !map.write_init(crate::layout::HEADER_LEN, init) {
            return Err(CreateError::TooLarge {
                capacity: header.capacity,
                elem_size: header.elem_size,
            });
        }
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
        Self::create_named(name, header, &[])
    }

    /// Creates a pool segment (named or anonymous) with the class table `info` of
    /// geometry `geo`: the length derives from the table, which is written before the
    /// segment is `READY`.
    pub(crate) fn create_pool(
        name: Option<&str>,
        info: &crate::layout::PoolInfo,
        geo: &crate::ring::pool::Geometry,
    ) -> Result<Self, CreateError> {
        use zerocopy::IntoBytes;
        let expect = Expect {
            kind: crate::layout::SegmentKind::Pool,
            elem: crate::layout::pool_elem(),
            capacity: None,
        };
        let capacity = u64::from(geo.chunks());
        let mut header = Self::check_create(&expect, capacity, info.classes)?;
        let too_large = CreateError::TooLarge {
            capacity,
            elem_size: 1,
        };
        let total = crate::ring::pool::mapped::PoolLayout::new(geo)
            .map(|l| l.total)
            .filter(|&t| usize::try_from(t).is_ok())
            .ok_or(too_large)?;
        header.total_len = total;
        header.ring_stride = total - crate::layout::HEADER_LEN;
        let mut seg = match name {
            Some(n) => {
                check_name(n)?;
                Self::create_named(n, header, info.as_bytes())?
            }
            None => Self::create_anonymous_header(header, info.as_bytes())?,
        };
        seg.pool = Some((*info, geo.clone()));
        Ok(seg)
    }

    fn create_named(name: &str, header: SegmentHeader, init: &[u8]) -> Result<Self, CreateError> {
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
        let result = Self::build(File::from(fd), &header, init).and_then(|map| {
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
            pool: None,
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
        Self::create_anonymous_header(header, &[])
    }

    fn create_anonymous_header(header: SegmentHeader, init: &[u8]) -> Result<Self, CreateError> {
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
        let map = Self::build(File::from(fd), &header, init)?;
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
            pool: None,
        })
    }
}
