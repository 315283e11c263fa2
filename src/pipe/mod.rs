//! Pipes: typed one-way channels, byte streams, and duplex pairs over shared memory.
//!
//! The counterpart of `os.pipe` and `multiprocessing.Pipe`:
//!
//! | Python                               | shmlane                                          |
//! |--------------------------------------|--------------------------------------------------|
//! | `Pipe(duplex=False)`                 | [`channel`] / [`Pipe::anonymous`] → [`Sender`], [`Receiver`] |
//! | `Pipe()` (duplex)                    | [`duplex`] / [`Duplex`] → two [`DuplexEnd`]s     |
//! | `os.pipe()` + `os.write`/`os.read`   | `Sender<u8>` implements `io::Write`, `Receiver<u8>` `io::Read` + `io::BufRead` |
//! | `os.mkfifo(name)`                    | [`Pipe::create`] / [`Pipe::open`]                |
//!
//! Any `T: bytemuck::Pod` can travel (derive `Pod` and `Zeroable` on your own structs).
//!
//! # Examples
//!
//! A named pipe, one end per process (here both in one process for brevity):
//!
//! ```
//! use shmlane::pipe::Pipe;
//! let name = format!("doc-pipe-{}", std::process::id());
//! let pipe = Pipe::<u64>::create(&name, 1024)?;     // process A
//! let mut tx = pipe.sender()?;
//! let mut rx = Pipe::<u64>::open(&name)?.receiver()?; // process B
//! tx.send(7)?;
//! assert_eq!(rx.recv()?, 7);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! An anonymous pipe handed to a child process (see `examples/pipe_child.rs`):
//!
//! ```no_run
//! use shmlane::pipe::Pipe;
//! let pipe = Pipe::<u64>::anonymous(1024)?;
//! let mut child = pipe.spawn_with(&mut std::process::Command::new("worker"), "WORK_PIPE")?;
//! let mut tx = pipe.sender()?;
//! tx.send(1)?;
//! // in the child: let mut rx = Pipe::<u64>::from_env("WORK_PIPE")?.receiver()?;
//! # child.wait()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Inheritance: [`Pipe::inherit`] registers an anonymous pipe with a child's `Command`
//! (with any number of other handles, each under its own key) and
//! [`Pipe::spawn_with`] registers and spawns, for a child that `exec`s (the safe way
//! from a multithreaded parent). After a raw `fork()` the child shares the mapping
//! too; claim the ends *after* the fork, each in the process that uses it, since an
//! end's identity is the process that claimed it.
//!
//! Caveats: a process holds at most one sender and one receiver per ring at a time
//! (a second claim is `EndpointBusy`); values are copied bitwise, so pointers inside `T`
//! mean nothing to the peer (`Pod` rules most of them out).

mod duplex;
mod held;
mod peer;
mod receiver;
mod sender;
mod stream;
mod waits;

pub use duplex::{Duplex, DuplexEnd, duplex};
pub use receiver::Receiver;
pub(crate) use sender::Blocked;
pub use sender::Sender;

use crate::error::{ClaimError, CreateError};
use crate::layout::SegmentKind;
use crate::platform::identity;
use crate::ring::spsc::{Consumer, Producer, Side};
use crate::segment::Segment;
use crate::wait::WaitMode;
use bytemuck::Pod;
use peer::Peer;
use std::marker::PhantomData;
use std::sync::Arc;
use waits::Waits;

/// A one-way pipe segment (one ring). Claim its ends with [`sender`](Self::sender) and
/// [`receiver`](Self::receiver), in this process or another.
///
/// Dropping the creating handle (and every end made from it) unlinks a named pipe's
/// name unless [`persist`](Self::persist) was called.
///
/// # Examples
///
/// ```
/// let pipe = shmlane::pipe::Pipe::<u32>::anonymous(16)?;
/// let mut tx = pipe.sender()?;
/// assert!(pipe.sender().is_err()); // EndpointBusy: one producer only
/// let mut rx = pipe.receiver()?;
/// tx.send(3)?;
/// assert_eq!(rx.recv()?, 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Pipe<T> {
    seg: Arc<Segment>,
    _t: PhantomData<fn() -> T>,
}

crate::handle::ring_handle!(
    Pipe,
    SegmentKind::Pipe,
    "pipe",
    "shmlane::pipe::Pipe::<u64>",
    "with `capacity` slots in its ring (a power of two, at most 2^40)"
);

impl<T: Pod + Send> Pipe<T> {
    /// Claims the sending end (fails with `EndpointBusy` if a live process holds it).
    pub fn sender(&self) -> Result<Sender<T>, ClaimError> {
        make_sender(&self.seg, 0)
    }

    /// Claims the receiving end (fails with `EndpointBusy` if a live process holds it).
    pub fn receiver(&self) -> Result<Receiver<T>, ClaimError> {
        make_receiver(&self.seg, 0)
    }
}

fn ring<T: Pod + Send>(seg: &Segment, index: u32) -> crate::ring::spsc::RawRing<T> {
    // The segment was created or validated for `T` with this kind's ring count.
    seg.ring::<T>(index)
        .expect("segment validated for this element type")
}

pub(crate) fn make_sender<T: Pod + Send>(
    seg: &Arc<Segment>,
    index: u32,
) -> Result<Sender<T>, ClaimError> {
    // Recorded before the claim: see `held::Held`.
    let held = held::Held::new(seg, index, Side::Producer);
    let ring = Producer::attach(ring(seg, index), identity::current(), identity::is_alive)?;
    Ok(Sender {
        waits: Waits::new(ring.raw(), Side::Consumer),
        ring,
        peer: Peer::new(seg.clone(), index, Side::Consumer),
        mode: WaitMode::default(),
        held,
    })
}

pub(crate) fn make_receiver<T: Pod + Send>(
    seg: &Arc<Segment>,
    index: u32,
) -> Result<Receiver<T>, ClaimError> {
    // Recorded before the claim: see `held::Held`.
    let held = held::Held::new(seg, index, Side::Consumer);
    let ring = Consumer::attach(ring(seg, index), identity::current(), identity::is_alive)?;
    Ok(Receiver {
        waits: Waits::new(ring.raw(), Side::Producer),
        ring,
        peer: Peer::new(seg.clone(), index, Side::Producer),
        mode: WaitMode::default(),
        held,
    })
}

/// Creates an anonymous pipe and claims both ends in this process.
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = shmlane::pipe::channel::<[f32; 4]>(64)?;
/// tx.send([1.0, 2.0, 3.0, 4.0])?;
/// assert_eq!(rx.recv()?[3], 4.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn channel<T: Pod + Send>(capacity: usize) -> Result<(Sender<T>, Receiver<T>), CreateError> {
    let pipe = Pipe::<T>::anonymous(capacity)?;
    Ok((pipe.sender()?, pipe.receiver()?))
}
