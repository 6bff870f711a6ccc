//! `Session`: one helper process serving many opens over one socket.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Child;
use std::sync::{Mutex, MutexGuard};

use nix::sys::socket::SockType;

use crate::daemon::{Daemon, DaemonConnection};
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
///
/// [`Session::new`] asks `myopend` first (the socket named by `MYOPEN_SOCKET`, or the built-in
/// one) and starts a helper only when no daemon answers there.
#[derive(Debug)]
pub struct Session {
    helper: Helper,
    route: Route,
    connection: Mutex<Option<Connection>>,
}

/// Whom a session connects to, each time it connects: one value, so that a session promised
/// the daemon alone always has a daemon to ask.
#[derive(Debug, Clone)]
enum Route {
    /// Its helper, never a daemon.
    Helper,
    /// The daemon when it answers, else the helper (every session but [`Daemon::open`]'s).
    DaemonOrHelper(Daemon),
    /// The daemon and nothing else: [`Daemon::open`]'s promise, also when a restart reply makes
    /// it connect again.
    DaemonAlone(Daemon),
}

impl Route {
    /// `daemon` first when there is one, else the helper.
    fn preferring(daemon: Option<Daemon>) -> Route {
        daemon.map_or(Route::Helper, Route::DaemonOrHelper)
    }

    fn daemon(&self) -> Option<&Daemon> {
        match self {
            Route::Helper => None,
            Route::DaemonOrHelper(daemon) | Route::DaemonAlone(daemon) => Some(daemon),
        }
    }
}

#[derive(Debug)]
struct Connection {
    socket: OwnedFd,
    /// The helper process; `None` for a daemon connection.
    child: Option<Child>,
    /// The process that started the helper: only it may use or reap it.
    owner: u32,
    privileged: bool,
}

impl Session {
    /// Starts a session with the daemon ([`Daemon::from_env`]) when one answers, else with the
    /// helper named by `MYOPEN_HELPER`, or the built-in one.
    pub fn new() -> Result<Session, Error> {
        Session::with_daemon(Daemon::from_env(), Helper::from_env())
    }

    /// Starts a session with `helper` (never the daemon). The helper is started now, so a missing
    /// or broken helper is reported here rather than on the first open.
    pub fn with_helper(helper: Helper) -> Result<Session, Error> {
        Session::with_daemon(None, helper)
    }

    /// Starts a session with `daemon` when it answers, else with `helper`; connected now.
    pub fn with_daemon(daemon: Option<Daemon>, helper: Helper) -> Result<Session, Error> {
        let (connection, _) = Connection::start(daemon.as_ref(), &helper, None)?;
        Ok(Session {
            helper,
            route: Route::preferring(daemon),
            connection: Mutex::new(Some(connection)),
        })
    }

    /// [`Session::deferred`], asking `daemon` first when the first open needs it.
    pub fn deferred_with_daemon(daemon: Option<Daemon>, helper: Helper) -> Session {
        Session {
            helper,
            route: Route::preferring(daemon),
            connection: Mutex::new(None),
        }
    }

    /// A session with `helper` that starts it only when the first open needs it: for callers
    /// that may never need the helper at all (such as `mycat`, which tries the caller's own
    /// rights first).
    pub fn deferred(helper: Helper) -> Session {
        Session::deferred_with_daemon(None, helper)
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
        self.lock()
            .as_ref()
            .and_then(|connection| connection.child.as_ref())
            .map(Child::id)
    }

    /// Whether the session is connected to `myopend` (rather than a helper of its own);
    /// `None` when nothing is connected at the moment.
    pub fn through_daemon(&self) -> Option<bool> {
        self.lock()
            .as_ref()
            .map(|connection| connection.child.is_none())
    }

    /// Opens `path` with `open(2)` `flags`; a file it creates gets mode 0o666 less the umask.
    pub fn open(&self, path: impl AsRef<Path>, flags: i32) -> Result<OwnedFd, Error> {
        self.open_with_mode(path.as_ref(), flags, 0o666)
    }

    /// Opens `path` with `flags`, creating with `mode` (less the umask, never set-id bits).
    pub fn open_with_mode(&self, path: &Path, flags: i32, mode: u32) -> Result<OwnedFd, Error> {
        let request = Request::new(path, flags, mode)?;
        self.ask(path, &request, false)
    }

