//! `myopend`: the setuid-free install mode. A root daemon in the foreground (systemd's way) on an
//! `AF_UNIX` `SOCK_SEQPACKET` socket, socket-activated (`LISTEN_FDS`/`LISTEN_PID`) or bound by
//! itself at `$MYOPEN_RUNSTATEDIR/myopen/socket`.
//!
//! The listener never reads from a client. It keeps a few pre-forked idle workers, accepts a
//! connection, hands its descriptor to an idle worker over that worker's socket pair, and forks a
//! replacement once that connection's set-up is out of the way ([`replenish_now`]). A worker
//! serves exactly one connection: it takes the peer's identity from the kernel (`SO_PEERCRED`,
//! `SO_PEERGROUPS`), becomes the peer ([`WaitingWorker::become_peer`]: the state the setuid
//! helper reaches), then runs the helper's own session loop ([`session::serve_session`]) with
//! the same [`Service`], and exits when the client goes away, after an idle timeout, or when the
//! listener shuts down.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use myopen::fdpass::{recv_with_fds, send_with_fds};
use myopen::wire::session::{Origin, Reply};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, UnixAddr, accept4, bind, connect, getsockopt,
    listen, socket, socketpair, sockopt,
};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, geteuid};

use crate::audit::DaemonPeer;
use crate::fence;
use crate::hardening;
use crate::policy::Identity;
use crate::privilege::{ListenerPrivilege, Peer, WaitingWorker};
use crate::reply::ReplySocket;
use crate::service::{Armed, NotServing, Service};
use crate::session;
use crate::sys;

/// The name the daemon's messages go out under.
const PROGRAM: &str = "myopend";

const USAGE: &str = "usage: myopend [--socket PATH] [--pool N] [--per-uid N] [--max-workers N] \
    [--idle-timeout SECONDS]\n       myopend --help | --version";

/// What the administrator may tune; the defaults are the documented ones (myopend(8)).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Settings {
    /// Where to bind when not socket-activated.
    socket: PathBuf,
    /// Idle workers kept forked.
    pool: usize,
    /// Concurrent connections one uid may hold; beyond, a refusal (`EUSERS`).
    per_uid: usize,
    /// Connections served at once, all uids together; beyond, a refusal (`EAGAIN`).
    max_workers: usize,
    /// A connection that sends nothing for this long is closed.
    idle_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            socket: myopen::daemon::default_socket_path(),
            pool: 4,
            per_uid: 64,
            max_workers: 1024,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Serve(Settings),
    Help,
    Version,
    Usage(String),
}

impl Command {
    /// Parses argv without the program name: a fixed, small grammar, so no parser crate.
    fn parse(args: &[OsString]) -> Command {
        let mut settings = Settings::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let arg = arg.as_bytes();
            match arg {
                b"--help" => return Command::Help,
                b"--version" => return Command::Version,
                b"--socket" | b"--pool" | b"--per-uid" | b"--max-workers" | b"--idle-timeout" => {
                    let name = String::from_utf8_lossy(arg).into_owned();
                    let Some(value) = args.next() else {
                        return Command::Usage(format!("{name} needs a value"));
                    };
                    if arg == b"--socket" {
                        if !value.as_bytes().starts_with(b"/") {
                            return Command::Usage("--socket needs an absolute path".to_owned());
                        }
                        settings.socket = PathBuf::from(value);
                        continue;
                    }
                    let Some(number) = myopen::wire::parse_decimal(value.as_bytes())
                        .and_then(|number| usize::try_from(number).ok())
                    else {
                        return Command::Usage(format!("{name} needs a decimal number"));
                    };
                    match arg {
                        b"--pool" => settings.pool = number,
                        b"--per-uid" if number > 0 => settings.per_uid = number,
                        b"--max-workers" if number > 0 => settings.max_workers = number,
                        b"--idle-timeout" if number > 0 => {
                            settings.idle_timeout = Duration::from_secs(number as u64)
                        }
                        _ => return Command::Usage(format!("{name} must be at least 1")),
                    }
                }
                _ => {
                    return Command::Usage(format!(
                        "unknown argument {:?}",
                        String::from_utf8_lossy(arg)
                    ));
                }
            }
        }
        Command::Serve(settings)
    }
}

/// `myopend: <line>` on stderr (the journal, under systemd).
fn log(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{PROGRAM}: {line}");
}

