//! The library's API as a caller sees it: escalation modes, every error variant provoked for
//! real, fork/exec hygiene, and no helper chosen by the environment in a set-ID program.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use myopen::{Error, Escalate, Helper, OpenOptions, Session};
use myopen_tests::{Scratch, as_unprivileged, helper_binary, install, is_root, read_all, run};

const ESCALATE_PROBE: &str = env!("CARGO_BIN_EXE_myopen-escalate-probe");
const ENV_PROBE: &str = env!("CARGO_BIN_EXE_myopen-env-probe");

/// A helper that leaves a mark every time it runs, then refuses like the book's helper.
fn loud_helper(scratch: &Scratch) -> (PathBuf, PathBuf) {
    let marks = scratch.path().join("marks");
    fs::create_dir(&marks).unwrap();
    fs::set_permissions(&marks, fs::Permissions::from_mode(0o777)).unwrap();
    let helper = scratch.script(
        "loud-helper",
        &format!("touch {}/ran-$$; exit 13", marks.display()),
    );
    (helper, marks)
}

fn helper_runs(marks: &Path) -> usize {
    fs::read_dir(marks).unwrap().count()
}

fn escalate(scratch: &Scratch, helper: &Path, mode: &str, path: &Path) -> std::process::Output {
    let probe = scratch.install(Path::new(ESCALATE_PROBE), &format!("probe-{mode}"));
    run(as_unprivileged(&probe).arg(helper).arg(mode).arg(path))
}

#[test]
fn on_denied_never_starts_the_helper_for_a_readable_file() {
    let scratch = Scratch::new();
    let (helper, marks) = loud_helper(&scratch);
    let readable = scratch.file("readable", b"plain", 0o644);
    let output = escalate(&scratch, &helper, "on-denied", &readable);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout, b"plain");
    assert_eq!(
        helper_runs(&marks),
        0,
        "the helper ran for a file the caller could read"
    );
}

#[test]
fn on_denied_asks_the_helper_only_after_eacces() {
    let scratch = Scratch::new();
    let (helper, marks) = loud_helper(&scratch);
    let unreadable = scratch.file(
        "unreadable",
        b"secret",
        if is_root() { 0o600 } else { 0o000 },
    );
    let missing = scratch.path().join("missing");
    let output = escalate(&scratch, &helper, "on-denied", &missing);
    assert!(
        String::from_utf8_lossy(&output.stderr).starts_with(&format!("errno {}", libc::ENOENT))
    );
    assert_eq!(helper_runs(&marks), 0, "ENOENT is not a reason to escalate");
    let output = escalate(&scratch, &helper, "on-denied", &unreadable);
    assert!(
        String::from_utf8_lossy(&output.stderr).starts_with(&format!("errno {}", libc::EACCES))
    );
    assert_eq!(helper_runs(&marks), 1, "EACCES escalates, once");
}

#[test]
fn always_uses_the_helper_and_never_does_not() {
    let scratch = Scratch::new();
    let (helper, marks) = loud_helper(&scratch);
    let readable = scratch.file("readable", b"plain", 0o644);
    let unreadable = scratch.file(
        "unreadable",
        b"secret",
        if is_root() { 0o600 } else { 0o000 },
    );
    let output = escalate(&scratch, &helper, "always", &readable);
    assert!(
        !output.status.success(),
        "the loud helper refuses everything"
    );
    assert_eq!(helper_runs(&marks), 1);
    let output = escalate(&scratch, &helper, "never", &unreadable);
    assert!(
        String::from_utf8_lossy(&output.stderr).starts_with(&format!("errno {}", libc::EACCES))
    );
    assert_eq!(helper_runs(&marks), 1, "never means never");
}

#[test]
fn open_options_through_the_real_helper() {
    let scratch = Scratch::new();
    let path = scratch.path().join("made-by-options");
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .escalate(Escalate::Always)
        .helper(helper_binary())
        .open(&path)
        .unwrap();
    drop(file);
    assert!(path.is_file());
    let error = OpenOptions::new()
        .write(true)
        .create_new(true)
        .escalate(Escalate::Always)
        .helper(helper_binary())
        .open(&path)
        .unwrap_err();
    assert_eq!(error.raw_os_error(), Some(libc::EEXIST));
    let session = Session::with_helper(Helper::at(helper_binary())).unwrap();
    let fd = OpenOptions::new()
        .read(true)
        .escalate(Escalate::Always)
        .session(&session)
        .open_fd(&path)
        .unwrap();
    assert!(read_all(fd).is_empty());
}

