//! The helper's command line is a fixed protocol: garbage gets a clean error, never a panic, a
//! hang or a signal death (P9), and a status byte whenever there is a socket to send it on. No
//! arguments at all (argc == 0) included.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use myopen::fdpass::recv_with_fds;
use myopen::wire::PATH_MAX;
use myopen_tests::install::{
    ALICE, Install, alice, assert_exited_cleanly, raw_request, readers_gid,
};
use myopen_tests::{RUN_TIMEOUT, exec_with_no_arguments, helper_binary, privileged_env};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket, socketpair};

/// What fd 0 of the helper is for a case.
enum Stdin {
    DevNull,
    UnixStream,
    UnixDatagram,
    Inet,
}

struct Case {
    args: Vec<OsString>,
    stdin: Stdin,
    errno: i32,
}

fn case(args: &[&[u8]], stdin: Stdin, errno: i32) -> Case {
    Case {
        args: args
            .iter()
            .map(|arg| OsString::from_vec(arg.to_vec()))
            .collect(),
        stdin,
        errno,
    }
}

#[test]
fn garbage_argv_table() {
    let too_long = [b"/".as_slice(), &vec![b'a'; PATH_MAX]].concat();
    let huge_count: Vec<&[u8]> = vec![b"x"; 10_000];
    let cases = vec![
        case(&[], Stdin::DevNull, libc::EINVAL),
        case(&[b"0"], Stdin::UnixStream, libc::EINVAL),
        case(&[b"0", b"/etc/hostname"], Stdin::UnixStream, libc::EINVAL),
        case(
            &[b"0", b"/etc/hostname", b"0", b"extra"],
            Stdin::UnixStream,
            libc::EINVAL,
        ),
        case(&huge_count, Stdin::DevNull, libc::EINVAL),
        case(
            &[b"zero", b"/etc/hostname", b"0"],
            Stdin::DevNull,
            libc::EINVAL,
        ),
        case(
            &[b"-0", b"/etc/hostname", b"0"],
            Stdin::DevNull,
            libc::EINVAL,
        ),
        case(
            &[b" 0", b"/etc/hostname", b"0"],
            Stdin::DevNull,
            libc::EINVAL,
        ),
        case(
            &[b"99999999999999999999", b"/etc/hostname", b"0"],
            Stdin::DevNull,
            libc::EINVAL,
        ),
        case(
            &[b"0", b"/etc/hostname", b"0"],
            Stdin::DevNull,
            libc::ENOTSOCK,
        ),
        case(
            &[b"37", b"/etc/hostname", b"0"],
            Stdin::DevNull,
            libc::EBADF,
        ),
        case(
            &[b"0", b"/etc/hostname", b"0"],
            Stdin::UnixDatagram,
            libc::EPROTOTYPE,
        ),
        case(
            &[b"0", b"/etc/hostname", b"0"],
            Stdin::Inet,
            libc::EPROTOTYPE,
        ),
        case(
            &[b"0", b"/etc/hostname", b"read"],
            Stdin::UnixStream,
            libc::EINVAL,
        ),
        case(
            &[b"0", b"/etc/hostname", b"0x0"],
            Stdin::UnixStream,
            libc::EINVAL,
        ),
        case(
            &[b"0", b"/etc/hostname", b"-1"],
            Stdin::UnixStream,
            libc::EINVAL,
        ),
        case(
            &[b"0", b"/etc/hostname", b"+0"],
            Stdin::UnixStream,
            libc::EINVAL,
        ),
        case(
            &[b"0", b"/etc/hostname", b"4294967296"],
            Stdin::UnixStream,
            libc::EINVAL,
        ),
        case(
            &[b"0", b"/etc/hostname", b"3"],
            Stdin::UnixStream,
            libc::EINVAL,
        ),
        case(
            &[b"0", b"/etc/hostname", b"2097152"],
            Stdin::UnixStream,
            libc::EINVAL,
        ), // O_PATH
        case(&[b"0", b"", b"0"], Stdin::UnixStream, libc::ENOENT),
        case(
            &[b"0", &too_long, b"0"],
            Stdin::UnixStream,
            libc::ENAMETOOLONG,
        ),
        case(
            &[b"0", b"/nonexistent/\xff\xfe\n", b"0"],
            Stdin::UnixStream,
            libc::ENOENT,
        ),
    ];
    for case in cases {
        check(case);
    }
}