    /// Sends `request` (for `path`) and interprets the reply; `sent`: it went out already, with
    /// the connect that made this session's connection ([`Daemon::connect`]).
    fn ask(&self, path: &Path, request: &Request, mut sent: bool) -> Result<OwnedFd, Error> {
        let mut guard = self.lock();
        // A server that answers with the restart reply has ended the session, and a new one
        // gets the same request: once, so that no server can keep a caller in a loop. The new
        // server judges it afresh, under the policy it read at its own start.
        let mut restarted = false;
        loop {
            let me = std::process::id();
            if guard
                .as_ref()
                .is_some_and(|connection| connection.owner != me)
            {
                // Inherited through fork: the helper and its socket belong to the parent. Close
                // our copy of the socket and leave the child process alone; start our own.
                if let Some(inherited) = guard.take() {
                    std::mem::forget(inherited.child);
                }
            }
            if guard.is_none() {
                // A request that changes nothing goes out with the connect: the server reads it
                // after its hello.
                let early = request.early();
                let (connection, request_sent) = match &self.route {
                    Route::DaemonAlone(daemon) => Connection::to_daemon_alone(daemon, early)?,
                    route => Connection::start(route.daemon(), &self.helper, early)?,
                };
                *guard = Some(connection);
                sent = request_sent;
            }
            let Some(connection) = guard.as_mut() else {
                unreachable_none()
            };
            let server = self.server(connection);
            let reply = match std::mem::take(&mut sent) {
                true => connection.receive_reply(),
                false => connection.exchange(&request.packet),
            };
            match reply {
                Ok(Reply::Restart) => {
                    take_and_reap(&mut guard);
                    if restarted {
                        return Err(Error::Protocol {
                            helper: server,
                            detail: "the session was restarted for this request, and the new \
                                     server asked for a new session again; nothing was opened"
                                .to_owned(),
                        });
                    }
                    restarted = true;
                }
                Ok(reply) => return self.answer(&mut guard, server, path, reply),
                Err(Dead) => return Err(self.died(&mut guard, server)),
            }
        }
    }

    /// What `reply` from `server` means for `path`; a session the server ended is reaped.
    fn answer(
        &self,
        guard: &mut MutexGuard<'_, Option<Connection>>,
        server: std::path::PathBuf,
        path: &Path,
        reply: Reply,
    ) -> Result<OwnedFd, Error> {
        let privileged = guard.as_ref().is_some_and(|c| c.privileged);
        let ended = matches!(
            reply,
            Reply::Failed {
                origin: Origin::Request,
                ..
            }
        );
        if ended {
            // The helper ends a session after a request it could not parse.
            take_and_reap(guard);
        }
        interpret(server, path, reply, privileged)
    }

    /// The error for a server that went away during a request; its connection is reaped.
    fn died(
        &self,
        guard: &mut MutexGuard<'_, Option<Connection>>,
        server: std::path::PathBuf,
    ) -> Error {
        let through_daemon = guard.as_ref().is_some_and(|c| c.child.is_none());
        let status = take_and_reap(guard);
        if through_daemon {
            return Error::DaemonUnreachable {
                socket: server,
                source: std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "the daemon ended the session during a request; no descriptor came back",
                ),
            };
        }
        match status.and_then(|status| status.signal()) {
            Some(signal) => Error::HelperCrashed {
                helper: self.helper.program().to_owned(),
                signal,
            },
            None => Error::Protocol {
                helper: self.helper.program().to_owned(),
                detail: "the session helper went away during a request".to_owned(),
            },
        }
    }

    /// Who answers on `connection`: the daemon's socket, or the helper program.
    fn server(&self, connection: &Connection) -> std::path::PathBuf {
        match (&connection.child, self.route.daemon()) {
            (None, Some(daemon)) => daemon.socket().to_owned(),
            _ => self.helper.program().to_owned(),
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

/// What `reply` from `helper` (a helper program or the daemon's socket) means for `path`.
fn interpret(
    helper: std::path::PathBuf,
    path: &Path,
    reply: Reply,
    privileged: bool,
) -> Result<OwnedFd, Error> {
    {
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
            // Retried once already (Session::open_with_mode): what an older client would report.
            Reply::Restart => Err(Error::Os {
                path: path.to_owned(),
                errno: libc::ESTALE,
            }),
            Reply::Garbled(detail) => Err(Error::Protocol { helper, detail }),
        }
    }
}

/// This process's umask, which a file the request creates must honour. A helper inherits it and
/// applies it again (to no further effect), but a `myopend` worker cannot know it: so the mode
/// sent is filtered here. Read from /proc/self/status (Linux 4.7 and later), because umask(2)
/// can only be read by setting it, which would race with other threads creating files. Without
/// it, 0o077: the file is made owner-only (its owner may widen it), never wider than meant.
fn caller_umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with("Umask:"))?;
            u32::from_str_radix(line["Umask:".len()..].trim(), 8).ok()
        })
        .unwrap_or(0o077)
}

