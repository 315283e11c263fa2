//! Duplex pipes: two rings, one per direction, in one segment.

use super::{Receiver, Sender, make_receiver, make_sender};
use crate::error::{BlockingRecvError, BlockingSendError, ClaimError, CreateError};
use crate::layout::SegmentKind;
use crate::segment::Segment;
use bytemuck::Pod;
use std::marker::PhantomData;
use std::sync::Arc;

/// A duplex segment: side A sends on ring 0 and receives on ring 1, side B the reverse.
///
/// # Examples
///
/// ```
/// let d = shmlane::pipe::Duplex::<u64>::anonymous(8)?;
/// let (mut a, mut b) = (d.side_a()?, d.side_b()?);
/// a.send(1)?;
/// let v = b.recv()?;
/// b.send(v + 1)?;
/// assert_eq!(a.recv()?, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Duplex<T> {
    seg: Arc<Segment>,
    _t: PhantomData<fn() -> T>,
}

crate::handle::ring_handle!(
    Duplex,
    SegmentKind::Duplex,
    "duplex",
    "shmlane::pipe::Duplex::<u64>",
    "with `capacity` slots in each of its two rings (a power of two, at most 2^40)"
);

impl<T: Pod + Send> Duplex<T> {
    /// Claims side A (sends on ring 0, receives on ring 1).
    pub fn side_a(&self) -> Result<DuplexEnd<T>, ClaimError> {
        Ok(DuplexEnd {
            tx: make_sender(&self.seg, 0)?,
            rx: make_receiver(&self.seg, 1)?,
        })
    }

    /// Claims side B (sends on ring 1, receives on ring 0).
    pub fn side_b(&self) -> Result<DuplexEnd<T>, ClaimError> {
        Ok(DuplexEnd {
            tx: make_sender(&self.seg, 1)?,
            rx: make_receiver(&self.seg, 0)?,
        })
    }
}

/// One side of a duplex pipe: a [`Sender`] and a [`Receiver`].
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// let (mut a, mut b) = shmlane::pipe::duplex::<u8>(64)?;
/// a.write_all(b"ping")?;
/// let mut buf = [0; 4];
/// b.read_exact(&mut buf)?;
/// assert_eq!(&buf, b"ping");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct DuplexEnd<T: Pod> {
    tx: Sender<T>,
    rx: Receiver<T>,
}

impl<T: Pod> DuplexEnd<T> {
    /// Sends one value, waiting for room.
    pub fn send(&mut self, value: T) -> Result<(), BlockingSendError<T>> {
        self.tx.send(value)
    }

    /// Receives one value, waiting for it.
    pub fn recv(&mut self) -> Result<T, BlockingRecvError> {
        self.rx.recv()
    }

    /// The sending half (for `try_send`, timeouts, bulk calls).
    pub fn sender(&mut self) -> &mut Sender<T> {
        &mut self.tx
    }

    /// The receiving half (for `try_recv`, timeouts, bulk calls).
    pub fn receiver(&mut self) -> &mut Receiver<T> {
        &mut self.rx
    }

    /// Splits into the two halves.
    pub fn split(self) -> (Sender<T>, Receiver<T>) {
        (self.tx, self.rx)
    }
}

/// Creates an anonymous duplex pipe and claims both sides in this process.
pub fn duplex<T: Pod + Send>(capacity: usize) -> Result<(DuplexEnd<T>, DuplexEnd<T>), CreateError> {
    let d = Duplex::<T>::anonymous(capacity)?;
    let claim = |e: ClaimError| CreateError::Io {
        op: "claim",
        source: std::io::Error::other(e),
    };
    Ok((d.side_a().map_err(claim)?, d.side_b().map_err(claim)?))
}

impl std::io::Write for DuplexEnd<u8> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tx.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl std::io::Read for DuplexEnd<u8> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.rx.read(buf)
    }
}
