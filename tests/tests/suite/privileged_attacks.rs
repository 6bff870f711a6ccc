//! Privileged end-to-end attack tests: a local user (`myopen-bob`, sometimes `myopen-alice`) tries
//! to get a root-only secret out of a setuid-root or file-capability helper.
//!
//! Every test plants a secret (`secret/shadow`, root 0600, `TOP-SECRET-<random>`) outside every
//! rule it writes, and checks that no byte of it ever shows up in what the attacker sees.

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use libc::EACCES;
use myopen_tests::install::{
    ALICE, BOB, FileState, Install, Outcome, POLICY, PrivilegedEnv, Secret, TestUser, alice,
    allow_rule, assert_exited_cleanly, bob, command_as, denied, it_probe, mycat_as, outcome, probe,
    probe_output, probe_within, probe_write, raw_request, run_as, users,
};
use myopen_tests::{privileged_env, run};

const RD: i32 = libc::O_RDONLY;
const WR: i32 = libc::O_WRONLY;
const RDWR: i32 = libc::O_RDWR;

/// The common stage: `allowed/benign` (root 0600), `allowed/attacker/` owned by bob, the secret,
/// and a policy that lets alice and bob read `allowed/**`.
struct Stage {
    benign: PathBuf,
    attacker_dir: PathBuf,
    secret: Secret,
}

fn stage(env: &PrivilegedEnv) -> Stage {
    let benign = env.file("allowed/benign", b"benign\n", 0o600, None);
    let attacker_dir = env.dir("allowed/attacker", 0o755, Some(&bob()));
    let secret = env.secret();
    write_stage_policy_and(env, "");
    Stage {
        benign,
        attacker_dir,
        secret,
    }
}

/// Replaces the policy with the stage's rule (alice and bob may read `allowed/**`) followed by
/// `more`.
fn write_stage_policy_and(env: &PrivilegedEnv, more: &str) {
    let stage_rule = allow_rule(
        env.path("allowed/**"),
        &users(&[ALICE, BOB]),
        &["read"],
        &[],
    );
    env.write_policy(&format!("{stage_rule}{more}"));
}

/// `ln -s target link` as `user`, which must succeed.
fn symlink_as(user: &TestUser, target: impl AsRef<OsStr>, link: impl AsRef<OsStr>) {
    let (target, link) = (target.as_ref(), link.as_ref());
    let output = run_as(user, "ln", [OsStr::new("-s"), target, link]);
    assert!(
        output.status.success(),
        "ln -s {target:?} {link:?} as {}: {output:?}",
        user.name
    );
}

/// Requests `path` with `flags` as `user` through both privileged installs; checks that the
/// secret stays out of the output and returns the two outcomes' common value.
fn attempt(secret: &Secret, user: &TestUser, path: impl AsRef<OsStr>, flags: i32) -> Outcome {
    let mut outcomes = Vec::new();
    for install in Install::SERVED {
        let output = probe_output(user, install, path.as_ref(), flags, None);
        secret.assert_not_in_output(&output);
        outcomes.push(outcome(&output));
    }
    assert_eq!(
        outcomes[0],
        outcomes[1],
        "setuid and caps differ for {:?}",
        path.as_ref()
    );
    outcomes.remove(0)
}

// ---------------------------------------------------------------------------------------------
// Symlinks and ..

#[test]
fn symlink_to_the_secret_in_a_user_writable_directory_is_refused() {
    let Some(env) = privileged_env!() else { return };
    let stage = stage(&env);
    let bob = bob();
    // Planted by bob himself, in his own directory under the allow rule.
    let absolute = stage.attacker_dir.join("absolute");
    let relative = stage.attacker_dir.join("relative");
    let chained = stage.attacker_dir.join("chained");
    let good = stage.attacker_dir.join("good");
    for (target, link) in [
        (stage.secret.path.clone(), &absolute),
        (PathBuf::from("../../secret/shadow"), &relative),
        (absolute.clone(), &chained),
        (PathBuf::from("../benign"), &good),
    ] {
        symlink_as(&bob, &target, link);
    }
    for link in [&absolute, &relative, &chained] {
        assert_eq!(
            attempt(&stage.secret, &bob, link, RD),
            denied(),
            "{}",
            link.display()
        );
        assert_eq!(
            attempt(&stage.secret, &bob, link, RD | libc::O_NOFOLLOW),
            Outcome::Errno(libc::ELOOP),
            "{}",
            link.display()
        );
    }
    // A link whose target is itself allowed is served.
    assert_eq!(
        attempt(&stage.secret, &bob, &good, RD),
        Outcome::opened("benign\n")
    );
    let output = mycat_as(&bob, Install::Setuid, [&absolute, &relative, &chained]);
    stage.secret.assert_not_in_output(&output);
    assert_eq!(output.status.code(), Some(1));
    stage.secret.assert_intact();
}

