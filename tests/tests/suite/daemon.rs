//! `myopend` itself: identity from the kernel, hostile clients, limits, load, restart. The
//! decisions and audit lines it shares with the helper are checked by the table-driven privileged
//! suites, which iterate `Install::SERVED` (the daemon started both ways among them).

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use myopen::fdpass::{recv_with_fds, send_with_fds};
use myopen::wire::session::{HELLO_LEN, Hello, MAX_REQUEST_LEN, Origin, REPLY_LEN, Reply};
use myopen::{Daemon, Error, Helper, Session};
use myopen_tests::install::{
    ALICE, ETC, Install, Outcome, PrivilegedEnv, READERS, TestUser, alice, audit_field,
    audit_lines_for, bob, command_as, connection_made_by, connection_to_made_by, daemon_log,
    denied, descriptors_and_children, ensure_daemon, it_probe, outcome, probe, readers_gid,
    start_daemon, stop_daemon,
};
use myopen_tests::{privileged_env, run};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, connect, socket};

const RD: i32 = libc::O_RDONLY;

/// A root-only file alice may read by the policy.
fn alices_file(env: &PrivilegedEnv) -> std::path::PathBuf {
    let file = env.file("d/report", b"for alice\n", 0o600, None);
    env.allow_reading("d/report", &[ALICE]);
    file
}

/// A daemon this test started on the `Daemon` install's socket, stopped when dropped: a failed
/// assertion must not leave it running (with a lowered limit, say) for the tests after it.
struct Started(Option<std::process::Child>);

impl Started {
    fn daemon(extra: &[&str]) -> Started {
        Started(Some(start_daemon(Install::Daemon, extra)))
    }

    fn id(&self) -> u32 {
        self.0.as_ref().map_or(0, std::process::Child::id)
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if let Some(child) = self.0.take() {
            stop_daemon(child);
        }
    }
}

fn socket_of(install: Install) -> std::path::PathBuf {
    install.daemon_socket().expect("a daemon install")
}

/// A connection made by this process (root), its hello read.
fn connect_raw(install: Install) -> OwnedFd {
    ensure_daemon(install);
    connect_to(&socket_of(install))
}

/// A connection to the daemon at `path`, its hello read.
fn connect_to(path: &Path) -> OwnedFd {
    let connection = connected(path).expect("connect");
    read_hello(&connection);
    connection
}

/// A connection to `path`, nothing read.
fn connected(path: &Path) -> nix::Result<OwnedFd> {
    let connection = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    connect(connection.as_raw_fd(), &UnixAddr::new(path)?)?;
    Ok(connection)
}

fn read_hello(connection: &OwnedFd) -> Hello {
    let mut hello = [0u8; HELLO_LEN + 1];
    let received = recv_with_fds(connection, &mut hello, 0).expect("hello");
    Hello::decode(&hello[..received.bytes]).expect("a hello")
}

