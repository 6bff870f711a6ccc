//! Privileged end-to-end tests of failing closed on an unsafe or broken policy (P7) and of the
//! audit log (P8), through real setuid-root and file-capability installs.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use myopen_tests::install::{
    ALICE, BOB, DROPIN_DIR, ETC, IT_ROOT, Install, LOG_SOCKET, Outcome, POLICY, POLICY_DIR,
    PrivilegedEnv, alice, allow_rule, audit_field, audit_lines_for, bob, chmod, chown, daemon_log,
    denied, deny_rule, helper_says, line_of, outcome, probe, probe_output, probe_within,
    probe_write, users,
};
use myopen_tests::privileged_env;

const RD: i32 = libc::O_RDONLY;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------------------------
// P7: fail closed

/// A good policy granting alice `d/file`; checks that it is granted, lets `break_it` spoil the
/// policy location, then checks that every request fails closed: EACCES from both installs, a
/// message naming `culprit` and saying why (one of `why`, case-insensitive), an audit record,
/// and `--check` failing.
fn assert_fails_closed(
    env: &PrivilegedEnv,
    break_it: impl FnOnce(&PrivilegedEnv),
    culprit: &str,
    why: &[&str],
) {
    let file = env.file("d/file", b"allowed\n", 0o600, None);
    env.allow_reading("d/*", &[ALICE]);
    assert_eq!(
        probe(&alice(), Install::Setuid, &file, RD),
        Outcome::opened("allowed\n"),
        "control: the intact policy grants the request"
    );
    let _ = env.audit_lines();

    break_it(env);

    for install in Install::SERVED {
        let output = probe_output(&alice(), install, &file, RD, None);
        assert_eq!(
            outcome(&output),
            denied(),
            "{install:?}: must fail closed ({culprit})"
        );
        // A daemon's worker tells its own log (the journal), not the client.
        let stderr = match install.is_daemon() {
            true => daemon_log(install),
            false => text(&output.stderr),
        };
        assert!(
            stderr.contains(culprit),
            "{install:?}: the helper's message should name {culprit}:\n{stderr}"
        );
        let lower = stderr.to_lowercase();
        assert!(
            why.iter().any(|word| lower.contains(word)),
            "{install:?}: the helper's message should say why (one of {why:?}):\n{stderr}"
        );
    }
    let lines = env.audit_lines();
    let records = audit_lines_for(&lines, &file);
    assert!(
        records.len() >= 2
            && records
                .iter()
                .all(|line| audit_field(line, "decision").as_deref() == Some("denied")),
        "fail-closed refusals are logged too: {lines:#?}"
    );
    let (passed, said) = helper_says(["--check"]);
    assert!(!passed, "--check passed: {said}");
    assert!(
        said.contains(culprit),
        "--check should name {culprit}:\n{said}"
    );
}

/// Adds `more` at the end of the main policy.
fn append_to_policy(env: &PrivilegedEnv, more: &str) {
    let mut text = fs::read_to_string(POLICY).unwrap();
    text.push_str(more);
    env.write_policy(&text);
}

const WRITABLE: &[&str] = &["writable"];
const OWNER: &[&str] = &["owned", "owner"];
const PARSE: &[&str] = &["line", "expected", "invalid", "unknown", "parse", "syntax"];

#[test]
fn policy_writable_by_group_fails_closed() {
    let Some(env) = privileged_env!() else { return };
    assert_fails_closed(&env, |_| chmod(POLICY, 0o664), POLICY, WRITABLE);
}

#[test]
fn policy_writable_by_others_fails_closed() {
    let Some(env) = privileged_env!() else { return };
    assert_fails_closed(&env, |_| chmod(POLICY, 0o646), POLICY, WRITABLE);
}

#[test]
fn policy_owned_by_a_user_fails_closed() {
    let Some(env) = privileged_env!() else { return };
    assert_fails_closed(&env, |_| chown(POLICY, Some(&bob())), POLICY, OWNER);
}

