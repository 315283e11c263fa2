//! Every handle kind has the same constructor set (one test per kind calls all of it,
//! through the same macro, so a kind that lacks one or spells it differently does not
//! compile), and objects reach children through `inherit`: several on one `Command`,
//! a descriptor that outlives its handle, one that no other child gets.

mod common;

use common::{peer, result, role, unique, watchdog};
use shmlane::pipe::{Duplex, Pipe};
use shmlane::pool::{BufHandle, Class, Pool};
use shmlane::queue::Queue;
use shmlane::segment::OpenOptions;
use shmlane::sync::{
    Barrier, Condvar, Event, LockError, Mutex, Semaphore, Shared, SharedArray, SharedValue,
};
use shmlane::{CreateError, OpenError};
use std::os::fd::AsFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The environment variables a parent registers a handle under (twice: `inherit` and
/// `spawn_with`, on one command).
const KEY: &str = "SHMLANE_TEST_CTOR";
const KEY2: &str = "SHMLANE_TEST_CTOR_2";

/// Calls every constructor of `$ty` but `from_env` (which the child of
/// [`round_trip`] calls) on segments created with `$args`, whose capacity is `$cap`,
/// checking what each promises; returns an anonymous handle made by `anonymous`.
macro_rules! whole_set {
    ($tag:literal, $ty:ty, ($($a:expr),*), cap = $cap:expr) => {{
        let name = unique($tag);
        let created = <$ty>::create(&name, $($a),*).unwrap();
        assert!(matches!(
            <$ty>::create(&name, $($a),*),
            Err(CreateError::AlreadyExists(_))
        ));
        let opened = <$ty>::open(&name).unwrap();
        drop(<$ty>::open_with(&name, OpenOptions::new().allow_foreign(true)).unwrap());
        drop(<$ty>::open_with(&name, OpenOptions::new().capacity($cap)).unwrap());
        assert!(matches!(
            <$ty>::open_with(&name, OpenOptions::new().capacity(2 * $cap)),
            Err(OpenError::CapacityMismatch { .. })
        ));
        drop(<$ty>::open_or_create(&name, $($a),*).unwrap()); // opens
        let other = unique($tag);
        drop(<$ty>::open_or_create(&other, $($a),*).unwrap()); // creates, then unlinks
        assert!(matches!(<$ty>::open(&other), Err(OpenError::DoesNotExist(_))));
        created.persist();
        drop((created, opened));
        drop(<$ty>::open(&name).expect("persisted"));
        std::fs::remove_file(format!("/dev/shm/shmlane.{name}")).unwrap();
        let anon = <$ty>::anonymous($($a),*).unwrap();
        drop(<$ty>::from_fd(anon.as_fd().try_clone_to_owned().unwrap()).unwrap());
        assert!(matches!(
            <$ty>::from_env("SHMLANE_TEST_CTOR_UNSET"),
            Err(OpenError::NoInheritedFd { .. })
        ));
        anon
    }};
}

/// Child-process entry point (ignored in normal runs; see `common::peer`).
#[test]
#[ignore]
fn peer_main() {
    let Some((role, args)) = role() else { return };
    match role.as_str() {
        "from-env" => from_env_child(&args[0]),
        "workers" => worker_child(),
        "fd-identity" => fd_identity_child(&args[0], &args[1]),
        "env-parent" => env_parent_child(),
        "env-grandchild" => env_grandchild(),
        _ => panic!("unknown role {role}"),
    }
}

/// Opens the handle of kind `kind` under [`KEY`] and [`KEY2`], checks that a second
/// take of a key fails typed, and does the kind's half of [`round_trip`].
fn from_env_child(kind: &str) {
    macro_rules! take {
        ($ty:ty) => {{
            let h = <$ty>::from_env(KEY).unwrap();
            let again = <$ty>::from_env(KEY2).unwrap(); // the same object, `spawn_with`'s key
            assert!(matches!(
                <$ty>::from_env(KEY),
                Err(OpenError::NoInheritedFd { .. })
            ));
            (h, again)
        }};
    }
    match kind {
        "pipe" => {
            let (p, _) = take!(Pipe<u64>);
            assert_eq!(p.receiver().unwrap().recv().unwrap(), 41);
        }
        "duplex" => {
            let (d, _) = take!(Duplex<u64>);
            let mut b = d.side_b().unwrap();
            let v = b.recv().unwrap();
            b.send(v + 1).unwrap();
        }
        "queue" => {
            let (mut q, _) = take!(Queue<u64>);
            let v = q.get().unwrap();
            q.put(v + 1).unwrap();
        }
        "array" => {
            let (a, _) = take!(SharedArray<u64>);
            for x in a.lock().unwrap().iter_mut() {
                *x += 1;
            }
        }
        "value" => {
            let (v, _) = take!(SharedValue<u64>);
            v.update(|x| x + 1).unwrap();
        }
        "mutex" => {
            let (m, _) = take!(Mutex<u64>);
            *m.lock().unwrap() += 1;
        }
        "condvar" => {
            let (c, _) = take!(Condvar);
            c.notify_all();
        }
        "semaphore" => {
            let (s, _) = take!(Semaphore);
            s.release().unwrap();
        }
        "event" => {
            let (e, _) = take!(Event);
            e.set();
        }
        "barrier" => {
            let (b, _) = take!(Barrier);
            b.wait();
        }
        "object" => {
            let (s, _) = take!(Shared<AtomicU32>);
            s.fetch_add(1, Ordering::SeqCst);
        }
        "pool" => {
            let (p, _) = take!(Pool);
            // The parent's first buffer of a fresh pool: chunk 0, generation 1.
            let h = BufHandle {
                pool: p.id(),
                index: 0,
                generation: 1,
                len: 5,
            };
            assert_eq!(&p.open_handle(h).unwrap()[..], b"hello");
        }
        _ => panic!("unknown kind {kind}"),
    }
    println!("RESULT ok");
}

/// Registers `h` with a child running [`from_env_child`] for `kind` under [`KEY`]
/// (`inherit`) and [`KEY2`] (`spawn_with`, which spawns), runs `meanwhile` (if given) and checks
/// that the child succeeded.
macro_rules! round_trip {
    ($kind:literal, $h:expr $(, $meanwhile:expr)?) => {{
        let mut cmd = peer("from-env", &[$kind.into()]);
        $h.inherit(&mut cmd, KEY).unwrap();
        let child = $h.spawn_with(&mut cmd, KEY2).unwrap();
        $($meanwhile;)?
        let (status, line) = watchdog(concat!("the ", $kind, " child"), move || result(child));
        assert!(
            status.success() && line == "ok",
            "{} child: {status} {line:?}",
            $kind
        );
    }};
}

#[test]
fn pipe_has_the_whole_constructor_set() {
    let p = whole_set!("ctor-pipe", Pipe<u64>, (16), cap = 16);
    let name = unique("ctor-pipe-ooc");
    let _p = Pipe::<u64>::create(&name, 16).unwrap();
    assert!(matches!(
        Pipe::<u64>::open_or_create(&name, 32),
        Err(OpenError::CapacityMismatch {
            expected: 32,
            found: 16
        })
    ));
    let mut tx = p.sender().unwrap();
    tx.send(41).unwrap();
    round_trip!("pipe", p);
    drop(tx);
}

#[test]
fn duplex_has_the_whole_constructor_set() {
    let d = whole_set!("ctor-duplex", Duplex<u64>, (16), cap = 16);
    let mut a = d.side_a().unwrap();
    a.send(41).unwrap();
    round_trip!("duplex", d);
    assert_eq!(a.recv().unwrap(), 42);
}

#[test]
fn queue_has_the_whole_constructor_set() {
    let mut q = whole_set!("ctor-queue", Queue<u64>, (16), cap = 16);
    let name = unique("ctor-queue-ooc");
    let _q = Queue::<u64>::create(&name, 16).unwrap();
    assert!(matches!(
        Queue::<u64>::open_or_create(&name, 8),
        Err(OpenError::CapacityMismatch { .. })
    ));
    q.put(41).unwrap();
    round_trip!("queue", q);
    assert_eq!(q.try_get().unwrap(), 42);
}

#[test]
fn shared_array_has_the_whole_constructor_set() {
    let a = whole_set!("ctor-array", SharedArray<u64>, (&[1, 2, 3]), cap = 3);
    let name = unique("ctor-array-ooc");
    let _a = SharedArray::<u64>::create(&name, &[1, 2, 3]).unwrap();
    assert!(matches!(
        SharedArray::<u64>::open_or_create(&name, &[1, 2]),
        Err(OpenError::CapacityMismatch {
            expected: 2,
            found: 3
        })
    ));
    round_trip!("array", a);
    assert_eq!(a.to_vec().unwrap(), [2, 3, 4]);
}

#[test]
fn shared_value_has_the_whole_constructor_set() {
    let v = whole_set!("ctor-value", SharedValue<u64>, (5), cap = 1);
    round_trip!("value", v);
    assert_eq!(v.load().unwrap(), 6);
}

#[test]
fn mutex_has_the_whole_constructor_set() {
    let m = whole_set!("ctor-mutex", Mutex<u64>, (5), cap = 1);
    round_trip!("mutex", m);
    assert_eq!(*m.lock().unwrap(), 6);
}

#[test]
fn condvar_has_the_whole_constructor_set() {
    let c = whole_set!("ctor-condvar", Condvar, (), cap = 1);
    round_trip!("condvar", c);
}

#[test]
fn semaphore_has_the_whole_constructor_set() {
    let s = whole_set!("ctor-semaphore", Semaphore, (0, 2), cap = 1);
    let name = unique("ctor-semaphore-ooc");
    let _s = Semaphore::create(&name, 0, 2).unwrap();
    assert!(matches!(
        Semaphore::open_or_create(&name, 0, 3),
        Err(OpenError::LayoutMismatch {
            expected: 3,
            found: 2,
            ..
        })
    ));
    round_trip!("semaphore", s);
    assert_eq!(s.value(), 1);
}

#[test]
fn event_has_the_whole_constructor_set() {
    let e = whole_set!("ctor-event", Event, (), cap = 1);
    round_trip!("event", e);
    assert!(e.is_set());
}

#[test]
fn barrier_has_the_whole_constructor_set() {
    let b = whole_set!("ctor-barrier", Barrier, (2), cap = 1);
    let name = unique("ctor-barrier-ooc");
    let _b = Barrier::create(&name, 2).unwrap();
    assert!(matches!(
        Barrier::open_or_create(&name, 3),
        Err(OpenError::LayoutMismatch {
            expected: 3,
            found: 2,
            ..
        })
    ));
    let ours = b.clone();
    // The child is the second party: both pass only together.
    round_trip!("barrier", b, watchdog("the barrier", move || ours.wait()));
}

#[test]
fn shared_state_has_the_whole_constructor_set() {
    let s = whole_set!("ctor-object", Shared<AtomicU32>, (), cap = 1);
    round_trip!("object", s);
    assert_eq!(s.load(Ordering::SeqCst), 1);
}

#[test]
fn pool_has_the_whole_constructor_set() {
    const CLASSES: &[Class] = &[Class {
        size: 4096,
        count: 4,
    }];
    let p = whole_set!("ctor-pool", Pool, (CLASSES), cap = 4);
    let name = unique("ctor-pool-ooc");
    let _p = Pool::create(&name, CLASSES).unwrap();
    assert!(matches!(
        Pool::open_or_create(
            &name,
            &[Class {
                size: 4096,
                count: 5
            }]
        ),
        Err(OpenError::LayoutMismatch {
            expected: 5,
            found: 4,
            ..
        })
    ));
    let mut w = p.alloc(5).unwrap();
    w.copy_from_slice(b"hello");
    let held = w.freeze();
    assert_eq!((held.handle().index, held.handle().generation), (0, 1));
    round_trip!("pool", p);
    drop(held);
    assert_eq!(p.stats().free, vec![4]);
}

/// Tasks in the queue, the array of results and the count of tasks done.
const TASKS: u64 = 64;

/// Takes tasks from the inherited queue until it is closed; for each, under the
/// inherited mutex, writes the task's square into the inherited array and counts it.
fn worker_child() {
    let mut tasks = Queue::<u64>::from_env("SHMLANE_TEST_TASKS").unwrap();
    let done = Mutex::<u64>::from_env("SHMLANE_TEST_DONE").unwrap();
    let squares = SharedArray::<u64>::from_env("SHMLANE_TEST_SQUARES").unwrap();
    let mut mine = 0;
    while let Ok(t) = tasks.get() {
        let mut count = done.lock().or_else(LockError::into_guard).unwrap();
        squares.lock().unwrap()[t as usize] += t * t;
        *count += 1;
        mine += 1;
    }
    println!("RESULT {mine}");
}

/// The case: children that each receive an anonymous queue, a lock and an
/// array, all three through `inherit` on one `Command`, and use all three together.
#[test]
fn children_receive_an_anonymous_queue_lock_and_array_on_one_command() {
    let mut tasks = Queue::<u64>::anonymous(128).unwrap();
    let done = Mutex::anonymous(0u64).unwrap();
    let squares = SharedArray::<u64>::zeroed(TASKS as usize).unwrap();
    for t in 0..TASKS {
        tasks.put(t).unwrap();
    }
    tasks.close().unwrap(); // the children drain the queue, then see Closed
    let children: Vec<_> = (0..2)
        .map(|_| {
            let mut cmd = peer("workers", &[]);
            tasks.inherit(&mut cmd, "SHMLANE_TEST_TASKS").unwrap();
            done.inherit(&mut cmd, "SHMLANE_TEST_DONE").unwrap();
            squares.inherit(&mut cmd, "SHMLANE_TEST_SQUARES").unwrap();
            cmd.spawn().unwrap()
        })
        .collect();
    let mut total = 0;
    for child in children {
        let (status, line) = watchdog("a worker child", move || result(child));
        assert!(status.success(), "worker: {status}");
        total += line.parse::<u64>().unwrap();
    }
    assert_eq!(total, TASKS, "tasks the children report");
    assert_eq!(*done.lock().unwrap(), TASKS, "tasks counted under the lock");
    let want: Vec<u64> = (0..TASKS).map(|t| t * t).collect();
    assert_eq!(squares.to_vec().unwrap(), want, "every task exactly once");
}

/// `inherit` keeps its own descriptor: the handle (the parent's only one, so its
/// mapping and memfd are gone) may be dropped before the spawn.
#[test]
fn an_inherited_object_outlives_its_handle_until_the_spawn() {
    let m = Mutex::anonymous(5u64).unwrap();
    let mut cmd = peer("from-env", &["mutex".into()]);
    m.inherit(&mut cmd, KEY).unwrap();
    m.inherit(&mut cmd, KEY2).unwrap();
    drop(m);
    let child = cmd.spawn().unwrap();
    let (status, line) = watchdog("the mutex child", move || result(child));
    assert!(status.success() && line == "ok", "child: {status} {line:?}");
}

/// One key per handle on a command: a second registration is refused (the child could
/// take only one of the two), as is a key no environment variable can have.
#[test]
fn a_key_registered_twice_is_refused() {
    let (a, b) = (Event::anonymous().unwrap(), Event::anonymous().unwrap());
    let mut cmd = Command::new("true");
    a.inherit(&mut cmd, KEY).unwrap();
    let e = b.inherit(&mut cmd, KEY).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
    let mut other = Command::new("true");
    other.env(KEY, "7");
    let e = b.inherit(&mut other, KEY).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
    for bad in ["", "A=B", "A\0B"] {
        let e = b.inherit(&mut cmd, bad).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{bad:?}");
    }
    assert!(cmd.spawn().unwrap().wait().unwrap().success());
}

/// `spawn_with` on a `Command` reused for several children (as before `inherit`
/// existed): the handle registered by the first call is spawned again, not refused;
/// another handle under the same key still is.
#[test]
fn spawn_with_reuses_a_command_for_several_children() {
    let e = Event::anonymous().unwrap();
    let mut cmd = peer("from-env", &["event".into()]);
    e.inherit(&mut cmd, KEY).unwrap();
    for i in 0..2 {
        let child = e.spawn_with(&mut cmd, KEY2).unwrap();
        let (status, line) = watchdog("an event child", move || result(child));
        assert!(
            status.success() && line == "ok",
            "child {i}: {status} {line:?}"
        );
    }
    assert!(e.is_set());
    let other = Event::anonymous().unwrap();
    let err = other.spawn_with(&mut cmd, KEY2).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
}

/// Prints whether descriptor `fd` is open here and is the file `dev:ino`.
fn fd_identity_child(fd: &str, file: &str) {
    let here = std::fs::metadata(format!("/proc/self/fd/{fd}"));
    let same = here.is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        format!("{}:{}", m.dev(), m.ino()) == file
    });
    println!(
        "RESULT {}",
        if same { "inherited" } else { "not-inherited" }
    );
}

