//! mycat behaves like cat: order, stdin, errors as GNU prints them, exit status, EPIPE, ENOSPC.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use myopen_tests::checks::check;
use myopen_tests::{Scratch, as_unprivileged, helper_binary, mycat_binary, run, run_with_input};

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
    check(&run(mycat().arg(&first).arg(&second).arg(&first)))
        .success()
        .stdout(b"first\nsecond\nfirst\n")
        .stderr_empty();
}

#[test]
fn dash_and_no_arguments_read_stdin() {
    let scratch = Scratch::new();
    let file = scratch.file("a", b"file\n", 0o644);
    let output = run_with_input(mycat().arg(&file).arg("-").arg(&file), b"stdin\n");
    assert_eq!(output.stdout, b"file\nstdin\nfile\n");
    check(&run_with_input(&mut mycat(), b"only stdin"))
        .stdout(b"only stdin")
        .success();
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
        .arg("--always-helper")
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
fn missing_helper_is_named_when_escalation_needs_it() {
    let scratch = Scratch::new();
    let readable = scratch.file("readable", b"readable\n", 0o644);
    let unreadable = scratch.file("unreadable", b"secret\n", 0o600);
    let absent = scratch.path().join("no-helper");
    let output = run(as_unprivileged(&mycat_binary())
        .arg("--helper")
        .arg(&absent)
        .arg(&readable)
        .arg(&unreadable));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        output.stdout, b"readable\n",
        "the readable file needs no helper"
    );
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "mycat: {}: helper {} not found",
            unreadable.display(),
            absent.display()
        )),
        "{stderr}"
    );
}

/// A helper that fails loudly: it leaves a mark and answers nothing.
fn loud_helper(scratch: &Scratch) -> (PathBuf, PathBuf) {
    let mark = scratch.path().join("helper-ran");
    let helper = scratch.script(
        "loud-helper",
        &format!(
            "echo \"$@\" >> '{}'\necho LOUD HELPER RAN >&2\nexit 99",
            mark.display()
        ),
    );
    (helper, mark)
}

#[test]
fn readable_files_never_start_the_helper() {
    let scratch = Scratch::new();
    let file = scratch.file("a", b"plain\n", 0o644);
    let (helper, mark) = loud_helper(&scratch);
    let output = run(Command::new(mycat_binary())
        .arg("--helper")
        .arg(&helper)
        .arg(&file)
        .arg(&file));
    check(&output)
        .success()
        .stdout(b"plain\nplain\n")
        .stderr_empty();
    assert!(!mark.exists(), "the helper ran for a readable file");
}

#[test]
fn missing_and_directory_operands_do_not_escalate() {
    // ENOENT and EISDIR are not permission problems: the helper would only say the same.
    let scratch = Scratch::new();
    let (helper, mark) = loud_helper(&scratch);
    let missing = scratch.path().join("missing");
    let output = run(Command::new(mycat_binary())
        .arg("--helper")
        .arg(&helper)
        .arg(&missing)
        .arg(scratch.path()));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr),
        format!(
            "mycat: {}: No such file or directory\nmycat: {}: Is a directory\n",
            missing.display(),
            scratch.path().display()
        )
    );
    assert!(!mark.exists(), "the helper ran");
}

#[test]
fn always_helper_asks_the_helper_even_for_readable_files() {
    let scratch = Scratch::new();
    let file = scratch.file("a", b"plain\n", 0o644);
    let (helper, mark) = loud_helper(&scratch);
    let output = run(Command::new(mycat_binary())
        .arg("--always-helper")
        .arg("--helper")
        .arg(&helper)
        .arg(&file));
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert!(mark.exists(), "the helper did not run");
    // The real helper, unprivileged, serves it.
    check(&run(mycat().arg("--always-helper").arg(&file)))
        .success()
        .stdout(b"plain\n");
}

#[test]
fn no_helper_never_escalates() {
    let scratch = Scratch::new();
    let unreadable = scratch.file("unreadable", b"secret\n", 0o600);
    let (helper, mark) = loud_helper(&scratch);
    let output = run(as_unprivileged(&mycat_binary())
        .arg("--no-helper")
        .arg("--helper")
        .arg(&helper)
        .arg(&unreadable));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr),
        format!("mycat: {}: Permission denied\n", unreadable.display())
    );
    assert!(!mark.exists(), "the helper ran");
    assert!(!text(&output.stderr).contains("LOUD"), "the helper ran");
}

#[test]
fn escalation_on_eacces_reaches_the_helper() {
    // Unprivileged, the real helper has only the caller's rights: it is asked (the loud helper
    // proves it) and its EACCES is reported plainly, without "(policy)": no policy was involved.
    let scratch = Scratch::new();
    let unreadable = scratch.file("unreadable", b"secret\n", 0o600);
    let (helper, _) = loud_helper(&scratch);
    let output = run(as_unprivileged(&mycat_binary())
        .arg("--helper")
        .arg(&helper)
        .arg(&unreadable));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("LOUD HELPER RAN"),
        "EACCES did not escalate: {}",
        text(&output.stderr)
    );
    let plain = scratch.install(&helper_binary(), "openfile-helper");
    let output = run(as_unprivileged(&mycat_binary())
        .arg("--helper")
        .arg(&plain)
        .arg(&unreadable));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr),
        format!("mycat: {}: Permission denied\n", unreadable.display())
    );
}

