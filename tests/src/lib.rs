//! Shared harness for the end-to-end tests: the real binaries, scratch trees, process checks.
#![deny(unsafe_code)]

pub mod checks;
pub mod install;
pub mod packaging;
#[allow(unsafe_code)]
mod sys;

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub use sys::{
    LibMyopen, accept_connection, c_my_open, exec_with_no_arguments, fork_running, ignore_sigchld,
    landlock_abi, set_env_before_threads, set_soft_file_limit,
};

/// Set to `1` (CI sets it), every skip fails its test instead: where the suite runs as root
/// with every tool installed, a skipped test is a test that did not run.
pub const REQUIRE_ALL_TESTS: &str = "MYOPEN_REQUIRE_ROOT_TESTS";

/// Whether [`REQUIRE_ALL_TESTS`] is in force.
pub fn every_test_required() -> bool {
    std::env::var_os(REQUIRE_ALL_TESTS).is_some_and(|value| value == "1")
}

/// The one way a test (or part of one) says it cannot run here: a loud `SKIPPED (<why>): name`
/// on the process's stderr (the harness captures `eprintln!` and shows it only on failure), or,
/// under [`REQUIRE_ALL_TESTS`], a panic that fails the test.
pub fn skip(name: &str, why: &str) {
    let line = skip_line(every_test_required(), name, why);
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
}

/// What [`skip`] prints; a panic when every test is `required`.
fn skip_line(required: bool, name: &str, why: &str) -> String {
    assert!(
        !required,
        "{name} cannot run here ({why}), and {REQUIRE_ALL_TESTS}=1 says every test must"
    );
    format!("SKIPPED ({why}): {name}\n")
}

/// `Some(())` as root; otherwise [`skip`]s `name` (needs root) and gives `None`.
pub fn root_or_skip(name: &str) -> Option<()> {
    if is_root() {
        Some(())
    } else {
        skip(name, "needs root");
        None
    }
}

/// The book's `mycat` client, compiled from `c/` by build.rs.
pub const UNP_MYCAT: &str = concat!(env!("OUT_DIR"), "/unp_mycat");
/// The book's `openfile` helper, compiled from `c/` by build.rs.
pub const UNP_OPENFILE: &str = concat!(env!("OUT_DIR"), "/unp_openfile");
/// The hostile COMMAND of the myopen-run race test, compiled from `c/` by build.rs.
pub const MYOPEN_RUN_RACE: &str = concat!(env!("OUT_DIR"), "/myopen_run_race");

/// How long any one process run by a test may take before the test kills it and fails.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// A binary built from this workspace (`openfile-helper`, `mycat`), in the target directory that
/// holds the running test. `make test` builds them before the tests run.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps");
    let binary = profile_dir.join(name);
    assert!(
        binary.is_file(),
        "{} is missing: build the workspace binaries first (`cargo build --workspace --bins`; `make test` does it)",
        binary.display()
    );
    binary
}

/// The helper built from this workspace.
pub fn helper_binary() -> PathBuf {
    workspace_binary("openfile-helper")
}

/// Names the mycat the mycat tests run: `MYOPEN_TEST_MYCAT=PATH`, such as the musl-linked static
/// mycat `make install` builds (`target/static/x86_64-unknown-linux-musl/release/mycat`).
pub const TEST_MYCAT: &str = "MYOPEN_TEST_MYCAT";

/// The mycat under test: `$MYOPEN_TEST_MYCAT` when set, else mycat built from this workspace.
pub fn mycat_binary() -> PathBuf {
    match std::env::var_os(TEST_MYCAT) {
        Some(path) if !path.is_empty() => {
            let binary = PathBuf::from(path);
            assert!(
                binary.is_file(),
                "{TEST_MYCAT}={} is not a file",
                binary.display()
            );
            binary
        }
        _ => dynamic_mycat_binary(),
    }
}

/// mycat as cargo builds it for the tests, linked dynamically: the copy-path tests put an
/// LD_PRELOAD shim between it and the C library, which a static mycat would never load.
pub fn dynamic_mycat_binary() -> PathBuf {
    workspace_binary("mycat")
}

