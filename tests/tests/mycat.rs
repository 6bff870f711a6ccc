//! mycat behaves like cat: order, stdin, errors as GNU prints them, exit status, EPIPE, ENOSPC.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use myopen_tests::{Scratch, helper_binary, mycat_binary, run, run_with_input};

fn mycat() -> Command {
    let mut command = Command::new(mycat_binary());
    command.arg("--helper").arg(helper_binary());
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn concatenates_files_in_order() {
    let scratch = Scratch::new();
    let first = scratch.file("a", b"first\n", 0o644);
    let second = scratch.file("b", b"second\n", 0o644);
    let output = run(mycat().arg(&first).arg(&second).arg(&first));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(output.stdout, b"first\nsecond\nfirst\n");
    assert!(output.stderr.is_empty());
}

#[test]
fn dash_and_no_arguments_read_stdin() {
    let scratch = Scratch::new();
    let file = scratch.file("a", b"file\n", 0o644);
    let output = run_with_input(mycat().arg(&file).arg("-").arg(&file), b"stdin\n");
    assert_eq!(output.stdout, b"file\nstdin\nfile\n");
    let output = run_with_input(&mut mycat(), b"only stdin");
    assert_eq!(output.stdout, b"only stdin");
    assert!(output.status.success());
}

#[test]
fn goes_on_after_an_error_and_exits_one() {
    let scratch = Scratch::new();
    let good = scratch.file("good", b"good\n", 0o644);
    let missing = scratch.path().join("missing");
    let output = run(mycat()
        .arg(&missing)
        .arg(&good)
        .arg(scratch.path())
        .arg(&good));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(output.stdout, b"good\ngood\n");
    assert_eq!(
        text(&output.stderr),
        format!(
            "mycat: {}: No such file or directory\nmycat: {}: Is a directory\n",
            missing.display(),
            scratch.path().display()
        )
    );
}

#[test]
fn messages_match_gnu_cat_exactly() {
    let scratch = Scratch::new();
    let names = ["missing", "with space", "it's"];
    let paths: Vec<PathBuf> = names.iter().map(|name| scratch.path().join(name)).collect();
    let ours = run(mycat().current_dir(scratch.path()).args(names));
    let gnu = run(Command::new("cat").current_dir(scratch.path()).args(names));
    assert_eq!(
        text(&ours.stderr).replace("mycat:", "cat:"),
        text(&gnu.stderr)
    );
    assert_eq!(ours.status.code(), gnu.status.code());
    drop(paths);
}

#[test]
fn write_error_on_dev_full_is_reported() {
    let scratch = Scratch::new();
    let file = scratch.file("a", b"some bytes\n", 0o644);
    let full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let output = mycat()
        .arg(&file)
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr),
        "mycat: write error: No space left on device\n"
    );
}

#[test]
fn closed_pipe_ends_quietly_like_sigpipe() {
    let scratch = Scratch::new();
    let big = scratch.file("big", &vec![b'x'; 4 << 20], 0o644);
    let mut child = mycat()
        .arg(&big)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGPIPE),
        "ends as cat does, by SIGPIPE"
    );
    assert!(output.stderr.is_empty(), "{}", text(&output.stderr));
}

#[test]
fn missing_helper_is_reported_per_file() {
    let scratch = Scratch::new();
    let file = scratch.file("a", b"x", 0o644);
    let absent = scratch.path().join("no-helper");
    let output = run(Command::new(mycat_binary())
        .arg("--helper")
        .arg(&absent)
        .arg(&file));
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "mycat: {}: helper {}",
            file.display(),
            absent.display()
        )),
        "{stderr}"
    );
}

#[test]
fn help_version_and_dash_u() {
    for flag in ["--help", "--version"] {
        let output = run(Command::new(mycat_binary()).arg(flag));
        assert!(output.status.success(), "{flag}");
        assert!(text(&output.stdout).contains("mycat"), "{flag}");
    }
    let output = run_with_input(mycat().arg("-u"), b"u is ignored");
    assert_eq!(output.stdout, b"u is ignored");
}