#[test]
fn always_and_no_helper_together_are_a_usage_error() {
    let output = run(Command::new(mycat_binary()).args(["--always-helper", "--no-helper"]));
    assert_eq!(output.status.code(), Some(1), "cat's status for bad usage");
    let output = run(Command::new(mycat_binary()).arg("--no-such-option"));
    assert_eq!(output.status.code(), Some(1));
    let gnu = run(Command::new("cat").arg("--no-such-option"));
    assert_eq!(gnu.status.code(), Some(1));
}

/// Runs `program args` through `sh -c` with `redirections` (so the shell opens the output the way
/// a user's command line would); returns (status, stderr with the program name replaced).
fn shell(program: &std::path::Path, script: &str, dir: &std::path::Path) -> (Option<i32>, String) {
    let output = run(Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(program)
        .current_dir(dir));
    let name = program
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    (
        output.status.code(),
        text(&output.stderr).replace(&format!("{name}:"), "PROG:"),
    )
}

#[test]
fn input_file_is_output_file_is_refused_like_gnu_cat() {
    let scratch = Scratch::new();
    for script in [
        "\"$0\" f >> f",
        "\"$0\" f 1<>f",
        "\"$0\" < f >> f",
        "\"$0\" - < f >> f",
        "\"$0\" g f g >> f",
        // Empty or truncated: nothing to loop over, so no error.
        "\"$0\" e >> e",
        "\"$0\" f > f",
    ] {
        let setup = |dir: &std::path::Path| {
            fs::write(dir.join("f"), b"content\n").unwrap();
            fs::write(dir.join("g"), b"other\n").unwrap();
            fs::write(dir.join("e"), b"").unwrap();
        };
        setup(scratch.path());
        let ours = shell(&mycat_binary(), script, scratch.path());
        let ours_f = fs::read(scratch.path().join("f")).unwrap();
        setup(scratch.path());
        let gnu = shell(std::path::Path::new("cat"), script, scratch.path());
        let gnu_f = fs::read(scratch.path().join("f")).unwrap();
        assert_eq!(ours, gnu, "{script}");
        assert_eq!(text(&ours_f), text(&gnu_f), "{script}: file content");
    }
    fs::write(scratch.path().join("f"), b"content\n").unwrap();
    let (status, stderr) = shell(&mycat_binary(), "\"$0\" f >> f", scratch.path());
    assert_eq!(status, Some(1));
    assert_eq!(stderr, "PROG: f: input file is output file\n");
}

#[test]
fn directory_message_matches_gnu_cat() {
    let scratch = Scratch::new();
    fs::create_dir(scratch.path().join("dir")).unwrap();
    let ours = run(mycat().arg("dir").current_dir(scratch.path()));
    let gnu = run(Command::new("cat").arg("dir").current_dir(scratch.path()));
    assert_eq!(text(&ours.stderr), "mycat: dir: Is a directory\n");
    assert_eq!(
        text(&ours.stderr).replace("mycat:", "cat:"),
        text(&gnu.stderr)
    );
    assert_eq!(ours.status.code(), gnu.status.code());
}

/// Errors whose C-library text differs between glibc and musl ("Symbolic link loop", "Filename
/// too long"): mycat words them as GNU cat does whichever C library it is linked with.
#[test]
fn errors_musl_words_otherwise_match_gnu_cat() {
    let scratch = Scratch::new();
    std::os::unix::fs::symlink("loop", scratch.path().join("loop")).unwrap();
    let long_name = "n".repeat(300);
    let names = ["loop", long_name.as_str()];
    let ours = run(mycat().args(names).current_dir(scratch.path()));
    let gnu = run(Command::new("cat").args(names).current_dir(scratch.path()));
    assert_eq!(
        text(&ours.stderr),
        format!(
            "mycat: loop: Too many levels of symbolic links\nmycat: {long_name}: File name too long\n"
        )
    );
    assert_eq!(
        text(&ours.stderr).replace("mycat:", "cat:"),
        text(&gnu.stderr)
    );
    assert_eq!(ours.status.code(), gnu.status.code());
}

