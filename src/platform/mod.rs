//! Platform services: who we are, whether a peer lives, and a watcher that notices a
//! peer's death without polling. Everything here makes system calls.

pub(crate) mod identity;
pub(crate) mod inherit;
pub(crate) mod watch;