/// One open with `flags` (creating with `mode`) through `daemon` when it answers, else through
/// one run of `helper`: what [`crate::my_open`] and [`crate::OpenOptions`] do.
pub(crate) fn open_once(
    daemon: Option<&Daemon>,
    helper: &Helper,
    path: &Path,
    flags: i32,
    mode: u32,
) -> Result<OwnedFd, Error> {
    let Some(daemon) = daemon else {
        return helper.open(path, flags);
    };
    let route = Route::DaemonOrHelper(daemon.clone());
    match ask_daemon_first(daemon, route, helper.clone(), path, flags, mode)? {
        Some(fd) => Ok(fd),
        None => helper.open(path, flags),
    }
}

/// One open through a new connection to `daemon` (the session after it connecting by `route`);
/// `None` when no daemon is there to answer. Only a request that may go early is made before the
/// connect: any other waits until a daemon answered (so that an install without one pays
/// nothing for it, such as reading the umask), and one that cannot be made (a relative path
/// under a removed working directory, or too deep for an absolute name) is reported only once a
/// daemon is there, since the helper, which shares the working directory, may still open it.
fn ask_daemon_first(
    daemon: &Daemon,
    route: Route,
    helper: Helper,
    path: &Path,
    flags: i32,
    mode: u32,
) -> Result<Option<OwnedFd>, Error> {
    let early = goes_early(flags).then(|| Request::new(path, flags, mode));
    let packet = early
        .as_ref()
        .and_then(|request| request.as_ref().ok())
        .map(|request| request.packet.as_slice());
    let Some(connection) = daemon.connect(packet)? else {
        return Ok(None);
    };
    let request = match early {
        Some(request) => request?,
        None => Request::new(path, flags, mode)?,
    };
    let (session, request_sent) = Session::over(route, helper, connection);
    session.ask(path, &request, request_sent).map(Some)
}

/// Whether a request with `flags` changes nothing (read-only, neither creating nor truncating),
/// so that it may be sent with the connect: a server the client then turns away (another
/// protocol version, a hello that does not parse) may still read and carry it out, under its own
/// reading of the format, and what it opened is then closed unused.
fn goes_early(flags: i32) -> bool {
    flags & libc::O_ACCMODE == libc::O_RDONLY && flags & (libc::O_CREAT | libc::O_TRUNC) == 0
}

/// A session request ready to send, and whether it may go out before the server's hello.
struct Request {
    packet: Vec<u8>,
    /// [`goes_early`].
    changes_nothing: bool,
}

impl Request {
    fn new(path: &Path, flags: i32, mode: u32) -> Result<Request, Error> {
        Ok(Request {
            packet: request_packet(path, flags, mode)?,
            changes_nothing: goes_early(flags),
        })
    }

    /// The packet to send with the connect, if it may go early.
    fn early(&self) -> Option<&[u8]> {
        self.changes_nothing.then_some(self.packet.as_slice())
    }
}

/// The session request that opens `path` with `flags`, creating with `mode` less the umask: a
/// relative path made absolute, every check the server would make first made here.
fn request_packet(path: &Path, flags: i32, mode: u32) -> Result<Vec<u8>, Error> {
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
    // A relative path is sent whole: the session's server does not share this process's
    // working directory (myopend never does; a session helper keeps the one it started in,
    // whatever chdir happens here since).
    let absolute;
    let bytes = if bytes.starts_with(b"/") {
        bytes
    } else {
        let cwd = std::env::current_dir()
            .map_err(|error| os_error(error.raw_os_error().unwrap_or(libc::ENOENT)))?;
        absolute = cwd.join(path);
        absolute.as_os_str().as_bytes()
    };
    check_request(bytes, flags).map_err(|error| os_error(error.errno()))?;
    let mode = match flags & libc::O_CREAT {
        0 => mode,
        _ => mode & !caller_umask(),
    };
    Ok(SessionRequest {
        flags,
        mode,
        path: bytes,
    }
    .encode())
}