#[test]
fn every_error_variant_for_real() {
    let scratch = Scratch::new();
    let file = scratch.file("f", b"x", 0o644);

    let os = Helper::at(helper_binary())
        .open(scratch.path().join("missing"), libc::O_RDONLY)
        .unwrap_err();
    assert!(
        matches!(
            os,
            Error::Os {
                errno: libc::ENOENT,
                ..
            }
        ),
        "{os:?}"
    );
    assert!(os.to_string().contains("No such file or directory"));

    let missing = Session::with_helper(Helper::at(scratch.path().join("nowhere"))).unwrap_err();
    assert!(
        matches!(missing, Error::HelperMissing { .. }),
        "{missing:?}"
    );

    let not_started = Helper::at(scratch.file("not-executable", b"", 0o644))
        .open(&file, 0)
        .unwrap_err();
    assert!(
        matches!(not_started, Error::HelperNotStarted { .. }),
        "{not_started:?}"
    );

    let crashed = Helper::at(scratch.script("crash", "kill -SEGV $$"))
        .open(&file, 0)
        .unwrap_err();
    assert!(
        matches!(
            crashed,
            Error::HelperCrashed {
                signal: libc::SIGSEGV,
                ..
            }
        ),
        "{crashed:?}"
    );

    let no_session =
        Session::with_helper(Helper::at(scratch.script("no-session", "exit 0"))).unwrap_err();
    assert!(
        matches!(no_session, Error::Protocol { .. }),
        "{no_session:?}"
    );
    assert!(no_session.to_string().contains("--session"), "{no_session}");

    let invalid = Helper::at(helper_binary())
        .open(std::ffi::OsStr::new("/x\0y"), 0)
        .unwrap_err();
    assert!(matches!(invalid, Error::InvalidPath { .. }), "{invalid:?}");
    assert_eq!(
        std::io::Error::from(invalid).kind(),
        std::io::ErrorKind::InvalidInput
    );

    // Local: the library's own socketpair fails for lack of descriptors.
    let probe = scratch.install(Path::new(env!("CARGO_BIN_EXE_myopen-probe")), "probe");
    let output = run(Command::new("sh").arg("-c").arg(format!(
        "ulimit -n 4 && exec {} {} {} 0",
        probe.display(),
        helper_binary().display(),
        file.display()
    )));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!("errno {}", libc::EMFILE)) && stderr.contains("socketpair"),
        "{stderr}"
    );
}

#[test]
fn io_error_conversion_keeps_errno_and_kind() {
    let scratch = Scratch::new();
    let error: std::io::Error = Helper::at(helper_binary())
        .open(scratch.path().join("missing"), libc::O_RDONLY)
        .unwrap_err()
        .into();
    assert_eq!(
        (error.raw_os_error(), error.kind()),
        (Some(libc::ENOENT), std::io::ErrorKind::NotFound)
    );
    let io_result: std::io::Result<std::os::fd::OwnedFd> =
        myopen::my_open(scratch.path().join("missing"), 0);
    assert!(io_result.is_err());
}

fn status_field(name: &str) -> String {
    fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix(name).map(|value| value.trim().to_owned()))
        .unwrap()
}

#[test]
fn the_library_leaves_the_callers_process_alone() {
    let before: Vec<String> = ["NoNewPrivs:", "SigIgn:", "SigCgt:"]
        .iter()
        .map(|field| status_field(field))
        .collect();
    let scratch = Scratch::new();
    let file = scratch.file("f", b"x", 0o644);
    drop(
        Helper::at(helper_binary())
            .open(&file, libc::O_RDONLY)
            .unwrap(),
    );
    let session = Session::with_helper(Helper::at(helper_binary())).unwrap();
    drop(session.open(&file, libc::O_RDONLY).unwrap());
    drop(session);
    let after: Vec<String> = ["NoNewPrivs:", "SigIgn:", "SigCgt:"]
        .iter()
        .map(|field| status_field(field))
        .collect();
    assert_eq!(after, before, "no_new_privs or signal dispositions changed");
    assert_eq!(after[0], "0");
}

#[test]
fn a_set_id_or_capability_program_ignores_myopen_helper() {
    let Some(_env) = myopen_tests::privileged_env!() else {
        return;
    };
    let scratch = Scratch::new();
    let (loud, marks) = loud_helper(&scratch);
    let readable = scratch.file("readable", b"plain", 0o644);
    let (alice, bob) = (install::alice(), install::bob());
    let plain = scratch.install(Path::new(ENV_PROBE), "plain-probe");
    // Set-user-ID to another ordinary user, and a capability the probe has no use for: harmless
    // even if the variable were honoured, and each makes the kernel set AT_SECURE.
    let setuid = scratch.install(Path::new(ENV_PROBE), "setuid-probe");
    install::chown(&setuid, Some(&bob));
    install::chmod(&setuid, 0o4755);
    let capable = scratch.install(Path::new(ENV_PROBE), "capable-probe");
    install::set_file_capabilities(&capable, "cap_net_bind_service+p");

    let run_with_loud_helper = |probe: &Path| {
        run(install::command_as(&alice, probe)
            .arg(&readable)
            .env(myopen::HELPER_ENV, &loud))
    };
    // An ordinary program honours the variable: the loud helper leaves its mark.
    run_with_loud_helper(&plain);
    assert_eq!(
        helper_runs(&marks),
        1,
        "the plain probe ran the loud helper"
    );

    let default = myopen::default_helper_path();
    for (what, probe) in [("set-user-ID", &setuid), ("file capability", &capable)] {
        let output = run_with_loud_helper(probe);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            helper_runs(&marks),
            1,
            "{what}: the program ran the helper MYOPEN_HELPER named: {stderr}"
        );
        if default.exists() {
            assert_eq!(output.stdout, b"plain", "{what}: {stderr}");
        } else {
            assert!(
                stderr.contains(&default.display().to_string()),
                "{what}: the error names the built-in helper {}: {stderr}",
                default.display()
            );
        }
    }
}
