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
    // SAFETY: the closure runs in the forked child between `fork` and `exec`, where only
    // async-signal-safe work is allowed: it makes one `fcntl` system call on a
    // descriptor it owns and converts an errno into an `io::Error` (no allocation, no
    // lock). It owns `dup`, so the descriptor is open whenever a spawn runs it.
    unsafe {
        cmd.pre_exec(clear_cloexec);
    }
    Ok(())
}

static TAKEN: Mutex<Option<HashSet<i32>>> = Mutex::new(None);

/// Takes ownership of the fd named by the environment variable `key`.
pub(crate) fn take(key: &str) -> Result<OwnedFd, OpenError> {
    let bad = |reason| OpenError::NoInheritedFd {
        key: key.to_owned(),
        reason,
    };
    let raw: i32 = std::env::var(key)
        .map_err(|_| bad("variable not set"))?
        .parse()
        .map_err(|_| bad("not a file descriptor number"))?;
    if raw < 0 || std::fs::symlink_metadata(format!("/proc/self/fd/{raw}")).is_err() {
        return Err(bad("descriptor not open in this process"));
    }
    let mut taken = TAKEN.lock().unwrap_or_else(PoisonError::into_inner);
    if !taken.get_or_insert_with(HashSet::new).insert(raw) {
        return Err(bad("descriptor already taken"));
    }
    // SAFETY: the descriptor is open (checked above), was passed to us for this purpose
    // by `register`, and the TAKEN set guarantees we create only one owner for it.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let _ = rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC);
    Ok(fd)
}
