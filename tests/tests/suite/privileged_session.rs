//! A long-lived session follows the administrator's policy changes: a revocation reaches it
//! within a second, and a policy fixed after breaking serves again, without restarting the
//! session.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use myopen_tests::Scratch;
use myopen_tests::install::{ALICE, Install, alice, command_as};
use myopen_tests::privileged_env;

/// A little more than the helper's policy age (openfile_helper::service::POLICY_MAX_AGE).
const POLICY_AGE: Duration = Duration::from_millis(1_300);

#[test]
fn a_session_follows_policy_changes() {
    let Some(env) = privileged_env!() else { return };
    let file = env.file("d/f", b"x", 0o600, None);
    let scratch = Scratch::new();
    let repl = scratch.install(Path::new(env!("CARGO_BIN_EXE_myopen-session-repl")), "repl");
    for install in Install::PRIVILEGED {
        env.allow_reading("d/*", &[ALICE]);
        let mut child = command_as(&alice(), &repl)
            .arg(install.helper())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut to_session = child.stdin.take().unwrap();
        let mut answers = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut ask = || {
            writeln!(to_session, "{}", file.display()).unwrap();
            answers.next().unwrap().unwrap()
        };

        assert_eq!(ask(), "opened", "{install:?}: granted at first");
        env.write_policy("# everything revoked\n");
        std::thread::sleep(POLICY_AGE);
        assert_eq!(
            ask(),
            "errno 13",
            "{install:?}: the revocation reached the running session"
        );
        env.write_policy("this is = = not toml\n");
        std::thread::sleep(POLICY_AGE);
        assert_eq!(
            ask(),
            "errno 13",
            "{install:?}: a broken policy fails closed"
        );
        env.allow_reading("d/*", &[ALICE]);
        std::thread::sleep(POLICY_AGE);
        assert_eq!(
            ask(),
            "opened",
            "{install:?}: the fixed policy serves again"
        );

        drop(to_session);
        assert!(child.wait().unwrap().success());
    }
}
