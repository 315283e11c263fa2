//! Segments against a hostile or merely unlucky environment: a full `/dev/shm`, sizes
//! nothing can back, and segment files planted or opened up by someone else.

mod common;

use common::{peer, result, role, unique};
use shmlane::CreateError;
use shmlane::OpenError;
use shmlane::pipe::Pipe;
use shmlane::queue::Queue;
use shmlane::segment::OpenOptions;
use shmlane::sync::{Mutex, SharedArray};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;

fn file(name: &str) -> std::path::PathBuf {
    std::path::Path::new("/dev/shm").join(format!("shmlane.{name}"))
}

/// Gives this thread a private mount namespace with a 1 MiB tmpfs on `/dev/shm`: a
/// `/dev/shm` that fills up, without touching the machine's. `Err` if not permitted.
fn private_small_shm() -> Result<(), String> {
    let err = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
    // SAFETY: plain system calls with valid NUL-terminated strings; they change only
    // this thread's mount namespace (a fresh copy, made private first so that nothing
    // propagates back to the machine's mounts).
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(err("unshare(CLONE_NEWNS)"));
        }
        let none = c"none".as_ptr();
        if libc::mount(
            none,
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return Err(err("make / private"));
        }
        if libc::mount(
            c"tmpfs".as_ptr(),
            c"/dev/shm".as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            c"size=1m,mode=1777".as_ptr().cast(),
        ) != 0
        {
            return Err(err("mount tmpfs"));
        }
    }
    Ok(())
}

fn no_space<T: std::fmt::Debug>(what: &str, r: Result<T, CreateError>) {
    match r {
        Err(CreateError::NoSpace { wanted, .. }) => println!("{what}: NoSpace ({wanted} B)"),
        other => panic!("{what}: expected NoSpace, got {other:?}"),
    }
}

/// Child-process entry point (ignored in normal runs; see `common::peer`).
#[test]
#[ignore]
fn peer_main() {
    let Some((role, args)) = role() else { return };
    match role.as_str() {
        // In a 1 MiB /dev/shm: one ~513 KiB pipe fits, a second does not. Before
        // reservation the second create returned Ok and its first full write died of
        // SIGBUS; a queue likewise, and `SharedArray::create` died inside create.
        "fill-shm" => {
            if let Err(e) = private_small_shm() {
                println!("RESULT skip {e}");
                return;
            }
            let cap = 512 * 1024;
            let first = Pipe::<u8>::create(&args[0], cap).unwrap();
            // Used, as segments are: its pages are taken whether reserved or not.
            let mut tx = first.sender().unwrap();
            tx.send_slice(&vec![1u8; cap]).unwrap();
            let second = Pipe::<u8>::create(&format!("{}-2", args[0]), cap);
            if let Ok(p) = &second {
                // What a user does next: write. Without reserved pages this is SIGBUS.
                p.sender().unwrap().send_slice(&vec![1u8; cap]).unwrap();
            }
            no_space("second pipe", second);
            no_space(
                "queue",
                Queue::<u64>::create(&format!("{}-q", args[0]), 1 << 17),
            );
            no_space(
                "array",
                SharedArray::<u8>::create(&format!("{}-a", args[0]), &vec![7u8; cap]),
            );
            // Nothing half-made is left behind: only the first pipe's file.
            let files: Vec<String> = std::fs::read_dir("/dev/shm")
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert_eq!(files, vec![format!("shmlane.{}", args[0])]);
            drop((tx, first));
            println!("RESULT ok");
        }
        _ => panic!("unknown role {role}"),
    }
}

#[test]
fn full_shm_fails_create_with_no_space_instead_of_sigbus() {
    let name = unique("fill");
    let (status, line) = result(
        peer("fill-shm", std::slice::from_ref(&name))
            .spawn()
            .unwrap(),
    );
    if let Some(why) = line.strip_prefix("skip ") {
        // Not root (or no mount namespaces): `capacity_beyond_the_backing_store_...`
        // still covers the typed error.
        eprintln!("skipped: {why}");
        return;
    }
    assert_eq!(
        status.signal(),
        None,
        "child killed by signal {:?} (7 = SIGBUS)",
        status.signal()
    );
    assert!(status.success(), "child failed: {status:?}");
    assert_eq!(line, "ok");
}

