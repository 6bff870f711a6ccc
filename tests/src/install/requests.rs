//! Requests through the installed helpers and what came back: outcomes, expectations, raw replies.

use super::*;

/// What one request through `myopen-probe` came to.
#[derive(Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Opened; what the probe could read from the descriptor.
    Opened(Vec<u8>),
    /// The helper's errno.
    Errno(i32),
    /// Anything else: the probe's stderr and status.
    Failed(String),
}

impl fmt::Debug for Outcome {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Opened(content) => {
                write!(formatter, "Opened({:?})", String::from_utf8_lossy(content))
            }
            Outcome::Errno(errno) => {
                write!(formatter, "Errno({errno} {})", myopen::strerror(*errno))
            }
            Outcome::Failed(detail) => write!(formatter, "Failed({detail})"),
        }
    }
}

impl Outcome {
    /// `Opened` with this text.
    pub fn opened(content: impl AsRef<[u8]>) -> Outcome {
        Outcome::Opened(content.as_ref().to_vec())
    }

    /// The errno, if the helper reported one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Outcome::Errno(errno) => Some(*errno),
            _ => None,
        }
    }

    /// Whether the descriptor arrived.
    pub fn is_opened(&self) -> bool {
        matches!(self, Outcome::Opened(_))
    }
}

/// Reads a probe run's output as an [`Outcome`].
pub fn outcome(output: &Output) -> Outcome {
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        return Outcome::Opened(output.stdout.clone());
    }
    let errno = stderr
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("errno ")?.trim().parse::<i32>().ok());
    // The library tells a policy refusal or an unprivileged helper apart from a plain errno; the
    // probe prints those as `error: PATH: <strerror> (policy)` / `(helper ... is not installed
    // ...)`. They still carry an errno, which is what the tests compare.
    let errno = errno.or_else(|| {
        let line = stderr
            .lines()
            .rev()
            .find(|line| line.starts_with("error: "))?;
        if !(line.ends_with(" (policy)") || line.contains(" (helper ")) {
            return None;
        }
        (1..=133)
            .filter(|&errno| line.contains(&format!(": {}", myopen::strerror(errno))))
            .max_by_key(|&errno| myopen::strerror(errno).len())
    });
    match (output.status.code(), errno) {
        (Some(1), Some(errno)) => Outcome::Errno(errno),
        _ => Outcome::Failed(format!("{:?}: {stderr}", output.status)),
    }
}

/// The command `myopen-probe <install's helper> path flags [data]`, run as `user`.
pub(crate) fn probe_command(
    user: &TestUser,
    install: Install,
    path: impl AsRef<OsStr>,
    flags: i32,
    data: Option<&[u8]>,
) -> Command {
    probe_helper_command(user, install.probe_target(), path, flags, data)
}

/// Runs `myopen-probe <install's helper> path flags [data]` as `user`; the raw output.
pub fn probe_output(
    user: &TestUser,
    install: Install,
    path: impl AsRef<OsStr>,
    flags: i32,
    data: Option<&[u8]>,
) -> Output {
    run(&mut probe_command(user, install, path, flags, data))
}

/// Requests `path` with `flags` through `install` as `user`.
pub fn probe(user: &TestUser, install: Install, path: impl AsRef<OsStr>, flags: i32) -> Outcome {
    outcome(&probe_output(user, install, path, flags, None))
}

/// Like [`probe`], writing `data` to the descriptor when it arrives.
pub fn probe_write(
    user: &TestUser,
    install: Install,
    path: impl AsRef<OsStr>,
    flags: i32,
    data: &[u8],
) -> Outcome {
    outcome(&probe_output(user, install, path, flags, Some(data)))
}

/// `Errno(EACCES)`: the helper's answer to a request the policy refuses.
pub fn denied() -> Outcome {
    Outcome::Errno(libc::EACCES)
}

/// One request through `myopen-probe` and the outcome every privileged install must give it
/// (see [`expect_outcomes`]).
#[derive(Debug, Clone)]
pub struct Expect<'a> {
    /// Who asks.
    pub user: &'a TestUser,
    /// What for.
    pub path: &'a Path,
    /// The open(2) flags asked for.
    pub flags: i32,
    /// Written to the descriptor when it arrives (as [`probe_write`] does); `None`: read from it
    /// (as [`probe`] does).
    pub data: Option<&'a [u8]>,
    /// The outcome both privileged installs must give.
    pub outcome: Outcome,
    /// Why that outcome, for the failure message (empty: no reason given).
    pub why: &'a str,
}

