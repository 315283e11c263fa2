//! The segment-backed handle types of [`crate::sync`].

use super::raw::{
    Acquired, RawBarrier, RawCondvar, RawEvent, RawSemaphore, seqlock_is_odd, seqlock_read,
    seqlock_write,
};
use super::shared::{LocalLock, Locked, NotLocked, SyncState};
use crate::error::{ClaimError, CreateError, ObjectCorrupted, OpenError};
use crate::layout::{ElemDesc, ObjectControl, SegmentKind};
use crate::platform::{identity, inherit};
use crate::primitive::AtomicU64;
use crate::ring::Identity;
use crate::ring::endpoint;
use crate::segment::{Expect, Segment};
use crate::wait::{TimedOut, WaitMode};
use bytemuck::Pod;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a lock call returned without a clean guard.
///
/// * `OwnerDied(guard)`: the lock *is held* (the guard is inside), but its previous
///   holder died holding it (or a later holder did not call `mark_consistent`): the
///   data may be half-updated.
/// * `Corrupted`: the lock is *not* held: its shared word names a holder this process
///   knows cannot hold it (see [`ObjectCorrupted`]); waiting would never end.
///
/// # Examples
///
/// ```
/// use shmlane::sync::{LockError, Mutex};
/// let m = Mutex::anonymous(0u64)?;
/// let g = match m.lock() {
///     Ok(g) => g,
///     Err(LockError::OwnerDied(g)) => {
///         // repair the data here, then:
///         g.mark_consistent();
///         g
///     }
///     Err(LockError::Corrupted(e)) => return Err(e.into()),
/// };
/// assert_eq!(*g, 0);
/// // or, accepting a dead owner's data as it is:
/// drop(g);
/// let g = m.lock().or_else(LockError::into_guard)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub enum LockError<G> {
    /// Locked, after the previous owner died holding the lock.
    OwnerDied(G),
    /// Not locked: the lock word contradicts this process's own knowledge.
    Corrupted(ObjectCorrupted),
}

impl<G> LockError<G> {
    /// The guard if the lock is held (`OwnerDied`), else the corruption.
    pub fn into_guard(self) -> Result<G, ObjectCorrupted> {
        match self {
            Self::OwnerDied(g) => Ok(g),
            Self::Corrupted(c) => Err(c),
        }
    }
}

impl<G> std::fmt::Debug for LockError<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OwnerDied(_) => f.write_str("OwnerDied(..)"),
            Self::Corrupted(c) => write!(f, "Corrupted({c:?})"),
        }
    }
}

impl<G> std::fmt::Display for LockError<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OwnerDied(_) => f.write_str("the previous lock owner died holding the lock"),
            Self::Corrupted(c) => std::fmt::Display::fmt(c, f),
        }
    }
}

impl<G> std::error::Error for LockError<G> {}

/// A semaphore release would exceed its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("semaphore already at its bound of {max}")]
pub struct SemaphoreFull {
    /// The bound.
    pub max: u32,
}

/// The result of a lock: the guard, or a [`LockError`] (which may hold the guard).
pub type LockResult<G> = Result<G, LockError<G>>;

/// An object segment, opened: it holds an entry of the segment's user table until
/// dropped, so that the object counts as in use (see [`ObjectControl`]).
#[derive(Debug)]
struct Opened {
    seg: Segment,
    user: usize,
    word: u64,
    /// This process's lock activity on the object (shared with its other mappings).
    local: Arc<LocalLock>,
}

impl Opened {
    fn new(seg: Segment, me: Identity) -> Result<Self, ClaimError> {
        let users = &seg
            .object_control()
            .expect("validated object segment")
            .users;
        let (user, word) = endpoint::claim_any(&users[..], me, identity::is_alive)?;
        let local = LocalLock::of(&seg);
        Ok(Self {
            seg,
            user,
            word,
            local,
        })
    }
}

impl Drop for Opened {
    fn drop(&mut self) {
        if let Some(c) = self.seg.object_control() {
            endpoint::release(&c.users[self.user], self.word);
        }
    }
}

impl core::ops::Deref for Opened {
    type Target = Segment;
    fn deref(&self) -> &Segment {
        &self.seg
    }
}

/// One opened object segment (shared by the handle's clones) and this process's
/// identity.
#[derive(Debug)]
struct Object<E> {
    seg: Arc<Opened>,
    me: Identity,
    _e: PhantomData<fn() -> E>,
}

