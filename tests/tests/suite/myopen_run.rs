//! myopen-run: unmodified programs, run as a test user, read the root-only file the policy grants
//! through the setuid helper, and print their own error for the one it refuses.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use myopen_tests::install::{
    FileState, Install, PrivilegedEnv, TestUser, alice, allow_rule, audit_lines_for, command_as,
    contains, it_myopen_run, it_myopen_run_race, myopen_run_as, run_limited, users,
};
use myopen_tests::{Pty, Scratch, privileged_env, run, run_with_input};

const HELPER: Install = Install::Setuid;
const LOG: &[u8] = b"2026-05-01 sshd[1]: Accepted key for alice\n\
2026-05-01 cron[2]: job started\n\
2026-05-01 sshd[3]: Failed password for bob\n\
2026-05-01 kernel: eth0 up\n\
2026-05-01 sshd[4]: session closed\n";

/// The usual scene: `logs/allowed.log` and `logs/denied.log` (plus gzip copies), root 0600; the
/// policy lets alice read `logs/allowed*`.
fn scene(env: &PrivilegedEnv) -> (std::path::PathBuf, std::path::PathBuf) {
    let allowed = env.file("logs/allowed.log", LOG, 0o600, None);
    let denied = env.file("logs/denied.log", b"not for alice\n", 0o600, None);
    for path in [&allowed, &denied] {
        let gzipped = run(Command::new("gzip").arg("-c").arg(path)).stdout;
        let name = format!("logs/{}.gz", path.file_name().unwrap().to_string_lossy());
        env.file(&name, &gzipped, 0o600, None);
    }
    env.write_policy(&allow_rule(
        env.path("logs/allowed*"),
        &users(&[alice().name]),
        &["read"],
        &[],
    ));
    (allowed, denied)
}

