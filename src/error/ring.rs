//! Errors of the bare rings: a corrupted ring, push and pop.

use std::fmt;

/// The ring's shared positions are inconsistent: a peer (or something else) wrote
/// garbage into the mapping. The operation was refused without touching memory
/// outside the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ring corrupted: head {head}, tail {tail}, capacity {capacity}")]
pub struct Corrupted {
    /// Consumer position seen.
    pub head: u64,
    /// Producer position seen.
    pub tail: u64,
    /// Ring capacity.
    pub capacity: u64,
}

/// Error of the push side of a bare ring ([`crate::ring::spsc::Producer::push`]); the
/// value comes back ([`into_inner`](Self::into_inner)).
///
/// # Examples
///
/// ```
/// let (mut tx, _rx) = shmlane::ring::spsc::heap::<u8>(1)?;
/// tx.push(1)?;
/// let e = tx.push(2).unwrap_err();
/// assert_eq!(e.to_string(), "ring full");
/// assert_eq!(e.into_inner(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PushError<T> {
    /// No free slot.
    Full(T),
    /// The consumer's position is inconsistent.
    Corrupted(T, Corrupted),
}

impl<T> PushError<T> {
    /// Gives back the value that was not pushed.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(v) | Self::Corrupted(v, _) => v,
        }
    }
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("ring full"),
            Self::Corrupted(_, c) => fmt::Display::fmt(c, f),
        }
    }
}

impl<T> std::error::Error for PushError<T> {}

impl<T> fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("PushError::Full(..)"),
            Self::Corrupted(_, c) => write!(f, "PushError::Corrupted(.., {c:?})"),
        }
    }
}

/// Error of the pop side of a bare ring ([`crate::ring::spsc::Consumer::pop`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PopError {
    /// Nothing published.
    #[error("ring empty")]
    Empty,
    /// The producer's position is inconsistent.
    #[error(transparent)]
    Corrupted(#[from] Corrupted),
}

/// Not enough free slots for a [`Producer::write_chunk`](crate::ring::spsc::Producer::write_chunk).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// Only this many slots are free.
    #[error("only {0} slots free")]
    TooFewSlots(usize),
    /// The ring is corrupted.
    #[error(transparent)]
    Corrupted(#[from] Corrupted),
}