impl<E> Clone for Object<E> {
    fn clone(&self) -> Self {
        Self {
            seg: self.seg.clone(),
            me: self.me,
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
        let me = identity::current();
        Ok(Self {
            seg: Arc::new(Opened::new(seg, me)?),
            me,
            _e: PhantomData,
        })
    }

    fn create(
        name: Option<&str>,
        kind: SegmentKind,
        len: usize,
        param: u32,
    ) -> Result<Self, CreateError> {
        let e = Self::expect(kind);
        let seg = match name {
            Some(n) => Segment::create_with(n, &e, len as u64, param),
            None => Segment::create_anonymous_with(&e, len as u64, param),
        }?;
        Ok(Self::wrap(seg)?)
    }

    fn open(name: &str, kind: SegmentKind) -> Result<Self, OpenError> {
        Ok(Self::wrap(Segment::open(name, &Self::expect(kind))?)?)
    }

    fn from_env(key: &str, kind: SegmentKind) -> Result<Self, OpenError> {
        Ok(Self::wrap(Segment::from_fd(
            inherit::take(key)?,
            &Self::expect(kind),
        )?)?)
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

    /// Locks (waiting until `deadline`; `None` on timeout) and lends the elements as
    /// `T`, wrapped in the guard type `wrap` makes.
    fn locked<'a, T: Pod, G>(
        &'a self,
        deadline: Option<Instant>,
        wrap: fn(Locked<'a, T>) -> G,
    ) -> Option<LockResult<G>> {
        match Locked::lock(&self.seg, &self.seg.local, self.me, deadline) {
            Ok((g, how)) => Some(verdict(wrap(g), how)),
            Err(NotLocked::TimedOut) => None,
            Err(NotLocked::Corrupted(c)) => Some(Err(LockError::Corrupted(c))),
        }
    }

    /// As [`locked`](Self::locked) without a deadline.
    fn locked_forever<'a, T: Pod, G>(&'a self, wrap: fn(Locked<'a, T>) -> G) -> LockResult<G> {
        loop {
            if let Some(r) = self.locked(None, wrap) {
                return r;
            }
        }
    }

    /// As [`locked`](Self::locked) if the lock is free now.
    fn try_locked<'a, T: Pod, G>(&'a self, wrap: fn(Locked<'a, T>) -> G) -> Option<LockResult<G>> {
        let (g, how) = Locked::try_lock(&self.seg, &self.seg.local, self.me)?;
        Some(verdict(wrap(g), how))
    }
}

/// The guard, flagged if its lock was taken over from a dead owner.
fn verdict<G>(g: G, how: Acquired) -> LockResult<G> {
    match how {
        Acquired::Clean => Ok(g),
        Acquired::OwnerDied => Err(LockError::OwnerDied(g)),
    }
}

/// Generates the constructors every object handle shares (open, inherit, persist).
macro_rules! object_handle {
    ($ty:ident $(<$t:ident: $b:path>)?, $e:ty, $kind:expr $(, check = $check:path)?) => {
        impl$(<$t: $b>)? $ty$(<$t>)? {
            /// This handle type's segment kind (each object type has its own).
            const KIND: SegmentKind = $kind;

            /// Opens a named object made by `create`, checking its kind (an object of
            /// another type is refused with [`OpenError::KindMismatch`]), its element
            /// type and its parameters.
            pub fn open(name: &str) -> Result<Self, OpenError> {
                Object::<$e>::open(name, Self::KIND).and_then(Self::opened)
            }

            /// Opens the anonymous object a parent passed with `spawn_with(.., key)`.
            pub fn from_env(key: &str) -> Result<Self, OpenError> {
                Object::<$e>::from_env(key, Self::KIND).and_then(Self::opened)
            }

            /// The opened object as this handle, if its header's parameters are valid.
            fn opened(obj: Object<$e>) -> Result<Self, OpenError> {
                let handle = Self { obj };
                $($check(&handle)?;)?
                Ok(handle)
            }

            /// Spawns `cmd` with this object inherited; the child calls `from_env(key)`.
            pub fn spawn_with(
                &self,
                cmd: &mut std::process::Command,
                key: &str,
            ) -> std::io::Result<std::process::Child> {
                inherit::spawn_with(self.obj.seg.fd(), cmd, key)
            }

            /// Keeps a named object's name after this process's handles are gone.
            pub fn persist(&self) {
                self.obj.seg.persist();
            }
        }
    };
}

/// A fixed-length array of `T` in shared memory with a lock (Python's
/// `multiprocessing.Array`), plus lock-free atomic views for 32/64-bit integers
/// (`unsafe`: an array is used either through its lock or through atomics, see
/// [`atomics_u64`](Self::atomics_u64)).
///
/// # Examples
///
/// ```
/// use shmlane::sync::SharedArray;
/// let name = format!("doc-array-{}", std::process::id());
/// let a = SharedArray::<u64>::create(&name, &[1, 2, 3])?;
/// let b = SharedArray::<u64>::open(&name)?; // usually another process
/// b.lock().unwrap()[0] = 10;
/// assert_eq!(a.to_vec()?, [10, 2, 3]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct SharedArray<T: Pod> {
    obj: Object<T>,
}

object_handle!(SharedArray<T: Pod>, T, SegmentKind::SharedArray);

impl<T: Pod> SharedArray<T> {
    fn init(obj: Object<T>, init: &[T]) -> Result<Self, CreateError> {
        let a = Self { obj };
        // Nobody else can have the anonymous segment yet; a named one may have an early
        // opener, which the lock keeps out while we fill it (and which could garble
        // the lock word: then the create fails).
        a.lock()
            .or_else(LockError::into_guard)?
            .copy_from_slice(init);
        Ok(a)
    }