/// The number of the descriptor `cmd` passes as [`KEY`].
fn registered_fd(cmd: &Command) -> String {
    cmd.get_envs()
        .find_map(|(k, v)| (k == KEY).then(|| v.unwrap().to_str().unwrap().to_owned()))
        .unwrap()
}

/// Spawns `cmd` (a `fd-identity` child) and returns what it printed.
fn identity_seen(mut cmd: Command) -> String {
    let child = cmd.spawn().unwrap();
    let (status, line) = watchdog("the fd-identity child", move || result(child));
    assert!(status.success(), "fd-identity child: {status}");
    line
}

/// The descriptor a command keeps for its child is close-on-exec here: a child that
/// another command spawns meanwhile does not get it; the command's own child does.
#[test]
fn a_registered_descriptor_reaches_no_other_child() {
    use std::os::unix::fs::MetadataExt;
    let v = SharedValue::anonymous(1u64).unwrap();
    let meta = std::fs::metadata(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&v.as_fd())
    ))
    .unwrap();
    let file = format!("{}:{}", meta.dev(), meta.ino());
    let mut own = peer("fd-identity", &[]);
    v.inherit(&mut own, KEY).unwrap();
    let fd = registered_fd(&own);
    own.env(common::ARGS, format!("{fd} {file}"));
    // Another command, spawned while `own` holds the descriptor: not there.
    let other = peer("fd-identity", &[fd.clone(), file.clone()]);
    assert_eq!(identity_seen(other), "not-inherited", "fd {fd} leaked");
    // The command it was registered with: there (so the check above can see it).
    assert_eq!(identity_seen(own), "inherited");
}

