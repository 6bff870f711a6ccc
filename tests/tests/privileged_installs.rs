//! Issue 9 §1, the table of installs: however an administrator installs the helper (one DAC
//! capability or both, `+p`, `+ep` or `+pi`, an unrelated capability, setuid to root or to a user,
//! setgid, nothing at all) and whoever runs it (a user, or a root stripped of its capabilities by
//! SECBIT_NOROOT), it never opens what the caller could not open itself unless the policy grants
//! it, and `--version` says truthfully which privilege state it is in.
//!
//! The states, as the helper computes them from what the kernel gave it at exec:
//!
//! | state | opens |
//! |---|---|
//! | `governed` | judged by the policy, with only the kept DAC capabilities raised |
//! | `unprivileged` | the caller's own rights, no policy |
//! | `refused` | none: every request gets EPERM and `refusing to serve: <state>` on stderr |
//!
//! (`caller-is-root`, an unrestricted root, opens with root's rights: no row here, as nothing
//! is outside its reach to test.)
//!
//! Each install is a copy of the test build's helper in `$IT_ROOT/libexec/table-<name>/`. Each row
//! of [`ROWS`] names an install, a caller and the state and kept capabilities the spec gives that
//! pair; one loop runs the same checks on every row and reports every failing row and check
//! together.

use std::any::Any;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use libc::{EACCES, EPERM};
use myopen_tests::install::{
    ALICE, FileState, IT_ROOT, Outcome, PrivilegedEnv, Secret, TestUser, alice, allow_rule, bob,
    chmod, chown, command_as, install_helper_copy, it_probe, outcome, random_token,
    set_file_capabilities, users,
};
use myopen_tests::{privileged_env, run};

/// What an install's copy of the helper is given.
#[derive(Debug, Clone, Copy)]
enum Grant {
    /// root:root 0755 with these file capabilities (setcap(8) text).
    FileCapabilities(&'static str),
    /// root:root 4755.
    SetuidRoot,
    /// 4755 owned by `myopen-bob`.
    SetuidBob,
    /// root:root 2755: the group root, the most privileged group there is.
    SetgidRoot,
    /// root:root 0755.
    Plain,
}

/// One install of the table.
#[derive(Debug, Clone, Copy)]
struct TableInstall {
    /// Its directory is `libexec/table-<name>`.
    name: &'static str,
    grant: Grant,
}

impl TableInstall {
    fn helper(self) -> PathBuf {
        Path::new(IT_ROOT)
            .join("libexec")
            .join(format!("table-{}", self.name))
            .join("openfile-helper")
    }

    fn install(self) {
        let path = self.helper();
        install_helper_copy(&path);
        match self.grant {
            Grant::FileCapabilities(capabilities) => {
                set_file_capabilities(&path, capabilities);
                chmod(&path, 0o755);
            }
            Grant::SetuidRoot => chmod(&path, 0o4755),
            Grant::SetuidBob => {
                chown(&path, Some(&bob()));
                chmod(&path, 0o4755);
            }
            Grant::SetgidRoot => chmod(&path, 0o2755),
            Grant::Plain => chmod(&path, 0o755),
        }
    }
}

const fn install(name: &'static str, grant: Grant) -> TableInstall {
    TableInstall { name, grant }
}

const fn caps(name: &'static str, capabilities: &'static str) -> TableInstall {
    install(name, Grant::FileCapabilities(capabilities))
}

const READ_SEARCH_P: TableInstall = caps("read-search-p", "cap_dac_read_search+p");
const READ_SEARCH_EP: TableInstall = caps("read-search-ep", "cap_dac_read_search+ep");
const READ_SEARCH_PI: TableInstall = caps("read-search-pi", "cap_dac_read_search+pi");
const OVERRIDE_P: TableInstall = caps("override-p", "cap_dac_override+p");
const OVERRIDE_EP: TableInstall = caps("override-ep", "cap_dac_override+ep");
const OVERRIDE_PI: TableInstall = caps("override-pi", "cap_dac_override+pi");
const BOTH_P: TableInstall = caps("both-p", "cap_dac_read_search,cap_dac_override+p");
const BOTH_AND_NET_RAW_P: TableInstall = caps(
    "both-net-raw-p",
    "cap_dac_read_search,cap_dac_override,cap_net_raw+p",
);
const NET_RAW_P: TableInstall = caps("net-raw-p", "cap_net_raw+p");
const SETUID_ROOT: TableInstall = install("setuid-root", Grant::SetuidRoot);
const SETUID_BOB: TableInstall = install("setuid-bob", Grant::SetuidBob);
const SETGID_ROOT: TableInstall = install("setgid-root", Grant::SetgidRoot);
const PLAIN: TableInstall = install("plain", Grant::Plain);

/// Who runs the helper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// `myopen-alice`.
    Alice,
    /// uid 0 with no capability and SECBIT_NOROOT locked, so that exec gives it only what a file
    /// grants (file capabilities, not a setuid-root bit it already has the uid of).
    CapabilityLessRoot,
}

