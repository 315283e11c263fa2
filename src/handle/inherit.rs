//! Passing anonymous segments' fds to a child process through `exec`.
//!
//! [`register`] gives a `Command` its own close-on-exec duplicate of the fd and a
//! `pre_exec` step that clears close-on-exec on it in the child only, and names its
//! number in an environment variable; the child takes ownership of that number exactly
//! once ([`take`]). Any number of fds may be registered on one `Command`.
#![allow(unsafe_code)]

use crate::error::OpenError;
use rustix::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::{Mutex, PoisonError};

/// Registers `fd` with `cmd`: each child `cmd` spawns gets a descriptor for the same
/// file, its number in the environment variable `key`.
///
/// The duplicate `cmd` owns (until `cmd` is dropped) is close-on-exec in this process,
/// so no child that another thread or another `Command` spawns inherits it, and its
/// number cannot be reused while `cmd` may still spawn; only the `pre_exec` step, in
/// the forked child of `cmd` itself, makes it survive the `exec`. It is at least 3, so
/// the child's stdio setup (which replaces 0, 1 and 2) never closes it.
///
/// Fails with `AlreadyExists` if `cmd` already sets `key` (a second handle under one
/// key would leave the first's descriptor unnamed in the child), `InvalidInput` for a
/// key no environment variable can have.
pub(crate) fn register(fd: BorrowedFd<'_>, cmd: &mut Command, key: &str) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind};
    if key.is_empty() || key.contains(['=', '\0']) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("{key:?} cannot name an environment variable"),
        ));
    }
    if cmd
        .get_envs()
        .any(|(k, v)| k == OsStr::new(key) && v.is_some())
    {
        return Err(Error::new(
            ErrorKind::AlreadyExists,
            format!("${key} is already set on this command"),
        ));
    }
    let dup = rustix::io::fcntl_dupfd_cloexec(fd, 3)?;
    cmd.env(key, dup.as_raw_fd().to_string());
    let clear_cloexec =
        move || rustix::io::fcntl_setfd(&dup, rustix::io::FdFlags::empty()).map_err(Error::from);
    // The closure runs in the forked child between `fork` and `exec`, where only
    // async-signal-safe work is allowed: it makes one `fcntl` system call on a
    // descriptor it owns and converts an errno into an `io::Error` (no allocation, no
    // lock). It owns `dup`, so the descriptor is open whenever a spawn runs it.
    // SAFETY: `pre_exec`'s contract is met as said just above.
    unsafe {
        cmd.pre_exec(clear_cloexec);
    }
    Ok(())
}

/// True if `cmd` already passes `fd`'s file under `key`: the number `key` names is
/// open here and is the same file (device and inode) as `fd`. What `spawn_with` asks
/// before registering, so that a `Command` reused for several children keeps working.
pub(crate) fn registered(fd: BorrowedFd<'_>, cmd: &Command, key: &str) -> bool {
    let Some(raw) = cmd
        .get_envs()
        .find_map(|(k, v)| (k == OsStr::new(key)).then_some(v).flatten())
        .and_then(|v| v.to_str()?.parse::<i32>().ok())
        .filter(|&raw| raw >= 0)
    else {
        return false;
    };
    // SAFETY: the borrow lives for one `fstat` and creates no owner; a number that is
    // not open only makes it fail (EBADF), and a reused one is compared, not trusted.
    let named = unsafe { BorrowedFd::borrow_raw(raw) };
    match (rustix::fs::fstat(named), rustix::fs::fstat(fd)) {
        (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
        _ => false,
    }
}

static TAKEN: Mutex<Option<HashSet<i32>>> = Mutex::new(None);

/// Opens the fd named by the environment variable `key` with `open` (which validates
/// it as a segment of the caller's kind) and, once that succeeded, takes ownership of
/// the number: at most once per number and process.
///
/// The environment is not trusted to name a descriptor this process may close: a
/// grandchild inherits the variable but not the descriptor (close-on-exec after the
/// first take) and may hold a file of its own at that number, and a mistaken variable
/// may name stdout. So `open` gets a close-on-exec duplicate, and the number itself is
/// closed only if it is at least 3, not close-on-exec (an inherited descriptor is not;
/// every descriptor Rust code and this crate open is) and `open` accepted it;
/// otherwise it is left as it is and the error is typed.
pub(crate) fn take<H>(
    key: &str,
    open: impl FnOnce(OwnedFd) -> Result<H, OpenError>,
) -> Result<H, OpenError> {
    use rustix::io::{FdFlags, fcntl_dupfd_cloexec, fcntl_getfd};
    let bad = |reason| OpenError::NoInheritedFd {
        key: key.to_owned(),
        reason,
    };
    let raw: i32 = std::env::var(key)
        .map_err(|_| bad("variable not set"))?
        .parse()
        .map_err(|_| bad("not a file descriptor number"))?;
    if raw < 3 {
        // `register` never names stdin, stdout or stderr.
        return Err(bad("not a descriptor a parent registered (below 3)"));
    }
    // Held until the number is closed or left alone: two threads never both close it.
    let mut taken = TAKEN.lock().unwrap_or_else(PoisonError::into_inner);
    let taken = taken.get_or_insert_with(HashSet::new);
    if taken.contains(&raw) {
        return Err(bad("descriptor already taken"));
    }
    // The borrow lives for the two `fcntl` calls below only, and they create no
    // owner: on a number that is not open the kernel answers EBADF; one that another
    // thread closes and reuses meanwhile is at worst duplicated and then refused by
    // the checks below or by `open`'s validation.
    // SAFETY: a short borrow that creates no owner, as said just above.
    let fd = unsafe { BorrowedFd::borrow_raw(raw) };
    match fcntl_getfd(fd) {
        Err(_) => return Err(bad("descriptor not open in this process")),
        Ok(flags) if flags.contains(FdFlags::CLOEXEC) => {
            return Err(bad("descriptor is close-on-exec (not inherited)"));
        }
        Ok(_) => {}
    }
    let dup = fcntl_dupfd_cloexec(fd, 3).map_err(|_| bad("descriptor not open in this process"))?;
    let handle = open(dup)?;
    taken.insert(raw);
    // `raw` is open and inherited (not close-on-exec, at least 3), its variable hands
    // it to this process's `from_env`, `open` validated it as a segment of the caller's
    // kind (now held through the duplicate), and TAKEN (locked) makes this the only
    // owner ever created for the number.
    // SAFETY: the only owner of an open, inherited descriptor, as said just above.
    drop(unsafe { OwnedFd::from_raw_fd(raw) });
    Ok(handle)
}