/// The daemon's entry point: runs the command line `args` and returns the exit status.
pub fn main(args: &[OsString]) -> u8 {
    std::panic::set_hook(Box::new(|_| std::process::abort()));
    let settings = match Command::parse(args) {
        Command::Serve(settings) => settings,
        Command::Help => {
            println!("{USAGE}");
            return 0;
        }
        Command::Version => {
            println!("myopend {}", env!("CARGO_PKG_VERSION"));
            return 0;
        }
        Command::Usage(why) => {
            log(&format!("{why}\n{USAGE}"));
            return 2;
        }
    };
    // Read before hardening clears the environment.
    let activation = activated_socket();
    let keep = match &activation {
        Ok(Some(raw)) => vec![*raw],
        _ => Vec::new(),
    };
    if let Err(errno) = hardening::harden(&keep) {
        log(&format!(
            "start-up hardening failed: {}",
            myopen::strerror(errno as i32)
        ));
        return 1;
    }
    match run(&settings, activation) {
        Ok(()) => 0,
        Err(why) => {
            log(&why);
            1
        }
    }
}

/// The socket systemd passed (`LISTEN_PID` is this process, `LISTEN_FDS=1`: descriptor 3), if
/// any. Written by hand rather than with a crate: a dozen lines, and the daemon runs as root.
fn activated_socket() -> Result<Option<RawFd>, String> {
    let (Some(pid), Some(count)) = (
        std::env::var_os("LISTEN_PID"),
        std::env::var_os("LISTEN_FDS"),
    ) else {
        return Ok(None);
    };
    if myopen::wire::parse_decimal(pid.as_bytes()) != Some(std::process::id()) {
        return Ok(None);
    }
    match myopen::wire::parse_decimal(count.as_bytes()) {
        Some(1) => Ok(Some(3)),
        _ => Err(format!(
            "socket activation passed LISTEN_FDS={}: myopend takes exactly one SOCK_SEQPACKET \
             socket",
            count.to_string_lossy()
        )),
    }
}

fn run(settings: &Settings, activation: Result<Option<RawFd>, String>) -> Result<(), String> {
    if !geteuid().is_root() {
        return Err("must run as root (it switches to each caller's credentials)".to_owned());
    }
    let privilege = ListenerPrivilege::prepare()?;
    let listener = match activation? {
        Some(raw) => adopt_listener(raw)?,
        None => bind_listener(&settings.socket)?,
    };
    nix::fcntl::fcntl(
        &listener,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .map_err(|errno| format!("listening socket: O_NONBLOCK: {errno}"))?;

    let mut signals = SigSet::empty();
    for signal in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGCHLD] {
        signals.add(signal);
    }
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&signals), None)
        .map_err(|errno| format!("blocking signals: {errno}"))?;
    let signal_fd = SignalFd::with_flags(&signals, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|errno| format!("signalfd: {errno}"))?;

    // Before the first fork, so that every worker has the NSS modules nsswitch.conf names loaded
    // (a dlopen each, with their libraries: about a third of an idle worker's start-up when
    // each worker loaded them itself) and its connection's lookups find them there. What a
    // module keeps open across lookups (winbind's socket, say) is kept open in every worker
    // too: closing it would leave the module a number that the worker's own sockets then take,
    // and a module that reconnects after a fork closes its old number blindly.
    let nss_descriptors = nss_descriptors_after_a_lookup()?;
    let mut pool = Pool::new(settings.clone(), privilege, nss_descriptors);
    pool.replenish();
    log(&format!(
        "serving (pool {}, at most {} connections per uid, {} in all, idle timeout {}s)",
        settings.pool,
        settings.per_uid,
        settings.max_workers,
        settings.idle_timeout.as_secs()
    ));
    let mut listener = Some(listener);
    // While accept is short of descriptors or memory: when to look at the socket again.
    let mut paused_until: Option<Instant> = None;
    let mut draining_since: Option<Instant> = None;
    loop {
        if let Some(since) = draining_since {
            if pool.busy.is_empty() && pool.idle.is_empty() {
                log("all workers finished; exiting");
                return Ok(());
            }
            if since.elapsed() >= DRAIN_BOUND {
                log("workers still running after the drain bound: killing them");
                pool.kill_all();
                return Ok(());
            }
        }
        let accepting = listener
            .as_ref()
            .filter(|_| paused_until.is_none_or(|until| Instant::now() >= until));
        if accepting.is_some() {
            paused_until = None;
        }
        let mut fds = vec![PollFd::new(signal_fd.as_fd(), PollFlags::POLLIN)];
        if let Some(listener) = accepting {
            fds.push(PollFd::new(listener.as_fd(), PollFlags::POLLIN));
        }
        let timeout = if paused_until.is_some() || draining_since.is_some() || pool.fork_failing {
            PollTimeout::from(100u16)
        } else if pool.short() {
            PollTimeout::from(REPLENISH_DELAY_MS)
        } else {
            PollTimeout::NONE
        };
        let quiet = match poll(&mut fds, timeout) {
            Ok(events) => events == 0,
            Err(Errno::EINTR) => false,
            Err(errno) => return Err(format!("poll: {errno}")),
        };
        let signal_ready = fds[0].any().unwrap_or(false);
        let mut worker_ended = false;
        let listener_ready = fds.get(1).is_some_and(|fd| fd.any().unwrap_or(false));
        drop(fds);
        if signal_ready {
            while let Ok(Some(info)) = signal_fd.read_signal() {
                let signal = info.ssi_signo as i32;
                if (signal == libc::SIGTERM || signal == libc::SIGINT) && draining_since.is_none() {
                    log("shutting down: no new connections; workers finish their request");
                    draining_since = Some(Instant::now());
                    // Socket activation: systemd keeps its copy, and the next connection starts
                    // the daemon again; without it, connections not yet accepted see the end.
                    listener = None;
                    pool.drain();
                }
            }
            worker_ended = pool.reap();
        }
        if listener_ready
            && let Some(socket) = listener.as_ref()
            && let Some(pause) = accept_some(socket, &mut pool)
        {
            paused_until = Some(Instant::now() + pause);
        }
        if draining_since.is_none()
            && replenish_now(pool.idle.len(), pool.settings.pool, worker_ended, quiet)
        {
            pool.replenish();
        }
    }
}