impl Caller {
    fn name(self) -> &'static str {
        match self {
            Caller::Alice => "alice",
            Caller::CapabilityLessRoot => "capability-less-root",
        }
    }

    fn command(self, program: impl AsRef<OsStr>) -> Command {
        match self {
            Caller::Alice => command_as(&alice(), program),
            Caller::CapabilityLessRoot => {
                let mut command = Command::new("/usr/bin/setpriv");
                command
                    .arg(
                        "--securebits=+noroot,+noroot_locked,\
                         +no_setuid_fixup,+no_setuid_fixup_locked",
                    )
                    .args(["--inh-caps=-all", "--ambient-caps=-all", "--"])
                    .arg(program);
                command
            }
        }
    }

    /// The owners of files this caller cannot open with its own rights, so that whatever it gets
    /// of them came from the helper. A capability-less root still owns root's files.
    fn strangers(self) -> &'static [Stranger] {
        match self {
            Caller::Alice => &[Stranger::Root, Stranger::RootGroup, Stranger::Bob],
            Caller::CapabilityLessRoot => &[Stranger::Bob],
        }
    }

    /// The owner of the file the policy grants this caller (one it cannot read itself).
    fn granted_owner(self) -> Stranger {
        match self {
            Caller::Alice => Stranger::Root,
            Caller::CapabilityLessRoot => Stranger::Bob,
        }
    }
}

/// An owner of target files, each a way an odd install could lend its rights to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stranger {
    /// root, no access for group or others.
    Root,
    /// root:root with access for the group root (a setgid-root install's group).
    RootGroup,
    /// `myopen-bob` (a setuid-bob install's user).
    Bob,
}

impl Stranger {
    fn name(self) -> &'static str {
        match self {
            Stranger::Root => "root",
            Stranger::RootGroup => "root-group",
            Stranger::Bob => "bob",
        }
    }

    /// Modes of the secret, the file to write and the directory to create in.
    fn modes(self) -> (u32, u32, u32) {
        match self {
            Stranger::Root | Stranger::Bob => (0o600, 0o644, 0o755),
            Stranger::RootGroup => (0o640, 0o664, 0o775),
        }
    }

    fn owner(self) -> Option<TestUser> {
        (self == Stranger::Bob).then(bob)
    }
}

/// The privilege state, as the `privilege:` line of `--version` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Governed,
    Unprivileged,
    Refused,
}

impl State {
    fn word(self) -> &'static str {
        match self {
            State::Governed => "governed",
            State::Unprivileged => "unprivileged",
            State::Refused => "refused",
        }
    }

    /// The errno of a request this state does not serve.
    fn refusal(self) -> i32 {
        match self {
            // The policy's refusal, or the caller's own rights falling short.
            State::Governed | State::Unprivileged => EACCES,
            State::Refused => EPERM,
        }
    }
}

/// The DAC capabilities the helper keeps (its `kept:` line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kept {
    Nothing,
    ReadSearch,
    Override,
    Both,
}

/// Bit 2 of the capability sets in /proc/self/status.
const CAP_DAC_READ_SEARCH: u64 = 0x4;
/// Bit 1.
const CAP_DAC_OVERRIDE: u64 = 0x2;

