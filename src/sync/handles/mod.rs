//! The segment-backed handle types of [`crate::sync`]: what they share (the opened
//! object, lock results, the constructor macro) here, one type per file below.

use super::shared::{Locked, NotLocked, local_lock_of};
use crate::error::{ClaimError, CreateError, ObjectCorrupted, OpenError, TimedOut};
pub use crate::error::{
    LockError, LockResult, LockTimeoutError, SemaphoreFull, TryLockError, WaitTimeoutError,
};
use crate::handle::{self, Handle};
use crate::layout::{ElemDesc, ObjectControl, SegmentKind};
use crate::lock::{
    Acquired, LocalLock, RawBarrier, RawCondvar, RawEvent, RawSemaphore, SyncState, seqlock_is_odd,
    seqlock_read, seqlock_write,
};
use crate::platform::identity;
use crate::platform::identity::Identity;
use crate::primitive::AtomicU64;
use crate::ring::endpoint;
use crate::segment::{Expect, Segment};
use crate::wait::WaitMode;
use bytemuck::Pod;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// An object segment, opened: it holds an entry of the segment's user table until
/// dropped, so that the object counts as in use (see [`ObjectControl`]).
#[derive(Debug)]
struct Opened {
    seg: Segment,
    /// The pid of the process that holds `entry` (the opener, or a child forked with
    /// the handle once it has locked: see [`joined`](Self::joined)).
    pid: AtomicU32,
    /// The user-table entry `pid` holds: its index and word.
    entry: std::sync::Mutex<(usize, u64)>,
    /// This process's lock activity on the object (shared with its other mappings).
    local: Arc<LocalLock>,
}

impl Opened {
    fn new(seg: Segment, me: Identity) -> Result<Self, ClaimError> {
        let users = &seg
            .object_control()
            .expect("validated object segment")
            .users;
        let entry = endpoint::claim_any(&users[..], me, identity::is_alive)?;
        let local = local_lock_of(&seg);
        Ok(Self {
            seg,
            pid: AtomicU32::new(me.pid),
            entry: std::sync::Mutex::new(entry),
            local,
        })
    }

    /// Makes sure that `me` (this process) holds an entry of the user table before it
    /// locks, as every locker must (waiters judge a holder without one `NotAUser`).
    /// The opener holds one since the open; a child forked with the handle claims its
    /// own on its first lock (its parent's entry stays the parent's), and fails with
    /// `NoEntryAfterFork` if every entry is held by a live process.
    fn joined(&self, me: Identity) -> Result<(), ObjectCorrupted> {
        // Acquire — SYNC POINT: pairs with the Release store below: a thread that sees
        // its pid here sees the claim, and its lock CAS (Release) publishes both.
        if self.pid.load(Ordering::Acquire) == me.pid {
            return Ok(());
        }
        let mut entry = self
            .entry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Relaxed: written under this mutex, which we hold.
        if self.pid.load(Ordering::Relaxed) == me.pid {
            return Ok(());
        }
        let users = &self.seg.object_control().expect("validated").users;
        *entry = endpoint::claim_any(&users[..], me, identity::is_alive).map_err(|_| {
            ObjectCorrupted {
                pid: me.pid,
                lie: crate::error::LockWordLie::NoEntryAfterFork,
            }
        })?;
        // Release: see the Acquire load above.
        self.pid.store(me.pid, Ordering::Release);
        Ok(())
    }
}

impl Drop for Opened {
    fn drop(&mut self) {
        // A guard of ours still counted (one `mem::forget` made, or another thread's
        // attempt through another handle right now): the word may name this live
        // process, so keep the entry (waiters would judge us `NotAUser`); it is
        // reclaimed once this process is gone.
        if self.local.busy() {
            return;
        }
        let (user, word) = *self
            .entry
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = self.seg.object_control() {
            // (A no-op for an entry that names another process: a forked child's copy
            // of the handle never releases its parent's entry.)
            endpoint::release(&c.users[user], word);
        }
    }
}

impl core::ops::Deref for Opened {
    type Target = Segment;
    fn deref(&self) -> &Segment {
        &self.seg
    }
}

/// One opened object segment (shared by the handle's clones). Locks are taken as
/// [`identity::current`] (no system call), not as the identity of the opener: a child
/// forked with the handle locks as itself.
#[derive(Debug)]
struct Object<E> {
    seg: Arc<Opened>,
    _e: PhantomData<fn() -> E>,
}

impl<E> Clone for Object<E> {
    fn clone(&self) -> Self {
        Self {
            seg: self.seg.clone(),
            _e: PhantomData,
        }
    }
}