/// How long the listener waits, with the pool short, for a moment nothing happens before it
/// forks replacements anyway (a client that keeps its connection for long ends no worker).
const REPLENISH_DELAY_MS: u16 = 5;

/// Whether the listener forks replacement workers now. Not right after a hand-over: on a small
/// machine the fork and the new worker's warm-up (its policy load, its seccomp filter) compete
/// for the CPUs with the connection just handed over, its client and its worker, and measured as
/// the client's time (bench/daemon.sh, TRACE=1: the fork landed before the hello in 98 of 100
/// connections). A worker ending is the moment its client is done; a quiet poll is a moment
/// nobody waits. Below half the pool, or with no worker idle, it forks at once all the same.
fn replenish_now(idle: usize, pool: usize, worker_ended: bool, quiet: bool) -> bool {
    idle < pool && (worker_ended || quiet || idle < pool.div_ceil(2))
}

/// How long a shutdown waits for busy workers before it kills them.
const DRAIN_BOUND: Duration = Duration::from_secs(10);

/// How many connections one wake-up accepts before it looks at signals again.
const ACCEPT_BATCH: usize = 32;

/// After accept failed for want of descriptors or memory: how long to leave the socket alone.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Accepts what is queued (up to [`ACCEPT_BATCH`]) and hands each connection over; a pause when
/// accept ran out of a resource, so that the loop does not spin on a socket that stays readable.
fn accept_some(listener: &OwnedFd, pool: &mut Pool) -> Option<Duration> {
    for _ in 0..ACCEPT_BATCH {
        match accept4(listener.as_raw_fd(), SockFlag::SOCK_CLOEXEC) {
            Ok(raw) => pool.dispatch(sys::own_accepted(raw)),
            Err(Errno::EAGAIN) => return None,
            Err(Errno::EINTR | Errno::ECONNABORTED | Errno::EPROTO) => continue,
            Err(errno @ (Errno::EMFILE | Errno::ENFILE | Errno::ENOBUFS | Errno::ENOMEM)) => {
                log(&format!(
                    "accept: {}; not accepting for {ACCEPT_PAUSE:?}",
                    myopen::strerror(errno as i32)
                ));
                return Some(ACCEPT_PAUSE);
            }
            Err(errno) => {
                log(&format!("accept: {}", myopen::strerror(errno as i32)));
                return Some(ACCEPT_PAUSE);
            }
        }
    }
    None
}

/// How many dead workers one hand-over tries past before it refuses the connection.
const HAND_OVER_ATTEMPTS: usize = 8;

/// A forked worker waiting for a connection.
#[derive(Debug)]
struct Idle {
    pid: Pid,
    control: OwnedFd,
}

/// A worker serving a connection of `uid`. Closing `control` tells it to finish.
#[derive(Debug)]
struct Busy {
    uid: u32,
    control: Option<OwnedFd>,
}

struct Pool {
    settings: Settings,
    privilege: ListenerPrivilege,
    /// Descriptors the NSS modules opened in the listener's first lookup: kept in every worker.
    nss_descriptors: Vec<RawFd>,
    idle: VecDeque<Idle>,
    busy: HashMap<Pid, Busy>,
    per_uid: HashMap<u32, usize>,
    /// Set while fork fails: the loop retries on its next wake-up.
    fork_failing: bool,
}

