//! Zero-copy buffers: loan a chunk of shared memory, write it in place, send a small
//! handle, read it in place (issue 14; design `docs/design/buffer-pool.md`).
//!
//! SKELETON (branch h/pool-skel): the public signatures every engineer codes against.
//! Bodies are `unimplemented!` until the API engineer fills them; nothing here is done.
//!
//! | Python | shmlane |
//! |---|---|
//! | `shared_memory.SharedMemory(create=True, size=n)` + pickling a name | [`Pool::alloc`] → [`BufMut`] → [`BufMut::freeze`] → [`Buf::handle`] sent as a `Pod` value |
//! | `SharedMemory(name)` in the reader | [`Pool::open_handle`] → [`Buf`] (read-only, in place) |

use crate::error::{
    AllocError, AllocTimeoutError, CreateError, HandleError, OpenError, PoolCorrupted,
    TryAllocError, ViewError,
};
use crate::wait::WaitMode;
use bytemuck::Pod;
use std::time::Duration;

/// One size class of a pool: `count` chunks of `size` bytes each.
///
/// `size` is a positive multiple of 128 (chunks are 128-aligned, so a typed view of any
/// `Pod` type of alignment ≤ 128 fits); classes are listed in strictly increasing size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Class {
    /// Chunk size in bytes.
    pub size: usize,
    /// Number of chunks.
    pub count: usize,
}

/// What names one frozen buffer in one pool: 24 bytes of plain data that travel over
/// any pipe or queue. Validated on use ([`Pool::open_handle`]): a forged, stale or
/// foreign handle is a typed error, never a read of another buffer's bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BufHandle {
    /// The pool's identity (random, fixed at create).
    pub pool: u64,
    /// Global chunk index.
    pub index: u32,
    /// The chunk's generation when it was frozen.
    pub generation: u32,
    /// Frozen length in bytes.
    pub len: u64,
}

/// Counters and occupancy of a pool ([`Pool::stats`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Chunks per class (the class table).
    pub classes: Vec<Class>,
    /// Free chunks per class now (a scan; racy while others allocate).
    pub free: Vec<usize>,
    /// Holds of dead processes released so far, by anyone.
    pub reclaimed: u64,
    /// Sweeps run (on a miss, and each tick of a blocked alloc).
    pub sweeps: u64,
}

/// A buffer pool in one shared-memory segment. `Clone + Send + Sync`: clones share one
/// member entry of the pool.
#[derive(Clone, Debug)]
pub struct Pool {
    _todo: (),
}

/// A chunk loaned for writing: `&mut [u8]` of the requested length, in place in shared
/// memory. Dropping it returns the chunk unseen; [`freeze`](Self::freeze) publishes it.
#[derive(Debug)]
pub struct BufMut {
    _todo: (),
}

/// A frozen buffer: read-only, in place. Clones share this process's hold; the chunk
/// returns to the pool when every holder (in every process) has dropped it.
#[derive(Clone, Debug)]
pub struct Buf {
    _todo: (),
}

impl Pool {
    /// Creates a named pool with these size classes.
    pub fn create(name: &str, classes: &[Class]) -> Result<Self, CreateError> {
        unimplemented!("skeleton: {name} {classes:?}")
    }
    /// Creates an anonymous pool (a sealed memfd) with these size classes.
    pub fn anonymous(classes: &[Class]) -> Result<Self, CreateError> {
        unimplemented!("skeleton: {classes:?}")
    }
    /// Opens a named pool.
    pub fn open(name: &str) -> Result<Self, OpenError> {
        unimplemented!("skeleton: {name}")
    }
    /// Opens the anonymous pool a parent registered with `inherit(cmd, key)`.
    pub fn from_env(key: &str) -> Result<Self, OpenError> {
        unimplemented!("skeleton: {key}")
    }
    /// Registers this pool with a child's `Command` under `key`.
    pub fn inherit(&self, cmd: &mut std::process::Command, key: &str) -> std::io::Result<()> {
        unimplemented!("skeleton: {cmd:?} {key}")
    }

    /// A buffer of `len` bytes from the smallest class that fits; waits (on the futex,
    /// no polling) while every chunk of that class is held by a live process.
    pub fn alloc(&self, len: usize) -> Result<BufMut, AllocError> {
        unimplemented!("skeleton: {len}")
    }
    /// [`alloc`](Self::alloc) without waiting.
    pub fn try_alloc(&self, len: usize) -> Result<BufMut, TryAllocError> {
        unimplemented!("skeleton: {len}")
    }
    /// [`alloc`](Self::alloc), waiting at most `timeout`.
    pub fn alloc_timeout(
        &self,
        len: usize,
        timeout: Duration,
    ) -> Result<BufMut, AllocTimeoutError> {
        unimplemented!("skeleton: {len} {timeout:?}")
    }
    /// The frozen buffer `h` names, validated and joined (this process becomes a holder).
    pub fn open_handle(&self, h: BufHandle) -> Result<Buf, HandleError> {
        unimplemented!("skeleton: {h:?}")
    }
    /// Releases the holds of dead processes now; returns the chunks freed.
    pub fn recover(&self) -> Result<usize, PoolCorrupted> {
        unimplemented!("skeleton")
    }
    /// Occupancy and counters.
    pub fn stats(&self) -> PoolStats {
        unimplemented!("skeleton")
    }
    /// How a blocked `alloc` of this handle waits.
    pub fn set_wait_mode(&mut self, mode: WaitMode) {
        unimplemented!("skeleton: {mode:?}")
    }
    /// This pool's identity (the `pool` field of its handles).
    pub fn id(&self) -> u64 {
        unimplemented!("skeleton")
    }
}

impl BufMut {
    /// Global chunk index (for diagnostics and tests).
    pub fn index(&self) -> u32 {
        unimplemented!("skeleton")
    }
    /// The bytes as `T`s.
    pub fn as_mut_slice_of<T: Pod>(&mut self) -> Result<&mut [T], ViewError> {
        unimplemented!("skeleton")
    }
    /// Shortens the buffer to `len` bytes (no effect if `len` is not shorter).
    pub fn truncate(&mut self, len: usize) {
        unimplemented!("skeleton: {len}")
    }
    /// Publishes the bytes: read-only from now on, shareable by handle.
    pub fn freeze(self) -> Buf {
        unimplemented!("skeleton")
    }
}

impl std::ops::Deref for BufMut {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        unimplemented!("skeleton")
    }
}

impl std::ops::DerefMut for BufMut {
    fn deref_mut(&mut self) -> &mut [u8] {
        unimplemented!("skeleton")
    }
}

impl Buf {
    /// The handle that names this buffer in any process that opened the pool.
    pub fn handle(&self) -> BufHandle {
        unimplemented!("skeleton")
    }
    /// The bytes as `T`s.
    pub fn as_slice_of<T: Pod>(&self) -> Result<&[T], ViewError> {
        unimplemented!("skeleton")
    }
}

impl std::ops::Deref for Buf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        unimplemented!("skeleton")
    }
}
