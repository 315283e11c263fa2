//! # shmlane — inter-process communication over shared memory
//!
//! Lock-free rings in mmap'd segments, futex waiting with no syscall on the fast path,
//! and thin API layers in the spirit of Python's `multiprocessing`.
//!
//! ```
//! // A typed pipe inside one process (across processes: see `pipe`).
//! let (mut tx, mut rx) = shmlane::pipe::channel::<u64>(1024)?;
//! tx.send(42)?;
//! assert_eq!(rx.recv()?, 42);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Architecture
//!
//! Layers, bottom to top; a module imports only strictly lower ranks (checked by
//! `scripts/check-layers.sh`; the map is next to the `mod` lines in `src/lib.rs`):
//! `primitive` (0), `platform` (1), [`wait`] (2), `lock` (3), `layout` (4), [`error`]
//! (5), [`ring`] (6), [`segment`] (7), `handle` (8), [`pipe`], [`queue`], [`sync`],
//! [`stats`] (9). The modules without a link are public only with the unstable
//! `internals` feature. See `docs/architecture.md` for the public API surface, the
//! header format and the wake-up argument.
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn, missing_docs, missing_debug_implementations)]
#![warn(clippy::undocumented_unsafe_blocks, clippy::unnecessary_safety_comment)]
// Under loom only the syscall-free core is built for the model checks; the waiting
// driver and helpers that only the pipe layer calls are then unused.
#![cfg_attr(shmlane_loom, allow(dead_code))]

// The layers, bottom to top. A module may name (`crate::…`) only modules of a strictly
// lower rank; `scripts/check-layers.sh` (in the test command) reads the ranks from the
// `// rank` lines below and fails on an import that points sideways or upward. The same
// map, with what each layer holds, is in docs/architecture.md.
//
// rank 0: platform primitives: the loom shim (atomics, UnsafeCell, fences), futex,
// membarrier, backoff, the process-wide futex/proc counters; named fault points
#[cfg(not(shmlane_loom))]
#[allow(dead_code)] // points are added where a protocol needs one
mod fault;
mod primitive;
// rank 1: process identity (`Identity`) and liveness, the wipe-on-fork page, the death
// watcher
mod platform;
// rank 2: futex waiting: eventcount, epoch, `block_on`, `WaitMode`, `TimedOut`
pub mod wait;
// rank 3: the lock words that `layout` embeds: robust mutex, condvar, semaphore, event,
// barrier, seqlock, `LocalLock`, `SyncState`
#[cfg(feature = "internals")]
pub mod lock;
#[cfg(not(feature = "internals"))]
mod lock;
// rank 4: the shared-memory ABI (`#[repr(C)]` header and control blocks)
#[cfg(feature = "internals")]
pub mod layout;
#[cfg(not(feature = "internals"))]
mod layout;
// rank 5: every error type
pub mod error;
// rank 6: SPSC and MPMC rings, the endpoint claim protocol, frames
pub mod ring;
// rank 7: segment files, validation, lifecycle, stale/gc
#[cfg(not(shmlane_loom))]
pub mod segment;
// rank 8: constructors shared by every handle kind, fd inheritance
#[cfg(not(shmlane_loom))]
mod handle;
// rank 9: the API
#[cfg(not(shmlane_loom))]
pub mod pipe;
#[cfg(not(shmlane_loom))]
pub mod queue;
pub mod stats;
pub mod sync;

// The errors of every constructor; the per-call errors are in `shmlane::error`.
pub use error::{CreateError, OpenError};
pub use wait::WaitMode;

/// The `bytemuck` crate shmlane builds on, for the derives' `crate` attribute: see
/// [`Pod`].
pub use bytemuck;
/// The element types of pipes, queues and shared objects are plain old data: any bit
/// pattern is a valid value and nothing points anywhere (another process writes them).
/// Derive it, with `#[repr(C)]` and
/// `#[bytemuck(crate = "shmlane::bytemuck")]` (the derives name `::bytemuck` unless
/// told; the attribute is needed when your crate depends only on shmlane):
///
/// ```
/// #[derive(Clone, Copy, shmlane::Pod, shmlane::Zeroable)]
/// #[bytemuck(crate = "shmlane::bytemuck")]
/// #[repr(C)]
/// struct Sample {
///     a: u32,
///     _pad: u32, // explicit: f64 is 8-aligned, so 4 bytes would sit here unnamed
///     b: f64,
///     c: [f32; 3],
///     _tail: u32, // and 4 at the end, to round the size up to a multiple of 8
/// }
/// let (mut tx, mut rx) = shmlane::pipe::channel::<Sample>(4)?;
/// tx.send(Sample { a: 1, _pad: 0, b: 2.0, c: [3.0; 3], _tail: 0 })?;
/// assert_eq!(rx.recv()?.b, 2.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # No padding
///
/// A `Pod` struct may not have padding bytes (they hold no value, so a copy could
/// leak or carry garbage). The struct one writes first has some, and fails to derive
/// ("derive(Pod) was applied to a type with padding": 4 bytes after `a`, 4 after `c`):
///
/// ```compile_fail
/// #[derive(Clone, Copy, shmlane::Pod, shmlane::Zeroable)]
/// #[bytemuck(crate = "shmlane::bytemuck")]
/// #[repr(C)]
/// struct Sample {
///     a: u32,
///     b: f64,
///     c: [f32; 3],
/// }
/// ```
///
/// Name the padding, as above, or order the fields from the most aligned down so that
/// none is needed (here 8 + 12 + 4 = 24 bytes, a multiple of 8):
///
/// ```
/// #[derive(Clone, Copy, shmlane::Pod, shmlane::Zeroable)]
/// #[bytemuck(crate = "shmlane::bytemuck")]
/// #[repr(C)]
/// struct Sample {
///     b: f64,
///     c: [f32; 3],
///     a: u32,
/// }
/// assert_eq!(std::mem::size_of::<Sample>(), 24);
/// ```
pub use bytemuck::Pod;
/// All-zero is a valid value (required by [`Pod`]; derive both).
pub use bytemuck::Zeroable;
