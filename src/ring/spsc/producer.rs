//! The producing end of an SPSC ring (protocol: the `ring::spsc` module docs).

use super::{Chunk, ChunkError, RawRing, WriteChunk, sealed, write_run};
use crate::error::{Corrupted, PushError};
#[cfg(test)]
use crate::layout::SpscControl;
use crate::platform::identity::Identity;
use crate::primitive::Ordering;
use crate::ring::endpoint::{self, Status};
use bytemuck::Pod;

/// The producing end of an SPSC ring.
///
/// # Examples
///
/// ```
/// let (mut tx, _rx) = shmlane::ring::spsc::heap::<u8>(2).unwrap();
/// assert_eq!(tx.push_slice(b"abc"), Ok(2)); // only two slots
/// assert!(tx.push(b'd').is_err());
/// ```
pub struct Producer<T> {
    ring: RawRing<T>,
    /// Next position to write; authoritative copy of `ctrl.tail`.
    tail: u64,
    /// Last `ctrl.head` seen; may lag behind the real one.
    cached_head: u64,
    /// Our endpoint word, to release on drop.
    word: u64,
}

impl<T> core::fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Producer")
            .field("tail", &self.tail)
            .field("capacity", &self.ring.capacity())
            .finish()
    }
}

impl<T: Pod> Producer<T> {
    /// Claims the producer endpoint of `ring` for `me`.
    pub(crate) fn attach(
        ring: RawRing<T>,
        me: Identity,
        is_alive: impl Fn(Identity) -> bool,
    ) -> Result<Self, crate::error::ClaimError> {
        let word = endpoint::claim(&ring.ctrl().producer, me, is_alive)?;
        // Our notifies may then skip their fence (`primitive::membarrier`).
        crate::primitive::membarrier::register();
        // Acquire: the claim's AcqRel already ordered us after the previous owner.
        let tail = ring.ctrl().tail.load(Ordering::Acquire);
        // Not the shared `head`: it is unchecked (a previous owner or a peer may have
        // left anything). A cache that says "full" makes the first call that needs
        // room refresh, which validates the real `head` against our `tail`. This keeps
        // the invariant `tail - cached_head <= capacity` that `free` relies on.
        let cached_head = tail.wrapping_sub(ring.capacity());
        Ok(Self {
            ring,
            tail,
            cached_head,
            word,
        })
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.ring.capacity() as usize
    }

    /// Free slots, refreshing the consumer's position.
    pub fn slots(&mut self) -> Result<usize, Corrupted> {
        self.refresh()?;
        Ok((self.ring.capacity() - self.tail.wrapping_sub(self.cached_head)) as usize)
    }

    /// Reloads `head` and validates it.
    #[inline]
    fn refresh(&mut self) -> Result<(), Corrupted> {
        // Acquire — SYNC POINT: pairs with the Release store of head in `Consumer::publish`,
        // so the consumer's reads of those slots happen before our overwrites.
        let head = self.ring.ctrl().head.load(Ordering::Acquire);
        self.ring.check(head, self.tail)?;
        self.cached_head = head;
        Ok(())
    }

    /// Free slots according to the cache, refreshing only if fewer than `want`.
    ///
    /// No underflow: `cached_head` is only ever a validated `head` (`refresh`) or the
    /// "full" value `attach` starts from, and `tail` advances by at most the free
    /// count, so `tail - cached_head <= capacity` always holds.
    #[inline(always)]
    fn free(&mut self, want: u64) -> Result<u64, Corrupted> {
        let mut free = self.ring.capacity() - self.tail.wrapping_sub(self.cached_head);
        if free < want {
            self.refresh()?;
            free = self.ring.capacity() - self.tail.wrapping_sub(self.cached_head);
        }
        Ok(free)
    }

    #[inline(always)]
    fn publish(&mut self, n: u64) {
        self.tail = self.tail.wrapping_add(n);
        // Release — SYNC POINT: pairs with the Acquire load of tail in `Consumer::refresh`;
        // makes the slot writes visible before the new tail.
        self.ring.ctrl().tail.store(self.tail, Ordering::Release);
        self.ring.ctrl().readable.notify();
    }

    /// Appends one value, or gives it back if the ring is full.
    #[inline]
    pub fn push(&mut self, value: T) -> Result<(), PushError<T>> {
        match self.free(1) {
            Ok(0) => return Err(PushError::Full(value)),
            Ok(_) => {}
            Err(c) => return Err(PushError::Corrupted(value, c)),
        }
        let slot = self.ring.slot(self.tail);
        // SAFETY: the slot at `tail` is free: the consumer has released it (free >= 1,
        // head refreshed with Acquire), and only this producer writes slots.
        slot.with_mut(|p| unsafe { p.write(value) });
        self.publish(1);
        Ok(())
    }

