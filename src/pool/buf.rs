//! The views: [`BufMut`] (the writer's) and [`Buf`] (a holder's, read-only). Each keeps
//! an `Arc` of its pool (so of the mapping): a view never outlives its segment.

use super::{Buf, BufHandle, BufMut, LocalHold};
use crate::error::ViewError;
use crate::layout::LINE;
use bytemuck::Pod;

/// The typed view checks shared by both views (`bytemuck` does the cast).
fn check<T: Pod>(len: usize) -> Result<(), ViewError> {
    if core::mem::align_of::<T>() as u64 > LINE {
        return Err(ViewError::Align {
            align: core::mem::align_of::<T>(),
        });
    }
    let size = core::mem::size_of::<T>();
    if size == 0 || !len.is_multiple_of(size) {
        return Err(ViewError::Length { len, size });
    }
    Ok(())
}

fn cast_error<T>(len: usize) -> ViewError {
    ViewError::Length {
        len,
        size: core::mem::size_of::<T>(),
    }
}

impl BufMut {
    /// Global chunk index (for diagnostics and tests).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::pool::{Class, Pool};
    /// let pool = Pool::anonymous(&[Class { size: 128, count: 1 }, Class { size: 256, count: 1 }])?;
    /// assert_eq!(pool.alloc(200)?.index(), 1); // the second class's only chunk
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn index(&self) -> u32 {
        self.grant.index
    }

    /// The bytes as `T`s: `ViewError::Length` unless the length is a whole number of
    /// `T`s, `ViewError::Align` for an alignment above 128 (chunks are 128-aligned).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::pool::{Class, Pool};
    /// let pool = Pool::anonymous(&[Class { size: 4096, count: 1 }])?;
    /// let mut buf = pool.alloc(16)?;
    /// buf.as_mut_slice_of::<u32>()?.copy_from_slice(&[1, 2, 3, 4]);
    /// assert!(buf.as_mut_slice_of::<[u8; 3]>().is_err()); // 16 is not a multiple of 3
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn as_mut_slice_of<T: Pod>(&mut self) -> Result<&mut [T], ViewError> {
        check::<T>(self.len)?;
        let len = self.len;
        bytemuck::try_cast_slice_mut(&mut self[..]).map_err(|_| cast_error::<T>(len))
    }

    /// Shortens the buffer to `len` bytes (no effect if `len` is not shorter).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::pool::{Class, Pool};
    /// let pool = Pool::anonymous(&[Class { size: 4096, count: 1 }])?;
    /// let mut buf = pool.alloc(4096)?;
    /// buf.truncate(10);
    /// assert_eq!(buf.freeze().handle().len, 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Publishes the bytes: read-only from now on, shareable by handle. (A chunk word
    /// scribbled meanwhile makes the freeze fail in shared memory: the `Buf` is then
    /// this process's only, its handle `Stale` elsewhere; counted as corruption.)
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::pool::{Class, Pool};
    /// let pool = Pool::anonymous(&[Class { size: 128, count: 1 }])?;
    /// let mut w = pool.alloc(2)?;
    /// w.copy_from_slice(&[1, 2]);
    /// let r = w.freeze();
    /// assert_eq!(&r[..], &[1, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn freeze(mut self) -> Buf {
        let inner = self.inner.clone();
        let (g, len) = (self.grant, self.len);
        let frozen = inner.core().freeze(g, inner.m, len as u64).is_ok();
        inner.local().holds[g.index as usize] = LocalHold {
            count: 1,
            generation: g.generation,
            len: len as u64,
        };
        if !frozen {
            inner.count_corrupt();
        }
        // The hold continues as the `Buf`'s: `Drop` must not release it.
        self.frozen = true;
        Buf {
            inner,
            index: g.index,
            generation: g.generation,
            len,
        }
    }
}

impl Drop for BufMut {
    /// Never frozen: the chunk goes back (`WRITING → FREE`), unseen.
    fn drop(&mut self) {
        if !self.frozen {
            self.inner.drop_view(self.grant.index);
        }
    }
}

impl std::fmt::Debug for BufMut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufMut")
            .field("index", &self.grant.index)
            .field("generation", &self.grant.generation)
            .field("len", &self.len)
            .finish()
    }
}

impl std::ops::Deref for BufMut {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.inner.view.bytes(self.grant.index, self.len)
    }
}

impl std::ops::DerefMut for BufMut {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.inner.view.bytes_mut(self.grant.index, self.len)
    }
}

impl Buf {
    /// The handle that names this buffer in any process that opened the pool.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::pool::{Class, Pool};
    /// let pool = Pool::anonymous(&[Class { size: 128, count: 1 }])?;
    /// let buf = pool.alloc(7)?.freeze();
    /// let h = buf.handle();
    /// assert_eq!((h.pool, h.index, h.len), (pool.id(), 0, 7));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handle(&self) -> BufHandle {
        BufHandle {
            pool: self.inner.info.pool_id,
            index: self.index,
            generation: self.generation,
            len: self.len as u64,
        }
    }

    /// The bytes as `T`s: `ViewError::Length` unless the length is a whole number of
    /// `T`s, `ViewError::Align` for an alignment above 128.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::pool::{Class, Pool};
    /// let pool = Pool::anonymous(&[Class { size: 4096, count: 1 }])?;
    /// let mut w = pool.alloc(8)?;
    /// w.as_mut_slice_of::<f32>()?.copy_from_slice(&[1.5, 2.5]);
    /// assert_eq!(w.freeze().as_slice_of::<f32>()?, &[1.5, 2.5]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn as_slice_of<T: Pod>(&self) -> Result<&[T], ViewError> {
        check::<T>(self.len)?;
        bytemuck::try_cast_slice(&self[..]).map_err(|_| cast_error::<T>(self.len))
    }
}

impl Clone for Buf {
    /// Another view of the same hold: a local count, no shared-memory write.
    fn clone(&self) -> Self {
        let mut local = self.inner.local();
        if let Some(h) = local.holds.get_mut(self.index as usize) {
            h.count += 1;
        }
        drop(local);
        Self {
            inner: self.inner.clone(),
            index: self.index,
            generation: self.generation,
            len: self.len,
        }
    }
}

impl Drop for Buf {
    /// The last view of this process releases its hold (the chunk frees when no
    /// process holds it).
    fn drop(&mut self) {
        self.inner.drop_view(self.index);
    }
}

impl std::fmt::Debug for Buf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buf")
            .field("index", &self.index)
            .field("generation", &self.generation)
            .field("len", &self.len)
            .finish()
    }
}

impl std::ops::Deref for Buf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.inner.view.bytes(self.index, self.len)
    }
}