impl Kept {
    fn line(self) -> &'static str {
        match self {
            Kept::Nothing => "kept: none",
            Kept::ReadSearch => "kept: cap_dac_read_search",
            Kept::Override => "kept: cap_dac_override",
            Kept::Both => "kept: cap_dac_read_search,cap_dac_override",
        }
    }

    fn mask(self) -> u64 {
        match self {
            Kept::Nothing => 0,
            Kept::ReadSearch => CAP_DAC_READ_SEARCH,
            Kept::Override => CAP_DAC_OVERRIDE,
            Kept::Both => CAP_DAC_READ_SEARCH | CAP_DAC_OVERRIDE,
        }
    }
}

/// One install run by one caller, and what the spec says that gives.
#[derive(Debug, Clone, Copy)]
struct Row {
    install: TableInstall,
    caller: Caller,
    state: State,
    kept: Kept,
}

const fn row(install: TableInstall, caller: Caller, state: State, kept: Kept) -> Row {
    Row {
        install,
        caller,
        state,
        kept,
    }
}

use Caller::{Alice, CapabilityLessRoot};
use State::{Governed, Refused, Unprivileged};

const ROWS: &[Row] = &[
    row(READ_SEARCH_P, Alice, Governed, Kept::ReadSearch),
    row(READ_SEARCH_EP, Alice, Governed, Kept::ReadSearch),
    row(READ_SEARCH_PI, Alice, Governed, Kept::ReadSearch),
    row(OVERRIDE_P, Alice, Governed, Kept::Override),
    row(OVERRIDE_EP, Alice, Governed, Kept::Override),
    row(OVERRIDE_PI, Alice, Governed, Kept::Override),
    row(BOTH_P, Alice, Governed, Kept::Both),
    // The unrelated capability is dropped; the two DAC ones govern as usual.
    row(BOTH_AND_NET_RAW_P, Alice, Governed, Kept::Both),
    row(NET_RAW_P, Alice, Refused, Kept::Nothing),
    row(SETUID_ROOT, Alice, Governed, Kept::Both),
    row(SETUID_BOB, Alice, Refused, Kept::Nothing),
    row(SETGID_ROOT, Alice, Refused, Kept::Nothing),
    row(PLAIN, Alice, Unprivileged, Kept::Nothing),
    // File capabilities are granted to a SECBIT_NOROOT root like to anyone (without AT_SECURE,
    // as its real uid is 0): what it gains, the policy governs.
    row(BOTH_P, CapabilityLessRoot, Governed, Kept::Both),
    row(
        READ_SEARCH_P,
        CapabilityLessRoot,
        Governed,
        Kept::ReadSearch,
    ),
    row(OVERRIDE_P, CapabilityLessRoot, Governed, Kept::Override),
    // Its uid is already 0, and SECBIT_NOROOT makes the exec grant no capability: nothing gained.
    row(SETUID_ROOT, CapabilityLessRoot, Unprivileged, Kept::Nothing),
    row(PLAIN, CapabilityLessRoot, Unprivileged, Kept::Nothing),
];

/// The files every row is tried on.
struct Targets {
    /// The policy grants alice `granted/root/report` and root `granted/bob/report`.
    granted: Vec<(Stranger, PathBuf, String)>,
    /// Per stranger: a secret, a file to write and a directory to create in, outside every rule.
    outside: Vec<StrangerTargets>,
}

/// What the victims hold.
const VICTIM: &[u8] = b"victim: must stay as it is\n";

struct StrangerTargets {
    stranger: Stranger,
    secret: Secret,
    victim: PathBuf,
    directory: PathBuf,
}

