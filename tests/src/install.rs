//! Harness for the privileged end-to-end tests: real installs of the helper (setuid root, file
//! capabilities, plain) under `/tmp/myopen-it`, the policy that test build reads, users made for
//! the tests, and a syslog receiver for the audit log.
//!
//! `make test` builds a helper of its own for these tests, with
//! `MYOPEN_SYSCONFDIR=/tmp/myopen-it/etc MYOPEN_SYSLOG_SOCKET=/tmp/myopen-it/log.sock`, into
//! `target/it/` (linked as `make install` links it: `target/it/<musl triple>/`, see
//! [`IT_TARGET_ENV`]). Every privileged test shares that one policy location, so each holds a
//! [`PrivilegedEnv`] for its whole run: a process-wide lock plus an `flock` on
//! `/tmp/myopen-it/lock` (against other test processes).
//!
//! The users `myopen-alice` (supplementary member of the group `myopen-readers`) and `myopen-bob`
//! are created when missing and left in place; `make test` removes them afterwards.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs;
use std::io::{ErrorKind, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt, lchown};
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};

use crate::{Kill, RUN_TIMEOUT, mycat_binary, run, wait_or_kill, workspace_binary};

mod audit;
mod file_state;
mod files;
mod name_databases;
mod policy_text;
mod requests;
mod timing;
mod users;

pub use audit::*;
pub use file_state::*;
pub use files::*;
pub use name_databases::*;
pub use policy_text::*;
pub use requests::*;
pub use timing::*;
pub use users::*;

/// Root of everything the privileged tests install and create: `$MYOPEN_IT_ROOT` when the tests
/// are built (`make test IT_ROOT=...`, so that two checkouts can run their privileged suites at
/// once), `/tmp/myopen-it` by default. The helper build for these tests bakes in the same root.
pub const IT_ROOT: &str = env!("MYOPEN_IT_ROOT");
/// The test build's sysconfdir.
pub const ETC: &str = concat!(env!("MYOPEN_IT_ROOT"), "/etc");
/// The directory holding the policy.
pub const POLICY_DIR: &str = concat!(env!("MYOPEN_IT_ROOT"), "/etc/myopen");
/// The main policy file of the test build.
pub const POLICY: &str = concat!(env!("MYOPEN_IT_ROOT"), "/etc/myopen/policy.toml");
/// The drop-in directory of the test build.
pub const DROPIN_DIR: &str = concat!(env!("MYOPEN_IT_ROOT"), "/etc/myopen/policy.d");
/// The syslog socket the test build sends its audit lines to.
pub const LOG_SOCKET: &str = concat!(env!("MYOPEN_IT_ROOT"), "/log.sock");
/// Per-test data trees live below this directory.
pub const DATA: &str = concat!(env!("MYOPEN_IT_ROOT"), "/data");

/// The supplementary group of the test users.
pub const READERS: &str = "myopen-readers";
/// Test user in the group [`READERS`].
pub const ALICE: &str = "myopen-alice";
/// Test user without extra groups.
pub const BOB: &str = "myopen-bob";

/// Selects the IT builds the privileged tests run (read at run time): `host` for plain cargo
/// builds (`target/it/debug`), a Rust target triple for builds with `--target TRIPLE`
/// (`target/it/TRIPLE/debug`). Unset: [`IT_DEFAULT_TARGET`].
pub const IT_TARGET_ENV: &str = "MYOPEN_IT_TARGET";

/// The IT builds' target when [`IT_TARGET_ENV`] is unset: the host's musl target, as
/// `make install` links the helper (HELPER_LINK=static-musl).
pub const IT_DEFAULT_TARGET: &str = env!("MYOPEN_IT_MUSL_TARGET");

/// `target/<profile>/...` -> `target/`.
fn target_root() -> PathBuf {
    let regular = workspace_binary("openfile-helper");
    regular
        .parent()
        .and_then(Path::parent)
        .expect("the workspace binaries live in target/<profile>")
        .to_owned()
}

