//! A helper that is missing, crashes, or breaks the protocol: each is its own error, no hang.

use myopen::{Error, Helper};
use myopen_tests::Scratch;

#[test]
fn missing_helper_names_the_path_and_how_to_install() {
    let scratch = Scratch::new();
    let absent = scratch.path().join("openfile-helper");
    let error = Helper::at(&absent)
        .open("/etc/hostname", libc::O_RDONLY)
        .unwrap_err();
    assert!(matches!(error, Error::HelperMissing { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&absent.display().to_string()), "{message}");
    assert!(
        message.contains("make install") && message.contains("MYOPEN_HELPER"),
        "{message}"
    );
    assert_eq!(
        std::io::Error::from(error).raw_os_error(),
        None,
        "not to be confused with ENOENT on the file"
    );
}

#[test]
fn helper_that_cannot_be_executed_is_reported() {
    let scratch = Scratch::new();
    let not_executable = scratch.file("helper", b"#!/bin/sh\nexit 0\n", 0o644);
    let error = Helper::at(&not_executable)
        .open("/etc/hostname", libc::O_RDONLY)
        .unwrap_err();
    assert!(matches!(error, Error::HelperNotStarted { .. }), "{error:?}");
    assert!(error.to_string().contains("Permission denied"), "{error}");
}

#[test]
fn helper_killed_mid_request_is_a_crash_not_an_errno() {
    let scratch = Scratch::new();
    let helper = scratch.script("killed-helper", "kill -KILL $$");
    let error = Helper::at(&helper)
        .open("/etc/hostname", libc::O_RDONLY)
        .unwrap_err();
    assert!(
        matches!(error, Error::HelperCrashed { signal: 9, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("signal 9"), "{error}");
}

#[test]
fn helper_killed_while_blocked_is_reported() {
    // The helper is still working when it is killed from outside: the library must notice.
    let scratch = Scratch::new();
    let helper = scratch.script(
        "slow-helper",
        &format!("echo $$ > {}/pid; exec sleep 30", scratch.path().display()),
    );
    let pid_file = scratch.path().join("pid");
    let killer = std::thread::spawn(move || {
        for _ in 0..500 {
            if let Ok(text) = std::fs::read_to_string(&pid_file)
                && let Ok(pid) = text.trim().parse::<i32>()
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    });
    let error = Helper::at(&helper)
        .open("/etc/hostname", libc::O_RDONLY)
        .unwrap_err();
    killer.join().unwrap();
    assert!(
        matches!(error, Error::HelperCrashed { signal: 15, .. }),
        "{error:?}"
    );
}

#[test]
fn success_byte_without_a_descriptor_is_a_protocol_error() {
    let scratch = Scratch::new();
    let helper = scratch.script("liar", "printf '\\000' >&0; exit 0");
    let error = Helper::at(&helper)
        .open("/etc/hostname", libc::O_RDONLY)
        .unwrap_err();
    assert!(matches!(error, Error::Protocol { .. }), "{error:?}");
    assert_eq!(
        std::io::Error::from(error).kind(),
        std::io::ErrorKind::InvalidData
    );
}

#[test]
fn silent_exit_zero_is_a_protocol_error() {
    let scratch = Scratch::new();
    let helper = scratch.script("mute", "exit 0");
    let error = Helper::at(&helper)
        .open("/etc/hostname", libc::O_RDONLY)
        .unwrap_err();
    assert!(matches!(error, Error::Protocol { .. }), "{error:?}");
}

#[test]
fn book_style_failure_by_exit_status_alone_gives_the_errno() {
    let scratch = Scratch::new();
    let helper = scratch.script("book-failure", "exit 13");
    let error = Helper::at(&helper)
        .open("/etc/hostname", libc::O_RDONLY)
        .unwrap_err();
    assert_eq!(error.raw_os_error(), Some(libc::EACCES), "{error:?}");
}

#[test]
fn errno_byte_is_used_even_if_the_exit_status_is_lost() {
    let scratch = Scratch::new();
    let helper = scratch.script("byte-then-zero", "printf '\\002' >&0; exit 0");
    let error = Helper::at(&helper)
        .open("/etc/hostname", libc::O_RDONLY)
        .unwrap_err();
    assert_eq!(error.raw_os_error(), Some(libc::ENOENT), "{error:?}");
}
