//! The persistent session: many opens through one helper, recovery when the helper dies, the
//! helper's exit when the client dies, and hostile frames from a hand-written client.

use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use myopen::fdpass::{recv_with_fds, send_with_fds};
use myopen::wire::session::{HEADER_LEN, Hello, MAX_REQUEST_LEN, Origin, SessionRequest};
use myopen::{Error, Helper, Session};
use myopen_tests::{RUN_TIMEOUT, Scratch, helper_binary, read_all};
use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::sys::signal::{Signal, kill};
use nix::sys::socket::{AddressFamily, Shutdown, SockFlag, SockType, shutdown, socketpair};
use nix::unistd::Pid;

fn session() -> Session {
    Session::with_helper(Helper::at(helper_binary())).expect("session starts")
}

#[test]
fn opens_many_files_through_one_helper() {
    let scratch = Scratch::new();
    let session = session();
    let pid = session.helper_pid();
    for index in 0..50 {
        let path = scratch.file(
            &format!("f{index}"),
            format!("content {index}").as_bytes(),
            0o644,
        );
        let fd = session.open(&path, libc::O_RDONLY).unwrap();
        let flags = FdFlag::from_bits_truncate(fcntl(&fd, FcntlArg::F_GETFD).unwrap());
        assert!(
            flags.contains(FdFlag::FD_CLOEXEC),
            "received descriptors are close-on-exec"
        );
        assert_eq!(read_all(fd), format!("content {index}").as_bytes());
    }
    assert_eq!(session.helper_pid(), pid, "one helper served them all");
}

#[test]
fn errors_keep_their_errno_and_the_session_goes_on() {
    let scratch = Scratch::new();
    let session = session();
    let missing = session
        .open(scratch.path().join("missing"), libc::O_RDONLY)
        .unwrap_err();
    assert_eq!(missing.raw_os_error(), Some(libc::ENOENT), "{missing}");
    let bad_flags = session
        .open(scratch.path(), libc::O_RDONLY | libc::O_PATH)
        .unwrap_err();
    assert_eq!(bad_flags.raw_os_error(), Some(libc::EINVAL));
    let too_long = session
        .open(format!("/{}", "a".repeat(5000)), libc::O_RDONLY)
        .unwrap_err();
    assert_eq!(too_long.raw_os_error(), Some(libc::ENAMETOOLONG));
    let nul = session
        .open(std::ffi::OsStr::new("/etc/\0passwd"), libc::O_RDONLY)
        .unwrap_err();
    assert!(matches!(nul, Error::InvalidPath { .. }), "{nul:?}");
    let file = scratch.file("ok", b"still fine", 0o644);
    assert_eq!(
        read_all(session.open(&file, libc::O_RDONLY).unwrap()),
        b"still fine"
    );
}

#[test]
fn creates_with_the_requested_mode_less_umask_and_never_set_id() {
    let scratch = Scratch::new();
    let session = session();
    let path = scratch.path().join("created");
    let fd = session
        .open_with_mode(&path, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, 0o6640)
        .unwrap();
    drop(fd);
    let mode = std::fs::metadata(&path).unwrap().mode() & 0o7777;
    assert_eq!(mode & 0o7000, 0, "set-id bits dropped");
    assert_eq!(mode & 0o137, 0, "no bit beyond the requested 0640");
}

#[test]
fn a_killed_helper_is_reported_and_replaced_on_the_next_request() {
    let scratch = Scratch::new();
    let file = scratch.file("f", b"after restart", 0o644);
    let session = session();
    let first = session.helper_pid().unwrap();
    kill(Pid::from_raw(first as i32), Signal::SIGKILL).unwrap();
    let error = session.open(&file, libc::O_RDONLY).unwrap_err();
    assert!(
        matches!(
            error,
            Error::HelperCrashed { signal: 9, .. } | Error::Protocol { .. }
        ),
        "{error:?}"
    );
    assert_eq!(
        read_all(session.open(&file, libc::O_RDONLY).unwrap()),
        b"after restart"
    );
    let second = session.helper_pid().unwrap();
    assert_ne!(first, second, "a new helper");
    assert!(
        myopen_tests::zombie_children()
            .iter()
            .all(|pid| *pid != first),
        "the dead helper was reaped"
    );
}

#[test]
fn dropping_the_session_ends_and_reaps_the_helper() {
    let session = session();
    let pid = session.helper_pid().unwrap();
    drop(session);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "helper {pid} still exists"
    );
}

