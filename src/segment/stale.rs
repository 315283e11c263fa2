//! Reclaiming stale named segments: a segment whose creator is dead, that was not
//! persisted, and none of whose endpoints is held by a live process can only be garbage
//! (typically left by a SIGKILLed creator). `create` removes such a segment instead of
//! failing with `AlreadyExists`, so a crash never blocks a restart.
//!
//! Removal must never hit a live segment that replaced the stale one meanwhile: the
//! stale file is first moved aside with an atomic `rename` to a private name, then its
//! inode is compared with the one inspected; on a mismatch the file is put back.

use super::mmap::Mapping;
use super::name;
use super::validate::{Expect, validate_header};
use crate::layout::{ElemDesc, Endpoint, SegmentHeader, SegmentKind};
use crate::platform::identity;
use crate::primitive::Ordering;
use crate::ring::Identity;
use crate::ring::endpoint::{self, Status};
use rustix::fs::Mode;
use rustix::shm;
use std::fs::File;
use std::os::unix::fs::MetadataExt;

/// Maps the shm object `object` and validates its header against its own element
/// description (any element type, any known kind).
fn inspect(object: &str) -> Option<(Mapping, SegmentHeader, u64)> {
    let fd = shm::open(object, shm::OFlags::RDWR, Mode::empty()).ok()?;
    let file = File::from(fd);
    let meta = file.metadata().ok()?;
    let len = meta.len();
    if len < crate::layout::HEADER_LEN {
        return None;
    }
    let map = Mapping::new(file, len).ok()?;
    let raw = map.header_bytes();
    let (h, _) = <SegmentHeader as zerocopy::FromBytes>::read_from_prefix(&raw).ok()?;
    let kind = SegmentKind::from_u32(h.kind)?;
    let elem = ElemDesc {
        size: h.elem_size,
        align: h.elem_align,
        fingerprint: h.type_fingerprint,
        name: "",
    };
    let h = validate_header(
        &raw,
        len,
        &Expect {
            kind,
            elem,
            capacity: None,
        },
    )
    .ok()?;
    Some((map, h, meta.ino()))
}

/// True if nothing alive can still use the segment.
fn is_stale(map: &Mapping, h: &SegmentHeader) -> bool {
    // Acquire: pairs with the Release store in `Segment::persist`.
    if map.live().persisted.load(Ordering::Acquire) != 0 {
        return false;
    }
    if identity::is_alive(Identity {
        pid: h.creator_pid,
        start: h.creator_start,
    }) {
        return false;
    }
    endpoints(map, h).iter().all(|(_, _, ep)| {
        let (word, owner) = endpoint::load(ep);
        endpoint::status(word) != Status::Attached || !identity::is_alive(owner)
    })
}

/// Every endpoint of the segment with its ring and role: a pipe's or duplex's
/// producer and consumer per ring, a queue's endpoint table entries, or an object's
/// user table entries.
fn endpoints<'a>(map: &'a Mapping, h: &SegmentHeader) -> Vec<(u32, &'static str, &'a Endpoint)> {
    let mut out = Vec::new();
    if let Some(q) = map.queue_control(h) {
        out.extend(q.members.iter().map(|m| (0, "member", &m.ep)));
    }
    if let Some(o) = map.object_control(h) {
        out.extend(o.users.iter().map(|u| (0, "user", u)));
    }
    for i in 0..h.rings {
        if let Some(c) = map.control(h, i) {
            out.push((i, "producer", &c.producer));
            out.push((i, "consumer", &c.consumer));
        }
    }
    out
}

/// What `shmlane ls` shows about one segment.
///
/// # Examples
///
/// ```
/// for info in shmlane::segment::list() {
///     println!("{} {:?} stale={}", info.name, info.kind, info.stale);
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// User name (without the `shmlane.` prefix).
    pub name: String,
    /// Kind, if the header is valid.
    pub kind: Option<SegmentKind>,
    /// Slots per ring (elements, for arrays).
    pub capacity: u64,
    /// Element size in bytes.
    pub elem_size: u32,
    /// Element type name as recorded by the creator.
    pub type_name: String,
    /// Creator's pid and whether it is alive.
    pub creator: (u32, bool),
    /// Whether `persist()` was called.
    pub persisted: bool,
    /// `(ring, "producer" | "consumer" | "member" | "user", status, owner pid, owner
    /// alive)` per endpoint (never-used table entries are left out).
    pub endpoints: Vec<(u32, &'static str, Status, u32, bool)>,
    /// Whether `gc` (or a `create` of the same name) would remove it.
    pub stale: bool,
}

