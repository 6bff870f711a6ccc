//! Privileged end-to-end tests of the open path (issue 9, sections 3 to 5), through the setuid and
//! file-capability installs, as the test users:
//!
//! - a failed resolution tells the caller nothing about what the policy hides (no existence or
//!   type oracle through a symlink into a directory the caller cannot search);
//! - no grant without its audit record, written before the open takes effect, within a bound;
//! - the object opened is the one open(2) would open for the path as given;
//! - a granted terminal never becomes the helper's controlling terminal.

use std::fs;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use libc::{EACCES, ENOENT, ENOTDIR};
use myopen::wire::STATUS_OPENED;
use myopen::wire::session::{REPLY_LEN, SessionRequest};
use myopen_tests::install::{
    ALICE, BOB, Expect, FileState, Install, LOG_SOCKET, Outcome, PrivilegedEnv, TestUser, alice,
    allow_rule, audit_field, audit_lines_for, bob, chmod, command_as, denied, escape_like_audit,
    expect_outcomes, outcome, probe, probe_output, run_as, users,
};
use myopen_tests::{RUN_TIMEOUT, RawSession, privileged_env};
use nix::sys::socket::SockType;

const RD: i32 = libc::O_RDONLY;
const WR: i32 = libc::O_WRONLY;
const CREATE: i32 = libc::O_WRONLY | libc::O_CREAT;
const TRUNCATE: i32 = libc::O_WRONLY | libc::O_TRUNC;

/// The helper's bound on delivering one audit record (openfile_helper::audit::DELIVERY_BOUND).
const AUDIT_BOUND: Duration = Duration::from_secs(1);
/// What a refused request may take beyond [`AUDIT_BOUND`] on a loaded machine: process start-up
/// of the probe and the helper, nothing that depends on syslog.
const MARGIN: Duration = Duration::from_secs(4);
/// A little more than the helper's policy age (openfile_helper::service::POLICY_MAX_AGE).
const POLICY_AGE: Duration = Duration::from_millis(1_300);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn field(line: &str, key: &str) -> String {
    audit_field(line, key).unwrap_or_else(|| panic!("no {key}= in {line:?}"))
}

// ---------------------------------------------------------------------------------------------
// Section 3: no existence or type oracle

/// The stage of the oracle tests: `vault/` (root 0700, outside every rule) with a file, a
/// directory and a symlink loop in it; `allowed/bob/` (bob's own directory) and
/// `allowed/private/` (root 0700), both under a rule that lets bob read, write, create and
/// truncate in `allowed/**`.
struct Vault {
    vault: PathBuf,
    bob_dir: PathBuf,
}

fn vault(env: &PrivilegedEnv) -> Vault {
    let vault = env.dir("vault", 0o700, None);
    env.file("vault/present", b"VAULT\n", 0o600, None);
    env.dir("vault/subdir", 0o755, None);
    env.symlink("loop", "vault/loop", None);
    env.file("allowed/private/present", b"private\n", 0o600, None);
    chmod(env.path("allowed/private"), 0o700);
    let bob_dir = env.dir("allowed/bob", 0o755, Some(&bob()));
    // Bob's links (as bob could plant them in his own directory).
    let bob = bob();
    env.symlink(&vault, "allowed/bob/vault", Some(&bob));
    env.symlink(vault.join("present"), "allowed/bob/present", Some(&bob));
    env.symlink(vault.join("missing"), "allowed/bob/missing", Some(&bob));
    env.symlink(vault.join("loop"), "allowed/bob/loop", Some(&bob));
    env.symlink(
        env.path("allowed/private"),
        "allowed/bob/private",
        Some(&bob),
    );
    env.write_policy(&allow_rule(
        env.path("allowed/**"),
        &users(&[BOB]),
        &["read", "write", "create", "truncate"],
        &[],
    ));
    Vault { vault, bob_dir }
}

/// Every entry below `dir` with its size, as root sees it.
fn listing(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("read_dir").flatten() {
            let meta = entry.path().symlink_metadata().expect("lstat");
            if meta.is_dir() {
                pending.push(entry.path());
            }
            found.push((entry.path(), meta.len()));
        }
    }
    found.sort();
    found
}

