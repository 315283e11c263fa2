//! A queue that carries pool buffers: any number of handles put and get.

use super::transit::{Holds, QueueWatch};
use crate::error::{
    AllocError, AllocTimeoutError, BufGetError, BufGetTimeoutError, HandleError, PutError,
    PutTimeoutError, TryAllocError, TryBufGetError, TryGetError, TryPutError,
};
use crate::pool::{Buf, BufHandle, BufMut, Pool};
use crate::queue::Queue;
use crate::wait::TICK;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One handle to a queue of pool buffers: `q.put(buf)` / `let buf = q.get()?` from any
/// number of handles (threads, processes), over an ordinary
/// [`Queue`] of [`BufHandle`]s.
///
/// The same transit hold as [`BufSender`](super::BufSender): a put keeps the moved
/// [`Buf`] until a getter has taken its handle, and a getter joins the buffer *before*
/// it releases the queue slot (the queue's get runs the join between the value read
/// and the slot's free-stamp store). The putter sees that store in the slot it put
/// to, and drops its hold then: on each put (the oldest ones, one load each), and in
/// [`release_received`](Self::release_received) and the `alloc` calls (all of them),
/// and by the pool in any thread of this process wherever an allocation would wait
/// (the holds are registered with it; a getter wakes the buffer's class after each
/// get). Dropping the handle leaves what is still in flight with the pool, which
/// keeps it until taken; once no handle of the pool and no view is left in this
/// process, what is still in flight is orphaned to the pool's recovery (as for a
/// [`BufSender`](super::BufSender)).
///
/// Taken handles that name no buffer (stale, forged) are skipped and counted in
/// [`lost`](Self::lost); one of another pool is a `Foreign` error, as for
/// [`BufReceiver`](super::BufReceiver). A getter that dies between its join and
/// the slot release is retired by the queue's recovery (its message counted in the
/// queue's `lost`) and its hold adopted by the pool: that buffer is delivered to
/// nobody.
///
/// **Either allocation works** with a pool shared with the queue, however small:
/// [`Pool::alloc`] drops this handle's holds of buffers already taken whenever the
/// class is exhausted, and a blocked one is woken by the get that takes a buffer;
/// [`alloc`](Self::alloc) releases them first, then waits as `Pool::alloc` does.
///
/// # Examples
///
/// ```
/// use shmlane::carrier::BufQueue;
/// use shmlane::pool::{BufHandle, Class, Pool};
/// use shmlane::queue::Queue;
/// let pool = Pool::anonymous(&[Class { size: 4096, count: 4 }])?;
/// let queue = Queue::<BufHandle>::anonymous(8)?;
/// let mut worker = BufQueue::new(&pool, queue.try_clone()?);
/// let mut q = BufQueue::new(&pool, queue);
///
/// let mut buf = q.alloc(100)?;
/// buf.fill(3);
/// q.put(buf.freeze())?;
/// assert_eq!(worker.get()?[..], [3; 100]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct BufQueue {
    pool: Pool,
    /// Registered with `pool`, which drops the holds taken when it would wait.
    transit: Arc<Holds<QueueWatch>>,
    queue: Queue<BufHandle>,
    lost: u64,
}

impl BufQueue {
    /// A handle for `pool`'s buffers on the handle queue `queue`.
    pub fn new(pool: &Pool, mut queue: Queue<BufHandle>) -> Self {
        let ring = queue.member().0.ring().clone();
        let transit = Holds::registered(pool, QueueWatch(ring));
        Self {
            pool: pool.clone(),
            transit,
            queue,
            lost: 0,
        }
    }

    /// Puts `buf` if the queue has room now; gives it back otherwise.
    pub fn try_put(&mut self, buf: Buf) -> Result<(), TryPutError<Buf>> {
        self.put_deadline(buf, None, false).map_err(|e| match e {
            PutTimeoutError::Timeout(b) => TryPutError::Full(b),
            PutTimeoutError::Closed(b) => TryPutError::Closed(b),
            PutTimeoutError::Corrupted(b, c) => TryPutError::Corrupted(b, c),
        })
    }

