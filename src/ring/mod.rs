//! Lock-free ring algorithms over raw memory. No system calls here: the same code runs
//! over a heap allocation (tests, loom, Miri, fuzz) and over a shared mapping.
#![allow(unsafe_code)]

pub mod endpoint;
pub mod frame;
pub mod mpmc;
mod region;
pub mod spsc;

pub use crate::platform::identity::Identity;
pub use endpoint::Status;