/// Whether the tests run as root (as in CI).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Descriptors open in this process right now.
pub fn open_fd_count() -> usize {
    fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Children of this process that have exited and not been reaped.
pub fn zombie_children() -> Vec<u32> {
    let me = std::process::id().to_string();
    let mut zombies = Vec::new();
    for entry in fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let mut fields = rest.split(' ');
        let (state, parent) = (fields.next(), fields.next());
        if state == Some("Z") && parent == Some(me.as_str()) {
            zombies.extend(
                entry
                    .file_name()
                    .to_str()
                    .and_then(|pid| pid.parse::<u32>().ok()),
            );
        }
    }
    zombies
}

/// Runs `command` with piped output, killing it and failing the test after `RUN_TIMEOUT`.
pub fn run(command: &mut Command) -> Output {
    run_with_input(command, b"")
}

/// Like [`run`], feeding `input` to the command's standard input.
pub fn run_with_input(command: &mut Command, input: &[u8]) -> Output {
    let description = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("spawning {description}: {error}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&input);
    });
    let output = wait_or_kill(child, &description, RUN_TIMEOUT, Kill::Process);
    let _ = feeder.join();
    output.unwrap_or_else(|| panic!("{description} did not finish within {RUN_TIMEOUT:?}; killed"))
}

/// What [`wait_or_kill`] sends SIGKILL to when the time is up.
pub(crate) enum Kill {
    /// The child alone.
    Process,
    /// The child's process group (the child must lead one); the kill is then waited for, up to
    /// 5 s, so that nothing of the group is left running.
    Group,
}

/// Waits for `child` (`description` names it in messages) and its output for up to `limit`;
/// `None` when it did not finish by then, after a SIGKILL as `kill` says.
pub(crate) fn wait_or_kill(
    child: Child,
    description: &str,
    limit: Duration,
    kill: Kill,
) -> Option<Output> {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    match receiver.recv_timeout(limit) {
        Ok(output) => {
            Some(output.unwrap_or_else(|error| panic!("waiting for {description}: {error}")))
        }
        Err(_) => {
            let signal = nix::sys::signal::Signal::SIGKILL;
            match kill {
                Kill::Process => {
                    let _ = nix::sys::signal::kill(pid, signal);
                }
                Kill::Group => {
                    let _ = nix::sys::signal::killpg(pid, signal);
                    let _ = receiver.recv_timeout(Duration::from_secs(5));
                }
            }
            None
        }
    }
}

/// A scratch directory under /tmp that every user may enter, removed on drop.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    /// A new, empty, world-searchable directory.
    pub fn new() -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix("myopen-test-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod scratch");
        Scratch { dir }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `name` with `content` and permission `mode`; returns its path.
    pub fn file(&self, name: &str, content: &[u8], mode: u32) -> PathBuf {
        let path = self.dir.path().join(name);
        fs::write(&path, content).expect("write scratch file");
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod scratch file");
        path
    }

    /// Copies `binary` in as `name`, executable by everyone; returns its path.
    pub fn install(&self, binary: &Path, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        install_executable(binary, &path);
        path
    }

    /// Writes an executable `/bin/sh` script `name` with `body`; returns its path.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        let source = self.file(
            &format!("{name}.source"),
            format!("#!/bin/sh\n{body}\n").as_bytes(),
            0o644,
        );
        self.install(&source, name)
    }
}

/// Copies an executable with install(1), so that no descriptor open for writing on it ever exists
/// in this process: another test thread forking at that moment would carry it into its child,
/// and exec of the file would fail with ETXTBSY.
fn install_executable(source: &Path, destination: &Path) {
    let status = Command::new("install")
        .args(["-m", "0755"])
        .arg(source)
        .arg(destination)
        .status()
        .expect("run install(1)");
    assert!(
        status.success(),
        "install {} {}",
        source.display(),
        destination.display()
    );
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch::new()
    }
}

/// The uid and gid of `nobody`, which tests run unprivileged clients as when they are root.
pub const NOBODY: u32 = 65534;

