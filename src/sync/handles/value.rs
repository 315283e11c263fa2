//! [`SharedValue`]: a value behind a seqlock (lock-free readers).

use super::*;
use crate::error::ValueError;

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
    pub(super) obj: Object<T>,
}

impl<T: Pod> ObjectHandle for SharedValue<T> {
    type E = T;
    const KIND: SegmentKind = SegmentKind::SharedValue;
    fn wrap(obj: Object<T>) -> Self {
        Self { obj }
    }
    fn object(&self) -> &Object<T> {
        &self.obj
    }
}

crate::handle::constructors! {
    impl[T: Pod] SharedValue<T> {
        what: "value",
        ex: "shmlane::sync::SharedValue::<u64>",
        params: (value: T),
        args: (5),
        made: "holding `value`",
    }
}

/// Reads before a reader checks whether a stuck writer needs repair.
const SEQLOCK_PATIENCE: u32 = 1 << 12;

impl<T: Pod> SharedValue<T> {
    fn init(obj: Object<T>, value: T) -> Result<Self, CreateError> {
        let v = Self { obj };
        v.store(value)?;
        Ok(v)
    }

    fn build(name: Option<&str>, value: T) -> Result<Self, CreateError> {
        Self::init(Object::create(name, Self::KIND, 1, 0)?, value)
    }

    /// Nothing to check: the element type fixes the size.
    fn made_with(&self, _value: T) -> Result<(), OpenError> {
        Ok(())
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
    /// odd) or damage: the reader then takes the writers' lock, as a writer would.
    /// Taking the lock waits for a live writer however slow (even a stopped one),
    /// takes over from a dead one, and fails with [`ValueError::Corrupted`] only when
    /// the lock word names a holder this process knows cannot hold it (a live process
    /// that does not have the object open, or this process while none of its threads
    /// holds or takes the lock), which is the one case in which waiting would never
    /// end. Under the lock, a sequence still odd after a dead writer (the lock came
    /// with `OwnerDied`) means that writer died mid-store and the words mix two values:
    /// [`ValueError::WriterDied`], until a [`store`](Self::store) repairs the value. An
    /// odd sequence with no dead writer behind it (garbage) is made even by
    /// rewriting the current words.
    pub fn load(&self) -> Result<T, ValueError> {
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
                // words, which makes the sequence even (unless they are torn).
                return self.read_modify(|v| v);
            } else if tries.is_multiple_of(64) {
                std::thread::yield_now();
            } else {
                backoff.spin();
            }
        }
    }

    /// Under the writers' lock: `f(current value)` becomes the value; returns it. If a
    /// dead writer left the words torn (the lock came with `OwnerDied` and the
    /// sequence is odd), `f` is not called, nothing is written and the value stays
    /// marked inconsistent: `WriterDied`.
    fn read_modify(&self, f: impl FnOnce(T) -> T) -> Result<T, ValueError> {
        let guard = match self.obj.locked_forever::<T, _>(|g| g) {
            Ok(g) => g,
            Err(LockError::OwnerDied(g)) => {
                if seqlock_is_odd(&self.obj.ctrl().seq) {
                    // (The guard's drop unlocks; `inconsistent` stays set.)
                    return Err(ValueError::WriterDied);
                }
                g // the dead writer had finished its store: the words are whole
            }
            Err(LockError::Corrupted(c)) => return Err(c.into()),
        };
        Ok(self.publish(guard, f(self.load_locked())))
    }

    /// Writes `v` as the value under `guard` (the writers' lock) and unlocks.
    fn publish(&self, guard: Locked<'_, T>, v: T) -> T {
        self.with_buf(|words, buf| {
            bytemuck::cast_slice_mut::<u64, u8>(buf)[..core::mem::size_of::<T>()]
                .copy_from_slice(bytemuck::bytes_of(&v));
            seqlock_write(&self.obj.ctrl().seq, words, buf);
        });
        // Whole again: whatever a dead writer left was replaced by a whole value.
        guard.raw().mark_consistent();
        drop(guard);
        v
    }

    /// Replaces the value (waiting for the writers' lock as [`load`](Self::load)
    /// describes, and failing the same way). A value that a writer left torn by dying
    /// mid-store is replaced whole and marked consistent again.
    pub fn store(&self, value: T) -> Result<(), ObjectCorrupted> {
        let guard = self
            .obj
            .locked_forever::<T, _>(|g| g)
            .or_else(LockError::into_guard)?;
        self.publish(guard, value);
        Ok(())
    }

    /// Replaces the value with `f(old)` atomically with respect to other writers;
    /// returns the new value. Fails as [`load`](Self::load) does, without calling
    /// `f`: it is never given a torn value.
    pub fn update(&self, f: impl FnOnce(T) -> T) -> Result<T, ValueError> {
        self.read_modify(f)
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