    /// Creates a named array holding a copy of `init` (its length is fixed).
    pub fn create(name: &str, init: &[T]) -> Result<Self, CreateError> {
        Self::init(Object::create(Some(name), Self::KIND, init.len(), 0)?, init)
    }

    /// Creates an anonymous array holding a copy of `init`.
    pub fn anonymous(init: &[T]) -> Result<Self, CreateError> {
        Self::init(Object::create(None, Self::KIND, init.len(), 0)?, init)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.obj.seg.header().capacity as usize
    }

    /// Always false: arrays have at least one element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock_inner(&self, deadline: Option<Instant>) -> Option<LockResult<ArrayGuard<'_, T>>> {
        self.obj.locked(deadline, |inner| ArrayGuard { inner })
    }

    /// Locks the array, waiting as long as a live holder holds it; the guard derefs
    /// to `&mut [T]`. Fails with [`LockError::Corrupted`] (instead of waiting forever)
    /// when the lock word names a holder this process knows cannot hold it.
    pub fn lock(&self) -> LockResult<ArrayGuard<'_, T>> {
        self.obj.locked_forever(|inner| ArrayGuard { inner })
    }

    /// Locks the array, waiting at most `timeout`; `None` on timeout.
    pub fn lock_timeout(&self, timeout: Duration) -> Option<LockResult<ArrayGuard<'_, T>>> {
        self.lock_inner(Some(Instant::now() + timeout))
    }

    /// A copy of the elements, taken under the lock (even after an owner died); fails
    /// only if the lock word is corrupted (see [`lock`](Self::lock)).
    pub fn to_vec(&self) -> Result<Vec<T>, ObjectCorrupted> {
        Ok(self.lock().or_else(LockError::into_guard)?.to_vec())
    }

    /// The elements as atomic words `W` (the view behind the `unsafe`
    /// [`atomics_u64`](Self::atomics_u64) / [`atomics_u32`](Self::atomics_u32), in
    /// `shared.rs`), if `T` has `W`'s size and at most its alignment.
    pub(super) fn atomics<W: crate::segment::SharedWord>(&self) -> Option<&[W]> {
        (core::mem::size_of::<W>() == core::mem::size_of::<T>()
            && core::mem::align_of::<T>() <= core::mem::align_of::<W>())
        .then(|| self.obj.seg.object_words::<W>())
        .flatten()
        .map(|w| &w[..self.len()])
    }
}