/// The directory holding the binaries of the IT build `build` (`it` or `it-fault`) for the
/// target [`IT_TARGET_ENV`] selects, and the cargo arguments that make it (for error messages).
fn it_build_dir(build: &str) -> (PathBuf, String) {
    let target = std::env::var(IT_TARGET_ENV).unwrap_or_else(|_| IT_DEFAULT_TARGET.to_owned());
    let root = target_root().join(build);
    if target == "host" {
        (root.join("debug"), format!("--target-dir target/{build}"))
    } else {
        (
            root.join(&target).join("debug"),
            format!(
                "--target {target} --target-dir target/{build}, with \
                 RUSTFLAGS=\"-C target-feature=+crt-static\"; {IT_TARGET_ENV}=host selects a \
                 plain build"
            ),
        )
    }
}

/// The helper built for these tests by `make test` (`target/it/TRIPLE/debug/openfile-helper`,
/// see [`IT_TARGET_ENV`]).
pub fn it_helper_binary() -> PathBuf {
    let (directory, how) = it_build_dir("it");
    let binary = directory.join("openfile-helper");
    assert!(
        binary.is_file(),
        "{} is missing: run `make test` (it builds the helper for the privileged tests with \
         MYOPEN_SYSCONFDIR={ETC} MYOPEN_SYSLOG_SOCKET={LOG_SOCKET} {how})",
        binary.display()
    );
    binary
}

/// One way of installing the helper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Install {
    /// root:root 4755.
    Setuid,
    /// 0755 with `cap_dac_read_search,cap_dac_override+p`.
    Caps,
    /// 0755, no privilege at all.
    Plain,
    /// No privileged helper at all (the plain one only): `myopend` started by hand, binding its
    /// own socket. Requests go to the daemon alone (`myopen-probe daemon:SOCKET`).
    Daemon,
    /// The same, the daemon started by `systemd-socket-activate --seqpacket` (socket activation).
    DaemonActivated,
}

impl Install {
    /// The two privileged installs, which must behave the same.
    pub const PRIVILEGED: [Install; 2] = [Install::Setuid, Install::Caps];

    /// Every install that serves with privilege and must decide the same: the two privileged
    /// helpers and the daemon, started both ways.
    pub const SERVED: [Install; 4] = [
        Install::Setuid,
        Install::Caps,
        Install::Daemon,
        Install::DaemonActivated,
    ];

    /// `setuid`, `caps`, `plain`, `daemon` or `daemon-activated`.
    pub fn name(self) -> &'static str {
        match self {
            Install::Setuid => "setuid",
            Install::Caps => "caps",
            Install::Plain => "plain",
            Install::Daemon => "daemon",
            Install::DaemonActivated => "daemon-activated",
        }
    }

    /// Where this install's helper is: for a daemon install, the plain one (a daemon install has
    /// no privileged helper).
    pub fn helper(self) -> PathBuf {
        let install = match self {
            Install::Daemon | Install::DaemonActivated => Install::Plain,
            other => other,
        };
        Path::new(IT_ROOT)
            .join("libexec")
            .join(install.name())
            .join("openfile-helper")
    }

    /// Whether requests go to `myopend`.
    pub fn is_daemon(self) -> bool {
        matches!(self, Install::Daemon | Install::DaemonActivated)
    }
}

/// `mycat`, installed for the privileged tests.
pub fn it_mycat() -> PathBuf {
    Path::new(IT_ROOT).join("bin").join("mycat")
}

/// `myopen-probe`, installed for the privileged tests.
pub fn it_probe() -> PathBuf {
    Path::new(IT_ROOT).join("bin").join("myopen-probe")
}

// ---------------------------------------------------------------------------------------------
// The environment guard

static LOCK: Mutex<()> = Mutex::new(());

/// Makes [`IT_ROOT`] a root-owned 0755 directory and takes the `flock` on `IT_ROOT/lock` that
/// keeps test processes using the installs and the system apart (blocks until it is free).
pub(crate) fn lock_it_root() -> Flock<fs::File> {
    let root = Path::new(IT_ROOT);
    root_dir(root, 0o755);
    let lock_file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(root.join("lock"))
        .unwrap_or_else(|error| panic!("open {IT_ROOT}/lock: {error}"));
    Flock::lock(lock_file, FlockArg::LockExclusive)
        .unwrap_or_else(|(_, errno)| panic!("flock {IT_ROOT}/lock: {errno}"))
}

