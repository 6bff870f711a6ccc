//! The C side of the interop tests, called in-process (the benchmark's book-style `my_open`).

use std::ffi::{CStr, c_char, c_int};
use std::os::fd::{FromRawFd, OwnedFd};

unsafe extern "C" {
    fn unp_my_open(helper: *const c_char, path: *const c_char, mode: c_int) -> c_int;
}

/// Opens `path` through `helper` with the C `my_open` written the book's way (fork + exec).
pub fn c_my_open(helper: &CStr, path: &CStr, flags: i32) -> Result<OwnedFd, i32> {
    // SAFETY: both pointers are NUL-terminated strings that outlive the call; the C function
    // only reads them.
    let fd = unsafe { unp_my_open(helper.as_ptr(), path.as_ptr(), flags) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO));
    }
    // SAFETY: a non-negative result is a descriptor the C code just received and owns nothing
    // else of; we take it over.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sets SIGCHLD to SIG_IGN for the whole process, as some daemons do: the kernel then reaps
/// children itself and `waitpid` fails with ECHILD. Only for test binaries that do nothing else.
pub fn ignore_sigchld() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: SIG_IGN installs no handler code, so no async-signal-safety concern arises.
    unsafe { signal(Signal::SIGCHLD, SigHandler::SigIgn) }.expect("signal(SIGCHLD, SIG_IGN)");
}