impl<E: 'static> Object<E> {
    /// What an opener of object type `kind` (one kind per handle type: a mutex never
    /// opens an array's segment) over elements `E` requires.
    fn expect(kind: SegmentKind) -> Expect {
        debug_assert!(kind.is_object());
        Expect {
            kind,
            elem: ElemDesc::of::<E>(),
            capacity: None,
        }
    }

    fn wrap(seg: Segment) -> Result<Self, ClaimError> {
        Ok(Self {
            seg: Arc::new(Opened::new(seg, identity::current())?),
            _e: PhantomData,
        })
    }

    /// Creates a named (`Some(name)`) or anonymous object segment of `len` elements.
    fn create(
        name: Option<&str>,
        kind: SegmentKind,
        len: usize,
        param: u32,
    ) -> Result<Self, CreateError> {
        let seg = handle::create_segment(name, &Self::expect(kind), len as u64, param)?;
        Ok(Self::wrap(seg)?)
    }

    fn ctrl(&self) -> &ObjectControl {
        // Created or validated as an Object segment.
        self.seg.object_control().expect("validated object segment")
    }

    fn state(&self) -> &E
    where
        E: SyncState,
    {
        self.seg.object_state::<E>().expect("validated object of E")
    }

    /// Locks (waiting until `deadline`) and lends the elements as `T`, wrapped in the
    /// guard type `wrap` makes.
    fn locked<'a, T: Pod, G>(
        &'a self,
        deadline: Option<Instant>,
        wrap: fn(Locked<'a, T>) -> G,
    ) -> Result<G, LockTimeoutError<G>> {
        let me = identity::current();
        if let Err(c) = self.seg.joined(me) {
            return Err(LockTimeoutError::Corrupted(c));
        }
        match Locked::lock(&self.seg, &self.seg.local, me, deadline) {
            Ok((g, how)) => verdict(wrap(g), how).map_err(Into::into),
            Err(NotLocked::TimedOut) => Err(LockTimeoutError::Timeout),
            Err(NotLocked::Corrupted(c)) => Err(LockTimeoutError::Corrupted(c)),
        }
    }

    /// As [`locked`](Self::locked) without a deadline.
    fn locked_forever<'a, T: Pod, G>(&'a self, wrap: fn(Locked<'a, T>) -> G) -> LockResult<G> {
        loop {
            match self.locked(None, wrap) {
                Ok(g) => return Ok(g),
                Err(LockTimeoutError::OwnerDied(g)) => return Err(LockError::OwnerDied(g)),
                Err(LockTimeoutError::Corrupted(c)) => return Err(LockError::Corrupted(c)),
                Err(LockTimeoutError::Timeout) => {}
            }
        }
    }

    /// As [`locked`](Self::locked) if the lock is free now.
    fn try_locked<'a, T: Pod, G>(
        &'a self,
        wrap: fn(Locked<'a, T>) -> G,
    ) -> Result<G, TryLockError<G>> {
        let me = identity::current();
        if let Err(c) = self.seg.joined(me) {
            return Err(TryLockError::Corrupted(c));
        }
        let (g, how) =
            Locked::try_lock(&self.seg, &self.seg.local, me).ok_or(TryLockError::WouldBlock)?;
        verdict(wrap(g), how).map_err(Into::into)
    }
}

/// The guard, flagged if its lock was taken over from a dead owner.
fn verdict<G>(g: G, how: Acquired) -> LockResult<G> {
    match how {
        Acquired::Clean => Ok(g),
        Acquired::OwnerDied => Err(LockError::OwnerDied(g)),
    }
}

/// What an object handle type is made of: one segment kind, one element type, one
/// [`Object`]. Every such type is a [`Handle`] (below), so `constructors!` gives it the
/// shared constructor set.
trait ObjectHandle: Sized {
    /// What the object segment holds (the user's `T`, or a raw primitive).
    type E: 'static;
    /// This handle type's segment kind (each object type has its own).
    const KIND: SegmentKind;
    /// The handle over an opened or created object.
    fn wrap(obj: Object<Self::E>) -> Self;
    /// The object.
    fn object(&self) -> &Object<Self::E>;
    /// Checks the kind-specific header fields of an opened object (none by default).
    fn header_ok(&self) -> Result<(), OpenError> {
        Ok(())
    }
}

impl<H: ObjectHandle> Handle for H {
    fn expect() -> Expect {
        Object::<H::E>::expect(H::KIND)
    }

    fn opened(seg: Segment) -> Result<Self, OpenError> {
        let handle = H::wrap(Object::wrap(seg)?);
        handle.header_ok()?;
        Ok(handle)
    }

    fn segment_of(&self) -> &Segment {
        &self.object().seg.seg
    }
}

mod array;
mod barrier;
mod condvar;
mod event;
mod mutex;
mod semaphore;
mod state;
mod value;

pub use array::*;
pub use barrier::*;
pub use condvar::*;
pub use event::*;
pub use mutex::*;
pub use semaphore::*;
pub use state::*;
pub use value::*;

#[cfg(all(test, not(miri)))]
#[path = "../tests.rs"]
mod tests;