impl<'a> Expect<'a> {
    /// `user` asks for `path` with `flags` (reading, as [`probe`]) and must get `outcome`.
    pub fn new(
        user: &'a TestUser,
        path: &'a (impl AsRef<Path> + ?Sized),
        flags: i32,
        outcome: Outcome,
    ) -> Expect<'a> {
        Expect {
            user,
            path: path.as_ref(),
            flags,
            data: None,
            outcome,
            why: "",
        }
    }

    /// The same request, writing `data` to the descriptor when it arrives (as [`probe_write`]).
    pub fn writing(self, data: &'a [u8]) -> Expect<'a> {
        Expect {
            data: Some(data),
            ..self
        }
    }

    /// The same request, with `why` its outcome is expected in the failure message.
    pub fn why(self, why: &'a str) -> Expect<'a> {
        Expect { why, ..self }
    }
}

/// For each of [`Install::SERVED`] in turn, makes every request of `cases` in order and
/// fails the test, naming the install, user, path, flags and the case's `why`, at the first
/// outcome that is not the expected one.
#[track_caller]
pub fn expect_outcomes(cases: &[Expect<'_>]) {
    for install in Install::SERVED {
        for case in cases {
            let output = probe_output(case.user, install, case.path, case.flags, case.data);
            let writing = case
                .data
                .map(|data| format!(" writing {:?}", String::from_utf8_lossy(data)))
                .unwrap_or_default();
            let why = if case.why.is_empty() {
                String::new()
            } else {
                format!(": {}", case.why)
            };
            assert_eq!(
                outcome(&output),
                case.outcome,
                "{install:?}: {} asks for {} with flags {:#o}{writing}{why}",
                case.user.name,
                case.path.display(),
                case.flags,
            );
        }
    }
}

/// Runs the test build's helper (the setuid install's) as root with `args`, such as `--check`:
/// whether it succeeded, and what it said (its stdout, then its stderr).
pub fn helper_says<I, S>(args: I) -> (bool, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let output = run(Command::new(Install::Setuid.helper()).args(args));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), said)
}

/// Runs the installed mycat as `user` through `install`'s helper on `files`.
pub fn mycat_as<I, S>(user: &TestUser, install: Install, files: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = command_as(user, it_mycat());
    match install.daemon_socket() {
        Some(socket) => command
            .env(myopen::SOCKET_ENV, socket)
            .env(myopen::HELPER_ENV, install.helper()),
        None => command.arg("--helper").arg(install.helper()),
    };
    command.args(files);
    run(&mut command)
}

/// The reply to a request made by hand (see [`raw_request`]).
#[derive(Debug)]
pub struct RawReply {
    /// The status byte, if one arrived.
    pub status: Option<u8>,
    /// The descriptor, if one arrived.
    pub fd: Option<OwnedFd>,
    /// How the helper (run through `sh`) ended.
    pub exit: ExitStatus,
    /// Whatever reached the shell's stdout and stderr.
    pub output: Vec<u8>,
}

/// Runs the helper of `install` as `user` by hand: `sh -c '<prelude>; exec HELPER SOCK PATH FLAGS'`
/// with one end of a fresh socket pair as the shell's standard input, so the prelude can move it
/// (`exec 3<&0 0<&-` with `socket_arg` 3), close descriptors or set limits first. `env` is
/// added to the environment. Times out like [`run`].
pub fn raw_request(
    user: &TestUser,
    install: Install,
    prelude: &str,
    socket_arg: &str,
    path: impl AsRef<OsStr>,
    flags: i32,
    env: &[(&str, &str)],
) -> RawReply {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .expect("socketpair");
    let script = format!("{prelude}\nexec \"$0\" \"$1\" \"$2\" \"$3\"");
    let mut command = command_as(user, "/bin/sh");
    command
        .arg("-c")
        .arg(script)
        .arg(install.helper())
        .arg(socket_arg)
        .arg(path.as_ref())
        .arg(flags.to_string())
        .envs(env.iter().copied())
        .stdin(Stdio::from(theirs))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let description = format!("{command:?}");
    let child = command
        .spawn()
        .unwrap_or_else(|error| panic!("spawning {description}: {error}"));
    drop(command); // our copy of the helper's end: the helper's exit must read as end-of-file.
    let output = wait_with_timeout(child, &description);
    let mut byte = [0u8; 1];
    let received = myopen::fdpass::recv_with_fds(&ours, &mut byte, 1)
        .unwrap_or_else(|error| panic!("receiving from {description}: {error}"));
    let mut combined = output.stdout;
    combined.extend_from_slice(&output.stderr);
    RawReply {
        status: (received.bytes > 0).then_some(byte[0]),
        fd: received.fds.into_iter().next(),
        exit: output.status,
        output: combined,
    }
}

pub(crate) fn wait_with_timeout(child: Child, description: &str) -> Output {
    wait_or_kill(child, description, RUN_TIMEOUT, Kill::Process)
        .unwrap_or_else(|| panic!("{description} did not finish within {RUN_TIMEOUT:?}; killed"))
}

/// Fails the test unless `status` is an ordinary exit (no signal, no core).
pub fn assert_exited_cleanly(status: &ExitStatus, what: &str) {
    assert!(
        status.signal().is_none() && !status.core_dumped(),
        "{what} died from a signal: {status:?}"
    );
}