/// Takes the inherited queue, then spawns a grandchild that inherits the environment
/// (the variable naming a number this process took) but not the descriptor.
fn env_parent_child() {
    let _q = Queue::<u64>::from_env(KEY).unwrap();
    let child = peer("env-grandchild", &[]).spawn().unwrap();
    let (status, line) = result(child);
    assert!(status.success(), "grandchild: {status}");
    println!("RESULT {line}");
}

/// Opens a file of its own at the number its inherited variable names, calls
/// `from_env` (which must fail: that number is not an inherited segment) and prints
/// whether its own descriptor is still open afterwards.
fn env_grandchild() {
    use std::os::fd::AsRawFd;
    let n: i32 = std::env::var(KEY).unwrap().parse().unwrap();
    let file = std::fs::File::open("/dev/null").unwrap();
    // SAFETY (test): F_DUPFD_CLOEXEC on an open descriptor; the result is owned below.
    let own = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_DUPFD_CLOEXEC, n) };
    assert_eq!(
        own, n,
        "descriptor {n} is free here (the child's was close-on-exec)"
    );
    assert!(
        Queue::<u64>::from_env(KEY).is_err(),
        "/dev/null is no queue"
    );
    // SAFETY (test): a flags query on a number; -1 (EBADF) if it was closed.
    let still_open = unsafe { libc::fcntl(own, libc::F_GETFD) } != -1;
    println!("RESULT {}", if still_open { "kept" } else { "closed" });
}