/// The locked elements of a [`SharedArray`]; unlocks on drop.
///
/// # The slice and other processes
///
/// The guard derefs to `&[T]` / `&mut [T]` over memory that other processes map too.
/// The lock makes it exclusive among handles that follow the protocol; it cannot stop
/// a peer that writes without the lock (a bug, or a hostile process), and such a write
/// may change elements while you hold the slice. What holds then: every bit pattern is
/// a valid `T` (`T: Pod`), and the library takes no length, index or pointer from the
/// elements, so this process never touches memory outside the mapping. What does not:
/// that a value read twice is the same both times — read what you check once into a
/// local. Within the library's own API, plain access through a guard and atomic access
/// to the same elements cannot be mixed without `unsafe`
/// ([`SharedArray::atomics_u64`]).
#[derive(Debug)]
pub struct ArrayGuard<'a, T: Pod> {
    inner: Locked<'a, T>,
}

impl<T: Pod> ArrayGuard<'_, T> {
    /// Declares the data consistent after [`LockError::OwnerDied`].
    pub fn mark_consistent(&self) {
        self.inner.raw().mark_consistent();
    }
}

impl<T: Pod> std::ops::Deref for ArrayGuard<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.inner.slice()
    }
}

impl<T: Pod> std::ops::DerefMut for ArrayGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.inner.slice_mut()
    }
}

/// A mutex with its data inside, shared between processes; robust: see
/// [`LockError::OwnerDied`].
///
/// # Examples
///
/// ```
/// let m = shmlane::sync::Mutex::anonymous(5u32)?;
/// *m.lock().unwrap() += 1;
/// assert_eq!(*m.lock().unwrap(), 6);
/// # Ok::<(), shmlane::CreateError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Mutex<T: Pod> {
    obj: Object<T>,
}

object_handle!(Mutex<T: Pod>, T, SegmentKind::Mutex);

impl<T: Pod> Mutex<T> {
    fn init(obj: Object<T>, value: T) -> Result<Self, CreateError> {
        SharedArray::init(obj.clone(), &[value])?;
        Ok(Self { obj })
    }

    /// Creates a named mutex holding `value`.
    pub fn create(name: &str, value: T) -> Result<Self, CreateError> {
        Self::init(Object::create(Some(name), Self::KIND, 1, 0)?, value)
    }

    /// Creates an anonymous mutex holding `value`.
    pub fn anonymous(value: T) -> Result<Self, CreateError> {
        Self::init(Object::create(None, Self::KIND, 1, 0)?, value)
    }

    fn lock_inner(&self, deadline: Option<Instant>) -> Option<LockResult<MutexGuard<'_, T>>> {
        self.obj.locked(deadline, |inner| MutexGuard { inner })
    }

    /// Locks, waiting as long as a live holder holds it (taking over from a dead
    /// one); fails with [`LockError::Corrupted`] instead of waiting forever when the
    /// lock word names a holder this process knows cannot hold it.
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        self.obj.locked_forever(|inner| MutexGuard { inner })
    }

    /// Locks, waiting at most `timeout`; `None` on timeout.
    pub fn lock_timeout(&self, timeout: Duration) -> Option<LockResult<MutexGuard<'_, T>>> {
        self.lock_inner(Some(Instant::now() + timeout))
    }

    /// Locks if free now.
    pub fn try_lock(&self) -> Option<LockResult<MutexGuard<'_, T>>> {
        self.obj.try_locked(|inner| MutexGuard { inner })
    }
}

/// The locked value of a [`Mutex`]; unlocks on drop.
#[derive(Debug)]
pub struct MutexGuard<'a, T: Pod> {
    inner: Locked<'a, T>,
}

impl<T: Pod> MutexGuard<'_, T> {
    /// Declares the data consistent after [`LockError::OwnerDied`].
    pub fn mark_consistent(&self) {
        self.inner.raw().mark_consistent();
    }
}

impl<T: Pod> std::ops::Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner.slice()[0]
    }
}

impl<T: Pod> std::ops::DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner.slice_mut()[0]
    }
}

/// A value with lock-free readers (a seqlock): one writer at a time (serialized by the
/// object's robust lock), readers never see a torn value and never block a writer.
/// Every call returns `Err(ObjectCorrupted)` rather than wait forever on a lock word
/// that contradicts this process's knowledge (see [`load`](Self::load)).
///
/// # Examples
///
/// ```
/// let v = shmlane::sync::SharedValue::anonymous([0u32; 3])?;
/// v.store([1, 2, 3])?;
/// assert_eq!(v.update(|mut x| { x[0] += 10; x })?, [11, 2, 3]);
/// assert_eq!(v.load()?, [11, 2, 3]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct SharedValue<T: Pod> {
    obj: Object<T>,
}

