//! A long-lived session follows the administrator's policy changes: a revocation reaches it
//! within a second, and a policy fixed after breaking serves again, without restarting the
//! session.

use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use myopen_tests::Scratch;
use myopen_tests::install::{
    ALICE, DROPIN_DIR, Install, POLICY, POLICY_DIR, PrivilegedEnv, READERS, alice, allow_rule,
    command_as, deny_rule, groups, replace_by_rename, users,
};
use myopen_tests::privileged_env;

/// A root-only file `d/f` for the session to open, and the REPL client installed where the test
/// users can run it (the scratch directory lives as long as the returned `Scratch`).
fn root_only_file_and_repl(env: &PrivilegedEnv) -> (PathBuf, Scratch, PathBuf) {
    let file = env.file("d/f", b"x", 0o600, None);
    let scratch = Scratch::new();
    let repl = scratch.install(Path::new(env!("CARGO_BIN_EXE_myopen-session-repl")), "repl");
    (file, scratch, repl)
}

/// A little more than the helper's policy age (openfile_helper::service::POLICY_MAX_AGE).
const POLICY_AGE: Duration = Duration::from_millis(1_300);

#[test]
fn a_session_follows_policy_changes() {
    let Some(env) = privileged_env!() else { return };
    let (file, _scratch, repl) = root_only_file_and_repl(&env);
    for install in Install::PRIVILEGED {
        env.allow_reading("d/*", &[ALICE]);
        let mut session = Repl::start(&repl, install.helper(), &file);
        let mut ask = || session.ask();

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

        session.finish();
    }
}

/// A little more than the time after a change during which the helper does not trust a file's
/// timestamps to show the next change (openfile_helper::policy's SETTLE_TIME): past it, what the
/// session sees is its comparison of fstat results, not a reread because the stamp is fresh.
const SETTLED: Duration = Duration::from_millis(2_300);

/// Path to the one request each of these tests repeats, and a session as `alice`.
struct Repl {
    child: std::process::Child,
    to_session: std::process::ChildStdin,
    answers: std::io::Lines<BufReader<std::process::ChildStdout>>,
    file: PathBuf,
}

impl Repl {
    fn start(repl: &Path, helper: impl AsRef<OsStr>, file: &Path) -> Repl {
        let mut child = command_as(&alice(), repl)
            .arg(helper.as_ref())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let to_session = child.stdin.take().unwrap();
        let answers = BufReader::new(child.stdout.take().unwrap()).lines();
        Repl {
            child,
            to_session,
            answers,
            file: file.to_owned(),
        }
    }

    fn ask(&mut self) -> String {
        let file = self.file.clone();
        self.ask_about(&file)
    }

    /// The answer to a request for `path` in the same session.
    fn ask_about(&mut self, path: &Path) -> String {
        writeln!(self.to_session, "{}", path.display()).unwrap();
        self.answers.next().unwrap().unwrap()
    }

