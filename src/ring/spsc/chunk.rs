//! Slots borrowed in place from either end of an SPSC ring.

#[cfg(not(shmlane_loom))]
use super::as_values;
use super::{Consumer, Producer, sealed};
use crate::primitive::UnsafeCell;
use bytemuck::Pod;

pub use crate::error::ChunkError;

/// Slots borrowed in place from one end of a ring: free slots from a [`Producer`]
/// ([`WriteChunk`]) or published values from a [`Consumer`] ([`ReadChunk`]). Nothing
/// is published or released unless [`commit`](Self::commit) is called.
///
/// The slots lie in memory the peer's process maps too: see "Memory a peer can write"
/// in the [module docs](super). In short, a hostile peer may change the values under
/// you (they are always valid `T`), never make a chunk reach outside the ring: its
/// length is fixed from validated positions when it is made.
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = shmlane::ring::spsc::heap::<u32>(4).unwrap();
/// let mut w = tx.write_chunk(2).unwrap();
/// w.set(0, 5);
/// w.set(1, 6);
/// w.commit_all();
/// let r = rx.read_chunk(4).unwrap();
/// assert_eq!((r.len(), r.get(0), r.get(1)), (2, 5, 6));
/// r.commit(1);
/// assert_eq!(rx.pop(), Ok(6));
/// ```
#[derive(Debug)]
pub struct Chunk<'a, T: Pod, End: sealed::End<T>> {
    /// Slot index runs `(start, len)`, fixed when the chunk is made.
    runs: [(usize, usize); 2],
    end: &'a mut End,
    _t: core::marker::PhantomData<T>,
}

/// Free slots borrowed from a [`Producer`] (see [`Producer::write_chunk`]).
pub type WriteChunk<'a, T> = Chunk<'a, T, Producer<T>>;

/// Published values borrowed from a [`Consumer`] (see [`Consumer::read_chunk`]).
pub type ReadChunk<'a, T> = Chunk<'a, T, Consumer<T>>;

impl<'a, T: Pod, End: sealed::End<T>> Chunk<'a, T, End> {
    pub(super) fn new(runs: [(usize, usize); 2], end: &'a mut End) -> Self {
        Self {
            runs,
            end,
            _t: core::marker::PhantomData,
        }
    }

    /// Number of borrowed slots.
    pub fn len(&self) -> usize {
        self.runs[0].1 + self.runs[1].1
    }

    /// True if nothing was borrowed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The slot of the chunk's `k`-th element.
    ///
    /// # Panics
    ///
    /// If `k >= len()`.
    fn cell(&self, k: usize) -> &UnsafeCell<T> {
        let [(a, an), (b, bn)] = self.runs;
        let run = if k < an { (a, k) } else { (b, k - an) };
        assert!(k < an + bn, "chunk index {k} out of range");
        &self.end.raw().run(run.0, run.1 + 1)[run.1]
    }

    /// Publishes (writer) or releases (reader) the first `n` slots, clamped to the
    /// chunk length.
    pub fn commit(self, n: usize) {
        let n = n.min(self.len());
        if n > 0 {
            self.end.publish_n(n as u64);
        }
    }

    /// Commits every slot of the chunk.
    pub fn commit_all(self) {
        let n = self.len();
        self.commit(n);
    }
}

impl<T: Pod> WriteChunk<'_, T> {
    /// Writes the chunk's `k`-th slot (the same as through [`as_mut_slices`]).
    ///
    /// [`as_mut_slices`]: Self::as_mut_slices
    ///
    /// # Panics
    ///
    /// If `k >= len()`.
    pub fn set(&mut self, k: usize, value: T) {
        // SAFETY: a free slot that only this producer writes (see `Producer::push`);
        // `&mut self` keeps it unaliased here.
        self.cell(k).with_mut(|p| unsafe { p.write(value) });
    }

    /// The borrowed slots as two slices (the second is empty unless the chunk wraps).
    #[cfg(not(shmlane_loom))]
    pub fn as_mut_slices(&mut self) -> (&mut [T], &mut [T]) {
        let [(a, an), (b, bn)] = self.runs;
        let raw = self.end.raw();
        let (a, b) = (raw.run(a, an).as_ptr(), raw.run(b, bn).as_ptr());
        // `UnsafeCell` allows writes through a shared reference and is repr(transparent).
        // SAFETY: disjoint in-bounds runs (`Region::run`) of free slots only this producer
        // writes (see `Producer::push`); `&mut self` keeps them unaliased here.
        unsafe {
            (
                core::slice::from_raw_parts_mut(a.cast::<T>().cast_mut(), an),
                core::slice::from_raw_parts_mut(b.cast::<T>().cast_mut(), bn),
            )
        }
    }
}

impl<T: Pod> ReadChunk<'_, T> {
    /// Reads the chunk's `k`-th value (a copy; the same as through [`as_slices`]).
    ///
    /// [`as_slices`]: Self::as_slices
    ///
    /// # Panics
    ///
    /// If `k >= len()`.
    pub fn get(&self, k: usize) -> T {
        // SAFETY: a published slot (see `Consumer::pop`); any bits are a valid `T`.
        self.cell(k).with(|p| unsafe { p.read() })
    }

    /// The values as two slices (the second is empty unless the chunk wraps).
    ///
    /// A conforming producer never writes these slots before we commit; a hostile one
    /// can only change their (always valid, `Pod`) values, even while you read them:
    /// read each value once and validate the copy.
    #[cfg(not(shmlane_loom))]
    pub fn as_slices(&self) -> (&[T], &[T]) {
        let [(a, an), (b, bn)] = self.runs;
        let raw = self.end.raw();
        (as_values(raw.run(a, an)), as_values(raw.run(b, bn)))
    }
}
