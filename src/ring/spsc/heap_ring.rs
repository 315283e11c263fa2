//! SPSC rings on the heap: both ends at once ([`heap`]), or claimable ends ([`HeapRing`]).

use super::{Consumer, Producer, RawRing};
use crate::error::CreateError;
use crate::platform::identity::Identity;
#[cfg(feature = "fault-injection")]
use crate::primitive::Ordering;
use bytemuck::Pod;

/// Creates a ring on the heap and returns its two ends.
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = shmlane::ring::spsc::heap::<u32>(2).unwrap();
/// tx.push(7).unwrap();
/// assert_eq!(rx.pop(), Ok(7));
/// assert!(shmlane::ring::spsc::heap::<u32>(3).is_err()); // not a power of two
/// ```
pub fn heap<T: Pod + Send>(capacity: usize) -> Result<(Producer<T>, Consumer<T>), CreateError> {
    let me = heap_identity();
    let raw = RawRing::<T>::heap(capacity as u64)?;
    let twin = raw.share();
    let p = Producer::attach(raw, me, |_| true).expect("fresh endpoint");
    let c = Consumer::attach(twin, me, |_| true).expect("fresh endpoint");
    Ok((p, c))
}

/// A ring on the heap whose ends can be claimed, dropped and claimed again, like a
/// shared ring's ends by successive processes: for tests, fuzzing and hand-overs
/// between threads. [`heap`] is the usual way to get both ends at once.
///
/// # Examples
///
/// ```
/// let ring = shmlane::ring::spsc::HeapRing::<u32>::new(4).unwrap();
/// let mut tx = ring.producer().unwrap();
/// assert!(ring.producer().is_err()); // one producer at a time
/// tx.push(1).unwrap();
/// drop(tx);
/// let mut rx = ring.consumer().unwrap();
/// ring.producer().unwrap().push(2).unwrap(); // a new producer resumes at tail
/// assert_eq!((rx.pop(), rx.pop()), (Ok(1), Ok(2)));
/// ```
pub struct HeapRing<T>(RawRing<T>);

impl<T> core::fmt::Debug for HeapRing<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("HeapRing").field(&self.0).finish()
    }
}

impl<T: Pod + Send> HeapRing<T> {
    /// An empty ring of `capacity` slots (a power of two), no end claimed.
    pub fn new(capacity: usize) -> Result<Self, CreateError> {
        RawRing::heap(capacity as u64).map(Self)
    }

    /// Claims the producer end (`EndpointBusy` while another `Producer` holds it).
    pub fn producer(&self) -> Result<Producer<T>, crate::error::ClaimError> {
        Producer::attach(self.0.share(), heap_identity(), |_| true)
    }

    /// Claims the consumer end (`EndpointBusy` while another `Consumer` holds it).
    pub fn consumer(&self) -> Result<Consumer<T>, crate::error::ClaimError> {
        Consumer::attach(self.0.share(), heap_identity(), |_| true)
    }

    /// Overwrites the shared positions `(tail, head)`, as a hostile or buggy peer
    /// could write a shared ring's (for tests: every call must then behave or report
    /// [`Corrupted`]).
    #[doc(hidden)]
    #[cfg(feature = "fault-injection")]
    pub fn scribble_positions(&self, tail: Option<u64>, head: Option<u64>) {
        // Relaxed: a test's stand-in for a foreign write; nothing is published by it.
        if let Some(t) = tail {
            self.0.ctrl().tail.store(t, Ordering::Relaxed);
        }
        if let Some(h) = head {
            self.0.ctrl().head.store(h, Ordering::Relaxed);
        }
    }
}

/// The owner recorded for a heap ring's ends: this process (ends held by one process's
/// threads; the claim never asks whether it is alive).
fn heap_identity() -> Identity {
    Identity {
        pid: std::process::id(),
        start: 0,
    }
}
