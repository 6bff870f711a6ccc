//! The library's error type: what went wrong, and with which path and helper.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why an open through the helper failed.
///
/// Converts into [`io::Error`] so that `?` works in `io::Result` code: a failure reported by the
/// helper keeps its errno ([`io::Error::raw_os_error`]), so callers can match on `EACCES` or
/// `ENOENT` exactly as they would after `open(2)`.
///
/// ```
/// use myopen::{Error, Helper};
///
/// match Helper::at("/nonexistent/openfile-helper").open("/etc/shadow", libc::O_RDONLY) {
///     Err(Error::HelperMissing { helper }) => assert!(helper.ends_with("openfile-helper")),
///     other => panic!("{other:?}"),
/// }
/// // As an io::Error the missing helper is not mistaken for a missing file:
/// let error: std::io::Error = Helper::at("/nonexistent/h").open("/x", 0).unwrap_err().into();
/// assert_eq!(error.raw_os_error(), None);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The helper ran and reported `errno` for `path` (including `EACCES` for a policy refusal).
    Os {
        /// The path that was asked for.
        path: PathBuf,
        /// The errno the helper reported.
        errno: i32,
    },
    /// The helper refused by policy (`errno` is `EACCES`).
    PolicyRefused {
        /// The path that was asked for.
        path: PathBuf,
        /// The helper program.
        helper: PathBuf,
        /// The errno the caller sees.
        errno: i32,
    },
    /// The helper holds no privilege, so it could do no more than the caller's own rights, which
    /// were not enough (`errno` is `EACCES` or `EPERM`).
    HelperNotPrivileged {
        /// The path that was asked for.
        path: PathBuf,
        /// The helper program.
        helper: PathBuf,
        /// The errno the caller sees.
        errno: i32,
    },
    /// The helper program does not exist at `helper`.
    HelperMissing {
        /// Where the helper was looked for.
        helper: PathBuf,
    },
    /// The helper exists but could not be started (not executable, a bad interpreter, ...).
    HelperNotStarted {
        /// The helper program.
        helper: PathBuf,
        /// What `exec` said.
        source: io::Error,
    },
    /// The helper was killed by a signal before it answered.
    HelperCrashed {
        /// The helper program.
        helper: PathBuf,
        /// The signal number.
        signal: i32,
    },
    /// The helper answered something the protocol does not allow.
    Protocol {
        /// The helper program.
        helper: PathBuf,
        /// What was wrong with the answer.
        detail: String,
    },
    /// A daemon socket exists but no daemon session could be had on it: the connection failed
    /// (other than "no socket" or "nobody listening", which fall back to the helper), or the
    /// connection ended before the daemon's hello.
    DaemonUnreachable {
        /// The daemon's socket.
        socket: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The daemon answered and refused to serve this connection (`EUSERS`: too many
    /// connections of this user; `EAGAIN`: every worker busy; `EPERM`: it serves nobody).
    DaemonRefused {
        /// The daemon's socket.
        socket: PathBuf,
        /// Why, as an errno.
        errno: i32,
    },
    /// The path cannot be sent to the helper at all (it contains a NUL byte).
    InvalidPath {
        /// The path that was asked for.
        path: PathBuf,
    },
    /// A system call on the library's own side failed (socketpair, receive, wait).
    Local {
        /// What the library was doing.
        context: &'static str,
        /// The underlying error, with its errno.
        source: io::Error,
    },
}

impl Error {
    /// The errno for this error, when there is one the caller can act on like `open(2)`'s.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Os { errno, .. }
            | Error::PolicyRefused { errno, .. }
            | Error::HelperNotPrivileged { errno, .. }
            | Error::DaemonRefused { errno, .. } => Some(*errno),
            Error::Local { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Os { path, errno } => {
                write!(f, "{}: {}", path.display(), strerror(*errno))
            }
            Error::PolicyRefused { path, errno, .. } => {
                write!(f, "{}: {} (policy)", path.display(), strerror(*errno))
            }
            Error::HelperNotPrivileged {
                path,
                helper,
                errno,
            } => write!(
                f,
                "{}: {} (helper {} is not installed setuid root or with file capabilities)",
                path.display(),
                strerror(*errno),
                helper.display()
            ),
            Error::HelperMissing { helper } => write!(
                f,
                "helper {} not found and no myopend answers at {}: start the daemon \
                 (`systemctl start myopen.socket`) or point MYOPEN_SOCKET at its socket, or \
                 install the helper (`make install` from the myopen sources) or point \
                 MYOPEN_HELPER (or mycat --helper) at an installed openfile-helper",
                helper.display(),
                crate::daemon::socket_in_use().display()
            ),
            Error::HelperNotStarted { helper, source } => {
                write!(
                    f,
                    "helper {} could not be started: {}",
                    helper.display(),
                    strip_os_error(source)
                )
            }
            Error::HelperCrashed { helper, signal } => {
                write!(
                    f,
                    "helper {} was killed by signal {signal} before answering",
                    helper.display()
                )
            }
            Error::Protocol { helper, detail } => {
                write!(
                    f,
                    "helper {} broke the protocol: {detail}",
                    helper.display()
                )
            }
            Error::DaemonUnreachable { socket, source } => write!(
                f,
                "daemon socket {}: no session: {}",
                socket.display(),
                strip_os_error(source)
            ),
            Error::DaemonRefused { socket, errno } => write!(
                f,
                "myopend at {} refused the connection: {}{}",
                socket.display(),
                strerror(*errno),
                match *errno {
                    libc::EUSERS => " (this user holds too many connections)",
                    libc::EAGAIN => " (every worker is busy)",
                    _ => "",
                }
            ),
            Error::InvalidPath { path } => {
                write!(f, "{}: path contains a NUL byte", path.display())
            }
            Error::Local { context, source } => write!(f, "{context}: {}", strip_os_error(source)),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::HelperNotStarted { source, .. }
            | Error::Local { source, .. }
            | Error::DaemonUnreachable { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    fn from(error: Error) -> io::Error {
        match error {
            Error::Os { errno, .. }
            | Error::PolicyRefused { errno, .. }
            | Error::HelperNotPrivileged { errno, .. } => io::Error::from_raw_os_error(errno),
            Error::DaemonRefused { errno, .. } => {
                io::Error::new(io::Error::from_raw_os_error(errno).kind(), error)
            }
            Error::Local { source, .. } => source,
            Error::InvalidPath { .. } => io::Error::new(io::ErrorKind::InvalidInput, error),
            Error::Protocol { .. } => io::Error::new(io::ErrorKind::InvalidData, error),
            other => io::Error::other(other),
        }
    }
}

/// The C library's text for `errno` ("No such file or directory"), as `cat` prints it. Taken
/// from strerror through std, because nix's own table words some differently ("I/O error" for
/// "Input/output error").
///
/// ```
/// assert_eq!(myopen::strerror(libc::ENOENT), "No such file or directory");
/// assert_eq!(myopen::strerror(libc::EIO), "Input/output error");
/// ```
pub fn strerror(errno: i32) -> String {
    let text = io::Error::from_raw_os_error(errno).to_string();
    match text.strip_suffix(&format!(" (os error {errno})")) {
        Some(bare) => bare.to_owned(),
        None => text,
    }
}

/// The message of an OS error without Rust's " (os error N)" suffix.
pub(crate) fn strip_os_error(error: &io::Error) -> String {
    match error.raw_os_error() {
        Some(errno) => strerror(errno),
        None => error.to_string(),
    }
}
