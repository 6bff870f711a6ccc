//! The kernel fence (issue 12): Landlock drawn from the policy and a seccomp allowlist hold even
//! when the decision code is wrong. The fault-injection build's engine grants every request; with
//! the fence it still opens nothing outside the Landlock roots, and without it the same build
//! does (so these tests prove the fence, not the engine).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use myopen_tests::install::{
    ALICE, BOB, FileState, Install, Outcome, POLICY, alice, allow_rule, audit_field,
    audit_lines_for, clear_fault_switch, command_as, denied, install_fault_helper, outcome, probe,
    probe_helper_output, run_as, set_fault_switch, users,
};
use myopen_tests::privileged_env;
use myopen_tests::{Scratch, landlock_abi};

/// A little more than the helper's policy age (openfile_helper::service::POLICY_MAX_AGE).
const POLICY_AGE: Duration = Duration::from_millis(1_300);

#[test]
fn a_decision_bug_opens_nothing_outside_the_fence() {
    let Some(env) = privileged_env!() else { return };
    assert!(
        landlock_abi() > 0,
        "this test needs a kernel with Landlock (issue 12 says this machine has ABI 7)"
    );
    let helper = install_fault_helper();
    let allowed = env.file("allowed/f", b"allowed\n", 0o600, None);
    let secret = env.secret();
    let closed = env.dir("closed", 0o755, None);
    let existing = env.file("closed/existing", b"root's\n", 0o644, None);
    let created = closed.join("new");
    env.write_policy(&allow_rule(
        env.path("allowed/*"),
        &users(&[ALICE]),
        &["read"],
        &[],
    ));
    set_fault_switch("allow-everything");
    let before = FileState::capture(&existing);
    let request = |path: &Path, flags: i32, data: Option<&[u8]>| {
        outcome(&probe_helper_output(&alice(), &helper, path, flags, data))
    };

    // With the fence: the injected bug grants everything, the kernel still refuses.
    assert_eq!(
        request(&allowed, libc::O_RDONLY, None),
        Outcome::opened("allowed\n"),
        "inside the fence the fault build serves"
    );
    assert_eq!(request(&secret.path, libc::O_RDONLY, None), denied());
    assert_eq!(
        request(Path::new("/etc/shadow"), libc::O_RDONLY, None),
        denied()
    );
    assert_eq!(
        request(&existing, libc::O_WRONLY | libc::O_TRUNC, Some(b"x")),
        denied()
    );
    assert_eq!(
        request(&created, libc::O_WRONLY | libc::O_CREAT, Some(b"x")),
        denied()
    );
    before.assert_unchanged(&existing, "a write outside the fence");
    assert!(!created.exists(), "a file was created outside the fence");
    let lines = env.audit_lines();
    let fenced = audit_lines_for(&lines, &secret.path);
    assert_eq!(
        fenced
            .first()
            .and_then(|line| audit_field(line, "fence"))
            .as_deref(),
        Some(format!("landlock-v{}+seccomp", landlock_abi()).as_str()),
        "the audit line carries the fence: {fenced:?}"
    );

    // Without the fence the same build opens all of it: the fence is what held.
    set_fault_switch("no-fence");
    assert_eq!(
        request(&secret.path, libc::O_RDONLY, None),
        Outcome::opened(&secret.content),
        "without the fence the fault build must open the secret (else this test proves nothing)"
    );
    assert!(
        request(&created, libc::O_WRONLY | libc::O_CREAT, Some(b"x")).is_opened(),
        "without the fence the fault build creates outside the policy"
    );
    let lines = env.audit_lines();
    let unfenced = audit_lines_for(&lines, &secret.path);
    assert_eq!(
        unfenced
            .first()
            .and_then(|line| audit_field(line, "fence"))
            .as_deref(),
        Some("off"),
        "{unfenced:?}"
    );
}

