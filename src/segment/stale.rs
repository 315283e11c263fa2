//! Reclaiming stale named segments: a segment whose creator is dead, that was not
//! persisted, and none of whose endpoints is held by a live process can only be garbage
//! (typically left by a SIGKILLed creator). `create` removes such a segment instead of
//! failing with `AlreadyExists`, so a crash never blocks a restart.
//!
//! A valid segment is stale only if, besides, no live process has it mapped: an opener
//! that has not claimed an end yet (`Pipe::open` claims lazily) is a user too. The
//! `/proc/*/maps` scan is made before any file is inspected, so the mapping made to
//! inspect it is never counted, while handles this process held before are.
//!
//! A *malformed* file under one of our names (bad magic, failed validation, truncated,
//! never initialized, garbage in the persisted word: a crash or a scribbler left it; no
//! `open` accepts any of these) is removed likewise once no live process has it mapped
//! (`/proc/*/maps`, matched by device and inode, so a renamed or unlinked path still
//! counts). A file with our magic but another format version or an unknown kind is not
//! malformed: another shmlane made it, and it is listed but never removed. Temporaries
//! are removed only when their name parses as one `temp_object_name` made and their
//! creator is dead; a name that does not parse as ours is never touched. Names are
//! opened with `O_NOFOLLOW`: a symbolic link (or any non-regular file) is neither
//! followed nor removed.
//!
//! Removal must never hit a live segment that replaced the stale one meanwhile: the
//! stale file is first moved aside with an atomic `rename` to a private name, then its
//! inode is compared with the one inspected; on a mismatch the file is put back.

use super::mmap::Mapping;
use super::name;
use super::validate::{Expect, validate_header};
use crate::error::OpenError;
use crate::layout::{
    ElemDesc, Endpoint, FORMAT_VERSION, INIT_READY, MAGIC, SegmentHeader, SegmentKind,
};
use crate::platform::identity;
use crate::platform::identity::Identity;
use crate::primitive::Ordering;
use crate::ring::endpoint::{self, Status};
use rustix::shm;
use std::fs::File;

/// A file's identity: `(st_dev, st_ino)`.
type FileId = (u64, u64);

/// What a look at one shm object found.
enum Found {
    /// A valid, initialized segment.
    Segment(Mapping, SegmentHeader),
    /// Not a usable segment, and why.
    Malformed(String),
    /// Another user's file, or one group or others may write: not mapped (its writers
    /// could truncate it under us: SIGBUS), never removed. Also a file that is not a
    /// regular file.
    Untrusted(String),
    /// Our magic, but another format version or a kind this version does not know:
    /// another shmlane's segment, not garbage. Not mapped, never removed.
    OtherFormat {
        /// Its format version.
        version: u32,
        /// Its kind code.
        kind: u32,
    },
}

impl Found {
    /// How `ls` describes a file that is not a usable segment.
    fn why(&self) -> Option<String> {
        match self {
            Self::Segment(..) => None,
            Self::Malformed(why) | Self::Untrusted(why) => Some(why.clone()),
            Self::OtherFormat { version, .. } if *version != FORMAT_VERSION => Some(format!(
                "other format version {version} (shmlane's magic; never removed)"
            )),
            Self::OtherFormat { kind, .. } => Some(format!(
                "unknown kind {kind} (shmlane's magic; never removed)"
            )),
        }
    }
}

