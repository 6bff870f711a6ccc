//! Resource shortages the caller provokes never widen a grant. After the credential switch the
//! helper's ids are all its caller's, so the caller may lower the helper's soft resource limits
//! at any moment (prlimit). A name lookup that fails for want of a descriptor used to read as "no
//! such group", which switched off a `[[deny]]` naming that group.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use myopen_tests::install::{
    ALICE, Install, READERS, alice, allow_rule, command_as, deny_rule, groups, run_as, users,
};
use myopen_tests::{Scratch, helper_child_of, privileged_env};

/// How long the attack runs against each install: several policy rereads (one a second).
const ATTACK: Duration = Duration::from_secs(6);

/// Rules (each naming a group the system does not have) ahead of the deny.
const LARGE_POLICY_RULES: usize = 400;

/// A little more than the helper's policy age (openfile_helper::service::POLICY_MAX_AGE).
const POLICY_AGE: Duration = Duration::from_millis(1_300);

#[test]
fn lowering_the_helpers_descriptor_limit_never_switches_off_a_group_deny() {
    let Some(env) = privileged_env!() else { return };
    let secret = env.file("logs/secret", b"SECRET", 0o600, None);
    let allowed = env.file("logs/allowed", b"fine", 0o600, None);
    // A large policy, as sites have: its hundreds of name lookups make the stretch of a policy
    // read during which a lowered limit hits a lookup rather than a file open long enough for
    // the attack to land within seconds.
    let mut policy = allow_rule(env.path("logs/*"), &users(&[ALICE]), &["read"], &[]);
    for rule in 0..LARGE_POLICY_RULES {
        policy.push_str(&allow_rule(
            env.path(&format!("elsewhere/{rule}")),
            &groups(&[&format!("myopen-absent-{rule}")]),
            &["read"],
            &[],
        ));
    }
    env.write_policy(&policy);
    // myopen-alice is a member of READERS: this deny is all that keeps her from the secret.
    env.write_dropin("deny.toml", &deny_rule(&secret, &groups(&[READERS])));
    let scratch = Scratch::new();
    let repl = scratch.install(Path::new(env!("CARGO_BIN_EXE_myopen-session-repl")), "repl");

    for install in Install::PRIVILEGED {
        let mut child = command_as(&alice(), &repl)
            .arg(install.helper())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut to_session = child.stdin.take().unwrap();
        let mut answers = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut ask = |path: &Path| {
            writeln!(to_session, "{}", path.display()).unwrap();
            answers.next().unwrap().unwrap()
        };
        assert_eq!(ask(&allowed), "opened", "{install:?}: the session serves");
        assert_eq!(ask(&secret), "errno 13", "{install:?}: the deny holds");

        let helper = helper_child_of(child.id()).expect("the session's helper is running");
        let as_caller = run_as(
            &alice(),
            "prlimit",
            [format!("--pid={helper}"), "--nofile=64:".to_owned()],
        );
        assert!(
            as_caller.status.success(),
            "{install:?}: the caller itself may change its helper's limits: {}",
            String::from_utf8_lossy(&as_caller.stderr)
        );

        // The attacker, as the caller: lower the soft descriptor limit to small values at random
        // moments, against whichever helper currently serves the session.
        let flood = scratch.install(Path::new(env!("CARGO_BIN_EXE_myopen-limit-flood")), "flood");
        let attacker = command_as(&alice(), &flood)
            .arg(child.id().to_string())
            .arg(ATTACK.as_millis().to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();

        let deadline = Instant::now() + ATTACK;
        let mut asked = 0u32;
        while Instant::now() < deadline {
            let answer = ask(&secret);
            asked += 1;
            assert_ne!(
                answer, "opened",
                "{install:?}: request {asked}: a lowered descriptor limit switched off the deny"
            );
        }
        let flooded = attacker.wait_with_output().unwrap();
        let changes: u64 = String::from_utf8_lossy(&flooded.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        assert!(
            changes > 100 && asked > 100,
            "{install:?}: the attack ran ({changes} limit changes, {asked} requests)"
        );

        // With the attack over, the helper raises its limits again at the next policy read: the
        // same session (or its replacement) serves the allowed file and still refuses the secret.
        std::thread::sleep(POLICY_AGE);
        assert_eq!(
            ask(&allowed),
            "opened",
            "{install:?}: serves after the attack"
        );
        assert_eq!(ask(&secret), "errno 13", "{install:?}: and still refuses");

        drop(to_session);
        assert!(child.wait().unwrap().success());
    }
}

/// RLIMIT_DATA values from "too small to start at all" to "plenty", finely enough to land in the
/// narrow band where the dynamic loader still succeeds but Rust's own start-up did not: it
/// allocated an alternate signal stack before `main`, and the panic when that failed ran with
/// every capability effective and honoured the caller's RUST_BACKTRACE.
const DATA_LIMITS: std::ops::RangeInclusive<u64> = 150_000..=600_000;
const DATA_LIMIT_STEP: usize = 4_096;

#[test]
fn a_tiny_data_limit_never_runs_rust_start_up_code_or_a_backtrace_as_root() {
    use std::os::unix::process::ExitStatusExt;

    let Some(_env) = privileged_env!() else {
        return;
    };
    let mut served = 0;
    for limit in DATA_LIMITS.step_by(DATA_LIMIT_STEP) {
        let mut command = command_as(&alice(), "/usr/bin/prlimit");
        command
            .arg(format!("--data={limit}:{limit}"))
            .arg(Install::Setuid.helper())
            .arg("--version")
            .env("RUST_BACKTRACE", "full")
            .env("RUST_LIB_BACKTRACE", "full");
        let output = myopen_tests::install::run_limited(&mut command, Duration::from_secs(10))
            .unwrap_or_else(|| panic!("RLIMIT_DATA {limit}: the helper hung"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("stack backtrace"),
            "RLIMIT_DATA {limit}: Rust code ran a panic or a backtrace before hardening:\n{stderr}"
        );
        // Either it starts and answers, or it could not even allocate its argv and aborted:
        // either way before doing anything with its privilege.
        match output.status.signal() {
            None if output.status.success() => served += 1,
            None => {}
            Some(signal) => assert_eq!(
                signal,
                libc::SIGABRT,
                "RLIMIT_DATA {limit}: died of signal {signal}: {stderr}"
            ),
        }
    }
    assert!(served > 0, "the helper runs under the larger limits");
}