impl Pool {
    fn new(settings: Settings, privilege: ListenerPrivilege, nss_descriptors: Vec<RawFd>) -> Pool {
        Pool {
            settings,
            privilege,
            nss_descriptors,
            idle: VecDeque::new(),
            busy: HashMap::new(),
            per_uid: HashMap::new(),
            fork_failing: false,
        }
    }

    /// Whether fewer idle workers are ready than the pool should hold.
    fn short(&self) -> bool {
        self.idle.len() < self.settings.pool
    }

    /// Forks idle workers until the pool is full (or fork fails: logged, tried again later).
    fn replenish(&mut self) {
        while self.short() {
            match self.fork_worker() {
                Ok(worker) => self.idle.push_back(worker),
                Err(errno) => {
                    if !self.fork_failing {
                        log(&format!(
                            "cannot fork a worker: {}",
                            myopen::strerror(errno as i32)
                        ));
                    }
                    self.fork_failing = true;
                    return;
                }
            }
        }
        self.fork_failing = false;
    }

    fn fork_worker(&self) -> Result<Idle, Errno> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        match sys::fork()? {
            ForkResult::Parent { child } => Ok(Idle {
                pid: child,
                control: ours,
            }),
            ForkResult::Child => {
                drop(ours);
                worker(
                    theirs,
                    self.settings.idle_timeout,
                    &self.privilege,
                    &self.nss_descriptors,
                )
            }
        }
    }

    /// Hands `connection` to an idle worker, or refuses it over the limits.
    fn dispatch(&mut self, connection: OwnedFd) {
        let uid = match getsockopt(&connection, sockopt::PeerCredentials) {
            Ok(credentials) => credentials.uid(),
            Err(errno) => {
                log(&format!("SO_PEERCRED: {errno}; connection closed"));
                return;
            }
        };
        let held = self.per_uid.get(&uid).copied().unwrap_or(0);
        if held >= self.settings.per_uid {
            log(&format!(
                "uid {uid} already holds {held} connections (the limit): connection refused"
            ));
            refuse(&connection, Errno::EUSERS);
            return;
        }
        if self.busy.len() >= self.settings.max_workers {
            log(&format!(
                "{} workers busy (the limit): connection of uid {uid} refused",
                self.busy.len()
            ));
            refuse(&connection, Errno::EAGAIN);
            return;
        }
        let mut attempts = 0;
        loop {
            let worker = match self.idle.pop_front() {
                Some(worker) => worker,
                // The pool ran dry: fork on the hot path rather than make the client wait.
                None => match self.fork_worker() {
                    Ok(worker) => worker,
                    Err(errno) => {
                        log(&format!(
                            "no idle worker and fork failed: {}; connection of uid {uid} refused",
                            myopen::strerror(errno as i32)
                        ));
                        refuse(&connection, Errno::EAGAIN);
                        return;
                    }
                },
            };
            match send_with_fds(&worker.control, b"c", &[connection.as_fd()]) {
                Ok(_) => {
                    *self.per_uid.entry(uid).or_insert(0) += 1;
                    self.busy.insert(
                        worker.pid,
                        Busy {
                            uid,
                            control: Some(worker.control),
                        },
                    );
                    return;
                }
                // That worker died meanwhile; it is reaped with SIGCHLD. Try the next one, a
                // bounded number of times.
                Err(error)
                    if matches!(
                        error.raw_os_error(),
                        Some(libc::EPIPE | libc::ECONNREFUSED | libc::ECONNRESET)
                    ) && attempts < HAND_OVER_ATTEMPTS =>
                {
                    attempts += 1;
                    drop(worker);
                }
                // Anything else (ETOOMANYREFS: root has more descriptors in flight than this
                // process may hold) fails for the next worker too: forking more would only spin.
                // The worker goes back to the pool; this connection is refused.
                Err(error) => {
                    log(&format!(
                        "cannot hand a connection of uid {uid} to a worker: {error}; refused"
                    ));
                    self.idle.push_front(worker);
                    refuse(&connection, Errno::EAGAIN);
                    return;
                }
            }
        }
    }

    /// Reaps every worker that ended, logging those that died of a signal; whether any did.
    fn reap(&mut self) -> bool {
        let mut reaped = false;
        loop {
            let (pid, signal) = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, _)) => (pid, None),
                Ok(WaitStatus::Signaled(pid, signal, _)) => (pid, Some(signal)),
                Ok(WaitStatus::StillAlive) | Err(_) => return reaped,
                Ok(_) => continue,
            };
            reaped = true;
            if let Some(busy) = self.busy.remove(&pid) {
                if let Some(held) = self.per_uid.get_mut(&busy.uid) {
                    *held = held.saturating_sub(1);
                    if *held == 0 {
                        self.per_uid.remove(&busy.uid);
                    }
                }
                if let Some(signal) = signal {
                    log(&format!(
                        "worker {pid} (serving uid {}) was killed by {signal}",
                        busy.uid
                    ));
                }
            } else if let Some(index) = self.idle.iter().position(|worker| worker.pid == pid) {
                self.idle.remove(index);
                log(&format!(
                    "idle worker {pid} ended ({}); replacing it",
                    signal.map_or("exited".to_owned(), |signal| format!("killed by {signal}"))
                ));
            }
        }
    }

    /// Shutdown: idle workers see end-of-file and exit; busy ones finish the request in hand.
    fn drain(&mut self) {
        self.idle.clear();
        for busy in self.busy.values_mut() {
            busy.control = None;
        }
    }

    fn kill_all(&mut self) {
        for pid in self
            .busy
            .keys()
            .chain(self.idle.iter().map(|worker| &worker.pid))
        {
            let _ = kill(*pid, Signal::SIGKILL);
        }
        while waitpid(None, None).is_ok() {}
    }
}