/// `myopen-run` as `user`, with the installed helper (no `--helper`).
fn myopen_run_bare(user: &TestUser) -> Command {
    let mut command = command_as(user, it_myopen_run());
    // See myopen_run_as: cargo test's library path would make the loader ask the helper.
    command.env_remove("LD_LIBRARY_PATH");
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn lines(content: &[u8]) -> Vec<&[u8]> {
    content.split_inclusive(|&byte| byte == b'\n').collect()
}

/// Runs `argv` as `user`, under myopen-run or not, in the C locale.
fn run_program(user: &TestUser, under_myopen_run: bool, argv: &[OsString]) -> Output {
    let mut command = if under_myopen_run {
        myopen_run_as(user, HELPER, &argv[0])
    } else {
        command_as(user, &argv[0])
    };
    command.args(&argv[1..]).env("LC_ALL", "C").current_dir("/");
    run(&mut command)
}

struct Program {
    name: &'static str,
    argv: fn(&Path) -> Vec<OsString>,
    /// The file the program is given: the log, or its gzip copy.
    gzipped: bool,
    expected: fn(&[u8]) -> Vec<u8>,
}

fn argv(words: &[&str], path: &Path) -> Vec<OsString> {
    words
        .iter()
        .map(|word| match *word {
            "{}" => path.as_os_str().to_owned(),
            word => OsString::from(word),
        })
        .collect()
}

fn programs() -> Vec<Program> {
    let whole = |content: &[u8]| content.to_vec();
    vec![
        Program {
            name: "cat",
            argv: |path| argv(&["cat", "{}"], path),
            gzipped: false,
            expected: whole,
        },
        Program {
            name: "head -n 2",
            argv: |path| argv(&["head", "-n", "2", "{}"], path),
            gzipped: false,
            expected: |content| lines(content)[..2].concat(),
        },
        Program {
            name: "tail -n 2",
            argv: |path| argv(&["tail", "-n", "2", "{}"], path),
            gzipped: false,
            expected: |content| lines(content)[3..].concat(),
        },
        Program {
            name: "grep",
            argv: |path| argv(&["grep", "sshd", "{}"], path),
            gzipped: false,
            expected: |content| {
                lines(content)
                    .into_iter()
                    .filter(|line| contains(line, b"sshd"))
                    .collect::<Vec<_>>()
                    .concat()
            },
        },
        Program {
            name: "zcat",
            argv: |path| argv(&["zcat", "{}"], path),
            gzipped: true,
            expected: whole,
        },
        Program {
            name: "sort",
            argv: |path| argv(&["sort", "-r", "{}"], path),
            gzipped: false,
            expected: |content| {
                let mut sorted = lines(content);
                sorted.sort();
                sorted.reverse();
                sorted.concat()
            },
        },
        Program {
            name: "gawk",
            argv: |path| argv(&["gawk", "{ print $2 }", "{}"], path),
            gzipped: false,
            expected: second_words,
        },
        Program {
            name: "mawk",
            argv: |path| argv(&["mawk", "{ print $2 }", "{}"], path),
            gzipped: false,
            expected: second_words,
        },
        Program {
            name: "python3",
            argv: |path| {
                argv(
                    &[
                        "/usr/bin/python3",
                        "-c",
                        "import sys; sys.stdout.write(open(sys.argv[1]).read())",
                        "{}",
                    ],
                    path,
                )
            },
            gzipped: false,
            expected: whole,
        },
        Program {
            name: "less -F",
            argv: |path| argv(&["less", "-F", "{}"], path),
            gzipped: false,
            expected: whole,
        },
        Program {
            name: "busybox cat (static)",
            argv: |path| argv(&["busybox", "cat", "{}"], path),
            gzipped: false,
            expected: whole,
        },
    ]
}

fn second_words(content: &[u8]) -> Vec<u8> {
    let mut words = Vec::new();
    for line in lines(content) {
        let text = String::from_utf8_lossy(line);
        words.extend_from_slice(text.split_whitespace().nth(1).unwrap_or("").as_bytes());
        words.push(b'\n');
    }
    words
}

#[test]
fn unmodified_programs_read_the_allowed_log_and_print_their_own_error_for_the_denied_one() {
    let Some(env) = privileged_env!() else {
        return;
    };
    let (allowed, denied) = scene(&env);
    let alice = alice();
    for program in programs() {
        let name = program.name;
        let pick = |path: &Path| {
            if program.gzipped {
                path.with_extension("log.gz")
            } else {
                path.to_owned()
            }
        };
        let (allowed, denied) = (pick(&allowed), pick(&denied));

        // Without myopen-run the log is out of reach: the test is not vacuous.
        let alone = run_program(&alice, false, &(program.argv)(&allowed));
        assert!(
            !contains(&alone.stdout, &(program.expected)(LOG)),
            "{name} read the root-only log without myopen-run: {alone:?}"
        );

        let granted = run_program(&alice, true, &(program.argv)(&allowed));
        assert_eq!(
            text(&granted.stdout),
            text(&(program.expected)(LOG)),
            "{name} under myopen-run on the allowed log (stderr: {})",
            text(&granted.stderr)
        );
        assert!(
            granted.status.success(),
            "{name} under myopen-run: {:?}, stderr: {}",
            granted.status,
            text(&granted.stderr)
        );

        // The refused file: exactly what the program says and does without myopen-run, its
        // own "Permission denied".
        let expected = run_program(&alice, false, &(program.argv)(&denied));
        let refused = run_program(&alice, true, &(program.argv)(&denied));
        // (less prints its complaint on stdout.)
        assert!(
            text(&[&expected.stdout[..], &expected.stderr[..]].concat())
                .contains("Permission denied"),
            "{name} alone on the denied log: {expected:?}"
        );
        assert_eq!(
            (
                text(&refused.stdout),
                text(&refused.stderr),
                refused.status.code()
            ),
            (
                text(&expected.stdout),
                text(&expected.stderr),
                expected.status.code()
            ),
            "{name} under myopen-run on the denied log, against {name} alone"
        );
    }
    // Each refusal was the policy's, through the helper.
    let audit = env.audit_lines();
    assert!(
        !audit_lines_for(&audit, &denied).is_empty(),
        "no audit line for the denied log:\n{}",
        audit.join("\n")
    );
}

#[test]
fn a_readable_file_asks_no_helper() {
    let Some(env) = privileged_env!() else {
        return;
    };
    let (_, _) = scene(&env);
    let readable = env.file("logs/public.log", LOG, 0o644, None);
    let alice = alice();

    let output = run_program(&alice, true, &argv(&["cat", "{}"], &readable));
    assert_eq!(text(&output.stdout), text(LOG), "{}", text(&output.stderr));
    let audit = env.audit_lines();
    assert!(
        audit_lines_for(&audit, &readable).is_empty(),
        "the helper was asked for a readable file:\n{}",
        audit.join("\n")
    );

    // A helper that cannot even start changes nothing for readable files, and is never
    // mentioned: it was never asked.
    let mut command = myopen_run_bare(&alice);
    command
        .env_remove("LD_LIBRARY_PATH")
        .args(["--helper", "/nonexistent/openfile-helper", "--", "cat"])
        .arg(&readable);
    let output = run(&mut command);
    assert_eq!(text(&output.stdout), text(LOG));
    assert_eq!(text(&output.stderr), "", "nothing to say about the helper");
    assert!(output.status.success());
}

#[test]
fn tee_appends_only_with_an_append_grant() {
    let Some(env) = privileged_env!() else {
        return;
    };
    let journal = env.file("logs/journal.log", b"one\n", 0o600, None);
    let alice = alice();
    let tee = || {
        let mut command = myopen_run_as(&alice, HELPER, "tee");
        command.arg("-a").arg(&journal).env("LC_ALL", "C");
        run_with_input(&mut command, b"two\n")
    };

    env.write_policy(&allow_rule(&journal, &users(&[alice.name]), &["read"], &[]));
    let before = FileState::capture(&journal);
    let output = tee();
    assert_eq!(
        text(&output.stderr),
        format!("tee: {}: Permission denied\n", journal.display()),
        "tee's own refusal"
    );
    assert!(!output.status.success());
    before.assert_unchanged(&journal, "tee -a without an append grant");

    env.write_policy(&allow_rule(
        &journal,
        &users(&[alice.name]),
        &["read", "append"],
        &[],
    ));
    let output = tee();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "two\n");
    assert_eq!(
        text(&std::fs::read(&journal).unwrap()),
        "one\ntwo\n",
        "appended"
    );
}

