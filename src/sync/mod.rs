//! Shared values and arrays, and cross-process locks, condition variables,
//! semaphores, events and barriers: futex-based, living in shared memory, no pthread
//! and no helper process.
//!
//! | Python (`multiprocessing`)          | shmlane                                         |
//! |-------------------------------------|-------------------------------------------------|
//! | `Array('i', [0, 1, 2])`             | [`SharedArray::create`] / [`SharedArray::anonymous`] |
//! | `with arr.get_lock(): arr[i] += 1`  | `arr.lock()` → guard that derefs to `&mut [T]`  |
//! | `Value('i', 0)`                     | [`SharedValue`] (seqlock: lock-free readers)    |
//! | `Lock()`                            | [`Mutex<T>`] (data inside; robust: [`LockError::OwnerDied`]) |
//! | `lock.acquire(timeout=t)`           | [`Mutex::lock_timeout`]: `Err(LockTimeoutError::Timeout)` once `t` passed |
//! | `Condition(lock)`                   | [`Condvar`] with a [`MutexGuard`]               |
//! | `cond.wait_for(pred, timeout=t)`    | [`Condvar::wait_while`] / [`Condvar::wait_while_timeout`] (waits *while* its closure is true: pass `!pred`) |
//! | `Semaphore(n)` / `BoundedSemaphore` | [`Semaphore`] (bounded)                         |
//! | `Event()`                           | [`Event`]                                       |
//! | `Barrier(n)`                        | [`Barrier`]                                     |
//! | a struct of the above in shared memory | [`Shared<S>`] over your `#[repr(C)]` struct of [`raw`] primitives |
//!
//! Every type is a handle to a named segment (`create`/`open`) or an anonymous one
//! (`anonymous`; register any number of them with one child's `Command` with `inherit`,
//! or `spawn_with` for one, and the child calls `from_env`), with the same constructor
//! set as pipes and queues. A handle records its process's identity when made: open it
//! again in a forked child.
//!
//! **Robustness.** If a process dies holding a lock, the next `lock()` (within a
//! 50 ms tick of waiting) takes it over and returns `Err(LockError::OwnerDied(guard))`:
//! the caller holds the lock, may repair the data, and calls `mark_consistent()`. Until
//! someone does, every later lock also reports `OwnerDied`. (`multiprocessing.Lock`
//! deadlocks everyone in this case: cpython issue 88304.) A call without a timeout
//! waits for a live holder however long it holds the lock, but never for a holder
//! this process knows cannot hold it: [`ObjectCorrupted`] instead (see
//! [`LockError::Corrupted`]).
//!
//! # Examples
//!
//! ```
//! use shmlane::sync::SharedArray;
//! let arr = SharedArray::<i32>::anonymous(&[0, 1, 2, 3, 4])?;
//! for x in arr.lock().unwrap().iter_mut() {
//!     *x += 1;
//! }
//! assert_eq!(arr.to_vec()?, [1, 2, 3, 4, 5]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod raw {
    //! The lock words themselves, as plain `#[repr(C)]` structs of atomics, for a
    //! [`Shared<S>`](super::Shared) of your own: a robust mutex, condition variable,
    //! semaphore, event, barrier and seqlock whose all-zero bytes are the initial state.
    //! (They live in the crate's `lock` layer, below the segment layout that embeds
    //! them; this is their public path.)
    //!
    //! # Examples
    //!
    //! ```
    //! use shmlane::sync::raw::RawEvent;
    //! let e = RawEvent::new();
    //! e.set();
    //! assert!(e.is_set());
    //! ```

    pub use crate::lock::{
        Acquired, Blocked, Holder, LocalLock, RawBarrier, RawCondvar, RawEvent, RawMutex,
        RawSemaphore, SeqLock,
    };
}
#[cfg(not(shmlane_loom))]
mod shared;

pub use crate::error::{LockWordLie, ObjectCorrupted, ValueError};
pub use crate::lock::SyncState;

#[cfg(not(shmlane_loom))]
mod handles;
#[cfg(not(shmlane_loom))]
pub use handles::*;
