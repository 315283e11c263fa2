//! The receiving end of a pipe.

use super::peer::Peer;
use super::sender::Blocked;
use crate::error::{BlockingRecvError, PopError, RecvTimeoutError, TryRecvError};
use crate::ring::spsc::{Consumer, Side};
use crate::wait::{Poll, WaitMode};
use bytemuck::Pod;
use std::time::{Duration, Instant};

/// Receives `T` values from a shared-memory ring fed by a [`Sender`](super::Sender),
/// possibly in another process.
///
/// When the sender drops its end or its process dies, the receiver still gets every
/// value published before that, in order, and then `Disconnected`.
///
/// # Examples
///
/// ```
/// use shmlane::error::TryRecvError;
/// let (mut tx, mut rx) = shmlane::pipe::channel::<u64>(8)?;
/// tx.send_slice(&[1, 2])?;
/// drop(tx);
/// let mut buf = [0; 8];
/// assert_eq!(rx.recv_into(&mut buf)?, 2);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Receiver<T: Pod> {
    /// Where waits sleep (a second handle on the ring, and the fence request). First
    /// field: dropped (its fence request withdrawn) before the ring end releases its
    /// endpoint word; after the release a successor may claim the end and reset the
    /// eventcount, and a withdrawal then would subtract from the successor's request.
    pub(super) waits: super::Waits<T>,
    pub(super) ring: Consumer<T>,
    pub(super) peer: Peer,
    pub(super) mode: WaitMode,
    /// This end in the process's held-ends registry. Last field: dropped after the
    /// ring end has released its endpoint word.
    pub(super) held: super::held::Held,
}

impl<T: Pod> Receiver<T> {
    /// Sets how blocking receives wait for data (default [`WaitMode::Blocking`]).
    pub fn set_wait_mode(&mut self, mode: WaitMode) {
        self.mode = mode;
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// Values ready to receive now. A corrupted ring (positions out of range) counts
    /// as empty here; `try_recv`/`recv` report it as `Corrupted`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, rx) = shmlane::pipe::channel::<u8>(4)?;
    /// tx.send_slice(&[1, 2])?;
    /// let rx = &rx; // a shared borrow is enough
    /// assert_eq!(rx.len(), 2);
    /// assert!(!rx.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.ring.ready_now().unwrap_or(0)
    }

