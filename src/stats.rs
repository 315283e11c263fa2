//! Process-wide counters of the system calls the fast path must not make: futex calls
//! and `/proc` reads for peer liveness. Tests and benchmarks read them before and after
//! a run to show that a stream between awake peers makes none.
//!
//! # Examples
//!
//! ```
//! let before = shmlane::stats::futex_calls();
//! let (mut tx, mut rx) = shmlane::pipe::channel::<u64>(16)?;
//! tx.send(1)?;
//! assert_eq!(rx.recv()?, 1);
//! let after = shmlane::stats::futex_calls();
//! assert!(after.waits >= before.waits && after.wakes >= before.wakes);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use crate::primitive::stats::{FutexCalls, futex_calls, proc_liveness_reads};
