//! Passing an anonymous segment's fd to a child process through `exec`.
//!
//! The parent dups the fd without `FD_CLOEXEC` just for the spawn and names its number
//! in an environment variable; the child takes ownership of that number exactly once.
#![allow(unsafe_code)]

use crate::error::OpenError;
use rustix::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::collections::HashSet;
use std::process::{Child, Command};
use std::sync::{Mutex, PoisonError};

/// Spawns `cmd` with `fd` inherited and its number in the environment variable `key`.
///
/// The inheritable duplicate exists only during the spawn; another thread spawning at
/// the same moment may inherit it too (harmless: it only keeps the segment mapped-able).
pub(crate) fn spawn_with(fd: impl AsFd, cmd: &mut Command, key: &str) -> std::io::Result<Child> {
    // dup(2) clears FD_CLOEXEC on the duplicate, so it survives exec.
    let dup = rustix::io::dup(fd)?;
    cmd.env(key, dup.as_raw_fd().to_string());
    let child = cmd.spawn();
    drop(dup);
    child
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
    // by `spawn_with`, and the TAKEN set guarantees we create only one owner for it.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let _ = rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC);
    Ok(fd)
}