#[test]
fn the_helper_exits_when_its_client_is_killed() {
    let scratch = Scratch::new();
    let file = scratch.file("f", b"x", 0o644);
    let mut client = Command::new(env!("CARGO_BIN_EXE_myopen-session-client"))
        .arg(helper_binary())
        .arg(&file)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(client.stdout.take().unwrap()).lines();
    let helper_pid: i32 = lines.next().unwrap().unwrap().parse().unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    client.kill().unwrap();
    client.wait().unwrap();
    let started = Instant::now();
    while helper_alive(helper_pid) {
        assert!(
            started.elapsed() < RUN_TIMEOUT,
            "helper {helper_pid} outlived its client"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Running or sleeping; a zombie (exited, waiting for init to reap it) counts as gone.
fn helper_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// A hand-written client: the helper in session mode on a socket the test controls.
struct RawSession {
    socket: OwnedFd,
    child: std::process::Child,
}

impl RawSession {
    fn start(kind: SockType) -> RawSession {
        let (ours, theirs) =
            socketpair(AddressFamily::Unix, kind, None, SockFlag::SOCK_CLOEXEC).unwrap();
        let child = Command::new(helper_binary())
            .args(["--session", "0"])
            .stdin(Stdio::from(theirs))
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        RawSession {
            socket: ours,
            child,
        }
    }

    fn hello(&self) -> Hello {
        let mut buffer = [0u8; 16];
        let received = recv_with_fds(&self.socket, &mut buffer, 0).unwrap();
        Hello::decode(&buffer[..received.bytes]).expect("a hello")
    }

    fn ask(&self, packet: &[u8]) -> (Vec<u8>, usize) {
        send_with_fds(&self.socket, packet, &[]).unwrap();
        let mut buffer = [0u8; 16];
        let received = recv_with_fds(&self.socket, &mut buffer, 1).unwrap();
        (buffer[..received.bytes].to_vec(), received.fds.len())
    }

    /// Waits for the helper to exit; fails the test if it hangs or dies of a signal.
    fn exit_code(mut self) -> i32 {
        drop(self.socket);
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert_eq!(status.signal(), None, "the helper died of a signal");
                return status.code().unwrap();
            }
            assert!(started.elapsed() < RUN_TIMEOUT, "the helper hangs");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn request(path: &[u8]) -> Vec<u8> {
    SessionRequest {
        flags: libc::O_RDONLY,
        mode: 0o644,
        path,
    }
    .encode()
}

#[test]
fn hostile_frames_get_an_error_or_the_end_never_a_crash_or_a_hang() {
    let malformed: Vec<(&str, Vec<u8>)> = vec![
        // On SOCK_SEQPACKET a record of no bytes reads like end-of-file: it must not end the
        // session as if the client had closed its end.
        ("empty packet", Vec::new()),
        ("empty packet header", vec![1, 2, 3]),
        ("length larger than the packet", {
            let mut packet = request(b"/etc/hostname");
            packet[8..12].copy_from_slice(&1000u32.to_le_bytes());
            packet
        }),
        ("length smaller than the packet", {
            let mut packet = request(b"/etc/hostname");
            packet[8..12].copy_from_slice(&3u32.to_le_bytes());
            packet
        }),
        ("length u32::MAX", {
            let mut packet = request(b"/etc/hostname");
            packet[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
            packet
        }),
        ("NUL inside the path", request(b"/etc/\0hostname")),
        ("oversized packet", vec![b'a'; MAX_REQUEST_LEN + 500]),
    ];
    for (name, packet) in malformed {
        let session = RawSession::start(SockType::SeqPacket);
        session.hello();
        let (reply, fds) = session.ask(&packet);
        assert_eq!(
            (reply.as_slice(), fds),
            (&[libc::EINVAL as u8, Origin::Request as u8][..], 0),
            "{name}"
        );
        assert_eq!(
            session.exit_code(),
            libc::EINVAL,
            "{name}: the helper ends the session"
        );
    }
}

#[test]
fn an_empty_request_is_told_from_end_of_file_after_a_half_close() {
    // The client sends an empty record and shuts down its sending side at once: the helper then
    // sees both a zero-byte receive and a peer that sends no more (what poll reports for
    // end-of-file too), and must still answer the record.
    let session = RawSession::start(SockType::SeqPacket);
    session.hello();
    send_with_fds(&session.socket, &[], &[]).unwrap();
    shutdown(session.socket.as_raw_fd(), Shutdown::Write).unwrap();
    let mut buffer = [0u8; 16];
    let received = recv_with_fds(&session.socket, &mut buffer, 1).unwrap();
    assert_eq!(
        &buffer[..received.bytes],
        &[libc::EINVAL as u8, Origin::Request as u8][..],
        "the empty request is answered as malformed"
    );
    assert_eq!(session.exit_code(), libc::EINVAL);

    // A half-close alone is end-of-file: the session ends cleanly, with nothing sent.
    let session = RawSession::start(SockType::SeqPacket);
    session.hello();
    shutdown(session.socket.as_raw_fd(), Shutdown::Write).unwrap();
    let received = recv_with_fds(&session.socket, &mut buffer, 1).unwrap();
    assert_eq!(received.bytes, 0, "no reply to end-of-file");
    assert_eq!(session.exit_code(), 0);
}

#[test]
fn refused_values_are_answered_and_the_session_goes_on() {
    let session = RawSession::start(SockType::SeqPacket);
    session.hello();
    let bad_flags = SessionRequest {
        flags: libc::O_PATH,
        mode: 0,
        path: b"/etc/hostname",
    }
    .encode();
    assert_eq!(
        session.ask(&bad_flags),
        (vec![libc::EINVAL as u8, Origin::System as u8], 0)
    );
    let empty = SessionRequest {
        flags: 0,
        mode: 0,
        path: b"",
    }
    .encode();
    assert_eq!(
        session.ask(&empty).0,
        vec![libc::ENOENT as u8, Origin::System as u8]
    );
    let long = vec![b'a'; myopen::wire::PATH_MAX];
    assert_eq!(
        session.ask(&request(&long)).0,
        vec![libc::ENAMETOOLONG as u8, Origin::System as u8]
    );

    // A request that carries descriptors is refused: answered EINVAL (the client is not speaking
    // the protocol: requests carry none) and not served, the descriptors closed, not kept, and
    // the session goes on. Three are more than the helper offers room for: the kernel truncates
    // the control data, and the answer is the same.
    for count in [1, 3] {
        let (read_end, write_end) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
                .unwrap();
        let copies = vec![write_end.as_fd(); count];
        send_with_fds(&session.socket, &request(b"/etc/hostname"), &copies).unwrap();
        drop(copies);
        drop(write_end);
        let mut buffer = [0u8; 4];
        let received = recv_with_fds(&session.socket, &mut buffer, 1).unwrap();
        assert_eq!(
            (&buffer[..received.bytes], received.fds.len()),
            (&[libc::EINVAL as u8, Origin::Request as u8][..], 0),
            "a request that carried {count} descriptors was refused, not served"
        );
        assert_eq!(
            nix::unistd::read(&read_end, &mut buffer),
            Ok(0),
            "the helper kept no copy of the {count} descriptors"
        );
    }

    assert_eq!(
        session.ask(&request(b"/etc/hostname")).1,
        1,
        "still serving"
    );
    assert_eq!(
        session.exit_code(),
        0,
        "end-of-file ends the session cleanly"
    );
}

#[test]
fn a_stream_socket_is_refused_for_a_session() {
    let session = RawSession::start(SockType::Stream);
    assert_eq!(session.exit_code(), libc::EPROTOTYPE);
}

#[test]
fn header_constant_matches_the_encoding() {
    assert_eq!(request(b"/x").len(), HEADER_LEN + 2);
}

/// A stand-in helper installed as `name` (its orders, see `myopen-restarting-helper`), and the
/// number of helpers started from it so far.
fn restarting_helper(scratch: &Scratch, name: &str) -> (std::path::PathBuf, impl Fn() -> usize) {
    let program = scratch.install(
        std::path::Path::new(env!("CARGO_BIN_EXE_myopen-restarting-helper")),
        name,
    );
    let log = program.with_extension("log");
    let started = move || {
        std::fs::read_to_string(&log)
            .map(|text| text.lines().count())
            .unwrap_or(0)
    };
    (program, started)
}

/// A server that answers with the restart reply (its fence no longer reaches a replaced name
/// database) has ended the session: the library starts a new one and sends that request again,
/// once. The caller sees the new server's answer, a refusal as a refusal, and the new session
/// serves on.
#[test]
fn a_restart_reply_is_retried_once_in_a_new_session() {
    let scratch = Scratch::new();
    let file = scratch.file("granted", b"served by the new helper", 0o644);
    let denied = scratch.file("denied", b"never", 0o644);

    let (program, started) = restarting_helper(&scratch, "restart-first");
    let session = Session::with_helper(Helper::at(&program)).expect("session starts");
    let first = session.helper_pid();
    assert_eq!(
        read_all(
            session
                .open(&file, libc::O_RDONLY)
                .expect("retried and opened")
        ),
        b"served by the new helper"
    );
    assert_eq!(started(), 2, "one new helper for the retry");
    assert_ne!(session.helper_pid(), first, "the new helper serves on");
    assert_eq!(
        read_all(session.open(&file, libc::O_RDONLY).unwrap()),
        b"served by the new helper"
    );
    assert_eq!(started(), 2, "no restart without the reply");
    drop(session);

    // The retry is judged afresh: a refusal stays a refusal.
    let scratch = Scratch::new();
    let (program, started) = restarting_helper(&scratch, "restart-first");
    let session = Session::with_helper(Helper::at(&program)).expect("session starts");
    let refused = session.open(&denied, libc::O_RDONLY).unwrap_err();
    assert!(
        matches!(
            refused,
            Error::PolicyRefused {
                errno: libc::EACCES,
                ..
            }
        ),
        "{refused:?}"
    );
    assert_eq!(started(), 2);
    drop(session);

    // A server that keeps asking gets one retry, never a loop.
    let scratch = Scratch::new();
    let (program, started) = restarting_helper(&scratch, "restart-always");
    let session = Session::with_helper(Helper::at(&program)).expect("session starts");
    let error = session.open(&file, libc::O_RDONLY).unwrap_err();
    assert!(matches!(error, Error::Protocol { .. }), "{error:?}");
    assert_eq!(started(), 2, "the request was sent twice, to two helpers");
    assert_eq!(
        session.helper_pid(),
        None,
        "both helpers were reaped, none left running"
    );
    // The next call may try again (once more): the session is not poisoned.
    let error = session.open(&file, libc::O_RDONLY).unwrap_err();
    assert!(matches!(error, Error::Protocol { .. }), "{error:?}");
    assert_eq!(started(), 4);
}

/// `Daemon::open` promises the daemon alone, never a helper. A restart reply makes it connect
/// again; a daemon that is gone by then is `DaemonUnreachable`, not a helper started instead.
#[test]
fn a_restart_through_daemon_open_never_starts_a_helper() {
    use myopen::Daemon;
    use myopen::wire::session::Reply;

    let scratch = Scratch::new();
    let file = scratch.file("granted", b"never opened", 0o644);
    let address = scratch.path().join("socket");
    let listener = stand_in_daemon_socket(&address);
    let socket_file = address.clone();
    let daemon = std::thread::spawn(move || {
        let connection = stand_in_daemon_takes_a_request(&listener);
        // Gone before the reply: nothing answers at the socket any more.
        drop(listener);
        std::fs::remove_file(&socket_file).expect("socket file removed");
        send_with_fds(&connection, &Reply::restart().encode(), &[]).expect("restart reply");
    });
    let outcome = Daemon::at(&address).open(&file, libc::O_RDONLY);
    daemon.join().expect("the stand-in daemon");
    assert!(
        matches!(&outcome, Err(Error::DaemonUnreachable { socket, .. }) if *socket == address),
        "{outcome:?}"
    );
}

/// A connection that ends before its hello was handed to a worker that was dying (killed, or
/// the daemon stopping): nothing was asked yet, so the library connects once more, and the
/// caller is served by the worker that answers then. A second close is the caller's error.
#[test]
fn a_connection_closed_before_its_hello_is_made_again_once() {
    use myopen::Daemon;
    use myopen::wire::session::Reply;

    let scratch = Scratch::new();
    let file = scratch.file("granted", b"served on the second connection", 0o644);
    let address = scratch.path().join("socket");
    let listener = stand_in_daemon_socket(&address);
    let served = file.clone();
    let daemon = std::thread::spawn(move || {
        // The first client's first connection: closed unanswered; its second: served.
        drop(myopen_tests::accept_connection(listener.as_fd()).expect("accept"));
        let connection = stand_in_daemon_takes_a_request(&listener);
        let opened = std::fs::File::open(&served).expect("open");
        send_with_fds(&connection, &Reply::Opened.encode(), &[opened.as_fd()]).expect("reply");
        drop(connection);
        // The second client: both of its connections closed unanswered.
        for _ in 0..2 {
            drop(myopen_tests::accept_connection(listener.as_fd()).expect("accept"));
        }
    });
    let daemon_at = Daemon::at(&address);
    let opened = daemon_at
        .open(&file, libc::O_RDONLY)
        .expect("served on the second connection");
    assert_eq!(read_all(opened), b"served on the second connection");
    let outcome = daemon_at.open(&file, libc::O_RDONLY);
    daemon.join().expect("the stand-in daemon");
    assert!(
        matches!(&outcome, Err(Error::DaemonUnreachable { socket, .. }) if *socket == address),
        "{outcome:?}"
    );
}

/// A listening seqpacket socket at `address`, for a test's stand-in daemon.
fn stand_in_daemon_socket(address: &std::path::Path) -> OwnedFd {
    use nix::sys::socket::{Backlog, UnixAddr, bind, listen, socket};
    let listener = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("socket");
    bind(
        listener.as_raw_fd(),
        &UnixAddr::new(address).expect("address"),
    )
    .expect("bind");
    listen(&listener, Backlog::new(4).expect("backlog")).expect("listen");
    listener
}

/// The stand-in daemon's side of one connection up to its first request: accepted, a
/// privileged hello sent, the request read. The connection, for the reply.
fn stand_in_daemon_takes_a_request(listener: &OwnedFd) -> OwnedFd {
    let connection = myopen_tests::accept_connection(listener.as_fd()).expect("accept");
    let hello = Hello {
        version: myopen::wire::session::VERSION,
        privileged: true,
    }
    .encode();
    send_with_fds(&connection, &hello, &[]).expect("hello");
    let mut request = [0_u8; MAX_REQUEST_LEN];
    recv_with_fds(&connection, &mut request, 0).expect("the request");
    connection
}

/// What a stand-in daemon that speaks another protocol version receives from one
/// `Daemon::open` with `flags`: it answers the connection with its own hello at once, then
/// reads every record until the client has gone.
fn records_an_incompatible_daemon_receives(flags: i32) -> Vec<Vec<u8>> {
    let directory = tempfile::tempdir().expect("tempdir");
    let address = directory.path().join("socket");
    let listener = stand_in_daemon_socket(&address);
    let target = address.clone();
    let client =
        std::thread::spawn(move || myopen::Daemon::at(target).open("/etc/hostname", flags));
    let connection = myopen_tests::accept_connection(listener.as_fd()).expect("accept");
    let hello = Hello {
        version: myopen::wire::session::VERSION.wrapping_add(1),
        privileged: true,
    }
    .encode();
    send_with_fds(&connection, &hello, &[]).expect("hello");
    let answer = client.join().expect("the client");
    assert!(
        matches!(answer, Err(Error::DaemonUnreachable { .. })),
        "another version's hello is turned away: {answer:?}"
    );
    // The client has returned and closed its end: what it sent is all in the queue.
    let mut records = Vec::new();
    let mut record = [0_u8; MAX_REQUEST_LEN + 1];
    while let Ok(received) = recv_with_fds(&connection, &mut record, 0) {
        if received.bytes == 0 {
            break;
        }
        records.push(record[..received.bytes].to_vec());
    }
    records
}

#[test]
fn only_a_request_that_changes_nothing_goes_out_before_the_hello() {
    // Read-only: sent with the connect (a server may read it; opening changes nothing).
    assert_eq!(
        records_an_incompatible_daemon_receives(libc::O_RDONLY).len(),
        1,
        "a read-only request is sent before the hello"
    );
    // Anything that writes, creates or truncates waits for a hello the client accepts, so a
    // server the client turns away never carries it out.
    for flags in [
        libc::O_WRONLY,
        libc::O_RDWR,
        libc::O_RDONLY | libc::O_CREAT,
        libc::O_RDONLY | libc::O_TRUNC,
        libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
    ] {
        assert_eq!(
            records_an_incompatible_daemon_receives(flags),
            Vec::<Vec<u8>>::new(),
            "flags {flags:#o}: nothing is sent to a server the client turns away"
        );
    }
}