#[test]
fn capacity_beyond_the_backing_store_is_refused_not_made_sparse() {
    // 2^40 u64 slots: an 8 TiB file, more than /dev/shm or the machine can hold.
    let name = unique("huge");
    match Pipe::<u64>::create(&name, 1 << 40) {
        Err(CreateError::NoSpace { wanted, limit }) => {
            assert!(wanted > 8 << 40, "{wanted}");
            assert!(limit.is_some_and(|l| l < wanted), "{limit:?}");
        }
        other => panic!("expected NoSpace, got {other:?}"),
    }
    assert!(!file(&name).exists(), "nothing may be left under the name");
    // Anonymous segments (memfds) are bounded by memory and swap.
    match Pipe::<u64>::anonymous(1 << 40) {
        Err(CreateError::NoSpace { limit, .. }) => assert!(limit.is_some()),
        other => panic!("expected NoSpace, got {other:?}"),
    }
    // A size between what /dev/shm has free and 2^40 slots: just over its total size.
    let vfs = rustix::fs::statvfs("/dev/shm").unwrap();
    let total = vfs.f_blocks * vfs.f_frsize;
    let cap = (total / 8 + 1).next_power_of_two();
    let name = unique("over");
    assert!(
        matches!(
            Pipe::<u64>::create(&name, cap as usize),
            Err(CreateError::NoSpace { .. })
        ),
        "capacity {cap} (> {total} bytes of /dev/shm)"
    );
    assert!(!file(&name).exists());
}

#[test]
fn created_segments_have_their_pages_reserved() {
    // A reserved file occupies its whole size in blocks (a sparse one almost none).
    let name = unique("blocks");
    let pipe = Pipe::<u64>::create(&name, 1 << 16).unwrap();
    let meta = std::fs::metadata(file(&name)).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert!(meta.blocks() * 512 >= meta.len(), "{meta:?}");
    drop(pipe);
}

fn untrusted<T: std::fmt::Debug>(r: Result<T, OpenError>) -> (u32, u32) {
    match r {
        Err(OpenError::Untrusted { owner, mode, .. }) => (owner, mode),
        other => panic!("expected Untrusted, got {other:?}"),
    }
}

#[test]
fn group_or_other_writable_segment_is_refused_unless_allowed() {
    let name = unique("mode");
    let pipe = Pipe::<u64>::create(&name, 8).unwrap();
    let path = file(&name);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let euid = rustix::process::geteuid().as_raw();
    assert_eq!(untrusted(Pipe::<u64>::open(&name)), (euid, 0o666));
    assert_eq!(
        untrusted(Pipe::<u64>::open_or_create(&name, 8)),
        (euid, 0o666)
    );
    let lax = OpenOptions::new().allow_foreign(true);
    let mut rx = Pipe::<u64>::open_with(&name, lax)
        .unwrap()
        .receiver()
        .unwrap();
    pipe.sender().unwrap().send(5).unwrap();
    assert_eq!(rx.recv().unwrap(), 5);
    // group-writable alone is enough to refuse; 0644 (others may read) is fine
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o620)).unwrap();
    assert_eq!(untrusted(Pipe::<u64>::open(&name)), (euid, 0o620));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    Pipe::<u64>::open(&name).unwrap();

    // Same opt-in shape for sync objects.
    let name = unique("mode-mutex");
    let m = Mutex::<u64>::create(&name, 1).unwrap();
    std::fs::set_permissions(file(&name), std::fs::Permissions::from_mode(0o606)).unwrap();
    assert_eq!(untrusted(Mutex::<u64>::open(&name)), (euid, 0o606));
    let other = Mutex::<u64>::open_with(&name, lax).unwrap();
    assert_eq!(*other.lock().unwrap(), 1);
    drop(m);
}

