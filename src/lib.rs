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
//! ## Map (data flows down)
//!
//! | layer      | modules                                            | syscalls | unsafe |
//! |------------|----------------------------------------------------|----------|--------|
//! | API        | [`pipe`], [`queue`], [`sync`], CLI (`src/bin/shmlane.rs`), [`bench`](mod@bench) | via below| no |
//! | engine     | [`segment`] (header, validation, lifecycle), [`wait`] | yes   | mmap only |
//! | algorithms | [`ring`] (SPSC, MPMC, endpoints)                       | none     | yes    |
//! | ABI        | [`layout`]                                         | none     | no     |
//! | platform   | `platform` (identity, liveness, death watch), `primitive` (loom shim, futex) | yes | futex only |
//!
//! See `docs/architecture.md` for the header format and the wake-up argument.
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn, missing_docs, missing_debug_implementations)]
#![warn(clippy::undocumented_unsafe_blocks, clippy::unnecessary_safety_comment)]
// Under loom only the syscall-free core is built for the model checks; the waiting
// driver and helpers that only the pipe layer calls are then unused.
#![cfg_attr(shmlane_loom, allow(dead_code))]

#[cfg(not(shmlane_loom))]
pub mod bench;
pub mod error;
#[cfg(not(shmlane_loom))]
#[allow(dead_code)] // points are added where a protocol needs one
mod fault;
#[cfg(not(shmlane_loom))]
mod handle;
pub mod layout;
#[cfg(not(shmlane_loom))]
pub mod pipe;
#[cfg(not(shmlane_loom))]
mod platform;
mod primitive;
#[cfg(not(shmlane_loom))]
pub mod queue;
pub mod ring;
#[cfg(not(shmlane_loom))]
pub mod segment;
pub mod sync;
pub mod wait;

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