fn targets(env: &PrivilegedEnv) -> Targets {
    let mut granted = Vec::new();
    for stranger in [Stranger::Root, Stranger::Bob] {
        let content = format!("granted, owned by {}\n", stranger.name());
        let path = env.file(
            &format!("granted/{}/report", stranger.name()),
            content.as_bytes(),
            0o600,
            stranger.owner().as_ref(),
        );
        granted.push((stranger, path, content));
    }
    env.write_policy(&allow_rule(
        env.path("granted/**"),
        &users(&[ALICE, "root"]),
        &["read"],
        &[],
    ));
    let outside = [Stranger::Root, Stranger::RootGroup, Stranger::Bob]
        .into_iter()
        .map(|stranger| {
            let (secret_mode, victim_mode, directory_mode) = stranger.modes();
            let owner = stranger.owner();
            let content = format!("TOP-SECRET-{}\n", random_token());
            let secret = Secret {
                path: env.file(
                    &format!("{}/secret", stranger.name()),
                    content.as_bytes(),
                    secret_mode,
                    owner.as_ref(),
                ),
                content,
            };
            StrangerTargets {
                stranger,
                secret,
                victim: env.file(
                    &format!("{}/victim", stranger.name()),
                    VICTIM,
                    victim_mode,
                    owner.as_ref(),
                ),
                directory: env.dir(
                    &format!("{}/directory", stranger.name()),
                    directory_mode,
                    owner.as_ref(),
                ),
            }
        })
        .collect();
    Targets { granted, outside }
}

/// The table's installs, removed at the end unless the test failed (kept for a look).
struct Installs {
    directories: Vec<PathBuf>,
}

impl Installs {
    fn make(rows: &[Row]) -> Installs {
        let mut done = HashSet::new();
        let mut directories = Vec::new();
        for row in rows {
            if done.insert(row.install.name) {
                row.install.install();
                directories.extend(row.install.helper().parent().map(Path::to_owned));
            }
        }
        Installs { directories }
    }
}

impl Drop for Installs {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            for directory in &self.directories {
                let _ = fs::remove_dir_all(directory);
            }
        }
    }
}

/// The failed checks: row label, check, what went wrong.
#[derive(Default)]
struct Findings {
    failures: Vec<(String, String, String)>,
}

impl Findings {
    /// Runs `check` (which fails by panicking, as the harness's assertions do) and records its
    /// failure, so that one bad row does not hide the others; its result if it passed.
    fn check<T>(&mut self, row: &Row, what: &str, check: impl FnOnce() -> T) -> Option<T> {
        // The failure goes into the summary: the default hook would print each one (with a
        // backtrace) a second time. This test binary runs no other test that could panic meanwhile.
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let result = catch_unwind(AssertUnwindSafe(check));
        std::panic::set_hook(hook);
        result
            .map_err(|payload| {
                self.failures
                    .push((label(row), what.to_owned(), panic_text(&*payload)));
            })
            .ok()
    }

    /// Which checks each row failed, the rows that passed, then every failure in full.
    fn summary(&self, rows: &[Row]) -> String {
        let mut failing = String::new();
        let mut passed = Vec::new();
        for label in rows.iter().map(label) {
            let checks: Vec<&str> = self
                .failures
                .iter()
                .filter(|(row, ..)| *row == label)
                .map(|(_, check, _)| check.as_str())
                .collect();
            if checks.is_empty() {
                passed.push(label);
            } else {
                failing.push_str(&format!("  {label}: {}\n", checks.join("; ")));
            }
        }
        let details: Vec<String> = self
            .failures
            .iter()
            .map(|(row, check, message)| format!("{row}: {check}: {message}"))
            .collect();
        format!(
            "{} of {} rows failed:\n{failing}rows that passed every check: {}\n\n{}",
            rows.len() - passed.len(),
            rows.len(),
            passed.join(", "),
            details.join("\n")
        )
    }
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| {
            payload
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
        })
        .unwrap_or_else(|| "(no message)".to_owned())
}

