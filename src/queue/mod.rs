//! Queues: many producers and many consumers, in any processes, each message delivered
//! to exactly one consumer.
//!
//! The counterpart of `multiprocessing.Queue`:
//!
//! | Python                              | shmlane                                        |
//! |-------------------------------------|------------------------------------------------|
//! | `q = Queue(maxsize)`                | [`Queue::anonymous`] / [`Queue::create`]        |
//! | pass `q` to a `Process`             | [`Queue::inherit`] / [`Queue::spawn_with`] + [`Queue::from_env`], or open by name |
//! | `q.put(x)` / `q.get()`              | [`Queue::put`] / [`Queue::get`]                 |
//! | `put_nowait` / `get_nowait`         | [`Queue::try_put`] / [`Queue::try_get`]         |
//! | `put(x, timeout=t)` / `get(timeout=t)` | [`Queue::put_timeout`] / [`Queue::get_timeout`] |
//! | `qsize()`, `empty()`, `full()`      | [`Queue::len`], [`Queue::is_empty`], [`Queue::is_full`] |
//! | sentinel `None` per worker          | [`Queue::close`]: gets drain, then `Closed`; [`Queue::iter`] ends |
//! | pickled bytes                       | [`ByteQueue`]: messages up to a fixed maximum   |
//!
//! Each handle holds one entry of the queue's endpoint table (up to
//! `QUEUE_MEMBERS` (64) handles at a time, all processes
//! together). A handle whose process dies is retired by the survivors: see
//! `ring::mpmc` (in the source) for what happens to a message it held. In short, delivery is
//! at most once when a process dies: a message is never torn and never delivered
//! twice; a put the producer died in is never delivered ([`Queue::abandoned`]); a
//! message a consumer had claimed but whose `get` had not returned when it died is
//! dropped and counted in [`Queue::lost`]; a message whose `get` had returned belongs
//! to that consumer, and if it dies before acting on it, neither counter sees it.
//!
//! Every call that reads the queue's positions checks them (`head ≤ tail ≤ head +
//! capacity`) and reports `Corrupted` when another process left them out of range;
//! calls without a timeout also end with `Corrupted` when the shared state says the
//! wait could never end (a claim no handle holds, our own table entry overwritten).
//!
//! # Examples
//!
//! ```
//! use shmlane::queue::Queue;
//! let mut q = Queue::<u32>::anonymous(8)?;
//! let mut worker = q.try_clone()?; // another handle: another thread or (via
//!                                   // spawn_with) another process
//! for task in 0..3 { q.put(task)?; }
//! q.close()?;
//! let done: Vec<u32> = worker.iter().collect();
//! assert_eq!(done, [0, 1, 2]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::error::{
    ClaimError, Corrupted, GetError, GetTimeoutError, MessageError, PutError, PutSliceError,
    PutTimeoutError, TryGetError, TryPutError,
};
use crate::layout::SegmentKind;
use crate::platform::identity;
use crate::ring::frame::Frame;
use crate::ring::mpmc::Member;
use crate::segment::Segment;
use crate::wait::WaitMode;
use bytemuck::Pod;
use std::sync::Arc;
use std::time::Duration;

/// A bounded MPMC queue of `T` in shared memory; this value is one handle to it.
///
/// Any number of handles (clones in one process, opens in others) may put and get.
/// A named queue's name is removed when the creating process drops its last handle,
/// unless [`persist`](Self::persist) was called.
///
/// # Examples
///
/// ```
/// use shmlane::queue::Queue;
/// let name = format!("doc-queue-{}", std::process::id());
/// let mut a = Queue::<u64>::create(&name, 16)?;
/// let mut b = Queue::<u64>::open(&name)?; // usually in another process
/// a.put(1)?;
/// assert_eq!(b.get()?, 1);
/// assert!(b.try_get().is_err()); // empty
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Queue<T: Pod> {
    seg: Arc<Segment>,
    member: Member<T>,
    mode: WaitMode,
}

crate::handle::ring_handle!(
    Queue,
    SegmentKind::Queue,
    "queue",
    "shmlane::queue::Queue::<u64>",
    "with room for `capacity` messages (a power of two, 2 to 2^40)",
    joined
);