    /// Appends as many values from `src` as fit; returns how many.
    #[inline]
    pub fn push_slice(&mut self, src: &[T]) -> Result<usize, Corrupted> {
        let n = self.free(src.len() as u64)?.min(src.len() as u64) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.copy_in(&src[..n]);
        self.publish(n as u64);
        Ok(n)
    }

    /// Writes `src` (at most the free count) into the slots from `tail` on.
    #[inline]
    fn copy_in(&mut self, src: &[T]) {
        let mut done = 0;
        for (i, len) in self.ring.runs(self.tail, src.len()) {
            write_run(self.ring.run(i, len), &src[done..done + len]);
            done += len;
        }
    }

    /// Borrows `n` free slots in place; write them, then [`WriteChunk::commit`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = shmlane::ring::spsc::heap::<u32>(4).unwrap();
    /// let mut chunk = tx.write_chunk(3).unwrap();
    /// let (a, b) = chunk.as_mut_slices();
    /// for (i, x) in a.iter_mut().chain(b).enumerate() { *x = i as u32 * 10; }
    /// chunk.commit_all();
    /// assert_eq!(rx.pop(), Ok(0));
    /// assert_eq!(rx.pop(), Ok(10));
    /// ```
    pub fn write_chunk(&mut self, n: usize) -> Result<WriteChunk<'_, T>, ChunkError> {
        let free = self.free(n as u64)?;
        if free < n as u64 {
            return Err(ChunkError::TooFewSlots(free as usize));
        }
        let runs = self.ring.runs(self.tail, n);
        Ok(Chunk::new(runs, self))
    }

    /// Checks the shared words against what this producer knows, for a caller about
    /// to wait (slow path: a few loads, never per message). `Corrupted` if
    ///
    /// * the shared `tail` is not the one this producer published (only we write it:
    ///   a consumer reading it would wait for data we never sent, while we wait for
    ///   room it never frees);
    /// * the shared `head` is out of range of our `tail`;
    /// * the consumer's endpoint word is "free" (never claimed) while `head` shows a
    ///   consumer has read: words never return to free, so nobody is there to free
    ///   room, and nobody will be told to.
    ///
    /// Waiting on a live, silent consumer passes.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, _rx) = shmlane::ring::spsc::heap::<u8>(2).unwrap();
    /// tx.push_slice(b"ab").unwrap();
    /// assert!(tx.verify().is_ok()); // full, but nothing contradicts
    /// ```
    pub fn verify(&mut self) -> Result<(), Corrupted> {
        let ctrl = self.ring.ctrl();
        // Relaxed: our own last store of `tail` is what coherence gives back unless
        // someone else wrote it; no other memory is read on the strength of it.
        let tail = ctrl.tail.load(Ordering::Relaxed);
        // Acquire: as in `refresh` (pairs with the consumer's Release of head).
        let head = ctrl.head.load(Ordering::Acquire);
        let (consumer, _) = endpoint::load(&ctrl.consumer);
        let corrupted = Corrupted {
            head,
            tail,
            capacity: self.ring.capacity(),
        };
        if tail != self.tail {
            return Err(corrupted);
        }
        self.ring.check(head, self.tail)?;
        self.cached_head = head;
        if endpoint::status(consumer) == Status::Free && head != 0 {
            return Err(corrupted);
        }
        Ok(())
    }

    /// True once the consumer has closed its end or was marked dead.
    pub fn is_abandoned(&self) -> bool {
        matches!(self.peer_status(), Status::Closed | Status::Dead)
    }

    /// The eventcount the consumer notifies after freeing slots: sleep on it when full
    /// (see [`crate::wait`] for the protocol).
    #[cfg(feature = "internals")]
    pub fn space_event(&self) -> &crate::wait::EventCount {
        &self.ring.ctrl().writable
    }

    /// The consumer endpoint's status.
    pub fn peer_status(&self) -> Status {
        endpoint::status(endpoint::load(&self.ring.ctrl().consumer).0)
    }

    /// The position the next value is written at, and the consumer's position as last
    /// loaded (validated, never past the real one); with `refresh`, loaded now (one
    /// Acquire load, as for `Full`). For the buffer carriers' transit holds
    /// (`crate::carrier`): a position before the consumer's has been taken.
    pub(crate) fn positions(&mut self, refresh: bool) -> Result<(u64, u64), Corrupted> {
        if refresh {
            self.refresh()?;
        }
        Ok((self.tail, self.cached_head))
    }

    #[cfg(test)]
    pub(crate) fn control(&self) -> &SpscControl {
        self.ring.ctrl()
    }

    pub(crate) fn raw(&self) -> &RawRing<T> {
        &self.ring
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        endpoint::release(&self.ring.ctrl().producer, self.word);
        self.ring.ctrl().readable.notify();
    }
}

impl<T: Pod> sealed::End<T> for Producer<T> {
    #[allow(private_interfaces)] // see the trait
    fn raw(&self) -> &RawRing<T> {
        &self.ring
    }
    fn publish_n(&mut self, n: u64) {
        self.publish(n);
    }
}
