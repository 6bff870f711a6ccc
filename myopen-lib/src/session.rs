//! `Session`: one helper process serving many opens over one socket.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Child;
use std::sync::{Mutex, MutexGuard};

use nix::sys::socket::SockType;

use crate::error::Error;
use crate::fdpass::{recv_with_fds, send_with_fds};
use crate::oneshot::Helper;
use crate::wire::check_request;
use crate::wire::session::{
    FLAG, HELLO_LEN, Hello, Origin, REPLY_LEN, Reply as WireReply, SessionRequest, VERSION,
};

/// A persistent helper: many opens, one process, one socket.
///
/// Every request gets every check a one-shot request gets (the helper loads the policy once, when
/// the session starts). Usable from many threads at once; requests are answered one at a time.
/// A helper that dies is reported on the request that was pending and replaced on the next one.
/// Dropping the session ends the helper and reaps it; if the client goes away first, the helper
/// sees end-of-file and exits by itself. A child that `fork`s off the process never talks to its
/// parent's helper: the session notices the new process id and starts a helper of its own.
///
/// ```no_run
/// let session = myopen::Session::new()?; // helper from MYOPEN_HELPER, or the installed one
/// for path in ["/var/log/syslog", "/var/log/auth.log"] {
///     let file = std::fs::File::from(session.open(path, libc::O_RDONLY)?);
///     println!("{path}: {} bytes", file.metadata()?.len());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Session {
    helper: Helper,
    connection: Mutex<Option<Connection>>,
}

#[derive(Debug)]
struct Connection {
    socket: OwnedFd,
    child: Child,
    /// The process that started the helper: only it may use or reap it.
    owner: u32,
    privileged: bool,
}

impl Session {
    /// Starts a session with the helper named by `MYOPEN_HELPER`, or the built-in one.
    pub fn new() -> Result<Session, Error> {
        Session::with_helper(Helper::from_env())
    }

    /// Starts a session with `helper`. The helper is started now, so a missing or broken helper
    /// is reported here rather than on the first open.
    pub fn with_helper(helper: Helper) -> Result<Session, Error> {
        let connection = Connection::start(&helper)?;
        Ok(Session {
            helper,
            connection: Mutex::new(Some(connection)),
        })
    }

    /// A session with `helper` that starts it only when the first open needs it: for callers
    /// that may never need the helper at all (such as `mycat`, which tries the caller's own
    /// rights first).
    pub fn deferred(helper: Helper) -> Session {
        Session {
            helper,
            connection: Mutex::new(None),
        }
    }

    /// The helper program.
    pub fn helper(&self) -> &Helper {
        &self.helper
    }

    /// Whether the running helper holds privilege (and so enforces the policy); `None` when no
    /// helper is running at the moment.
    pub fn helper_is_privileged(&self) -> Option<bool> {
        self.lock().as_ref().map(|connection| connection.privileged)
    }

    /// The process id of the running helper, if one is running; for diagnostics.
    pub fn helper_pid(&self) -> Option<u32> {
        self.lock().as_ref().map(|connection| connection.child.id())
    }

    /// Opens `path` with `open(2)` `flags`; a file it creates gets mode 0o666 less the umask.
    pub fn open(&self, path: impl AsRef<Path>, flags: i32) -> Result<OwnedFd, Error> {
        self.open_with_mode(path.as_ref(), flags, 0o666)
    }

    /// Opens `path` with `flags`, creating with `mode` (less the umask, never set-id bits).
    pub fn open_with_mode(&self, path: &Path, flags: i32, mode: u32) -> Result<OwnedFd, Error> {
        let bytes = path.as_os_str().as_bytes();
        if bytes.contains(&0) {
            return Err(Error::InvalidPath {
                path: path.to_owned(),
            });
        }
        let os_error = |errno| Error::Os {
            path: path.to_owned(),
            errno,
        };
        check_request(bytes, flags).map_err(|error| os_error(error.errno()))?;
        let packet = SessionRequest {
            flags,
            mode,
            path: bytes,
        }
        .encode();

        let mut guard = self.lock();
        let me = std::process::id();
        if guard
            .as_ref()
            .is_some_and(|connection| connection.owner != me)
        {
            // Inherited through fork: the helper and its socket belong to the parent. Close our
            // copy of the socket and leave the child process alone; start our own.
            if let Some(inherited) = guard.take() {
                std::mem::forget(inherited.child);
            }
        }
        if guard.is_none() {
            *guard = Some(Connection::start(&self.helper)?);
        }
        let Some(connection) = guard.as_mut() else {
            unreachable_none()
        };
        match connection.exchange(&packet) {
            Ok(reply) => {
                let privileged = connection.privileged;
                let ended = matches!(
                    reply,
                    Reply::Failed {
                        origin: Origin::Request,
                        ..
                    }
                );
                if ended {
                    // The helper ends a session after a request it could not parse.
                    take_and_reap(&mut guard);
                }
                self.interpret(path, reply, privileged)
            }
            Err(Dead) => {
                let status = take_and_reap(&mut guard);
                Err(match status.and_then(|status| status.signal()) {
                    Some(signal) => Error::HelperCrashed {
                        helper: self.helper.program().to_owned(),
                        signal,
                    },
                    None => Error::Protocol {
                        helper: self.helper.program().to_owned(),
                        detail: "the session helper went away during a request".to_owned(),
                    },
                })
            }
        }
    }

