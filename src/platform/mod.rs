//! Platform services: who we are, whether a peer lives, and a watcher that notices a
//! peer's death without polling. Everything here but the [`Identity`](identity::Identity)
//! type makes system calls; under `cfg(shmlane_loom)` only `identity` is built (the ring
//! and lock models name owners by `Identity`).

pub(crate) mod identity;
#[cfg(not(shmlane_loom))]
pub(crate) mod watch;
#[cfg(not(shmlane_loom))]
mod wipe_on_fork;
