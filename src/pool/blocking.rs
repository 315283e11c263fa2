//! Interim ring-level helpers with exactly the signatures engineer "wait" is adding to
//! `ring::pool` (`Core::release_and_wake`, `Core::alloc_blocking`, `BlockError`), as
//! free functions so that the merge of `h/wait` does not conflict: once it lands, the
//! callers switch to the methods and this file goes.

use crate::ring::pool::{Core, Grant, Refused};
use crate::wait::{EventCount, Poll, WaitMode};
use std::time::Instant;

/// Why [`alloc_blocking`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BlockError {
    /// The deadline passed.
    TimedOut,
    /// An illegal chunk word (or another refusal a correct caller cannot cause).
    Corrupted {
        /// Global chunk index.
        index: u32,
        /// The word read.
        word: u64,
    },
}

/// `core.release(index, m)`; if that freed the chunk, `wait.notify_fenced()`.
pub(crate) fn release_and_wake(
    core: &Core<'_>,
    index: u32,
    m: u32,
    wait: &EventCount,
) -> Result<bool, Refused> {
    let freed = core.release(index, m)?;
    if freed {
        // A death here: the token is back, sleepers wake at their tick (design §3 row 9).
        #[cfg(not(shmlane_loom))]
        crate::fault::point("pool.free.before_notify");
        wait.notify_fenced();
    }
    Ok(freed)
}

fn refused(r: Refused) -> BlockError {
    match r {
        Refused::Corrupted { index, word } => BlockError::Corrupted { index, word },
        _ => BlockError::Corrupted {
            index: u32::MAX,
            word: 0,
        },
    }
}

/// `try_alloc`; on a miss `sweep(class)` and retry; then waits on `wait` (freers use
/// `notify_fenced`) until a token leads to a chunk or `deadline` passes. `on_tick`
/// runs on each slow poll (each ≤ 50 ms tick), before that tick's sweep and retry.
#[allow(clippy::too_many_arguments)] // the agreed ring-level signature
pub(crate) fn alloc_blocking(
    core: &Core<'_>,
    class: usize,
    m: u32,
    cursor: u32,
    wait: &EventCount,
    mode: WaitMode,
    deadline: Option<Instant>,
    on_tick: &mut dyn FnMut(),
) -> Result<Grant, BlockError> {
    let attempt = |sweep: bool| -> Result<Option<Grant>, BlockError> {
        if let Some(g) = core.try_alloc(class, m, cursor).map_err(refused)? {
            return Ok(Some(g));
        }
        if !sweep {
            return Ok(None);
        }
        core.sweep(class).map_err(refused)?;
        core.try_alloc(class, m, cursor).map_err(refused)
    };
    if let Some(g) = attempt(true)? {
        return Ok(g);
    }
    crate::wait::block_on(wait, None, mode, deadline, |slow| {
        if slow {
            on_tick();
        }
        match attempt(slow) {
            Ok(Some(g)) => Poll::Ready(Ok(g)),
            Ok(None) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    })
    .map_err(|_| BlockError::TimedOut)?
}
