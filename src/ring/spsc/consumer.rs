//! The consuming end of an SPSC ring (protocol: the `ring::spsc` module docs).

#[cfg(not(shmlane_loom))]
use super::as_values;
use super::{Chunk, RawRing, ReadChunk, read_run, sealed};
use crate::error::{Corrupted, PopError};
#[cfg(test)]
use crate::layout::SpscControl;
use crate::platform::identity::Identity;
use crate::primitive::Ordering;
use crate::ring::endpoint::{self, Status};
use bytemuck::Pod;

/// The consuming end of an SPSC ring.
///
/// # Examples
///
/// ```
/// let (tx, mut rx) = shmlane::ring::spsc::heap::<u8>(2).unwrap();
/// assert!(rx.pop().is_err());
/// drop(tx);
/// assert!(rx.is_abandoned());
/// ```
pub struct Consumer<T> {
    ring: RawRing<T>,
    /// Next position to read; authoritative copy of `ctrl.head`.
    head: u64,
    /// Last `ctrl.tail` seen; may lag behind the real one.
    cached_tail: u64,
    /// Polls in a row that found the ring empty (see [`expect_next`](Self::expect_next)).
    empty_polls: u32,
    word: u64,
}

/// Empty polls in a row after which the consumer counts as waiting for a message
/// rather than catching up with a stream, and starts prefetching the next slot.
/// Measured interleaved (docs/benchmarks.md, fourth session): 0 halves single-item
/// streaming, 8 costs the ping-pong ~0.1× of the floor, 3 keeps both goals.
const PREFETCH_AFTER: u32 = 3;

impl<T> core::fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Consumer")
            .field("head", &self.head)
            .field("capacity", &self.ring.capacity())
            .finish()
    }
}

impl<T: Pod> Consumer<T> {
    /// Claims the consumer endpoint of `ring` for `me`.
    pub(crate) fn attach(
        ring: RawRing<T>,
        me: Identity,
        is_alive: impl Fn(Identity) -> bool,
    ) -> Result<Self, crate::error::ClaimError> {
        let word = endpoint::claim(&ring.ctrl().consumer, me, is_alive)?;
        // Our notifies may then skip their fence (`primitive::membarrier`).
        crate::primitive::membarrier::register();
        // Acquire: see `Producer::attach`.
        let head = ring.ctrl().head.load(Ordering::Acquire);
        let cached_tail = head;
        Ok(Self {
            ring,
            head,
            cached_tail,
            empty_polls: 0,
            word,
        })
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.ring.capacity() as usize
    }

    /// Values ready to read, refreshing the producer's position.
    pub fn available(&mut self) -> Result<usize, Corrupted> {
        self.expect_next();
        self.refresh()?;
        let ready = self.cached_tail.wrapping_sub(self.head) as usize;
        self.count_empty(ready == 0);
        Ok(ready)
    }

    /// Values ready to read now (a snapshot through `&self`: unlike
    /// [`available`](Self::available) it keeps no record of the poll).
    pub(crate) fn ready_now(&self) -> Result<usize, Corrupted> {
        // Acquire — SYNC POINT: as in `refresh`; only the count is used.
        let tail = self.ring.ctrl().tail.load(Ordering::Acquire);
        self.ring.check(self.head, tail).map(|n| n as usize)
    }

    /// Called on every poll of a waiter (every [`available`](Self::available), and a
    /// `pop` that finds the ring empty). Once the consumer has found the ring empty
    /// [`PREFETCH_AFTER`] times in a row, i.e. it waits for a message (a ping-pong)
    /// rather than catching up with a stream, it starts fetching the next slot's cache
    /// line, so that once the producer has written it the line travels here alongside
    /// `tail`'s instead of after it (the slot read that follows a new `tail` is
    /// otherwise a second, dependent cache miss). `available` issues it *before*
    /// loading `tail`, so the poll whose `tail` load sees the new value has the slot's
    /// line requested too.
    ///
    /// Not sooner: in a stream the next slot's line is often the one the producer is
    /// filling, and pulling it over after every element made the line bounce between
    /// the cores (single-item streaming fell to about half, measured).
    #[inline(always)]
    fn expect_next(&self) {
        if self.empty_polls >= PREFETCH_AFTER {
            crate::primitive::prefetch(self.ring.slot(self.head));
        }
    }