/// A grandchild inherits the variable a child's `from_env` read, not the descriptor:
/// its own file at that number is no segment, so `from_env` fails typed and leaves
/// the file open (it is not `from_env`'s to close).
#[test]
fn from_env_leaves_a_descriptor_it_does_not_own_open() {
    let q = Queue::<u64>::anonymous(16).unwrap();
    let mut cmd = peer("env-parent", &[]);
    q.inherit(&mut cmd, KEY).unwrap();
    let child = cmd.spawn().unwrap();
    let (status, line) = watchdog("the env-parent child", move || result(child));
    assert!(status.success(), "child: {status}");
    assert_eq!(line, "kept", "from_env closed a descriptor it did not own");
}

/// `zeroed` makes an array without a slice to copy; its length is checked (typed).
#[test]
fn zeroed_arrays_start_zero_and_check_their_length() {
    let a = SharedArray::<u64>::zeroed(1 << 20).unwrap();
    assert_eq!(a.len(), 1 << 20);
    assert!(a.lock().unwrap().iter().all(|&x| x == 0));
    let name = unique("ctor-zeroed");
    let named = SharedArray::<u32>::create_zeroed(&name, 1000).unwrap();
    named.lock().unwrap()[999] = 7;
    let opened = SharedArray::<u32>::open_with(&name, OpenOptions::new().capacity(1000)).unwrap();
    let mut want = vec![0; 1000];
    want[999] = 7;
    assert_eq!(opened.to_vec().unwrap(), want);
    assert!(matches!(
        SharedArray::<u32>::create_zeroed(&name, 1000),
        Err(CreateError::AlreadyExists(_))
    ));
    assert!(matches!(
        SharedArray::<u64>::zeroed(0),
        Err(CreateError::InvalidCapacity { capacity: 0, .. })
    ));
    assert!(matches!(
        SharedArray::<u64>::zeroed((1 << 40) + 1),
        Err(CreateError::InvalidCapacity { .. })
    ));
    // 2^40 elements of 2^30 bytes: the size does not fit in 64 bits.
    assert!(matches!(
        SharedArray::<[u8; 1 << 30]>::zeroed(1 << 40),
        Err(CreateError::TooLarge { .. })
    ));
}