fn check(case: Case) {
    let label = format!("{:?}", case.args.iter().take(4).collect::<Vec<_>>());
    let (stdin, ours): (Stdio, Option<OwnedFd>) = match case.stdin {
        Stdin::DevNull => (Stdio::null(), None),
        Stdin::UnixStream => {
            let (ours, theirs) = stream_pair();
            (Stdio::from(theirs), Some(ours))
        }
        Stdin::UnixDatagram => {
            let (_ours, theirs) = socketpair(
                AddressFamily::Unix,
                SockType::Datagram,
                None,
                SockFlag::SOCK_CLOEXEC,
            )
            .unwrap();
            (Stdio::from(theirs), None)
        }
        Stdin::Inet => {
            let inet = socket(
                AddressFamily::Inet,
                SockType::Stream,
                SockFlag::SOCK_CLOEXEC,
                None,
            )
            .unwrap();
            (Stdio::from(inet), None)
        }
    };
    let child = Command::new(helper_binary())
        .args(&case.args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = wait_within_timeout(child, &label);
    let status = output.status;
    assert_eq!(status.signal(), None, "{label}: killed by a signal");
    assert_eq!(
        status.code(),
        Some(case.errno),
        "{label}: exit status; stderr {:?}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stdout.is_empty(),
        "{label}: the helper writes nothing to stdout"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    if case.errno != libc::ENOENT {
        assert!(
            stderr.starts_with("openfile-helper: "),
            "{label}: a clear message on stderr, got {stderr:?}"
        );
    }
    assert!(!stderr.contains("panicked"), "{label}: {stderr}");
    if let Some(ours) = ours {
        let mut byte = [0u8; 1];
        let received = recv_with_fds(&ours, &mut byte, 1).unwrap();
        assert_eq!(
            (received.bytes, byte[0], received.fds.len()),
            (1, case.errno as u8, 0),
            "{label}: status byte"
        );
    }
}

/// A connected pair of close-on-exec Unix stream sockets: ours, and the helper's fd 0.
fn stream_pair() -> (OwnedFd, OwnedFd) {
    socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .unwrap()
}

/// Waits for `child` and its output; kills it and fails the test if it runs past the harness
/// timeout.
fn wait_within_timeout(mut child: Child, label: &str) -> Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() >= RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{label}: helper hangs");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn no_arguments_at_all_are_refused_cleanly_in_a_hostile_environment() {
    let Some(env) = privileged_env!() else { return };
    let target = env.file("d/target", b"target content\n", 0o600, None);
    env.allow_reading("d/*", &[ALICE]);
    let alice = alice();
    // The environment starts where argv ends. A helper that read arguments past argc (pkexec's
    // CVE-2021-4034) would find a well-formed request here for a file the policy grants. (Linux
    // 5.18 and later hand the program argv {""} instead of {NULL}: then argv[0] is empty and
    // there are no arguments; older kernels pass argc == 0 as it is.)
    let mut environment: Vec<&[u8]> = vec![b"0", target.as_os_str().as_bytes(), b"0"];
    environment.extend([
        b"GCONV_PATH=.".as_slice(),
        b"CHARSET=MYOPEN-HOSTILE",
        b"LD_PRELOAD=/nonexistent/hostile.so",
        b"LD_LIBRARY_PATH=.",
        b"RUST_BACKTRACE=full",
        b"RUST_LIB_BACKTRACE=full",
        b"MALLOC_CHECK_=3",
        b"PATH=GCONV_PATH=.",
    ]);
    for install in Install::PRIVILEGED {
        let label = format!("{install:?}, argc == 0");
        // Given as arguments, the same words are a request that is served.
        let served = raw_request(&alice, install, "", "0", &target, libc::O_RDONLY, &[]);
        assert!(served.fd.is_some(), "{install:?}: {served:?}");

        let watch = env.watch_opens(env.path("d"));
        let (ours, theirs) = stream_pair();
        let mut command = Command::new(install.helper());
        command
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let groups = [readers_gid()];
        exec_with_no_arguments(
            &mut command,
            &install.helper(),
            &environment,
            (alice.uid, alice.gid, &groups),
        );
        let child = command.spawn().unwrap();
        drop(command); // our copy of the helper's end: its exit must read as end-of-file.
        let output = wait_within_timeout(child, &label);
        assert_exited_cleanly(&output.status, &label);
        assert_ne!(output.status.code(), Some(0), "{label}: exit status");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        for sign in ["target content", "panicked", "stack backtrace"] {
            assert!(!said.contains(sign), "{label}: {sign:?} in {said:?}");
        }
        let mut status = [0u8; 1];
        let received = recv_with_fds(&ours, &mut status, 1).unwrap();
        assert!(
            received.fds.is_empty() && (received.bytes == 0 || status[0] != 0),
            "{label}: served a request ({} bytes, status {}, {} descriptors)",
            received.bytes,
            status[0],
            received.fds.len()
        );
        assert_eq!(watch.opened(), Vec::<OsString>::new(), "{label}: opened");
    }
}

#[test]
fn help_and_version_exit_zero() {
    for flag in ["--help", "--version"] {
        let output = Command::new(helper_binary()).arg(flag).output().unwrap();
        assert!(output.status.success(), "{flag}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("openfile-helper"),
            "{flag}"
        );
    }
}