/// Opens the shm object `object` and classifies it: a segment whose header validates
/// against its own element description (any element type, any known kind), or a
/// malformed file. `None` if it cannot be opened or mapped (not ours to judge).
fn inspect(object: &str) -> Option<(Found, rustix::fs::Stat)> {
    // O_NOFOLLOW: a symbolic link fails here and is not ours to judge.
    let fd = super::open_object(object).ok()?;
    let stat = rustix::fs::fstat(&fd).ok()?;
    if let Err(e) = super::OpenOptions::new().check(&stat) {
        return Some((Found::Untrusted(e.to_string()), stat));
    }
    let len = u64::try_from(stat.st_size).ok()?;
    // Magic, version and kind first (whatever the length): only the magic says the file
    // is ours, and a segment of another format is not garbage, however it is laid out.
    let mut head = [0u8; 16];
    if rustix::io::pread(&fd, &mut head, 0).ok()? == head.len() && head[..8] == MAGIC {
        let word = |i: usize| u32::from_ne_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let (version, kind) = (word(8), word(12));
        if version != FORMAT_VERSION || SegmentKind::from_u32(kind).is_none() {
            return Some((Found::OtherFormat { version, kind }, stat));
        }
    }
    if len < crate::layout::HEADER_LEN {
        let e = OpenError::Truncated {
            expected: crate::layout::HEADER_LEN,
            found: len,
        };
        return Some((Found::Malformed(e.to_string()), stat));
    }
    let map = Mapping::new(File::from(fd), len).ok()?;
    let raw = map.header_bytes();
    let (h, _) = <SegmentHeader as zerocopy::FromBytes>::read_from_prefix(&raw).ok()?;
    let elem = ElemDesc {
        size: h.elem_size,
        align: h.elem_align,
        fingerprint: h.type_fingerprint,
        name: "",
    };
    // An unknown kind fails the kind check (after magic and version).
    let kind = SegmentKind::from_u32(h.kind).unwrap_or(SegmentKind::Pipe);
    let expect = Expect {
        kind,
        elem,
        capacity: None,
    };
    let h = match validate_header(&raw, len, &expect) {
        Ok(h) => h,
        Err(e) => return Some((Found::Malformed(e.to_string()), stat)),
    };
    // A pool's class table is part of its validation (`open` refuses a bad one).
    if kind == SegmentKind::Pool {
        let checked = map
            .pool_info_bytes()
            .ok_or(OpenError::Truncated {
                expected: crate::layout::POOL_BUSY_OFFSET,
                found: len,
            })
            .and_then(|b| super::validate::validate_pool(&b, &h));
        if let Err(e) = checked {
            return Some((Found::Malformed(e.to_string()), stat));
        }
    }
    // Acquire: pairs with the Release stores in `build` and `Segment::persist`.
    let init = map.live().init.load(Ordering::Acquire);
    let persisted = map.live().persisted.load(Ordering::Acquire);
    // A final name is linked only after initialization, and `persist` stores 1.
    let why = if init != INIT_READY {
        OpenError::NotInitialized(init).to_string()
    } else if persisted > 1 {
        format!("garbage in the persisted word: {persisted:#x}")
    } else {
        return Some((Found::Segment(map, h), stat));
    };
    Some((Found::Malformed(why), stat))
}

/// The files live processes have mapped, read once from `/proc/*/maps`. Processes
/// whose maps cannot be read (another user's, or non-dumpable ones, when we are not
/// privileged enough) are not seen: a malformed file only they map loses its name (a
/// name nobody can open anyway), never their mapping.
#[derive(Debug, Default)]
struct Mapped(std::collections::HashSet<FileId>);

impl Mapped {
    fn scan() -> Self {
        let mut out = Self::default();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return out;
        };
        for entry in dir.filter_map(Result::ok) {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            // A process that exited meanwhile maps nothing; one we may not read is
            // not seen (above).
            if let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) {
                out.0.extend(maps.lines().filter_map(parse_maps_line));
            }
        }
        out
    }

    /// Whether a live process (that we can see) has the file mapped.
    fn in_use(&self, id: FileId) -> bool {
        self.0.contains(&id)
    }
}

/// `(device, inode)` of a file mapping in a `/proc/<pid>/maps` line
/// (`start-end perms offset major:minor inode path`), `None` for anonymous memory.
fn parse_maps_line(line: &str) -> Option<FileId> {
    let mut fields = line.split_ascii_whitespace().skip(3);
    let (major, minor) = fields.next()?.split_once(':')?;
    let inode: u64 = fields.next()?.parse().ok()?;
    let dev = rustix::fs::makedev(
        u32::from_str_radix(major, 16).ok()?,
        u32::from_str_radix(minor, 16).ok()?,
    );
    (inode != 0).then_some((dev, inode))
}