impl<T: Pod + Send> Queue<T> {
    fn join(seg: Arc<Segment>) -> Result<Self, ClaimError> {
        // The segment was created or validated for `T` as a queue.
        let ring = seg.queue::<T>().expect("segment validated as a queue of T");
        let member = ring.join(identity::current(), identity::is_alive)?;
        Ok(Self {
            seg,
            member,
            mode: WaitMode::default(),
        })
    }

    /// Another handle to the same queue (for another thread), with its own entry in
    /// the endpoint table; [`ClaimError::TableFull`] if every entry is taken. (There is
    /// no `Clone`: it could only panic then.)
    ///
    /// ```compile_fail
    /// let q = shmlane::queue::Queue::<u8>::anonymous(2)?;
    /// let _ = q.clone(); // no `Clone`: use `try_clone`
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_clone(&self) -> Result<Self, ClaimError> {
        let mut q = Self::join(self.seg.clone())?;
        q.mode = self.mode;
        Ok(q)
    }

    /// Sets how blocking calls wait (default [`WaitMode::Blocking`]).
    pub fn set_wait_mode(&mut self, mode: WaitMode) {
        self.mode = mode;
    }

    /// For the buffer carriers (`crate::carrier`): this handle's membership (puts that
    /// return their position, gets that run a closure before releasing the slot) and
    /// how its blocking calls wait.
    pub(crate) fn member(&mut self) -> (&mut Member<T>, WaitMode) {
        (&mut self.member, self.mode)
    }

    /// Puts `value`, waiting for room as long as it takes.
    pub fn put(&mut self, value: T) -> Result<(), PutError<T>> {
        self.member
            .push_until(value, self.mode, None)
            .map_err(|e| match e {
                TryPutError::Closed(v) => PutError::Closed(v),
                TryPutError::Corrupted(v, c) => PutError::Corrupted(v, c),
                TryPutError::Full(_) => unreachable!("no deadline was set"),
            })
    }

    /// Puts `value` if there is room now.
    pub fn try_put(&mut self, value: T) -> Result<(), TryPutError<T>> {
        self.member.try_push(value)
    }

    /// Puts `value`, waiting for room at most `timeout`.
    pub fn put_timeout(&mut self, value: T, timeout: Duration) -> Result<(), PutTimeoutError<T>> {
        self.member
            .push_until(value, self.mode, crate::wait::deadline_after(timeout))
            .map_err(|e| match e {
                TryPutError::Closed(v) => PutTimeoutError::Closed(v),
                TryPutError::Corrupted(v, c) => PutTimeoutError::Corrupted(v, c),
                TryPutError::Full(v) => PutTimeoutError::Timeout(v),
            })
    }

    /// Puts every item of `src` in order, waiting for room as needed. On failure the
    /// error carries how many were put ([`PutSliceError::put`]).
    pub fn put_slice(&mut self, src: &[T]) -> Result<(), PutSliceError> {
        for (put, &v) in src.iter().enumerate() {
            self.put(v).map_err(|e| match e {
                PutError::Closed(_) => PutSliceError::Closed { put },
                PutError::Corrupted(_, corrupted) => PutSliceError::Corrupted { put, corrupted },
            })?;
        }
        Ok(())
    }

    /// Takes the oldest message, waiting as long as it takes; `Closed` once the queue
    /// is closed and drained.
    pub fn get(&mut self) -> Result<T, GetError> {
        self.member.pop_until(self.mode, None).map_err(|e| match e {
            TryGetError::Closed => GetError::Closed,
            TryGetError::Corrupted(c) => GetError::Corrupted(c),
            TryGetError::Empty => unreachable!("no deadline was set"),
        })
    }

    /// Takes the oldest message if there is one now.
    pub fn try_get(&mut self) -> Result<T, TryGetError> {
        self.member.try_pop()
    }

    /// Takes the oldest message, waiting at most `timeout`.
    pub fn get_timeout(&mut self, timeout: Duration) -> Result<T, GetTimeoutError> {
        self.member
            .pop_until(self.mode, crate::wait::deadline_after(timeout))
            .map_err(|e| match e {
                TryGetError::Closed => GetTimeoutError::Closed,
                TryGetError::Corrupted(c) => GetTimeoutError::Corrupted(c),
                TryGetError::Empty => GetTimeoutError::Timeout,
            })
    }