    fn interpret(&self, path: &Path, reply: Reply, privileged: bool) -> Result<OwnedFd, Error> {
        let helper = self.helper.program().to_owned();
        match reply {
            Reply::Opened(fd) => Ok(fd),
            Reply::Failed {
                errno,
                origin: Origin::Policy,
            } => Err(Error::PolicyRefused {
                path: path.to_owned(),
                helper,
                errno,
            }),
            Reply::Failed { errno, .. }
                if !privileged && matches!(errno, libc::EACCES | libc::EPERM) =>
            {
                Err(Error::HelperNotPrivileged {
                    path: path.to_owned(),
                    helper,
                    errno,
                })
            }
            Reply::Failed { errno, .. } => Err(Error::Os {
                path: path.to_owned(),
                errno,
            }),
            Reply::Garbled(detail) => Err(Error::Protocol { helper, detail }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Connection>> {
        // A panic in another thread while it held the lock leaves nothing half-done that matters:
        // at worst a connection whose reply was not read, which the next exchange detects.
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `guard` was just filled in; this is never reached.
fn unreachable_none() -> ! {
    unreachable!("the connection was started above")
}

impl Drop for Session {
    fn drop(&mut self) {
        let mut guard = self.lock();
        match guard.take() {
            Some(connection) if connection.owner == std::process::id() => {
                let Connection {
                    socket, mut child, ..
                } = connection;
                // End-of-file tells the helper the session is over; then reap it.
                drop(socket);
                let _ = child.wait();
            }
            Some(inherited) => std::mem::forget(inherited.child),
            None => {}
        }
    }
}

/// Removes the connection and reaps its helper; the exit status, if it could be had.
fn take_and_reap(
    guard: &mut MutexGuard<'_, Option<Connection>>,
) -> Option<std::process::ExitStatus> {
    let Connection {
        socket, mut child, ..
    } = guard.take()?;
    drop(socket);
    child.wait().ok()
}

enum Reply {
    Opened(OwnedFd),
    Failed { errno: i32, origin: Origin },
    Garbled(String),
}

/// The helper vanished (end-of-file or a broken socket) in the middle of a request.
struct Dead;

impl Connection {
    fn start(helper: &Helper) -> Result<Connection, Error> {
        let (ours, mut child) =
            helper.start(SockType::SeqPacket, &[OsStr::new(FLAG), OsStr::new("0")])?;

        let mut hello = [0u8; HELLO_LEN + 1];
        let received = recv_with_fds(&ours, &mut hello, 0);
        let hello = match received {
            Ok(received) if received.discarded_fds == 0 => Hello::decode(&hello[..received.bytes]),
            _ => None,
        };
        match hello {
            Some(hello) if hello.version == VERSION => Ok(Connection {
                socket: ours,
                child,
                owner: std::process::id(),
                privileged: hello.privileged,
            }),
            _ => {
                drop(ours);
                let _ = child.kill();
                let status = child.wait().ok();
                Err(match status.and_then(|status| status.signal()) {
                    Some(signal) if signal != libc::SIGKILL => Error::HelperCrashed {
                        helper: helper.program().to_owned(),
                        signal,
                    },
                    _ => Error::Protocol {
                        helper: helper.program().to_owned(),
                        detail: format!(
                            "no session hello (protocol version {VERSION}): does it support {FLAG}?"
                        ),
                    },
                })
            }
        }
    }

    fn exchange(&mut self, packet: &[u8]) -> Result<Reply, Dead> {
        send_with_fds(&self.socket, packet, &[]).map_err(|_| Dead)?;
        let mut reply = [0u8; REPLY_LEN + 1];
        let received = recv_with_fds(&self.socket, &mut reply, 1).map_err(|_| Dead)?;
        if received.bytes == 0 {
            return Err(Dead);
        }
        if received.discarded_fds > 0 {
            return Ok(Reply::Garbled(
                "more than one descriptor in a reply".to_owned(),
            ));
        }
        let mut fds = received.fds;
        Ok(
            match (
                WireReply::decode(&reply[..received.bytes], fds.len()),
                fds.pop(),
            ) {
                (Ok(WireReply::Opened), Some(fd)) => Reply::Opened(fd),
                (Ok(WireReply::Refused { errno, origin }), _) => Reply::Failed {
                    errno: i32::from(errno),
                    origin,
                },
                (Ok(WireReply::Opened), None) => {
                    Reply::Garbled("opened without a descriptor".into())
                }
                (Err(garbled), _) => Reply::Garbled(garbled),
            },
        )
    }
}