object_handle!(SharedValue<T: Pod>, T, SegmentKind::SharedValue);

/// Reads before a reader checks whether a stuck writer needs repair.
const SEQLOCK_PATIENCE: u32 = 1 << 12;

impl<T: Pod> SharedValue<T> {
    fn init(obj: Object<T>, value: T) -> Result<Self, CreateError> {
        let v = Self { obj };
        v.store(value)?;
        Ok(v)
    }

    /// Creates a named value.
    pub fn create(name: &str, value: T) -> Result<Self, CreateError> {
        Self::init(Object::create(Some(name), Self::KIND, 1, 0)?, value)
    }

    /// Creates an anonymous value.
    pub fn anonymous(value: T) -> Result<Self, CreateError> {
        Self::init(Object::create(None, Self::KIND, 1, 0)?, value)
    }

    fn words(&self) -> &[AtomicU64] {
        let w = self.obj.seg.object_words::<AtomicU64>().expect("validated");
        &w[..core::mem::size_of::<T>().div_ceil(8)]
    }

    /// Runs `f` with a scratch buffer of as many words as `T` spans: on the stack up to
    /// 128 bytes, on the heap beyond.
    fn with_buf<R>(&self, f: impl FnOnce(&[AtomicU64], &mut [u64]) -> R) -> R {
        let words = self.words();
        let mut stack = [0u64; 16];
        if words.len() <= stack.len() {
            f(words, &mut stack[..words.len()])
        } else {
            f(words, &mut vec![0u64; words.len()])
        }
    }

    fn value_of(buf: &[u64]) -> T {
        let bytes: &[u8] = bytemuck::cast_slice(buf);
        bytemuck::pod_read_unaligned(&bytes[..core::mem::size_of::<T>()])
    }

    /// Reads the value without locking; retries while a write is in progress.
    ///
    /// A read never spins forever. A sequence that stays odd for
    /// `SEQLOCK_PATIENCE` (4,096) tries is either a write in progress by the holder
    /// of the writers' lock (a writer keeps the lock for as long as the sequence is
    /// odd) or damage: the reader then takes the writers' lock, as a writer would, and
    /// rewrites the current words, which makes the sequence even. Taking the lock waits
    /// for a live writer however slow (even a stopped one), takes over from a dead
    /// one, and fails with [`ObjectCorrupted`] only when the lock word names a holder
    /// this process knows cannot hold it (a live process that does not have the
    /// object open, or this process while none of its threads holds or takes the
    /// lock), which is the one case in which waiting would never end.
    pub fn load(&self) -> Result<T, ObjectCorrupted> {
        let seq = &self.obj.ctrl().seq;
        let backoff = crate::primitive::Backoff::new();
        let mut tries = 0u32;
        loop {
            let read = self
                .with_buf(|words, buf| seqlock_read(seq, words, buf).then(|| Self::value_of(buf)));
            if let Some(v) = read {
                return Ok(v);
            }
            tries += 1;
            if tries.is_multiple_of(SEQLOCK_PATIENCE) && seqlock_is_odd(seq) {
                // Wait for (or take over from) the writer, then rewrite the current
                // words, which makes the sequence even.
                return self.write_with(Self::load_locked);
            } else if tries.is_multiple_of(64) {
                std::thread::yield_now();
            } else {
                backoff.spin();
            }
        }
    }

    /// Under the writers' lock: `new(self)` becomes the value; returns it.
    fn write_with(&self, new: impl FnOnce(&Self) -> T) -> Result<T, ObjectCorrupted> {
        let guard = self
            .obj
            .locked_forever::<T, _>(|g| g)
            .or_else(LockError::into_guard)?;
        let v = new(self);
        self.with_buf(|words, buf| {
            bytemuck::cast_slice_mut::<u64, u8>(buf)[..core::mem::size_of::<T>()]
                .copy_from_slice(bytemuck::bytes_of(&v));
            seqlock_write(&self.obj.ctrl().seq, words, buf);
        });
        // A dead writer's half-done store is overwritten whole: consistent again.
        guard.raw().mark_consistent();
        drop(guard);
        Ok(v)
    }

