//! The one-shot client: one helper process per open, as in UNIX Network Programming §15.7.

use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};

use crate::error::Error;
use crate::fdpass::recv_with_fds;
use crate::wire::{self, STATUS_OPENED};

/// The environment variable that chooses which helper binary the library spawns.
///
/// Safe to honour from the environment of an ordinary program: the helper, not the client,
/// enforces the policy, and a helper the user picked runs with only the user's own rights. A
/// set-user-ID, set-group-ID or capability-holding program (the kernel's `AT_SECURE`) ignores
/// it, as secure_getenv(3) would: there a helper the caller named would run with the program's
/// privilege.
pub const HELPER_ENV: &str = "MYOPEN_HELPER";

/// Where `make install` put the helper, fixed when the library was built.
const LIBEXECDIR: &str = match option_env!("MYOPEN_LIBEXECDIR") {
    Some(dir) => dir,
    None => "/usr/libexec",
};

/// The helper path built into this library: `$MYOPEN_LIBEXECDIR/openfile-helper`.
pub fn default_helper_path() -> PathBuf {
    Path::new(LIBEXECDIR).join("openfile-helper")
}

/// A helper program to open files through.
///
/// ```no_run
/// let helper = myopen::Helper::at("/usr/libexec/openfile-helper");
/// let fd = helper.open("/var/log/auth.log", libc::O_RDONLY)?;
/// # Ok::<(), myopen::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Helper {
    program: PathBuf,
}

impl Helper {
    /// The helper named by `MYOPEN_HELPER`, or else the built-in default. The variable is
    /// ignored in a set-ID or capability-holding program (see [`HELPER_ENV`]).
    pub fn from_env() -> Helper {
        match crate::sys::secure_env_var(HELPER_ENV) {
            Some(path) => Helper::at(path),
            None => Helper::at(default_helper_path()),
        }
    }

    /// The helper at `program`.
    pub fn at(program: impl Into<PathBuf>) -> Helper {
        Helper {
            program: program.into(),
        }
    }

    /// The helper program's path.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Opens `path` with `open(2)` `flags` through one run of the helper.
    ///
    /// The helper inherits exactly its end of a fresh socket pair (as its standard input, so the
    /// socket argument is `0`) and the caller's standard output and error. It is always reaped
    /// before this returns, also when the caller ignores `SIGCHLD`.
    pub fn open(&self, path: impl AsRef<Path>, flags: i32) -> Result<OwnedFd, Error> {
        let path = path.as_ref();
        if path.as_os_str().as_bytes().contains(&0) {
            return Err(Error::InvalidPath {
                path: path.to_owned(),
            });
        }
        let args = wire::one_shot_args(0, path.as_os_str(), flags);
        let (ours, mut child) = self.start(SockType::Stream, &args)?;
        let mut status_byte = [0u8; 1];
        let received = recv_with_fds(&ours, &mut status_byte, 1);
        drop(ours);
        let exit = wait_for(&mut child);

        let received = received.map_err(|source| Error::Local {
            context: "receiving from the helper",
            source,
        })?;
        let exit = exit?;
        self.interpret(
            path,
            received.bytes,
            status_byte[0],
            received.fds,
            received.discarded_fds,
            exit,
        )
    }

    /// Starts the helper with `args`, its end of a fresh socket pair of type `kind` as its
    /// standard input (so the socket argument is `0`); returns our end and the child.
    pub(crate) fn start(
        &self,
        kind: SockType,
        args: &[impl AsRef<OsStr>],
    ) -> Result<(OwnedFd, Child), Error> {
        let (ours, theirs) = socketpair(AddressFamily::Unix, kind, None, SockFlag::SOCK_CLOEXEC)
            .map_err(|errno| Error::Local {
                context: "socketpair",
                source: errno.into(),
            })?;
        let mut command = Command::new(&self.program);
        command.args(args).stdin(Stdio::from(theirs));
        let spawned = command.spawn();
        // The Command owns our copy of the helper's socket end; it must be closed now, or the
        // helper's exit would never show up as end-of-file on our end.
        drop(command);
        let child = spawned.map_err(|source| self.spawn_error(source))?;
        Ok((ours, child))
    }

    fn spawn_error(&self, source: io::Error) -> Error {
        match source.kind() {
            io::ErrorKind::NotFound => Error::HelperMissing {
                helper: self.program.clone(),
            },
            _ => Error::HelperNotStarted {
                helper: self.program.clone(),
                source,
            },
        }
    }