/// Everything one privileged test needs, held for the whole test (see the module docs).
///
/// Creating it resets the policy location (an empty policy, an empty `policy.d`), makes an empty
/// data tree `/tmp/myopen-it/data/<test>/`, installs the helpers (once per process) and starts
/// the audit receiver at [`LOG_SOCKET`].
pub struct PrivilegedEnv {
    name: String,
    data: PathBuf,
    audit: Option<AuditReceiver>,
    _file_lock: Flock<fs::File>,
    _guard: MutexGuard<'static, ()>,
}

/// `PrivilegedEnv::new` with the calling test's name; `None` (after a loud SKIPPED) when not root.
#[macro_export]
macro_rules! privileged_env {
    () => {{
        fn here() {}
        let name = ::std::any::type_name_of_val(&here);
        let name = name.strip_suffix("::here").unwrap_or(name);
        let name = name.rsplit("::").next().unwrap_or(name);
        $crate::install::PrivilegedEnv::new(name)
    }};
}

impl PrivilegedEnv {
    /// Sets up for test `name`; `None` (after printing `SKIPPED (needs root): name`) when the
    /// tests do not run as root.
    pub fn new(name: &str) -> Option<PrivilegedEnv> {
        crate::root_or_skip(name)?;
        let guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let file_lock = lock_it_root();
        ensure_test_users();
        install_helpers();

        // A fresh policy location: an empty (comment-only) policy and no drop-ins.
        remove_tree(Path::new(ETC));
        root_dir(Path::new(ETC), 0o755);
        root_dir(Path::new(POLICY_DIR), 0o755);
        root_dir(Path::new(DROPIN_DIR), 0o755);
        write_root_file(Path::new(POLICY), b"# empty policy\n", 0o644);

        root_dir(Path::new(DATA), 0o755);
        let data = Path::new(DATA).join(name);
        remove_tree(&data);
        root_dir(&data, 0o755);

        let audit = Some(AuditReceiver::start());
        Some(PrivilegedEnv {
            name: name.to_owned(),
            data,
            audit,
            _file_lock: file_lock,
            _guard: guard,
        })
    }

    /// The test's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The test's data tree, `/tmp/myopen-it/data/<test>` (root, 0755).
    pub fn data(&self) -> &Path {
        &self.data
    }

