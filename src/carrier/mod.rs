//! Pipes that carry pool buffers: `tx.send(buf)` / `let buf = rx.recv()?`, with no
//! handle bookkeeping by the user (issue 14; design `docs/design/buffer-pool.md` §5).
//!
//! A [`BufSender`] and a [`BufReceiver`] wrap the two ends of an ordinary
//! [`pipe`](crate::pipe) of [`BufHandle`](crate::pool::BufHandle)s plus a [`Pool`](crate::pool::Pool); no new segment kind. Only the
//! 24-byte handle travels; the bytes stay where they were written. A [`BufQueue`] does
//! the same over a [`Queue`](crate::queue::Queue) of handles, for any number of
//! putters and getters.
//!
//! | Python | shmlane |
//! |---|---|
//! | `q.put(np_array)` (pickled, copied twice) | `tx.send(buf)` ([`BufSender::send`]) |
//! | `arr = q.get()` | `let buf = rx.recv()?` ([`BufReceiver::recv`]): a view in place |
//! | several workers on one `mp.Queue` | [`BufQueue::put`] / [`BufQueue::get`] |
//!
//! **A handle in flight is always backed by a hold.** The sender keeps each sent
//! buffer (its *transit hold*) until the receiver's position in the pipe has passed
//! its handle; the receiver joins the buffer before it moves its position. So there is
//! no moment at which a handle is in the pipe and its chunk could be freed, and no
//! shared state beyond the pipe's own positions. If the sender's process dies, its
//! holds are reclaimed like any dead holder's; a handle the receiver takes after that
//! is stale, skipped and counted ([`BufReceiver::lost`]).
//!
//! **Sizing.** A pool's `count` bounds every chunk in use at once: the one being
//! filled, the handles in the pipe (each backed by its chunk) and the ones the receiver
//! still holds. For the producer never to wait on the consumer's reading, give the
//! class `count` ≥ pipe capacity + 2; a smaller pool is correct too (`alloc` then
//! waits, asleep, for the consumer to drop one), as is a larger pipe.
//!
//! Between processes: create the pool and a `Pipe::<BufHandle>` (both anonymous),
//! hand both to the child with `inherit` on one `Command`, and in the child build the
//! receiver from `from_env`; `examples/seed_big_arrays.rs` is the whole program:
//!
//! ```no_run
//! use shmlane::carrier::BufReceiver;
//! use shmlane::pipe::Pipe;
//! use shmlane::pool::{BufHandle, Pool};
//! // in the child:
//! let pool = Pool::from_env("POOL")?;
//! let mut rx = BufReceiver::new(&pool, Pipe::<BufHandle>::from_env("BUFS")?.receiver()?);
//! for buf in rx.iter() {
//!     let words: &[u64] = buf.as_slice_of()?;
//!     println!("{}", words.iter().sum::<u64>());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Examples
//!
//! ```
//! use shmlane::carrier::{BufReceiver, BufSender};
//! use shmlane::pool::{BufHandle, Class, Pool};
//! let pool = Pool::anonymous(&[Class { size: 1 << 16, count: 4 }])?;
//! let (tx, rx) = shmlane::pipe::channel::<BufHandle>(16)?;
//! let mut tx = BufSender::new(&pool, tx);
//! let consumer = std::thread::spawn({
//!     let mut rx = BufReceiver::new(&pool, rx);
//!     move || {
//!         let mut sum = 0u64;
//!         for buf in rx.iter() {
//!             sum += buf.iter().map(|&b| u64::from(b)).sum::<u64>();
//!         }
//!         sum
//!     }
//! });
//! for i in 0..10u8 {
//!     // A pool of 4 under a pipe of 16: chunks are reused as the consumer takes them
//!     // (`tx.alloc` works too).
//!     let mut buf = pool.alloc(1 << 16)?;
//!     buf.fill(i);
//!     tx.send(buf.freeze())?;
//! }
//! drop(tx);
//! assert_eq!(consumer.join().unwrap(), (0..10u64).sum::<u64>() << 16);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod queue;
mod receiver;
mod sender;
#[cfg(test)]
mod tests;
mod transit;

pub use queue::BufQueue;
pub use receiver::BufReceiver;
pub use sender::BufSender;

use crate::error::{AllocError, AllocTimeoutError};

/// The error of an allocation without a deadline, in the shape of the timed one (for
/// the carriers' allocation loops, which call both).
fn timed(e: AllocError) -> AllocTimeoutError {
    match e {
        AllocError::TooLarge { len, max } => AllocTimeoutError::TooLarge { len, max },
        AllocError::Corrupted(c) => AllocTimeoutError::Corrupted(c),
        AllocError::Forked => AllocTimeoutError::Forked,
    }
}

/// The error of a timed allocation loop run without a deadline.
fn untimed(e: AllocTimeoutError) -> AllocError {
    match e {
        AllocTimeoutError::TooLarge { len, max } => AllocError::TooLarge { len, max },
        AllocTimeoutError::Corrupted(c) => AllocError::Corrupted(c),
        AllocTimeoutError::Forked => AllocError::Forked,
        AllocTimeoutError::Timeout => unreachable!("no deadline was set"),
    }
}
