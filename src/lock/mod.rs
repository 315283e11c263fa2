//! The synchronization primitives as plain `#[repr(C)]` structs of atomics: no
//! pointers, all-zero bytes are the initial state, so they can live anywhere in shared
//! memory (a standalone segment, or embedded in a struct of your own) and be used from
//! any process. No system calls on the uncontended paths; waiting goes through the
//! futex (`crate::wait`), in bounded ticks so dead peers are noticed. `layout` embeds
//! these words in object segments; `sync`'s handles drive them (and re-export them as
//! `sync::raw` for `Shared<S>` users).
//!
//! Liveness of other processes is asked of the caller (`is_alive`), so the same code
//! runs under loom.

mod barrier;
mod condvar;
mod event;
mod local;
mod mutex;
mod semaphore;
mod seqlock;
mod state;

pub use barrier::RawBarrier;
pub use condvar::RawCondvar;
pub use event::RawEvent;
pub use local::LocalLock;
pub use mutex::{Acquired, Blocked, Holder, RawMutex};
pub use semaphore::RawSemaphore;
pub use seqlock::SeqLock;
#[cfg(not(shmlane_loom))] // the object handles' seqlock, not built under loom
pub(crate) use seqlock::{seqlock_is_odd, seqlock_read, seqlock_write};
pub use state::SyncState;
