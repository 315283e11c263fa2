//! Lock-free ring algorithms over raw memory. No system calls here: the same code runs
//! over a heap allocation (tests, loom, Miri, fuzz) and over a shared mapping.
#![allow(unsafe_code)]

// Public: the in-process SPSC ring (`spsc::heap`, `HeapRing`, its ends and chunks)
// and the status of a ring end. The rest is the crate's machinery, public only with
// the unstable `internals` feature (loom-tests, fuzz, benches).
#[cfg(feature = "internals")]
pub mod endpoint;
#[cfg(not(feature = "internals"))]
pub(crate) mod endpoint;
#[cfg(feature = "internals")]
pub mod frame;
#[cfg(not(feature = "internals"))]
pub(crate) mod frame;
#[cfg(feature = "internals")]
pub mod mpmc;
#[cfg(not(feature = "internals"))]
pub(crate) mod mpmc;
#[cfg(feature = "internals")]
pub mod pool;
#[cfg(not(feature = "internals"))]
#[allow(dead_code)] // a head start for issue 14: not wired into a segment kind yet
pub(crate) mod pool;
mod region;
pub mod spsc;

#[cfg(feature = "internals")]
pub use crate::platform::identity::Identity;
pub use endpoint::Status;
