//! mycat's only `unsafe` code: signal disposition at start-up.

use nix::sys::signal::{SigHandler, Signal, signal};

/// Puts SIGPIPE back to its default action, so `mycat big | head` ends quietly the way `cat`
/// does instead of reporting a write error (Rust's runtime starts programs with it ignored).
pub(crate) fn restore_default_sigpipe() {
    // SAFETY: installing SIG_DFL runs no handler code, so none of signal(2)'s handler-safety
    // concerns apply; this runs first in main, before any other thread exists.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}