#[test]
fn directory_symlink_to_the_secret_directory_is_refused() {
    let Some(env) = privileged_env!() else { return };
    let stage = stage(&env);
    let bob = bob();
    let dirlink = stage.attacker_dir.join("dir");
    let rootlink = stage.attacker_dir.join("root");
    symlink_as(&bob, stage.secret.dir(), &dirlink);
    symlink_as(&bob, "/", &rootlink);
    let through_root = rootlink.join(stage.secret.path.strip_prefix("/").unwrap());
    for path in [dirlink.join("shadow"), through_root] {
        assert_eq!(
            attempt(&stage.secret, &bob, &path, RD),
            denied(),
            "{}",
            path.display()
        );
    }
    // A directory link into the allowed tree is fine.
    let inside = stage.attacker_dir.join("inside");
    symlink_as(&bob, "..", &inside);
    assert_eq!(
        attempt(&stage.secret, &bob, inside.join("benign"), RD),
        Outcome::opened("benign\n")
    );
}

#[test]
fn dot_dot_escapes_are_refused() {
    let Some(env) = privileged_env!() else { return };
    let stage = stage(&env);
    let data = env.data().display().to_string();
    env.dir("allowed/sub", 0o755, None);
    for path in [
        format!("{data}/allowed/../secret/shadow"),
        format!("{data}/allowed/sub/../../secret/shadow"),
        format!("{data}/allowed/./../secret/shadow"),
        format!("{data}/allowed//..//secret/shadow"),
        format!("{data}/allowed/attacker/../../secret/shadow"),
        format!("{data}/allowed/../allowed/../secret/shadow"),
        format!("{data}/allowed/sub/../../../{}/secret/shadow", env.name()),
    ] {
        for user in [alice(), bob()] {
            assert_eq!(attempt(&stage.secret, &user, &path, RD), denied(), "{path}");
        }
    }
    assert_eq!(
        attempt(&stage.secret, &alice(), &stage.benign, RD),
        Outcome::opened("benign\n")
    );
}