#[test]
fn segment_owned_by_another_user_is_refused_unless_allowed() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: chown to another user needs root");
        return;
    }
    let name = unique("owner");
    let queue = Queue::<u64>::create(&name, 8).unwrap();
    queue.persist(); // the name is no longer ours to unlink once chowned
    let path = file(&name);
    std::os::unix::fs::chown(&path, Some(54_321), None).unwrap();
    let (owner, mode) = untrusted(Queue::<u64>::open(&name));
    assert_eq!((owner, mode), (54_321, 0o600));
    let lax = OpenOptions::new().allow_foreign(true);
    let mut q = Queue::<u64>::open_with(&name, lax).unwrap();
    q.try_put(9).unwrap();
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn garbage_in_the_persisted_word_is_refused_by_open() {
    // gc calls such a file malformed and removes it once no process maps it; an open
    // that accepted it would be a user the maps scan can miss (between open and mmap).
    let name = unique("persisted");
    let pipe = Pipe::<u64>::create(&name, 8).unwrap();
    pipe.persist();
    drop(pipe);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(file(&name))
        .unwrap();
    // The persisted word: offset 196 of the header (after the init word at 192).
    std::os::unix::fs::FileExt::write_all_at(&f, &0xdead_beefu32.to_ne_bytes(), 196).unwrap();
    match Pipe::<u64>::open(&name) {
        Err(OpenError::BadPersistedWord(0xdead_beef)) => {}
        other => panic!("expected BadPersistedWord, got {other:?}"),
    }
    std::fs::remove_file(file(&name)).unwrap();
}

#[test]
fn symlinks_under_our_names_are_neither_followed_nor_touched() {
    let tag = unique("symlink");
    // Targets outside our names: a valid persisted segment (moved there) and garbage.
    let valid_target = std::path::Path::new("/dev/shm").join(format!("{tag}-valid-target"));
    let bad_target = std::path::Path::new("/dev/shm").join(format!("{tag}-bad-target"));
    let src = format!("{tag}-src");
    Pipe::<u64>::create(&src, 8).unwrap().persist();
    std::fs::rename(file(&src), &valid_target).unwrap();
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&bad_target)
            .unwrap()
            .write_all(&[0x5a; 4096])
            .unwrap();
    }
    let to_valid = format!("{tag}-to-valid");
    let to_bad = format!("{tag}-to-bad");
    std::os::unix::fs::symlink(&valid_target, file(&to_valid)).unwrap();
    std::os::unix::fs::symlink(&bad_target, file(&to_bad)).unwrap();
    // And one named as a dead creator's temporary: not a temporary we made.
    let dead = {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        c.wait().unwrap();
        c.id()
    };
    let temp = format!("tmp.{dead}.{}", u64::from(std::process::id()) * 1000 + 7);
    std::os::unix::fs::symlink(&bad_target, file(&temp)).unwrap();

    match Pipe::<u64>::open(&to_valid) {
        Err(OpenError::NotRegularFile {
            file_type: 0o120000,
        }) => {}
        other => panic!("expected NotRegularFile, got {other:?}"),
    }
    for info in shmlane::segment::list() {
        if info.name == to_valid || info.name == to_bad {
            assert!(info.malformed.is_some() && !info.stale, "{info:?}");
        }
    }
    let removed = shmlane::segment::gc_only(|o| o.contains(&tag) || o == format!("shmlane.{temp}"));
    assert!(removed.is_empty(), "gc removed {removed:?}");
    for p in [file(&to_valid), file(&to_bad), file(&temp)] {
        assert!(std::fs::symlink_metadata(&p).unwrap().is_symlink());
        std::fs::remove_file(p).unwrap();
    }
    for p in [&valid_target, &bad_target] {
        assert!(p.exists(), "{p:?} was removed");
        std::fs::remove_file(p).unwrap();
    }
}
