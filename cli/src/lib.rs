//! The library half of the `shmlane` command line: the cross-process benchmark harness
//! behind `shmlane bench` ([`bench`](mod@bench)) and the segment table of `shmlane ls` ([`ls`]).
//!
//! It reaches shmlane only through its public API (pipes, [`shmlane::WaitMode`], the
//! futex counters, `segment::list`); the floor transports it measures shmlane against
//! are built here from rustix and memmap2 (`bench/floor.rs`, the crate's only `unsafe`).
//!
//! ```
//! let rtts = shmlane_cli::bench::round_trips(3, |_| Ok(()))?;
//! assert_eq!(rtts.len(), 3);
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn, missing_docs, missing_debug_implementations)]
#![warn(clippy::undocumented_unsafe_blocks, clippy::unnecessary_safety_comment)]

pub mod bench;
pub mod ls;
