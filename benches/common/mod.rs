//! What the library's own benches share with the CLI's bench harness: `pin_to` and the
//! block-interleaving statistics. The file lives in the `cli` crate (which depends on
//! this one, so the benches here cannot depend on it) and is compiled in by path.
#![allow(dead_code, unused_imports)] // each bench uses a part

#[path = "../../cli/src/bench/blocks.rs"]
mod blocks;
pub use blocks::{BlockRatios, median, pin_to, rotated_blocks};