#[test]
fn policy_symlinked_to_a_user_owned_file_fails_closed() {
    let Some(env) = privileged_env!() else { return };
    assert_fails_closed(
        &env,
        |env| {
            // Same rules, but in a file bob owns (and could rewrite at will). Refusing every
            // symlink there is fine as well.
            let text = fs::read_to_string(POLICY).unwrap();
            let bobs = env.file("bob-policy.toml", text.as_bytes(), 0o644, Some(&bob()));
            fs::remove_file(POLICY).unwrap();
            std::os::unix::fs::symlink(&bobs, POLICY).unwrap();
        },
        POLICY,
        &["symbolic link", "symlink", "owned", "owner"],
    );
}

#[test]
fn dropin_owned_by_a_user_fails_closed() {
    let Some(env) = privileged_env!() else { return };
    let dropin = format!("{DROPIN_DIR}/50-bob.toml");
    assert_fails_closed(
        &env,
        |env| {
            let path = env.write_dropin("50-bob.toml", "# harmless so far\n");
            chown(path, Some(&bob()));
        },
        &dropin,
        OWNER,
    );
}

#[test]
fn dropin_writable_by_others_fails_closed() {
    let Some(env) = privileged_env!() else { return };
    let dropin = format!("{DROPIN_DIR}/50-open.toml");
    assert_fails_closed(
        &env,
        |env| {
            let path = env.write_dropin("50-open.toml", "# harmless so far\n");
            chmod(path, 0o666);
        },
        &dropin,
        WRITABLE,
    );
}

#[test]
fn dropin_directory_writable_by_others_fails_closed() {
    let Some(env) = privileged_env!() else { return };
    assert_fails_closed(&env, |_| chmod(DROPIN_DIR, 0o777), DROPIN_DIR, WRITABLE);
}

#[test]
fn policy_directory_owned_by_a_user_fails_closed() {
    let Some(env) = privileged_env!() else { return };
    assert_fails_closed(&env, |_| chown(POLICY_DIR, Some(&bob())), POLICY_DIR, OWNER);
}

#[test]
fn directory_above_writable_by_group_fails_closed() {
    let Some(env) = privileged_env!() else { return };
    assert_fails_closed(&env, |_| chmod(ETC, 0o775), ETC, WRITABLE);
}

#[test]
fn top_directory_writable_by_others_fails_closed() {
    let Some(env) = privileged_env!() else { return };
    assert_fails_closed(&env, |_| chmod(IT_ROOT, 0o757), IT_ROOT, WRITABLE);
}

#[test]
fn sticky_root_owned_directories_above_the_policy_count_as_safe() {
    let Some(env) = privileged_env!() else { return };
    let file = env.file("d/file", b"allowed\n", 0o600, None);
    env.allow_reading("d/*", &[ALICE]);
    // Directories above the policy, like /tmp: others cannot replace the root-owned entries in
    // them. (policy.d itself is another matter: anyone could add a drop-in to a sticky one.)
    chmod(IT_ROOT, 0o1777);
    chmod(ETC, 0o1777);
    for install in Install::SERVED {
        let output = probe_output(&alice(), install, &file, RD, None);
        assert_eq!(
            outcome(&output),
            Outcome::opened("allowed\n"),
            "{install:?}: sticky root-owned directories (like /tmp) are safe: {}",
            text(&output.stderr)
        );
    }
    let (passed, said) = helper_says(["--check"]);
    assert!(passed, "--check: {said}");
}

#[test]
fn policy_syntax_error_fails_closed() {
    let Some(env) = privileged_env!() else { return };
    assert_fails_closed(
        &env,
        |env| append_to_policy(env, "\n[[allow]\npath = \"/x\"\n"),
        POLICY,
        PARSE,
    );
}

#[test]
fn policy_unknown_key_fails_closed() {
    let Some(env) = privileged_env!() else { return };
    assert_fails_closed(
        &env,
        |env| {
            append_to_policy(
                env,
                "\n[[allow]]\npath = \"/x/*\"\nusers = [\"*\"]\nacces = [\"read\"]\n",
            )
        },
        POLICY,
        PARSE,
    );
}

#[test]
fn dropin_syntax_error_fails_closed() {
    let Some(env) = privileged_env!() else { return };
    let dropin = format!("{DROPIN_DIR}/60-broken.toml");
    assert_fails_closed(
        &env,
        |env| {
            env.write_dropin(
                "60-broken.toml",
                "[[deny]]\npath = \"/x/**\"\n\n[[allow]]\npath = \"/y/*\"\nusers = [\"*\"]\naccess = [\"reed\"]\n",
            );
        },
        &dropin,
        PARSE,
    );
}

