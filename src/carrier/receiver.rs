//! The receiving end of a buffer pipe.

use crate::error::{BufRecvError, BufRecvTimeoutError, HandleError, TryBufRecvError};
use crate::pipe::{Blocked, Receiver};
use crate::pool::{Buf, BufHandle, Pool};
use std::time::{Duration, Instant};

/// The receiving end: each received [`Buf`] is a read-only view in place.
///
/// Each handle is taken off the pipe exactly once, and only after this process has
/// *joined* its buffer (become a holder): until then the sender's transit hold backs
/// it, so a handle in flight never names a free chunk. What a taken handle becomes:
///
/// | the handle | result |
/// |---|---|
/// | names a frozen buffer of this pool | `Ok(buf)` |
/// | stale: its buffer was freed (the sender died and its holds were reclaimed first) | skipped, counted in [`lost`](Self::lost) |
/// | forged: index, generation or length out of range for this pool | skipped, counted in [`lost`](Self::lost) |
/// | of another pool | `Foreign` error (the next call goes on with the next handle) |
/// | the join found the pool's shared state inconsistent | `Pool` error (likewise) |
///
/// Forged handles count as lost rather than failing the call: from the receiver's side
/// a forged handle and a stale one are the same event (a message that names no
/// buffer), and neither says anything about the handles after it. A handle of another
/// pool does: the two ends were set up with different pools, so it is an error.
///
/// When the sender drops its end or dies, the receiver still gets every buffer sent
/// before that (the pool keeps a dropped sender's holds until they are taken), then
/// `Disconnected`.
///
/// # Examples
///
/// ```
/// use shmlane::carrier::{BufReceiver, BufSender};
/// use shmlane::error::TryBufRecvError;
/// use shmlane::pool::{BufHandle, Class, Pool};
/// let pool = Pool::anonymous(&[Class { size: 4096, count: 4 }])?;
/// let (tx, rx) = shmlane::pipe::channel::<BufHandle>(8)?;
/// let (mut tx, mut rx) = (BufSender::new(&pool, tx), BufReceiver::new(&pool, rx));
/// for i in 0..3u8 {
///     let mut buf = tx.alloc(16)?;
///     buf.fill(i);
///     tx.send(buf.freeze())?;
/// }
/// drop(tx);
/// for i in 0..3u8 {
///     assert_eq!(rx.recv()?[..], [i; 16]);
/// }
/// assert_eq!(rx.try_recv().unwrap_err(), TryBufRecvError::Disconnected);
/// assert_eq!(rx.lost(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct BufReceiver {
    pool: Pool,
    rx: Receiver<BufHandle>,
    lost: u64,
}

impl BufReceiver {
    /// A receiver of `pool`'s buffers over the handle pipe `rx`.
    pub fn new(pool: &Pool, rx: Receiver<BufHandle>) -> Self {
        Self {
            pool: pool.clone(),
            rx,
            lost: 0,
        }
    }

    /// The next buffer if one is in flight now.
    #[inline]
    pub fn try_recv(&mut self) -> Result<Buf, TryBufRecvError> {
        if let Some(buf) = self.take()? {
            return Ok(buf);
        }
        if !self.rx.sender_gone() {
            return Err(TryBufRecvError::Empty);
        }
        // The sender is gone; its endpoint word was read with Acquire after its last
        // publish, so one more look sees everything it sent.
        self.take()?.ok_or(TryBufRecvError::Disconnected)
    }

    /// The next buffer, waiting (on the pipe's futex) while none is in flight.
    #[inline]
    pub fn recv(&mut self) -> Result<Buf, BufRecvError> {
        self.recv_deadline(None).map_err(|e| match e {
            BufRecvTimeoutError::Disconnected => BufRecvError::Disconnected,
            BufRecvTimeoutError::Corrupted(c) => BufRecvError::Corrupted(c),
            BufRecvTimeoutError::Foreign { expected, found } => {
                BufRecvError::Foreign { expected, found }
            }
            BufRecvTimeoutError::Pool(c) => BufRecvError::Pool(c),
            BufRecvTimeoutError::Forked => BufRecvError::Forked,
            BufRecvTimeoutError::Timeout => unreachable!("no deadline was set"),
        })
    }