/// `command` prefixed so it runs as `nobody` with no groups (setpriv); as is when not root.
pub fn as_unprivileged(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("setpriv");
        command.args([
            format!("--reuid={NOBODY}"),
            format!("--regid={NOBODY}"),
            "--clear-groups".to_owned(),
            "--".to_owned(),
        ]);
        command.arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// Reads everything from `fd`.
pub fn read_all(fd: std::os::fd::OwnedFd) -> Vec<u8> {
    let mut content = Vec::new();
    fs::File::from(fd)
        .read_to_end(&mut content)
        .expect("read passed descriptor");
    content
}

/// `len` bytes that show any reordering, loss or repetition in a copy (xorshift: no period
/// within many GiB).
pub fn pattern(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut bytes = Vec::with_capacity(len);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// A socket to use as a child's standard output, and a thread collecting what arrives on it.
pub fn socket_sink() -> (
    std::os::fd::OwnedFd,
    std::thread::JoinHandle<std::io::Result<Vec<u8>>>,
) {
    let (mut ours, theirs) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    let reader = std::thread::spawn(move || {
        let mut received = Vec::new();
        ours.read_to_end(&mut received).map(|_| received)
    });
    (std::os::fd::OwnedFd::from(theirs), reader)
}

/// Copies everything readable from `fd` to standard output (the probes' success path).
pub fn copy_to_stdout(fd: std::os::fd::OwnedFd) {
    use std::io::Write;
    let mut content = Vec::new();
    let _ = fs::File::from(fd).read_to_end(&mut content);
    let _ = std::io::stdout().write_all(&content);
}

/// The pid of the `openfile-helper` child of process `parent`, if it has one.
pub fn helper_child_of(parent: u32) -> Option<u32> {
    fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let stat = fs::read_to_string(entry.path().join("stat")).ok()?;
        // pid (comm) state ppid ...: comm may hold spaces, so split after its closing paren.
        let (comm, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
        let ppid: u32 = rest.split_whitespace().nth(1)?.parse().ok()?;
        (ppid == parent && comm == "openfile-helper").then_some(pid)
    })
}

/// A session spoken by hand: the program `command` runs (the helper in session mode, through
/// whatever wrapper the test wants) with one end of a socket pair of `kind` as its standard
/// input, and the test at the other end.
pub struct RawSession {
    socket: std::os::fd::OwnedFd,
    child: Child,
}

impl RawSession {
    /// Spawns `command` (which must serve the session on its standard input). Receiving from it
    /// fails after [`RUN_TIMEOUT`] instead of hanging the test.
    pub fn spawn(mut command: Command, kind: nix::sys::socket::SockType) -> RawSession {
        use nix::sys::socket::{AddressFamily, SockFlag, setsockopt, socketpair, sockopt};
        let (ours, theirs) = socketpair(AddressFamily::Unix, kind, None, SockFlag::SOCK_CLOEXEC)
            .expect("socketpair");
        let timeout = nix::sys::time::TimeVal::new(RUN_TIMEOUT.as_secs() as _, 0);
        setsockopt(&ours, sockopt::ReceiveTimeout, &timeout).expect("SO_RCVTIMEO");
        let child = command
            .stdin(Stdio::from(theirs))
            .spawn()
            .unwrap_or_else(|error| panic!("spawning {command:?}: {error}"));
        // Our copy of the helper's end: its exit must read as end-of-file.
        drop(command);
        RawSession {
            socket: ours,
            child,
        }
    }

    /// The pid of the process spawned (the helper itself when the wrappers exec it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Receives the helper's hello.
    pub fn hello(&self) -> myopen::wire::session::Hello {
        self.hello_or_end()
            .expect("the helper ended its session before its hello")
    }

    /// Receives the helper's hello; `None` if the helper ended the session without one (it
    /// refused to serve at all).
    pub fn hello_or_end(&self) -> Option<myopen::wire::session::Hello> {
        let mut buffer = [0u8; 16];
        let received =
            myopen::fdpass::recv_with_fds(&self.socket, &mut buffer, 0).expect("receive a hello");
        if received.bytes == 0 {
            return None;
        }
        Some(
            myopen::wire::session::Hello::decode(&buffer[..received.bytes])
                .unwrap_or_else(|| panic!("not a hello: {:?}", &buffer[..received.bytes])),
        )
    }

    /// Sends `packet` and returns the reply and the descriptors that came with it.
    pub fn ask(&self, packet: &[u8]) -> (Vec<u8>, Vec<std::os::fd::OwnedFd>) {
        myopen::fdpass::send_with_fds(&self.socket, packet, &[]).expect("send a request");
        let mut buffer = [0u8; 16];
        let received =
            myopen::fdpass::recv_with_fds(&self.socket, &mut buffer, 1).expect("receive a reply");
        (buffer[..received.bytes].to_vec(), received.fds)
    }

    /// Ends the session and waits for the helper to exit; fails the test if it hangs or dies
    /// of a signal. Returns its exit status.
    pub fn exit_code(mut self) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        drop(self.socket);
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the helper") {
                assert_eq!(status.signal(), None, "the helper died of a signal");
                return status.code().unwrap_or(-1);
            }
            assert!(started.elapsed() < RUN_TIMEOUT, "the helper hangs");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// A program running on a pseudo-terminal of its own, as its controlling terminal (through
/// `setsid --ctty`), so that what is typed reaches it as at a keyboard: Ctrl-C is the
/// terminal's SIGINT to the foreground process group.
pub struct Pty {
    master: fs::File,
    child: Child,
    output: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Pty {
    /// Starts `command` (whose program should be `/usr/bin/setsid` with `--ctty` first, so the
    /// terminal becomes its controlling one) with the terminal's other end as its stdio.
    pub fn spawn(command: &mut Command) -> Pty {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let slave = pty.slave;
        let stdio = || Stdio::from(slave.try_clone().expect("dup the pty"));
        let description = format!("{command:?}");
        let child = command
            .stdin(stdio())
            .stdout(stdio())
            .stderr(stdio())
            .spawn()
            .unwrap_or_else(|error| panic!("spawning {description}: {error}"));
        // Our copies of the terminal's end: once the child's are closed too, reading the
        // master ends (EIO).
        drop(slave);
        let master = fs::File::from(pty.master);
        let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        {
            let mut reader = master.try_clone().expect("dup the pty master");
            let output = std::sync::Arc::clone(&output);
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                while let Ok(count @ 1..) = reader.read(&mut buffer) {
                    output
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .extend_from_slice(&buffer[..count]);
                }
            });
        }
        Pty {
            master,
            child,
            output,
        }
    }

    /// What the terminal showed so far.
    pub fn output(&self) -> Vec<u8> {
        self.output
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Waits up to `limit` for `needle` to show on the terminal; whether it did.
    pub fn wait_for(&self, needle: &[u8], limit: Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if install::contains(&self.output(), needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Types `bytes`.
    pub fn type_in(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.master.write_all(bytes).expect("write to the pty");
    }

    /// Waits up to `limit` for the program to end (killing it after that); its status, `None`
    /// when it had to be killed, and everything the terminal showed.
    pub fn finish(mut self, limit: Duration) -> (Option<std::process::ExitStatus>, Vec<u8>) {
        let deadline = std::time::Instant::now() + limit;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
            }
        };
        // The last output may still be on its way through the reader thread.
        std::thread::sleep(Duration::from_millis(100));
        (status, self.output())
    }
}

/// Waits up to `limit` for `child` and whatever output of it is still piped; kills it and fails
/// the test after that.
pub fn wait_output(child: Child, limit: Duration) -> Output {
    let description = format!("process {}", child.id());
    wait_or_kill(child, &description, limit, Kill::Process)
        .unwrap_or_else(|| panic!("{description} did not finish within {limit:?}; killed"))
}

#[cfg(test)]
mod tests {
    #[test]
    #[should_panic(expected = "MYOPEN_REQUIRE_ROOT_TESTS=1 says every test must")]
    fn a_required_skip_fails() {
        super::skip_line(true, "some_test", "needs root");
    }

    #[test]
    fn an_allowed_skip_names_the_test_and_the_reason() {
        assert_eq!(
            super::skip_line(false, "some_test", "needs root"),
            "SKIPPED (needs root): some_test\n"
        );
    }
}