/// A one-shot helper's fence holds only what its one request can need (issue 15): the rules that
/// can match its caller and the syslog socket's directory. With the decision bug that grants
/// everything, alice's one-shot still opens neither a file only bob's rule allows nor the policy
/// nor the user database, which a session's fence holds (it rereads them); without the fence the
/// same build opens all three.
#[test]
fn a_one_shot_fence_holds_only_the_callers_rules() {
    let Some(env) = privileged_env!() else { return };
    assert!(
        landlock_abi() > 0,
        "this test needs a kernel with Landlock (issue 12 says this machine has ABI 7)"
    );
    let helper = install_fault_helper();
    let allowed = env.file("allowed/f", b"allowed\n", 0o600, None);
    let bobs = env.file("bobs/f", b"bob's\n", 0o644, None);
    env.write_policy(&format!(
        "{}{}",
        allow_rule(env.path("allowed/*"), &users(&[ALICE]), &["read"], &[]),
        allow_rule(env.path("bobs/*"), &users(&[BOB]), &["read"], &[]),
    ));
    set_fault_switch("allow-everything");
    let request = |path: &Path| {
        outcome(&probe_helper_output(
            &alice(),
            &helper,
            path,
            libc::O_RDONLY,
            None,
        ))
    };
    let outside = [bobs.as_path(), Path::new(POLICY), Path::new("/etc/passwd")];
    assert_eq!(request(&allowed), Outcome::opened("allowed\n"));
    for path in outside {
        assert_eq!(
            request(path),
            denied(),
            "{}: outside alice's one-shot fence",
            path.display()
        );
    }
    set_fault_switch("no-fence");
    for path in outside {
        assert!(
            request(path).is_opened(),
            "{}: without the fence the fault build opens it (else this test proves nothing)",
            path.display()
        );
    }
}

/// Seccomp refusals the kernel logged for `openfile-helper` (audit type 1326) with `syscall`.
fn logged_refusals(syscall: u32) -> usize {
    let output = myopen_tests::run(std::process::Command::new("dmesg").arg("--raw"));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| {
            line.contains("type=1326")
                && line.contains("comm=\"openfile-helper\"")
                && line.contains(&format!(" syscall={syscall} "))
        })
        .count()
}

#[test]
fn a_stray_execve_in_the_request_loop_fails_and_is_logged() {
    let Some(env) = privileged_env!() else { return };
    let helper = install_fault_helper();
    let allowed = env.file("allowed/f", b"allowed\n", 0o600, None);
    env.allow_reading("allowed/*", &[ALICE]);
    set_fault_switch("execve");
    let execve = libc::SYS_execve as u32;

    let logged_before = logged_refusals(execve);
    let output = probe_helper_output(&alice(), &helper, &allowed, libc::O_RDONLY, None);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("injected execve: errno {}", libc::EPERM)),
        "with the fence the injected execve fails with EPERM: {stderr}"
    );
    assert_eq!(outcome(&output), Outcome::opened("allowed\n"));
    // The kernel's log is asynchronous (kauditd): give it a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while logged_refusals(execve) <= logged_before && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        logged_refusals(execve) > logged_before,
        "the kernel logged the refused execve (SECCOMP_FILTER_FLAG_LOG)"
    );

    // Without the fence the call reaches the kernel, which looks the path up: ENOENT.
    set_fault_switch("no-fence");
    let output = probe_helper_output(&alice(), &helper, &allowed, libc::O_RDONLY, None);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("injected execve: errno {}", libc::ENOENT)),
        "without the fence the execve reached the kernel: {stderr}"
    );
}

#[test]
fn a_running_session_shows_seccomp_and_no_new_privs() {
    let Some(env) = privileged_env!() else { return };
    let file = env.file("d/f", b"x", 0o600, None);
    env.allow_reading("d/*", &[ALICE]);
    for install in Install::PRIVILEGED {
        let mut child = command_as(&alice(), env!("CARGO_BIN_EXE_myopen-session-client"))
            .arg(install.helper())
            .arg(&file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let pid = lines.next().unwrap().unwrap();
        assert_eq!(lines.next().unwrap().unwrap(), "ready", "{install:?}");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        let field = |key: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(key))
                .map(str::trim)
                .map(str::to_owned)
        };
        assert_eq!(field("Seccomp:").as_deref(), Some("2"), "{install:?}");
        assert_eq!(field("NoNewPrivs:").as_deref(), Some("1"), "{install:?}");
    }
}

