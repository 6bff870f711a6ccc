//! `my_open` end to end against the real helper binary.

use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;

use myopen::{Error, Helper};
use myopen_tests::{Scratch, as_unprivileged, helper_binary, read_all, run};

const PROBE: &str = env!("CARGO_BIN_EXE_myopen-probe");

fn helper() -> Helper {
    Helper::at(helper_binary())
}

#[test]
fn reads_a_file_through_the_helper() {
    let scratch = Scratch::new();
    let path = scratch.file("hello.txt", b"hello, world\n", 0o644);
    let fd = helper().open(&path, libc::O_RDONLY).expect("open");
    assert_eq!(read_all(fd), b"hello, world\n");
}

#[test]
fn round_trip_of_binary_content_and_non_utf8_names() {
    let scratch = Scratch::new();
    let content: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let name = std::ffi::OsStr::from_bytes(b"bin\xff\x01name");
    let path = scratch.path().join(name);
    fs::write(&path, &content).unwrap();
    assert_eq!(
        read_all(helper().open(&path, libc::O_RDONLY).unwrap()),
        content
    );
}

#[test]
fn writes_and_creates_through_the_helper() {
    let scratch = Scratch::new();
    let path = scratch.path().join("new.txt");
    let fd = helper()
        .open(&path, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC)
        .expect("create");
    fs::File::from(fd).write_all(b"written via helper").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"written via helper");
    let mode = fs::metadata(&path).unwrap().mode() & 0o7777;
    assert_eq!(mode & 0o7000, 0, "no set-id bits on created files");
    assert_eq!(
        mode & 0o022,
        0,
        "the umask is applied (test umask masks 022)"
    );

    let fd = helper()
        .open(&path, libc::O_WRONLY | libc::O_APPEND)
        .expect("append");
    fs::File::from(fd).write_all(b"!").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"written via helper!");
}

#[test]
fn errno_of_a_failed_open_is_the_same_as_a_direct_open() {
    let scratch = Scratch::new();
    let missing = scratch.path().join("missing");
    let directory = scratch.path().to_path_buf();
    for (path, flags, expected) in [
        (&missing, libc::O_RDONLY, libc::ENOENT),
        (&directory, libc::O_WRONLY, libc::EISDIR),
        (&missing.join("below"), libc::O_RDONLY, libc::ENOENT),
    ] {
        let direct = fs::OpenOptions::new()
            .read(flags & libc::O_ACCMODE == libc::O_RDONLY)
            .write(flags & libc::O_ACCMODE == libc::O_WRONLY)
            .open(path)
            .unwrap_err();
        assert_eq!(
            direct.raw_os_error(),
            Some(expected),
            "direct open of {path:?}"
        );

        let error = myopen_io_error(path, flags);
        assert_eq!(
            error.raw_os_error(),
            Some(expected),
            "my_open of {path:?}: {error}"
        );
    }
}

fn myopen_io_error(path: &std::path::Path, flags: i32) -> std::io::Error {
    let error = helper().open(path, flags).unwrap_err();
    assert!(matches!(error, Error::Os { .. }), "{error:?}");
    std::io::Error::from(error)
}

#[test]
fn permission_denied_comes_back_as_eacces() {
    // A file only its owner (root, or the test user) may read, opened by nobody (or, when the
    // tests do not run as root, by its owner after removing every permission bit).
    let scratch = Scratch::new();
    let secret = scratch.file(
        "secret",
        b"top secret",
        if myopen_tests::is_root() {
            0o600
        } else {
            0o000
        },
    );
    let helper_copy = scratch.install(&helper_binary(), "openfile-helper");
    let probe = scratch.install(std::path::Path::new(PROBE), "myopen-probe");
    let output = run(as_unprivileged(&probe)
        .arg(&helper_copy)
        .arg(&secret)
        .arg("0"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut lines = stderr.lines();
    assert_eq!(
        lines.next(),
        Some(format!("errno {}", libc::EACCES).as_str())
    );
    // The helper copy is not setuid or capable: the library says so (HelperNotPrivileged).
    assert!(
        lines.next().is_some_and(
            |line| line.contains("is not installed setuid root or with file capabilities")
        ),
        "{stderr}"
    );
    assert!(
        output.stdout.is_empty(),
        "no byte of the secret may come back"
    );
    assert!(!output.status.success());
}

#[test]
fn unsupported_flags_are_refused_with_einval() {
    let scratch = Scratch::new();
    let path = scratch.file("f", b"x", 0o644);
    for flags in [
        libc::O_RDONLY | libc::O_PATH,
        libc::O_RDWR | libc::O_TMPFILE,
        libc::O_ACCMODE,
    ] {
        let error = helper().open(&path, flags).unwrap_err();
        assert_eq!(
            error.raw_os_error(),
            Some(libc::EINVAL),
            "{flags:#o}: {error}"
        );
    }
}

#[test]
fn my_open_uses_the_helper_named_in_the_environment() {
    // my_open reads MYOPEN_HELPER; run it in a child process so this test's environment stays
    // untouched (set_var is not thread-safe). The probe's helper argument is a decoy.
    let scratch = Scratch::new();
    let path = scratch.file("f", b"through env", 0o644);
    let output = run(
        std::process::Command::new(env!("CARGO_BIN_EXE_myopen-env-probe"))
            .env("MYOPEN_HELPER", helper_binary())
            .arg(&path),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout, b"through env");

    let output = run(
        std::process::Command::new(env!("CARGO_BIN_EXE_myopen-env-probe"))
            .env("MYOPEN_HELPER", scratch.path().join("no-such-helper"))
            .arg(&path),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no-such-helper") && stderr.contains("not found"),
        "{stderr}"
    );
}

#[test]
fn descriptor_is_the_opened_file() {
    let scratch = Scratch::new();
    let path = scratch.file("ino", b"x", 0o644);
    let fd = helper().open(&path, libc::O_RDONLY).unwrap();
    let via_helper = fs::File::from(fd).metadata().unwrap();
    let direct = fs::metadata(&path).unwrap();
    assert_eq!(
        (via_helper.dev(), via_helper.ino()),
        (direct.dev(), direct.ino())
    );
}
