//! The sending end of a buffer pipe.

use super::transit::{Holds, PipeWatch};
use crate::error::{
    AllocError, AllocTimeoutError, BlockingSendError, SendTimeoutError, TryAllocError, TrySendError,
};
use crate::pipe::{Blocked, Sender};
use crate::pool::{Buf, BufHandle, BufMut, Pool};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The sending end: moves frozen buffers to a [`BufReceiver`](super::BufReceiver),
/// possibly in another process, as 24-byte handles over a pipe.
///
/// A buffer in flight stays held by this sender until the receiver has taken it (its
/// *transit hold*, design §5): [`send`](Self::send) keeps the moved [`Buf`], and the
/// sender drops it once the receiver's position has passed its handle (the receiver
/// joins the buffer before it moves on, so the chunk is never free while its handle
/// is in the pipe). Those holds are released
///
/// * on each send, for the handles the sender already knows were taken (no extra
///   load; the position is refreshed whenever the pipe looks full);
/// * by [`alloc`](Self::alloc) and its variants, and by
///   [`release_received`](Self::release_received) (one load of the receiver's position);
/// * by the pool, in any thread of this process, wherever an allocation would wait:
///   the sender registers its holds with its [`Pool`] (design §5), and
///   [`Pool::alloc`], [`Pool::try_alloc`] and [`Pool::alloc_timeout`] drop the holds
///   already taken on a miss and on every wake-up of their wait (the receiver wakes
///   the buffer's class after each take);
/// * all at once when the receiver is found gone (closed or dead): nobody will take
///   them (a receiver that claims the pipe later finds them stale, see
///   [`BufReceiver::lost`](super::BufReceiver::lost));
/// * after the sender is dropped, still by the pool, which keeps them until the
///   receiver has taken them or is gone (the receiver still gets every buffer sent).
///
/// **Either allocation works** with a pool shared with the pipe, however small:
/// [`Pool::alloc`] sees this sender's holds through the pool, and a blocked one is
/// woken when the receiver takes a buffer. The sender's own [`alloc`](Self::alloc)
/// does the same and, while the class is exhausted by its own holds, sleeps on the
/// pipe until the receiver takes the oldest.
///
/// # Examples
///
/// ```
/// use shmlane::carrier::{BufReceiver, BufSender};
/// use shmlane::pool::{BufHandle, Class, Pool};
/// let pool = Pool::anonymous(&[Class { size: 4096, count: 4 }])?;
/// let (tx, rx) = shmlane::pipe::channel::<BufHandle>(8)?;
/// let (mut tx, mut rx) = (BufSender::new(&pool, tx), BufReceiver::new(&pool, rx));
///
/// let mut buf = tx.alloc(1000)?;
/// buf.fill(7);
/// tx.send(buf.freeze())?;
///
/// let got = rx.recv()?; // in place: no copy
/// assert_eq!((got.len(), got[999]), (1000, 7));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct BufSender {
    pool: Pool,
    /// Registered with `pool`, which drops the holds taken when it would wait.
    transit: Arc<Holds<PipeWatch>>,
    tx: Sender<BufHandle>,
}

impl BufSender {
    /// A sender of `pool`'s buffers over the handle pipe `tx`.
    pub fn new(pool: &Pool, tx: Sender<BufHandle>) -> Self {
        let transit = Holds::registered(pool, PipeWatch::new(tx.share_ring()));
        Self {
            pool: pool.clone(),
            transit,
            tx,
        }
    }