#[test]
fn check_names_file_and_line_of_a_syntax_error() {
    let Some(env) = privileged_env!() else { return };
    let policy = "# comment\n[[allow]]\npath = \"/x/*\"\nusers = [\"*\"]\naccess = [\"read\"\n";
    env.write_policy(policy);
    let (passed, said) = helper_says(["--check"]);
    assert!(!passed, "{said}");
    assert!(
        said.contains(&format!("{POLICY}:5")) || said.contains(&format!("{POLICY}:6")),
        "--check should point at the unterminated array (line 5, or the end at 6):\n{said}"
    );
}

// ---------------------------------------------------------------------------------------------
// P8: the audit log

/// Splits `<PRI>[Mmm dd hh:mm:ss ]openfile-helper[PID]: fields` into PRI, the timestamp if
/// any, and the fields; panics with the line when it is not of that form.
fn syslog_parts(line: &str) -> (u32, Option<&str>, &str) {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let rest = line
        .strip_prefix('<')
        .unwrap_or_else(|| panic!("no <PRI>: {line:?}"));
    let (pri, rest) = rest
        .split_once('>')
        .unwrap_or_else(|| panic!("no <PRI>: {line:?}"));
    let pri: u32 = pri.parse().unwrap_or_else(|_| panic!("PRI: {line:?}"));
    let (stamp, rest) = match rest.find("openfile-helper[") {
        Some(0) => (None, rest),
        Some(at) => (Some(&rest[..at]), &rest[at..]),
        None => panic!("no openfile-helper[PID] tag: {line:?}"),
    };
    let rest = &rest["openfile-helper[".len()..];
    let (pid, fields) = rest
        .split_once("]: ")
        .unwrap_or_else(|| panic!("tag: {line:?}"));
    assert!(
        !pid.is_empty() && pid.bytes().all(|byte| byte.is_ascii_digit()),
        "pid in {line:?}"
    );
    (pri, stamp, fields)
}

fn field(line: &str, key: &str) -> String {
    audit_field(line, key).unwrap_or_else(|| panic!("no {key}= in {line:?}"))
}

fn one_line_for<'a>(lines: &'a [String], path: &Path) -> &'a str {
    let records = audit_lines_for(lines, path);
    assert_eq!(
        records.len(),
        1,
        "exactly one audit line for {}: {lines:#?}",
        path.display()
    );
    records[0]
}

#[test]
fn a_grant_is_one_notice_line_with_every_field() {
    let Some(env) = privileged_env!() else { return };
    let file = env.file("d/file", b"x\n", 0o600, None);
    let target = env.file("d/target", b"target\n", 0o600, None);
    let link = env.symlink("target", "d/link", None);
    let policy = format!(
        "# audit\n{}",
        allow_rule(
            env.path("d/*"),
            &users(&[ALICE]),
            &["read", "write", "append"],
            &[]
        )
    );
    env.write_policy(&policy);
    let rule = format!("{POLICY}:{}", line_of(&policy, "[[allow]]"));
    let alice = alice();
    let _ = env.audit_lines();

    for install in Install::SERVED {
        assert!(probe(&alice, install, &file, RD | libc::O_NOFOLLOW).is_opened());
        let lines = env.audit_lines();
        let line = one_line_for(&lines, &file);
        let (pri, _, _) = syslog_parts(line);
        assert_eq!(pri, 10 * 8 + 5, "{install:?}: authpriv.notice: {line}");
        assert_eq!(field(line, "decision"), "granted", "{line}");
        assert_eq!(field(line, "uid"), alice.uid.to_string(), "{line}");
        assert_eq!(field(line, "user"), ALICE, "{line}");
        assert_eq!(field(line, "path"), file.display().to_string(), "{line}");
        assert_eq!(
            field(line, "canonical"),
            file.display().to_string(),
            "{line}"
        );
        let flags = field(line, "flags");
        let words: Vec<&str> = flags.split('|').collect();
        assert!(
            words.contains(&"O_RDONLY") && words.contains(&"O_NOFOLLOW"),
            "{install:?}: flags in words: {line}"
        );
        assert_eq!(field(line, "rule"), rule, "{line}");

        // Through a symlink: the requested and the canonical path differ.
        assert!(probe(&alice, install, &link, RD).is_opened());
        let lines = env.audit_lines();
        let line = one_line_for(&lines, &link);
        assert_eq!(
            field(line, "canonical"),
            target.display().to_string(),
            "{line}"
        );

        // Flags of a write.
        assert!(
            probe_write(
                &alice,
                install,
                &file,
                libc::O_WRONLY | libc::O_APPEND,
                b"y"
            )
            .is_opened()
        );
        let lines = env.audit_lines();
        let line = one_line_for(&lines, &file);
        let flags = field(line, "flags");
        let words: Vec<&str> = flags.split('|').collect();
        assert!(
            words.contains(&"O_WRONLY") && words.contains(&"O_APPEND"),
            "{install:?}: {line}"
        );
    }
}

