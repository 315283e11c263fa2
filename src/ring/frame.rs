//! Fixed-capacity byte frames: a variable-length message (at most `MAX` bytes) in one
//! queue slot, length-prefixed. The length is read from shared memory, so it is checked
//! before any use.
#![allow(unsafe_code)]

use crate::error::Corrupted;

/// A message of up to `MAX` bytes, stored as a 4-byte little-endian length and `MAX`
/// bytes of payload. Alignment 1, no padding: every bit pattern is a valid value.
///
/// # Examples
///
/// ```
/// use shmlane::ring::frame::Frame;
/// let f = Frame::<16>::new(b"hello").unwrap();
/// assert_eq!(f.bytes().unwrap(), b"hello");
/// assert!(Frame::<4>::new(b"hello").is_none()); // too long: never truncated
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Frame<const MAX: usize> {
    len: [u8; 4],
    data: [u8; MAX],
}

// SAFETY: repr(C) of two u8 arrays: alignment 1, no padding, all-zero is valid.
unsafe impl<const MAX: usize> bytemuck::Zeroable for Frame<MAX> {}
// SAFETY: as above, and every bit pattern is valid; Copy + 'static.
unsafe impl<const MAX: usize> bytemuck::Pod for Frame<MAX> {}

impl<const MAX: usize> Frame<MAX> {
    /// The largest message this frame holds.
    pub const MAX: usize = MAX;

    /// A frame holding `msg`, or `None` if `msg` is longer than `MAX` (or than
    /// `u32::MAX`).
    pub fn new(msg: &[u8]) -> Option<Self> {
        if msg.len() > MAX {
            return None;
        }
        let len = u32::try_from(msg.len()).ok()?;
        let mut f: Self = bytemuck::Zeroable::zeroed();
        f.len = len.to_le_bytes();
        f.data[..msg.len()].copy_from_slice(msg);
        Some(f)
    }

    /// The message, or `Corrupted` if the stored length exceeds `MAX` (a garbled slot).
    ///
    /// The frame may lie in a slot a peer can write (borrowed in place through a
    /// [`ReadChunk`](crate::ring::spsc::ReadChunk) or `peek_slice`): the length is read
    /// once, checked, and only that copy sizes the returned slice, so a peer changing
    /// it meanwhile cannot make the slice reach past the frame. The bytes themselves
    /// may still change under you; copy them out before validating their content.
    pub fn bytes(&self) -> Result<&[u8], Corrupted> {
        // SAFETY: `self.len` is a valid, aligned `[u8; 4]` (a field of `&self`). A
        // volatile read: exactly one read, never repeated by the compiler for the
        // check and the use below.
        let len = u32::from_le_bytes(unsafe { core::ptr::read_volatile(&self.len) }) as usize;
        self.data.get(..len).ok_or(Corrupted {
            head: len as u64,
            tail: 0,
            capacity: MAX as u64,
        })
    }
}
