//! The places the sync layer needs `unsafe`: handing out `&mut [T]` under a lock, and
//! the `unsafe fn` atomic views of a shared array (which must not be mixed with it).
//! (The promise that a state type may be viewed in shared memory,
//! [`SyncState`](crate::lock::SyncState), lives with the lock words in `lock`.)
#![allow(unsafe_code)]

#[cfg(not(shmlane_loom))]
use core::ptr::NonNull;
#[cfg(not(shmlane_loom))]
use {
    crate::error::{LockWordLie, ObjectCorrupted},
    crate::layout::{Endpoint, OBJECT_USERS, ObjectControl},
    crate::lock::{Acquired, Blocked, Holder, LocalLock, RawCondvar, RawMutex},
    crate::platform::identity,
    crate::platform::identity::Identity,
    crate::primitive::Ordering,
    crate::primitive::{AtomicU32, AtomicU64},
    crate::ring::endpoint,
    crate::segment::Segment,
    crate::wait::WaitMode,
    std::sync::{Arc, Weak},
    std::time::Instant,
};

#[cfg(not(shmlane_loom))]
impl<T: bytemuck::Pod> super::SharedArray<T> {
    /// The elements as `AtomicU64`s, if `T` is 8 bytes (`u64`, `i64`, …): lock-free
    /// access that does not take the lock.
    ///
    /// # Safety
    ///
    /// The array's elements must be accessed either through these atomic views or
    /// through the lock, not both: while any view returned here is used, no
    /// [`ArrayGuard`](super::ArrayGuard) of the same array may exist, in this process
    /// or in another one that maps it (that includes the guard `to_vec` takes
    /// internally). A guard lends `&mut [T]` / `&[T]`, which promise that nobody
    /// else reads or writes those elements; an atomic access to an element while such
    /// a reference to it is alive is a data race (undefined behaviour). In practice:
    /// give an array that you use atomically no lock users at all.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::sync::SharedArray;
    /// use std::sync::atomic::Ordering;
    /// let counters = SharedArray::<u64>::anonymous(&[0, 0])?;
    /// // SAFETY: `counters` is only ever used through atomics (no guard, no to_vec).
    /// let c = unsafe { counters.atomics_u64() }.expect("8-byte elements");
    /// c[1].fetch_add(5, Ordering::Relaxed);
    /// assert_eq!(c[1].load(Ordering::Relaxed), 5);
    /// # Ok::<(), shmlane::CreateError>(())
    /// ```
    ///
    /// Without `unsafe`, the atomic view cannot be had:
    ///
    /// ```compile_fail,E0133
    /// let a = shmlane::sync::SharedArray::<u64>::anonymous(&[0]).unwrap();
    /// let _ = a.atomics_u64();
    /// ```
    pub unsafe fn atomics_u64(&self) -> Option<&[AtomicU64]> {
        self.atomics()
    }

    /// The elements as `AtomicU32`s, if `T` is 4 bytes.
    ///
    /// # Safety
    ///
    /// As for [`atomics_u64`](Self::atomics_u64): no guard of the array may exist
    /// (in any process) while the views are used.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::sync::SharedArray;
    /// let flags = SharedArray::<u32>::anonymous(&[0; 4])?;
    /// // SAFETY: `flags` is only used through atomics.
    /// let f = unsafe { flags.atomics_u32() }.expect("4-byte elements");
    /// f[0].store(1, std::sync::atomic::Ordering::Release);
    /// # Ok::<(), shmlane::CreateError>(())
    /// ```
    pub unsafe fn atomics_u32(&self) -> Option<&[AtomicU32]> {
        self.atomics()
    }
}