    /// `relative` inside the data tree.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.data.join(relative)
    }

    /// Creates directory `relative` (missing parents: root 0755) with `mode` and `owner`.
    pub fn dir(&self, relative: &str, mode: u32, owner: Option<&TestUser>) -> PathBuf {
        let path = self.path(relative);
        self.parents(&path);
        if !path.is_dir() {
            fs::create_dir(&path)
                .unwrap_or_else(|error| panic!("mkdir {}: {error}", path.display()));
        }
        chown(&path, owner);
        chmod(&path, mode);
        path
    }

    /// Writes file `relative` (missing parents: root 0755) with `content`, `mode` and `owner`.
    pub fn file(
        &self,
        relative: &str,
        content: &[u8],
        mode: u32,
        owner: Option<&TestUser>,
    ) -> PathBuf {
        let path = self.path(relative);
        self.parents(&path);
        write_root_file(&path, content, mode);
        chown(&path, owner);
        chmod(&path, mode);
        path
    }

    /// Creates symlink `relative` -> `target` owned by `owner`.
    pub fn symlink(
        &self,
        target: impl AsRef<Path>,
        relative: &str,
        owner: Option<&TestUser>,
    ) -> PathBuf {
        let path = self.path(relative);
        self.parents(&path);
        std::os::unix::fs::symlink(target.as_ref(), &path)
            .unwrap_or_else(|error| panic!("symlink {}: {error}", path.display()));
        chown(&path, owner);
        path
    }

    /// Creates FIFO `relative` with `mode`, owned by `owner`.
    pub fn fifo(&self, relative: &str, mode: u32, owner: Option<&TestUser>) -> PathBuf {
        let path = self.path(relative);
        self.parents(&path);
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .unwrap_or_else(|error| panic!("mkfifo {}: {error}", path.display()));
        chown(&path, owner);
        chmod(&path, mode);
        path
    }

    /// Creates device node `relative` (`kind` `c` or `b`, as mknod(1)) with `mode`, owned by root.
    pub fn device(&self, relative: &str, kind: char, major: u32, minor: u32, mode: u32) -> PathBuf {
        let path = self.path(relative);
        self.parents(&path);
        let output = run(Command::new("mknod")
            .arg(&path)
            .arg(kind.to_string())
            .arg(major.to_string())
            .arg(minor.to_string()));
        assert!(
            output.status.success(),
            "mknod {} {kind} {major} {minor}: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        chmod(&path, mode);
        path
    }

    /// The secret of an attack test: `secret/shadow` in the data tree, root 0600, outside every
    /// rule the test writes, holding `TOP-SECRET-<random>`.
    pub fn secret(&self) -> Secret {
        let content = format!("TOP-SECRET-{}\n", random_token());
        let path = self.file("secret/shadow", content.as_bytes(), 0o600, None);
        Secret { path, content }
    }

    fn parents(&self, path: &Path) {
        let mut missing = Vec::new();
        let mut cursor = path.parent();
        while let Some(dir) = cursor {
            if dir.is_dir() {
                break;
            }
            missing.push(dir.to_owned());
            cursor = dir.parent();
        }
        for dir in missing.iter().rev() {
            root_dir(dir, 0o755);
        }
    }

    /// Replaces the main policy (root 0644).
    pub fn write_policy(&self, text: &str) {
        write_root_file(Path::new(POLICY), text.as_bytes(), 0o644);
    }

    /// Replaces the main policy with one rule: the users `who` may read the files matching
    /// `glob` in the data tree.
    pub fn allow_reading(&self, glob: &str, who: &[&str]) {
        self.write_policy(&allow_rule(self.path(glob), &users(who), &["read"], &[]));
    }

    /// Writes drop-in `policy.d/<name>` (root 0644); returns its path.
    pub fn write_dropin(&self, name: &str, text: &str) -> PathBuf {
        let path = Path::new(DROPIN_DIR).join(name);
        write_root_file(&path, text.as_bytes(), 0o644);
        path
    }

    /// Audit lines received since the previous call (waits briefly for stragglers).
    pub fn audit_lines(&self) -> Vec<String> {
        self.audit
            .as_ref()
            .map(AuditReceiver::drain)
            .unwrap_or_default()
    }

    /// Stops the audit receiver and removes the log socket: the helper finds no syslog.
    pub fn stop_audit(&mut self) {
        if let Some(audit) = self.audit.take() {
            audit.stop();
        }
        let _ = fs::remove_file(LOG_SOCKET);
    }

    /// Watches directory `relative` for opens of the entries in it (inotify `IN_OPEN`; opens with
    /// `O_PATH` do not count).
    pub fn watch_opens(&self, dir: impl AsRef<Path>) -> OpenWatch {
        OpenWatch::new(dir.as_ref())
    }
}

impl Drop for PrivilegedEnv {
    fn drop(&mut self) {
        stop_daemons();
        if let Some(audit) = self.audit.take() {
            audit.stop();
        }
        // Kept after a failure, for a look at what the helper saw.
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.data);
        }
    }
}

fn write_root_file(path: &Path, content: &[u8], mode: u32) {
    // Replace rather than write through: the old entry may be a symlink or owned by someone else.
    if fs::symlink_metadata(path).is_ok() {
        fs::remove_file(path).unwrap_or_else(|error| panic!("rm {}: {error}", path.display()));
    }
    // Created with the final mode, so that a secret is never readable by others, not even briefly.
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode & 0o777)
        .open(path)
        .unwrap_or_else(|error| panic!("create {}: {error}", path.display()));
    file.write_all(content)
        .unwrap_or_else(|error| panic!("write {}: {error}", path.display()));
    drop(file);
    chown(path, None);
    chmod(path, mode);
}