fn label(row: &Row) -> String {
    format!("{} as {}", row.install.name, row.caller.name())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `myopen-probe HELPER PATH FLAGS [DATA]` run by the row's caller.
fn probe(row: &Row, path: &Path, flags: i32, data: Option<&[u8]>) -> Output {
    let mut command = row.caller.command(it_probe());
    command
        .arg(row.install.helper())
        .arg(path)
        .arg(flags.to_string());
    if let Some(data) = data {
        command.arg(OsStr::from_bytes(data));
    }
    run(&mut command)
}

const REFUSING: &str = "openfile-helper: refusing to serve: ";

/// Fails unless the request came to `expected` and the helper said it refuses to serve exactly
/// when the row's state is `refused`.
fn assert_answer(row: &Row, output: &Output, expected: &Outcome, request: &str) {
    let stderr = text(&output.stderr);
    assert_eq!(outcome(output), *expected, "{request}; stderr: {stderr}");
    let refusing = stderr
        .lines()
        .find_map(|line| line.strip_prefix(REFUSING))
        .map(str::trim);
    match row.state {
        State::Refused => assert!(
            refusing.is_some_and(|state| !state.is_empty()),
            "{request}: no `{REFUSING}<the state found>` on stderr: {stderr}"
        ),
        _ => assert!(
            refusing.is_none(),
            "{request}: refuses to serve in state {}: {stderr}",
            row.state.word()
        ),
    }
}

/// The state word of a `privilege: <state>[ more]` line.
fn state_word(line: &str) -> &str {
    let state = line.strip_prefix("privilege: ").unwrap_or("");
    let end = state
        .find(|character: char| !(character.is_ascii_alphanumeric() || character == '-'))
        .unwrap_or(state.len());
    &state[..end]
}

/// The capability mask a `kept: ...` line names.
fn mask_named(kept_line: &str) -> Result<u64, String> {
    let names = kept_line
        .strip_prefix("kept: ")
        .ok_or_else(|| format!("{kept_line:?} is not a `kept:` line"))?;
    if names == "none" {
        return Ok(0);
    }
    names.split(',').try_fold(0, |mask, name| match name {
        "cap_dac_read_search" => Ok(mask | CAP_DAC_READ_SEARCH),
        "cap_dac_override" => Ok(mask | CAP_DAC_OVERRIDE),
        other => Err(format!("{other:?} is not a capability the helper may keep")),
    })
}

/// `--version` and `--check` against the row's state and kept capabilities.
fn check_admin_output(findings: &mut Findings, row: &Row) {
    let helper = row.install.helper();
    let version = run(row.caller.command(&helper).arg("--version"));
    let said = format!("{}{}", text(&version.stdout), text(&version.stderr));
    let stdout = text(&version.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let privilege_at = lines
        .iter()
        .position(|line| line.starts_with("privilege: "));
    let privilege_line = privilege_at.map(|at| lines[at]);

    findings.check(row, "--version privilege:", || {
        let line = privilege_line.unwrap_or_else(|| panic!("no `privilege:` line in:\n{said}"));
        assert_eq!(state_word(line), row.state.word(), "{line:?}");
    });
    let kept_line = privilege_at.and_then(|at| lines.get(at + 1).copied());
    findings.check(row, "--version kept:", || {
        assert_eq!(
            kept_line,
            Some(row.kept.line()),
            "the line after {privilege_line:?}"
        );
    });
    let permitted = lines
        .iter()
        .find_map(|line| line.strip_prefix("process CapPrm: "))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok());
    findings.check(row, "--version CapPrm agrees with kept:", || {
        let permitted = permitted.unwrap_or_else(|| panic!("no `process CapPrm:` in:\n{said}"));
        let named = kept_line
            .ok_or_else(|| "no line after `privilege:`".to_owned())
            .and_then(mask_named)
            .unwrap_or_else(|error| panic!("{error} (CapPrm {permitted:#x})"));
        assert_eq!(permitted, named, "CapPrm {permitted:#x} vs {kept_line:?}");
        assert_eq!(
            permitted,
            row.kept.mask(),
            "CapPrm {permitted:#x}, the install keeps {:?}",
            row.kept
        );
    });
    findings.check(row, "--check's first line", || {
        let check = run(row.caller.command(&helper).arg("--check"));
        let first = text(&check.stdout).lines().next().map(str::to_owned);
        assert_eq!(
            first.as_deref(),
            privilege_line,
            "--check said:\n{}{}",
            text(&check.stdout),
            text(&check.stderr)
        );
    });
}

/// The requests a row is tried with: the granted read, then, for each file owner the caller is a
/// stranger to, reading the secret, overwriting and truncating the victim, creating a file. Each
/// request is two checks: that nothing leaked or changed (`kept out`), and that the answer is the
/// one the row's state documents (`answer`).
fn check_requests(findings: &mut Findings, row: &Row, targets: &Targets) {
    let refused = Outcome::Errno(row.state.refusal());
    let (_, granted, content) = targets
        .granted
        .iter()
        .find(|(owner, ..)| *owner == row.caller.granted_owner())
        .expect("a granted file for every caller");
    findings.check(row, "the granted read: answer", || {
        let expected = match row.state {
            State::Governed => Outcome::opened(content),
            State::Unprivileged | State::Refused => refused.clone(),
        };
        let output = probe(row, granted, libc::O_RDONLY, None);
        let request = format!("reading {}", granted.display());
        assert_answer(row, &output, &expected, &request);
    });

    for stranger in targets
        .outside
        .iter()
        .filter(|targets| row.caller.strangers().contains(&targets.stranger))
    {
        let owner = stranger.stranger.name();
        let secret = &stranger.secret;
        let what = format!("{owner}'s secret");
        let output = findings.check(row, &what, || {
            probe(row, &secret.path, libc::O_RDONLY, None)
        });
        if let Some(output) = output {
            findings.check(row, &format!("{what}: kept out"), || {
                secret.assert_not_in_output(&output);
            });
            findings.check(row, &format!("{what}: answer"), || {
                assert_answer(row, &output, &refused, "reading the secret");
            });
        }

        for (flags, how) in [
            (libc::O_WRONLY | libc::O_TRUNC, "O_WRONLY|O_TRUNC"),
            (libc::O_RDWR, "O_RDWR"),
        ] {
            let what = format!("{owner}'s file {how}");
            let output = findings.check(row, &what, || {
                // Each row starts from the same content, whatever an earlier row did to it.
                fs::write(&stranger.victim, VICTIM).expect("restore the victim");
                let before = FileState::capture(&stranger.victim);
                let output = probe(row, &stranger.victim, flags, Some(b"OVERWRITTEN\n"));
                (before, output)
            });
            if let Some((before, output)) = output {
                findings.check(row, &format!("{what}: kept out"), || {
                    before.assert_unchanged(&stranger.victim, how);
                });
                findings.check(row, &format!("{what}: answer"), || {
                    assert_answer(row, &output, &refused, how);
                });
            }
        }

        let what = format!("a new file in {owner}'s directory");
        let new =
            stranger
                .directory
                .join(format!("new-{}-{}", row.install.name, row.caller.name()));
        let output = findings.check(row, &what, || {
            let data = Some(b"CREATED\n".as_slice());
            probe(row, &new, libc::O_WRONLY | libc::O_CREAT, data)
        });
        if let Some(output) = output {
            findings.check(row, &format!("{what}: kept out"), || {
                assert!(
                    fs::symlink_metadata(&new).is_err(),
                    "{} was created",
                    new.display()
                );
            });
            findings.check(row, &format!("{what}: answer"), || {
                assert_answer(row, &output, &refused, "O_WRONLY|O_CREAT");
            });
        }
    }
}

/// The capability-less root rows mean something only if that caller really is uid 0 with no
/// capability and SECBIT_NOROOT.
fn assert_capability_less_root() {
    let output = run(CapabilityLessRoot
        .command("/bin/cat")
        .arg("/proc/self/status"));
    let status = text(&output.stdout);
    let field = |key: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .map(|value| value.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| panic!("no {key} in /proc/self/status: {status}"))
    };
    assert_eq!(field("Uid:"), "0 0 0 0", "the capability-less root's uids");
    for key in ["CapInh:", "CapPrm:", "CapEff:", "CapAmb:"] {
        assert_eq!(
            field(key),
            "0000000000000000",
            "the capability-less root's {key}"
        );
    }
}

#[test]
fn every_install_is_governed_unprivileged_or_refused_as_the_table_says() {
    let Some(env) = privileged_env!() else {
        return;
    };
    assert_capability_less_root();
    let targets = targets(&env);
    let _installs = Installs::make(ROWS);
    let mut findings = Findings::default();
    for row in ROWS {
        check_admin_output(&mut findings, row);
        check_requests(&mut findings, row, &targets);
    }
    assert!(findings.failures.is_empty(), "{}", findings.summary(ROWS));
}