#[test]
fn relative_paths_directory_descriptors_and_odd_bytes_name_what_the_child_means() {
    let Some(env) = privileged_env!() else {
        return;
    };
    let (allowed, _) = scene(&env);
    let alice = alice();
    let logs = allowed.parent().unwrap().to_owned();
    env.dir("logs/sub", 0o755, None);
    let odd_name = OsStr::from_bytes(b"allowed odd \n\"'\\\xff\x01.log");
    let odd = logs.join(odd_name);
    // Written by root under the real (non-UTF-8) name, which PrivilegedEnv::file cannot take.
    std::fs::write(&odd, LOG).unwrap();
    std::os::unix::fs::chown(&odd, Some(0), Some(0)).unwrap();
    myopen_tests::install::chmod(&odd, 0o600);

    let in_dir = |dir: &Path, args: &[&OsStr]| {
        let mut command = myopen_run_as(&alice, HELPER, args[0]);
        command.args(&args[1..]).current_dir(dir);
        run(&mut command)
    };
    // Relative to the cwd of the child, which is not the supervisor's: the child changes it.
    let output = in_dir(
        Path::new("/"),
        &[
            OsStr::new("sh"),
            OsStr::new("-c"),
            OsStr::new("cd \"$1\" && cat allowed.log && cd sub && cat ../allowed.log"),
            OsStr::new("sh"),
            logs.as_os_str(),
        ],
    );
    assert_eq!(
        text(&output.stdout),
        text(&[LOG, LOG].concat()),
        "{}",
        text(&output.stderr)
    );
    let output = in_dir(&logs, &[OsStr::new("cat"), OsStr::new("denied.log")]);
    assert_eq!(text(&output.stderr), "cat: denied.log: Permission denied\n");

    // openat relative to a directory descriptor, from a cwd where the name means nothing.
    let script = "import os, sys\n\
                  d = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)\n\
                  fd = os.open(sys.argv[2], os.O_RDONLY, dir_fd=d)\n\
                  sys.stdout.buffer.write(os.read(fd, 65536))\n";
    let output = in_dir(
        Path::new("/"),
        &[
            OsStr::new("/usr/bin/python3"),
            OsStr::new("-c"),
            OsStr::new(script),
            logs.as_os_str(),
            OsStr::new("allowed.log"),
        ],
    );
    assert_eq!(text(&output.stdout), text(LOG), "{}", text(&output.stderr));

    // A name with a newline, quotes, a backslash, a byte that is not UTF-8 and a control byte.
    let output = in_dir(Path::new("/"), &[OsStr::new("cat"), odd.as_os_str()]);
    assert_eq!(text(&output.stdout), text(LOG), "{}", text(&output.stderr));
}

