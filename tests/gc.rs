//! `ls` and `gc` on what crashes and scribblers leave in `/dev/shm`: malformed files
//! under our names are listed as such and removed once no live process maps them;
//! temporaries only when their names parse as ours; foreign names never.

mod common;

use common::{kill9, peer, result, role, spawn_ready, unique};
use shmlane::pipe::Pipe;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::PathBuf;

fn path(object: &str) -> PathBuf {
    std::path::Path::new("/dev/shm").join(object)
}

/// Child-process entry point (ignored in normal runs; see `common::peer`).
#[test]
#[ignore]
fn peer_main() {
    let Some((role, args)) = role() else { return };
    match role.as_str() {
        // Creates a pipe (no end claimed) and exits without dropping it: a dead creator.
        "create" => {
            std::mem::forget(Pipe::<u64>::create(&args[0], 8).unwrap());
            println!("RESULT ok");
            return;
        }
        // Opens the pipe without claiming an end (as `Pipe::open` does until the first
        // `sender()`/`receiver()`) and waits to be killed.
        "open" => {
            let _pipe = Pipe::<u64>::open(&args[0]).unwrap();
            println!("READY");
            std::thread::sleep(std::time::Duration::from_secs(600));
            return;
        }
        _ => assert_eq!(role, "map"),
    }
    // Maps the file shared, as a process using it would, and waits to be killed.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&args[0])
        .unwrap();
    let len = file.metadata().unwrap().len() as usize;
    // SAFETY: a fresh shared mapping of a whole file we opened; never dereferenced.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            std::os::fd::AsRawFd::as_raw_fd(&file),
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED);
    println!("READY");
    std::thread::sleep(std::time::Duration::from_secs(600));
}

/// Writes a file of ours (mode 0600, whatever the umask).
fn write_file(p: PathBuf, bytes: &[u8]) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(p)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

/// A valid, persisted pipe segment `shmlane.<name>` that this process no longer maps,
/// with `bytes` written at `offset` (a scribbler's work).
fn scribbled(name: &str, offset: u64, bytes: &[u8]) {
    let p = Pipe::<u64>::create(name, 8).unwrap();
    p.persist();
    drop(p);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path(&format!("shmlane.{name}")))
        .unwrap();
    f.write_all_at(bytes, offset).unwrap();
}

/// The malformed kinds a crash-and-scribble run leaves, by name suffix.
fn make_malformed(tag: &str) -> Vec<String> {
    let n = |kind: &str| format!("{tag}-{kind}");
    write_file(path(&format!("shmlane.{}", n("magic"))), &[0x5au8; 4096]);
    scribbled(&n("trunc"), 0, b"SHMLANE\0");
    std::fs::OpenOptions::new()
        .write(true)
        .open(path(&format!("shmlane.{}", n("trunc"))))
        .unwrap()
        .set_len(200)
        .unwrap();
    scribbled(&n("length"), 16, &12_345u64.to_ne_bytes());
    scribbled(&n("init"), 192, &0u32.to_ne_bytes());
    scribbled(&n("persisted"), 196, &0xdead_beefu32.to_ne_bytes());
    ["magic", "trunc", "length", "init", "persisted"]
        .iter()
        .map(|k| n(k))
        .collect()
}

/// A pid that is certainly not alive now (a child that was just reaped).
fn dead_pid() -> u32 {
    let mut c = std::process::Command::new("true").spawn().unwrap();
    c.wait().unwrap();
    c.id()
}

/// Maps `p` shared into this process until dropped (as a user of the file would).
struct Held(*mut libc::c_void, usize);

impl Held {
    fn new(p: PathBuf) -> Self {
        let file = std::fs::File::open(p).unwrap();
        let len = file.metadata().unwrap().len() as usize;
        // SAFETY: a fresh shared read-only mapping of a whole file; never dereferenced.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                std::os::fd::AsRawFd::as_raw_fd(&file),
                0,
            )
        };
        assert_ne!(addr, libc::MAP_FAILED);
        Self(addr, len)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `new` made, which nothing references.
        unsafe { libc::munmap(self.0, self.1) };
    }
}