    /// Asks every 100 ms for `how_long`, each answer `expected`.
    fn keep_asking(&mut self, how_long: Duration, expected: &str, what: &str) {
        let deadline = std::time::Instant::now() + how_long;
        while std::time::Instant::now() < deadline {
            assert_eq!(self.ask(), expected, "{what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn finish(mut self) {
        drop(self.to_session);
        assert!(self.child.wait().unwrap().success());
    }
}

#[test]
fn a_session_reads_an_unchanged_policy_only_once() {
    let Some(env) = privileged_env!() else { return };
    let (file, _scratch, repl) = root_only_file_and_repl(&env);
    for install in Install::PRIVILEGED {
        env.allow_reading("d/*", &[ALICE]);
        let mut session = Repl::start(&repl, install.helper(), &file);
        // The policy was just written: until it has settled the session may read it again.
        session.keep_asking(SETTLED + POLICY_AGE, "opened", "granted while settling");
        let watch = env.watch_opens(POLICY_DIR);
        session.keep_asking(3 * POLICY_AGE, "opened", "granted");
        // Listing policy.d needs it open; reading policy.toml is what must not happen.
        let opened = watch.opened();
        assert!(
            !opened.iter().any(|name| name == "policy.toml"),
            "{install:?}: the session read the policy again although nothing changed: {opened:?}"
        );
        session.finish();
    }
}

#[test]
fn every_kind_of_policy_change_reaches_a_running_session() {
    let Some(env) = privileged_env!() else { return };
    let (file, _scratch, repl) = root_only_file_and_repl(&env);
    let granting = allow_rule(env.path("d/*"), &users(&[ALICE]), &["read"], &[]);
    // The same length, so that only the timestamps (not the size or the inode) tell the change.
    let revoking = granting.replace("/d/*", "/e/*");
    assert_eq!(granting.len(), revoking.len());
    let rewrite_in_place = |text: &str| {
        let mut policy = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(POLICY)
            .unwrap();
        policy.write_all(text.as_bytes()).unwrap();
    };
    let dropin_dir = Path::new(DROPIN_DIR);
    let install = Install::Setuid;
    env.write_policy(&granting);
    let mut session = Repl::start(&repl, install.helper(), &file);
    assert_eq!(session.ask(), "opened", "granted at first");
    let mut before = "opened";
    let mut after = |change: &dyn Fn(), expected: &'static str, what: &str| {
        // Each change lands on a settled policy that the session has read or checked since it
        // settled, so that only the comparison of fstat results can tell the change.
        session.keep_asking(SETTLED + POLICY_AGE, before, "before the change");
        change();
        std::thread::sleep(POLICY_AGE);
        assert_eq!(session.ask(), expected, "{install:?}: {what}");
        before = expected;
    };
    after(
        &|| rewrite_in_place(&revoking),
        "errno 13",
        "a rewrite in place, same size, same inode",
    );
    after(
        &|| rewrite_in_place(&granting),
        "opened",
        "the rewrite undone",
    );
    after(
        &|| {
            env.write_dropin("50-deny.toml", &deny_rule(env.path("d/*"), ""));
        },
        "errno 13",
        "a deny drop-in added",
    );
    after(
        &|| fs::remove_file(dropin_dir.join("50-deny.toml")).unwrap(),
        "opened",
        "the drop-in removed",
    );
    after(
        &|| fs::set_permissions(dropin_dir, fs::Permissions::from_mode(0o775)).unwrap(),
        "errno 13",
        "policy.d made group-writable: fail closed",
    );
    after(
        &|| fs::set_permissions(dropin_dir, fs::Permissions::from_mode(0o755)).unwrap(),
        "opened",
        "policy.d fixed",
    );
    after(
        &|| fs::set_permissions(POLICY, fs::Permissions::from_mode(0o664)).unwrap(),
        "errno 13",
        "policy.toml made group-writable: fail closed",
    );
    session.finish();
}

/// A session rereads its policy under its fence (issue 12). A policy naming a user or a group the
/// system lacks is as usable at a reread as at the first read: those names match nobody in an
/// allow and deny everyone in a deny, as at the start. The musl build's name lookups asked nscd
/// over a new socket for every name missing from /etc/passwd and /etc/group; under the fence that
/// socket failed (EPERM), the reread failed, and the session refused every request until it ended.
#[test]
fn a_session_rereads_a_policy_naming_names_the_system_lacks() {
    let Some(env) = privileged_env!() else { return };
    let (file, _scratch, repl) = root_only_file_and_repl(&env);
    let granting = allow_rule(env.path("d/*"), &users(&[ALICE]), &["read"], &[]);
    let naming_the_absent = format!(
        "{granting}{}{}",
        allow_rule(
            env.path("elsewhere/*"),
            &users(&["myopen-absent-user"]),
            &["read"],
            &[]
        ),
        deny_rule(env.path("e/*"), &groups(&["myopen-absent-group"])),
    );
    for install in Install::PRIVILEGED {
        env.write_policy(&granting);
        let mut session = Repl::start(&repl, install.helper(), &file);
        assert_eq!(session.ask(), "opened", "{install:?}: granted at first");
        env.write_policy(&naming_the_absent);
        std::thread::sleep(POLICY_AGE);
        assert_eq!(
            session.ask(),
            "opened",
            "{install:?}: the reread policy, naming names the system lacks, still grants"
        );
        env.write_dropin(
            "50-deny.toml",
            &deny_rule(env.path("d/*"), &groups(&["myopen-absent-group"])),
        );
        std::thread::sleep(POLICY_AGE);
        assert_eq!(
            session.ask(),
            "errno 13",
            "{install:?}: a deny naming a group the system lacks denies everyone at a reread"
        );
        fs::remove_file(Path::new(DROPIN_DIR).join("50-deny.toml")).unwrap();
        session.finish();
    }
}

/// A session (a helper's, or a `myopend` connection) rereads its policy under its fence, which
/// holds /etc/passwd and /etc/group by the inodes they had when it was drawn. `useradd`, `vipw`
/// or `cp; mv` replace them by rename: the paths then name new inodes the fence does not reach,
/// and a reread's name lookups fail. The session must go on serving through the same `Session`
/// (the library starts a new server, which draws its fence from the new inodes), and a deny must
/// still deny; it refused everything until it ended.
#[test]
fn a_session_serves_on_after_the_name_databases_are_replaced_by_rename() {
    let Some(env) = privileged_env!() else { return };
    let (file, _scratch, repl) = root_only_file_and_repl(&env);
    let denied_file = env.file("d/denied", b"x", 0o600, None);
    // A user's name in the allow, a group's in the deny: a reread looks both up.
    let policy = |note: &str| {
        format!(
            "# {note}\n{}{}",
            allow_rule(env.path("d/*"), &users(&[ALICE]), &["read"], &[]),
            deny_rule(denied_file.clone(), &groups(&[READERS])),
        )
    };
    for install in [Install::Setuid, Install::Caps, Install::Daemon] {
        env.write_policy(&policy("first"));
        let mut session = Repl::start(&repl, install.probe_target(), &file);
        assert_eq!(session.ask(), "opened", "{install:?}: granted at first");
        assert_eq!(
            session.ask_about(&denied_file),
            "errno 13",
            "{install:?}: denied at first"
        );

        replace_by_rename(Path::new("/etc/passwd"));
        env.write_policy(&policy("after /etc/passwd was replaced"));
        std::thread::sleep(POLICY_AGE);
        assert_eq!(
            session.ask(),
            "opened",
            "{install:?}: granted after /etc/passwd was replaced by rename and the policy reread"
        );
        assert_eq!(
            session.ask_about(&denied_file),
            "errno 13",
            "{install:?}: still denied after /etc/passwd was replaced"
        );

        // The deny first this time: the request that meets the replaced file is a refusal, and
        // the new server must refuse it too.
        replace_by_rename(Path::new("/etc/group"));
        replace_by_rename(Path::new("/etc/passwd"));
        env.write_policy(&policy("after /etc/group was replaced"));
        std::thread::sleep(POLICY_AGE);
        assert_eq!(
            session.ask_about(&denied_file),
            "errno 13",
            "{install:?}: still denied after /etc/group and /etc/passwd were replaced"
        );
        assert_eq!(
            session.ask(),
            "opened",
            "{install:?}: granted after /etc/group and /etc/passwd were replaced"
        );
        session.finish();
    }
}