    #[inline(always)]
    fn count_empty(&mut self, empty: bool) {
        self.empty_polls = if empty {
            self.empty_polls.saturating_add(1)
        } else {
            0
        };
    }

    #[inline]
    fn refresh(&mut self) -> Result<(), Corrupted> {
        // Acquire — SYNC POINT: pairs with the Release store of tail in
        // `Producer::publish`, making the slot contents visible.
        let tail = self.ring.ctrl().tail.load(Ordering::Acquire);
        self.ring.check(self.head, tail)?;
        self.cached_tail = tail;
        Ok(())
    }

    #[inline(always)]
    fn ready(&mut self, want: u64) -> Result<u64, Corrupted> {
        let mut ready = self.cached_tail.wrapping_sub(self.head);
        if ready < want {
            self.refresh()?;
            ready = self.cached_tail.wrapping_sub(self.head);
        }
        Ok(ready)
    }

    #[inline(always)]
    fn publish(&mut self, n: u64) {
        self.empty_polls = 0;
        self.head = self.head.wrapping_add(n);
        // Release — SYNC POINT: pairs with the Acquire load of head in
        // `Producer::refresh`; our slot reads happen before the producer reuses them.
        self.ring.ctrl().head.store(self.head, Ordering::Release);
        self.ring.ctrl().writable.notify();
    }

    /// Takes the oldest value.
    #[inline]
    pub fn pop(&mut self) -> Result<T, PopError> {
        if self.ready(1)? == 0 {
            self.count_empty(true);
            self.expect_next();
            return Err(PopError::Empty);
        }
        // SAFETY: `head < tail` (validated): the producer published this slot with
        // Release and will not touch it before we advance head. Any bits are a valid T.
        let v = self.ring.slot(self.head).with(|p| unsafe { p.read() });
        self.publish(1);
        Ok(v)
    }

    /// Moves up to `dst.len()` values into `dst`; returns how many (0 if empty).
    // `#[inline]`: out of line (as the bounds-checked copy path made it), the consumer of
    // a single-item cross-process stream fell from 1.7-1.9x rtrb to 0.6-0.8x (bisected,
    // docs/benchmarks.md); inlined into the caller's receive loop it is back.
    #[inline]
    pub fn pop_into(&mut self, dst: &mut [T]) -> Result<usize, Corrupted> {
        let n = self.ready(dst.len() as u64)?.min(dst.len() as u64) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.copy_out(&mut dst[..n]);
        self.publish(n as u64);
        Ok(n)
    }

    /// Reads the slots from `head` on into `dst` (at most the ready count).
    #[inline]
    fn copy_out(&mut self, dst: &mut [T]) {
        let mut done = 0;
        for (i, len) in self.ring.runs(self.head, dst.len()) {
            read_run(self.ring.run(i, len), &mut dst[done..done + len]);
            done += len;
        }
    }