    /// Replaces the value (waiting for the writers' lock as [`load`](Self::load)
    /// describes, and failing the same way).
    pub fn store(&self, value: T) -> Result<(), ObjectCorrupted> {
        self.write_with(|_| value).map(drop)
    }

    /// Replaces the value with `f(old)` atomically with respect to other writers;
    /// returns the new value.
    pub fn update(&self, f: impl FnOnce(T) -> T) -> Result<T, ObjectCorrupted> {
        self.write_with(|s| f(s.load_locked()))
    }

    /// The value, read while holding the writers' lock (the words are stable).
    fn load_locked(&self) -> T {
        self.with_buf(|words, buf| {
            for (b, w) in buf.iter_mut().zip(words) {
                *b = w.load(std::sync::atomic::Ordering::Relaxed);
            }
            Self::value_of(buf)
        })
    }
}

/// Shared-memory state of your own type (see [`SyncState`]), used through `&S`.
#[derive(Debug, Clone)]
pub struct Shared<S: SyncState> {
    obj: Object<S>,
}

object_handle!(Shared<S: SyncState>, S, SegmentKind::SharedState);

impl<S: SyncState> Shared<S> {
    /// Creates a named object, all-zero (every primitive of [`super::raw`] starts so).
    pub fn create(name: &str) -> Result<Self, CreateError> {
        Object::create(Some(name), Self::KIND, 1, 0).map(|obj| Self { obj })
    }

    /// Creates an anonymous object, all-zero.
    pub fn anonymous() -> Result<Self, CreateError> {
        Object::create(None, Self::KIND, 1, 0).map(|obj| Self { obj })
    }
}

impl<S: SyncState> std::ops::Deref for Shared<S> {
    type Target = S;
    fn deref(&self) -> &S {
        self.obj.state()
    }
}

/// A condition variable used with a [`Mutex`]'s guard.
///
/// # Examples
///
/// ```
/// use shmlane::sync::{Condvar, Mutex};
/// let (m, cv) = (Mutex::anonymous(0u8)?, Condvar::anonymous()?);
/// cv.notify_all(); // nobody waits: no effect
/// let g = m.lock().unwrap();
/// let (g, timed_out) = cv.wait_timeout(g, std::time::Duration::from_millis(1)).unwrap();
/// assert!(timed_out && *g == 0);
/// # Ok::<(), shmlane::CreateError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Condvar {
    obj: Object<RawCondvar>,
}

object_handle!(Condvar, RawCondvar, SegmentKind::Condvar);

impl Condvar {
    /// Creates a named condvar.
    pub fn create(name: &str) -> Result<Self, CreateError> {
        Object::create(Some(name), Self::KIND, 1, 0).map(|obj| Self { obj })
    }

    /// Creates an anonymous condvar.
    pub fn anonymous() -> Result<Self, CreateError> {
        Object::create(None, Self::KIND, 1, 0).map(|obj| Self { obj })
    }

    fn wait_until<'a, T: Pod>(
        &self,
        g: MutexGuard<'a, T>,
        until: Option<Instant>,
    ) -> LockResult<MutexGuard<'a, T>> {
        // The guard's lock is held again when `wait_on` returns Ok (it unlocks and
        // relocks, judging the holder as `Mutex::lock` does), so from the caller's view
        // the guard held it throughout.
        let MutexGuard { inner } = g;
        match inner.wait_on(self.obj.state(), until) {
            Ok((inner, how)) => verdict(MutexGuard { inner }, how),
            Err(c) => Err(LockError::Corrupted(c)),
        }
    }

    /// Unlocks the guard's mutex, sleeps until notified (or spuriously), locks again.
    /// Loop on your condition. The relock reports what [`Mutex::lock`] reports: a dead
    /// holder taken over ([`LockError::OwnerDied`], guard inside) or a corrupted lock
    /// word ([`LockError::Corrupted`], the lock is not held).
    pub fn wait<'a, T: Pod>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        self.wait_until(guard, None)
    }

    /// Like [`wait`](Self::wait), at most `timeout`; also returns whether the timeout
    /// passed.
    pub fn wait_timeout<'a, T: Pod>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, bool)> {
        let until = Instant::now() + timeout;
        let timed_out = || Instant::now() >= until;
        match self.wait_until(guard, Some(until)) {
            Ok(g) => Ok((g, timed_out())),
            Err(LockError::OwnerDied(g)) => Err(LockError::OwnerDied((g, timed_out()))),
            Err(LockError::Corrupted(c)) => Err(LockError::Corrupted(c)),
        }
    }

    /// Waits until `cond(&value)` is false, at most `timeout` in all; returns at once
    /// (with `false`) if a relock reports an error.
    pub fn wait_while_timeout<'a, T: Pod>(
        &self,
        mut guard: MutexGuard<'a, T>,
        timeout: Duration,
        mut cond: impl FnMut(&T) -> bool,
    ) -> LockResult<(MutexGuard<'a, T>, bool)> {
        let until = Instant::now() + timeout;
        while cond(&guard) {
            if Instant::now() >= until {
                return Ok((guard, true));
            }
            guard = match self.wait_until(guard, Some(until)) {
                Ok(g) => g,
                Err(LockError::OwnerDied(g)) => return Err(LockError::OwnerDied((g, false))),
                Err(LockError::Corrupted(c)) => return Err(LockError::Corrupted(c)),
            };
        }
        Ok((guard, false))
    }

    /// Wakes one waiter (possibly more: waiters re-check their condition anyway).
    pub fn notify_one(&self) {
        self.obj.state().notify_one();
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        self.obj.state().notify_all();
    }
}

