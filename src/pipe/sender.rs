//! The sending end of a pipe.

use super::peer::Peer;
use crate::error::{
    BlockingSendError, Corrupted, PushError, SendSliceError, SendTimeoutError, TrySendError,
};
use crate::ring::spsc::{Producer, Side};
use crate::wait::{Poll, WaitMode};
use bytemuck::Pod;
use std::time::{Duration, Instant};

/// Why a wait for space ended without space.
pub(crate) enum Blocked {
    Timeout,
    Disconnected,
    Corrupted(Corrupted),
}

/// Sends `T` values into a shared-memory ring; the receiving [`Receiver`](super::Receiver)
/// may live in another process.
///
/// Every send first checks (one load) that the receiver is still there: once it has
/// dropped its end or its process has died, sends return `Disconnected`.
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = shmlane::pipe::channel::<u32>(4)?;
/// tx.send_slice(&[1, 2, 3])?;
/// assert_eq!(tx.try_send(4), Ok(()));
/// assert!(tx.try_send(5).is_err()); // full
/// drop(rx);
/// assert!(matches!(tx.send(6), Err(shmlane::error::BlockingSendError::Disconnected(6))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Sender<T: Pod> {
    /// Where waits sleep (a second handle on the ring, and the fence request). First
    /// field: dropped (its fence request withdrawn) before the ring end releases its
    /// endpoint word; after the release a successor may claim the end and reset the
    /// eventcount, and a withdrawal then would subtract from the successor's request.
    pub(super) waits: super::Waits<T>,
    pub(super) ring: Producer<T>,
    pub(super) peer: Peer,
    pub(super) mode: WaitMode,
    /// This end in the process's held-ends registry. Last field: dropped after the
    /// ring end has released its endpoint word.
    pub(super) held: super::held::Held,
}