#[cfg(not(shmlane_loom))]
/// The one [`LocalLock`] of the object `seg` maps in this process (shared by every
/// mapping of it: two `open`s of one name share it), keyed by the segment file's
/// device and inode; looked up at open, not per operation.
pub(super) fn local_lock_of(seg: &Segment) -> Arc<LocalLock> {
    type Registry = std::sync::Mutex<Vec<((u64, u64), Weak<LocalLock>)>>; // (dev, ino)
    static REGISTRY: Registry = std::sync::Mutex::new(Vec::new());
    let Ok(st) = rustix::fs::fstat(seg.fd()) else {
        // Unknown file identity: a lock of its own (the self check then covers
        // only this mapping's handles; see `alone_while_named`).
        return Arc::default();
    };
    let key = (st.st_dev, st.st_ino);
    let mut reg = REGISTRY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    reg.retain(|(_, w)| w.strong_count() > 0);
    if let Some(l) = reg
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, w)| w.upgrade())
    {
        return l;
    }
    let l = Arc::new(LocalLock::default());
    reg.push((key, Arc::downgrade(&l)));
    l
}

#[cfg(not(shmlane_loom))]
/// The entries of an object's user table (owner words), read in order.
fn users_snapshot(users: &[Endpoint; OBJECT_USERS]) -> [u64; OBJECT_USERS] {
    // Acquire — SYNC POINT: pairs with the AcqRel claim CAS and the Release `release`
    // of `ring::endpoint`.
    core::array::from_fn(|i| users[i].word.load(Ordering::Acquire))
}

#[cfg(not(shmlane_loom))]
/// True if the lock word names `pid` while no entry of the user table names it as
/// attached (or marked dead): `pid` has not opened the object, so it cannot have locked
/// it. Two identical snapshots of the table around the word's read make it exact: a
/// locker claims its entry before it locks (the claim is visible to whoever reads its
/// pid in the word, Acquire), and releases it only after unlocking.
fn not_a_user(ctrl: &ObjectControl, pid: u32) -> bool {
    let before = users_snapshot(&ctrl.users);
    let named = ctrl.lock.owner_pid();
    let after = users_snapshot(&ctrl.users);
    let uses = |w: &u64| {
        endpoint::pid(*w) == pid
            && matches!(
                endpoint::status(*w),
                endpoint::Status::Attached | endpoint::Status::Dead
            )
    };
    before == after && named == pid && !before.iter().any(uses)
}

#[cfg(not(shmlane_loom))]
/// Why a lock call on an object returned without the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NotLocked {
    /// The deadline passed.
    TimedOut,
    /// The lock word contradicts what this process knows.
    Corrupted(ObjectCorrupted),
}

#[cfg(not(shmlane_loom))]
/// Takes an object's lock (`ctrl.lock`) as `me`, waiting until `deadline`, already
/// `enter`ed in `local`. After each whole tick asleep the named holder is judged:
///
/// 1. dead (pid and the 32-bit start time the lock records): taken over;
/// 2. this process, while no other thread of it is inside a lock attempt or holds
///    the lock ([`LocalLock::alone_while_named`]): `Corrupted(NotHeldHere)`;
/// 3. a live process that holds no entry of the user table ([`not_a_user`]):
///    `Corrupted(NotAUser)`;
/// 4. otherwise a live user: waited for, however long it holds the lock.
fn relock(
    ctrl: &ObjectControl,
    local: &LocalLock,
    me: Identity,
    deadline: Option<Instant>,
) -> Result<Acquired, NotLocked> {
    let judge = |owner: Identity| {
        if !identity::is_alive_start32(owner) {
            Holder::Dead
        } else if owner.pid == me.pid {
            if local.alone_while_named(&ctrl.lock, owner.pid) {
                Holder::Impossible
            } else {
                Holder::Alive
            }
        } else if not_a_user(ctrl, owner.pid) {
            Holder::Impossible
        } else {
            Holder::Alive
        }
    };
    ctrl.lock
        .lock_judged(me, WaitMode::Blocking, deadline, judge)
        .map_err(|b| match b {
            Blocked::TimedOut => NotLocked::TimedOut,
            Blocked::Impossible { word } => {
                let pid = word & ((1 << 30) - 1);
                NotLocked::Corrupted(ObjectCorrupted {
                    pid,
                    lie: if pid == me.pid {
                        LockWordLie::NotHeldHere
                    } else {
                        LockWordLie::NotAUser
                    },
                })
            }
        })
}

