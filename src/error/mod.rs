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
//! | buffer receive ([`carrier::BufReceiver`](crate::carrier::BufReceiver); sends use the pipe's) | [`BufRecvError`] | [`TryBufRecvError`] | [`BufRecvTimeoutError`] | |
//! | buffer get ([`carrier::BufQueue`](crate::carrier::BufQueue); puts use the queue's) | [`BufGetError`] | [`TryBufGetError`] | [`BufGetTimeoutError`] | |
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
mod pool;
mod queue;
mod ring;
mod segment;
mod sync;

/// The error of a wait with a timeout that has no other way to fail (an
/// [`Event`](crate::sync::Event), a [`Barrier`](crate::sync::Barrier), a
/// [`Semaphore`](crate::sync::Semaphore)). Defined in `wait`, below this layer.
pub use crate::wait::TimedOut;
pub use pipe::*;
pub use pool::*;
pub use queue::*;
pub use ring::*;
pub use segment::*;
pub use sync::*;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every error of a call with a timeout says "timed out" (one shape: a `Result`
    /// whose error says so).
    #[test]
    fn every_timeout_error_displays_timed_out() {
        let shown = [
            TimedOut.to_string(),
            SendTimeoutError::Timeout(0u8).to_string(),
            RecvTimeoutError::Timeout.to_string(),
            PutTimeoutError::Timeout(0u8).to_string(),
            GetTimeoutError::Timeout.to_string(),
            MessageError::Timeout.to_string(),
            LockTimeoutError::<()>::Timeout.to_string(),
            WaitTimeoutError::Timeout(()).to_string(),
        ];
        for s in shown {
            assert!(s.contains("timed out"), "{s:?}");
        }
    }

    /// Every error type is `Debug + Display + Error` (a compile-time check), and the
    /// value-carrying ones give their value back.
    #[test]
    fn every_error_is_an_error_and_gives_values_back() {
        fn is_error<E: std::error::Error>() {}
        is_error::<CreateError>();
        is_error::<OpenError>();
        is_error::<NameError>();
        is_error::<ClaimError>();
        is_error::<Corrupted>();
        is_error::<PushError<u8>>();
        is_error::<PopError>();
        is_error::<ChunkError>();
        is_error::<BlockingSendError<u8>>();
        is_error::<TrySendError<u8>>();
        is_error::<SendTimeoutError<u8>>();
        is_error::<SendSliceError>();
        is_error::<BlockingRecvError>();
        is_error::<TryRecvError>();
        is_error::<RecvTimeoutError>();
        is_error::<PutError<u8>>();
        is_error::<TryPutError<u8>>();
        is_error::<PutTimeoutError<u8>>();
        is_error::<PutSliceError>();
        is_error::<GetError>();
        is_error::<TryGetError>();
        is_error::<GetTimeoutError>();
        is_error::<MessageError>();
        is_error::<ObjectCorrupted>();
        is_error::<ValueError>();
        is_error::<LockError<u8>>();
        is_error::<TryLockError<u8>>();
        is_error::<LockTimeoutError<u8>>();
        is_error::<WaitTimeoutError<u8>>();
        is_error::<SemaphoreFull>();
        is_error::<TimedOut>();
        assert_eq!(PushError::Full(3u8).into_inner(), 3);
        assert_eq!(BlockingSendError::Disconnected(4u8).into_inner(), 4);
        assert_eq!(PutError::Closed(5u8).into_inner(), 5);
        assert_eq!(LockError::OwnerDied(6u8).into_inner(), Some(6));
        assert_eq!(WaitTimeoutError::Timeout(7u8).into_inner(), Some(7));
        assert_eq!(LockTimeoutError::<u8>::Timeout.into_inner(), None);
        assert_eq!(
            LockTimeoutError::<u8>::Timeout.into_guard(),
            Err(LockTimeoutError::Timeout)
        );
        assert_eq!(
            TryLockError::<u8>::WouldBlock.into_guard(),
            Err(TryLockError::WouldBlock)
        );
        assert_eq!(
            SendSliceError::Corrupted {
                sent: 2,
                corrupted: Corrupted {
                    head: 0,
                    tail: 9,
                    capacity: 4
                }
            }
            .sent(),
            2
        );
        assert_eq!(PutSliceError::Closed { put: 3 }.put(), 3);
    }
}