/// True if nothing alive can still use the segment: not persisted, creator dead, no
/// end held by a live process, and not mapped by a live process (`mapped`, scanned
/// before this process mapped the file to look at it; `id` is the file).
fn is_stale(map: &Mapping, h: &SegmentHeader, mapped: &Mapped, id: FileId) -> bool {
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
    let no_live_end = endpoints(map, h).iter().all(|(_, _, ep)| {
        let (word, owner) = endpoint::load(ep);
        endpoint::status(word) != Status::Attached || !identity::is_alive(owner)
    });
    // A live process that opened it but has not claimed an end yet (`Pipe::open`
    // claims lazily; a sync object between mapping and claiming its entry).
    no_live_end && !mapped.in_use(id)
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
    if let Some(p) = map.pool_members(h) {
        out.extend(p.iter().map(|m| (0, "member", m)));
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
///     match &info.malformed {
///         Some(why) => println!("{} malformed: {why} stale={}", info.name, info.stale),
///         None => println!("{} {:?} stale={}", info.name, info.kind, info.stale),
///     }
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
    /// Why the file is not a usable segment (bad magic, truncated, failed validation,
    /// not initialized, garbage in the persisted word), or why it was not looked into
    /// (another user's, or writable by group or others: such a file is never mapped
    /// by `ls`/`gc`, since its writers could truncate it under us, and never removed;
    /// "other format version N" / "unknown kind K": shmlane's magic, made by another
    /// shmlane, never removed);
    /// `None` for a valid segment. The fields above are then empty.
    pub malformed: Option<String>,
    /// Whether `gc` (or a `create` of the same name) would remove it: a valid segment
    /// nothing alive uses (no live creator, end or mapping), or a malformed file no
    /// live process has mapped.
    pub stale: bool,
}

/// `mapped` is the `/proc/*/maps` scan, made once per `list` / `gc` / reclaim, before
/// any file is inspected (so the inspecting mapping is not counted as a user).
fn info(object: &str, mapped: &Mapped) -> Option<SegmentInfo> {
    let name = name::parse_object(object)?.to_owned();
    let (found, stat) = inspect(object)?;
    let id = (stat.st_dev, stat.st_ino);
    let (map, h) = match found {
        Found::Segment(map, h) => (map, h),
        other => {
            return Some(SegmentInfo {
                name,
                kind: None,
                capacity: 0,
                elem_size: 0,
                type_name: String::new(),
                creator: (0, false),
                persisted: false,
                endpoints: Vec::new(),
                stale: matches!(other, Found::Malformed(_)) && !mapped.in_use(id),
                malformed: other.why(),
            });
        }
    };
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
        name,
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
        malformed: None,
        stale: is_stale(&map, &h, mapped, id),
    })
}

fn objects() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(name::SHM_DIR) else {
        return Vec::new();
    };
    let mut v: Vec<String> = dir
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(name::PREFIX))
        .collect();
    v.sort();
    v
}

/// Every shmlane segment in `/dev/shm` that can be opened, malformed ones included
/// (temporaries and names that are not ours excluded).
pub fn list() -> Vec<SegmentInfo> {
    let mapped = Mapped::scan();
    objects().iter().filter_map(|o| info(o, &mapped)).collect()
}

/// Removes stale segments, malformed files no live process maps, and temporaries left
/// by dead creators; returns the names of the shm objects removed. Files whose names
/// are not ones shmlane makes are never touched.
///
/// # Examples
///
/// ```
/// let removed = shmlane::segment::gc();
/// assert!(removed.iter().all(|n| n.starts_with("shmlane.")));
/// ```
pub fn gc() -> Vec<String> {
    gc_only(|_| true)
}

/// [`gc`] restricted to the shm objects (`shmlane.<name>`, as in `/dev/shm`) for
/// which `filter` returns true: e.g. one application's own names.
///
/// # Examples
///
/// ```
/// let removed = shmlane::segment::gc_only(|object| object.starts_with("shmlane.myapp-"));
/// assert!(removed.iter().all(|n| n.starts_with("shmlane.myapp-")));
/// ```
pub fn gc_only(mut filter: impl FnMut(&str) -> bool) -> Vec<String> {
    let objects: Vec<String> = objects().into_iter().filter(|o| filter(o)).collect();
    if objects.is_empty() {
        return objects;
    }
    let mapped = Mapped::scan();
    objects
        .into_iter()
        .filter(
            |o| matches!(removable(o, &mapped, true), Verdict::Remove(id) if remove_if_same(o, id)),
        )
        .collect()
}