    /// Sends `buf` if the pipe has room now; gives it back otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{carrier::BufSender, error::TrySendError};
    /// use shmlane::pool::{BufHandle, Class, Pool};
    /// let pool = Pool::anonymous(&[Class { size: 128, count: 4 }])?;
    /// let (tx, _rx) = shmlane::pipe::channel::<BufHandle>(1)?;
    /// let mut tx = BufSender::new(&pool, tx);
    /// let first = tx.alloc(8)?.freeze();
    /// tx.try_send(first)?;
    /// let second = tx.alloc(8)?.freeze();
    /// assert!(matches!(tx.try_send(second), Err(TrySendError::Full(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_send(&mut self, buf: Buf) -> Result<(), TrySendError<Buf>> {
        // A view of another `Pool` of the same pool: held as one of ours.
        let buf = self.pool.own_view(buf);
        // One lock for the release and the push (uncontended: the pool takes it only
        // on this process's allocation misses).
        let positions = self.tx.positions(false).ok();
        let mut holds = self.transit.lock();
        if let Some((tail, head)) = positions {
            holds.held.release_taken(tail, head);
        }
        let pos = positions.map_or(0, |(tail, _)| tail);
        match self.tx.try_send(buf.handle()) {
            Ok(()) => {
                crate::fault::point("pool.send.after_push");
                holds.held.push(pos, buf);
                Ok(())
            }
            Err(TrySendError::Full(_)) => {
                drop(holds);
                // The pipe refreshed the receiver's position to find it full.
                self.release_taken(false);
                Err(TrySendError::Full(buf))
            }
            Err(TrySendError::Disconnected(_)) => {
                holds.held.release_all();
                Err(TrySendError::Disconnected(buf))
            }
            Err(TrySendError::Corrupted(_, c)) => Err(TrySendError::Corrupted(buf, c)),
        }
    }

    /// Sends `buf`, waiting (on the pipe's futex) while the pipe is full.
    #[inline]
    pub fn send(&mut self, buf: Buf) -> Result<(), BlockingSendError<Buf>> {
        self.send_deadline(buf, None).map_err(|e| match e {
            SendTimeoutError::Disconnected(b) => BlockingSendError::Disconnected(b),
            SendTimeoutError::Corrupted(b, c) => BlockingSendError::Corrupted(b, c),
            SendTimeoutError::Timeout(_) => unreachable!("no deadline was set"),
        })
    }

    /// Sends `buf`, waiting at most `timeout` while the pipe is full.
    pub fn send_timeout(
        &mut self,
        buf: Buf,
        timeout: Duration,
    ) -> Result<(), SendTimeoutError<Buf>> {
        self.send_deadline(buf, crate::wait::deadline_after(timeout))
    }

    fn send_deadline(
        &mut self,
        mut buf: Buf,
        deadline: Option<Instant>,
    ) -> Result<(), SendTimeoutError<Buf>> {
        loop {
            match self.try_send(buf) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(b)) => buf = b,
                Err(TrySendError::Disconnected(b)) => {
                    return Err(SendTimeoutError::Disconnected(b));
                }
                Err(TrySendError::Corrupted(b, c)) => {
                    return Err(SendTimeoutError::Corrupted(b, c));
                }
            }
            match self.tx.wait_writable(deadline) {
                Ok(()) => {}
                Err(Blocked::Timeout) => return Err(SendTimeoutError::Timeout(buf)),
                Err(Blocked::Disconnected) => {
                    self.transit.lock().held.release_all();
                    return Err(SendTimeoutError::Disconnected(buf));
                }
                Err(Blocked::Corrupted(c)) => return Err(SendTimeoutError::Corrupted(buf, c)),
            }
        }
    }

    /// Releases the holds of the buffers the receiver has taken (one load of its
    /// position), or of all of them once the receiver is gone or the pipe is found
    /// corrupted; returns how many are still in flight.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::carrier::{BufReceiver, BufSender};
    /// use shmlane::pool::{BufHandle, Class, Pool};
    /// let pool = Pool::anonymous(&[Class { size: 128, count: 2 }])?;
    /// let (tx, rx) = shmlane::pipe::channel::<BufHandle>(4)?;
    /// let (mut tx, mut rx) = (BufSender::new(&pool, tx), BufReceiver::new(&pool, rx));
    /// let buf = tx.alloc(8)?.freeze();
    /// tx.send(buf)?;
    /// assert_eq!(tx.in_flight(), 1);
    /// drop(rx.recv()?);
    /// assert_eq!(tx.release_received(), 0);
    /// assert_eq!(pool.stats().free, [2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn release_received(&mut self) -> usize {
        if self.tx.is_disconnected() || self.release_taken(true).is_none() {
            self.transit.lock().held.release_all();
        }
        self.in_flight()
    }

    /// Buffers sent whose hold this sender still keeps (some may have been taken
    /// since: see [`release_received`](Self::release_received)).
    pub fn in_flight(&self) -> usize {
        self.transit.lock().held.len()
    }

    /// The pool this sender's buffers come from.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// [`Pool::alloc`] after releasing what the receiver has taken. While the class is
    /// exhausted it waits as `Pool::alloc` does, which also drops this sender's holds
    /// as the receiver takes them (the sender registered them with the pool) and is
    /// woken by each take: the same as calling `pool.alloc` beside the sender.
    pub fn alloc(&mut self, len: usize) -> Result<BufMut, AllocError> {
        self.release_received();
        self.pool.alloc(len)
    }

    /// [`Pool::try_alloc`] after releasing what the receiver has taken.
    pub fn try_alloc(&mut self, len: usize) -> Result<BufMut, TryAllocError> {
        self.release_received();
        self.pool.try_alloc(len)
    }

    /// [`alloc`](Self::alloc), waiting at most `timeout`.
    pub fn alloc_timeout(
        &mut self,
        len: usize,
        timeout: Duration,
    ) -> Result<BufMut, AllocTimeoutError> {
        self.release_received();
        self.pool.alloc_timeout(len, timeout)
    }

    /// Drops the holds of handles taken according to the receiver's position (as
    /// last seen, or loaded now with `refresh`); returns the pipe's `(tail, head)`,
    /// or `None` if the pipe's positions are garbage (then nothing is released here).
    #[inline]
    fn release_taken(&mut self, refresh: bool) -> Option<(u64, u64)> {
        let (tail, head) = self.tx.positions(refresh).ok()?;
        self.transit.lock().held.release_taken(tail, head);
        Some((tail, head))
    }
}

impl Drop for BufSender {
    /// Leaves the holds of buffers still in flight with the pool (registered since
    /// `new`), marked departed before the pipe's end is released (the fields drop
    /// after this): the receiver still gets them all, then `Disconnected`. If this was
    /// the process's last handle of the pool (and no view is left), the holds still
    /// untaken are orphaned to the pool's recovery: deliverable until another member
    /// adopts them on an allocation miss, then counted in
    /// [`BufReceiver::lost`](super::BufReceiver::lost).
    fn drop(&mut self) {
        self.release_taken(false);
        let left = {
            let mut holds = self.transit.lock();
            holds.watch.departed = true;
            holds.held.len()
        };
        if left == 0 {
            // Nothing for the pool to keep: forgotten now (not on its next miss), so
            // the ring is not kept mapped.
            self.pool.forget_transit(&*self.transit);
        }
    }
}
