//! P6, observed from outside: once started, a setuid-root and a file-capability install are in
//! the same reduced state, as the kernel reports it in /proc: every uid and gid is the caller's,
//! only CAP_DAC_READ_SEARCH and CAP_DAC_OVERRIDE are permitted, nothing is effective,
//! inheritable or ambient, no_new_privs is set and the process is not dumpable.

use myopen_tests::install::{Install, alice, run_as};
use myopen_tests::privileged_env;

/// CAP_DAC_OVERRIDE (bit 1) and CAP_DAC_READ_SEARCH (bit 2).
const TWO_CAPABILITIES: &str = "0000000000000006";
const NONE: &str = "0000000000000000";

fn state_of(install: Install) -> Vec<(String, String)> {
    let output = run_as(&alice(), install.helper(), ["--version"]);
    assert!(
        output.status.success(),
        "{install:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.strip_prefix("process "))
        .filter_map(|line| line.split_once(": "))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

fn field(state: &[(String, String)], key: &str) -> String {
    state
        .iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.clone())
        .unwrap_or_default()
}

#[test]
fn setuid_and_capability_installs_reach_the_same_reduced_state() {
    let Some(_env) = privileged_env!() else {
        return;
    };
    let user = alice();
    let ids = |id: u32| format!("{id} {id} {id} {id}");
    for install in Install::PRIVILEGED {
        let state = state_of(install);
        assert_eq!(
            field(&state, "Uid"),
            ids(user.uid),
            "{install:?}: real, effective, saved, fs uid"
        );
        assert_eq!(field(&state, "Gid"), ids(user.gid), "{install:?}: gids");
        assert_eq!(
            field(&state, "CapPrm"),
            TWO_CAPABILITIES,
            "{install:?}: permitted"
        );
        assert_eq!(
            field(&state, "CapEff"),
            NONE,
            "{install:?}: nothing effective outside an open"
        );
        assert_eq!(field(&state, "CapInh"), NONE, "{install:?}: inheritable");
        assert_eq!(field(&state, "CapAmb"), NONE, "{install:?}: ambient");
        assert_eq!(field(&state, "NoNewPrivs"), "1", "{install:?}");
        assert_eq!(
            field(&state, "Dumpable"),
            "0",
            "{install:?}: no core dump, no ptrace by the caller"
        );
    }
    // The bounding set is not part of this state: it only limits what an exec could gain, and
    // no_new_privs (above) and the fence's allowlist (no execve; privileged_fence) leave an exec
    // nothing to gain. The one-shot helper stopped trimming it (about 40 prctls a start).
}

#[test]
fn the_plain_install_holds_nothing() {
    let Some(_env) = privileged_env!() else {
        return;
    };
    let state = state_of(Install::Plain);
    assert_eq!(field(&state, "CapPrm"), NONE);
    assert_eq!(field(&state, "CapEff"), NONE);
}
