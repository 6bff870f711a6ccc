//! Harness for the packaging tests (`tests/tests/packaging.rs`): running the Makefile's targets
//! (`make install`, `make deb`, `make rpm`, `make demo`) from a test, a build shared by every
//! test of one run, and the lock that keeps them away from the privileged tests.
//!
//! The packages and staged installs are built for the real system paths (`PREFIX=/usr`,
//! `SYSCONFDIR=/etc`) into `target/pkg`, once per test process; `make demo` builds into
//! `target/demo`. Both are release builds of their own, so they never disturb `target/debug`
//! (which the running `cargo test` holds) or the privileged tests' `target/it`.

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use nix::fcntl::Flock;

use crate::install::lock_it_root;
use crate::{Kill, wait_or_kill};

/// How long one `make` run may take (a release build from nothing takes one to two minutes on
/// two cores) before the test kills it and fails.
pub const MAKE_TIMEOUT: Duration = Duration::from_secs(900);

/// The cargo target directory of the package builds, relative to the workspace.
pub const PKG_TARGET_DIR: &str = "target/pkg";

/// The variables every system-path build of these tests passes to make.
pub const SYSTEM_PATHS: [&str; 4] = [
    "PREFIX=/usr",
    "SYSCONFDIR=/etc",
    "LIBEXECDIR=/usr/libexec",
    "TARGET_DIR=target/pkg",
];

/// The workspace root (where the Makefile is).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf()
}

pub use crate::{root_or_skip, skip};

/// Whether `program` is on PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program} >/dev/null 2>&1"))
        .status()
        .map(|status| status.success())
        .unwrap_or(false)
}

/// Runs `command` with piped output; kills it and fails the test after `limit`.
pub fn run_within(command: &mut Command, limit: Duration) -> Output {
    let description = format!("{command:?}");
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("spawning {description}: {error}"));
    wait_or_kill(child, &description, limit, Kill::Process)
        .unwrap_or_else(|| panic!("{description} did not finish within {limit:?}; killed"))
}

/// `make -C <workspace> ARGS...`, without the make and cargo variables of the `make test` that
/// runs these tests (a nested make must not try to join their job server).
pub fn make<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new("make");
    command
        .arg("--no-print-directory")
        .arg("-C")
        .arg(workspace_root())
        .args(args);
    for variable in [
        "MAKEFLAGS",
        "MFLAGS",
        "MAKELEVEL",
        "MAKEOVERRIDES",
        "CARGO_MAKEFLAGS",
        "MYOPEN_HELPER",
        "MYOPEN_SYSCONFDIR",
        "MYOPEN_LIBEXECDIR",
        "MYOPEN_SYSLOG_SOCKET",
    ] {
        command.env_remove(variable);
    }
    run_within(&mut command, MAKE_TIMEOUT)
}

/// Like [`make`], failing the test (with make's output) unless it succeeds.
pub fn make_ok<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<std::ffi::OsString> = args
        .into_iter()
        .map(|arg| arg.as_ref().to_owned())
        .collect();
    let output = make(&args);
    assert!(
        output.status.success(),
        "make {args:?} failed ({}):\n{}",
        output.status,
        text(&output)
    );
    output
}

/// Standard output and standard error of `output`, as text.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The last line of standard output (the build scripts print the package's path there).
pub fn last_line(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Builds mycat, the helper and the completion generator for the system paths into
/// `target/pkg`, once per test process; later `make install` runs find it up to date.
pub fn system_build() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let started = Instant::now();
        let mut args = vec!["build"];
        args.extend(SYSTEM_PATHS);
        make_ok(args);
        let _ = writeln!(
            std::io::stderr(),
            "packaging: release build for /usr in {PKG_TARGET_DIR} took {:.1?}",
            started.elapsed()
        );
    });
}

static LOCK: Mutex<()> = Mutex::new(());

/// Held by every test that touches the system: a process-wide lock plus the `flock` on
/// `/tmp/myopen-it/lock` that the privileged tests take (see [`crate::install`]), so packages
/// are never installed while another test process relies on the system's state, or the other
/// way round; and the `flock` on [`MACHINE_LOCK`], which test runs of other checkouts (other
/// `IT_ROOT`s) take too: dpkg, `/usr`, `/etc/myopen` and `make demo`'s user are the machine's.
pub struct SystemLock {
    _machine_lock: Flock<fs::File>,
    _file_lock: Flock<fs::File>,
    _guard: MutexGuard<'static, ()>,
}

/// The lock every checkout's system-touching tests share, in the system's lock directory
/// (`/run/lock`).
pub const MACHINE_LOCK: &str = "/run/lock/myopen-system-tests.lock";

/// Takes the [`SystemLock`] (blocks until it is free). Needs root.
pub fn system_lock() -> SystemLock {
    let guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let file_lock = lock_it_root();
    let lock_dir = Path::new(MACHINE_LOCK).parent().expect("a directory");
    fs::create_dir_all(lock_dir)
        .unwrap_or_else(|error| panic!("mkdir {}: {error}", lock_dir.display()));
    let machine_file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(MACHINE_LOCK)
        .unwrap_or_else(|error| panic!("open {MACHINE_LOCK}: {error}"));
    let machine_lock = Flock::lock(machine_file, nix::fcntl::FlockArg::LockExclusive)
        .unwrap_or_else(|(_, errno)| panic!("flock {MACHINE_LOCK}: {errno}"));
    SystemLock {
        _machine_lock: machine_lock,
        _file_lock: file_lock,
        _guard: guard,
    }
}

/// Mode bits (including set-id), owner and group of `path`, not following a symlink.
pub fn mode_owner(path: &Path) -> (u32, u32, u32) {
    let metadata = fs::symlink_metadata(path)
        .unwrap_or_else(|error| panic!("stat {}: {error}", path.display()));
    (metadata.mode() & 0o7777, metadata.uid(), metadata.gid())
}

/// What `getcap` reports for `path` (empty: no capabilities).
pub fn capabilities(path: &Path) -> String {
    let output = run_within(Command::new("getcap").arg(path), Duration::from_secs(30));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// True if `getcap` shows exactly the helper's two capabilities, permitted only.
pub fn has_helper_capabilities(path: &Path) -> bool {
    let shown = capabilities(path);
    shown.ends_with("cap_dac_override,cap_dac_read_search=p")
}