#[test]
fn ls_lists_malformed_files_with_the_reason() {
    let tag = unique("lsbad");
    let names = make_malformed(&tag);
    // Held mapped while listed, so that no concurrent `gc` (another test binary's) can
    // take them away; a mapped file is listed as not stale.
    let held: Vec<Held> = names
        .iter()
        .map(|n| Held::new(path(&format!("shmlane.{n}"))))
        .collect();
    let list = shmlane::segment::list();
    for name in &names {
        let info = list
            .iter()
            .find(|i| &i.name == name)
            .unwrap_or_else(|| panic!("{name} not listed"));
        let why = info
            .malformed
            .as_deref()
            .unwrap_or_else(|| panic!("{info:?}"));
        eprintln!("{name}: {why}");
        assert!(!info.stale, "this process maps {name}: {info:?}");
        assert_eq!(info.kind, None);
    }
    let why = |suffix: &str| {
        let name = format!("{tag}-{suffix}");
        let info = list.iter().find(|i| i.name == name).unwrap();
        info.malformed.clone().unwrap()
    };
    assert!(why("magic").contains("bad magic"));
    assert!(why("trunc").contains("truncated"));
    assert!(why("length").contains("length mismatch"));
    assert!(why("init").contains("not initialized"));
    assert!(why("persisted").contains("persisted"));
    drop(held);
    for name in names {
        std::fs::remove_file(path(&format!("shmlane.{name}"))).unwrap();
    }
}

#[test]
fn gc_removes_unmapped_malformed_files_and_only_temporaries_named_as_ours() {
    let tag = unique("gcbad");
    let malformed = make_malformed(&tag);
    // A malformed file a live process maps: kept. The child maps it under another
    // name that is then unlinked, so its maps line reads "... (deleted)".
    let mapped = format!("shmlane.{tag}-mapped");
    let alias = format!("shmlane.{tag}-alias");
    write_file(path(&alias), &[0xa5u8; 8192]);
    let mut child = spawn_ready("map", &[path(&alias).to_string_lossy().into_owned()]);
    std::fs::hard_link(path(&alias), path(&mapped)).unwrap();
    std::fs::remove_file(path(&alias)).unwrap();
    // A valid persisted segment whose creator (this process) lives: kept.
    let valid = format!("{tag}-valid");
    Pipe::<u64>::create(&valid, 8).unwrap().persist();
    // Temporaries: one exactly as a dead creator leaves it (removed); look-alikes whose
    // names do not parse as ours (kept, however dead they look).
    let pid = dead_pid();
    let n = u64::from(std::process::id()) * 1000 + 1;
    let temp = format!("shmlane.tmp.{pid}.{n}");
    let not_ours = [
        format!("shmlane.tmp.0{pid}.{n}"),
        format!("shmlane.tmp.{pid}.{n}.{tag}"),
        format!("shmlane.tmp.{pid}.x{tag}"),
        format!("shmlane.{tag} spaced"),
        format!("shmlane.{tag}-bad!"),
    ];
    for t in std::iter::once(&temp).chain(&not_ours) {
        write_file(path(t), &[0u8; 8]);
    }
    // A malformed file others may write: never mapped (its writers could truncate it
    // under gc), never removed.
    let open = format!("shmlane.{tag}-open");
    write_file(path(&open), &[0x11u8; 4096]);
    std::fs::set_permissions(path(&open), std::fs::Permissions::from_mode(0o666)).unwrap();
    let listed = shmlane::segment::list();
    let info = listed
        .iter()
        .find(|i| format!("shmlane.{}", i.name) == open)
        .unwrap();
    assert!(
        info.malformed.as_ref().unwrap().contains("untrusted"),
        "{info:?}"
    );
    assert!(!info.stale);

    // Listed as stale: the malformed files nobody maps (if a concurrent `gc` of another
    // test binary has not removed them already); not the mapped one.
    for info in shmlane::segment::list() {
        if malformed.contains(&info.name) {
            assert!(info.stale && info.malformed.is_some(), "{info:?}");
        }
        if format!("shmlane.{}", info.name) == mapped {
            assert!(!info.stale && info.malformed.is_some(), "{info:?}");
        }
    }
    let mine = |o: &str| o.contains(&tag) || o == temp;
    let removed = shmlane::segment::gc_only(mine);
    let mut gone: Vec<String> = malformed.iter().map(|m| format!("shmlane.{m}")).collect();
    gone.push(temp.clone());
    for g in &gone {
        assert!(
            !path(g).exists(),
            "{g} should be removed; gc said {removed:?}"
        );
    }
    for r in &removed {
        assert!(gone.contains(r), "removed {r}, which it must keep");
    }
    for kept in not_ours
        .iter()
        .chain([&mapped, &format!("shmlane.{valid}")])
    {
        assert!(
            path(kept).exists(),
            "{kept} must be kept; gc said {removed:?}"
        );
    }
    assert!(Pipe::<u64>::open(&valid).is_ok());

    // Once its last user is gone, the mapped one goes too.
    kill9(&mut child);
    assert_eq!(shmlane::segment::gc_only(mine), vec![mapped.clone()]);
    for kept in not_ours.iter().chain([&open, &format!("shmlane.{valid}")]) {
        std::fs::remove_file(path(kept)).unwrap();
    }
}