    /// Whether the helper binary is installed to run with privilege: setuid root, or carrying
    /// file capabilities, on a file system mounted without `nosuid`. Read from the file, so it
    /// says what an exec would give, not what a running helper holds.
    pub fn is_installed_privileged(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        let Ok(metadata) = std::fs::metadata(&self.program) else {
            return false;
        };
        let setuid_root = metadata.mode() & libc::S_ISUID != 0 && metadata.uid() == 0;
        let nosuid = nix::sys::statvfs::statvfs(&self.program)
            .map(|stat| stat.flags().contains(nix::sys::statvfs::FsFlags::ST_NOSUID))
            .unwrap_or(true);
        !nosuid && (setuid_root || crate::sys::has_file_capabilities(&self.program))
    }

    fn interpret(
        &self,
        path: &Path,
        bytes: usize,
        status: u8,
        mut fds: Vec<OwnedFd>,
        discarded_fds: usize,
        exit: Option<ExitStatus>,
    ) -> Result<OwnedFd, Error> {
        let protocol = |detail: String| Error::Protocol {
            helper: self.program.clone(),
            detail,
        };
        if discarded_fds > 0 {
            return Err(protocol(format!(
                "sent {} descriptors, expected at most 1",
                fds.len() + discarded_fds
            )));
        }
        if bytes == 0 {
            // No reply: the book's helper reports failure by exit status alone.
            return match exit {
                Some(status) if status.signal().is_some() => Err(Error::HelperCrashed {
                    helper: self.program.clone(),
                    signal: status.signal().unwrap_or_default(),
                }),
                Some(status) => match status.code() {
                    Some(0) | None => Err(protocol("exited without answering".to_owned())),
                    Some(errno) => Err(self.refusal(path, errno)),
                },
                None => Err(protocol("closed the socket without answering".to_owned())),
            };
        }
        match (status, fds.pop()) {
            (STATUS_OPENED, Some(fd)) => Ok(fd),
            (STATUS_OPENED, None) => Err(protocol(
                "reported success but passed no descriptor".to_owned(),
            )),
            (errno, None) => Err(self.refusal(path, i32::from(errno))),
            (errno, Some(_unexpected)) => Err(protocol(format!(
                "reported errno {errno} but passed a descriptor (closed)"
            ))),
        }
    }
}

impl Helper {
    /// A one-shot reply carries only the errno: `EACCES` from a privileged helper is its policy
    /// speaking; `EACCES` or `EPERM` from an unprivileged one means it could not help.
    fn refusal(&self, path: &Path, errno: i32) -> Error {
        let (path, helper) = (path.to_owned(), self.program.clone());
        match errno {
            libc::EACCES | libc::EPERM if !self.is_installed_privileged() => {
                Error::HelperNotPrivileged {
                    path,
                    helper,
                    errno,
                }
            }
            libc::EACCES => Error::PolicyRefused {
                path,
                helper,
                errno,
            },
            _ => Error::Os { path, errno },
        }
    }
}

/// Reaps the helper. `None` when the status cannot be known because the caller set `SIGCHLD` to
/// `SIG_IGN` (the kernel reaps the child itself and `waitpid` fails with `ECHILD`).
fn wait_for(child: &mut Child) -> Result<Option<ExitStatus>, Error> {
    match child.wait() {
        Ok(status) => Ok(Some(status)),
        Err(error) if error.raw_os_error() == Some(libc::ECHILD) => Ok(None),
        Err(source) => Err(Error::Local {
            context: "waiting for the helper",
            source,
        }),
    }
}

/// Opens `path` with `open(2)` `flags` through `myopend` when a daemon answers at its socket
/// (`MYOPEN_SOCKET`, or the built-in one; `MYOPEN_SOCKET=none` turns it off), else through one
/// run of the helper, the book's `my_open`.
///
/// The helper is `MYOPEN_HELPER` if set (and the program is not set-ID or capability-holding),
/// else the one built in. A failure the helper reports
/// keeps its errno in [`io::Error::raw_os_error`]; a missing or crashed helper is an error whose
/// message names the helper.
///
/// ```no_run
/// use std::io::Read;
/// let fd = myopen::my_open("/var/log/syslog", libc::O_RDONLY)?;
/// let mut text = String::new();
/// std::fs::File::from(fd).read_to_string(&mut text)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn my_open(path: impl AsRef<Path>, flags: i32) -> io::Result<OwnedFd> {
    crate::session::open_once(
        crate::Daemon::from_env().as_ref(),
        &Helper::from_env(),
        path.as_ref(),
        flags,
        0o666,
    )
    .map_err(io::Error::from)
}
