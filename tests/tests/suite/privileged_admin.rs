//! The administrator's commands on a privileged install disclose nothing a user may not read:
//! `--check` and `--explain` read the policy with the caller's own rights, and `--explain` for
//! another user needs root. `--check FILE` reads FILE as the installed policy is read.

use std::ffi::OsStr;
use std::process::Command;
use std::time::Duration;

use myopen_tests::install::{
    ALICE, BOB, Install, Outcome, POLICY, alice, allow_rule, bob, chmod, denied, helper_says,
    probe, probe_output, run_as, run_limited, users,
};
use myopen_tests::privileged_env;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_does_not_read_a_policy_the_caller_may_not_read() {
    let Some(env) = privileged_env!() else { return };
    env.write_policy(&allow_rule(
        env.path("hidden-rule-marker/*"),
        &users(&[ALICE, "no-such-user-x"]),
        &["read"],
        &[],
    ));
    chmod(POLICY, 0o600);
    for install in Install::PRIVILEGED {
        let output = run_as(&alice(), install.helper(), ["--check"]);
        let shown = format!("{}{}", text(&output.stdout), text(&output.stderr));
        assert!(!output.status.success(), "{install:?}: {shown}");
        assert!(shown.contains("Permission denied"), "{install:?}: {shown}");
        assert!(
            !shown.contains("no-such-user-x"),
            "{install:?}: the policy's contents leaked: {shown}"
        );
        assert!(
            !shown.contains("hidden-rule-marker"),
            "{install:?}: the policy's contents leaked: {shown}"
        );
    }
    // Root checks it, and sees the warning about the unknown user.
    let output = std::process::Command::new(Install::Setuid.helper())
        .arg("--check")
        .output()
        .unwrap();
    assert!(
        text(&output.stdout).contains("no-such-user-x"),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn explaining_for_another_user_needs_root() {
    let Some(env) = privileged_env!() else { return };
    let file = env.file("d/f", b"x", 0o600, None);
    env.write_policy(&allow_rule(env.path("d/*"), &users(&[BOB]), &["read"], &[]));
    for install in Install::PRIVILEGED {
        let output = run_as(
            &alice(),
            install.helper(),
            [
                std::ffi::OsStr::new("--explain"),
                "--user".as_ref(),
                BOB.as_ref(),
                file.as_os_str(),
            ],
        );
        assert!(!output.status.success(), "{install:?}");
        assert!(
            text(&output.stderr).contains("requires root"),
            "{install:?}: {}",
            text(&output.stderr)
        );
    }
    let output = std::process::Command::new(Install::Setuid.helper())
        .args(["--explain", "--user", BOB])
        .arg(&file)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("decision: allow"),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn a_broken_policy_is_not_quoted_to_the_caller() {
    let Some(env) = privileged_env!() else { return };
    let file = env.file("d/f", b"x", 0o600, None);
    // An unknown key whose name only root may read: the parser quotes it in its message.
    let policy = format!(
        "{}secret-token-4711 = \"x\"\n",
        allow_rule(env.path("d/*"), &users(&[ALICE]), &["read"], &[])
    );
    env.write_policy(&policy);
    chmod(POLICY, 0o600);
    let _ = env.audit_lines();
    for install in Install::PRIVILEGED {
        let output = probe_output(&alice(), install, &file, libc::O_RDONLY, None);
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains("errno 13"),
            "{install:?}: fails closed: {stderr}"
        );
        assert!(
            stderr.contains(POLICY) && stderr.contains("does not parse"),
            "{install:?}: {stderr}"
        );
        assert!(
            !stderr.contains("secret-token-4711"),
            "{install:?}: policy text shown to the caller: {stderr}"
        );
    }
    let lines = env.audit_lines();
    assert!(
        lines
            .iter()
            .any(|line| line.contains("policy unusable") && line.contains("decision=denied")),
        "the audit log keeps the refusal and its cause: {lines:?}"
    );
}

#[test]
fn a_policy_only_root_may_read_still_governs_requests() {
    let Some(env) = privileged_env!() else { return };
    let file = env.file("d/f", b"served\n", 0o600, None);
    let other = env.file("e/f", b"not served\n", 0o600, None);
    env.allow_reading("d/*", &[ALICE]);
    chmod(POLICY, 0o600);
    for install in Install::PRIVILEGED {
        let served = probe_output(&alice(), install, &file, libc::O_RDONLY, None);
        assert_eq!(
            text(&served.stdout),
            "served\n",
            "{install:?}: {}",
            text(&served.stderr)
        );
        let refused = probe_output(&alice(), install, &other, libc::O_RDONLY, None);
        assert!(
            text(&refused.stderr).starts_with("errno 13"),
            "{install:?}: {}",
            text(&refused.stderr)
        );
    }
}

#[test]
fn explain_shows_no_text_of_a_policy_the_caller_may_not_read() {
    let Some(env) = privileged_env!() else { return };
    let file = env.file("d-1/f", b"x", 0o644, None);
    // Only the drop-in's text holds this glob (the path asked about has no `*`), so it can reach
    // the output only from the policy.
    let glob = env.path("d-*/f").display().to_string();
    let deciding_rule = allow_rule(&glob, &users(&[ALICE]), &["read"], &[]);
    // An unknown key whose name the parser quotes in its message.
    let broken = format!("{deciding_rule}secret-token-4711 = \"x\"\n");
    let explain = [OsStr::new("--explain"), file.as_os_str()];
    for (what, policy, secret) in [
        ("the deciding rule", &deciding_rule, glob.as_str()),
        ("a parse error", &broken, "secret-token-4711"),
    ] {
        let dropin = env.write_dropin("50-hidden.toml", policy);
        chmod(&dropin, 0o600);
        for install in Install::PRIVILEGED {
            let output = run_as(&alice(), install.helper(), explain);
            let shown = format!("{}{}", text(&output.stdout), text(&output.stderr));
            assert!(
                !shown.contains(secret),
                "{install:?}, {what}: policy text shown to the caller: {shown}"
            );
            assert!(!output.status.success(), "{install:?}, {what}: {shown}");
            assert!(
                shown.contains(&dropin.display().to_string())
                    && shown.contains("Permission denied"),
                "{install:?}, {what}: names the file the caller may not read: {shown}"
            );
        }
        // Root reads the drop-in and is shown what the caller was not.
        let (_, said) = helper_says([
            OsStr::new("--explain"),
            "--user".as_ref(),
            ALICE.as_ref(),
            file.as_os_str(),
        ]);
        assert!(said.contains(secret), "root, {what}: {said}");
        // So is a caller the policy is readable to.
        chmod(&dropin, 0o644);
        let output = run_as(&alice(), Install::Setuid.helper(), explain);
        let shown = format!("{}{}", text(&output.stdout), text(&output.stderr));
        assert!(shown.contains(secret), "readable, {what}: {shown}");
    }
}

#[test]
fn check_of_a_named_file_reads_it_as_the_installed_policy_is_read() {
    let Some(env) = privileged_env!() else { return };
    let good = env.file("p/good.toml", b"# nothing allowed\n", 0o644, None);
    // A comment line of 2 MiB: valid TOML, twice the loader's cap.
    let mut huge = vec![b'#'; 2 << 20];
    huge.push(b'\n');
    let cases = [
        (good.clone(), "policy OK"),
        (
            env.fifo("p/fifo.toml", 0o644, None),
            "is not a regular file",
        ),
        (
            env.file("p/huge.toml", &huge, 0o644, None),
            "larger than the",
        ),
        (
            env.symlink(&good, "p/link.toml", None),
            "is a symbolic link",
        ),
    ];
    for (file, expected) in cases {
        // Well below the harness timeout: a FIFO without a writer would block a plain read for ever.
        let output = run_limited(
            Command::new(Install::Setuid.helper())
                .arg("--check")
                .arg(&file),
            Duration::from_secs(10),
        );
        let Some(output) = output else {
            panic!("--check {} hangs", file.display());
        };
        let said = format!("{}{}", text(&output.stdout), text(&output.stderr));
        assert!(
            said.contains(expected),
            "--check {}: {said}",
            file.display()
        );
        assert_eq!(
            output.status.success(),
            expected == "policy OK",
            "--check {}: {said}",
            file.display()
        );
    }
}

/// `--compile` stores the policy compiled for helpers to read instead of parsing it. Only root
/// may run it, and a compiled policy is used only while every file it came from is unchanged:
/// an edit takes effect at once, compiled again or not.
#[test]
fn only_root_compiles_and_an_edited_policy_is_never_decided_by_its_old_compiled_form() {
    let Some(env) = privileged_env!() else { return };
    let file = env.file("d/f", b"compiled\n", 0o600, None);
    let compiled = std::path::Path::new(myopen_tests::install::POLICY_DIR).join("compiled/policy");
    env.write_policy(&allow_rule(
        env.path("d/*"),
        &users(&[ALICE]),
        &["read"],
        &[],
    ));
    for install in Install::PRIVILEGED {
        let output = run_as(&alice(), install.helper(), ["--compile"]);
        assert!(!output.status.success(), "{install:?}");
        assert!(
            text(&output.stderr).contains("must be run by root"),
            "{install:?}: {}",
            text(&output.stderr)
        );
        assert!(
            !compiled.exists(),
            "{install:?}: a user's --compile wrote it"
        );
    }
    let compile = || {
        let output = Command::new(Install::Setuid.helper())
            .arg("--compile")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
        assert!(
            text(&output.stdout).contains("1 rules from 1 file(s) compiled to"),
            "{}",
            text(&output.stdout)
        );
    };
    let check = || {
        let output = Command::new(Install::Setuid.helper())
            .arg("--check")
            .output()
            .unwrap();
        text(&output.stdout)
    };
    compile();
    assert!(check().contains("is current (1 rules)"), "{}", check());
    for install in Install::SERVED {
        assert_eq!(
            probe(&alice(), install, &file, libc::O_RDONLY),
            Outcome::opened("compiled\n"),
            "{install:?}: granted by the compiled policy"
        );
    }
    // The helpers really decide from it: with the granting rule's pattern damaged in place (the
    // sources untouched, so it is still current), a one-shot helper refuses, and says why. (The
    // daemon's workers keep the policy they read while its files stay unchanged.)
    let intact = std::fs::read(&compiled).unwrap();
    let pattern = env.path("d/*").into_os_string().into_encoded_bytes();
    let at = intact
        .windows(pattern.len())
        .position(|window| window == pattern.as_slice())
        .expect("the rule's pattern is in the compiled policy");
    let mut damaged = intact.clone();
    damaged[at + 1] = b'[';
    std::fs::write(&compiled, &damaged).unwrap();
    for install in Install::PRIVILEGED {
        assert_eq!(
            probe(&alice(), install, &file, libc::O_RDONLY),
            denied(),
            "{install:?}: a damaged rule must refuse"
        );
    }
    let audit = env.audit_lines().join("\n");
    assert!(
        audit.contains("a rule of the compiled policy is damaged"),
        "{audit}"
    );
    compile();

    // The grant moves to bob. The compiled policy still grants alice, and must not be used.
    env.write_policy(&allow_rule(env.path("d/*"), &users(&[BOB]), &["read"], &[]));
    assert!(check().contains("is stale"), "{}", check());
    for install in Install::SERVED {
        assert_eq!(
            probe(&alice(), install, &file, libc::O_RDONLY),
            denied(),
            "{install:?}: decided by the old compiled policy"
        );
        assert!(
            probe(&bob(), install, &file, libc::O_RDONLY).is_opened(),
            "{install:?}"
        );
    }
    compile();
    for install in Install::SERVED {
        assert_eq!(
            probe(&alice(), install, &file, libc::O_RDONLY),
            denied(),
            "{install:?}"
        );
        assert!(
            probe(&bob(), install, &file, libc::O_RDONLY).is_opened(),
            "{install:?}"
        );
    }
}
