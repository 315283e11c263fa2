use super::*;
use crate::error::{CreateError, OpenError};
use crate::layout::{ElemDesc, SegmentKind};
use rustix::fs::SealFlags;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

fn expect() -> Expect {
    Expect {
        kind: SegmentKind::Pipe,
        elem: ElemDesc::of::<u64>(),
        capacity: None,
    }
}

fn unique(tag: &str) -> String {
    static N: std::sync::Mutex<u32> = std::sync::Mutex::new(0);
    let n = {
        let mut g = N.lock().unwrap();
        *g += 1;
        *g
    };
    format!("unit-{tag}-{}-{n}", std::process::id())
}

fn file(name: &str) -> std::path::PathBuf {
    name::path(&name::object_name(name))
}

#[test]
fn named_segment_is_0600_and_leaves_no_temporary() {
    let n = unique("mode");
    let seg = Segment::create(&n, &expect(), 8).unwrap();
    let meta = std::fs::metadata(file(&n)).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), seg.header().total_len);
    // Built under a temporary name and renamed into place: no second link (a leftover
    // temporary) to it. (Other tests of this process create temporaries concurrently,
    // so counting our pid's temporaries would race with them.)
    assert_eq!(meta.nlink(), 1);
}

#[test]
fn exactly_one_concurrent_creator_wins() {
    for _ in 0..20 {
        let n = unique("race");
        let winners: Vec<bool> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| Segment::create(&n, &expect(), 8)))
                .collect();
            hs.into_iter()
                .map(|h| match h.join().unwrap() {
                    Ok(seg) => {
                        seg.persist(); // keep the name until all threads finished
                        true
                    }
                    Err(CreateError::AlreadyExists(_)) => false,
                    Err(e) => panic!("{e}"),
                })
                .collect()
        });
        assert_eq!(winners.iter().filter(|w| **w).count(), 1);
        shm::unlink(name::object_name(&n).as_str()).unwrap();
    }
}

#[test]
fn drop_unlinks_only_its_own_file() {
    let n = unique("own");
    let first = Segment::create(&n, &expect(), 8).unwrap();
    // someone removes the name and creates a new segment under it
    shm::unlink(name::object_name(&n).as_str()).unwrap();
    let second = Segment::create(&n, &expect(), 16).unwrap();
    drop(first);
    assert!(
        file(&n).exists(),
        "dropping the old handle must not unlink the new file"
    );
    drop(second);
    assert!(!file(&n).exists());
}

#[test]
fn anonymous_is_sealed_and_unsealed_fds_are_refused() {
    let seg = Segment::create_anonymous(&expect(), 8).unwrap();
    let seals = rustix::fs::fcntl_get_seals(seg.fd()).unwrap();
    assert!(seals.contains(SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL));
    let again = Segment::from_fd(seg.fd().try_clone_to_owned().unwrap(), &expect()).unwrap();
    assert_eq!(again.header(), seg.header());
    // a plain memfd without seals (a peer could shrink it under us)
    let fd = rustix::fs::memfd_create("plain", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
    rustix::fs::ftruncate(&fd, 4096).unwrap();
    assert!(matches!(
        Segment::from_fd(fd, &expect()),
        Err(OpenError::NotSealed)
    ));
}

#[test]
fn rings_are_only_handed_out_for_the_validated_type() {
    let seg = Segment::create_anonymous(&expect(), 8).unwrap();
    assert!(seg.ring::<u64>(0).is_some());
    assert!(seg.ring::<u64>(1).is_none(), "a pipe has one ring");
    assert!(seg.ring::<i64>(0).is_none());
    assert!(seg.ring::<u32>(0).is_none());
    assert!(
        seg.words::<crate::primitive::AtomicU64>().is_none(),
        "not an array segment"
    );
}