/// What `gc` may do with one shm object.
enum Verdict {
    /// Remove the file `FileId`: a temporary named as we name them whose creator is
    /// dead and that no live process maps; a stale segment; a malformed file under one
    /// of our names that no live process maps.
    Remove(FileId),
    /// Leave it.
    Keep,
    /// Leave it: another shmlane format's segment.
    OtherFormat {
        /// Its format version.
        version: u32,
        /// Its kind code.
        kind: u32,
    },
}

/// Judges `object`; `mapped` was scanned before any file was inspected. With
/// `recover`, a pool that is kept (in use) gets its dead members' holds released
/// (design §1: "and by `shmlane gc`").
fn removable(object: &str, mapped: &Mapped, recover: bool) -> Verdict {
    if let Some((pid, _)) = name::parse_temp(object) {
        // `lstat`: a symbolic link (or any non-regular file) is not a temporary we made.
        let Ok(stat) = rustix::fs::lstat(name::path(object)) else {
            return Verdict::Keep;
        };
        if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
            return Verdict::Keep;
        }
        let id = (stat.st_dev, stat.st_ino);
        let dead = !identity::is_alive(Identity { pid, start: 0 });
        return if dead && !mapped.in_use(id) {
            Verdict::Remove(id)
        } else {
            Verdict::Keep
        };
    }
    if name::parse_object(object).is_none() {
        return Verdict::Keep;
    }
    let Some((found, stat)) = inspect(object) else {
        return Verdict::Keep;
    };
    let id = (stat.st_dev, stat.st_ino);
    let remove = match found {
        Found::Segment(map, h) => {
            let stale = is_stale(&map, &h, mapped, id);
            if !stale && recover {
                recover_pool(map, &h);
            }
            stale
        }
        Found::Malformed(_) => !mapped.in_use(id),
        Found::Untrusted(_) => false,
        Found::OtherFormat { version, kind } => return Verdict::OtherFormat { version, kind },
    };
    if remove {
        Verdict::Remove(id)
    } else {
        Verdict::Keep
    }
}

/// Releases the holds of a live pool's dead members (`Pool::recover`, as this
/// process, which is no member). Nothing for any other kind, or for a pool whose class
/// table fails validation.
fn recover_pool(map: Mapping, h: &SegmentHeader) {
    if h.kind != SegmentKind::Pool as u32 {
        return;
    }
    let Some(bytes) = map.pool_info_bytes() else {
        return;
    };
    let Ok((_, geo)) = super::validate::validate_pool(&bytes, h) else {
        return;
    };
    if let Some(pool) = std::sync::Arc::new(map).pool(geo) {
        pool.recover(identity::current(), None, identity::is_alive);
    }
}

/// What [`reclaim`] did.
pub(super) enum Reclaim {
    /// The file was stale or malformed and unused, and is gone.
    Removed,
    /// The file is in use (or not ours to judge, or was replaced meanwhile): kept.
    Kept,
    /// The file is another shmlane format's segment: kept.
    OtherFormat {
        /// Its format version.
        version: u32,
        /// Its kind code.
        kind: u32,
    },
}

/// Removes the shm object `object` if it is stale or malformed and unused (as `gc`
/// judges).
pub(super) fn reclaim(object: &str) -> Reclaim {
    match removable(object, &Mapped::scan(), false) {
        Verdict::Remove(id) if remove_if_same(object, id) => Reclaim::Removed,
        Verdict::Remove(_) | Verdict::Keep => Reclaim::Kept,
        Verdict::OtherFormat { version, kind } => Reclaim::OtherFormat { version, kind },
    }
}

/// Removes `object` if it is still the file `id`: moves it aside to a private name
/// first, so a file that replaced it meanwhile is put back, never removed.
fn remove_if_same(object: &str, id: FileId) -> bool {
    let grave = name::temp_object_name();
    if std::fs::rename(name::path(object), name::path(&grave)).is_err() {
        return false; // someone else removed or replaced it first
    }
    let moved = rustix::fs::lstat(name::path(&grave))
        .ok()
        .map(|s| (s.st_dev, s.st_ino));
    if moved != Some(id) {
        // We moved a file that replaced the one inspected in the meantime: put it back
        // (link fails if yet another one took the name; that one is then the live one).
        let _ = std::fs::hard_link(name::path(&grave), name::path(object));
    }
    let _ = shm::unlink(grave.as_str());
    moved == Some(id)
}
