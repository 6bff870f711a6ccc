//! mycat's only `unsafe` code: signal disposition and closing standard output.

use nix::errno::Errno;
use nix::sys::signal::{SigHandler, Signal, signal};

/// Puts SIGPIPE back to its default action, so `mycat big | head` ends quietly the way `cat`
/// does instead of reporting a write error (Rust's runtime starts programs with it ignored).
pub(crate) fn restore_default_sigpipe() {
    // SAFETY: installing SIG_DFL runs no handler code, so none of signal(2)'s handler-safety
    // concerns apply; this runs first in main, before any other thread exists.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// Closes descriptor 1, so that an error the file system reports only at close (NFS, quota) is
/// seen and reported, as GNU cat's `close_stdout` does. Call it last: nothing may use standard
/// output afterwards.
pub(crate) fn close_stdout() -> Result<(), Errno> {
    // SAFETY: close(2) on a plain integer touches no memory; the caller promises that nothing in
    // this process writes to descriptor 1 after this point, so no owner is left dangling (std's
    // stdout buffer holds nothing: mycat never writes through it).
    let result = unsafe { libc::close(libc::STDOUT_FILENO) };
    Errno::result(result).map(drop)
}
