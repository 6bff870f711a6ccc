//! libmyopen: the C ABI of the `myopen` library, for programs that are not Rust (the book's own
//! `mycat.c` links against it unchanged). The contract is the header `include/myopen.h` and the
//! manual page `my_open(3)`.
//!
//! Everything goes through the Rust API (`myopen::my_open`, `myopen::Session`): which helper is
//! run, how it is found and how its answer is checked is decided there, once, for Rust and C
//! callers alike. This crate only translates: C strings to paths, the typed `myopen::Error` to an
//! errno, a panic to an errno. The exported functions and their raw pointers live in `sys`, the
//! crate's only unsafe module.
#![deny(unsafe_code)]

#[allow(unsafe_code)]
mod sys;

use std::ffi::{CStr, OsStr};
use std::io;
use std::os::fd::{IntoRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use myopen::{Error, Session};

/// The errno for "the helper is not installed, or cannot be run": `ENOPKG`, "Package not
/// installed". Not `ENOENT`, which would read as "the file you asked for does not exist".
/// `MYOPEN_EHELPER_MISSING` in myopen.h.
pub const ERRNO_HELPER_MISSING: i32 = libc::ENOPKG;

/// The errno for "the helper crashed or broke the protocol": `EPROTO`, "Protocol error".
/// `MYOPEN_EHELPER_BROKEN` in myopen.h.
pub const ERRNO_HELPER_BROKEN: i32 = libc::EPROTO;

/// The errno for a panic caught at the boundary (a bug in libmyopen): nothing was opened.
pub const ERRNO_INTERNAL: i32 = libc::EIO;

/// The errno a C caller sees for `error`: the helper's (or the system's) own errno where there
/// is one, else one of the two documented helper errnos.
pub fn errno_of(error: &Error) -> i32 {
    if let Some(errno) = error.raw_os_error() {
        return errno;
    }
    match error {
        Error::HelperMissing { .. } | Error::HelperNotStarted { .. } => ERRNO_HELPER_MISSING,
        Error::HelperCrashed { .. } | Error::Protocol { .. } => ERRNO_HELPER_BROKEN,
        Error::InvalidPath { .. } => libc::EINVAL,
        // A local failure without an errno (none today), or a variant added later.
        _ => libc::EIO,
    }
}

/// The errno for an `io::Error` from the Rust `my_open`, which keeps the typed error inside
/// when there is no errno to carry (a missing or crashed helper).
fn errno_of_io(error: &io::Error) -> i32 {
    if let Some(errno) = error.raw_os_error() {
        return errno;
    }
    match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<Error>())
    {
        Some(typed) => errno_of(typed),
        None if error.kind() == io::ErrorKind::InvalidInput => libc::EINVAL,
        None => libc::EIO,
    }
}

fn path_of(pathname: &CStr) -> &Path {
    Path::new(OsStr::from_bytes(pathname.to_bytes()))
}

/// The book's `my_open`: one helper run for `pathname` with `open(2)` `flags`.
pub(crate) fn open(pathname: &CStr, flags: i32) -> Result<OwnedFd, i32> {
    myopen::my_open(path_of(pathname), flags).map_err(|error| errno_of_io(&error))
}

/// `my_open` that creates with `mode`. The one-shot protocol (the book's) carries no mode, so a
/// creating open goes through a session of its own, the one request that carries it; any other
/// open is exactly `my_open`.
pub(crate) fn open_with_mode(pathname: &CStr, flags: i32, mode: u32) -> Result<OwnedFd, i32> {
    if flags & libc::O_CREAT == 0 {
        return open(pathname, flags);
    }
    let session = Session::new().map_err(|error| errno_of(&error))?;
    session_open(&session, pathname, flags, mode)
}

/// A session with the helper `my_open` would use; the helper is started now, so a missing one is
/// reported here rather than on the first open.
pub(crate) fn session_new() -> Result<Box<Session>, i32> {
    Session::new()
        .map(Box::new)
        .map_err(|error| errno_of(&error))
}

/// One open through `session`.
pub(crate) fn session_open(
    session: &Session,
    pathname: &CStr,
    flags: i32,
    mode: u32,
) -> Result<OwnedFd, i32> {
    session
        .open_with_mode(path_of(pathname), flags, mode)
        .map_err(|error| errno_of(&error))
}

/// Runs `body` so that no panic unwinds into C: a descriptor, or `Err(errno)` (a panic is
/// [`ERRNO_INTERNAL`]).
pub(crate) fn guarded<T>(body: impl FnOnce() -> Result<T, i32>) -> Result<T, i32> {
    // The closures hold only borrowed C input and a session whose state survives a panic (its
    // lock recovers from poisoning), so nothing half-changed is observed after the unwind.
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(Err(ERRNO_INTERNAL))
}

/// The C convention for a descriptor result: the descriptor, or -1 with `errno` set.
pub(crate) fn descriptor_or_errno(result: Result<OwnedFd, i32>) -> i32 {
    match result {
        Ok(fd) => fd.into_raw_fd(),
        Err(errno) => {
            nix::errno::Errno::set_raw(errno);
            -1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn helper_errors_map_to_the_documented_errnos() {
        let helper = PathBuf::from("/usr/libexec/openfile-helper");
        let path = PathBuf::from("/var/log/syslog");
        let cases = [
            (
                Error::HelperMissing {
                    helper: helper.clone(),
                },
                libc::ENOPKG,
            ),
            (
                Error::HelperNotStarted {
                    helper: helper.clone(),
                    source: io::Error::from_raw_os_error(libc::EACCES),
                },
                libc::ENOPKG,
            ),
            (
                Error::HelperCrashed {
                    helper: helper.clone(),
                    signal: libc::SIGSEGV,
                },
                libc::EPROTO,
            ),
            (
                Error::Protocol {
                    helper: helper.clone(),
                    detail: "garbage".to_owned(),
                },
                libc::EPROTO,
            ),
            (
                Error::PolicyRefused {
                    path: path.clone(),
                    helper: helper.clone(),
                    errno: libc::EACCES,
                },
                libc::EACCES,
            ),
            (
                Error::HelperNotPrivileged {
                    path: path.clone(),
                    helper,
                    errno: libc::EPERM,
                },
                libc::EPERM,
            ),
            (
                Error::Os {
                    path: path.clone(),
                    errno: libc::ENOENT,
                },
                libc::ENOENT,
            ),
            (Error::InvalidPath { path }, libc::EINVAL),
            (
                Error::Local {
                    context: "socketpair",
                    source: io::Error::from_raw_os_error(libc::EMFILE),
                },
                libc::EMFILE,
            ),
        ];
        for (error, errno) in cases {
            assert_eq!(errno_of(&error), errno, "{error:?}");
            // The same error as the Rust my_open returns it (an io::Error) maps the same way.
            assert_eq!(errno_of_io(&io::Error::from(error)), errno);
        }
    }

    #[test]
    fn a_panic_becomes_eio_and_does_not_unwind() {
        let result: Result<OwnedFd, i32> = guarded(|| panic!("a bug inside libmyopen"));
        assert_eq!(result.unwrap_err(), ERRNO_INTERNAL);
        assert_eq!(descriptor_or_errno(Err(ERRNO_INTERNAL)), -1);
        assert_eq!(nix::errno::Errno::last_raw(), libc::EIO);
    }
}