/// Answers a connection the daemon will not serve with a refusal in place of the hello (the
/// client reports it as refused, with `errno`), for the caller to close. Never waits: the record
/// goes into the empty queue of a fresh connection.
///
/// The library sends its first request with the connect, before any hello, and the kernel
/// reports a connection closed with records unread as ECONNRESET to the other end, in place of
/// what was sent before the close: so the reading side is shut first (a request sent after that
/// fails at the client's end, EPIPE, and stays there), and what had arrived is discarded.
fn refuse(connection: impl AsFd, errno: Errno) {
    use nix::sys::socket::{MsgFlags, Shutdown, recv, send, shutdown};
    let connection = connection.as_fd();
    let record = Reply::refused(errno as i32, Origin::System).encode();
    let _ = send(
        connection.as_raw_fd(),
        &record,
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
    );
    if shutdown(connection.as_raw_fd(), Shutdown::Read).is_err() {
        return;
    }
    // Nothing arrives after the shutdown, and each call takes one record (truncated to a byte;
    // a descriptor it carried is closed by the kernel). The library sends one request before
    // the hello; a client that queued more than a few records, or an empty one (which reads as
    // end-of-file), gets the reset instead, and costs the single-threaded listener no more.
    let mut byte = [0u8; 1];
    for _ in 0..DISCARDED_BEFORE_CLOSE {
        if !matches!(
            recv(connection.as_raw_fd(), &mut byte, MsgFlags::MSG_DONTWAIT),
            Ok(1..)
        ) {
            break;
        }
    }
}

/// Records a refused connection's queue is emptied of at most (`refuse`).
const DISCARDED_BEFORE_CLOSE: usize = 4;

/// Makes the listener's first user lookup (loading the NSS modules) and returns the descriptors
/// it left open: those the modules keep across lookups.
fn nss_descriptors_after_a_lookup() -> Result<Vec<RawFd>, String> {
    let listing = |when: &str| {
        hardening::open_descriptors()
            .map_err(|errno| format!("listing the open descriptors {when} the NSS lookup: {errno}"))
    };
    let before = listing("before")?;
    let _ = crate::identity::listed_user(0);
    let after = listing("after")?;
    Ok(after
        .into_iter()
        .filter(|fd| !before.contains(fd))
        .collect())
}

/// Takes the socket systemd passed: it must be a listening `AF_UNIX` `SOCK_SEQPACKET` socket.
fn adopt_listener(raw: RawFd) -> Result<OwnedFd, String> {
    let socket = sys::adopt_inherited_fd(raw)
        .map_err(|errno| format!("socket activation: descriptor {raw}: {errno}"))?;
    let kind = getsockopt(&socket, sockopt::SockType);
    let listening = getsockopt(&socket, sockopt::AcceptConn);
    let family = nix::sys::socket::getsockname::<nix::sys::socket::SockaddrStorage>(raw)
        .ok()
        .and_then(|address| nix::sys::socket::SockaddrLike::family(&address));
    match (kind, listening, family) {
        (Ok(SockType::SeqPacket), Ok(true), Some(AddressFamily::Unix)) => Ok(socket),
        _ => Err(format!(
            "socket activation: descriptor {raw} is not a listening AF_UNIX SOCK_SEQPACKET \
             socket (ListenSequentialPacket= in myopen.socket)"
        )),
    }
}

