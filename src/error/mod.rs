//! Every error type of shmlane, in one place (one file per family). Each names what
//! went wrong with the values involved; errors of calls that take a value give it back
//! (`into_inner`); bulk calls say how many items went through.
//!
//! | family | blocking | non-blocking | with a timeout | bulk |
//! |---|---|---|---|---|
//! | pipe send ([`pipe::Sender`](crate::pipe::Sender)) | [`BlockingSendError<T>`] | [`TrySendError<T>`] | [`SendTimeoutError<T>`] | [`SendSliceError`] |
//! | pipe receive ([`pipe::Receiver`](crate::pipe::Receiver)) | [`BlockingRecvError`] | [`TryRecvError`] | [`RecvTimeoutError`] | `recv_into`: [`BlockingRecvError`] |
//! | queue put ([`queue::Queue`](crate::queue::Queue)) | [`PutError<T>`] | [`TryPutError<T>`] | [`PutTimeoutError<T>`] | [`PutSliceError`] |
//! | queue get | [`GetError`] | [`TryGetError`] | [`GetTimeoutError`] | `get_into`: [`GetError`] |
//! | byte queue ([`queue::ByteQueue`](crate::queue::ByteQueue)) | [`MessageError`] | [`MessageError`] | [`MessageError`] | |
//! | bare ring ([`ring::spsc`](crate::ring::spsc)) | | [`PushError<T>`], [`PopError`], [`ChunkError`] | | |
//! | lock ([`sync::Mutex`](crate::sync::Mutex), [`sync::SharedArray`](crate::sync::SharedArray)) | [`LockError<G>`] | [`TryLockError<G>`] | [`LockTimeoutError<G>`] | |
//! | condvar wait ([`sync::Condvar`](crate::sync::Condvar)) | [`LockError<G>`] | | [`WaitTimeoutError<G>`] | |
//! | event, barrier, semaphore wait | (none) | | [`TimedOut`] | |
//! | semaphore release | [`SemaphoreFull`] | | | |
//! | shared value read ([`sync::SharedValue`](crate::sync::SharedValue)) | [`ValueError`] | | | |
//! | create / open / join | [`CreateError`], [`OpenError`], [`ClaimError`], [`NameError`] | | | |
//!
//! Shared by several: [`Corrupted`] (a ring's positions are garbage) and
//! [`ObjectCorrupted`] (a shared object's lock word names an impossible holder).
//!
//! # Timeouts
//!
//! Every call with a timeout is named `*_timeout(.., Duration)` and returns a `Result`
//! whose error says it timed out: a `Timeout` variant where the call has other errors
//! too, the unit [`TimedOut`] where it has none. Each displays "timed out".
//!
//! # Names
//!
//! `TrySendError`, `SendTimeoutError`, `TryRecvError` and `RecvTimeoutError` have the
//! variants of their namesakes in `std::sync::mpsc` and crossbeam-channel, with the
//! same meaning, plus `Corrupted` (a peer can garble shared memory). The errors of the
//! blocking `send` and `recv` cannot have std's shapes (a struct holding the value, a
//! unit struct: both mean only "disconnected"), so they are named apart:
//! [`BlockingSendError`] and [`BlockingRecvError`].
//!
//! # Examples
//!
//! ```
//! use shmlane::error::TrySendError;
//! let e = TrySendError::Full(7u64);
//! assert_eq!(e.to_string(), "ring full");
//! assert_eq!(e.into_inner(), 7);
//! ```

macro_rules! value_error {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident => $msg:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq)]
        pub enum $name<T> {
            $($(#[$vm])* $var(T),)*
            /// The ring is corrupted; the value is given back.
            Corrupted(T, $crate::error::Corrupted),
        }

        impl<T> $name<T> {
            /// Gives back the value that was not sent.
            pub fn into_inner(self) -> T {
                match self { $(Self::$var(v))|* | Self::Corrupted(v, _) => v }
            }
        }

        impl<T> std::fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self {
                    $(Self::$var(_) => f.write_str(concat!(stringify!($name), "::", stringify!($var), "(..)")),)*
                    Self::Corrupted(_, c) => write!(f, "{}::Corrupted(.., {c:?})", stringify!($name)),
                }
            }
        }

        impl<T> std::fmt::Display for $name<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self {
                    $(Self::$var(_) => f.write_str($msg),)*
                    Self::Corrupted(_, c) => std::fmt::Display::fmt(c, f),
                }
            }
        }

        impl<T> std::error::Error for $name<T> {}
    };
}

mod pipe;
mod queue;
mod ring;
mod segment;
mod sync;

/// The error of a wait with a timeout that has no other way to fail (an
/// [`Event`](crate::sync::Event), a [`Barrier`](crate::sync::Barrier), a
/// [`Semaphore`](crate::sync::Semaphore)). Defined in `wait`, below this layer.
pub use crate::wait::TimedOut;
pub use pipe::*;
pub use queue::*;
pub use ring::*;
pub use segment::*;
pub use sync::*;