    /// An iterator that receives until the sender disconnects, like
    /// [`pipe::Receiver::iter`](crate::pipe::Receiver::iter): it also ends at the first
    /// error (call [`recv`](Self::recv) to see it).
    ///
    /// ```
    /// use shmlane::carrier::{BufReceiver, BufSender};
    /// use shmlane::pool::{BufHandle, Class, Pool};
    /// let pool = Pool::anonymous(&[Class { size: 128, count: 2 }])?;
    /// let (tx, rx) = shmlane::pipe::channel::<BufHandle>(4)?;
    /// let (mut tx, mut rx) = (BufSender::new(&pool, tx), BufReceiver::new(&pool, rx));
    /// let mut buf = pool.alloc(3)?;
    /// buf.copy_from_slice(b"abc");
    /// tx.send(buf.freeze())?;
    /// drop(tx); // the end of the stream
    /// let got: Vec<Vec<u8>> = rx.iter().map(|b| b.to_vec()).collect();
    /// assert_eq!(got, [b"abc".to_vec()]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter(&mut self) -> impl Iterator<Item = Buf> + '_ {
        std::iter::from_fn(move || self.recv().ok())
    }

    /// The next buffer, waiting at most `timeout` while none is in flight.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Buf, BufRecvTimeoutError> {
        self.recv_deadline(crate::wait::deadline_after(timeout))
    }

    fn recv_deadline(&mut self, deadline: Option<Instant>) -> Result<Buf, BufRecvTimeoutError> {
        loop {
            let e = match self.try_recv() {
                Ok(buf) => return Ok(buf),
                Err(TryBufRecvError::Empty) => None,
                Err(TryBufRecvError::Disconnected) => Some(BufRecvTimeoutError::Disconnected),
                Err(TryBufRecvError::Corrupted(c)) => Some(BufRecvTimeoutError::Corrupted(c)),
                Err(TryBufRecvError::Foreign { expected, found }) => {
                    Some(BufRecvTimeoutError::Foreign { expected, found })
                }
                Err(TryBufRecvError::Pool(c)) => Some(BufRecvTimeoutError::Pool(c)),
                Err(TryBufRecvError::Forked) => Some(BufRecvTimeoutError::Forked),
            };
            if let Some(e) = e {
                return Err(e);
            }
            // Ready once a handle is in flight or the sender is gone (then the next
            // `try_recv` drains and says `Disconnected`).
            self.rx.wait_readable(deadline).map_err(|b| match b {
                Blocked::Timeout => BufRecvTimeoutError::Timeout,
                Blocked::Disconnected => BufRecvTimeoutError::Disconnected,
                Blocked::Corrupted(c) => BufRecvTimeoutError::Corrupted(c),
            })?;
        }
    }

    /// Handles taken whose buffer was gone (stale: the sender died and its holds were
    /// reclaimed before this receiver joined) or that named none (forged): skipped,
    /// counted here.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// The pool this receiver's buffers belong to.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Takes the next handle off the pipe, if any: joins its buffer, *then* commits
    /// (until the commit the sender keeps its hold, see `transit`), skipping stale and
    /// forged handles.
    #[inline]
    fn take(&mut self) -> Result<Option<Buf>, TryBufRecvError> {
        // Before taking a handle off the pipe, which `open_handle` would refuse.
        if self.pool.forked() {
            return Err(TryBufRecvError::Forked);
        }
        loop {
            let chunk = self.rx.read_chunk(1)?;
            if chunk.is_empty() {
                return Ok(None);
            }
            // One read of the slot; `open_handle` validates this copy.
            let handle = chunk.get(0);
            let joined = self.pool.open_handle(handle);
            crate::fault::point("pool.recv.after_join");
            chunk.commit(1);
            match joined {
                Ok(buf) => {
                    // Committed: the sender's process may be blocked in an allocation
                    // that only dropping its hold of this buffer satisfies.
                    self.pool.notify_taken(&buf);
                    return Ok(Some(buf));
                }
                Err(HandleError::Stale { .. } | HandleError::Forged { .. }) => self.lost += 1,
                Err(HandleError::Foreign { expected, found }) => {
                    return Err(TryBufRecvError::Foreign { expected, found });
                }
                Err(HandleError::Corrupted(c)) => return Err(TryBufRecvError::Pool(c)),
                Err(HandleError::Forked) => return Err(TryBufRecvError::Forked),
            }
        }
    }
}