    /// True if nothing is ready now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Receives a value if one is ready.
    #[inline]
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        match self.ring.pop() {
            Ok(v) => Ok(v),
            Err(PopError::Corrupted(c)) => Err(TryRecvError::Corrupted(c)),
            Err(PopError::Empty) => self.drained_or_empty(),
        }
    }

    #[cold]
    fn drained_or_empty(&mut self) -> Result<T, TryRecvError> {
        if !self.peer.gone(self.ring.raw()) {
            return Err(TryRecvError::Empty);
        }
        // The peer is gone; its endpoint word was read with Acquire after its last
        // publish, so one more look sees everything it sent.
        match self.ring.pop() {
            Ok(v) => Ok(v),
            Err(PopError::Empty) => Err(TryRecvError::Disconnected),
            Err(PopError::Corrupted(c)) => Err(TryRecvError::Corrupted(c)),
        }
    }

    /// Receives a value, waiting as long as it takes.
    #[inline]
    pub fn recv(&mut self) -> Result<T, BlockingRecvError> {
        self.recv_deadline(None).map_err(|e| match e {
            RecvTimeoutError::Disconnected => BlockingRecvError::Disconnected,
            RecvTimeoutError::Corrupted(c) => BlockingRecvError::Corrupted(c),
            RecvTimeoutError::Timeout => unreachable!("no deadline was set"),
        })
    }

    /// Receives a value, waiting at most `timeout`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_deadline(crate::wait::deadline_after(timeout))
    }

    fn recv_deadline(&mut self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        loop {
            match self.try_recv() {
                Ok(v) => return Ok(v),
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => return Err(RecvTimeoutError::Disconnected),
                Err(TryRecvError::Corrupted(c)) => return Err(RecvTimeoutError::Corrupted(c)),
            }
            self.wait_readable(deadline).map_err(|b| match b {
                Blocked::Timeout => RecvTimeoutError::Timeout,
                Blocked::Disconnected => RecvTimeoutError::Disconnected,
                Blocked::Corrupted(c) => RecvTimeoutError::Corrupted(c),
            })?;
        }
    }

    /// Receives into `dst`, waiting until at least one value is ready; returns how many
    /// were received (0 only if `dst` is empty).
    pub fn recv_into(&mut self, dst: &mut [T]) -> Result<usize, BlockingRecvError> {
        if dst.is_empty() {
            return Ok(0);
        }
        loop {
            let n = self.ring.pop_into(dst)?;
            if n > 0 {
                return Ok(n);
            }
            if self.peer.gone(self.ring.raw()) {
                return match self.ring.pop_into(dst)? {
                    0 => Err(BlockingRecvError::Disconnected),
                    n => Ok(n),
                };
            }
            self.wait_readable(None).map_err(|b| match b {
                Blocked::Corrupted(c) => BlockingRecvError::Corrupted(c),
                _ => BlockingRecvError::Disconnected,
            })?;
        }
    }

    /// Borrows up to `max` ready values in place without waiting (see
    /// [`Consumer::read_chunk`](crate::ring::spsc::Consumer::read_chunk)).
    ///
    /// The values lie in memory the sender's process can write: it may change them
    /// under you (read each once and validate the copy), never make the chunk reach
    /// outside the ring (see [`Chunk`](crate::ring::spsc::Chunk)).
    ///
    /// ```
    /// let (mut tx, mut rx) = shmlane::pipe::channel::<u16>(8)?;
    /// tx.send_slice(&[4, 5])?;
    /// let c = rx.read_chunk(8)?;
    /// assert_eq!((c.len(), c.get(1)), (2, 5));
    /// c.commit_all();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_chunk(
        &mut self,
        max: usize,
    ) -> Result<crate::ring::spsc::ReadChunk<'_, T>, crate::error::Corrupted> {
        self.ring.read_chunk(max)
    }

    /// An iterator that receives until the sender disconnects (or the ring is corrupted).
    ///
    /// ```
    /// let (mut tx, mut rx) = shmlane::pipe::channel::<u8>(8)?;
    /// tx.send_slice(b"hi")?;
    /// drop(tx);
    /// assert_eq!(rx.iter().collect::<Vec<_>>(), b"hi");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter(&mut self) -> impl Iterator<Item = T> + '_ {
        std::iter::from_fn(move || self.recv().ok())
    }

    /// True once the sender has closed its end or died (one load while nothing
    /// changes). For the buffer carriers (`crate::carrier`).
    pub(crate) fn sender_gone(&mut self) -> bool {
        self.peer.gone(self.ring.raw())
    }

    /// Waits until a value is ready, the sender is gone (ready: the caller drains and
    /// then sees `Disconnected`), or `deadline`.
    pub(crate) fn wait_readable(&mut self, deadline: Option<Instant>) -> Result<(), Blocked> {
        let r = self.waits.block_on(self.mode, deadline, |slow| {
            if slow {
                // A wait that contradicts what we know could never end: say so.
                if let Err(c) = self.ring.verify() {
                    return Poll::Ready(Err(Blocked::Corrupted(c)));
                }
                if self.held.names_me_falsely(self.ring.raw(), Side::Producer) {
                    return Poll::Ready(Err(Blocked::Corrupted(self.ring.raw().corrupted())));
                }
                self.peer.check_alive(self.ring.raw());
            }
            match self.ring.available() {
                Ok(0) if !self.peer.gone(self.ring.raw()) => Poll::Pending,
                Ok(_) => Poll::Ready(Ok(())),
                Err(c) => Poll::Ready(Err(Blocked::Corrupted(c))),
            }
        });
        r.unwrap_or(Err(Blocked::Timeout))
    }

    /// The first contiguous run of ready values in place, waiting for at least one;
    /// empty once the sender is gone and everything was received.
    pub(crate) fn fill(&mut self) -> Result<&[T], Blocked> {
        loop {
            match self.ring.available() {
                Ok(0) => {}
                Ok(_) => break,
                Err(c) => return Err(Blocked::Corrupted(c)),
            }
            if self.peer.gone(self.ring.raw()) {
                break; // one last look below; empty means end of stream
            }
            match self.wait_readable(None) {
                Ok(()) => {}
                Err(Blocked::Disconnected) => break,
                Err(e) => return Err(e),
            }
        }
        self.ring.peek_slice().map_err(Blocked::Corrupted)
    }

    /// Releases `n` values obtained from [`fill`](Self::fill).
    pub(crate) fn consume(&mut self, n: usize) {
        self.ring.consume(n);
    }
}