#[test]
fn a_denial_is_one_warning_line_with_rule_and_reason() {
    let Some(env) = privileged_env!() else { return };
    let private = env.file("d/private", b"x\n", 0o600, None);
    let elsewhere = env.file("elsewhere/file", b"x\n", 0o600, None);
    let readonly = env.file("d/readonly", b"x\n", 0o600, None);
    let policy = format!(
        "{}{}",
        allow_rule(env.path("d/*"), &users(&[ALICE, BOB]), &["read"], &[]),
        deny_rule(env.path("d/private"), ""),
    );
    env.write_policy(&policy);
    let deny = format!("{POLICY}:{}", line_of(&policy, "[[deny]]"));
    let bob = bob();
    let _ = env.audit_lines();
    for install in Install::SERVED {
        for (path, flags, rule) in [
            (&private, RD, Some(deny.as_str())),
            (&elsewhere, RD, Some("none")),
            (&readonly, libc::O_WRONLY, None),
        ] {
            assert_eq!(probe(&bob, install, path, flags), denied());
            let lines = env.audit_lines();
            let line = one_line_for(&lines, path);
            let (pri, _, _) = syslog_parts(line);
            assert_eq!(pri, 10 * 8 + 4, "{install:?}: authpriv.warning: {line}");
            assert_eq!(field(line, "decision"), "denied", "{line}");
            assert_eq!(field(line, "uid"), bob.uid.to_string(), "{line}");
            assert_eq!(field(line, "user"), BOB, "{line}");
            assert!(!field(line, "reason").is_empty(), "{line}");
            assert!(!field(line, "flags").is_empty(), "{line}");
            match rule {
                Some(rule) => assert_eq!(field(line, "rule"), rule, "{install:?}: {line}"),
                None => assert!(!field(line, "rule").is_empty(), "{line}"),
            }
        }
    }
}

#[test]
fn audit_escapes_control_characters_and_cuts_long_paths() {
    let Some(env) = privileged_env!() else { return };
    env.allow_reading("d/**", &[ALICE]);
    env.dir("d", 0o755, None);
    let mut raw = env.path("d").into_os_string().into_vec();
    raw.extend_from_slice(b"/new\nline\x1b[31m\x7f\xe9\"q\\");
    let odd = PathBuf::from(OsStr::from_bytes(&raw));
    fs::write(&odd, b"odd\n").unwrap();
    chmod(&odd, 0o600);
    // A long but valid path: 14 components of 200 bytes.
    let mut long = env.path("d");
    for index in 0..14 {
        long.push(format!("{index:02}{}", "l".repeat(198)));
    }
    fs::create_dir_all(long.parent().unwrap()).unwrap();
    fs::write(&long, b"long\n").unwrap();
    let missing_with_newline = env.path("d/forged\ndecision=granted uid=0");
    let _ = env.audit_lines();

    for install in Install::SERVED {
        assert_eq!(
            probe(&alice(), install, &odd, RD),
            Outcome::opened("odd\n"),
            "{install:?}"
        );
        assert!(
            probe(&alice(), install, &long, RD).is_opened(),
            "{install:?}"
        );
        assert!(!probe(&alice(), install, &missing_with_newline, RD).is_opened());
        let lines = env.audit_lines();
        assert_eq!(
            lines.len(),
            3,
            "{install:?}: one line per request: {lines:#?}"
        );
        for line in &lines {
            let body = line.strip_suffix('\n').unwrap_or(line);
            assert!(
                !body.chars().any(|c| c.is_control()) && !body.contains('\u{fffd}'),
                "{install:?}: raw control or non-UTF-8 bytes in {line:?}"
            );
            syslog_parts(line);
        }
        let forged = one_line_for(&lines, &missing_with_newline);
        assert_eq!(
            field(forged, "decision"),
            "denied",
            "{install:?}: {forged:?}"
        );
        assert_eq!(field(forged, "uid"), alice().uid.to_string(), "{forged:?}");
        let odd_lines: Vec<&String> = lines
            .iter()
            .filter(|line| {
                audit_field(line, "path").is_some_and(|path| path.contains("new\\x0aline"))
            })
            .collect();
        assert_eq!(odd_lines.len(), 1, "{install:?}: {lines:#?}");
        let line = odd_lines[0];
        assert!(
            line.contains("\\x1b") && line.contains("\\x7f"),
            "{install:?}: {line:?}"
        );
        // The quote inside the name is escaped: the quoted value runs on to the `q\\` after it.
        assert!(
            field(line, "path").contains("q\\"),
            "{install:?}: a raw quote ends the path field early: {line:?}"
        );
        let long_text = long.display().to_string();
        let long_line = lines
            .iter()
            .find(|line| line.contains(&long_text[..200]))
            .unwrap_or_else(|| panic!("{install:?}: no line for the long path: {lines:#?}"));
        assert!(
            !long_line.contains(&long_text),
            "{install:?}: the long path was not cut ({} bytes line)",
            long_line.len()
        );
        assert_eq!(field(long_line, "decision"), "granted", "{long_line}");
        assert!(audit_field(long_line, "rule").is_some(), "{long_line}");
    }
}