#[test]
fn mixed_good_and_bad_operands_match_gnu_cat() {
    let scratch = Scratch::new();
    scratch.file("good", b"good\n", 0o644);
    fs::create_dir(scratch.path().join("dir")).unwrap();
    let names = ["good", "missing", "dir", "good", "-", "good"];
    let ours = run_with_input(mycat().args(names).current_dir(scratch.path()), b"in\n");
    let gnu = run_with_input(
        Command::new("cat").args(names).current_dir(scratch.path()),
        b"in\n",
    );
    assert_eq!(ours.stdout, b"good\ngood\nin\ngood\n");
    assert_eq!(ours.stdout, gnu.stdout);
    assert_eq!(
        text(&ours.stderr).replace("mycat:", "cat:"),
        text(&gnu.stderr)
    );
    assert_eq!(ours.status.code(), Some(1));
    let all_good = run(mycat().args(["good", "good"]).current_dir(scratch.path()));
    assert_eq!(all_good.status.code(), Some(0));
}

#[test]
fn dev_full_is_a_write_error_for_every_input_kind() {
    let scratch = Scratch::new();
    let file = scratch.file("a", &vec![b'x'; 300_000], 0o644);
    let full = || {
        fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    // A file operand (sendfile), standard input from a file, standard input from a pipe.
    let operand = mycat()
        .arg(&file)
        .stdout(full())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stdin_file = mycat()
        .stdin(fs::File::open(&file).unwrap())
        .stdout(full())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let mut piped = mycat()
        .stdin(Stdio::piped())
        .stdout(full())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = piped.stdin.take().unwrap();
        let _ = stdin.write_all(b"bytes");
    }
    let stdin_pipe = piped.wait_with_output().unwrap();
    for (what, output) in [
        ("operand", operand),
        ("stdin file", stdin_file),
        ("stdin pipe", stdin_pipe),
    ] {
        assert_eq!(output.status.code(), Some(1), "{what}");
        assert_eq!(
            text(&output.stderr),
            "mycat: write error: No space left on device\n",
            "{what}"
        );
    }
    // And it stops there, as cat does: the next operand is not tried.
    let output = mycat()
        .arg(&file)
        .arg(scratch.path().join("missing"))
        .stdout(full())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(
        text(&output.stderr),
        "mycat: write error: No space left on device\n"
    );
}

#[test]
fn closed_pipe_ends_quietly_for_stdin_and_sockets_too() {
    use std::io::Write;
    // Standard input through a pipe: read/write gets EPIPE, with SIGPIPE.
    let mut child = mycat()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(&vec![b'y'; 1 << 20]);
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.signal(), Some(libc::SIGPIPE));
    assert!(output.stderr.is_empty(), "{}", text(&output.stderr));

    // A socket whose reader has gone: sendfile gets EPIPE, with SIGPIPE.
    let scratch = Scratch::new();
    let big = scratch.file("big", &vec![b'x'; 4 << 20], 0o644);
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    drop(ours);
    let output = mycat()
        .arg(&big)
        .stdout(std::os::fd::OwnedFd::from(theirs))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(output.status.signal(), Some(libc::SIGPIPE));
    assert!(output.stderr.is_empty(), "{}", text(&output.stderr));
}

#[test]
fn head_of_a_big_file_ends_quietly() {
    let scratch = Scratch::new();
    let big = scratch.file("big", &vec![b'z'; 8 << 20], 0o644);
    let output = run(Command::new("sh")
        .arg("-c")
        .arg("\"$0\" \"$1\" | head -c 10; echo \" status=${PIPESTATUS:-}\"")
        .arg(mycat_binary())
        .arg(&big));
    assert_eq!(
        text(&output.stdout).lines().next(),
        Some("zzzzzzzzzz status=")
    );
    assert!(output.stderr.is_empty(), "{}", text(&output.stderr));
}

#[test]
fn help_version_and_dash_u() {
    for flag in ["--help", "--version"] {
        let output = run(Command::new(mycat_binary()).arg(flag));
        assert!(output.status.success(), "{flag}");
        assert!(text(&output.stdout).contains("mycat"), "{flag}");
    }
    check(&run_with_input(mycat().arg("-u"), b"u is ignored")).stdout(b"u is ignored");
    let scratch = Scratch::new();
    let file = scratch.file("a", b"with a file\n", 0o644);
    check(&run(mycat().arg("-u").arg(&file).arg("-u")))
        .stdout(b"with a file\n")
        .success();
    let help = text(&run(Command::new(mycat_binary()).arg("--help")).stdout);
    for option in ["--helper", "--always-helper", "--no-helper", "-u"] {
        assert!(help.contains(option), "--help lists {option}");
    }
}

#[test]
fn a_helper_without_sessions_still_serves_several_files() {
    // The book's C helper knows only the one-shot protocol: mycat's shared session cannot start,
    // and each file falls back to a helper of its own.
    let scratch = Scratch::new();
    let first = scratch.file("a", b"first\n", 0o644);
    let second = scratch.file("b", b"second\n", 0o644);
    let output = run(Command::new(mycat_binary())
        .args(["--always-helper", "--helper", myopen_tests::UNP_OPENFILE])
        .arg(&first)
        .arg(&second));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(output.stdout, b"first\nsecond\n");
}