    /// Borrows up to `max` published values in place; read them, then
    /// [`ReadChunk::commit`]. Returns an empty chunk when nothing is ready.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = shmlane::ring::spsc::heap::<u32>(4).unwrap();
    /// tx.push_slice(&[1, 2, 3]).unwrap();
    /// let chunk = rx.read_chunk(8).unwrap();
    /// let (a, b) = chunk.as_slices();
    /// assert_eq!(a.len() + b.len(), 3);
    /// chunk.commit(2);
    /// assert_eq!(rx.pop(), Ok(3));
    /// ```
    pub fn read_chunk(&mut self, max: usize) -> Result<ReadChunk<'_, T>, Corrupted> {
        let n = self.ready(max as u64)?.min(max as u64) as usize;
        let runs = self.ring.runs(self.head, n);
        Ok(Chunk::new(runs, self))
    }

    /// Checks the shared words against what this consumer knows, for a caller about
    /// to wait (slow path: a few loads, never per message). `Corrupted` if
    ///
    /// * the shared `head` is not the one this consumer published (only we write it:
    ///   a producer may wait for room that is free, or overwrite unread values);
    /// * the shared `tail` is out of range of our `head`;
    /// * the producer's endpoint word is "free" (never claimed) while the positions
    ///   show a producer has written: words never return to free, so no producer is
    ///   there to publish, close or be seen dead, and the wait could never end.
    ///
    /// Waiting on a live, silent producer passes.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, mut rx) = shmlane::ring::spsc::heap::<u8>(2).unwrap();
    /// assert!(rx.verify().is_ok()); // empty, but nothing contradicts
    /// ```
    pub fn verify(&mut self) -> Result<(), Corrupted> {
        let ctrl = self.ring.ctrl();
        // Relaxed: as for `tail` in `Producer::verify`.
        let head = ctrl.head.load(Ordering::Relaxed);
        // Acquire: as in `refresh` (pairs with the producer's Release of tail).
        let tail = ctrl.tail.load(Ordering::Acquire);
        let (producer, _) = endpoint::load(&ctrl.producer);
        let corrupted = Corrupted {
            head,
            tail,
            capacity: self.ring.capacity(),
        };
        if head != self.head {
            return Err(corrupted);
        }
        self.ring.check(self.head, tail)?;
        self.cached_tail = tail;
        if endpoint::status(producer) == Status::Free && (tail | self.head) != 0 {
            return Err(corrupted);
        }
        Ok(())
    }

    /// True once the producer has closed its end or was marked dead.
    pub fn is_abandoned(&self) -> bool {
        matches!(self.peer_status(), Status::Closed | Status::Dead)
    }

    /// The eventcount the producer notifies after publishing: sleep on it when empty
    /// (see [`crate::wait`] for the protocol).
    #[cfg(feature = "internals")]
    pub fn data_event(&self) -> &crate::wait::EventCount {
        &self.ring.ctrl().readable
    }

    /// The producer endpoint's status.
    pub fn peer_status(&self) -> Status {
        endpoint::status(endpoint::load(&self.ring.ctrl().producer).0)
    }

    #[cfg(test)]
    pub(crate) fn control(&self) -> &SpscControl {
        self.ring.ctrl()
    }

    pub(crate) fn raw(&self) -> &RawRing<T> {
        &self.ring
    }

    /// The first contiguous run of ready values, borrowed in place (empty if none);
    /// release them with [`consume`](Self::consume).
    ///
    /// The slice lies in memory the producer's process maps too: see "Memory a peer can
    /// write" in the [module docs](super) for what a hostile producer can (change the
    /// values under you) and cannot (anything unsafe) do through it.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = shmlane::ring::spsc::heap::<u8>(4).unwrap();
    /// tx.push_slice(b"hey").unwrap();
    /// assert_eq!(rx.peek_slice().unwrap(), b"hey");
    /// rx.consume(2);
    /// assert_eq!(rx.peek_slice().unwrap(), b"y");
    /// ```
    #[cfg(not(shmlane_loom))]
    pub fn peek_slice(&mut self) -> Result<&[T], Corrupted> {
        let n = self.ready(u64::MAX)? as usize;
        let [(i, len), _] = self.ring.runs(self.head, n);
        Ok(as_values(self.ring.run(i, len)))
    }

    /// Releases the next `n` ready values without reading them (clamped to what is
    /// ready according to the last refresh).
    pub fn consume(&mut self, n: usize) {
        let n = (n as u64).min(self.cached_tail.wrapping_sub(self.head));
        if n > 0 {
            self.publish(n);
        }
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        endpoint::release(&self.ring.ctrl().consumer, self.word);
        self.ring.ctrl().writable.notify();
    }
}

impl<T: Pod> sealed::End<T> for Consumer<T> {
    #[allow(private_interfaces)] // see the trait
    fn raw(&self) -> &RawRing<T> {
        &self.ring
    }
    fn publish_n(&mut self, n: u64) {
        self.publish(n);
    }
}