/// Without a working syslog nothing hangs and nothing is granted unrecorded: a grant is refused
/// (EAGAIN) when its record cannot go out, a denial stays a denial.
#[test]
fn decisions_stand_without_a_working_syslog() {
    let Some(mut env) = privileged_env!() else {
        return;
    };
    let file = env.file("d/file", b"allowed\n", 0o600, None);
    let other = env.file("other/file", b"other\n", 0o600, None);
    env.allow_reading("d/*", &[ALICE]);
    let limit = Duration::from_secs(10);
    // Returns how many grants were served (each must have had its record delivered).
    let check = |what: &str| {
        let mut served = 0;
        for install in Install::SERVED {
            match probe_within(&alice(), install, &file, RD, None, limit) {
                Some(Outcome::Opened(content)) if content == b"allowed\n" => served += 1,
                Some(Outcome::Errno(libc::EAGAIN)) => {}
                other => panic!(
                    "{install:?} {what}: grant refused for want of its record or served (None: hung): {other:?}"
                ),
            }
            assert_eq!(
                probe_within(&alice(), install, &other, RD, None, limit),
                Some(denied()),
                "{install:?} {what}: denial (None: hung)"
            );
        }
        served
    };
    // No socket at all.
    env.stop_audit();
    assert_eq!(check("no log socket"), 0, "granted without a syslog");
    // A socket file nobody listens on (ECONNREFUSED).
    drop(UnixDatagram::bind(LOG_SOCKET).expect("bind"));
    chmod(LOG_SOCKET, 0o666);
    assert_eq!(check("dead log socket"), 0, "granted without a syslog");
    fs::remove_file(LOG_SOCKET).unwrap();
    // A listener that never reads: its queue fills up after a few datagrams.
    let stuck = UnixDatagram::bind(LOG_SOCKET).expect("bind");
    chmod(LOG_SOCKET, 0o666);
    let mut served = 0;
    for round in 0..8 {
        served += check(&format!("stuck log socket, round {round}"));
    }
    stuck.set_nonblocking(true).unwrap();
    let mut buffer = vec![0u8; 65536];
    let mut recorded = 0;
    while let Ok(size) = stuck.recv(&mut buffer) {
        recorded += usize::from(text(&buffer[..size]).contains("decision=granted"));
    }
    assert_eq!(
        recorded, served,
        "every grant served has its record in the queue"
    );
    drop(stuck);
    fs::remove_file(LOG_SOCKET).unwrap();
    // Not a socket at all.
    fs::write(LOG_SOCKET, b"").unwrap();
    assert_eq!(
        check("log socket is a regular file"),
        0,
        "granted without a syslog"
    );
    fs::remove_file(LOG_SOCKET).unwrap();
}