    /// Waits for one message, then takes as many more as are ready now, up to
    /// `dst.len()` in all, into `dst` in order. Returns how many were taken (0 only if
    /// `dst` is empty). Garbage found after the first message ends the batch (the
    /// messages taken are returned, not dropped); the next call reports it.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut q = shmlane::queue::Queue::<u32>::anonymous(8)?;
    /// q.put_slice(&[1, 2, 3])?;
    /// let mut buf = [0; 2];
    /// assert_eq!(q.get_into(&mut buf)?, 2);
    /// assert_eq!(buf, [1, 2]);
    /// assert_eq!(q.get_into(&mut buf)?, 1);
    /// assert_eq!(buf[0], 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_into(&mut self, dst: &mut [T]) -> Result<usize, GetError> {
        let Some((first, rest)) = dst.split_first_mut() else {
            return Ok(0);
        };
        *first = self.get()?;
        let mut n = 1;
        for slot in rest {
            match self.member.try_pop() {
                Ok(v) => *slot = v,
                // The `n` taken so far have left the queue and are only in `dst`:
                // return them; the next call meets the corruption again and reports it.
                Err(_) => break,
            }
            n += 1;
        }
        Ok(n)
    }

    /// Iterates over messages until the queue is closed and drained.
    pub fn iter(&mut self) -> Iter<'_, T> {
        Iter { q: self }
    }

    /// Closes the queue for every handle in every process: puts fail with `Closed`;
    /// gets drain what is left, then fail with `Closed`.
    ///
    /// The queue is closed even when this returns `Err`: the error reports that the
    /// positions were found out of range (another process corrupted them).
    ///
    /// ```
    /// let mut q = shmlane::queue::Queue::<u8>::anonymous(4)?;
    /// q.close()?;
    /// assert!(q.put(1).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&self) -> Result<(), Corrupted> {
        self.member.ring().close()
    }

    /// True once the queue was closed.
    pub fn is_closed(&self) -> bool {
        self.member.ring().is_closed()
    }

    /// Messages waiting now (a snapshot), or `Corrupted` if the queue's positions are
    /// out of range.
    ///
    /// ```
    /// let mut q = shmlane::queue::Queue::<u8>::anonymous(4)?;
    /// q.put(7)?;
    /// assert_eq!(q.len()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> Result<usize, Corrupted> {
        self.member.ring().len()
    }

    /// True if no message is waiting (a snapshot); `Corrupted` as for
    /// [`len`](Self::len).
    pub fn is_empty(&self) -> Result<bool, Corrupted> {
        self.member.ring().is_empty()
    }

    /// True if every slot is taken (a snapshot); `Corrupted` as for
    /// [`len`](Self::len).
    pub fn is_full(&self) -> Result<bool, Corrupted> {
        Ok(self.len()? == self.capacity())
    }

    /// Messages dropped because a consumer process died between claiming them and
    /// returning them from its `get` (`get_timeout`, `try_get`, ...), counted by the
    /// recovery that retires it. A message whose `get` had returned before the
    /// consumer died is not counted: it was delivered (at most once), and what the
    /// consumer did with it is beyond the queue. Puts a producer died in are counted
    /// in [`abandoned`](Self::abandoned) instead.
    ///
    /// ```
    /// let q = shmlane::queue::Queue::<u8>::anonymous(4)?;
    /// assert_eq!(q.lost(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lost(&self) -> u64 {
        self.member.ring().lost()
    }

    /// Puts that a producer process claimed and died before finishing (never
    /// delivered, never torn).
    pub fn abandoned(&self) -> u64 {
        self.member.ring().abandoned()
    }

    /// Claims a put position and exits the process without publishing it, as a
    /// SIGKILL at that instant would (crash-safety tests).
    #[doc(hidden)]
    #[cfg(feature = "fault-injection")]
    pub fn crash_in_put(self) -> ! {
        self.member.crash_in_push();
        std::process::exit(0)
    }

    /// Claims a get position and exits the process without finishing it.
    #[doc(hidden)]
    #[cfg(feature = "fault-injection")]
    pub fn crash_in_get(self) -> ! {
        self.member.crash_in_pop();
        std::process::exit(0)
    }

    /// Retires the endpoints of dead processes now (blocking calls also do this on
    /// their own while they wait). Returns how many it retired, or `Corrupted` (and
    /// retires nothing) if the queue's positions are out of range.
    pub fn recover(&self) -> Result<usize, Corrupted> {
        self.member.ring().recover(identity::is_alive)
    }
}