#[test]
fn without_landlock_everything_still_works_and_version_says_so() {
    let Some(env) = privileged_env!() else { return };
    let helper = install_fault_helper();
    let allowed = env.file("allowed/f", b"allowed\n", 0o600, None);
    let secret = env.secret();
    env.allow_reading("allowed/*", &[ALICE]);

    let version = run_as(&alice(), &helper, ["--version"]);
    let text = String::from_utf8_lossy(&version.stdout);
    assert!(
        text.contains(&format!("fence: landlock ABI {}", landlock_abi())),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "fence root: {} read-file",
            env.path("allowed").display()
        )),
        "{text}"
    );
    assert!(text.contains("fence: seccomp allowlist of"), "{text}");

    set_fault_switch("no-landlock");
    let version = run_as(&alice(), &helper, ["--version"]);
    let text = String::from_utf8_lossy(&version.stdout);
    assert!(version.status.success(), "{text}");
    assert!(text.contains("fence: landlock off"), "{text}");
    assert!(!text.contains("fence root:"), "{text}");
    let request = |path: &Path| outcome(&probe_helper_output(&alice(), &helper, path, 0, None));
    assert_eq!(request(&allowed), Outcome::opened("allowed\n"));
    assert_eq!(request(&secret.path), denied(), "the policy still decides");
    let lines = env.audit_lines();
    let line = audit_lines_for(&lines, &allowed);
    assert_eq!(
        line.first()
            .and_then(|line| audit_field(line, "fence"))
            .as_deref(),
        Some("seccomp"),
        "{line:?}"
    );
    clear_fault_switch("no-landlock");
}

#[test]
fn explain_says_when_a_path_lies_outside_the_fence() {
    let Some(env) = privileged_env!() else { return };
    let allowed = env.file("allowed/f", b"allowed\n", 0o644, None);
    let elsewhere = env.file("elsewhere/g", b"g\n", 0o644, None);
    env.allow_reading("allowed/*", &[ALICE]);
    let explain = |path: &Path| {
        let output = run_as(
            &alice(),
            Install::Setuid.helper(),
            [std::ffi::OsStr::new("--explain"), path.as_os_str()],
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let inside = explain(&allowed);
    assert!(inside.contains("fence: inside"), "{inside}");
    let outside = explain(&elsewhere);
    assert!(
        outside.contains(&format!(
            "fence: outside: no Landlock root grants read-file at {}",
            elsewhere.display()
        )),
        "{outside}"
    );
}

#[test]
fn a_new_rule_outside_the_fence_reaches_new_sessions_not_the_running_one() {
    let Some(env) = privileged_env!() else { return };
    let first = env.file("d/f", b"x", 0o600, None);
    let later = env.file("e/g", b"y", 0o600, None);
    let scratch = Scratch::new();
    let repl = scratch.install(Path::new(env!("CARGO_BIN_EXE_myopen-session-repl")), "repl");
    let start = |install: Install| {
        let mut child = command_as(&alice(), &repl)
            .arg(install.helper())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let to_session = child.stdin.take().unwrap();
        let answers = BufReader::new(child.stdout.take().unwrap()).lines();
        (child, to_session, answers)
    };
    for install in Install::PRIVILEGED {
        env.allow_reading("d/*", &[ALICE]);
        let (mut child, mut to_session, mut answers) = start(install);
        let mut ask = |path: &Path| {
            writeln!(to_session, "{}", path.display()).unwrap();
            answers.next().unwrap().unwrap()
        };
        assert_eq!(ask(&first), "opened", "{install:?}");
        assert_eq!(ask(&later), "errno 13", "{install:?}: not allowed yet");

        env.write_policy(
            &(allow_rule(env.path("d/*"), &users(&[ALICE]), &["read"], &[])
                + &allow_rule(env.path("e/*"), &users(&[ALICE]), &["read"], &[])),
        );
        std::thread::sleep(POLICY_AGE);
        assert_eq!(
            ask(&later),
            "errno 13",
            "{install:?}: the running session keeps the fence it started with"
        );
        assert_eq!(ask(&first), "opened", "{install:?}: and serves inside it");
        assert!(
            probe(&alice(), install, &later, libc::O_RDONLY).is_opened(),
            "{install:?}: a new helper draws its fence from the new policy"
        );
        drop(to_session);
        assert!(child.wait().unwrap().success());

        let (mut child, mut to_session, mut answers) = start(install);
        writeln!(to_session, "{}", later.display()).unwrap();
        assert_eq!(
            answers.next().unwrap().unwrap(),
            "opened",
            "{install:?}: a new session has the new rule"
        );
        drop(to_session);
        assert!(child.wait().unwrap().success());
    }
}