/// Binds `path` itself: its directory made (root, 0755) if missing and checked, a daemon already
/// answering there refused, a stale socket replaced by an atomic rename of a fresh one, mode 0666
/// (the policy decides who gets what, not the socket's mode).
fn bind_listener(path: &Path) -> Result<OwnedFd, String> {
    let directory = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .ok_or_else(|| format!("{}: not a path in a directory", path.display()))?;
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(directory)
    {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(format!("{}: cannot create: {error}", directory.display())),
    }
    let metadata = std::fs::symlink_metadata(directory)
        .map_err(|error| format!("{}: {error}", directory.display()))?;
    if !metadata.is_dir() || metadata.uid() != 0 || metadata.mode() & 0o022 != 0 {
        return Err(format!(
            "{}: must be a directory owned by root and writable by nobody else",
            directory.display()
        ));
    }
    match std::fs::symlink_metadata(path) {
        Ok(existing) if existing.file_type().is_socket() => {
            if answers(path) {
                return Err(format!(
                    "{}: another daemon answers there; not starting",
                    path.display()
                ));
            }
        }
        Ok(_) => {
            return Err(format!(
                "{}: exists and is not a socket; not replacing it",
                path.display()
            ));
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(format!("{}: {error}", path.display())),
    }
    let mut fresh = path.as_os_str().to_owned();
    fresh.push(format!(".new.{}", std::process::id()));
    let fresh = PathBuf::from(fresh);
    let _ = std::fs::remove_file(&fresh);
    let failed = |what: &str, errno: Errno| format!("{}: {what}: {errno}", fresh.display());
    let listener = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|errno| failed("socket", errno))?;
    let address = UnixAddr::new(&fresh).map_err(|errno| failed("address", errno))?;
    bind(listener.as_raw_fd(), &address).map_err(|errno| failed("bind", errno))?;
    std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o666))
        .map_err(|error| format!("{}: chmod: {error}", fresh.display()))?;
    listen(&listener, Backlog::MAXCONN).map_err(|errno| failed("listen", errno))?;
    // rename(2) replaces a stale socket in one step: a client sees the old one or the new one.
    std::fs::rename(&fresh, path).map_err(|error| {
        let _ = std::fs::remove_file(&fresh);
        format!("{}: {error}", path.display())
    })?;
    Ok(listener)
}

/// Whether a daemon accepts connections at `path`.
fn answers(path: &Path) -> bool {
    let Ok(probe) = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    ) else {
        return false;
    };
    UnixAddr::new(path).is_ok_and(|address| connect(probe.as_raw_fd(), &address).is_ok())
}

// ---------------------------------------------------------------------------------------------
// The worker

/// A forked worker: waits (as root, holding nothing of any client) for one connection on
/// `control`, serves it as its peer, exits. Never returns: the listener's state copied into this
/// process is never used or dropped here.
fn worker(
    control: OwnedFd,
    idle_timeout: Duration,
    listener: &ListenerPrivilege,
    nss_descriptors: &[RawFd],
) -> ! {
    // Every descriptor but the control socket and 0-2 (the listener's socket, its signalfd, the
    // other workers' control sockets) is closed; signals back to their defaults, unblocked.
    let keep: Vec<RawFd> = std::iter::once(control.as_raw_fd())
        .chain(nss_descriptors.iter().copied())
        .collect();
    if hardening::harden(&keep).is_err() {
        std::process::exit(libc::EPERM);
    }
    // A file it creates gets the mode its client sent, which the library has filtered by the
    // client's own umask: the listener's (the service's UMask=0077) is nobody's choice here.
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    let armed = arm(listener);
    let mut byte = [0u8; 1];
    let connection = match recv_with_fds(&control, &mut byte, 1) {
        Ok(mut received) if received.bytes == 1 => received.fds.pop(),
        _ => None,
    };
    // End-of-file (the listener is shutting down) or something that is not a connection.
    let Some(connection) = connection else {
        std::process::exit(0)
    };
    std::process::exit(i32::from(serve(
        connection,
        control.as_fd(),
        idle_timeout,
        armed,
    )))
}

