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
