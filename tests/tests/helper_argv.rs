//! The helper's command line is a fixed protocol: garbage gets a clean error, never a panic, a
//! hang or a signal death (P9), and a status byte whenever there is a socket to send it on.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use myopen::fdpass::recv_with_fds;
use myopen::wire::PATH_MAX;
use myopen_tests::{RUN_TIMEOUT, helper_binary};
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
            let (ours, theirs) = socketpair(
                AddressFamily::Unix,
                SockType::Stream,
                None,
                SockFlag::SOCK_CLOEXEC,
            )
            .unwrap();
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
    let mut child = Command::new(helper_binary())
        .args(&case.args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < RUN_TIMEOUT, "{label}: helper hangs");
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    let output = child.wait_with_output().unwrap();
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