#[test]
fn a_child_rewriting_the_path_during_the_notification_gets_no_more_than_the_policy_grants() {
    let Some(env) = privileged_env!() else {
        return;
    };
    let secret = env.secret();
    // The same length as secret/shadow, so that torn reads mix the two names.
    let granted = env.file("secret/grants", b"granted content\n", 0o600, None);
    let alice = alice();
    env.write_policy(&allow_rule(&granted, &users(&[alice.name]), &["read"], &[]));
    let mut command = myopen_run_as(&alice, HELPER, it_myopen_run_race());
    command.arg(&granted).arg(&secret.path).arg("300");
    let output = run(&mut command);
    secret.assert_not_in_output(&output);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    let counts = stdout.lines().last().unwrap_or_default();
    let count = |key: &str| -> u32 {
        counts
            .split(' ')
            .find_map(|field| field.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
            .unwrap_or_else(|| panic!("no {key}= in {stdout}"))
    };
    assert!(
        count("opened") > 0 && count("refused") > 0,
        "both names were asked for: {stdout}"
    );
    for line in stdout.lines().filter(|line| line.starts_with("read: ")) {
        assert_eq!(line, "read: granted content", "{stdout}");
    }
    secret.assert_intact();
}

#[test]
fn forks_threads_and_execs_inside_command_stay_covered() {
    let Some(env) = privileged_env!() else {
        return;
    };
    let (allowed, _) = scene(&env);
    let alice = alice();
    let mut command = myopen_run_as(&alice, HELPER, "sh");
    command
        .arg("-c")
        .arg("cat \"$1\"; (cat \"$1\"); cat \"$1\" & wait; exec head -n 1 \"$1\"")
        .arg("sh")
        .arg(&allowed);
    let output = run(&mut command);
    assert_eq!(
        text(&output.stdout),
        text(&[LOG, LOG, LOG, lines(LOG)[0]].concat()),
        "{}",
        text(&output.stderr)
    );

    let script = "import sys, threading\n\
                  out = []\n\
                  t = threading.Thread(target=lambda: out.append(open(sys.argv[1]).read()))\n\
                  t.start(); t.join()\n\
                  sys.stdout.write(out[0])\n";
    let mut command = myopen_run_as(&alice, HELPER, "/usr/bin/python3");
    command.arg("-c").arg(script).arg(&allowed);
    let output = run(&mut command);
    assert_eq!(text(&output.stdout), text(LOG), "{}", text(&output.stderr));
}

#[test]
fn the_exit_status_is_commands() {
    let Some(_env) = privileged_env!() else {
        return;
    };
    let alice = alice();
    for (script, status) in [
        ("exit 3", 3),
        ("exit 0", 0),
        ("kill -KILL $$", 128 + 9),
        ("kill -TERM $$", 128 + 15),
    ] {
        let mut command = myopen_run_as(&alice, HELPER, "sh");
        let output = run(command.args(["-c", script]));
        assert_eq!(output.status.code(), Some(status), "sh -c '{script}'");
    }
    // A PATH without the test's /root directories, which would make the search end in EACCES.
    let output = run(myopen_run_bare(&alice)
        .env("PATH", "/usr/bin:/bin")
        .arg("no-such-program-anywhere"));
    assert_eq!(output.status.code(), Some(127));
    assert_eq!(
        text(&output.stderr),
        "myopen-run: no-such-program-anywhere: No such file or directory\n"
    );
}

/// A helper that never answers: it reads its socket until myopen-run goes away.
fn silent_helper(scratch: &Scratch) -> std::path::PathBuf {
    scratch.script("silent-helper", "exec cat >/dev/null")
}

#[test]
fn command_ending_while_an_open_is_pending_ends_myopen_run_at_once() {
    let Some(env) = privileged_env!() else {
        return;
    };
    let (_, denied) = scene(&env);
    let alice = alice();
    let scratch = Scratch::new();
    let helper = silent_helper(&scratch);
    let mut command = myopen_run_bare(&alice);
    command
        .arg("--helper")
        .arg(&helper)
        .args(["sh", "-c", "cat \"$1\" & sleep 0.3; exit 3", "sh"])
        .arg(&denied);
    let started = Instant::now();
    let output = run_limited(&mut command, Duration::from_secs(10))
        .expect("myopen-run hung after COMMAND ended with an open pending");
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

/// COMMAND for the signal tests: counts SIGINTs, and once one came, waits for a duplicate a
/// while and exits with 20 + the count.
const COUNT_SIGINT: &str = "import signal, sys, time\n\
count = 0\n\
def handler(signum, frame):\n    global count\n    count += 1\n\
signal.signal(signal.SIGINT, handler)\n\
print('ready', flush=True)\n\
deadline = time.time() + 20\n\
while count == 0 and time.time() < deadline:\n    time.sleep(0.01)\n\
time.sleep(0.3)\n\
print('count', count, flush=True)\n\
sys.exit(20 + count)\n";

#[test]
fn signals_sent_to_myopen_run_reach_command_once() {
    let Some(_env) = privileged_env!() else {
        return;
    };
    let alice = alice();
    for (signal, status) in [
        (nix::sys::signal::Signal::SIGINT, Some(21)),
        (nix::sys::signal::Signal::SIGTERM, None),
        (nix::sys::signal::Signal::SIGHUP, None),
    ] {
        let mut command = myopen_run_as(&alice, HELPER, "/usr/bin/python3");
        command
            .arg("-c")
            .arg(COUNT_SIGINT)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn myopen-run");
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        assert_eq!(line, "ready\n");
        // setpriv execs myopen-run in place, so the child's pid is myopen-run's.
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, signal).unwrap();
        let mut rest = line;
        std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
        let output = myopen_tests::wait_output(child, Duration::from_secs(10));
        match status {
            Some(code) => {
                assert_eq!(output.status.code(), Some(code), "{signal}: {rest}");
                assert!(rest.contains("count 1"), "{signal}: {rest}");
            }
            None => assert_eq!(
                output.status.code(),
                Some(128 + signal as i32),
                "{signal} ends COMMAND, and myopen-run says so: {rest}"
            ),
        }
    }
}

#[test]
fn ctrl_c_at_the_terminal_reaches_command_once_and_less_pages_the_allowed_log() {
    let Some(env) = privileged_env!() else {
        return;
    };
    let (allowed, _) = scene(&env);
    let alice = alice();
    let in_pty = |args: &[&OsStr]| {
        let mut command = command_as(&alice, "/usr/bin/setsid");
        command
            .env_remove("LD_LIBRARY_PATH")
            .arg("--ctty")
            .arg(it_myopen_run())
            .arg("--helper")
            .arg(HELPER.helper())
            .arg("--")
            .args(args)
            .env("TERM", "xterm")
            .env_remove("LESSOPEN");
        Pty::spawn(&mut command)
    };

    let mut pty = in_pty(&[
        OsStr::new("/usr/bin/python3"),
        OsStr::new("-c"),
        OsStr::new(COUNT_SIGINT),
    ]);
    assert!(
        pty.wait_for(b"ready", Duration::from_secs(10)),
        "{}",
        text(&pty.output())
    );
    pty.type_in(b"\x03");
    let (status, shown) = pty.finish(Duration::from_secs(10));
    assert_eq!(
        status.and_then(|status| status.code()),
        Some(21),
        "one SIGINT, from the terminal alone: {}",
        text(&shown)
    );
    assert!(contains(&shown, b"count 1"), "{}", text(&shown));

    let mut pty = in_pty(&[OsStr::new("less"), allowed.as_os_str()]);
    let last_line = lines(LOG)[4].strip_suffix(b"\n").unwrap();
    assert!(
        pty.wait_for(last_line, Duration::from_secs(10)),
        "less shows the log: {}",
        text(&pty.output())
    );
    pty.type_in(b"q");
    let (status, shown) = pty.finish(Duration::from_secs(10));
    assert_eq!(
        status.and_then(|status| status.code()),
        Some(0),
        "{}",
        text(&shown)
    );
}

#[test]
fn tail_f_follows_lines_appended_after_it_started() {
    let Some(env) = privileged_env!() else {
        return;
    };
    let (allowed, _) = scene(&env);
    let alice = alice();
    let mut command = myopen_run_as(&alice, HELPER, "tail");
    command
        .args(["-n", "1", "-f", "--sleep-interval=0.1"])
        .arg(&allowed)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn tail -f");
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let first = receiver.recv_timeout(Duration::from_secs(10));
    let appended = "2026-05-01 sshd[5]: appended after tail started";
    {
        use std::io::Write;
        let mut log = std::fs::OpenOptions::new()
            .append(true)
            .open(&allowed)
            .unwrap();
        writeln!(log, "{appended}").unwrap();
    }
    let second = receiver.recv_timeout(Duration::from_secs(10));
    // SIGTERM from someone else: forwarded, tail ends, myopen-run reports it.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let output = myopen_tests::wait_output(child, Duration::from_secs(10));
    assert_eq!(
        first.as_deref().ok(),
        Some("2026-05-01 sshd[4]: session closed"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(second.as_deref().ok(), Some(appended));
    assert_eq!(output.status.code(), Some(128 + libc::SIGTERM));
}

#[test]
fn without_user_notification_myopen_run_refuses_to_start() {
    let Some(env) = privileged_env!() else {
        return;
    };
    let alice = alice();
    let marker = env.path("command-ran");
    std::fs::set_permissions(
        env.data(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    // A kernel without seccomp user notification, as far as myopen-run can tell: a filter that
    // fails every seccomp(2) with ENOSYS, installed before myopen-run starts.
    let without_seccomp = "import ctypes, os, struct, sys\n\
libc = ctypes.CDLL(None, use_errno=True)\n\
insn = lambda code, jt, jf, k: struct.pack('HBBI', code, jt, jf, k)\n\
prog = insn(0x20, 0, 0, 0) + insn(0x15, 0, 1, 317) + insn(0x06, 0, 0, 0x00050000 | 38) + insn(0x06, 0, 0, 0x7fff0000)\n\
buf = ctypes.create_string_buffer(prog)\n\
class Fprog(ctypes.Structure):\n    _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]\n\
fprog = Fprog(4, ctypes.cast(buf, ctypes.c_void_p))\n\
assert libc.prctl(38, 1, 0, 0, 0) == 0\n\
assert libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0\n\
os.execv(sys.argv[1], sys.argv[1:])\n";
    let mut command = command_as(&alice, "/usr/bin/python3");
    command
        .env_remove("LD_LIBRARY_PATH")
        .arg("-c")
        .arg(without_seccomp)
        .arg(it_myopen_run())
        .arg("touch")
        .arg(&marker);
    let output = run(&mut command);
    assert_eq!(output.status.code(), Some(125), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).starts_with(
            "myopen-run: this kernel does not offer seccomp user notification (seccomp: \
             Function not implemented)"
        ),
        "{}",
        text(&output.stderr)
    );
    assert!(!marker.exists(), "COMMAND ran without the supervisor");

    // Under another listener (myopen-run inside myopen-run) the filter cannot be installed.
    let output = run(myopen_run_bare(&alice)
        .arg(it_myopen_run())
        .arg("touch")
        .arg(&marker));
    assert_eq!(output.status.code(), Some(125), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("another seccomp listener already watches this process"),
        "{}",
        text(&output.stderr)
    );
    assert!(!marker.exists(), "COMMAND ran without the supervisor");
}

#[test]
fn command_runs_with_no_new_privs_and_without_the_listener() {
    let Some(_env) = privileged_env!() else {
        return;
    };
    let alice = alice();
    let mut command = myopen_run_as(&alice, HELPER, "sh");
    command.args([
        "-c",
        "grep NoNewPrivs /proc/self/status; ls -l /proc/self/fd/ | grep -c seccomp",
    ]);
    let output = run(&mut command);
    assert_eq!(
        text(&output.stdout),
        "NoNewPrivs:\t1\n0\n",
        "setuid programs give COMMAND nothing, and it cannot answer its own opens: {}",
        text(&output.stderr)
    );
}

#[test]
fn opens_the_helper_cannot_do_run_with_the_childs_own_rights() {
    let Some(env) = privileged_env!() else {
        return;
    };
    let (allowed, _) = scene(&env);
    let alice = alice();
    // O_PATH needs no permission on the file itself; the helper does not take O_PATH at all.
    let mut command = myopen_run_as(&alice, HELPER, "/usr/bin/python3");
    command
        .args([
            "-c",
            "import os, sys; os.open(sys.argv[1], os.O_PATH); print('ok')",
        ])
        .arg(&allowed);
    let output = run(&mut command);
    assert_eq!(text(&output.stdout), "ok\n", "{}", text(&output.stderr));
}

#[test]
fn a_helper_without_privilege_is_named_once_and_the_program_keeps_its_own_error() {
    let Some(env) = privileged_env!() else {
        return;
    };
    let (allowed, denied) = scene(&env);
    let alice = alice();
    let mut command = myopen_run_as(&alice, Install::Plain, "cat");
    command.arg(&allowed).arg(&denied).env("LC_ALL", "C");
    let output = run(&mut command);
    let stderr = text(&output.stderr);
    let said: Vec<&str> = stderr.lines().collect();
    assert_eq!(said.len(), 3, "{stderr}");
    assert!(
        said[0].starts_with("myopen-run: ")
            && said[0].contains(&format!(
                "(helper {} is not installed setuid root or with file capabilities)",
                Install::Plain.helper().display()
            )),
        "{stderr}"
    );
    assert_eq!(
        said[1],
        format!("cat: {}: Permission denied", allowed.display())
    );
    assert_eq!(
        said[2],
        format!("cat: {}: Permission denied", denied.display())
    );
    assert_eq!(output.status.code(), Some(1));
}
