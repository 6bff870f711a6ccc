//! Requests that may hang: run with a limit.

use super::*;

/// Runs `command` in a process group of its own; after `limit` kills the whole group (the helper
/// included) and returns `None`.
pub fn run_limited(command: &mut Command, limit: Duration) -> Option<Output> {
    use std::os::unix::process::CommandExt;
    let description = format!("{command:?}");
    let child = command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("spawning {description}: {error}"));
    wait_or_kill(child, &description, limit, Kill::Group)
}

/// Like [`probe`], but a request still unanswered after `limit` is killed (with its helper) and
/// comes back as `None`.
pub fn probe_within(
    user: &TestUser,
    install: Install,
    path: impl AsRef<OsStr>,
    flags: i32,
    data: Option<&[u8]>,
    limit: Duration,
) -> Option<Outcome> {
    let mut command = probe_command(user, install, path, flags, data);
    run_limited(&mut command, limit).map(|output| outcome(&output))
}

/// Like [`probe_write`], with the caller's umask set to `umask` first.
pub fn probe_with_umask(
    user: &TestUser,
    install: Install,
    umask: u32,
    path: impl AsRef<OsStr>,
    flags: i32,
    data: &[u8],
) -> Outcome {
    let mut command = command_as(user, "/bin/sh");
    command
        .arg("-c")
        .arg(format!("umask {umask:03o} && exec \"$0\" \"$@\""))
        .arg(it_probe())
        .arg(install.probe_target())
        .arg(path.as_ref())
        .arg(flags.to_string())
        .arg(OsStr::from_bytes(data));
    outcome(&run(&mut command))
}