/// A bounded counting semaphore (Python's `BoundedSemaphore`).
///
/// # Examples
///
/// ```
/// let s = shmlane::sync::Semaphore::anonymous(1, 1)?;
/// s.acquire();
/// assert!(!s.try_acquire());
/// s.release()?;
/// assert!(s.release().is_err()); // above the bound
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Semaphore {
    obj: Object<RawSemaphore>,
}

object_handle!(Semaphore, RawSemaphore, SegmentKind::Semaphore);

impl Semaphore {
    fn init(obj: Object<RawSemaphore>, initial: u32) -> Self {
        let s = Self { obj };
        // Released, not stored: an early opener's own releases are kept.
        let _ = s.obj.state().release_bounded(initial, s.max());
        s
    }

    /// Creates a named semaphore with `initial` units and at most `max`; `initial`
    /// above `max` is refused with [`CreateError::InvalidParameter`] (never clamped).
    pub fn create(name: &str, initial: u32, max: u32) -> Result<Self, CreateError> {
        Self::check_initial(initial, max)?;
        Object::create(Some(name), Self::KIND, 1, max).map(|o| Self::init(o, initial))
    }

    /// Creates an anonymous semaphore (`initial <= max`, as for `create`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{CreateError, sync::Semaphore};
    /// assert!(matches!(
    ///     Semaphore::anonymous(5, 2),
    ///     Err(CreateError::InvalidParameter { param: "initial count", value: 5, .. })
    /// ));
    /// ```
    pub fn anonymous(initial: u32, max: u32) -> Result<Self, CreateError> {
        Self::check_initial(initial, max)?;
        Object::create(None, Self::KIND, 1, max).map(|o| Self::init(o, initial))
    }

    fn check_initial(initial: u32, max: u32) -> Result<(), CreateError> {
        if initial > max {
            return Err(CreateError::InvalidParameter {
                param: "initial count",
                value: u64::from(initial),
                reason: "above the semaphore's bound",
            });
        }
        Ok(())
    }

    /// The bound.
    pub fn max(&self) -> u32 {
        self.obj.seg.header().param
    }

    /// Takes a unit, waiting as long as it takes.
    pub fn acquire(&self) {
        let _ = self.obj.state().acquire(WaitMode::Blocking, None);
    }

    /// Takes a unit if one is available now.
    pub fn try_acquire(&self) -> bool {
        self.obj.state().try_acquire()
    }

    /// Takes a unit, waiting at most `timeout`.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<(), TimedOut> {
        self.obj
            .state()
            .acquire(WaitMode::Blocking, Some(Instant::now() + timeout))
            .map_err(|_| TimedOut)
    }

    /// Returns a unit; fails if that would exceed the bound.
    pub fn release(&self) -> Result<(), SemaphoreFull> {
        self.obj
            .state()
            .release_bounded(1, self.max())
            .map_err(|_| SemaphoreFull { max: self.max() })
    }

    /// Units available now (a snapshot).
    pub fn value(&self) -> u32 {
        self.obj.state().value()
    }
}