/// Everything an idle worker can do from the policy alone, before any connection, so that none
/// of it is on a client's path (its bounding and ambient sets came cut from the listener,
/// [`ListenerPrivilege`], and so did the NSS modules): the policy read (the same checked load as
/// at any helper's start; an unusable one refuses every request), the audit socket, and the
/// seccomp filter, which admits the hand-over's calls until the worker has become its peer
/// ([`fence::arm`]). A failure is kept and refuses the connection, as it would have at the
/// hand-over: a worker that exited at once would only be forked again.
fn arm(listener: &ListenerPrivilege) -> Result<(WaitingWorker, Armed), NotServing> {
    let waiting = WaitingWorker::prepare(listener).map_err(|errno| NotServing {
        errno: Errno::EPERM,
        why: format!("cannot prepare the worker's capabilities: {errno}"),
    })?;
    let armed = Armed::arm(waiting.privilege());
    waiting.restore_effective().map_err(|errno| NotServing {
        errno: Errno::EPERM,
        why: format!("cannot restore the worker's capabilities: {errno}"),
    })?;
    fence::arm().map_err(|error| NotServing {
        errno: Errno::EACCES,
        why: error.to_string(),
    })?;
    Ok((waiting, armed))
}

/// Serves one connection: the peer from the kernel, the credential switch, the session loop.
fn serve(
    connection: OwnedFd,
    control: BorrowedFd<'_>,
    idle_timeout: Duration,
    armed: Result<(WaitingWorker, Armed), NotServing>,
) -> u8 {
    let (waiting, armed) = match armed {
        Ok(armed) => armed,
        Err(not_serving) => {
            log(&format!("{}; connection refused", not_serving.why));
            refuse(&connection, not_serving.errno);
            return 1;
        }
    };
    let (peer, process) = match peer_of(&connection) {
        Ok(peer) => peer,
        Err(errno) => {
            log(&format!("cannot read the peer's credentials: {errno}"));
            refuse(&connection, Errno::EPERM);
            return 1;
        }
    };
    // Before the switch, while the peer cannot touch this process (its limits, its signals):
    // a lookup it made fail would otherwise read as "no such id" or "no groups".
    let listed = match judged_identity(&peer) {
        Ok(listed) => listed,
        Err(why) => {
            log(&format!(
                "uid {} (pid {}): {why}; connection refused",
                peer.uid, peer.pid
            ));
            refuse(&connection, Errno::EPERM);
            return 1;
        }
    };
    let privilege = match waiting.become_peer(&peer) {
        Ok(privilege) => privilege,
        Err(errno) => {
            log(&format!(
                "cannot become uid {} (pid {}): {errno}; connection refused",
                peer.uid, peer.pid
            ));
            refuse(&connection, Errno::EPERM);
            return 1;
        }
    };
    let socket = match ReplySocket::from_connection(connection) {
        Ok(socket) => socket,
        Err(errno) => return crate::diagnostics::Exit::for_errno(errno).code(),
    };
    let who = Identity {
        uid: peer.uid,
        gid: peer.gid,
        groups: peer.groups.clone(),
        listed_groups: listed.groups,
    };
    let service = match Service::for_peer(&privilege, who, listed.name, process, armed) {
        Ok(service) => service,
        Err(not_serving) => {
            log(&not_serving.why);
            refuse(socket.as_fd(), not_serving.errno);
            return 1;
        }
    };
    let ready = || wait_for_request(socket.as_fd(), control, idle_timeout);
    session::serve_session(&socket, &service, &privilege, &ready).code()
}

/// Waits until the client sends (or closes): `Ok(true)`. `Ok(false)` when it stayed silent for
/// `idle_timeout` or the listener is shutting down (its end of `control` closed).
fn wait_for_request(
    client: BorrowedFd<'_>,
    control: BorrowedFd<'_>,
    idle_timeout: Duration,
) -> Result<bool, Errno> {
    let deadline = Instant::now() + idle_timeout;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Ok(false);
        }
        let millis = u16::try_from(remaining.as_millis().min(60_000)).unwrap_or(60_000);
        let mut fds = [
            PollFd::new(client, PollFlags::POLLIN),
            PollFd::new(control, PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::from(millis.max(1))) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno),
        }
        // A request waiting is served even while shutting down: it was sent before the end.
        if fds[0].any().unwrap_or(false) {
            return Ok(true);
        }
        if fds[1].any().unwrap_or(false) {
            return Ok(false);
        }
    }
}

/// The connection's peer as the kernel recorded it at connect time, and its process for the
/// audit line; nothing the client sends and nothing under `/proc/<pid>` is read.
fn peer_of(connection: &OwnedFd) -> Result<(Peer, DaemonPeer), Errno> {
    let credentials = getsockopt(connection, sockopt::PeerCredentials)?;
    let groups = sys::peer_groups(connection.as_fd())?;
    let process = DaemonPeer {
        pid: credentials.pid(),
        pidfd_id: peer_pidfd_id(connection),
    };
    let peer = Peer {
        uid: credentials.uid(),
        gid: credentials.gid(),
        groups,
        pid: credentials.pid(),
    };
    Ok((peer, process))
}