/// [`Daemon::open`]'s error when nothing listens at the daemon's socket.
fn daemon_not_listening(daemon: &Daemon) -> Error {
    Error::DaemonUnreachable {
        socket: daemon.socket().to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no daemon listens there"),
    }
}

impl Daemon {
    /// Opens `path` with `open(2)` `flags` through this daemon alone, over one connection; a
    /// daemon that is not there is [`Error::DaemonUnreachable`], never a helper.
    pub fn open(&self, path: impl AsRef<Path>, flags: i32) -> Result<OwnedFd, Error> {
        let route = Route::DaemonAlone(self.clone());
        ask_daemon_first(self, route, Helper::from_env(), path.as_ref(), flags, 0o666)?
            .ok_or_else(|| daemon_not_listening(self))
    }
}

impl Session {
    /// A session over a daemon connection already made, connecting by `route` after it.
    /// Whether the connect sent the first request already is the second value.
    fn over(route: Route, helper: Helper, connection: DaemonConnection) -> (Session, bool) {
        let (connection, request_sent) = Connection::over_daemon(connection);
        let session = Session {
            helper,
            route,
            connection: Mutex::new(Some(connection)),
        };
        (session, request_sent)
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
                let Connection { socket, child, .. } = connection;
                // End-of-file tells the helper the session is over; then reap it.
                drop(socket);
                if let Some(mut child) = child {
                    let _ = child.wait();
                }
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
    let Connection { socket, child, .. } = guard.take()?;
    drop(socket);
    child?.wait().ok()
}

enum Reply {
    Opened(OwnedFd),
    Failed {
        errno: i32,
        origin: Origin,
    },
    /// [`WireReply::restart`]: nothing opened, the session ended, a new one is to be asked.
    Restart,
    Garbled(String),
}

/// The helper vanished (end-of-file or a broken socket) in the middle of a request.
struct Dead;

impl Connection {
    /// A connection to `daemon`; one that is not there is [`Error::DaemonUnreachable`]. With
    /// `first_request` sent at once when given: whether it was is the second value.
    fn to_daemon_alone(
        daemon: &Daemon,
        first_request: Option<&[u8]>,
    ) -> Result<(Connection, bool), Error> {
        match daemon.connect(first_request)? {
            Some(connection) => Ok(Connection::over_daemon(connection)),
            None => Err(daemon_not_listening(daemon)),
        }
    }

    fn over_daemon(connection: DaemonConnection) -> (Connection, bool) {
        let request_sent = connection.request_sent;
        let connection = Connection {
            socket: connection.socket,
            child: None,
            owner: std::process::id(),
            privileged: connection.privileged,
        };
        (connection, request_sent)
    }

    /// A connection to `daemon` when one answers there, else a helper of its own; with
    /// `first_request` sent at once when given (either server reads requests only after its
    /// hello): whether it was is the second value.
    fn start(
        daemon: Option<&Daemon>,
        helper: &Helper,
        first_request: Option<&[u8]>,
    ) -> Result<(Connection, bool), Error> {
        if let Some(daemon) = daemon
            && let Some(connection) = daemon.connect(first_request)?
        {
            return Ok(Connection::over_daemon(connection));
        }
        let (ours, mut child) =
            helper.start(SockType::SeqPacket, &[OsStr::new(FLAG), OsStr::new("0")])?;
        // A helper that fails before its hello leaves it unread; the hello check below reports it.
        let request_sent =
            first_request.is_some_and(|request| send_with_fds(&ours, request, &[]).is_ok());

        let mut hello = [0u8; HELLO_LEN + 1];
        let received = recv_with_fds(&ours, &mut hello, 0);
        let hello = match received {
            Ok(received) if received.discarded_fds == 0 => Hello::decode(&hello[..received.bytes]),
            _ => None,
        };
        match hello {
            Some(hello) if hello.version == VERSION => Ok((
                Connection {
                    socket: ours,
                    child: Some(child),
                    owner: std::process::id(),
                    privileged: hello.privileged,
                },
                request_sent,
            )),
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
        self.receive_reply()
    }

    /// The reply to the request sent last.
    fn receive_reply(&mut self) -> Result<Reply, Dead> {
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
                (Ok(reply), _) if reply.is_restart() => Reply::Restart,
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