/// A random token (kernel uuid) for secrets and unique names.
pub fn random_token() -> String {
    fs::read_to_string("/proc/sys/kernel/random/uuid")
        .map(|uuid| uuid.trim().replace('-', ""))
        .unwrap_or_else(|_| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_nanos())
                .unwrap_or_default();
            format!("{}{nanos}", std::process::id())
        })
}

/// The secret file of an attack test.
#[derive(Debug, Clone)]
pub struct Secret {
    /// `…/secret/shadow`.
    pub path: PathBuf,
    /// Its content.
    pub content: String,
}

impl Secret {
    /// The directory holding the secret.
    pub fn dir(&self) -> &Path {
        self.path.parent().expect("secret/shadow has a parent")
    }

    /// Fails the test if any part of the secret shows in `bytes` (`what` names them).
    pub fn assert_absent(&self, what: &str, bytes: &[u8]) {
        let token = self.content.trim_end().as_bytes();
        let hex = &token[b"TOP-SECRET-".len()..];
        for needle in [token, b"TOP-SECRET".as_slice(), hex] {
            assert!(
                !contains(bytes, needle),
                "the secret leaked into {what}: {}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    /// Fails the test if the secret shows in a command's stdout or stderr.
    pub fn assert_not_in_output(&self, output: &Output) {
        self.assert_absent("stdout", &output.stdout);
        self.assert_absent("stderr", &output.stderr);
    }

    /// Fails the test if the secret's content is no longer what it was (as root sees it).
    pub fn assert_intact(&self) {
        let now = fs::read(&self.path).expect("read secret");
        assert_eq!(now, self.content.as_bytes(), "the secret was modified");
    }
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

// ---------------------------------------------------------------------------------------------
// Installs a test makes for itself

/// Installs a copy of the test build's helper (see [`it_helper_binary`]) as `path`, in a
/// root-owned 0755 directory of its own below [`IT_ROOT`]`/libexec`: the copy is root:root 0755
/// with no set-id bit and no file capability, for the test to give it the owner, mode or
/// capabilities it is about. Call it with a [`PrivilegedEnv`] held (the installs are shared).
pub fn install_helper_copy(path: &Path) {
    let directory = path.parent().expect("the copy lives in a directory");
    assert!(
        directory.parent() == Some(Path::new(IT_ROOT).join("libexec").as_path()),
        "{} is not a directory of its own in {IT_ROOT}/libexec",
        directory.display()
    );
    root_dir(directory, 0o755);
    install_program(&it_helper_binary(), path, "0755");
    // chown clears set-id bits and capabilities, so it comes before whatever the test sets.
    chown(path, None);
}

/// setcap(8) `capabilities` (its text form, such as `cap_dac_override+ep`) on `path`, panicking
/// on failure.
pub fn set_file_capabilities(path: &Path, capabilities: &str) {
    let output = run(Command::new("setcap").arg(capabilities).arg(path));
    assert!(
        output.status.success(),
        "setcap {capabilities} {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// Audit receiver, again

impl PrivilegedEnv {
    /// Starts the audit receiver again after [`PrivilegedEnv::stop_audit`] (a syslog restart);
    /// whatever is at [`LOG_SOCKET`] is replaced.
    pub fn start_audit(&mut self) {
        if self.audit.is_none() {
            self.audit = Some(AuditReceiver::start());
        }
    }
}

/// A syslog receiver at `/dev/log` while a test runs an installed helper built for it on a
/// machine that has no syslog (a container): the helper refuses a grant whose audit record
/// cannot go out. Removed on drop; nothing is done where a syslog is already there.
pub struct SystemSyslog {
    receiver: Option<AuditReceiver>,
}

impl SystemSyslog {
    /// The system's syslog socket.
    pub const SOCKET: &str = "/dev/log";

    /// Starts a receiver at [`SystemSyslog::SOCKET`] unless something is there already.
    pub fn ensure() -> SystemSyslog {
        let socket = Path::new(SystemSyslog::SOCKET);
        let missing = fs::symlink_metadata(socket).is_err();
        let receiver = missing.then(|| AuditReceiver::start_at(socket));
        SystemSyslog { receiver }
    }
}

impl Drop for SystemSyslog {
    fn drop(&mut self) {
        if let Some(receiver) = self.receiver.take() {
            receiver.stop();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// myopen-run

/// `myopen-run`, installed for the privileged tests (once per process, after the helpers), with
/// the race test's hostile COMMAND next to it as `myopen_run_race`.
pub fn it_myopen_run() -> PathBuf {
    static DONE: OnceLock<()> = OnceLock::new();
    let bin = Path::new(IT_ROOT).join("bin");
    DONE.get_or_init(|| {
        install_program(
            &workspace_binary("myopen-run"),
            &bin.join("myopen-run"),
            "0755",
        );
        install_program(
            Path::new(crate::MYOPEN_RUN_RACE),
            &bin.join("myopen_run_race"),
            "0755",
        );
    });
    bin.join("myopen-run")
}

/// The race test's hostile COMMAND, installed by [`it_myopen_run`].
pub fn it_myopen_run_race() -> PathBuf {
    it_myopen_run().with_file_name("myopen_run_race")
}

/// A command that runs `myopen-run --helper <install's helper> -- program` as `user`.
pub fn myopen_run_as(user: &TestUser, install: Install, program: impl AsRef<OsStr>) -> Command {
    let mut command = command_as(user, it_myopen_run());
    // cargo test's library path names directories under /root that the test user may not
    // search: the dynamic loader's probes there would each be asked of the helper.
    command
        .env_remove("LD_LIBRARY_PATH")
        .arg("--helper")
        .arg(install.helper())
        .arg("--")
        .arg(program);
    command
}

// ---------------------------------------------------------------------------------------------
// The fault-injection build (issue 12)

/// The fault-injection build of the helper (`--features fault-injection`, a debug build only):
/// `target/it-fault/TRIPLE/debug/openfile-helper`, built with the same paths and target as
/// [`it_helper_binary`].
pub fn it_fault_helper_binary() -> PathBuf {
    let (directory, how) = it_build_dir("it-fault");
    let binary = directory.join("openfile-helper");
    assert!(
        binary.is_file(),
        "{} is missing: run `make test` (it builds the fault-injection helper with \
         MYOPEN_SYSCONFDIR={ETC} MYOPEN_SYSLOG_SOCKET={LOG_SOCKET} --features fault-injection \
         {how})",
        binary.display()
    );
    binary
}

/// Installs the fault-injection build setuid root as `IT_ROOT/libexec/fault/openfile-helper`
/// and returns its path. Call it with a [`PrivilegedEnv`] held.
pub fn install_fault_helper() -> PathBuf {
    let path = Path::new(IT_ROOT)
        .join("libexec")
        .join("fault")
        .join("openfile-helper");
    root_dir(path.parent().expect("a directory of its own"), 0o755);
    install_program(&it_fault_helper_binary(), &path, "4755");
    chown(&path, None);
    chmod(&path, 0o4755);
    path
}

/// Turns a fault-injection switch on (`allow-everything`, `execve`, `no-fence`, `no-landlock`):
/// a file in `ETC/myopen-fault/`, which [`PrivilegedEnv::new`] clears with the rest of `ETC`.
pub fn set_fault_switch(name: &str) {
    let directory = Path::new(ETC).join("myopen-fault");
    root_dir(&directory, 0o755);
    write_root_file(&directory.join(name), b"", 0o644);
}

/// Turns a fault-injection switch off again.
pub fn clear_fault_switch(name: &str) {
    let _ = fs::remove_file(Path::new(ETC).join("myopen-fault").join(name));
}

/// Requests `path` with `flags` through the helper at `helper` as `user` (like [`probe`], for a
/// helper outside the standard installs); the raw output.
pub fn probe_helper_output(
    user: &TestUser,
    helper: &Path,
    path: impl AsRef<OsStr>,
    flags: i32,
    data: Option<&[u8]>,
) -> Output {
    run(&mut probe_helper_command(user, helper, path, flags, data))
}

/// The command `myopen-probe <helper> path flags [data]`, run as `user`.
pub(crate) fn probe_helper_command(
    user: &TestUser,
    helper: impl AsRef<OsStr>,
    path: impl AsRef<OsStr>,
    flags: i32,
    data: Option<&[u8]>,
) -> Command {
    let mut command = command_as(user, it_probe());
    command
        .arg(helper.as_ref())
        .arg(path.as_ref())
        .arg(flags.to_string());
    if let Some(data) = data {
        command.arg(OsStr::from_bytes(data));
    }
    command
}

// ---------------------------------------------------------------------------------------------
// The daemon installs

/// `myopend` built for these tests: the plain cargo build in `target/it/debug`, whatever
/// [`IT_TARGET_ENV`] selects for the helper, as `make install` links myopend (with the system's
/// C library and all its NSS sources) whatever HELPER_LINK says.
pub fn it_daemon_binary() -> PathBuf {
    let binary = target_root().join("it").join("debug").join("myopend");
    assert!(
        binary.is_file(),
        "{} is missing: run `make test` (it builds myopend for the privileged tests with \
         MYOPEN_SYSCONFDIR={ETC} MYOPEN_SYSLOG_SOCKET={LOG_SOCKET} --target-dir target/it)",
        binary.display()
    );
    binary
}

/// The daemons this process started, stopped when the [`PrivilegedEnv`] that saw them goes.
static DAEMONS: Mutex<Vec<(Install, Child)>> = Mutex::new(Vec::new());

/// How long a daemon may take to answer after its start, and to exit after SIGTERM.
pub const DAEMON_WAIT: Duration = Duration::from_secs(10);

impl Install {
    /// The daemon socket of a daemon install (`IT_ROOT/run-<name>/myopen/socket`).
    pub fn daemon_socket(self) -> Option<PathBuf> {
        self.is_daemon().then(|| {
            Path::new(IT_ROOT)
                .join(format!("run-{}", self.name()))
                .join("myopen")
                .join("socket")
        })
    }

    /// What `myopen-probe` is given: the helper, or `daemon:SOCKET` (the daemon started first).
    pub fn probe_target(self) -> OsString {
        match self.daemon_socket() {
            Some(socket) => {
                ensure_daemon(self);
                let mut target = OsString::from("daemon:");
                target.push(socket);
                target
            }
            None => self.helper().into_os_string(),
        }
    }
}

/// Starts the daemon of `install` unless this process already runs it, and waits until it
/// answers. Held by the caller's [`PrivilegedEnv`]; stopped when that goes.
pub fn ensure_daemon(install: Install) -> u32 {
    let mut daemons = DAEMONS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, child)) = daemons.iter().find(|(running, _)| *running == install) {
        return child.id();
    }
    let child = start_daemon(install, &[]);
    let pid = child.id();
    daemons.push((install, child));
    pid
}

/// Starts the daemon of `install` with `extra` arguments (a pool of 2 unless they say
/// otherwise) and waits until a client gets its hello.
// The child is returned to the caller, who stops it ([`stop_daemon`]); every other path reaps it
// in `abandon`, which the lint does not follow.
#[allow(clippy::zombie_processes)]
pub fn start_daemon(install: Install, extra: &[&str]) -> Child {
    let socket = install
        .daemon_socket()
        .expect("a daemon install has a socket");
    let run_dir = socket.parent().and_then(Path::parent).expect("run dir");
    root_dir(run_dir, 0o755);
    let _ = fs::remove_file(&socket);
    let log = fs::File::create(run_dir.join("myopend.log")).expect("daemon log");
    let mut command = match install {
        Install::DaemonActivated => {
            let mut command = Command::new("systemd-socket-activate");
            root_dir(&run_dir.join("myopen"), 0o755);
            command
                .arg("--seqpacket")
                .arg("-l")
                .arg(&socket)
                .arg(it_daemon_binary());
            command
        }
        _ => Command::new(it_daemon_binary()),
    };
    if install == Install::Daemon {
        command.arg("--socket").arg(&socket);
    }
    if !extra.contains(&"--pool") {
        command.args(["--pool", "2"]);
    }
    command
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
    let child = command
        .spawn()
        .unwrap_or_else(|error| panic!("starting {command:?}: {error}"));
    let started = Instant::now();
    if install == Install::DaemonActivated {
        // systemd-socket-activate binds with the umask's mode; myopen.socket says SocketMode=0666.
        while !socket.exists() {
            if started.elapsed() >= DAEMON_WAIT {
                abandon(child, &format!("{} never appeared", socket.display()));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        chmod(&socket, 0o666);
    }
    loop {
        // A connection that gets its hello, no request (so no audit line): the daemon serves
        // (socket activation starts it now).
        if myopen::Session::with_daemon(
            Some(myopen::Daemon::at(&socket)),
            myopen::Helper::at("/nonexistent"),
        )
        .is_ok()
        {
            return child;
        }
        if started.elapsed() >= DAEMON_WAIT {
            let log = fs::read_to_string(run_dir.join("myopend.log")).unwrap_or_default();
            abandon(
                child,
                &format!(
                    "{} did not answer within {DAEMON_WAIT:?}: {log}",
                    install.name()
                ),
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Kills and reaps `child`, then fails the test saying `what`.
fn abandon(mut child: Child, what: &str) -> ! {
    let _ = child.kill();
    let _ = child.wait();
    panic!("{what}")
}

/// Stops `child`, a daemon: SIGTERM, then a bounded wait (SIGKILL after it); its exit status.
pub fn stop_daemon(mut child: Child) -> Option<ExitStatus> {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let started = Instant::now();
    while started.elapsed() < DAEMON_WAIT {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Stops every daemon this process started.
fn stop_daemons() {
    let daemons = std::mem::take(
        &mut *DAEMONS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    );
    for (_, child) in daemons {
        stop_daemon(child);
    }
}

/// What the daemon of `install` has written to its log (stderr) since it started.
pub fn daemon_log(install: Install) -> String {
    let socket = install.daemon_socket().expect("a daemon install");
    let run_dir = socket.parent().and_then(Path::parent).expect("run dir");
    fs::read_to_string(run_dir.join("myopend.log")).unwrap_or_default()
}

/// `myopen-daemon-connect`, installed for the privileged tests.
pub fn it_daemon_connect() -> PathBuf {
    Path::new(IT_ROOT).join("bin").join("myopen-daemon-connect")
}

/// A connection `user` made to the daemon of `install` and passed to this process (through
/// `myopen-daemon-connect`), the daemon's hello not yet read.
pub fn connection_made_by(user: &TestUser, install: Install) -> OwnedFd {
    ensure_daemon(install);
    connection_to_made_by(user, &install.daemon_socket().expect("a daemon install"))
}

/// A connection `user` made to the daemon at `socket`, passed to this process, hello unread.
pub fn connection_to_made_by(user: &TestUser, socket: &Path) -> OwnedFd {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .expect("socketpair");
    let mut command = command_as(user, it_daemon_connect());
    command
        .arg(socket)
        .stdin(Stdio::from(theirs))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().expect("myopen-daemon-connect");
    drop(command);
    let output = wait_with_timeout(child, "myopen-daemon-connect");
    assert!(
        output.status.success(),
        "myopen-daemon-connect: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut byte = [0u8; 1];
    let received = myopen::fdpass::recv_with_fds(&ours, &mut byte, 1).expect("the connection");
    received
        .fds
        .into_iter()
        .next()
        .expect("a connection was passed")
}

/// The number of descriptors `pid` holds and the number of its children (from `/proc`).
pub fn descriptors_and_children(pid: u32) -> (usize, usize) {
    let descriptors = fs::read_dir(format!("/proc/{pid}/fd"))
        .map(Iterator::count)
        .unwrap_or(0);
    let children = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .map(|text| text.split_whitespace().count())
        .unwrap_or(0);
    (descriptors, children)
}