    /// Puts `buf`, waiting (on the queue's futex) while the queue is full.
    pub fn put(&mut self, buf: Buf) -> Result<(), PutError<Buf>> {
        self.put_deadline(buf, None, true).map_err(|e| match e {
            PutTimeoutError::Closed(b) => PutError::Closed(b),
            PutTimeoutError::Corrupted(b, c) => PutError::Corrupted(b, c),
            PutTimeoutError::Timeout(_) => unreachable!("no deadline was set"),
        })
    }

    /// Puts `buf`, waiting at most `timeout` while the queue is full.
    pub fn put_timeout(&mut self, buf: Buf, timeout: Duration) -> Result<(), PutTimeoutError<Buf>> {
        self.put_deadline(buf, crate::wait::deadline_after(timeout), true)
    }

    fn put_deadline(
        &mut self,
        buf: Buf,
        deadline: Option<Instant>,
        wait: bool,
    ) -> Result<(), PutTimeoutError<Buf>> {
        let (member, mode) = self.queue.member();
        let ring = member.ring();
        self.transit
            .lock()
            .held
            .release_taken_by(|pos| ring.taken(pos));
        // A view of another `Pool` of the same pool: held as one of ours.
        let buf = self.pool.own_view(buf);
        let handle = buf.handle();
        let put = if wait {
            member.push_until_at(handle, mode, deadline)
        } else {
            member.try_push_at(handle)
        };
        match put {
            Ok(pos) => {
                crate::fault::point("pool.send.after_push");
                self.transit.lock().held.push(pos, buf);
                Ok(())
            }
            Err(TryPutError::Full(_)) => Err(PutTimeoutError::Timeout(buf)),
            Err(TryPutError::Closed(_)) => Err(PutTimeoutError::Closed(buf)),
            Err(TryPutError::Corrupted(_, c)) => Err(PutTimeoutError::Corrupted(buf, c)),
        }
    }

    /// The oldest buffer if there is one now.
    pub fn try_get(&mut self) -> Result<Buf, TryBufGetError> {
        self.get_deadline(None, false).map_err(|e| match e {
            BufGetTimeoutError::Timeout => TryBufGetError::Empty,
            BufGetTimeoutError::Closed => TryBufGetError::Closed,
            BufGetTimeoutError::Corrupted(c) => TryBufGetError::Corrupted(c),
            BufGetTimeoutError::Foreign { expected, found } => {
                TryBufGetError::Foreign { expected, found }
            }
            BufGetTimeoutError::Pool(c) => TryBufGetError::Pool(c),
            BufGetTimeoutError::Forked => TryBufGetError::Forked,
        })
    }

    /// The oldest buffer, waiting (on the queue's futex) while the queue is empty;
    /// `Closed` once it is closed and drained.
    pub fn get(&mut self) -> Result<Buf, BufGetError> {
        self.get_deadline(None, true).map_err(|e| match e {
            BufGetTimeoutError::Closed => BufGetError::Closed,
            BufGetTimeoutError::Corrupted(c) => BufGetError::Corrupted(c),
            BufGetTimeoutError::Foreign { expected, found } => {
                BufGetError::Foreign { expected, found }
            }
            BufGetTimeoutError::Pool(c) => BufGetError::Pool(c),
            BufGetTimeoutError::Forked => BufGetError::Forked,
            BufGetTimeoutError::Timeout => unreachable!("no deadline was set"),
        })
    }

    /// The oldest buffer, waiting at most `timeout` while the queue is empty.
    pub fn get_timeout(&mut self, timeout: Duration) -> Result<Buf, BufGetTimeoutError> {
        self.get_deadline(crate::wait::deadline_after(timeout), true)
    }