/// Sends `packet` (with `fds`) and reads one reply: the reply and whether a descriptor came.
fn exchange(connection: &OwnedFd, packet: &[u8], fds: &[std::os::fd::BorrowedFd<'_>]) -> Reply {
    send_with_fds(connection, packet, fds).expect("send");
    let mut reply = [0u8; REPLY_LEN + 1];
    let received = recv_with_fds(connection, &mut reply, 1).expect("reply");
    Reply::decode(&reply[..received.bytes], received.fds.len()).expect("a reply")
}

fn request(path: &Path, flags: i32) -> Vec<u8> {
    myopen::wire::session::SessionRequest {
        flags,
        mode: 0o666,
        path: path.as_os_str().as_encoded_bytes(),
    }
    .encode()
}

/// Whether the daemon `pid` gets back to at most `before` (descriptors, children) within 10 s:
/// workers of closed connections exit and are reaped a moment after the client goes.
fn settles_within(pid: u32, before: (usize, usize)) -> bool {
    let started = Instant::now();
    loop {
        let now = descriptors_and_children(pid);
        if now.0 <= before.0 && now.1 <= before.1 {
            return true;
        }
        if started.elapsed() > Duration::from_secs(10) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_user_namespace_root_gets_only_its_outer_uids_grants() {
    let Some(env) = privileged_env!() else { return };
    let file = alices_file(&env);
    for install in [Install::Daemon, Install::DaemonActivated] {
        let target = install.probe_target();
        let through_namespace = |user: &TestUser| {
            outcome(&run(command_as(user, "unshare")
                .args(["--user", "--map-root-user", "--"])
                .arg(it_probe())
                .arg(&target)
                .arg(&file)
                .arg(RD.to_string())))
        };
        assert_eq!(
            through_namespace(&bob()),
            denied(),
            "{install:?}: bob as root of his own namespace is still bob"
        );
        assert_eq!(
            through_namespace(&alice()),
            Outcome::opened("for alice\n"),
            "{install:?}: alice in a namespace keeps her own grants"
        );
    }
    let lines = env.audit_lines();
    let uids: Vec<String> = audit_lines_for(&lines, &file)
        .iter()
        .filter_map(|line| audit_field(line, "uid"))
        .collect();
    assert!(
        uids.contains(&bob().uid.to_string()) && !uids.contains(&"0".to_owned()),
        "the audit log names the outer uid: {lines:#?}"
    );
}

#[test]
fn a_passed_connection_keeps_the_connectors_identity() {
    let Some(env) = privileged_env!() else { return };
    let file = alices_file(&env);
    for install in [Install::Daemon, Install::DaemonActivated] {
        // Bob connects and hands the connection to this process (root): bob's request.
        let bobs = connection_made_by(&bob(), install);
        read_hello(&bobs);
        assert_eq!(
            exchange(&bobs, &request(&file, RD), &[]),
            Reply::refused(libc::EACCES, Origin::Policy),
            "{install:?}: a connection bob made asks as bob, whoever speaks on it"
        );
        // Alice's connection, used by root, asks as alice.
        let alices = connection_made_by(&alice(), install);
        read_hello(&alices);
        assert_eq!(
            exchange(&alices, &request(&file, RD), &[]),
            Reply::Opened,
            "{install:?}: a connection alice made asks as alice"
        );
    }
    let lines = env.audit_lines();
    let mut peers = Vec::new();
    for line in audit_lines_for(&lines, &file) {
        assert_eq!(
            audit_field(line, "mode").as_deref(),
            Some("daemon"),
            "{line}"
        );
        assert_ne!(audit_field(line, "uid").as_deref(), Some("0"), "{line}");
        let pid = audit_field(line, "peer_pid").expect("peer_pid");
        // SO_PEERPIDFD (Linux 6.5) names the connector's process by its pidfs inode, which,
        // unlike a pid, is never reused while the system runs.
        let pidfd_id = audit_field(line, "peer_pidfd_id");
        if kernel_has_peer_pidfd() {
            let pidfd_id = pidfd_id.unwrap_or_else(|| panic!("peer_pidfd_id missing: {line}"));
            assert!(pidfd_id.parse::<u64>().is_ok_and(|id| id > 0), "{line}");
            peers.push((pid, pidfd_id));
        } else {
            assert_eq!(pidfd_id, None, "{line}");
        }
    }
    peers.sort();
    peers.dedup();
    assert!(
        !kernel_has_peer_pidfd() || peers.len() >= 4,
        "bob's and alice's connector processes, two installs: {peers:?}"
    );
    let processes: std::collections::BTreeSet<_> = peers.iter().map(|(_, id)| id).collect();
    assert_eq!(
        processes.len(),
        peers.len(),
        "each connecting process has its own peer_pidfd_id: {peers:?}"
    );
}

/// Whether this kernel answers `SO_PEERPIDFD` (Linux 6.5) with a pidfd on pidfs (6.9), whose
/// inode numbers name processes.
fn kernel_has_peer_pidfd() -> bool {
    let (left, _right) = nix::sys::socket::socketpair(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::SeqPacket,
        None,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
    )
    .expect("socketpair");
    nix::sys::socket::getsockopt(&left, nix::sys::socket::sockopt::PeerPidfd)
        .ok()
        .and_then(|pidfd| nix::sys::statfs::fstatfs(&pidfd).ok())
        .is_some_and(|file_system| file_system.filesystem_type().0 == 0x5049_4446)
}

#[test]
fn hostile_frames_and_descriptors_are_refused_and_others_are_still_served() {
    let Some(env) = privileged_env!() else { return };
    let file = alices_file(&env);
    let install = Install::Daemon;
    // A descriptor sent to the daemon is closed unread and its request refused (EINVAL, origin
    // request: requests carry no descriptor), not judged: for root the policy would say EACCES.
    // The session goes on.
    let connection = connect_raw(install);
    let sent_along = std::fs::File::open("/dev/null").expect("/dev/null");
    let probe_pipe = nix::unistd::pipe().expect("pipe");
    assert_eq!(
        exchange(&connection, &request(&file, RD), &[probe_pipe.1.as_fd()]),
        Reply::refused(libc::EINVAL, Origin::Request),
        "a request carrying a descriptor is refused"
    );
    assert_eq!(
        exchange(&connection, &request(&file, RD), &[]),
        Reply::refused(libc::EACCES, Origin::Policy),
        "the next request on the connection is judged as usual (root is not alice)"
    );
    drop(probe_pipe.1);
    let mut byte = [0u8; 1];
    assert_eq!(
        nix::unistd::read(&probe_pipe.0, &mut byte),
        Ok(0),
        "the daemon kept no copy of the descriptor it was sent"
    );
    drop(sent_along);
    // Oversized and empty frames: EINVAL, origin request, and the session ends.
    for frame in [vec![0u8; MAX_REQUEST_LEN + 1], Vec::new()] {
        let connection = connect_raw(install);
        assert_eq!(
            exchange(&connection, &frame, &[]),
            Reply::refused(libc::EINVAL, Origin::Request)
        );
        let mut rest = [0u8; 4];
        assert_eq!(
            recv_with_fds(&connection, &mut rest, 0)
                .map(|r| r.bytes)
                .ok(),
            Some(0),
            "the session ended"
        );
    }
    // A client that never sends, and 1,000 connections opened and dropped, delay nobody.
    let silent = connect_raw(install);
    let daemon_pid = ensure_daemon(install);
    // Serving two connections: the first one above and the silent one.
    let before = at_rest(daemon_pid, 2);
    for _ in 0..1000 {
        drop(connected(&socket_of(install)));
    }
    let started = Instant::now();
    assert_eq!(
        probe(&alice(), install, &file, RD),
        Outcome::opened("for alice\n")
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "served in time"
    );
    // The dropped connections' workers end; the daemon is back where it was.
    assert!(
        settles_within(daemon_pid, before),
        "no descriptor or worker left behind: {:?} after, {before:?} before",
        descriptors_and_children(daemon_pid)
    );
    drop(silent);
    drop(env);
}

#[test]
fn a_request_sent_before_the_hello_is_answered_after_it() {
    let Some(env) = privileged_env!() else { return };
    let file = alices_file(&env);
    ensure_daemon(Install::Daemon);
    // Alice's connection, her request sent before anything is read: the hello comes first, then
    // the reply, as the library (which sends its first request with the connect) expects.
    let connection = connection_to_made_by(&alice(), &socket_of(Install::Daemon));
    send_with_fds(&connection, &request(&file, RD), &[]).expect("send");
    assert_eq!(
        read_hello(&connection).version,
        myopen::wire::session::VERSION
    );
    let mut reply = [0u8; REPLY_LEN + 1];
    let received = recv_with_fds(&connection, &mut reply, 1).expect("reply");
    assert_eq!(
        Reply::decode(&reply[..received.bytes], received.fds.len()),
        Ok(Reply::Opened),
        "the early request is served after the hello"
    );
    let mut content = String::new();
    std::fs::File::from(received.fds.into_iter().next().expect("a descriptor"))
        .read_to_string(&mut content)
        .expect("read");
    assert_eq!(content, "for alice\n");
}

#[test]
fn the_per_uid_limit_refuses_clearly_and_others_are_served() {
    let Some(env) = privileged_env!() else { return };
    let file = alices_file(&env);
    let daemon = Started::daemon(&["--per-uid", "2"]);
    let socket = socket_of(Install::Daemon);
    // Alice's connections (kept open here): two are her limit, the third is refused. Alice
    // made none before, so no connection of hers is still winding down.
    let first = connection_to_made_by(&alice(), &socket);
    let second = connection_to_made_by(&alice(), &socket);
    read_hello(&first);
    read_hello(&second);
    let third = connection_to_made_by(&alice(), &socket);
    let mut record = [0u8; HELLO_LEN + 1];
    let received = recv_with_fds(&third, &mut record, 0).expect("the daemon's answer");
    assert_eq!(
        Reply::decode(&record[..received.bytes], 0),
        Ok(Reply::refused(libc::EUSERS, Origin::System)),
        "the third connection of one uid is refused, in place of the hello"
    );
    // The library sends its request with the connect, before the hello: the refusal still
    // reaches it (a connection closed with that request unread would read as ECONNRESET).
    let target = format!("daemon:{}", socket.display());
    let early = run(command_as(&alice(), it_probe())
        .arg(&target)
        .arg(&file)
        .arg(RD.to_string()));
    assert_eq!(
        outcome(&early).errno(),
        Some(libc::EUSERS),
        "a request sent with the connect gets the refusal: {early:?}"
    );
    // Root is another uid: served.
    let session = Session::with_daemon(Some(Daemon::at(&socket)), Helper::at("/nonexistent"));
    assert!(session.is_ok(), "root is another uid: {session:?}");
    let served = outcome(&run(command_as(&bob(), it_probe())
        .arg(&target)
        .arg(&file)
        .arg(RD.to_string())));
    assert_eq!(
        served,
        denied(),
        "another uid is served (and judged: bob is not listed)"
    );
    drop((first, second, third));
    assert!(
        daemon_log(Install::Daemon).contains("connections (the limit)"),
        "the refusal is logged"
    );
    drop(daemon);
}

#[test]
fn a_killed_worker_is_a_clear_error_and_the_daemon_goes_on() {
    let Some(env) = privileged_env!() else { return };
    let file = alices_file(&env);
    let install = Install::Daemon;
    let daemon_pid = ensure_daemon(install);
    let session = Session::with_daemon(Some(Daemon::at(socket_of(install))), Helper::at("/x"))
        .expect("session");
    // Root's request, refused by policy: the worker is now busy serving this session.
    assert!(matches!(
        session.open(&file, RD),
        Err(Error::PolicyRefused { .. })
    ));
    let children =
        std::fs::read_to_string(format!("/proc/{daemon_pid}/task/{daemon_pid}/children"))
            .expect("children");
    // The busy worker is the one whose descriptors include a connected socket of ours: the
    // newest child that is not idle. Kill every child; idle ones are replaced, the busy one is
    // the session's.
    let killed: Vec<i32> = children
        .split_whitespace()
        .map(|pid| pid.parse().expect("pid"))
        .collect();
    for pid in &killed {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    // Until a killed worker has been reaped, the listener may still hand it a connection: the
    // send succeeds into the queue of a process that is ending, and that client sees the
    // connection close before its hello. The next client is the one after the daemon saw them go.
    let killing = Instant::now();
    while killed
        .iter()
        .any(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
    {
        assert!(
            killing.elapsed() < Duration::from_secs(10),
            "killed workers reaped within 10 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    match session.open(&file, RD) {
        Err(Error::DaemonUnreachable { .. }) | Err(Error::PolicyRefused { .. }) => {}
        other => panic!("a killed worker is a clear error (or a new session): {other:?}"),
    }
    assert_eq!(
        probe(&alice(), install, &file, RD),
        Outcome::opened("for alice\n"),
        "the daemon serves the next client"
    );
    let settled = Instant::now();
    while !daemon_log(install).contains("killed by SIGKILL")
        && settled.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        daemon_log(install).contains("killed by SIGKILL"),
        "{}",
        daemon_log(install)
    );
}

#[test]
fn an_idle_connection_is_closed_after_the_timeout() {
    let Some(_env) = privileged_env!() else {
        return;
    };
    let daemon = Started::daemon(&["--idle-timeout", "1"]);
    let connection = connect_to(&socket_of(Install::Daemon));
    let started = Instant::now();
    let mut byte = [0u8; 4];
    let received = recv_with_fds(&connection, &mut byte, 0).expect("end of file");
    assert_eq!(received.bytes, 0, "the daemon closed the idle connection");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(daemon);
}

#[test]
fn load_64_clients_leave_no_descriptor_or_worker_behind() {
    let Some(env) = privileged_env!() else { return };
    let file = env.file("d/load", b"x", 0o600, None);
    env.allow_reading("d/load", &["root"]);
    let install = Install::Daemon;
    let daemon_pid = ensure_daemon(install);
    // The connection that saw the daemon answer was root's too: until its worker is reaped it
    // counts against root's 64, and the 64th client here would be refused (EUSERS), as it was on
    // a loaded machine.
    let before = at_rest(daemon_pid, 0);
    let socket = socket_of(install);
    let opens_per_client = 2000;
    let failures: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..64)
            .map(|_| {
                let (socket, file) = (&socket, &file);
                scope.spawn(move || {
                    let session =
                        Session::with_daemon(Some(Daemon::at(socket)), Helper::at("/nonexistent"))
                            .expect("session");
                    (0..opens_per_client)
                        .filter(|_| session.open(file, RD).is_err())
                        .count()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("client"))
            .sum()
    });
    assert_eq!(failures, 0, "every open of 64 x {opens_per_client} served");
    assert!(
        settles_within(daemon_pid, before),
        "no descriptor or worker left behind: {:?} after, {before:?} before",
        descriptors_and_children(daemon_pid)
    );
}

#[test]
fn sigterm_loses_no_reply_silently_and_a_restarted_daemon_serves() {
    let Some(env) = privileged_env!() else { return };
    let file = env.file("d/restart", b"x", 0o600, None);
    env.allow_reading("d/restart", &["root"]);
    let daemon = start_daemon(Install::Daemon, &[]);
    let socket = socket_of(Install::Daemon);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (served, errors) = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..8)
            .map(|_| {
                let (socket, file, stop) = (&socket, &file, &stop);
                scope.spawn(move || {
                    let (mut served, mut errors) = (0, Vec::new());
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        match Daemon::at(socket).open(file, RD) {
                            Ok(_) => served += 1,
                            Err(error) => errors.push(error),
                        }
                    }
                    (served, errors)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        let status = stop_daemon(daemon);
        assert!(status.is_some_and(|status| status.success()), "{status:?}");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        clients
            .into_iter()
            .map(|client| client.join().expect("client"))
            .fold((0, Vec::new()), |(served, mut errors), (s, e)| {
                errors.extend(e);
                (served + s, errors)
            })
    });
    assert!(served > 0, "clients were served before the stop");
    for error in &errors {
        assert!(
            matches!(
                error,
                Error::DaemonUnreachable { .. } | Error::DaemonRefused { .. }
            ),
            "every failure is a clear daemon error: {error:?}"
        );
    }
    let restarted = start_daemon(Install::Daemon, &[]);
    assert!(
        Daemon::at(&socket).open(&file, RD).is_ok(),
        "a restarted daemon serves the next request"
    );
    stop_daemon(restarted);
}

/// The `/proc/<pid>/status` fields of `pid`, as (key, value) pairs.
fn status_of(pid: u32) -> Vec<(String, String)> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.to_owned(), value.trim().to_owned()))
        .collect()
}

fn status_field(status: &[(String, String)], key: &str) -> String {
    status
        .iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.clone())
        .unwrap_or_default()
}

/// The pool `start_daemon` gives a test's daemon.
const TEST_POOL: usize = 2;

/// Daemon `pid`'s descriptors and children once it is at rest: its pool full and exactly
/// `serving` workers serving the connections the test holds open (an idle worker is under only
/// the armed filter; one that took a connection has a second one). A snapshot taken earlier would count a connection still ending, or a pool the listener
/// refills a moment later (it forks replacements once a connection is set up), and the
/// comparison after the test would fail either way.
fn at_rest(daemon_pid: u32, serving: usize) -> (usize, usize) {
    let started = Instant::now();
    loop {
        let workers: Vec<u32> =
            std::fs::read_to_string(format!("/proc/{daemon_pid}/task/{daemon_pid}/children"))
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect();
        let idle = workers
            .iter()
            .filter(|pid| status_field(&status_of(**pid), "Seccomp_filters") == "1")
            .count();
        if workers.len() == TEST_POOL + serving && idle == TEST_POOL {
            return descriptors_and_children(daemon_pid);
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "daemon {daemon_pid} at rest within 10 s: {} workers, {idle} idle, {serving} expected \
             serving",
            workers.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The daemon's children whose real uid is `uid`: the workers serving that user.
fn workers_serving(daemon_pid: u32, uid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{daemon_pid}/task/{daemon_pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|pid| pid.parse().ok())
        .filter(|pid| {
            status_field(&status_of(*pid), "Uid")
                .split_whitespace()
                .next()
                .is_some_and(|real| real == uid.to_string())
        })
        .collect()
}

/// P6 for the daemon, observed from outside as `privileged_state` observes the helpers: a
/// worker serving alice holds every uid and gid and exactly the supplementary groups the kernel
/// recorded for her connection, only the two DAC capabilities permitted (nothing effective,
/// inheritable or ambient, the bounding set trimmed to them), no_new_privs, the seccomp fence,
/// and is not dumpable (its /proc files belong to root, so alice cannot ptrace or read it).
#[test]
fn a_worker_reaches_the_setuid_helpers_reduced_state_before_the_hello() {
    let Some(_env) = privileged_env!() else {
        return;
    };
    let user = alice();
    let ids = |id: u32| format!("{id}\t{id}\t{id}\t{id}");
    for install in [Install::Daemon, Install::DaemonActivated] {
        let daemon_pid = ensure_daemon(install);
        let connection = connection_made_by(&user, install);
        // The hello is sent only after the switch and the fence.
        read_hello(&connection);
        let workers = workers_serving(daemon_pid, user.uid);
        assert_eq!(workers.len(), 1, "{install:?}: one worker serves alice");
        let worker = workers[0];
        let status = status_of(worker);
        let field = |key: &str| status_field(&status, key);
        assert_eq!(field("Uid"), ids(user.uid), "{install:?}: uids");
        assert_eq!(field("Gid"), ids(user.gid), "{install:?}: gids");
        let mut groups: Vec<u32> = field("Groups")
            .split_whitespace()
            .filter_map(|group| group.parse().ok())
            .collect();
        groups.sort_unstable();
        let mut expected: Vec<u32> = nix::unistd::getgrouplist(
            &std::ffi::CString::new(user.name).expect("name"),
            nix::unistd::Gid::from_raw(user.gid),
        )
        .expect("alice's groups")
        .into_iter()
        .map(nix::unistd::Gid::as_raw)
        .collect();
        expected.sort_unstable();
        expected.dedup();
        assert_eq!(groups, expected, "{install:?}: supplementary groups");
        // The two DAC capabilities permitted, nothing effective.
        assert_capabilities(&status, install, "0000000000000006", "0000000000000000");
        assert_eq!(field("NoNewPrivs"), "1", "{install:?}");
        assert_eq!(field("Seccomp"), "2", "{install:?}: the seccomp fence");
        // The filter it armed with while idle (the request loop's calls and the switch's), and
        // the one stacked after the switch that takes the switch's calls away again.
        assert_eq!(
            field("Seccomp_filters"),
            "2",
            "{install:?}: the armed filter and the switch closed"
        );
        let owner = std::os::unix::fs::MetadataExt::uid(
            &std::fs::metadata(format!("/proc/{worker}/status")).expect("worker status"),
        );
        assert_eq!(
            owner, 0,
            "{install:?}: not dumpable (its /proc belongs to root)"
        );
        drop(connection);
    }
}

/// A daemon process's capability sets (its `/proc/<pid>/status`): `permitted` and `effective` as
/// given, nothing inheritable or ambient, and the bounding set cut to the two DAC capabilities.
fn assert_capabilities(
    status: &[(String, String)],
    install: Install,
    permitted: &str,
    effective: &str,
) {
    let field = |key: &str| status_field(status, key);
    assert_eq!(field("CapPrm"), permitted, "{install:?}: permitted");
    assert_eq!(field("CapEff"), effective, "{install:?}: effective");
    assert_eq!(
        field("CapInh"),
        "0000000000000000",
        "{install:?}: inheritable"
    );
    assert_eq!(field("CapAmb"), "0000000000000000", "{install:?}: ambient");
    assert_eq!(
        field("CapBnd"),
        "0000000000000006",
        "{install:?}: bounding set"
    );
}

/// The listener holds only what it hands to workers (CAP_SETUID, CAP_SETGID, CAP_KILL and the
/// DAC pair: 0xe6), nothing inheritable or ambient, and its bounding set is already cut to the DAC
/// pair, which every worker it forks inherits: no worker holds CAP_SETPCAP to cut it again.
#[test]
fn the_listener_holds_only_what_it_hands_to_workers() {
    let Some(_env) = privileged_env!() else {
        return;
    };
    for install in [Install::Daemon, Install::DaemonActivated] {
        let status = status_of(ensure_daemon(install));
        assert_eq!(
            status_field(&status, "Name"),
            "myopend",
            "{install:?}: the listener itself"
        );
        assert_capabilities(&status, install, "00000000000000e6", "00000000000000e6");
    }
}

/// An idle worker arms itself before any connection arrives: it is still root, but already
/// under its seccomp filter (one, with no_new_privs), so that a client's connection meets a
/// worker that only has to become its peer. Its policy is read then too, and read again at the
/// hand-over when it changed (the next test).
#[test]
fn idle_workers_are_armed_before_a_connection_arrives() {
    let Some(_env) = privileged_env!() else {
        return;
    };
    let daemon = Started::daemon(&["--pool", "3"]);
    let started = Instant::now();
    let idle = loop {
        let idle = workers_serving(daemon.id(), 0);
        let armed = idle.iter().all(|pid| {
            let status = status_of(*pid);
            status_field(&status, "Seccomp") == "2"
                && status_field(&status, "Seccomp_filters") == "1"
                && status_field(&status, "NoNewPrivs") == "1"
        });
        if idle.len() == 3 && armed {
            break idle;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "three idle workers, each under one seccomp filter with no_new_privs, within 10 s: \
             {:?}",
            idle.iter()
                .map(|pid| (pid, status_field(&status_of(*pid), "Seccomp_filters")))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    for pid in idle {
        let status = status_of(pid);
        assert_eq!(
            status_field(&status, "Uid"),
            "0\t0\t0\t0",
            "an idle worker is nobody's yet"
        );
        // Its audit socket exists before any peer could touch its limits (review finding F6:
        // a peer that lowered its worker's descriptor limit between the switch and the socket
        // would have silenced its refusals).
        assert!(
            unix_socket_types_of(pid).contains(&libc::SOCK_DGRAM),
            "worker {pid} holds its audit socket (SOCK_DGRAM) while idle: {:?}",
            unix_socket_types_of(pid)
        );
    }
    drop(daemon);
}

/// The types (`SOCK_DGRAM`, `SOCK_SEQPACKET`, ...) of the `AF_UNIX` sockets process `pid` holds,
/// from its descriptors' inodes and `/proc/net/unix`.
fn unix_socket_types_of(pid: u32) -> Vec<i32> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| {
            entries
                .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
                .filter_map(|target| {
                    let target = target.to_string_lossy().into_owned();
                    let inode = target.strip_prefix("socket:[")?.strip_suffix(']')?;
                    Some(inode.to_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    // Num RefCount Protocol Flags Type St Inode [Path]
    std::fs::read_to_string("/proc/net/unix")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let inode = fields.get(6)?;
            inodes
                .iter()
                .any(|wanted| wanted == inode)
                .then(|| i32::from_str_radix(fields.get(4)?, 16).ok())?
        })
        .collect()
}

/// A worker that armed itself before the policy changed serves the policy as it is at the
/// hand-over: a grant added and a grant revoked while the pool's workers sat idle both reach the
/// very next connection.
#[test]
fn a_policy_changed_while_workers_are_idle_reaches_the_next_connection() {
    let Some(env) = privileged_env!() else {
        return;
    };
    let user = alice();
    let first = env.file("d/first", b"first\n", 0o600, None);
    let second = env.file("e/second", b"second\n", 0o600, None);
    env.allow_reading("d/first", &[ALICE]);
    let daemon = Started::daemon(&["--pool", "2"]);
    let socket = socket_of(Install::Daemon);
    let ask = |path: &Path| {
        let connection = connection_to_made_by(&user, &socket);
        read_hello(&connection);
        exchange(&connection, &request(path, RD), &[])
    };
    assert_eq!(ask(&first), Reply::Opened, "the first rule grants");
    assert_ne!(
        ask(&second),
        Reply::Opened,
        "nothing grants the second file yet"
    );
    // The pool is full of workers armed under the old policy: wait for them to be armed.
    let started = Instant::now();
    while workers_serving(daemon.id(), 0)
        .iter()
        .filter(|pid| status_field(&status_of(**pid), "Seccomp_filters") == "1")
        .count()
        < 2
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the pool is armed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A new rule on a path outside every old root (so outside the old Landlock fence too), and
    // the old rule gone.
    env.write_policy(&format!(
        "[[allow]]\npath = \"{}\"\nusers = [\"{ALICE}\"]\naccess = [\"read\"]\n",
        second.display()
    ));
    assert_eq!(
        ask(&second),
        Reply::Opened,
        "the rule added while the workers were idle grants at the next connection"
    );
    assert_ne!(
        ask(&first),
        Reply::Opened,
        "the rule removed while the workers were idle no longer grants"
    );
    drop(daemon);
}

/// The daemon's first record on `connection`, as a reply (a refusal comes in place of the hello).
fn refusal_in_place_of_hello(connection: &OwnedFd) -> Result<Reply, String> {
    let mut record = [0u8; HELLO_LEN + 1];
    let received = recv_with_fds(connection, &mut record, 0).map_err(|error| error.to_string())?;
    Reply::decode(&record[..received.bytes], 0).map_err(|error| format!("{error:?}"))
}

#[test]
fn the_total_worker_cap_refuses_with_eagain_and_serves_again_when_a_client_leaves() {
    let Some(_env) = privileged_env!() else {
        return;
    };
    let daemon = Started::daemon(&["--max-workers", "2"]);
    let socket = socket_of(Install::Daemon);
    // The worker of start_daemon's own readiness check counts until it is reaped, a moment
    // after that connection closed: until then a connection may be refused.
    let first = served_connection(&socket);
    let second = served_connection(&socket);
    let third = connected(&socket).expect("connect");
    assert_eq!(
        refusal_in_place_of_hello(&third),
        Ok(Reply::refused(libc::EAGAIN, Origin::System)),
        "two workers busy: the third connection is refused, in place of the hello"
    );
    drop(first);
    // The first worker ends and is reaped; then a connection is served again.
    let next = served_connection(&socket);
    assert!(
        daemon_log(Install::Daemon).contains("workers busy (the limit)"),
        "the refusal is logged"
    );
    drop((second, third, next));
    drop(daemon);
}

/// A connection to `socket` that got its hello, retried for 10 s while the daemon refuses
/// (a worker of a closed connection still counted).
fn served_connection(socket: &Path) -> OwnedFd {
    let started = Instant::now();
    loop {
        let connection = connected(socket).expect("connect");
        let mut record = [0u8; HELLO_LEN + 1];
        let received = recv_with_fds(&connection, &mut record, 0).expect("an answer");
        if Hello::decode(&record[..received.bytes]).is_some() {
            return connection;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no connection served within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// CPU time (user + system, in clock ticks) process `pid` has used.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of proc(5); after the name, the 12th and 13th.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

#[test]
fn running_out_of_descriptors_pauses_accept_without_spinning_and_recovers() {
    let Some(_env) = privileged_env!() else {
        return;
    };
    let daemon = Started::daemon(&[]);
    let pid = daemon.id();
    let socket = socket_of(Install::Daemon);
    let target = nix::unistd::Pid::from_raw(pid as i32);
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let soft: u64 = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|soft| soft.parse().ok())
        .expect("the daemon's soft descriptor limit");
    // No descriptor number left for the listener (0-2 are taken): accept fails with EMFILE
    // while clients wait in the backlog.
    prlimit_nofile(target, 3);
    let waiting: Vec<OwnedFd> = (0..4)
        .map(|_| connected(&socket).expect("connect: the backlog takes it"))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(1));
    let spent = cpu_ticks(pid) - before;
    assert!(
        spent < 10,
        "the listener spun while accept failed: {spent} ticks of CPU in one second"
    );
    assert!(
        daemon_log(Install::Daemon).contains("accept: Too many open files; not accepting"),
        "the failure is logged: {}",
        daemon_log(Install::Daemon)
    );
    // Descriptors back: the clients that waited are served.
    prlimit_nofile(target, soft);
    for connection in &waiting {
        read_hello(connection);
    }
    drop(waiting);
    drop(daemon);
}

/// Sets the soft descriptor limit of process `pid` (same uid, so no privilege is needed).
fn prlimit_nofile(pid: nix::unistd::Pid, soft: u64) {
    let status = std::process::Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={soft}:"))
        .status()
        .expect("prlimit");
    assert!(status.success(), "prlimit --nofile={soft}: for {pid}");
}

#[test]
fn clients_gone_mid_request_end_their_workers_cleanly_and_others_are_served() {
    let Some(env) = privileged_env!() else { return };
    let file = alices_file(&env);
    let daemon = Started::daemon(&[]);
    let pid = daemon.id();
    let socket = socket_of(Install::Daemon);
    let before = at_rest(pid, 0);
    // Each sends a request and is gone before the reply: its worker's send meets a closed
    // socket (EPIPE, never SIGPIPE) and the worker ends.
    for _ in 0..50 {
        let connection = connect_to(&socket);
        send_with_fds(&connection, &request(&file, RD), &[]).expect("send");
        drop(connection);
    }
    assert!(
        settles_within(pid, before),
        "every worker of a vanished client ended: {:?} after, {before:?} before",
        descriptors_and_children(pid)
    );
    assert_eq!(
        probe(&alice(), Install::Daemon, &file, RD),
        Outcome::opened("for alice\n"),
        "the daemon serves the next client"
    );
    let log = daemon_log(Install::Daemon);
    assert!(
        !log.contains("killed by"),
        "no worker died of a signal: {log}"
    );
    drop(daemon);
}

/// Connects to the daemon at `socket` from a user namespace and asks for `file`: `outer` is the
/// user who makes the namespace, `maps` what root writes into its uid_map and gid_map (with
/// setgroups allowed, as newuidmap and newgidmap leave it), and (uid, gid, groups) the ids the
/// process then takes inside. What it got: `opened`, `refused <errno>` for a request refused, or
/// `connection refused <errno>` for a refusal in place of the hello.
fn ask_from_a_user_namespace(
    socket: &Path,
    file: &Path,
    outer: &TestUser,
    maps: (&str, &str),
    inside: (u32, u32, &[u32]),
) -> String {
    const CLIENT: &str = r#"
import ctypes, os, socket, struct, sys, time
sock, path, uid, gid, groups, uid_map, gid_map, in_uid, in_gid, in_groups = sys.argv[1:]
ids = lambda text: [int(i) for i in text.split(",") if i]
ready, go = os.pipe(), os.pipe()
child = os.fork()
if child == 0:
    os.setgroups(ids(groups)); os.setresgid(int(gid), int(gid), int(gid))
    os.setresuid(int(uid), int(uid), int(uid))
    assert ctypes.CDLL(None, use_errno=True).unshare(0x10000000) == 0, "unshare"
    os.write(ready[1], b"x"); os.read(go[0], 1)
    os.setgroups(ids(in_groups)); os.setresgid(int(in_gid), int(in_gid), int(in_gid))
    os.setresuid(int(in_uid), int(in_uid), int(in_uid))
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); connection.connect(sock)
    # Sent before the hello, as the library sends a read-only request: a worker that refuses
    # the peer must still deliver its refusal, not a reset from closing with the request unread.
    # Read only once the worker has surely gone: otherwise the client would usually read the
    # refusal before the worker's close, and the reset would show only now and then.
    connection.send(struct.pack("<iII", 0, 0, len(path)) + path.encode())
    time.sleep(0.3)
    first = connection.recv(16)
    if len(first) == 2:
        print("connection refused", first[0]); os._exit(0)
    reply, ancillary, _, _ = connection.recvmsg(16, socket.CMSG_SPACE(4))
    print("opened" if ancillary and reply[0] == 0 else "refused %d" % reply[0]); os._exit(0)
os.read(ready[0], 1)
open("/proc/%d/uid_map" % child, "w").write(uid_map.replace(";", "\n"))
open("/proc/%d/setgroups" % child, "w").write("allow\n")
open("/proc/%d/gid_map" % child, "w").write(gid_map.replace(";", "\n"))
os.write(go[1], b"x")
_, status = os.waitpid(child, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let list = |ids: &[u32]| ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let outer_groups: Vec<u32> = nix::unistd::getgrouplist(
        &std::ffi::CString::new(outer.name).expect("name"),
        nix::unistd::Gid::from_raw(outer.gid),
    )
    .expect("groups")
    .into_iter()
    .map(nix::unistd::Gid::as_raw)
    .collect();
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(CLIENT)
        .arg(socket)
        .arg(file)
        .arg(outer.uid.to_string())
        .arg(outer.gid.to_string())
        .arg(list(&outer_groups))
        .arg(maps.0)
        .arg(maps.1)
        .arg(inside.0.to_string())
        .arg(inside.1.to_string())
        .arg(list(inside.2))
        .output()
        .expect("python3");
    assert!(
        output.status.success(),
        "the user-namespace client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Removes a file when dropped (the sub-id files this test writes into the test tree).
struct Removed(std::path::PathBuf);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A user with subordinate ids (newuidmap, newgidmap) can make a user namespace in which it may
/// still call setgroups: there it can drop the groups it holds, or become one of its
/// subordinate ids, and the daemon sees the result as the kernel maps it. Neither may escape a
/// deny: a deny naming a group matches the groups the user database lists for the peer's uid
/// too, and a peer whose uid, gid or groups lie in a subordinate range is refused.
#[test]
fn user_namespace_ids_never_escape_a_deny() {
    let Some(env) = privileged_env!() else { return };
    let file = env.file("d/guarded", b"guarded\n", 0o600, None);
    env.write_policy(&format!(
        "[[allow]]\npath = \"{dir}/**\"\nusers = [\"*\"]\naccess = [\"read\"]\n\n\
         [[deny]]\npath = \"{dir}/**\"\ngroups = [\"{READERS}\"]\n",
        dir = env.path("d").display()
    ));
    let subuid = Removed(Path::new(ETC).join("subuid"));
    let subgid = Removed(Path::new(ETC).join("subgid"));
    std::fs::write(&subuid.0, format!("{ALICE}:300000:65536\n")).expect("subuid");
    std::fs::write(&subgid.0, format!("{ALICE}:300000:65536\n")).expect("subgid");
    let user = alice();
    let readers = readers_gid();
    for install in [Install::Daemon, Install::DaemonActivated] {
        ensure_daemon(install);
        let socket = socket_of(install);
        assert_eq!(
            probe(&user, install, &file, RD).errno(),
            Some(libc::EACCES),
            "{install:?}: alice is in {READERS}: denied"
        );
        // Her own uid and gid, the group she holds dropped inside the namespace.
        let own = (
            format!("0 {} 1", user.uid),
            format!("0 {} 1;1 {readers} 1", user.gid),
        );
        assert_eq!(
            ask_from_a_user_namespace(&socket, &file, &user, (&own.0, &own.1), (0, 0, &[])),
            format!("refused {}", libc::EACCES),
            "{install:?}: alice without {READERS} in her groups is still a member by the database"
        );
        // One of her subordinate ids.
        let subordinate = ("0 300000 65536", "0 300000 65536");
        assert_eq!(
            ask_from_a_user_namespace(&socket, &file, &user, subordinate, (7, 5, &[])),
            format!("connection refused {}", libc::EPERM),
            "{install:?}: a subordinate uid is a user-namespace identity: refused"
        );
    }
    assert!(
        daemon_log(Install::Daemon).contains("subordinate"),
        "the refusal is logged: {}",
        daemon_log(Install::Daemon)
    );
}

#[test]
fn sigterm_ends_even_a_stopped_worker_within_the_drain_bound() {
    let Some(env) = privileged_env!() else { return };
    alices_file(&env);
    let mut daemon = Started::daemon(&[]);
    let pid = daemon.id();
    let connection = connection_to_made_by(&alice(), &socket_of(Install::Daemon));
    read_hello(&connection);
    let workers = workers_serving(pid, alice().uid);
    assert_eq!(workers.len(), 1, "one worker serves alice");
    // Alice may stop the worker that serves her (it has her uid): it can finish nothing.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(workers[0] as i32),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .expect("SIGSTOP");
    let mut child = daemon.0.take().expect("the daemon");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    let started = Instant::now();
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.is_some(),
        "the listener could not end a stopped worker of another uid: still running after 20 s"
    );
    assert!(
        std::fs::metadata(format!("/proc/{}", workers[0])).is_err(),
        "the stopped worker is gone"
    );
    drop(connection);
}

/// P5 through the library's own choice: a program whose effective uid is not its real one (a
/// setuid-root program run by alice, here without the exec) asks for alice's path. The daemon
/// would judge the connection by the effective uid (root, denied); the library goes to the
/// helper instead, which judges the real uid: alice, granted.
#[test]
fn a_program_with_other_effective_ids_is_judged_as_its_real_user() {
    let Some(env) = privileged_env!() else { return };
    let file = alices_file(&env);
    ensure_daemon(Install::Daemon);
    let user = alice();
    let asked = |mode: String| {
        let output = std::process::Command::new(it_probe())
            .arg(mode)
            .arg(&file)
            .arg(RD.to_string())
            .env("MYOPEN_SOCKET", socket_of(Install::Daemon))
            .env("MYOPEN_HELPER", Install::Setuid.helper())
            .output()
            .expect("myopen-probe");
        outcome(&output)
    };
    assert_eq!(
        asked(format!("env-real:{}:{}", user.uid, user.gid)),
        Outcome::opened("for alice\n"),
        "real uid alice, effective root: judged as alice (through the helper)"
    );
    assert_eq!(
        asked("env".to_owned()),
        Outcome::opened("for alice\n")
            .errno()
            .map_or(denied(), |_| denied()),
        "real and effective root: the daemon judges root, who is not listed"
    );
}

/// A relative path means the caller's working directory: a one-shot helper reads it (getcwd
/// passes the fence), myopend does not share it (the library sends the path whole, and the
/// daemon refuses one that comes relative).
#[test]
fn relative_paths_name_the_callers_directory_and_the_daemon_refuses_them_raw() {
    let Some(env) = privileged_env!() else { return };
    alices_file(&env);
    for install in Install::SERVED {
        if install.is_daemon() {
            ensure_daemon(install);
        }
        let output = command_as(&alice(), it_probe())
            .current_dir(env.path("d"))
            .arg(install.probe_target())
            .arg("report")
            .arg(RD.to_string())
            .output()
            .expect("myopen-probe");
        assert_eq!(
            outcome(&output),
            Outcome::opened("for alice\n"),
            "{install:?}: report in alice's working directory"
        );
    }
    let install = Install::Daemon;
    let connection = connect_raw(install);
    assert_eq!(
        exchange(&connection, &request(Path::new("report"), RD), &[]),
        Reply::refused(libc::EINVAL, Origin::System),
        "a relative path sent raw"
    );
}

/// When handing a connection to a worker fails for a reason that is not the worker's death
/// (here ETOOMANYREFS: root has more descriptors in flight than the listener's descriptor
/// limit), the listener refuses that connection and goes on; it must not fork worker after
/// worker trying again.
#[test]
fn a_hand_over_that_keeps_failing_refuses_the_connection_without_spinning() {
    let Some(_env) = privileged_env!() else {
        return;
    };
    let daemon = Started::daemon(&[]);
    let pid = daemon.id();
    let socket = socket_of(Install::Daemon);
    prlimit_nofile(nix::unistd::Pid::from_raw(pid as i32), 32);
    // Descriptors in flight, sent by root and never received: more than the listener's limit.
    let (sender, unread) = nix::sys::socket::socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .expect("socketpair");
    let null = std::fs::File::open("/dev/null").expect("/dev/null");
    for _ in 0..8 {
        send_with_fds(&sender, b"x", &[null.as_fd(); 8]).expect("descriptors in flight");
    }
    let refused = connected(&socket).expect("connect");
    let started = Instant::now();
    let before = cpu_ticks(pid);
    let answer = refusal_in_place_of_hello(&refused);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the connection was answered in time"
    );
    assert_eq!(
        answer,
        Ok(Reply::refused(libc::EAGAIN, Origin::System)),
        "refused, in place of the hello"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        cpu_ticks(pid) - before < 10,
        "the listener spun after the failed hand-over"
    );
    // The descriptors in flight gone, the next client is served.
    drop((sender, unread));
    served_connection(&socket);
    drop(daemon);
}