fn info(object: &str) -> Option<SegmentInfo> {
    let (map, h, _) = inspect(object)?;
    let end = h
        .type_name
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(h.type_name.len());
    let endpoints = endpoints(&map, &h)
        .into_iter()
        .map(|(i, side, ep)| {
            let (word, owner) = endpoint::load(ep);
            (
                i,
                side,
                endpoint::status(word),
                owner.pid,
                identity::is_alive(owner),
            )
        })
        // Tables (a queue's, an object's) have many never-used entries; list the used.
        .filter(|&(_, side, status, _, _)| {
            !matches!(side, "member" | "user") || status != Status::Free
        })
        .collect();
    Some(SegmentInfo {
        name: object
            .strip_prefix(name::PREFIX)
            .unwrap_or(object)
            .to_owned(),
        kind: SegmentKind::from_u32(h.kind),
        capacity: h.capacity,
        elem_size: h.elem_size,
        type_name: String::from_utf8_lossy(&h.type_name[..end]).into_owned(),
        creator: (
            h.creator_pid,
            identity::is_alive(Identity {
                pid: h.creator_pid,
                start: h.creator_start,
            }),
        ),
        // Acquire: pairs with the Release store in `Segment::persist`.
        persisted: map.live().persisted.load(Ordering::Acquire) != 0,
        endpoints,
        stale: is_stale(&map, &h),
    })
}

fn objects() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(name::SHM_DIR) else {
        return Vec::new();
    };
    let mut v: Vec<String> = dir
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(name::PREFIX))
        .collect();
    v.sort();
    v
}

/// Every readable shmlane segment in `/dev/shm` (temporaries excluded).
pub fn list() -> Vec<SegmentInfo> {
    objects()
        .iter()
        .filter(|o| !o.starts_with(name::TMP_PREFIX))
        .filter_map(|o| info(o))
        .collect()
}

/// Removes stale segments and temporaries left by dead creators; returns the names of
/// the shm objects removed.
///
/// # Examples
///
/// ```
/// let removed = shmlane::segment::gc();
/// assert!(removed.iter().all(|n| n.starts_with("shmlane.")));
/// ```
pub fn gc() -> Vec<String> {
    let mut removed = Vec::new();
    for object in objects() {
        if let Some(rest) = object.strip_prefix(name::TMP_PREFIX) {
            // shmlane.tmp.<pid>.<n>: a creator that died before linking it into place.
            let pid = rest
                .split('.')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            if !identity::is_alive(Identity { pid, start: 0 })
                && shm::unlink(object.as_str()).is_ok()
            {
                removed.push(object);
            }
        } else if reclaim(&object) {
            removed.push(object);
        }
    }
    removed
}

/// Removes the shm object `object` if it is stale; true if it was removed. Unreadable
/// or malformed files are left alone (they are not ours to judge).
pub(super) fn reclaim(object: &str) -> bool {
    let Some((map, h, ino)) = inspect(object) else {
        return false;
    };
    if !is_stale(&map, &h) {
        return false;
    }
    drop(map);
    let grave = name::temp_object_name();
    if std::fs::rename(name::path(object), name::path(&grave)).is_err() {
        return false; // someone else removed or replaced it first
    }
    let moved_ino = std::fs::metadata(name::path(&grave)).map(|m| m.ino()).ok();
    if moved_ino != Some(ino) {
        // We moved a segment that replaced the stale one in the meantime: put it back
        // (link fails if yet another one took the name; that one is then the live one).
        let _ = std::fs::hard_link(name::path(&grave), name::path(object));
    }
    let _ = shm::unlink(grave.as_str());
    moved_ino == Some(ino)
}