#[test]
fn create_reclaims_a_malformed_file_under_its_name() {
    // A scribbled leftover must not block a restart with `AlreadyExists` forever.
    let name = unique("reuse");
    scribbled(&name, 0, b"garbage!");
    let p = Pipe::<u64>::create(&name, 8).unwrap();
    assert_eq!(p.capacity(), 8);
}

#[test]
fn other_format_versions_and_kinds_are_listed_and_never_removed() {
    // Our magic with another format version (an older or newer shmlane's segment, in
    // use for all we know) or a kind this version does not know: not garbage.
    let tag = unique("otherfmt");
    let version = format!("{tag}-v3");
    let kind = format!("{tag}-k99"); // 13 became the buffer pool (issue 14)
    scribbled(&version, 8, &3u32.to_ne_bytes());
    scribbled(&kind, 12, &99u32.to_ne_bytes());
    let list = shmlane::segment::list();
    let why = |name: &str| {
        let info = list.iter().find(|i| i.name == name).unwrap();
        assert!(!info.stale, "{info:?}");
        info.malformed.clone().unwrap()
    };
    assert!(
        why(&version).contains("other format version 3"),
        "{}",
        why(&version)
    );
    assert!(why(&kind).contains("unknown kind 99"), "{}", why(&kind));
    let removed = shmlane::segment::gc_only(|o| o.contains(&tag));
    assert!(removed.is_empty(), "gc removed {removed:?}");
    // create neither adopts nor deletes it: a typed error naming the version.
    match Pipe::<u64>::create(&version, 8) {
        Err(shmlane::CreateError::OtherFormat { version: 3, .. }) => {}
        other => panic!("expected OtherFormat, got {other:?}"),
    }
    match Pipe::<u64>::create(&kind, 8) {
        Err(shmlane::CreateError::OtherFormat { kind: 99, .. }) => {}
        other => panic!("expected OtherFormat, got {other:?}"),
    }
    for n in [&version, &kind] {
        let p = path(&format!("shmlane.{n}"));
        assert!(p.exists(), "{n} was removed");
        std::fs::remove_file(p).unwrap();
    }
}

#[test]
fn gc_keeps_a_segment_a_live_process_maps_without_an_end() {
    // Creator dead, not persisted, no end claimed: but a live process has it open
    // (`Pipe::open` claims ends lazily) and would be split from its peers.
    let name = unique("mappednoend");
    let object = format!("shmlane.{name}");
    let (status, out) = result(peer("create", std::slice::from_ref(&name)).spawn().unwrap());
    assert!(status.success() && out == "ok", "{status:?} {out}");
    let mut user = spawn_ready("open", std::slice::from_ref(&name));
    let info = shmlane::segment::list()
        .into_iter()
        .find(|i| i.name == name)
        .unwrap();
    assert!(!info.stale, "{info:?}");
    let removed = shmlane::segment::gc_only(|o| o == object);
    assert!(removed.is_empty(), "gc removed {removed:?}");
    assert!(path(&object).exists());
    kill9(&mut user);
    assert_eq!(
        shmlane::segment::gc_only(|o| o == object),
        vec![object.clone()]
    );
    assert!(!path(&object).exists());
}
