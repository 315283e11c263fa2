//! Fault-injection points for the multi-process tests: a process can be stopped
//! (`SIGSTOP`) or killed (`SIGKILL`) at a named point between two instructions of a
//! protocol, to test what a peer sees there and what a crash there leaves behind.
//!
//! Compiled in only with the non-default `fault-injection` feature (the crate's own tests
//! enable it through a dev-dependency on itself); otherwise [`point`] is an empty inline
//! function and costs nothing.
//!
//! A process arms one point through its environment: `SHMLANE_FAULT=stop:NAME` or
//! `SHMLANE_FAULT=kill:NAME`, where `NAME` is the point's name, e.g.
//! `stop:endpoint.claim.after_cas`.

/// Marks a named point in a protocol. With the `fault-injection` feature and
/// `SHMLANE_FAULT` naming this point, the calling process stops or kills itself here.
#[inline(always)]
pub(crate) fn point(name: &str) {
    #[cfg(feature = "fault-injection")]
    armed(name);
    #[cfg(not(feature = "fault-injection"))]
    let _ = name;
}

#[cfg(feature = "fault-injection")]
#[cold]
fn armed(name: &str) {
    use rustix::process::{Signal, kill_process};
    use rustix::thread::gettid;
    let Ok(spec) = std::env::var("SHMLANE_FAULT") else {
        return;
    };
    let signal = match spec.split_once(':') {
        Some(("stop", n)) if n == name => Signal::STOP,
        Some(("kill", n)) if n == name => Signal::KILL,
        _ => return,
    };
    // Aimed at our own thread id: kill(2) queues the signal for the whole process but
    // prefers the thread named by the id when it can take it, and a running thread can.
    // So the calling thread handles it on its way out of this system call and stops
    // right here; aimed at the pid, the main thread would take it and this thread would
    // run on until the group stop reached it.
    let _ = kill_process(gettid(), signal);
}