#[test]
fn what_lies_behind_a_symlink_out_of_the_policy_does_not_show() {
    let Some(env) = privileged_env!() else { return };
    let stage = vault(&env);
    let bob = bob();
    let mine = |relative: &str| stage.bob_dir.join(relative);
    let before = listing(&stage.vault);

    // Existing and missing entries, a file where a directory is expected, a loop: the caller
    // cannot search the vault, so every one of them must get the same answer as the file that is
    // there and refused.
    let reading = [
        "present",
        "missing",
        "loop",
        "vault/present",
        "vault/missing",
        "vault/subdir",
        "vault/loop",
        "vault/present/x",
        "vault/present/",
        "vault/missing/x",
        "vault/subdir/x",
    ];
    // The same for creation, where the parent directory's existence and type could show.
    let creating = [
        "missing",
        "vault/new",
        "vault/subdir/new",
        "vault/missing/new",
        "vault/present/new",
        "vault/loop/new",
    ];
    let paths: Vec<(PathBuf, i32)> = reading
        .iter()
        .map(|relative| (mine(relative), RD))
        .chain(creating.iter().map(|relative| (mine(relative), CREATE)))
        .collect();
    let cases: Vec<Expect<'_>> = paths
        .iter()
        .map(|(path, flags)| {
            Expect::new(&bob, path, *flags, denied())
                .why("resolution leaves the allowed set: refused whether or not the target exists")
        })
        .collect();
    expect_outcomes(&cases);
    assert_eq!(
        listing(&stage.vault),
        before,
        "nothing changed in the vault"
    );

    // Where the prefix that resolved is itself allowed, the caller may be told.
    let private_missing = mine("private/missing");
    let private_present = mine("private/present");
    let private_missing_dir = mine("private/missing-dir/new");
    expect_outcomes(&[
        Expect::new(&bob, &private_missing, RD, Outcome::Errno(ENOENT))
            .why("allowed/private/missing is under the rule"),
        Expect::new(&bob, &private_present, RD, Outcome::opened("private\n")),
        Expect::new(&bob, &private_missing_dir, CREATE, Outcome::Errno(ENOENT))
            .why("allowed/private/missing-dir is under the rule"),
        Expect::new(
            &bob,
            &mine("private/present/x"),
            RD,
            Outcome::Errno(ENOTDIR),
        )
        .why("allowed/private/present is under the rule"),
    ]);

    // The audit log says how far each resolution got (root may know).
    let _ = env.audit_lines();
    assert_eq!(
        probe(&bob, Install::Setuid, mine("vault/missing"), RD),
        denied()
    );
    assert_eq!(
        probe(&bob, Install::Setuid, &private_missing, RD),
        Outcome::Errno(ENOENT)
    );
    let lines = env.audit_lines();
    for (path, reached) in [
        (mine("vault/missing"), stage.vault.join("missing")),
        (private_missing.clone(), env.path("allowed/private/missing")),
    ] {
        let records = audit_lines_for(&lines, &path);
        assert_eq!(records.len(), 1, "{}: {lines:#?}", path.display());
        assert_eq!(field(records[0], "decision"), "denied", "{}", records[0]);
        assert_eq!(
            field(records[0], "reached"),
            escape_like_audit(reached.as_os_str()),
            "{}",
            records[0]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Section 4: no grant without its record

/// A syslog socket at [`LOG_SOCKET`] that never reads, its queue filled to the brim.
fn stuck_syslog() -> UnixDatagram {
    let _ = fs::remove_file(LOG_SOCKET);
    let stuck = UnixDatagram::bind(LOG_SOCKET).expect("bind the stuck syslog socket");
    chmod(LOG_SOCKET, 0o666);
    let flooder = UnixDatagram::unbound().expect("socket");
    flooder.connect(LOG_SOCKET).expect("connect");
    flooder.set_nonblocking(true).expect("O_NONBLOCK");
    let mut sent = 0;
    while flooder.send(b"<13>flood: x").is_ok() {
        sent += 1;
        assert!(sent < 1_000_000, "the syslog queue never fills");
    }
    stuck
}

/// The datagrams queued at `stuck`.
fn queued(stuck: &UnixDatagram) -> Vec<String> {
    stuck.set_nonblocking(true).expect("O_NONBLOCK");
    let mut buffer = vec![0u8; 65536];
    let mut lines = Vec::new();
    while let Ok(size) = stuck.recv(&mut buffer) {
        lines.push(text(&buffer[..size]));
    }
    lines
}

#[test]
fn a_flooded_syslog_refuses_grants_before_their_effect_and_within_the_bound() {
    let Some(mut env) = privileged_env!() else {
        return;
    };
    let readable = env.file("d/readable", b"readable\n", 0o600, None);
    let precious = env.file("d/precious", b"precious\n", 0o600, None);
    let created = env.path("d/created");
    env.write_policy(&allow_rule(
        env.path("d/*"),
        &users(&[ALICE]),
        &["read", "write", "create", "truncate"],
        &[],
    ));
    let alice = alice();
    let requests: [(&Path, i32); 3] = [(&readable, RD), (&precious, TRUNCATE), (&created, CREATE)];
    // Control: with a syslog that reads, each request is granted and has its record.
    let _ = env.audit_lines();
    for install in Install::PRIVILEGED {
        for (path, flags) in requests {
            assert!(
                probe(&alice, install, path, flags).is_opened(),
                "{install:?}: control {}",
                path.display()
            );
            let lines = env.audit_lines();
            let records = audit_lines_for(&lines, path);
            assert!(
                records.len() == 1 && field(records[0], "decision") == "granted",
                "{install:?}: one grant record for {}: {lines:#?}",
                path.display()
            );
        }
        fs::remove_file(&created).expect("rm the control's file");
        env.file("d/precious", b"precious\n", 0o600, None);
    }

    env.stop_audit();
    let stuck = stuck_syslog();
    for install in Install::PRIVILEGED {
        let state = FileState::capture(&precious);
        for (path, flags) in requests {
            let started = Instant::now();
            let output = probe_output(&alice, install, path, flags, None);
            let took = started.elapsed();
            assert_eq!(
                outcome(&output),
                Outcome::Errno(libc::EAGAIN),
                "{install:?}: {} with flags {flags:#o} must be refused, its record cannot go out",
                path.display()
            );
            assert!(
                took < AUDIT_BOUND + MARGIN,
                "{install:?}: a stuck syslog held the request for {took:?}"
            );
            let stderr = text(&output.stderr);
            assert!(
                stderr.contains("audit record") && stderr.contains(LOG_SOCKET),
                "{install:?}: the helper says why: {stderr}"
            );
        }
        state.assert_unchanged(&precious, "O_TRUNC refused for want of its record");
        assert!(
            !created.exists(),
            "{install:?}: O_CREAT refused for want of its record created the file"
        );
    }
    let squeezed: Vec<String> = queued(&stuck)
        .into_iter()
        .filter(|line| line.contains("decision=granted"))
        .collect();
    assert!(
        squeezed.is_empty(),
        "grant records in the full queue: {squeezed:#?}"
    );
    drop(stuck);

    // Syslog back: granted and recorded again.
    env.start_audit();
    for install in Install::PRIVILEGED {
        assert!(
            probe(&alice, install, &readable, RD).is_opened(),
            "{install:?}"
        );
        let lines = env.audit_lines();
        assert_eq!(audit_lines_for(&lines, &readable).len(), 1, "{lines:#?}");
    }
}

/// The helper of `install` as `user` in session mode on its standard input, through `launcher`
/// (such as setsid) when given, with `stderr`: the test chooses how the process starts and knows
/// its pid.
fn raw_session(
    user: &TestUser,
    install: Install,
    launcher: Option<&str>,
    stderr: Stdio,
) -> RawSession {
    let mut command = match launcher {
        Some(launcher) => {
            let mut command = command_as(user, launcher);
            command.arg(install.helper());
            command
        }
        None => command_as(user, install.helper()),
    };
    command
        .args(["--session", "0"])
        .stdout(Stdio::null())
        .stderr(stderr);
    RawSession::spawn(command, SockType::SeqPacket)
}

/// Asks `session` for `path` with `flags`: the status byte and the descriptor, if any.
fn request(session: &RawSession, path: &Path, flags: i32) -> (u8, Option<OwnedFd>) {
    let packet = SessionRequest {
        flags,
        mode: 0o600,
        path: path.as_os_str().as_bytes(),
    }
    .encode();
    let (reply, fds) = session.ask(&packet);
    assert_eq!(reply.len(), REPLY_LEN, "a reply: {reply:?}");
    (reply[0], fds.into_iter().next())
}

/// `(syscall number, first argument)` process `pid` is blocked in, from /proc.
fn blocked_in(pid: u32) -> Option<(u64, u64)> {
    let syscall = fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
    let mut fields = syscall.split_whitespace();
    let number = fields.next()?.parse().ok()?;
    let first = u64::from_str_radix(fields.next()?.trim_start_matches("0x"), 16).ok()?;
    Some((number, first))
}

/// The lowest descriptor number process `pid` does not have open.
fn lowest_free_fd(pid: u32) -> u64 {
    let open: Vec<u64> = fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/PID/fd")
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect();
    (0..).find(|fd| !open.contains(fd)).unwrap_or(0)
}

/// `prlimit --pid=PID --nofile=LIMIT:` run by `user`, as the caller of a helper can do it: the
/// helper's ids are all the caller's after its credential change. Only the soft limit, which the
/// caller may raise again (up to the hard limit, `None`).
fn set_soft_fd_limit(user: &TestUser, pid: u32, limit: Option<u64>) {
    let limit = limit.unwrap_or_else(|| {
        let limits = fs::read_to_string(format!("/proc/{pid}/limits")).expect("/proc/PID/limits");
        limits
            .lines()
            .find_map(|line| line.strip_prefix("Max open files"))
            .and_then(|values| values.split_whitespace().nth(1)?.parse().ok())
            .expect("the hard limit on open files")
    });
    let output = run_as(
        user,
        "prlimit",
        [format!("--pid={pid}"), format!("--nofile={limit}:")],
    );
    assert!(
        output.status.success(),
        "prlimit {pid} {limit}: {}",
        text(&output.stderr)
    );
}

/// A pipe whose buffer is full: a process writing to it blocks until the test reads.
fn full_pipe() -> (OwnedFd, OwnedFd) {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let (read_end, write_end) = nix::unistd::pipe().expect("pipe");
    fcntl(&write_end, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).expect("O_NONBLOCK");
    // Large writes first, then single bytes: a pipe refuses a write it cannot take whole.
    for chunk in [4096usize, 1] {
        while nix::unistd::write(&write_end, &vec![b'.'; chunk]).is_ok() {}
    }
    fcntl(&write_end, FcntlArg::F_SETFL(OFlag::empty())).expect("blocking again");
    (read_end, write_end)
}

#[test]
fn a_session_that_started_without_an_audit_socket_records_or_refuses_every_grant() {
    let Some(env) = privileged_env!() else { return };
    let file = env.file("d/file", b"precious\n", 0o600, None);
    let good_policy = allow_rule(
        env.path("d/*"),
        &users(&[BOB]),
        &["read", "write", "truncate"],
        &[],
    );
    let bob = bob();
    for install in Install::PRIVILEGED {
        // The helper is stopped at a known point between loading the policy and opening its
        // audit socket: a broken policy makes it say so on stderr, a full pipe there holds it.
        env.write_policy("this is = = not toml\n");
        let (mut read_end, write_end) = {
            let (read_end, write_end) = full_pipe();
            (fs::File::from(read_end), write_end)
        };
        let session = raw_session(&bob, install, None, Stdio::from(write_end));
        let pid = session.pid();
        let deadline = Instant::now() + RUN_TIMEOUT;
        while blocked_in(pid) != Some((libc::SYS_write as u64, 2)) {
            assert!(
                Instant::now() < deadline,
                "{install:?}: the helper never blocked writing its policy message to stderr"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // As the caller may: no descriptor left for the audit socket, then the limit back.
        set_soft_fd_limit(&bob, pid, Some(lowest_free_fd(pid)));
        env.write_policy(&good_policy);
        let stderr = std::thread::spawn(move || {
            let mut said = Vec::new();
            let _ = read_end.read_to_end(&mut said);
            said
        });
        let Some(hello) = session.hello_or_end() else {
            // Without a descriptor to spare it cannot draw its kernel fence either (DESIGN.md,
            // P13), so it refused to serve at all: that too refuses every grant.
            assert_ne!(
                session.exit_code(),
                0,
                "{install:?}: a helper that could not start serving says so in its status"
            );
            let said = text(&stderr.join().expect("stderr reader"));
            assert!(said.contains("policy"), "{install:?}: {said}");
            continue;
        };
        assert!(hello.privileged, "{install:?}: a privileged helper");
        set_soft_fd_limit(&bob, pid, None);
        std::thread::sleep(POLICY_AGE);

        let state = FileState::capture(&file);
        let _ = env.audit_lines();
        let (status, fd) = request(&session, &file, TRUNCATE);
        let lines = env.audit_lines();
        let records: Vec<&String> = audit_lines_for(&lines, &file)
            .into_iter()
            .filter(|line| audit_field(line, "decision").as_deref() == Some("granted"))
            .collect();
        if status == STATUS_OPENED {
            assert!(fd.is_some(), "{install:?}: opened without a descriptor");
            assert_eq!(
                records.len(),
                1,
                "{install:?}: a grant without its audit record: {lines:#?}"
            );
        } else {
            assert!(fd.is_none());
            state.assert_unchanged(&file, "a refused O_TRUNC");
        }
        assert_eq!(
            session.exit_code(),
            0,
            "{install:?}: the session ends cleanly"
        );
        let said = text(&stderr.join().expect("stderr reader"));
        assert!(said.contains("policy"), "{install:?}: {said}");
    }
}

#[test]
fn an_open_that_fails_after_its_grant_has_a_second_record() {
    let Some(env) = privileged_env!() else { return };
    let fifo = env.fifo("fifos/pipe", 0o600, None);
    env.write_policy(&allow_rule(
        env.path("fifos/*"),
        &users(&[ALICE]),
        &["write"],
        &["fifo"],
    ));
    let _ = env.audit_lines();
    for install in Install::PRIVILEGED {
        // No reader: the policy grants, then the open itself fails (ENXIO).
        assert_eq!(
            probe(&alice(), install, &fifo, WR),
            Outcome::Errno(libc::ENXIO),
            "{install:?}"
        );
        let lines = env.audit_lines();
        let records = audit_lines_for(&lines, &fifo);
        let decisions: Vec<String> = records.iter().map(|line| field(line, "decision")).collect();
        assert_eq!(
            decisions,
            ["granted", "failed"],
            "{install:?}: the grant, then what became of it: {lines:#?}"
        );
        assert!(
            field(records[1], "reason").contains("No such device or address"),
            "{}",
            records[1]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Section 5

#[test]
fn a_granted_terminal_never_becomes_the_helpers_controlling_terminal() {
    let Some(env) = privileged_env!() else { return };
    use nix::fcntl::OFlag;
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY).expect("posix_openpt");
    nix::pty::grantpt(&master).expect("grantpt");
    nix::pty::unlockpt(&master).expect("unlockpt");
    let terminal = PathBuf::from(nix::pty::ptsname_r(&master).expect("ptsname"));
    env.write_policy(&allow_rule(
        &terminal,
        &users(&[BOB]),
        &["read", "write"],
        &["char"],
    ));
    let bob = bob();
    for install in Install::PRIVILEGED {
        // A session leader without a terminal: the one kind of process an open(2) without
        // O_NOCTTY gives a controlling terminal.
        let session = raw_session(&bob, install, Some("/usr/bin/setsid"), Stdio::null());
        let pid = session.pid();
        session.hello();
        let (status, fd) = request(&session, &terminal, libc::O_RDWR);
        assert_eq!(
            status, STATUS_OPENED,
            "{install:?}: the policy grants the terminal"
        );
        assert!(fd.is_some());
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
        let fields: Vec<&str> = stat
            .rsplit_once(") ")
            .map(|(_, rest)| rest.split(' ').collect())
            .unwrap_or_default();
        assert_eq!(
            fields.get(3).copied(),
            Some(pid.to_string().as_str()),
            "{install:?}: the helper leads a session of its own ({stat})"
        );
        assert_eq!(
            fields.get(4).copied(),
            Some("0"),
            "{install:?}: the helper has a controlling terminal now ({stat})"
        );
        assert_eq!(
            session.exit_code(),
            0,
            "{install:?}: the session ends cleanly"
        );
    }
    drop(master);
}

#[test]
fn a_lexical_refusal_records_the_cleaned_path() {
    let Some(env) = privileged_env!() else { return };
    let secret = env.secret();
    env.dir("allowed", 0o755, None);
    env.allow_reading("allowed/**", &[BOB]);
    // Padding that cleans away: the record's path is cut long before the name that matters.
    let mut padded = env.path("allowed").into_os_string().into_vec();
    padded.extend(b"/.".repeat(400));
    padded.extend_from_slice(b"/../secret/shadow");
    let padded = PathBuf::from(std::ffi::OsString::from_vec(padded));
    let _ = env.audit_lines();
    for install in Install::PRIVILEGED {
        assert_eq!(probe(&bob(), install, &padded, RD), denied(), "{install:?}");
        let lines = env.audit_lines();
        assert_eq!(lines.len(), 1, "{install:?}: {lines:#?}");
        assert!(
            !field(&lines[0], "path").contains("shadow"),
            "the raw path is cut before the name: {}",
            lines[0]
        );
        assert_eq!(
            field(&lines[0], "cleaned"),
            escape_like_audit(secret.path.as_os_str()),
            "{install:?}: {}",
            lines[0]
        );
    }
}

#[test]
fn the_object_opened_is_the_one_open_would_open() {
    let Some(env) = privileged_env!() else { return };
    // t/file, t/sub/, t/a/link -> ../../o/deep (a directory elsewhere), o/f and t/a/f.
    env.file("t/file", b"t-file\n", 0o600, None);
    env.dir("t/sub", 0o755, None);
    env.file("t/a/f", b"t-a-f\n", 0o600, None);
    env.file("o/f", b"o-f\n", 0o600, None);
    env.dir("o/deep", 0o755, None);
    env.symlink("../../o/deep", "t/a/link", None);
    let everything = allow_rule(
        env.path("**"),
        &users(&[ALICE]),
        &["read", "write", "create"],
        &[],
    );
    env.write_policy(&everything);
    let data = env.data().display().to_string();
    let alice = alice();
    let as_open = |path: &str| match fs::read(path) {
        Ok(content) => Outcome::Opened(content),
        Err(error) => Outcome::Errno(error.raw_os_error().expect("errno")),
    };
    for relative in [
        "t/file/.",
        "t/file/",
        "t/missing/../file",
        "t/a/link/../f",
        "t/sub/./../file",
        "t/a/link/../../t/file",
    ] {
        let path = format!("{data}/{relative}");
        let expected = as_open(&path);
        for install in Install::PRIVILEGED {
            assert_eq!(
                probe(&alice, install, &path, RD),
                expected,
                "{install:?}: {relative} as open(2) opens it"
            );
        }
    }
    // Creation follows the kernel's path too: nothing appears where the lexical path points.
    for install in Install::PRIVILEGED {
        assert_eq!(
            probe(&alice, install, format!("{data}/t/missing/../new"), CREATE),
            Outcome::Errno(ENOENT),
            "{install:?}: open(2) needs t/missing"
        );
        assert!(
            !env.path("t/new").exists(),
            "{install:?}: t/new was created"
        );
        assert!(probe(&alice, install, format!("{data}/t/a/link/../made"), CREATE).is_opened());
        assert!(
            !env.path("t/a/made").exists(),
            "{install:?}: created at the lexical path"
        );
        let made = env.path("o/made");
        assert_eq!(
            fs::symlink_metadata(&made).map(|meta| meta.uid()).ok(),
            Some(alice.uid),
            "{install:?}: created where open(2) creates it, as alice"
        );
        fs::remove_file(&made).expect("rm o/made");
    }
    // With the rule on t/ alone, the object open(2) reaches (o/f) is outside it: refused.
    env.write_policy(&allow_rule(
        env.path("t/**"),
        &users(&[ALICE]),
        &["read"],
        &[],
    ));
    let escape = format!("{data}/t/a/link/../f");
    expect_outcomes(&[Expect::new(&alice, &escape, RD, Outcome::Errno(EACCES))
        .why("open(2) reaches o/f, which no rule covers; t/a/f is another file")]);
}
