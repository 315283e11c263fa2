//! Byte-stream pipes: `Sender<u8>` is an `io::Write`, `Receiver<u8>` an `io::Read` and
//! `io::BufRead` (reading in place from the ring). End of stream is the sender's drop
//! or death; a write to a pipe whose receiver is gone fails with `BrokenPipe`.
//!
//! # Examples
//!
//! ```
//! use std::io::{BufRead, Write};
//! let (mut tx, rx) = shmlane::pipe::channel::<u8>(4096)?;
//! writeln!(tx, "hello")?;
//! writeln!(tx, "world")?;
//! drop(tx);
//! let lines: Vec<String> = std::io::BufReader::new(rx).lines().collect::<Result<_, _>>()?;
//! assert_eq!(lines, ["hello", "world"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::sender::Blocked;
use super::{Receiver, Sender};
use std::io;

fn io_error(b: Blocked) -> io::Error {
    match b {
        Blocked::Disconnected => io::ErrorKind::BrokenPipe.into(),
        Blocked::Timeout => io::ErrorKind::TimedOut.into(),
        Blocked::Corrupted(c) => io::Error::new(io::ErrorKind::InvalidData, c),
    }
}

impl io::Write for Sender<u8> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.peer.gone(self.ring.raw()) {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            let n = self
                .ring
                .push_slice(buf)
                .map_err(|c| io::Error::new(io::ErrorKind::InvalidData, c))?;
            if n > 0 {
                return Ok(n);
            }
            self.wait_writable(None).map_err(io_error)?;
        }
    }

    /// Data is visible to the receiver as soon as `write` returns: nothing to flush.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl io::Read for Receiver<u8> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match self.recv_into(buf) {
            Ok(n) => Ok(n),
            Err(crate::error::BlockingRecvError::Disconnected) => Ok(0),
            Err(crate::error::BlockingRecvError::Corrupted(c)) => {
                Err(io::Error::new(io::ErrorKind::InvalidData, c))
            }
        }
    }
}

/// `fill_buf` returns bytes in place in the ring: the sender's process can change them
/// under you (never the slice's length or bounds); see
/// [`Chunk`](crate::ring::spsc::Chunk) for the contract.
impl io::BufRead for Receiver<u8> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.fill().map_err(io_error)
    }

    fn consume(&mut self, amt: usize) {
        Receiver::consume(self, amt);
    }
}
