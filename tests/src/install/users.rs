//! Users made for the tests, and running programs as them.

use super::*;

/// A user made for the tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestUser {
    /// Login name.
    pub name: &'static str,
    /// Numeric uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
}

pub(crate) fn command_succeeds(program: &str, args: &[&str]) -> bool {
    run(Command::new(program).args(args)).status.success()
}

pub(crate) fn ensure_group(name: &str) {
    if nix::unistd::Group::from_name(name).ok().flatten().is_none() {
        let output = run(Command::new("groupadd").args(["--system", name]));
        assert!(
            output.status.success() || nix::unistd::Group::from_name(name).ok().flatten().is_some(),
            "groupadd {name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

pub(crate) fn ensure_user(name: &str, groups: &[&str]) {
    if nix::unistd::User::from_name(name).ok().flatten().is_none() {
        let mut command = Command::new("useradd");
        command.args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "--user-group",
        ]);
        if !groups.is_empty() {
            command.arg("--groups").arg(groups.join(","));
        }
        let output = run(command.arg(name));
        assert!(
            output.status.success(),
            "useradd {name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    for group in groups {
        let members = nix::unistd::Group::from_name(group)
            .ok()
            .flatten()
            .map(|group| group.mem)
            .unwrap_or_default();
        if !members.iter().any(|member| member == name) {
            assert!(
                command_succeeds("usermod", &["--append", "--groups", group, name]),
                "usermod -aG {group} {name}"
            );
        }
    }
}

/// Creates the test group and users when missing (once per process).
pub fn ensure_test_users() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        ensure_group(READERS);
        ensure_user(ALICE, &[READERS]);
        ensure_user(BOB, &[]);
    });
}

pub(crate) fn test_user(name: &'static str) -> TestUser {
    ensure_test_users();
    let user = nix::unistd::User::from_name(name)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("test user {name} is missing"));
    TestUser {
        name,
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
    }
}

/// `myopen-alice`, member of `myopen-readers`.
pub fn alice() -> TestUser {
    test_user(ALICE)
}

/// `myopen-bob`, no extra groups.
pub fn bob() -> TestUser {
    test_user(BOB)
}

/// The gid of `myopen-readers`.
pub fn readers_gid() -> u32 {
    ensure_test_users();
    nix::unistd::Group::from_name(READERS)
        .ok()
        .flatten()
        .expect("group myopen-readers")
        .gid
        .as_raw()
}

/// A command that runs `program` as `user` (real and effective ids, the user's groups).
pub fn command_as(user: &TestUser, program: impl AsRef<OsStr>) -> Command {
    // Absolute: a test may give the command an environment whose PATH finds nothing.
    let mut command = Command::new("/usr/bin/setpriv");
    command
        .arg(format!("--reuid={}", user.uid))
        .arg(format!("--regid={}", user.gid))
        .arg("--init-groups")
        .arg("--")
        .arg(program);
    command
}

/// Runs `program args` as `user`, with the harness timeout.
pub fn run_as<I, S>(user: &TestUser, program: impl AsRef<OsStr>, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run(command_as(user, program).args(args))
}