/// Iterator over a queue's messages; ends when the queue is closed and drained (or a
/// corruption is detected).
///
/// # Examples
///
/// ```
/// let mut q = shmlane::queue::Queue::<u8>::anonymous(4)?;
/// q.put(1)?;
/// q.close()?;
/// assert_eq!(q.iter().count(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Iter<'a, T: Pod> {
    q: &'a mut Queue<T>,
}

impl<T: Pod + Send> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.q.get().ok()
    }
}

/// A queue of byte messages of at most `MAX` bytes each (fixed when the queue type is
/// chosen, checked on open through the element type).
///
/// # Examples
///
/// ```
/// use shmlane::queue::ByteQueue;
/// use shmlane::error::MessageError;
/// let mut q = ByteQueue::<64>::anonymous(8)?;
/// q.put_bytes(b"task 1")?;
/// assert!(matches!(q.put_bytes(&[0; 65]), Err(MessageError::MessageTooLarge { len: 65, max: 64 })));
/// let mut buf = Vec::new();
/// q.get_bytes(&mut buf)?;
/// assert_eq!(buf, b"task 1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type ByteQueue<const MAX: usize> = Queue<Frame<MAX>>;

impl<const MAX: usize> Queue<Frame<MAX>> {
    fn frame(msg: &[u8]) -> Result<Frame<MAX>, MessageError> {
        Frame::new(msg).ok_or(MessageError::MessageTooLarge {
            len: msg.len(),
            max: MAX,
        })
    }

    fn unframe(f: Frame<MAX>, out: &mut Vec<u8>) -> Result<usize, MessageError> {
        let b = f.bytes()?;
        out.clear();
        out.extend_from_slice(b);
        Ok(b.len())
    }

    /// Puts a copy of `msg`, waiting for room.
    pub fn put_bytes(&mut self, msg: &[u8]) -> Result<(), MessageError> {
        self.put(Self::frame(msg)?).map_err(|e| match e {
            PutError::Closed(_) => MessageError::Closed,
            PutError::Corrupted(_, c) => MessageError::Corrupted(c),
        })
    }

    /// Puts a copy of `msg` if there is room now.
    pub fn try_put_bytes(&mut self, msg: &[u8]) -> Result<(), MessageError> {
        self.try_put(Self::frame(msg)?).map_err(|e| match e {
            TryPutError::Full(_) => MessageError::Full,
            TryPutError::Closed(_) => MessageError::Closed,
            TryPutError::Corrupted(_, c) => MessageError::Corrupted(c),
        })
    }

    /// Puts a copy of `msg`, waiting for room at most `timeout`.
    pub fn put_bytes_timeout(&mut self, msg: &[u8], timeout: Duration) -> Result<(), MessageError> {
        self.put_timeout(Self::frame(msg)?, timeout)
            .map_err(|e| match e {
                PutTimeoutError::Timeout(_) => MessageError::Timeout,
                PutTimeoutError::Closed(_) => MessageError::Closed,
                PutTimeoutError::Corrupted(_, c) => MessageError::Corrupted(c),
            })
    }

    /// Takes the oldest message into `out` (replacing its contents); returns its length.
    pub fn get_bytes(&mut self, out: &mut Vec<u8>) -> Result<usize, MessageError> {
        let f = self.get().map_err(|e| match e {
            GetError::Closed => MessageError::Closed,
            GetError::Corrupted(c) => MessageError::Corrupted(c),
        })?;
        Self::unframe(f, out)
    }

    /// Takes the oldest message into `out` if there is one now.
    pub fn try_get_bytes(&mut self, out: &mut Vec<u8>) -> Result<usize, MessageError> {
        let f = self.try_get().map_err(|e| match e {
            TryGetError::Empty => MessageError::Empty,
            TryGetError::Closed => MessageError::Closed,
            TryGetError::Corrupted(c) => MessageError::Corrupted(c),
        })?;
        Self::unframe(f, out)
    }

    /// Takes the oldest message into `out`, waiting at most `timeout`.
    pub fn get_bytes_timeout(
        &mut self,
        out: &mut Vec<u8>,
        timeout: Duration,
    ) -> Result<usize, MessageError> {
        let f = self.get_timeout(timeout).map_err(|e| match e {
            GetTimeoutError::Timeout => MessageError::Timeout,
            GetTimeoutError::Closed => MessageError::Closed,
            GetTimeoutError::Corrupted(c) => MessageError::Corrupted(c),
        })?;
        Self::unframe(f, out)
    }
}