/// Refuses a peer with a subordinate id, and returns its name and the groups its denies match
/// as well.
///
/// A user with subordinate ids (`subuid(5)`, `subgid(5)`; newuidmap and newgidmap map them)
/// can make a user namespace that allows setgroups, and there become one of those ids or drop
/// the groups it holds; the kernel then reports exactly that. A subordinate id names nobody in
/// the policy, so an allow for everyone would reach it past every deny naming the user: such a
/// peer (uid, gid or a group in a range) is refused. Dropped groups are covered by matching
/// denies against the groups the database lists for the uid ([`Identity::listed_groups`]).
/// Sub-ids an NSS `subid` service keeps elsewhere are not seen.
fn judged_identity(peer: &Peer) -> Result<crate::identity::ListedUser, String> {
    let subuid = std::path::Path::new(crate::config::SYSCONFDIR).join("subuid");
    let subgid = std::path::Path::new(crate::config::SYSCONFDIR).join("subgid");
    if crate::identity::SubordinateRanges::read(&subuid)?.contains(peer.uid) {
        return Err(format!(
            "a subordinate uid ({}): a user-namespace identity",
            subuid.display()
        ));
    }
    let subordinate_gids = crate::identity::SubordinateRanges::read(&subgid)?;
    if let Some(gid) = std::iter::once(&peer.gid)
        .chain(&peer.groups)
        .find(|gid| subordinate_gids.contains(**gid))
    {
        return Err(format!(
            "group {gid} is a subordinate gid ({}): a user-namespace identity",
            subgid.display()
        ));
    }
    crate::identity::listed_user(peer.uid).map_err(|errno| {
        format!(
            "cannot read its groups from the user database: {}",
            myopen::strerror(errno as i32)
        )
    })
}

/// The inode number of the peer's pidfd, which names its process for the whole boot. Only the
/// audit line uses it, so a kernel without `SO_PEERPIDFD` (before 6.5) or any failure leaves it
/// out rather than refusing the connection; the pidfd itself is closed at once. Before pidfs
/// (6.9) every pidfd is the one anonymous inode, whose number names nothing: left out too.
fn peer_pidfd_id(connection: &OwnedFd) -> Option<u64> {
    const PIDFS_MAGIC: u64 = 0x5049_4446;
    let pidfd = getsockopt(connection, sockopt::PeerPidfd).ok()?;
    let file_system = nix::sys::statfs::fstatfs(&pidfd).ok()?;
    if file_system.filesystem_type().0 as u64 != PIDFS_MAGIC {
        return None;
    }
    nix::sys::stat::fstat(&pidfd)
        .ok()
        .map(|status| status.st_ino)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Command {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        Command::parse(&args)
    }

    #[test]
    fn the_command_line_is_a_fixed_grammar() {
        assert_eq!(parse(&[]), Command::Serve(Settings::default()));
        let Command::Serve(settings) = parse(&[
            "--socket",
            "/tmp/x/socket",
            "--per-uid",
            "3",
            "--idle-timeout",
            "2",
            "--pool",
            "0",
        ]) else {
            panic!("not parsed");
        };
        assert_eq!(settings.socket, Path::new("/tmp/x/socket"));
        assert_eq!(settings.per_uid, 3);
        assert_eq!(settings.idle_timeout, Duration::from_secs(2));
        assert_eq!(settings.pool, 0);
        for bad in [
            &["--socket"][..],
            &["--socket", "relative"],
            &["--per-uid", "0"],
            &["--per-uid", "-1"],
            &["--idle-timeout", "x"],
            &["--frobnicate"],
        ] {
            assert!(matches!(parse(bad), Command::Usage(_)), "{bad:?}");
        }
        assert_eq!(parse(&["--help"]), Command::Help);
    }

    #[test]
    fn replacements_wait_for_the_connection_to_be_set_up_unless_the_pool_runs_low() {
        // Right after a hand-over from a full pool of four: not yet.
        assert!(!replenish_now(3, 4, false, false));
        // Its worker ended, or nothing happened for a while: now.
        assert!(replenish_now(3, 4, true, false));
        assert!(replenish_now(3, 4, false, true));
        // Below half the pool, or none idle: at once.
        assert!(replenish_now(1, 4, false, false));
        assert!(replenish_now(0, 1, false, false));
        // A full pool (or none wanted) forks nothing, whatever happened.
        assert!(!replenish_now(4, 4, true, true));
        assert!(!replenish_now(0, 0, true, true));
    }

    #[test]
    fn the_default_socket_is_the_librarys() {
        assert_eq!(
            Settings::default().socket,
            myopen::daemon::default_socket_path()
        );
    }
}