impl<T: Pod> Sender<T> {
    /// Sets how blocking sends wait for space (default [`WaitMode::Blocking`]).
    pub fn set_wait_mode(&mut self, mode: WaitMode) {
        self.mode = mode;
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// True once the receiver has closed its end or died.
    pub fn is_disconnected(&mut self) -> bool {
        self.peer.gone(self.ring.raw())
    }

    /// Sends `value` if there is room now.
    #[inline]
    pub fn try_send(&mut self, value: T) -> Result<(), TrySendError<T>> {
        if self.peer.gone(self.ring.raw()) {
            return Err(TrySendError::Disconnected(value));
        }
        self.ring.push(value).map_err(|e| match e {
            PushError::Full(v) => TrySendError::Full(v),
            PushError::Corrupted(v, c) => TrySendError::Corrupted(v, c),
        })
    }

    /// Sends `value`, waiting for room as long as it takes.
    #[inline]
    pub fn send(&mut self, value: T) -> Result<(), BlockingSendError<T>> {
        self.send_deadline(value, None).map_err(|e| match e {
            SendTimeoutError::Disconnected(v) => BlockingSendError::Disconnected(v),
            SendTimeoutError::Corrupted(v, c) => BlockingSendError::Corrupted(v, c),
            SendTimeoutError::Timeout(_) => unreachable!("no deadline was set"),
        })
    }

    /// Sends `value`, waiting for room at most `timeout`.
    pub fn send_timeout(&mut self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.send_deadline(value, crate::wait::deadline_after(timeout))
    }

    fn send_deadline(
        &mut self,
        value: T,
        deadline: Option<Instant>,
    ) -> Result<(), SendTimeoutError<T>> {
        loop {
            match self.try_send(value) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(_)) => {}
                Err(TrySendError::Disconnected(v)) => {
                    return Err(SendTimeoutError::Disconnected(v));
                }
                Err(TrySendError::Corrupted(v, c)) => {
                    return Err(SendTimeoutError::Corrupted(v, c));
                }
            }
            self.wait_writable(deadline).map_err(|b| match b {
                Blocked::Timeout => SendTimeoutError::Timeout(value),
                Blocked::Disconnected => SendTimeoutError::Disconnected(value),
                Blocked::Corrupted(c) => SendTimeoutError::Corrupted(value, c),
            })?;
        }
    }

    /// Sends every value of `src` in order, waiting for room as needed. On failure the
    /// error carries how many values were sent ([`SendSliceError::sent`]).
    pub fn send_slice(&mut self, src: &[T]) -> Result<(), SendSliceError> {
        let mut sent = 0;
        while sent < src.len() {
            if self.peer.gone(self.ring.raw()) {
                return Err(SendSliceError::Disconnected { sent });
            }
            sent += self
                .ring
                .push_slice(&src[sent..])
                .map_err(|corrupted| SendSliceError::Corrupted { sent, corrupted })?;
            if sent < src.len() {
                self.wait_writable(None).map_err(|b| match b {
                    Blocked::Corrupted(corrupted) => SendSliceError::Corrupted { sent, corrupted },
                    _ => SendSliceError::Disconnected { sent },
                })?;
            }
        }
        Ok(())
    }

    /// Borrows `n` free slots in place without waiting (see
    /// [`Producer::write_chunk`](crate::ring::spsc::Producer::write_chunk)); a sender
    /// claimed over garbage positions gets `ChunkError::Corrupted`.
    ///
    /// ```
    /// let (mut tx, mut rx) = shmlane::pipe::channel::<u16>(8)?;
    /// let mut c = tx.write_chunk(2)?;
    /// c.set(0, 4);
    /// c.set(1, 5);
    /// c.commit_all();
    /// assert_eq!(rx.recv()?, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_chunk(
        &mut self,
        n: usize,
    ) -> Result<crate::ring::spsc::WriteChunk<'_, T>, crate::ring::spsc::ChunkError> {
        self.ring.write_chunk(n)
    }

    /// Waits until at least one slot is free, the receiver is gone, or `deadline`.
    pub(crate) fn wait_writable(&mut self, deadline: Option<Instant>) -> Result<(), Blocked> {
        self.wait_until(deadline, |ring| ring.slots().map(|n| n > 0))
    }

    /// For the buffer carriers (`crate::carrier`): the position the next value is
    /// written at, and the receiver's position as last seen (see
    /// [`Producer::positions`]); with `refresh`, loaded now.
    pub(crate) fn positions(&mut self, refresh: bool) -> Result<(u64, u64), Corrupted> {
        self.ring.positions(refresh)
    }

    /// For the buffer carriers: the ring with no end claimed, to watch the receiver's
    /// position once this sender is gone.
    pub(crate) fn share_ring(&self) -> crate::ring::spsc::RawRing<T> {
        self.ring.raw().share()
    }

    /// Waits until `ready` (polled on the ring after each wake-up), the receiver is
    /// gone, or `deadline`.
    fn wait_until(
        &mut self,
        deadline: Option<Instant>,
        mut ready: impl FnMut(&mut Producer<T>) -> Result<bool, Corrupted>,
    ) -> Result<(), Blocked> {
        let r = self.waits.block_on(self.mode, deadline, |slow| {
            if slow {
                // A wait that contradicts what we know could never end: say so.
                if let Err(c) = self.ring.verify() {
                    return Poll::Ready(Err(Blocked::Corrupted(c)));
                }
                if self.held.names_me_falsely(self.ring.raw(), Side::Consumer) {
                    return Poll::Ready(Err(Blocked::Corrupted(self.ring.raw().corrupted())));
                }
                self.peer.check_alive(self.ring.raw());
            }
            if self.peer.gone(self.ring.raw()) {
                return Poll::Ready(Err(Blocked::Disconnected));
            }
            match ready(&mut self.ring) {
                Ok(false) => Poll::Pending,
                Ok(true) => Poll::Ready(Ok(())),
                Err(c) => Poll::Ready(Err(Blocked::Corrupted(c))),
            }
        });
        r.unwrap_or(Err(Blocked::Timeout))
    }
}