#[test]
fn symlink_flipped_in_a_loop_never_leaks_the_secret() {
    let Some(env) = privileged_env!() else { return };
    let stage = stage(&env);
    env.file("allowed/bdir/shadow", b"benign-dir\n", 0o600, None);
    let bob = bob();
    let link = stage.attacker_dir.join("link");
    let dirlink = stage.attacker_dir.join("dirlink");
    // The final component flips between the benign file and the secret; a directory component
    // flips between a benign directory and the secret's directory.
    let flips: Vec<(PathBuf, [PathBuf; 2])> = vec![
        (
            link.clone(),
            [PathBuf::from("../benign"), stage.secret.path.clone()],
        ),
        (
            dirlink.clone(),
            [PathBuf::from("../bdir"), stage.secret.dir().to_owned()],
        ),
    ];
    let flip_once = |bob: &TestUser, link: &Path, target: &Path| {
        let temporary = link.with_extension("tmp");
        let _ = fs::remove_file(&temporary);
        std::os::unix::fs::symlink(target, &temporary).expect("symlink");
        std::os::unix::fs::lchown(&temporary, Some(bob.uid), Some(bob.gid)).expect("lchown");
        fs::rename(&temporary, link).expect("rename");
    };
    for (link, targets) in &flips {
        flip_once(&bob, link, &targets[0]);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flipped = Arc::new(AtomicUsize::new(0));
    let flipper = {
        let (stop, flipped, bob) = (Arc::clone(&stop), Arc::clone(&flipped), bob.clone());
        std::thread::spawn(move || {
            let mut round = 0usize;
            while !stop.load(Ordering::Relaxed) {
                for (link, targets) in &flips {
                    flip_once(&bob, link, &targets[round % 2]);
                }
                round += 1;
                flipped.store(round, Ordering::Relaxed);
            }
        })
    };

    const ATTEMPTS: usize = 3000;
    const BATCH: usize = 250;
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut attempts, mut served, mut refused) = (0usize, 0usize, 0usize);
    let mut failure = None;
    while attempts < ATTEMPTS && Instant::now() < deadline {
        let install = if (attempts / BATCH).is_multiple_of(2) {
            Install::Setuid
        } else {
            Install::Caps
        };
        let paths: Vec<PathBuf> = (0..BATCH)
            .map(|index| {
                if index % 2 == 0 {
                    link.clone()
                } else {
                    dirlink.join("shadow")
                }
            })
            .collect();
        let output = mycat_as(&bob, install, &paths);
        attempts += BATCH;
        let leaked = std::panic::catch_unwind(|| stage.secret.assert_not_in_output(&output));
        if leaked.is_err() {
            failure = Some(format!(
                "{install:?}: {}",
                String::from_utf8_lossy(&output.stdout)
            ));
            break;
        }
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        served += stdout.matches("benign\n").count() + stdout.matches("benign-dir\n").count();
        refused += String::from_utf8_lossy(&output.stderr)
            .lines()
            .filter(|line| line.ends_with("Permission denied"))
            .count();
        let unexpected: Vec<&str> = stdout
            .lines()
            .filter(|line| *line != "benign" && *line != "benign-dir")
            .collect();
        if !unexpected.is_empty() {
            failure = Some(format!("{install:?}: unexpected output {unexpected:?}"));
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    flipper.join().expect("flipper thread");
    eprintln!(
        "symlink race: {attempts} requests, {served} served, {refused} refused, {} flips",
        flipped.load(Ordering::Relaxed)
    );
    if let Some(failure) = failure {
        panic!("the secret leaked during the race: {failure}");
    }
    assert!(
        attempts >= ATTEMPTS,
        "only {attempts} requests in 60 s: the helper is too slow to race"
    );
    assert!(served > 0, "nothing was ever served: the race never ran");
    stage.secret.assert_intact();
    let lines = env.audit_lines();
    for line in &lines {
        stage.secret.assert_absent("the audit log", line.as_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// Special files

#[test]
fn fifo_planted_under_an_allowed_path_does_not_hang_the_helper() {
    let Some(env) = privileged_env!() else { return };
    let stage = stage(&env);
    let bob = bob();
    let fifo = stage.attacker_dir.join("fifo");
    let output = run_as(
        &bob,
        "mkfifo",
        [OsStr::new("-m"), OsStr::new("0666"), fifo.as_os_str()],
    );
    assert!(output.status.success(), "{output:?}");
    for install in Install::SERVED {
        for user in [bob.clone(), alice()] {
            for flags in [RD, WR, RDWR, RD | libc::O_NONBLOCK] {
                let started = Instant::now();
                let outcome =
                    probe_within(&user, install, &fifo, flags, None, Duration::from_secs(10));
                assert_eq!(
                    outcome,
                    Some(denied()),
                    "{install:?} {} flags {flags:#o}: a FIFO under a files-only rule (None: hung)",
                    user.name
                );
                assert!(started.elapsed() < Duration::from_secs(5));
            }
        }
    }
}

#[test]
fn devices_no_rule_allows_are_never_opened() {
    let Some(env) = privileged_env!() else { return };
    let stage = stage(&env);
    let bob = bob();
    // A device node inside the allowed tree (root made it), and one outside that bob links to.
    let inside = env.device("allowed/devs/null", 'c', 1, 3, 0o666);
    let outside = env.device("secret/console", 'c', 5, 1, 0o600);
    let link = stage.attacker_dir.join("console");
    symlink_as(&bob, &outside, &link);
    let watches = [
        env.watch_opens(inside.parent().unwrap()),
        env.watch_opens(stage.secret.dir()),
    ];
    for path in [&inside, &link] {
        for flags in [RD, WR, RDWR, RD | libc::O_NONBLOCK] {
            assert_eq!(
                attempt(&stage.secret, &bob, path, flags),
                denied(),
                "{} flags {flags:#o}",
                path.display()
            );
        }
    }
    for watch in watches {
        assert_eq!(
            watch.opened(),
            Vec::<std::ffi::OsString>::new(),
            "a device no rule allows was opened"
        );
    }
}

#[test]
fn proc_magic_links_are_refused() {
    let Some(env) = privileged_env!() else { return };
    let stage = stage(&env);
    let bob = bob();
    let secret = stage.secret.path.display().to_string();
    let benign = stage.benign.display().to_string();
    let magic = [
        "/proc/self/fd/0".to_owned(),
        "/proc/self/fd/1".to_owned(),
        "/dev/fd/0".to_owned(),
        "/dev/stdin".to_owned(),
        format!("/proc/self/root{secret}"),
        format!("/proc/thread-self/root{secret}"),
        format!("/proc/1/root{secret}"),
        format!("/proc/{}/root{secret}", std::process::id()),
        format!("/proc/self/root{benign}"),
        "/proc/self/cwd/shadow".to_owned(),
        "/proc/self/environ".to_owned(),
        "/proc/self/mem".to_owned(),
    ];
    let run_from_secret_dir = |user: &TestUser, install: Install, path: &str| {
        // The helper's cwd is the caller's: the secret's directory.
        let mut command = command_as(user, it_probe());
        command
            .current_dir(stage.secret.dir())
            .arg(install.helper())
            .arg(path)
            .arg(RD.to_string());
        let output = run(&mut command);
        stage.secret.assert_not_in_output(&output);
        outcome(&output)
    };
    // No rule mentions /proc: plain refusals.
    for path in &magic {
        for install in Install::PRIVILEGED {
            assert_eq!(
                run_from_secret_dir(&bob, install, path),
                denied(),
                "{install:?} {path}"
            );
        }
    }
    // Even when an (unwise) rule allows everything under /proc, a magic link is never followed to
    // the secret. The object reached must be checked, not the name.
    write_stage_policy_and(
        &env,
        &allow_rule(
            "/proc/**",
            &users(&[BOB]),
            &["read"],
            &["file", "dir", "char", "fifo", "socket"],
        ),
    );
    for path in [
        format!("/proc/self/root{secret}"),
        format!("/proc/thread-self/root{secret}"),
        format!("/proc/1/root{secret}"),
        "/proc/self/cwd/shadow".to_owned(),
    ] {
        for install in Install::PRIVILEGED {
            let outcome = run_from_secret_dir(&bob, install, &path);
            assert!(
                !outcome.is_opened(),
                "{install:?} {path}: a magic link was followed: {outcome:?}"
            );
        }
    }
    // Relative paths from inside the secret's directory get nothing either.
    for install in Install::PRIVILEGED {
        for path in ["shadow", "./shadow", "../secret/shadow"] {
            let outcome = run_from_secret_dir(&bob, install, path);
            assert!(!outcome.is_opened(), "{install:?} {path}: {outcome:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Access without the grant

#[test]
fn refused_write_truncate_and_create_leave_no_trace() {
    let Some(env) = privileged_env!() else { return };
    let stage = stage(&env);
    // World-readable, root-owned: bob may read it; nobody but root may change it.
    let file = env.file("allowed/readonly", b"keep me\n", 0o644, None);
    let state = FileState::capture(&file);
    let absent = env.path("allowed/new-file");
    for install in [Install::Setuid, Install::Caps, Install::Plain] {
        // The plain install has only bob's rights: whatever it answers, nothing may change.
        let expect_denied = |outcome: Outcome, what: String| {
            if install != Install::Plain {
                assert_eq!(outcome, denied(), "{what}");
            }
        };
        for flags in [
            WR,
            RDWR,
            WR | libc::O_APPEND,
            WR | libc::O_TRUNC,
            RD | libc::O_TRUNC,
            RDWR | libc::O_TRUNC,
            WR | libc::O_CREAT,
            RD | libc::O_CREAT,
            WR | libc::O_CREAT | libc::O_TRUNC,
        ] {
            let outcome = probe_write(&bob(), install, &file, flags, b"EVIL");
            expect_denied(outcome, format!("{install:?} flags {flags:#o}"));
            let outcome = probe_write(&bob(), install, &absent, flags | libc::O_CREAT, b"EVIL");
            assert_eq!(outcome, denied(), "{install:?} create, flags {flags:#o}");
            assert!(
                fs::symlink_metadata(&absent).is_err(),
                "{install:?} flags {flags:#o}: a file was created"
            );
        }
    }
    state.assert_unchanged(&file, "refused writes");
    stage.secret.assert_intact();
    // And the secret itself, through a writable-looking name, is untouched as well.
    for flags in [WR | libc::O_TRUNC, RDWR, WR | libc::O_CREAT] {
        assert_eq!(
            attempt(&stage.secret, &bob(), &stage.secret.path, flags),
            denied()
        );
    }
    stage.secret.assert_intact();
}

#[test]
fn hard_links_to_root_files_are_not_served() {
    let Some(env) = privileged_env!() else { return };
    let stage = stage(&env);
    let bob = bob();
    let alice = alice();
    // bob tries to link the secret into his directory himself.
    let planted = stage.attacker_dir.join("hardlink");
    let output = run_as(
        &bob,
        "ln",
        [stage.secret.path.as_os_str(), planted.as_os_str()],
    );
    let protected = fs::read_to_string("/proc/sys/fs/protected_hardlinks")
        .map(|value| value.trim() == "1")
        .unwrap_or(false);
    if protected {
        assert!(
            !output.status.success(),
            "fs.protected_hardlinks=1 should stop bob from linking a root-only file"
        );
    } else {
        assert!(output.status.success(), "{output:?}");
        assert_eq!(attempt(&stage.secret, &bob, &planted, RD), denied());
    }
    // root links it into the allowed tree: a multiply-linked file the caller does not own.
    let by_root = env.path("allowed/linked-by-root");
    fs::hard_link(&stage.secret.path, &by_root).expect("link");
    assert_eq!(fs::metadata(&by_root).unwrap().nlink(), 2);
    for user in [&alice, &bob] {
        assert_eq!(
            attempt(&stage.secret, user, &by_root, RD),
            denied(),
            "{}: a root-owned file with two links",
            user.name
        );
    }
    // A multiply-linked file the caller owns is the caller's business.
    let own = env.file("allowed/alice-own", b"alice's\n", 0o600, Some(&alice));
    fs::hard_link(&own, env.path("allowed/alice-own-2")).expect("link");
    assert_eq!(
        attempt(&stage.secret, &alice, &own, RD),
        Outcome::opened("alice's\n")
    );
    stage.secret.assert_intact();
}

// ---------------------------------------------------------------------------------------------
// The helper's own environment

/// A preload library that leaves a mark when it ever runs in a secure-execution (set-id or
/// capability-raising) process, and one in any process.
fn build_preload_library(env: &PrivilegedEnv, marks: &Path) -> Option<PathBuf> {
    let code = r#"
#include <fcntl.h>
#include <stdio.h>
#include <sys/auxv.h>
#include <unistd.h>
__attribute__((constructor)) static void evil(void) {
    char name[256];
    const char *dir = "MARKS";
    snprintf(name, sizeof name, "%s/%s-%d", dir,
             getauxval(AT_SECURE) ? "secure" : "plain", (int)getpid());
    int fd = open(name, O_WRONLY | O_CREAT, 0666);
    if (fd >= 0) close(fd);
}
"#
    .replace("MARKS", &marks.display().to_string());
    let source = env.file("evil/evil.c", code.as_bytes(), 0o644, None);
    let library = env.path("evil/libevil.so");
    let output = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&library)
        .arg(&source)
        .output();
    match output {
        Ok(output) if output.status.success() => {
            myopen_tests::install::chmod(&library, 0o755);
            Some(library)
        }
        other => {
            myopen_tests::skip(
                &format!("LD_PRELOAD with a real library ({other:?})"),
                "no C compiler",
            );
            None
        }
    }
}

#[test]
fn environment_cannot_change_the_decision() {
    let Some(env) = privileged_env!() else { return };
    let stage = stage(&env);
    let bob = bob();
    // An "evil" sysconfdir whose policy would hand bob the secret.
    env.file(
        "evil/etc/myopen/policy.toml",
        allow_rule(
            stage.secret.dir().join("*"),
            &users(&["*"]),
            &["read", "write"],
            &[],
        )
        .as_bytes(),
        0o644,
        None,
    );
    env.dir("evil/etc/myopen/policy.d", 0o755, None);
    let marks = env.dir("marks", 0o777, None);
    let library = build_preload_library(&env, &marks);
    let evil_etc = env.path("evil/etc").display().to_string();
    let evil_lib = env.path("evil").display().to_string();
    let preload = library.as_ref().map_or_else(
        || "/nonexistent/libevil.so".to_owned(),
        |path| path.display().to_string(),
    );
    let variables: Vec<(&str, String)> = vec![
        ("MYOPEN_SYSCONFDIR", evil_etc.clone()),
        ("SYSCONFDIR", evil_etc),
        ("MYOPEN_SYSLOG_SOCKET", "/dev/null".to_owned()),
        ("LD_PRELOAD", preload),
        ("LD_LIBRARY_PATH", evil_lib.clone()),
        ("LD_AUDIT", "/nonexistent/audit.so".to_owned()),
        ("LANG", "xx_EVIL.UTF-8".to_owned()),
        ("LC_ALL", "xx_EVIL.UTF-8".to_owned()),
        ("LANGUAGE", "xx".to_owned()),
        ("GCONV_PATH", evil_lib.clone()),
        ("NLSPATH", format!("{evil_lib}/%N")),
        ("RUST_BACKTRACE", "full".to_owned()),
        ("RUST_LOG", "trace".to_owned()),
        ("RUST_MIN_STACK", "1".to_owned()),
        ("MALLOC_CHECK_", "3".to_owned()),
        ("TZ", format!("{evil_lib}/zone")),
        ("PATH", evil_lib.clone()),
        ("HOME", evil_lib),
    ];
    let requests = [
        (stage.secret.path.clone(), RD),
        (stage.secret.path.clone(), WR),
        (stage.benign.clone(), RD),
        (stage.benign.clone(), WR),
    ];
    for install in Install::PRIVILEGED {
        for (path, flags) in &requests {
            let clean = probe(&bob, install, path, *flags);
            let mut command = command_as(&bob, it_probe());
            command
                .arg(install.helper())
                .arg(path)
                .arg(flags.to_string());
            for (name, value) in &variables {
                command.env(name, value);
            }
            let output = run(&mut command);
            stage.secret.assert_not_in_output(&output);
            assert_eq!(
                outcome(&output),
                clean,
                "{install:?} {} flags {flags:#o}: the environment changed the decision",
                path.display()
            );
        }
    }
    assert_eq!(
        probe(&bob, Install::Setuid, &stage.benign, RD),
        Outcome::opened("benign\n"),
        "the control request"
    );
    stage.secret.assert_intact();
    if library.is_some() {
        let marks: Vec<String> = fs::read_dir(&marks)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            marks.iter().all(|mark| !mark.starts_with("secure")),
            "LD_PRELOAD ran inside a privileged helper: {marks:?}"
        );
        assert!(
            marks.iter().any(|mark| mark.starts_with("plain")),
            "the preload library never ran even in the unprivileged probe: the test is broken"
        );
    }
}

#[test]
fn closed_standard_descriptors_never_receive_helper_output() {
    let Some(env) = privileged_env!() else { return };
    let stage = stage(&env);
    let writable = env.file("allowed/rw/target", b"target content\n", 0o600, None);
    write_stage_policy_and(
        &env,
        &allow_rule(
            env.path("allowed/rw/*"),
            &users(&[BOB]),
            &["read", "write", "append", "truncate"],
            &[],
        ),
    );
    let policy_before = fs::read(POLICY).unwrap();
    let state = FileState::capture(&writable);
    let bob = bob();
    let preludes = [
        ("0-2 closed", "exec 3<&0 0<&- 1>&- 2>&-", "3"),
        ("1-2 closed", "exec 1>&- 2>&-", "0"),
        ("2 closed", "exec 2>&-", "0"),
    ];
    for install in Install::PRIVILEGED {
        for (what, prelude, socket) in preludes {
            // Granted: the file arrives and the helper wrote nothing into it.
            for flags in [RDWR, WR | libc::O_APPEND] {
                let reply = raw_request(&bob, install, prelude, socket, &writable, flags, &[]);
                assert_exited_cleanly(&reply.exit, "the helper");
                assert_eq!(
                    (reply.status, reply.fd.is_some()),
                    (Some(0), true),
                    "{install:?} {what} flags {flags:#o}: {}",
                    String::from_utf8_lossy(&reply.output)
                );
                if flags & libc::O_ACCMODE == RDWR {
                    let mut content = Vec::new();
                    fs::File::from(reply.fd.unwrap())
                        .read_to_end(&mut content)
                        .unwrap();
                    assert_eq!(content, b"target content\n", "{install:?} {what}");
                }
            }
            // Refused (the helper has something to complain about): still nothing in the file.
            for path in [&stage.secret.path, &writable] {
                let reply = raw_request(
                    &bob,
                    install,
                    prelude,
                    socket,
                    path,
                    WR | libc::O_CREAT,
                    &[],
                );
                assert_exited_cleanly(&reply.exit, "the helper");
                assert_eq!(reply.status, Some(EACCES as u8), "{install:?} {what}");
                assert!(reply.fd.is_none());
                stage.secret.assert_absent("output", &reply.output);
            }
        }
    }
    state.assert_unchanged(&writable, "requests with closed standard descriptors");
    assert_eq!(
        fs::read(POLICY).unwrap(),
        policy_before,
        "the policy was written to"
    );
    stage.secret.assert_intact();
}

#[test]
fn tiny_descriptor_limit_gives_a_clean_answer() {
    let Some(env) = privileged_env!() else { return };
    let stage = stage(&env);
    let bob = bob();
    for install in Install::PRIVILEGED {
        for limit in [3, 4, 5, 6, 8, 16] {
            let prelude = format!("ulimit -n {limit} || exit 99");
            for (path, expected) in [
                (&stage.benign, Some(b"benign\n".as_slice())),
                (&stage.secret.path, None),
            ] {
                let reply = raw_request(&bob, install, &prelude, "0", path, RD, &[]);
                assert_exited_cleanly(&reply.exit, "the helper");
                stage.secret.assert_absent("output", &reply.output);
                assert_ne!(reply.exit.code(), Some(99), "ulimit failed");
                match (reply.status, reply.fd) {
                    (Some(0), Some(fd)) => {
                        let mut content = Vec::new();
                        fs::File::from(fd).read_to_end(&mut content).unwrap();
                        stage.secret.assert_absent("the descriptor", &content);
                        assert_eq!(
                            Some(content.as_slice()),
                            expected,
                            "{install:?} limit {limit}: only the benign file may open"
                        );
                        assert_eq!(reply.exit.code(), Some(0));
                    }
                    (Some(0), None) => {
                        panic!("{install:?} limit {limit}: success without a descriptor")
                    }
                    (Some(errno), None) => {
                        assert_eq!(
                            reply.exit.code(),
                            Some(i32::from(errno)),
                            "{install:?} limit {limit}: exit status = errno"
                        );
                        if expected.is_none() {
                            assert_eq!(i32::from(errno), EACCES, "{install:?} limit {limit}");
                        }
                    }
                    (None, _) => assert_ne!(
                        reply.exit.code(),
                        Some(0),
                        "{install:?} limit {limit}: no answer and exit 0"
                    ),
                    (Some(errno), Some(_)) => {
                        panic!("{install:?} limit {limit}: errno {errno} with a descriptor")
                    }
                }
            }
        }
    }
}

#[test]
fn odd_paths_get_clean_errors() {
    let Some(env) = privileged_env!() else { return };
    let stage = stage(&env);
    let bob = bob();
    let data = env.data().as_os_str().as_bytes().to_vec();
    let with = |suffix: &[u8]| {
        let mut bytes = data.clone();
        bytes.extend_from_slice(suffix);
        PathBuf::from(OsStr::from_bytes(&bytes))
    };
    // Real files with awkward names, inside the allowed tree.
    let newline = with(b"/allowed/new\nline");
    let latin1 = with(b"/allowed/caf\xe9");
    let escape = with(b"/allowed/esc\x1b[31m");
    for (path, content) in [
        (&newline, b"newline\n".as_slice()),
        (&latin1, b"latin1\n"),
        (&escape, b"escape\n"),
    ] {
        fs::write(path, content).unwrap();
        myopen_tests::install::chmod(path, 0o600);
        assert_eq!(
            attempt(&stage.secret, &bob, path, RD),
            Outcome::opened(content),
            "{path:?}"
        );
    }
    // Names that cannot be opened at all: each a plain errno, never a crash or a hang.
    let long_name = with(&[b"/allowed/".as_slice(), &[b'n'; 300]].concat());
    let mut too_long = data.clone();
    too_long.extend_from_slice(b"/allowed/");
    while too_long.len() <= libc::PATH_MAX as usize {
        too_long.extend_from_slice(b"x/");
    }
    too_long.truncate(libc::PATH_MAX as usize + 1);
    let too_long = PathBuf::from(OsStr::from_bytes(&too_long));
    let odd: Vec<PathBuf> = vec![
        long_name,
        too_long,
        PathBuf::from("relative/path"),
        PathBuf::from("/"),
        PathBuf::from("//"),
        with(b"/allowed/"),
        with(b"/allowed/\xff\xfe"),
        with(b"/allowed/missing\n/../../secret/shadow"),
    ];
    for path in &odd {
        let outcome = attempt(&stage.secret, &bob, path, RD);
        assert!(
            matches!(outcome, Outcome::Errno(errno) if errno > 0),
            "{path:?}: {outcome:?}"
        );
    }
    // An empty path.
    for install in Install::SERVED {
        let output = probe_output(&bob, install, "", RD, None);
        assert_exited_cleanly(&output.status, "the probe");
        assert!(!output.status.success(), "an empty path opened something");
    }
}

#[test]
fn trailing_slash_on_a_file_is_enotdir_as_with_open() {
    let Some(env) = privileged_env!() else { return };
    let stage = stage(&env);
    let mut path = stage.benign.into_os_string();
    path.push("/");
    // open("file/") fails with ENOTDIR; the helper must not quietly drop the slash.
    assert_eq!(
        attempt(&stage.secret, &bob(), &path, RD),
        Outcome::Errno(libc::ENOTDIR)
    );
}

#[test]
fn existence_of_files_outside_the_policy_is_not_revealed() {
    let Some(env) = privileged_env!() else { return };
    let stage = stage(&env);
    let bob = bob();
    let secret_dir = stage.secret.dir().to_owned();
    // Outside every rule: existing or not, file or directory, the answer is the same EACCES.
    for path in [
        stage.secret.path.clone(),
        secret_dir.join("no-such-file"),
        secret_dir.clone(),
        secret_dir.join("no-such-dir/file"),
        stage.secret.path.join("below-a-file"),
        PathBuf::from("/no-such-top-level-dir/file"),
    ] {
        for flags in [RD, WR, RD | libc::O_DIRECTORY, WR | libc::O_CREAT] {
            assert_eq!(
                attempt(&stage.secret, &bob, &path, flags),
                denied(),
                "{} flags {flags:#o}",
                path.display()
            );
        }
    }
}

#[test]
fn symlink_to_a_file_allowed_only_to_someone_else_is_refused() {
    let Some(env) = privileged_env!() else { return };
    let stage = stage(&env);
    let alices = env.file("alices/only", b"alice's only\n", 0o600, None);
    write_stage_policy_and(
        &env,
        &allow_rule(env.path("alices/*"), &users(&[ALICE]), &["read"], &[]),
    );
    let bob = bob();
    let link = stage.attacker_dir.join("to-alices");
    symlink_as(&bob, &alices, &link);
    // The object reached is checked against the policy for the caller, not just "some rule".
    assert_eq!(attempt(&stage.secret, &bob, &link, RD), denied());
    assert_eq!(
        attempt(&stage.secret, &alice(), &link, RD),
        Outcome::opened("alice's only\n")
    );
}

#[test]
fn create_through_a_planted_symlink_creates_nothing_outside() {
    let Some(env) = privileged_env!() else { return };
    let stage = stage(&env);
    let bob = bob();
    // bob may create files in his own inbox; he plants links there before asking.
    let inbox = env.dir("allowed/inbox", 0o755, Some(&bob));
    write_stage_policy_and(
        &env,
        &allow_rule(
            env.path("allowed/inbox/*"),
            &users(&[BOB]),
            &["write", "create", "truncate"],
            &[],
        ),
    );
    let outside = stage.secret.dir().join("created-by-root");
    let dangling = inbox.join("dangling");
    let to_secret = inbox.join("to-secret");
    let up = inbox.join("up");
    for (target, link) in [
        (outside.as_os_str(), &dangling),
        (stage.secret.path.as_os_str(), &to_secret),
        (stage.secret.dir().as_os_str(), &up),
    ] {
        symlink_as(&bob, target, link);
    }
    for (path, flags) in [
        (dangling.clone(), WR | libc::O_CREAT),
        (dangling.clone(), WR | libc::O_CREAT | libc::O_EXCL),
        (to_secret.clone(), WR | libc::O_CREAT | libc::O_TRUNC),
        (to_secret.clone(), WR | libc::O_TRUNC),
        (up.join("created-by-root"), WR | libc::O_CREAT),
        (up.join("shadow"), WR | libc::O_CREAT | libc::O_TRUNC),
    ] {
        let outcome = attempt(&stage.secret, &bob, &path, flags);
        assert!(
            matches!(
                outcome,
                Outcome::Errno(libc::EACCES | libc::ELOOP | libc::EEXIST)
            ),
            "{} flags {flags:#o}: {outcome:?}",
            path.display()
        );
        assert!(
            fs::symlink_metadata(&outside).is_err(),
            "{} flags {flags:#o}: a file was created outside the allowed tree",
            path.display()
        );
        stage.secret.assert_intact();
    }
    // The inbox itself works.
    let fine = inbox.join("fine");
    assert_eq!(
        probe_write(&bob, Install::Setuid, &fine, WR | libc::O_CREAT, b"ok"),
        Outcome::opened("")
    );
    assert_eq!(fs::metadata(&fine).unwrap().uid(), bob.uid);
}