    fn get_deadline(
        &mut self,
        deadline: Option<Instant>,
        wait: bool,
    ) -> Result<Buf, BufGetTimeoutError> {
        let pool = &self.pool;
        // Before taking a handle off the queue, which `open_handle` would refuse.
        if pool.forked() {
            return Err(BufGetTimeoutError::Forked);
        }
        let (member, mode) = self.queue.member();
        // Joins before the slot is released: until then the putter's hold backs it.
        let join = |handle: BufHandle| {
            let joined = pool.open_handle(handle);
            crate::fault::point("pool.recv.after_join");
            joined
        };
        loop {
            let got = if wait {
                member.pop_until_with(mode, deadline, join)
            } else {
                member.try_pop_with(join)
            };
            match got {
                Ok(Ok(buf)) => {
                    // The slot is released: the putter's process may be blocked in an
                    // allocation that only dropping its hold of this buffer satisfies.
                    pool.notify_taken(&buf);
                    return Ok(buf);
                }
                Ok(Err(HandleError::Stale { .. } | HandleError::Forged { .. })) => self.lost += 1,
                Ok(Err(HandleError::Foreign { expected, found })) => {
                    return Err(BufGetTimeoutError::Foreign { expected, found });
                }
                Ok(Err(HandleError::Corrupted(c))) => return Err(BufGetTimeoutError::Pool(c)),
                Ok(Err(HandleError::Forked)) => return Err(BufGetTimeoutError::Forked),
                Err(TryGetError::Empty) => return Err(BufGetTimeoutError::Timeout),
                Err(TryGetError::Closed) => return Err(BufGetTimeoutError::Closed),
                Err(TryGetError::Corrupted(c)) => return Err(BufGetTimeoutError::Corrupted(c)),
            }
        }
    }

    /// Handles taken that named no buffer (stale or forged): skipped, counted here.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Releases the holds of every buffer this handle put that a getter has taken
    /// (one load per buffer in flight); returns how many are still in flight.
    pub fn release_received(&mut self) -> usize {
        let (member, _) = self.queue.member();
        let ring = member.ring();
        let mut holds = self.transit.lock();
        holds.held.release_all_taken_by(|pos| ring.taken(pos));
        holds.held.len()
    }

    /// Buffers put whose hold this handle still keeps (some may have been taken since:
    /// see [`release_received`](Self::release_received)).
    pub fn in_flight(&self) -> usize {
        self.transit.lock().held.len()
    }

    /// The pool this handle's buffers come from.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The handle queue (to close it, read its length or its `lost` count).
    pub fn queue(&self) -> &Queue<BufHandle> {
        &self.queue
    }

    /// [`Pool::alloc`] that first releases what getters have taken; while the class is
    /// exhausted, it waits as `Pool::alloc` does (which drops this handle's holds as
    /// getters take them, woken by each get).
    pub fn alloc(&mut self, len: usize) -> Result<BufMut, AllocError> {
        self.alloc_deadline(len, None).map_err(super::untimed)
    }

    /// [`Pool::try_alloc`] after releasing what getters have taken.
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
        self.alloc_deadline(len, crate::wait::deadline_after(timeout))
    }

    fn alloc_deadline(
        &mut self,
        len: usize,
        deadline: Option<Instant>,
    ) -> Result<BufMut, AllocTimeoutError> {
        // When this call last retired dead getters (at most once per TICK).
        let mut last_recover: Option<Instant> = None;
        loop {
            let in_flight = self.release_received();
            let now = Instant::now();
            let wait = match deadline {
                Some(d) if in_flight > 0 => d.saturating_duration_since(now).min(TICK),
                Some(d) => d.saturating_duration_since(now),
                None if in_flight > 0 => TICK,
                None => {
                    return self.pool.alloc(len).map_err(super::timed);
                }
            };
            match self.pool.alloc_timeout(len, wait) {
                Err(AllocTimeoutError::Timeout)
                    if in_flight > 0 && deadline.is_none_or(|d| Instant::now() < d) =>
                {
                    // A getter that died between claiming a slot and releasing it
                    // never lets `taken` say so: retire it (its slot then counts as
                    // taken), then re-check the holds at the top of the loop.
                    let now = Instant::now();
                    if last_recover.is_none_or(|t| now >= t + TICK) {
                        last_recover = Some(now);
                        // A corrupted queue retires nothing; the holds stay as they are.
                        let _ = self.queue.recover();
                    }
                }
                done => return done,
            }
        }
    }
}

impl Drop for BufQueue {
    /// Leaves the holds of buffers still in flight with the pool (registered since
    /// `new`; see the type's docs).
    fn drop(&mut self) {
        if self.release_received() == 0 {
            self.pool.forget_transit(&*self.transit);
        }
    }
}