#[cfg(not(shmlane_loom))]
/// The elements of an object segment, lent out while its lock is held; unlocks on drop.
///
/// Invariants: (1) `ptr` points to `len` valid `T` inside the mapping that `ctrl`
/// also lies in (alive for `'a`); (2) this value holds `ctrl.lock` (it is only made
/// right after acquiring it) and is counted in `local` (entered before).
pub(super) struct Locked<'a, T> {
    ptr: NonNull<T>,
    len: usize,
    ctrl: &'a ObjectControl,
    local: &'a LocalLock,
    me: Identity,
}

#[cfg(not(shmlane_loom))]
// SAFETY: like `&mut [T]` for `T: Send`: the elements are exclusively ours while locked.
unsafe impl<T: Send> Send for Locked<'_, T> {}
#[cfg(not(shmlane_loom))]
// SAFETY: like `&mut [T]` for `T: Sync`.
unsafe impl<T: Sync> Sync for Locked<'_, T> {}

#[cfg(not(shmlane_loom))]
impl<'a, T: bytemuck::Pod> Locked<'a, T> {
    fn lend(seg: &'a Segment, local: &'a LocalLock, me: Identity) -> Self {
        let ctrl = seg.object_control().expect("validated object");
        let (ptr, len) = seg.object_elements::<T>().expect("validated object of T");
        Self {
            ptr,
            len,
            ctrl,
            local,
            me,
        }
    }

    /// Locks `seg`'s object as `me` (waiting until `deadline`) and lends its elements.
    pub(super) fn lock(
        seg: &'a Segment,
        local: &'a LocalLock,
        me: Identity,
        deadline: Option<Instant>,
    ) -> Result<(Self, Acquired), NotLocked> {
        let ctrl = seg.object_control().expect("validated object");
        local.enter();
        match relock(ctrl, local, me, deadline) {
            Ok(how) => Ok((Self::lend(seg, local, me), how)),
            Err(e) => {
                local.leave();
                Err(e)
            }
        }
    }

    /// Locks `seg`'s object if free now and lends its elements.
    pub(super) fn try_lock(
        seg: &'a Segment,
        local: &'a LocalLock,
        me: Identity,
    ) -> Option<(Self, Acquired)> {
        let ctrl = seg.object_control().expect("validated object");
        local.enter();
        if !ctrl.lock.try_lock(me.pid, me.start) {
            local.leave();
            return None;
        }
        let how = if ctrl.lock.is_inconsistent() {
            Acquired::OwnerDied
        } else {
            Acquired::Clean
        };
        Some((Self::lend(seg, local, me), how))
    }
}

#[cfg(not(shmlane_loom))]
impl<T> Locked<'_, T> {
    /// The object's lock (held by us).
    pub(super) fn raw(&self) -> &RawMutex {
        &self.ctrl.lock
    }

    /// Unlocks, sleeps on `cv` until notified (or a tick, or `until`), and locks again
    /// as [`Locked::lock`] does (judging the holder). If the lock cannot be had again
    /// because its word is corrupted, the guard is dissolved without an unlock.
    pub(super) fn wait_on(
        self,
        cv: &RawCondvar,
        until: Option<Instant>,
    ) -> Result<(Self, Acquired), ObjectCorrupted> {
        cv.sleep(&self.ctrl.lock, until);
        loop {
            match relock(self.ctrl, self.local, self.me, None) {
                Ok(how) => return Ok((self, how)),
                Err(NotLocked::TimedOut) => {} // (no deadline: not returned)
                Err(NotLocked::Corrupted(c)) => {
                    // Not held any more: leave without the unlock in `drop`.
                    self.local.leave();
                    core::mem::forget(self);
                    return Err(c);
                }
            }
        }
    }

    pub(super) fn slice(&self) -> &[T] {
        // SAFETY: type invariant (1): valid, exclusively ours while locked (2); any bits
        // are a valid `T: Pod` (`lend` requires it).
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub(super) fn slice_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `slice`, and `&mut self` makes this the only reference.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

#[cfg(not(shmlane_loom))]
impl<T> Drop for Locked<'_, T> {
    fn drop(&mut self) {
        self.ctrl.lock.unlock();
        self.local.leave();
    }
}

#[cfg(not(shmlane_loom))]
impl<T> core::fmt::Debug for Locked<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Locked").field("len", &self.len).finish()
    }
}
