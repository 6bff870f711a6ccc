//! Reaching `myopend`, the setuid-free install mode: a root daemon on a `SOCK_SEQPACKET` socket
//! whose per-connection workers take the caller's identity from the kernel (`SO_PEERCRED`) and
//! speak the session protocol ([`crate::wire::session`]).

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, connect, socket};

use crate::error::Error;
use crate::fdpass::{recv_with_fds, send_with_fds};
use crate::wire::session::{HELLO_LEN, Hello, Reply, VERSION};

/// The environment variable that chooses the daemon's socket; `none` turns the daemon off for
/// the process (the helper is spawned as without a daemon).
///
/// Security-neutral like [`crate::HELPER_ENV`]: the daemon, not the client, enforces the policy,
/// and a socket the user picked is served by whoever listens there, with the user's own rights at
/// most. Ignored in a set-ID or capability-holding program (`AT_SECURE`).
pub const SOCKET_ENV: &str = "MYOPEN_SOCKET";

/// The value of [`SOCKET_ENV`] that turns the daemon off.
pub const SOCKET_OFF: &str = "none";

/// Where the daemon listens, fixed when the library was built.
const RUNSTATEDIR: &str = match option_env!("MYOPEN_RUNSTATEDIR") {
    Some(dir) => dir,
    None => "/run",
};

/// The daemon socket built into this library: `$MYOPEN_RUNSTATEDIR/myopen/socket`.
pub fn default_socket_path() -> PathBuf {
    Path::new(RUNSTATEDIR).join("myopen").join("socket")
}

/// The socket this process would ask, for messages: `MYOPEN_SOCKET` or the built-in one.
pub(crate) fn socket_in_use() -> PathBuf {
    Daemon::from_env().map_or_else(default_socket_path, |daemon| daemon.socket)
}

/// The `myopend` socket to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daemon {
    socket: PathBuf,
}

/// An open connection to a daemon worker, past its hello.
#[derive(Debug)]
pub(crate) struct DaemonConnection {
    pub(crate) socket: OwnedFd,
    pub(crate) privileged: bool,
    /// The first request went out with the connect ([`Daemon::connect`]): its reply is next.
    pub(crate) request_sent: bool,
}

/// Whether the daemon would judge this process as the user who runs it: not in secure-execution
/// mode, and its effective uid and gid are its real ones.
fn judged_as_its_user(secure_execution: bool, ids_are_real: bool) -> bool {
    !secure_execution && ids_are_real
}

impl Daemon {
    /// The daemon named by `MYOPEN_SOCKET`, or else the built-in socket; `None` when
    /// `MYOPEN_SOCKET=none`, and in a program whose effective ids are not its real ones (a
    /// set-ID program, or one that changed its effective ids): the daemon judges a connection by
    /// the effective ids the kernel records at connect, the helper by the real ids (P5), so
    /// such a program asking for its user's path must go through the helper, or it would be
    /// judged as itself (root, say). The variable is ignored in a set-ID or capability-holding
    /// program.
    pub fn from_env() -> Option<Daemon> {
        if !judged_as_its_user(crate::sys::secure_execution(), crate::sys::ids_are_real()) {
            return None;
        }
        match crate::sys::secure_env_var(SOCKET_ENV) {
            Some(value) if value == SOCKET_OFF => None,
            Some(path) => Some(Daemon::at(path)),
            None => Some(Daemon::at(default_socket_path())),
        }
    }

    /// The daemon listening at `socket`.
    pub fn at(socket: impl Into<PathBuf>) -> Daemon {
        Daemon {
            socket: socket.into(),
        }
    }

    /// The socket's path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Connects and reads the hello. `Ok(None)` when no daemon is there to answer: no socket
    /// file (`ENOENT`, `ENOTDIR`) or nobody listening on it (`ECONNREFUSED`, a stale socket), so
    /// the caller may spawn the helper instead. A daemon that is there but does not serve is an
    /// error: [`Error::DaemonRefused`] (it said why) or [`Error::DaemonUnreachable`].
    ///
    /// `first_request`, when given, is sent at once, before the hello arrives: a worker reads
    /// requests only after sending its hello, so the request waits in the socket while the
    /// worker becomes its peer, and the reply follows the hello with no round trip between
    /// (a connection for one open saves a wake-up of each side).
    ///
    /// A connection the daemon closes before its hello is made again, once: nothing was read
    /// on it (a request sent early included), and the listener can hand a connection to a
    /// worker it has not yet seen die (killed, or ending with the daemon, when socket
    /// activation starts the next one).
    pub(crate) fn connect(
        &self,
        first_request: Option<&[u8]>,
    ) -> Result<Option<DaemonConnection>, Error> {
        for _ in 0..2 {
            match self.connect_once(first_request)? {
                Answer::Served(connection) => return Ok(Some(connection)),
                Answer::Absent => return Ok(None),
                Answer::ClosedBeforeHello => continue,
            }
        }
        Err(Error::DaemonUnreachable {
            socket: self.socket.clone(),
            source: io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the daemon closed the connection before its hello, twice",
            ),
        })
    }

    fn connect_once(&self, first_request: Option<&[u8]>) -> Result<Answer, Error> {
        let unreachable = |source: io::Error| Error::DaemonUnreachable {
            socket: self.socket.clone(),
            source,
        };
        let socket = socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(|errno| unreachable(errno.into()))?;
        let address = UnixAddr::new(&self.socket).map_err(|errno| unreachable(errno.into()))?;
        loop {
            match connect(std::os::fd::AsRawFd::as_raw_fd(&socket), &address) {
                Ok(()) => break,
                Err(Errno::EINTR) => continue,
                Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ECONNREFUSED) => {
                    return Ok(Answer::Absent);
                }
                Err(errno) => return Err(unreachable(errno.into())),
            }
        }
        // A daemon that has already refused and closed this connection makes the send fail
        // (EPIPE): its refusal is still there to read, and the request is sent after a hello.
        let request_sent =
            first_request.is_some_and(|request| send_with_fds(&socket, request, &[]).is_ok());
        // One byte more than a hello, so that anything longer shows as not a hello.
        let mut first = [0u8; HELLO_LEN + 1];
        let received = match recv_with_fds(&socket, &mut first, 0) {
            Ok(received) => received,
            // Closed with the early request unread (a worker killed before its hello): the
            // kernel reports that as a reset rather than end-of-file. Nothing was read.
            Err(error) if request_sent && error.raw_os_error() == Some(libc::ECONNRESET) => {
                return Ok(Answer::ClosedBeforeHello);
            }
            Err(error) => return Err(unreachable(error)),
        };
        let first = &first[..received.bytes];
        if received.bytes == 0 {
            return Ok(Answer::ClosedBeforeHello);
        }
        if received.discarded_fds > 0 {
            return Err(unreachable(io::Error::new(
                io::ErrorKind::InvalidData,
                "the daemon sent a descriptor with its hello",
            )));
        }
        match (Hello::decode(first), Reply::decode(first, 0)) {
            (Some(hello), _) if hello.version == VERSION => Ok(Answer::Served(DaemonConnection {
                socket,
                privileged: hello.privileged,
                request_sent,
            })),
            (None, Ok(Reply::Refused { errno, .. })) => Err(Error::DaemonRefused {
                socket: self.socket.clone(),
                errno: i32::from(errno),
            }),
            _ => Err(unreachable(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("no session hello (protocol version {VERSION}): {first:?}"),
            ))),
        }
    }
}

/// What one connection attempt met.
enum Answer {
    Served(DaemonConnection),
    /// No daemon there to answer.
    Absent,
    ClosedBeforeHello,
}