/// A flag that processes wait for (Python's `Event`).
///
/// # Examples
///
/// ```
/// let e = shmlane::sync::Event::anonymous()?;
/// assert!(!e.wait_timeout(std::time::Duration::from_millis(1)));
/// e.set();
/// assert!(e.wait_timeout(std::time::Duration::from_millis(1)));
/// # Ok::<(), shmlane::CreateError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Event {
    obj: Object<RawEvent>,
}

object_handle!(Event, RawEvent, SegmentKind::Event);

impl Event {
    /// Creates a named event (cleared).
    pub fn create(name: &str) -> Result<Self, CreateError> {
        Object::create(Some(name), Self::KIND, 1, 0).map(|obj| Self { obj })
    }

    /// Creates an anonymous event (cleared).
    pub fn anonymous() -> Result<Self, CreateError> {
        Object::create(None, Self::KIND, 1, 0).map(|obj| Self { obj })
    }

    /// Sets the flag, waking every waiter in every process.
    pub fn set(&self) {
        self.obj.state().set();
    }

    /// Clears the flag.
    pub fn clear(&self) {
        self.obj.state().clear();
    }

    /// True if set.
    pub fn is_set(&self) -> bool {
        self.obj.state().is_set()
    }

    /// Waits until set.
    pub fn wait(&self) {
        let _ = self.obj.state().wait(WaitMode::Blocking, None);
    }

    /// Waits until set, at most `timeout`; returns whether it is set.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.obj
            .state()
            .wait(WaitMode::Blocking, Some(Instant::now() + timeout))
            .is_ok()
    }
}

/// A reusable barrier for a fixed number of parties (Python's `Barrier`).
///
/// # Examples
///
/// ```
/// let b = shmlane::sync::Barrier::anonymous(1)?;
/// assert!(b.wait()); // one party: released at once, as the leader
/// # Ok::<(), shmlane::CreateError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Barrier {
    obj: Object<RawBarrier>,
}

object_handle!(
    Barrier,
    RawBarrier,
    SegmentKind::Barrier,
    check = Self::parties_ok
);

impl Barrier {
    /// Creates a named barrier for `parties` processes (or threads); zero parties is
    /// refused with [`CreateError::InvalidParameter`].
    pub fn create(name: &str, parties: u32) -> Result<Self, CreateError> {
        Self::check_parties(parties)?;
        Object::create(Some(name), Self::KIND, 1, parties).map(|obj| Self { obj })
    }

    /// Creates an anonymous barrier (at least one party, as for `create`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{CreateError, sync::Barrier};
    /// assert!(matches!(
    ///     Barrier::anonymous(0),
    ///     Err(CreateError::InvalidParameter { param: "party count", value: 0, .. })
    /// ));
    /// ```
    pub fn anonymous(parties: u32) -> Result<Self, CreateError> {
        Self::check_parties(parties)?;
        Object::create(None, Self::KIND, 1, parties).map(|obj| Self { obj })
    }

    fn check_parties(parties: u32) -> Result<(), CreateError> {
        if parties == 0 {
            return Err(CreateError::InvalidParameter {
                param: "party count",
                value: 0,
                reason: "a barrier needs at least one party",
            });
        }
        Ok(())
    }

    /// An opened barrier's header must name at least one party (a creator never
    /// writes 0; a damaged header is refused instead of read as 1).
    fn parties_ok(&self) -> Result<(), OpenError> {
        match self.parties() {
            0 => Err(OpenError::LayoutMismatch {
                field: "param (barrier parties)",
                expected: 1,
                found: 0,
            }),
            _ => Ok(()),
        }
    }

    /// The number of parties.
    pub fn parties(&self) -> u32 {
        self.obj.seg.header().param
    }

    /// Waits for all parties; returns `true` in exactly one of them (the last to
    /// arrive).
    pub fn wait(&self) -> bool {
        self.obj
            .state()
            .wait(self.parties(), WaitMode::Blocking, None)
            .unwrap_or(false)
    }

    /// Waits at most `timeout`; on timeout this party's arrival is withdrawn.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, TimedOut> {
        self.obj
            .state()
            .wait(
                self.parties(),
                WaitMode::Blocking,
                Some(Instant::now() + timeout),
            )
            .map_err(|_| TimedOut)
    }
}

#[cfg(all(test, not(miri)))]
#[path = "tests.rs"]
mod tests;
