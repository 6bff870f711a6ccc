//! mycat's default mode against real privileged installs: it escalates only when the caller's
//! own open fails with EACCES or EPERM, and the audit log proves which files went to the helper.

use std::ffi::OsStr;
use std::path::Path;

use myopen_tests::install::{
    ALICE, BOB, Install, PrivilegedEnv, alice, audit_lines_for, bob, mycat_as,
};
use myopen_tests::privileged_env;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs mycat as alice through `install` on `args`; it must succeed and print `expected`.
fn assert_mycat_prints<I, S>(install: Install, args: I, expected: &str)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let output = mycat_as(&alice(), install, args);
    assert!(
        output.status.success(),
        "{install:?}: {}",
        text(&output.stderr)
    );
    assert_eq!(text(&output.stdout), expected, "{install:?}");
}

fn audited(env: &PrivilegedEnv, path: &Path) -> usize {
    let lines = env.audit_lines();
    audit_lines_for(&lines, path).len()
}

#[test]
fn default_mode_escalates_only_for_the_file_the_user_cannot_read() {
    let Some(env) = privileged_env!() else { return };
    let root_only = env.file("d/root-only", b"root only\n", 0o600, None);
    let public = env.file("d/public", b"public\n", 0o644, None);
    env.allow_reading("d/*", &[ALICE]);
    let _ = env.audit_lines();
    for install in Install::PRIVILEGED {
        let files = [&public, &root_only, &public];
        assert_mycat_prints(install, files, "public\nroot only\npublic\n");
        let lines = env.audit_lines();
        assert_eq!(
            audit_lines_for(&lines, &root_only).len(),
            1,
            "{install:?}: one privileged open for the root-only file: {lines:?}"
        );
        assert!(
            audit_lines_for(&lines, &public).is_empty(),
            "{install:?}: the readable file never reached the helper: {lines:?}"
        );
    }
}

#[test]
fn policy_refusal_is_reported_with_policy() {
    let Some(env) = privileged_env!() else { return };
    let root_only = env.file("d/root-only", b"root only\n", 0o600, None);
    env.allow_reading("d/*", &[ALICE]);
    for install in Install::PRIVILEGED {
        let output = mycat_as(&bob(), install, [&root_only]);
        assert_eq!(output.status.code(), Some(1), "{install:?}");
        assert!(output.stdout.is_empty());
        assert_eq!(
            text(&output.stderr),
            format!(
                "mycat: {}: Permission denied (policy)\n",
                root_only.display()
            ),
            "{install:?}: {BOB} is not in the rule"
        );
    }
}

#[test]
fn no_helper_mode_leaves_no_audit_line() {
    let Some(env) = privileged_env!() else { return };
    let root_only = env.file("d/root-only", b"root only\n", 0o600, None);
    env.allow_reading("d/*", &[ALICE]);
    let _ = env.audit_lines();
    let output = mycat_as(
        &alice(),
        Install::Setuid,
        [Path::new("--no-helper"), &root_only],
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr),
        format!("mycat: {}: Permission denied\n", root_only.display())
    );
    assert_eq!(audited(&env, &root_only), 0, "the helper was asked");
}

#[test]
fn always_helper_mode_asks_the_helper_even_for_readable_files() {
    let Some(env) = privileged_env!() else { return };
    let public = env.file("d/public", b"public\n", 0o644, None);
    env.allow_reading("d/*", &[ALICE]);
    let _ = env.audit_lines();
    let args = [Path::new("--always-helper"), &public];
    assert_mycat_prints(Install::Setuid, args, "public\n");
    assert_eq!(
        audited(&env, &public),
        1,
        "the book's behaviour: every file by the helper"
    );
}

/// The pid in `<PRI>openfile-helper[PID]: ...`.
fn helper_pid(line: &str) -> Option<&str> {
    line.split_once("openfile-helper[")?
        .1
        .split_once(']')
        .map(|(pid, _)| pid)
}

#[test]
fn several_files_that_need_the_helper_share_one_helper_process() {
    let Some(env) = privileged_env!() else { return };
    let files: Vec<_> = (0..3)
        .map(|index| {
            env.file(
                &format!("d/root-only-{index}"),
                format!("secret {index}\n").as_bytes(),
                0o600,
                None,
            )
        })
        .collect();
    env.allow_reading("d/*", &[ALICE]);
    let _ = env.audit_lines();
    for install in Install::PRIVILEGED {
        assert_mycat_prints(install, &files, "secret 0\nsecret 1\nsecret 2\n");
        let lines = env.audit_lines();
        let pids: Vec<_> = files
            .iter()
            .map(|file| {
                audit_lines_for(&lines, file)
                    .first()
                    .and_then(|line| helper_pid(line))
                    .map(str::to_owned)
            })
            .collect();
        assert!(
            pids.iter().all(Option::is_some),
            "{install:?}: every file audited: {lines:?}"
        );
        assert!(
            pids.windows(2).all(|pair| pair[0] == pair[1]),
            "{install:?}: one helper served all: {pids:?}"
        );
    }
}
