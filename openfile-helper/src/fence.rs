//! The kernel fence (issue 12): after the policy is loaded and before the first request, the
//! helper confines itself with Landlock to the paths its allow rules can grant, with the rights
//! their access words need, and with a seccomp allowlist to the system calls the request loop
//! makes. A logic bug in the decision code then meets an EACCES or EPERM from the kernel instead
//! of opening any file on the machine: Landlock applies even to a process holding
//! CAP_DAC_OVERRIDE.
//!
//! Two halves. [`roots`] is pure: a policy in, the Landlock roots and rights out, unit-tested on
//! a table of policies. [`enclose`] is the effect: it applies those roots and the seccomp filter
//! to the calling process, once, and records what it did for `--version`, `--explain` and the
//! audit line ([`current`]).
//!
//! The fence is drawn once per helper process from the policy loaded at its start. Landlock
//! cannot be widened once applied, so a session that rereads a changed policy enforces every
//! narrowing (a new deny, a removed allow) at once, in user space, while an allow rule outside the
//! fence it started with takes effect in the next helper process: every one-shot request, the next
//! session. Within the old session such a request is refused by the kernel (EACCES, origin
//! system), and `--explain` names the path as outside that session's fence.
//!
//! Deny rules stay in user space: Landlock only allows.

use std::collections::BTreeMap;
use std::fmt;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::fstat;

use crate::config;
use crate::policy::{Access, AccessSet, FileType, FileTypeSet, Identity, Policy, Rule, RuleKind};
use crate::privilege::{Need, Privilege};
use crate::sys;

/// Filesystem rights of one Landlock root, in the policy's terms; [`enclose`] maps them to the
/// running kernel's Landlock access bits.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Rights(u8);

impl Rights {
    pub const NONE: Rights = Rights(0);
    /// Open a file for reading.
    pub const READ_FILE: Rights = Rights(1);
    /// Open a directory (`types = ["dir"]`) or list it (the policy's drop-in directory).
    pub const READ_DIR: Rights = Rights(1 << 1);
    /// Open a file for writing or appending.
    pub const WRITE_FILE: Rights = Rights(1 << 2);
    /// O_TRUNC, and ftruncate on the descriptor handed out.
    pub const TRUNCATE: Rights = Rights(1 << 3);
    /// Create a regular file (`create`).
    pub const MAKE_REG: Rights = Rights(1 << 4);
    /// ioctl on a granted device: a tty's TCGETS (isatty) must keep working for the caller.
    pub const IOCTL_DEV: Rights = Rights(1 << 5);
    /// connect(2) to a pathname socket (the syslog socket), on kernels whose Landlock covers it.
    pub const RESOLVE_UNIX: Rights = Rights(1 << 6);

    /// What Landlock accepts on a root that is not a directory: directory rights there are an
    /// error (EINVAL), and they would mean nothing.
    pub const ON_A_FILE: Rights = Rights(1 | 1 << 2 | 1 << 3 | 1 << 5);

    const NAMES: [(Rights, &'static str); 7] = [
        (Rights::READ_FILE, "read-file"),
        (Rights::READ_DIR, "read-dir"),
        (Rights::WRITE_FILE, "write-file"),
        (Rights::TRUNCATE, "truncate"),
        (Rights::MAKE_REG, "make-reg"),
        (Rights::IOCTL_DEV, "ioctl-dev"),
        (Rights::RESOLVE_UNIX, "resolve-unix"),
    ];

    pub fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }

    pub fn intersection(self, other: Rights) -> Rights {
        Rights(self.0 & other.0)
    }

    pub fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The rights an allow rule's access words and types need, and no more.
    pub fn for_rule(access: AccessSet, types: FileTypeSet) -> Rights {
        let mut rights = Rights::NONE;
        if access.contains(Access::Read) {
            rights = rights.union(Rights::READ_FILE);
            if types.contains(FileType::Dir) {
                rights = rights.union(Rights::READ_DIR);
            }
        }
        if access.contains(Access::Write) || access.contains(Access::Append) {
            rights = rights.union(Rights::WRITE_FILE);
        }
        if access.contains(Access::Truncate) {
            rights = rights.union(Rights::TRUNCATE);
        }
        if access.contains(Access::Create) {
            rights = rights.union(Rights::MAKE_REG);
        }
        if types.contains(FileType::Char) || types.contains(FileType::Block) {
            rights = rights.union(Rights::IOCTL_DEV);
        }
        rights
    }
}

impl fmt::Display for Rights {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return formatter.write_str("none");
        }
        let words: Vec<&str> = Rights::NAMES
            .iter()
            .filter(|(right, _)| self.contains(*right))
            .map(|(_, name)| *name)
            .collect();
        formatter.write_str(&words.join(","))
    }
}

impl fmt::Debug for Rights {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Rights({self})")
    }
}

/// One Landlock root: the rights hold for `path` and everything beneath it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Root {
    pub path: PathBuf,
    pub rights: Rights,
}

/// What the helper itself must reach after the fence is up, whatever the policy says.
#[derive(Clone, Debug)]
pub struct HelperPaths {
    /// The policy tree a session rereads (`$SYSCONFDIR/myopen`): its files and `policy.d`.
    pub policy_dir: PathBuf,
    /// The syslog socket: reconnects after a syslog restart.
    pub syslog_socket: PathBuf,
    /// The user and group databases a policy reread resolves names through (NSS `files`).
    pub name_databases: Vec<PathBuf>,
}

impl HelperPaths {
    /// The paths of this build.
    pub fn installed() -> HelperPaths {
        HelperPaths {
            policy_dir: config::policy_dir(),
            syslog_socket: PathBuf::from(config::SYSLOG_SOCKET),
            name_databases: ["/etc/passwd", "/etc/group", "/etc/nsswitch.conf"]
                .into_iter()
                .map(PathBuf::from)
                .collect(),
        }
    }
}

/// The literal directory prefix of an absolute glob: its components before the first one with a
/// wildcard. The flag says whether the whole glob is literal (a rule on a single path).
pub fn literal_prefix(glob: &str) -> (PathBuf, bool) {
    let mut prefix = PathBuf::from("/");
    for component in glob.split('/').filter(|component| !component.is_empty()) {
        if component.contains('*') {
            return (prefix, false);
        }
        prefix.push(component);
    }
    (prefix, true)
}

/// What a helper process still needs from the filesystem once its fence is drawn.
#[derive(Clone, Copy, Debug)]
pub enum Serving<'a> {
    /// The one request of a one-shot helper, from `caller`: the allow rules that can match the
    /// caller and the syslog socket's directory. A one-shot helper reads its policy and looks up
    /// every name before the fence, and never again.
    OneRequest { caller: &'a Identity },
    /// Requests for as long as the process lives (a session, a daemon's worker): every allow rule
    /// that can match someone, the policy tree and the user and group databases (the policy is
    /// read again when it changes), and the syslog socket's directory.
    Requests,
}

/// The Landlock roots for `policy` (`None`: no usable policy, so only the helper's own needs) for
/// a helper that keeps serving requests ([`Serving::Requests`]), merged by path, in path order.
///
/// Each allow rule that can match someone contributes its literal prefix with
/// [`Rights::for_rule`]. A literal rule that may create gets its parent directory instead: the
/// file it names may not exist yet, and creating it is an operation on the directory.
pub fn roots(policy: Option<&Policy>, helper: &HelperPaths) -> Vec<Root> {
    roots_serving(policy, Serving::Requests, helper)
}

/// The Landlock roots for `policy` and what the helper is `serving`: for one request, only the
/// roots of the allow rules that can match its caller (nothing else could grant it anything) and
/// the syslog socket's directory; for [`Serving::Requests`], those of [`roots`].
pub fn roots_serving(
    policy: Option<&Policy>,
    serving: Serving<'_>,
    helper: &HelperPaths,
) -> Vec<Root> {
    let mut merged: BTreeMap<PathBuf, Rights> = BTreeMap::new();
    let mut add = |path: PathBuf, rights: Rights| {
        if !rights.is_empty() {
            let entry = merged.entry(path).or_default();
            *entry = entry.union(rights);
        }
    };
    let mut add_rule = |rule: &Rule| {
        let types = rule.types.unwrap_or(FileTypeSet::ALL);
        let rights = Rights::for_rule(rule.access, types);
        let (prefix, whole) = literal_prefix(rule.path.as_str());
        let root = match (whole, rights.contains(Rights::MAKE_REG)) {
            (true, true) => prefix.parent().map(Path::to_path_buf).unwrap_or(prefix),
            _ => prefix,
        };
        add(root, rights);
    };
    if let Some(policy) = policy {
        // A compiled rule that does not decode leaves its root and those after it out: a
        // narrower fence, and the decisions that need that rule refuse anyway.
        let _ = match serving {
            Serving::OneRequest { caller } => policy.for_each_grant_to(caller, &mut add_rule),
            Serving::Requests => policy.for_each_rule(
                &|kind, subjects| kind == RuleKind::Allow && !subjects.is_nobody(),
                &mut add_rule,
            ),
        };
    }
    if let Some(parent) = helper.syslog_socket.parent() {
        // The directory, not the socket: syslog daemons replace their socket when they restart.
        add(parent.to_path_buf(), Rights::RESOLVE_UNIX);
    }
    if matches!(serving, Serving::Requests) {
        add(
            helper.policy_dir.clone(),
            Rights::READ_FILE.union(Rights::READ_DIR),
        );
        for database in &helper.name_databases {
            add(database.clone(), Rights::READ_FILE);
        }
    }
    merged
        .into_iter()
        .map(|(path, rights)| Root { path, rights })
        .collect()
}

/// Whether opening `path` with `rights` lies inside `roots` (Landlock's rule: some root at or
/// above the path carries all the rights; rights of several roots add up along the path).
pub fn covers(roots: &[Root], path: &Path, rights: Rights) -> bool {
    let granted = roots
        .iter()
        .filter(|root| path.starts_with(&root.path))
        .fold(Rights::NONE, |granted, root| granted.union(root.rights));
    granted.contains(rights)
}

// ---------------------------------------------------------------------------------------------
// The effect

/// How Landlock stands in this process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LandlockState {
    /// Applied, with the kernel's ABI version; `partial` when the kernel knew only some of the
    /// rights (best effort across ABI versions).
    Enforced { abi: i32, partial: bool },
    /// Not applied: why (no Landlock in the kernel, disabled at boot, the test build's switch,
    /// a helper with no policy to draw from).
    Off(String),
}

/// How seccomp stands in this process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeccompState {
    /// The request loop's allowlist; any other call fails with EPERM and is logged by the kernel.
    Allowlist {
        calls: usize,
    },
    Off(String),
}

/// The fence this process is under.
#[derive(Clone, Debug)]
pub struct FenceState {
    pub landlock: LandlockState,
    pub seccomp: SeccompState,
    /// The roots applied (empty when Landlock is off).
    pub roots: Vec<Root>,
    /// What each root named when the fence was drawn ([`Inode`]; `None`: nothing, so nothing
    /// beneath it is reachable): Landlock holds a root by that inode, not by its path, so a root
    /// replaced by rename is out of reach from then on. Empty unless Landlock is in force.
    pub held: Held,
}

/// Each root's path and what it named when the fence was drawn.
pub type Held = Vec<(PathBuf, Option<Inode>)>;

/// A file's identity: its device and inode number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inode {
    pub device: u64,
    pub inode: u64,
}

impl Inode {
    /// What `path` names now, as the fence would have held it (`None`: nothing, or a symbolic
    /// link, which the fence never follows). By lstat, which Landlock does not restrict: a
    /// fenced process can tell where its fence no longer reaches.
    pub fn of(path: &Path) -> Option<Inode> {
        let stat = nix::sys::stat::lstat(path).ok()?;
        (stat.st_mode & libc::S_IFMT != libc::S_IFLNK).then_some(Inode {
            device: stat.st_dev,
            inode: stat.st_ino,
        })
    }
}

impl FenceState {
    /// The first of `paths` that is a root of this fence and names something else now than
    /// when the fence was drawn (replaced by rename, as useradd and vipw replace /etc/passwd):
    /// the fence no longer reaches what the path names, and never will in this process.
    pub fn replaced<'a>(&self, paths: &'a [PathBuf]) -> Option<&'a Path> {
        paths
            .iter()
            .find(|path| {
                self.held
                    .iter()
                    .any(|(root, then)| root == *path && Inode::of(path) != *then)
            })
            .map(PathBuf::as_path)
    }
}

impl FenceState {
    /// The audit line's `fence=` field: `landlock-v7+seccomp`, `off`, ...
    pub fn summary(&self) -> String {
        let landlock = match &self.landlock {
            // `partial` is left out: best effort asks for rights newer than most kernels know.
            LandlockState::Enforced { abi, .. } => Some(format!("landlock-v{abi}")),
            LandlockState::Off(_) => None,
        };
        let seccomp = matches!(self.seccomp, SeccompState::Allowlist { .. }).then_some("seccomp");
        match (landlock, seccomp) {
            (Some(landlock), Some(seccomp)) => format!("{landlock}+{seccomp}"),
            (Some(landlock), None) => landlock,
            (None, Some(seccomp)) => seccomp.to_owned(),
            (None, None) => "off".to_owned(),
        }
    }
}

static FENCE: OnceLock<FenceState> = OnceLock::new();

/// The fence this process is under, once [`enclose`] has run.
pub fn current() -> Option<&'static FenceState> {
    FENCE.get()
}

/// Why the fence could not be applied: the helper then serves nothing.
#[derive(Debug)]
pub struct FenceError(pub String);

impl fmt::Display for FenceError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// The one call for "policy loaded, now fence this process" (one-shot, session, daemon worker):
/// Landlock from `policy` and what the process is `serving` when the helper is `governed` by one
/// (`policy: None` for a governed helper whose policy is unusable: nothing but its own needs),
/// then the seccomp allowlist.
/// A helper that is not governed (the caller's own rights, or root's) has no policy to draw a
/// fence from and gets the seccomp filter only.
///
/// Call it once per process, after everything that needs more than the request loop does
/// (sockets created, the caller's names looked up). A second call changes nothing and returns
/// the first fence. Where the kernel has no Landlock the helper works as before and says so.
pub fn enclose(
    policy: Option<&Policy>,
    governed: bool,
    privilege: &Privilege,
    serving: Serving<'_>,
    helper: &HelperPaths,
) -> Result<&'static FenceState, FenceError> {
    draw(policy, governed, privilege, serving, helper, &|| {
        install_allowlist(&SECCOMP_PROGRAM)
    })
}

/// Arms an idle `myopend` worker before any connection arrives: [`ARMED_PROGRAM`], the request
/// loop's allowlist with the calls of the hand-over ([`SWITCH_CALLS`]). Its fence is then drawn
/// with [`enclose_armed`] once it has become its peer.
pub fn arm() -> Result<(), FenceError> {
    if fault::switches().no_fence {
        return Ok(());
    }
    install_allowlist(&ARMED_PROGRAM).map(drop)
}

/// [`enclose`] for a `myopend` worker armed with [`arm`]: Landlock as for any helper serving
/// [`Serving::Requests`], then [`SWITCH_CLOSED_PROGRAM`] stacked on the armed filter, which
/// takes the hand-over's calls away again: from here on the worker is under the request loop's
/// allowlist exactly, as every other helper.
pub fn enclose_armed(
    policy: Option<&Policy>,
    governed: bool,
    privilege: &Privilege,
    helper: &HelperPaths,
) -> Result<&'static FenceState, FenceError> {
    draw(
        policy,
        governed,
        privilege,
        Serving::Requests,
        helper,
        &|| {
            sys::install_seccomp_filter(&SWITCH_CLOSED_PROGRAM).map_err(|errno| {
                FenceError(format!(
                    "cannot take the hand-over's system calls away: {}",
                    errno.desc()
                ))
            })?;
            Ok(REQUEST_LOOP_CALLS.len())
        },
    )
}

fn draw(
    policy: Option<&Policy>,
    governed: bool,
    privilege: &Privilege,
    serving: Serving<'_>,
    helper: &HelperPaths,
    seccomp: &dyn Fn() -> Result<usize, FenceError>,
) -> Result<&'static FenceState, FenceError> {
    if let Some(state) = FENCE.get() {
        return Ok(state);
    }
    let switches = fault::switches();
    let mut state = FenceState {
        landlock: LandlockState::Off("not governed by a policy".to_owned()),
        seccomp: SeccompState::Off("disabled by the test build's switch".to_owned()),
        roots: Vec::new(),
        held: Vec::new(),
    };
    if switches.no_fence {
        state.landlock = LandlockState::Off("disabled by the test build's switch".to_owned());
        return Ok(FENCE.get_or_init(|| state));
    }
    if governed {
        let roots = roots_serving(policy, serving, helper);
        let mut held = Vec::new();
        state.landlock = if switches.no_landlock {
            LandlockState::Off("disabled by the test build's switch (simulated kernel)".to_owned())
        } else {
            let landlock;
            (landlock, held) = apply_landlock(&roots, privilege)?;
            landlock
        };
        // Only a fence in force holds anything by its inode.
        if matches!(state.landlock, LandlockState::Enforced { .. }) {
            state.roots = roots;
            state.held = held;
        }
    }
    let calls = seccomp()?;
    state.seccomp = SeccompState::Allowlist { calls };
    Ok(FENCE.get_or_init(|| state))
}

/// The running kernel's Landlock, for `--version` before any fence is drawn: its ABI version,
/// or why there is none.
pub fn kernel_landlock() -> Result<i32, String> {
    match sys::landlock_abi_version() {
        Ok(version) => Ok(version),
        Err(Errno::EOPNOTSUPP) => Err("Landlock is disabled in this kernel".to_owned()),
        Err(Errno::ENOSYS) => Err("this kernel has no Landlock".to_owned()),
        Err(errno) => Err(format!("Landlock probe failed: {}", errno.desc())),
    }
}

fn landlock_access(rights: Rights) -> landlock::BitFlags<landlock::AccessFs> {
    use landlock::AccessFs;
    let pairs = [
        (Rights::READ_FILE, AccessFs::ReadFile),
        (Rights::READ_DIR, AccessFs::ReadDir),
        (Rights::WRITE_FILE, AccessFs::WriteFile),
        (Rights::TRUNCATE, AccessFs::Truncate),
        (Rights::MAKE_REG, AccessFs::MakeReg),
        (Rights::IOCTL_DEV, AccessFs::IoctlDev),
        (Rights::RESOLVE_UNIX, AccessFs::ResolveUnix),
    ];
    pairs
        .into_iter()
        .filter(|(right, _)| rights.contains(*right))
        .fold(landlock::BitFlags::empty(), |flags, (_, access)| {
            flags | access
        })
}

/// Opens a root as an `O_PATH` descriptor without following a symbolic link anywhere on the way:
/// the policy judges canonical paths, so a prefix through a link grants nothing, and a link a
/// user planted there must not move the fence. Search permission may need CAP_DAC_READ_SEARCH.
fn open_root(path: &Path, privilege: &Privilege) -> Result<OwnedFd, Errno> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    privilege.with_if_refused(Need::ReadSearch, || openat2(AT_FDCWD, path, how))
}

/// Landlock's state, and what each root named ([`FenceState::held`]).
fn apply_landlock(
    roots: &[Root],
    privilege: &Privilege,
) -> Result<(LandlockState, Held), FenceError> {
    use landlock::{
        ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, PathBeneath, RulesetAttr,
        RulesetCreatedAttr, RulesetStatus, Scope,
    };
    let abi = match kernel_landlock() {
        Ok(abi) => abi,
        Err(why) => return Ok((LandlockState::Off(why), Vec::new())),
    };
    let failed = |what: &str, error: &dyn fmt::Display| {
        FenceError(format!("cannot apply the Landlock fence: {what}: {error}"))
    };
    // Every right and scope the crate knows is handled (best effort drops what the running
    // kernel lacks); only the roots below grant any. Execute, every make-* but make-reg, removal,
    // rename, TCP bind and connect, signals and abstract sockets outside the helper: none.
    let latest = ABI::V9;
    let mut ruleset = landlock::Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(latest))
        .and_then(|ruleset| ruleset.handle_access(AccessNet::from_all(latest)))
        .and_then(|ruleset| ruleset.scope(Scope::from_all(latest)))
        .and_then(|ruleset| ruleset.create())
        .map_err(|error| failed("creating the ruleset", &error))?;
    let mut held = Vec::new();
    for root in roots {
        let fd = match open_root(&root.path, privilege) {
            Ok(fd) => fd,
            // Nothing there (yet): nothing beneath it can be opened, which the fence then says.
            Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP | Errno::EXDEV) => {
                held.push((root.path.clone(), None));
                continue;
            }
            Err(errno) => return Err(failed(&root.path.display().to_string(), &errno.desc())),
        };
        let stat =
            fstat(&fd).map_err(|errno| failed(&root.path.display().to_string(), &errno.desc()))?;
        held.push((
            root.path.clone(),
            Some(Inode {
                device: stat.st_dev,
                inode: stat.st_ino,
            }),
        ));
        let is_directory = stat.st_mode & libc::S_IFMT == libc::S_IFDIR;
        let rights = match is_directory {
            true => root.rights,
            false => root.rights.intersection(Rights::ON_A_FILE),
        };
        if rights.is_empty() {
            continue;
        }
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, landlock_access(rights)))
            .map_err(|error| failed(&root.path.display().to_string(), &error))?;
    }
    let status = ruleset
        .restrict_self()
        .map_err(|error| failed("landlock_restrict_self", &error))?;
    let state = match status.ruleset {
        RulesetStatus::FullyEnforced => LandlockState::Enforced {
            abi,
            partial: false,
        },
        RulesetStatus::PartiallyEnforced => LandlockState::Enforced { abi, partial: true },
        RulesetStatus::NotEnforced => LandlockState::Off(format!(
            "Landlock ABI {abi} enforced none of the requested rights"
        )),
    };
    Ok((state, held))
}

/// The system calls the request loop makes, and nothing else: receiving requests and sending
/// replies with descriptors, resolving (openat2, the O_NOFOLLOW walk, readlink through
/// /proc/self/fd, fstat) and reopening, the policy reread (getdents, read, the resource limits it
/// pins), the capability raise and lower, the audit datagram and its reconnect (on the socket made
/// before the fence: no socket(2) afterwards), allocation, and exit.
pub(crate) const REQUEST_LOOP_CALLS: &[libc::c_long] = &[
    // requests and replies
    libc::SYS_recvmsg,
    libc::SYS_recvfrom,
    libc::SYS_sendmsg,
    libc::SYS_sendto,
    libc::SYS_getsockopt,
    libc::SYS_setsockopt,
    libc::SYS_getsockname,
    libc::SYS_connect,
    libc::SYS_poll,
    libc::SYS_ppoll,
    // resolution and the open
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_open,
    libc::SYS_newfstatat,
    libc::SYS_fstat,
    libc::SYS_stat,
    libc::SYS_lstat,
    libc::SYS_statx,
    // The procfs check before a canonical path is read from /proc/self/fd (resolve.rs), and the
    // fallback walk's magic-link check.
    libc::SYS_fstatfs,
    libc::SYS_statfs,
    libc::SYS_readlink,
    libc::SYS_readlinkat,
    libc::SYS_fcntl,
    libc::SYS_close,
    libc::SYS_close_range,
    libc::SYS_dup,
    // policy reread and name lookups
    libc::SYS_getdents64,
    libc::SYS_read,
    libc::SYS_pread64,
    libc::SYS_lseek,
    libc::SYS_getrlimit,
    libc::SYS_setrlimit,
    libc::SYS_prlimit64,
    // capabilities around an open, and the process's own ids
    libc::SYS_capget,
    libc::SYS_capset,
    libc::SYS_prctl,
    libc::SYS_getuid,
    libc::SYS_geteuid,
    libc::SYS_getgid,
    libc::SYS_getegid,
    libc::SYS_getgroups,
    libc::SYS_getpid,
    libc::SYS_gettid,
    // a relative path is the caller's working directory, which a helper inherits (it only reads
    // the name of the directory the process is already in)
    libc::SYS_getcwd,
    // messages on stderr
    libc::SYS_write,
    libc::SYS_writev,
    // the Rust runtime and libc
    libc::SYS_brk,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mremap,
    libc::SYS_madvise,
    libc::SYS_mprotect,
    libc::SYS_futex,
    libc::SYS_getrandom,
    libc::SYS_clock_gettime,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_sched_yield,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_sigaltstack,
    libc::SYS_restart_syscall,
    libc::SYS_exit,
    libc::SYS_exit_group,
    // abort() on a panic: raise SIGABRT at itself (glibc with tgkill, musl with tkill)
    libc::SYS_tgkill,
    libc::SYS_tkill,
    libc::SYS_rt_sigaction,
];

/// The `AUDIT_ARCH_*` value (linux/audit.h) the kernel reports for this build's system calls,
/// for the architectures whose system call numbers `libc` gives here; `None` elsewhere, where
/// the helper refuses to run unfenced (see [`install_allowlist`]).
const AUDIT_ARCH: Option<u32> = if cfg!(target_arch = "x86_64") {
    Some(62 | 0x8000_0000 | 0x4000_0000) // EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
} else if cfg!(target_arch = "aarch64") {
    Some(183 | 0x8000_0000 | 0x4000_0000) // EM_AARCH64
} else if cfg!(target_arch = "riscv64") {
    Some(243 | 0x8000_0000 | 0x4000_0000) // EM_RISCV
} else {
    None
};

/// Offsets in `struct seccomp_data`: the system call number, then the architecture.
const SECCOMP_DATA_NR: u32 = 0;
const SECCOMP_DATA_ARCH: u32 = 4;

/// Instructions before the first system call comparison: load the architecture, compare,
/// kill on a mismatch, load the number.
const PROLOGUE_LENGTH: usize = 4;

/// What a `myopend` worker calls between its hand-over and serving, beyond the request loop:
/// the credential switch (setgroups, setresgid, setresuid and its check), the caller's user and
/// group lookups (an NSS source other than `files` may open a socket or probe a path with
/// access(2), as a benchmark's worker was seen doing under the armed filter; an NSS module whose
/// probe is refused may skip its groups without an error, and denies match listed groups), the
/// Landlock fence, the shutdown(2) of a connection refused in place of its hello (whose request,
/// sent with the connect, is then discarded: `daemon::refuse`), and the stacking of the filter
/// that takes all of these away again ([`SWITCH_CLOSED_PROGRAM`]).
/// An idle worker arms itself with [`ARMED_PROGRAM`], which admits these too, before any
/// connection arrives.
pub(crate) const SWITCH_CALLS: &[libc::c_long] = &[
    libc::SYS_setgroups,
    libc::SYS_setresgid,
    libc::SYS_setresuid,
    libc::SYS_getresuid,
    libc::SYS_getresgid,
    libc::SYS_socket,
    libc::SYS_access,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_shutdown,
    libc::SYS_landlock_create_ruleset,
    libc::SYS_landlock_add_rule,
    libc::SYS_landlock_restrict_self,
    libc::SYS_seccomp,
];

/// Calls a leaf of a filter's search compares one by one.
const LEAF_CALLS: usize = 4;

/// Instructions of the search over `calls` sorted call numbers: a leaf compares each of its
/// calls for equality; a node above it compares once (greater or equal) and goes to one half.
/// So a call is decided within about log2(calls) + [`LEAF_CALLS`] comparisons. The kernel runs
/// every filter once for each system call number of each architecture when it installs it (its
/// action cache, with interrupts off): a chain of one comparison per call made that about 200 us
/// of every helper's start-up (the 73-instruction chain; DESIGN.md, "The kernel fence").
const fn search_length(calls: usize) -> usize {
    if calls <= LEAF_CALLS {
        calls
    } else {
        1 + search_length(calls / 2) + search_length(calls - calls / 2)
    }
}

/// Instructions of an allowlist of `calls` distinct system calls: the prologue, the search, the
/// refusal and the permission.
const fn allowlist_length(calls: usize) -> usize {
    PROLOGUE_LENGTH + search_length(calls) + 2
}

/// Instructions of [`SECCOMP_PROGRAM`].
pub(crate) const SECCOMP_PROGRAM_LENGTH: usize = allowlist_length(REQUEST_LOOP_CALLS.len());

/// Instructions of [`ARMED_PROGRAM`].
const ARMED_PROGRAM_LENGTH: usize = allowlist_length(REQUEST_LOOP_CALLS.len() + SWITCH_CALLS.len());

/// Instructions of [`SWITCH_CLOSED_PROGRAM`]: load the number, the search, the permission and
/// the refusal.
const SWITCH_CLOSED_LENGTH: usize = 1 + search_length(SWITCH_CALLS.len()) + 2;

const fn bpf_statement(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

/// The refusal every filter here returns: EPERM (logged by the kernel, SECCOMP_FILTER_FLAG_LOG).
const REFUSE: u32 = libc::SECCOMP_RET_ERRNO | (libc::EPERM as u32 & libc::SECCOMP_RET_DATA);

/// The seccomp filter for [`REQUEST_LOOP_CALLS`], built by the compiler: it is the same for
/// every helper, so no helper spends its start-up compiling it (seccompiler did, at every exec:
/// about 74,000 instructions, and a program of five instructions per call, for the kernel to
/// check, JIT and run through for every call number at every exec). A system call of another
/// architecture (a 32-bit one on a 64-bit kernel) kills the process, as seccompiler's filters
/// do; every call not in the list, an x32 one (whose number has bit 30 set) included, fails
/// with EPERM.
///
/// `fence::tests` checks that it decides every system call as seccompiler's compilation of the
/// same list does.
pub(crate) const SECCOMP_PROGRAM: [libc::sock_filter; SECCOMP_PROGRAM_LENGTH] =
    allowlist(REQUEST_LOOP_CALLS, &[]);

/// The filter an idle `myopend` worker installs before any connection arrives:
/// [`REQUEST_LOOP_CALLS`] and [`SWITCH_CALLS`]. Right after the credential switch and the
/// Landlock fence the worker stacks [`SWITCH_CLOSED_PROGRAM`] on it, so that it serves under
/// exactly [`SECCOMP_PROGRAM`]'s allowlist (the kernel applies the stricter answer of the two).
pub(crate) const ARMED_PROGRAM: [libc::sock_filter; ARMED_PROGRAM_LENGTH] =
    allowlist(REQUEST_LOOP_CALLS, SWITCH_CALLS);

/// [`SWITCH_CALLS`] refused, everything else left to the filter below it ([`ARMED_PROGRAM`],
/// which already killed a foreign architecture and refused what it does not list).
pub(crate) const SWITCH_CLOSED_PROGRAM: [libc::sock_filter; SWITCH_CLOSED_LENGTH] = {
    use libc::{BPF_ABS, BPF_K, BPF_LD, BPF_RET, BPF_W};
    let (sorted, calls) = sorted_calls(SWITCH_CALLS, &[]);
    let mut program = [bpf_statement(BPF_RET | BPF_K, REFUSE); SWITCH_CLOSED_LENGTH];
    program[0] = bpf_statement(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_NR);
    let unmatched = SWITCH_CLOSED_LENGTH - 2;
    let matched = SWITCH_CLOSED_LENGTH - 1;
    search(&mut program, 1, &sorted, 0, calls, matched, unmatched);
    program[unmatched] = bpf_statement(BPF_RET | BPF_K, libc::SECCOMP_RET_ALLOW);
    // program[matched] is the refusal the array was filled with.
    program
};

/// The most calls one filter lists: its jumps are one byte.
const MAX_FILTER_CALLS: usize = 128;

/// The calls of `first` and `second` (which must be disjoint), sorted, and how many there are.
const fn sorted_calls(
    first: &[libc::c_long],
    second: &[libc::c_long],
) -> ([u32; MAX_FILTER_CALLS], usize) {
    let count = first.len() + second.len();
    assert!(count <= MAX_FILTER_CALLS, "too many calls for one filter");
    let mut sorted = [0_u32; MAX_FILTER_CALLS];
    let mut index = 0;
    while index < count {
        let call = if index < first.len() {
            first[index]
        } else {
            second[index - first.len()]
        };
        assert!(call >= 0 && call <= u32::MAX as libc::c_long);
        // Disjoint lists: the two filters of an armed worker must add up to the request loop's
        // allowlist, and a search needs distinct numbers.
        let mut earlier = 0;
        while earlier < index {
            assert!(sorted[earlier] != call as u32, "a call listed twice");
            earlier += 1;
        }
        // Insertion into the sorted prefix.
        let mut position = index;
        while position > 0 && sorted[position - 1] > call as u32 {
            sorted[position] = sorted[position - 1];
            position -= 1;
        }
        sorted[position] = call as u32;
        index += 1;
    }
    (sorted, count)
}

/// Writes at `at` the search over `sorted[low..high]`: a call among them jumps to `matched`,
/// any other to `unmatched` (both absolute, after the search). Its length is
/// [`search_length`]`(high - low)`; with no calls it is empty and falls through to `unmatched`,
/// which must then come right after it.
const fn search<const LENGTH: usize>(
    program: &mut [libc::sock_filter; LENGTH],
    at: usize,
    sorted: &[u32; MAX_FILTER_CALLS],
    low: usize,
    high: usize,
    matched: usize,
    unmatched: usize,
) {
    use libc::{BPF_JEQ, BPF_JGE, BPF_JMP, BPF_K};
    let calls = high - low;
    if calls <= LEAF_CALLS {
        let mut index = 0;
        while index < calls {
            let here = at + index;
            let last = index + 1 == calls;
            program[here] = libc::sock_filter {
                code: (BPF_JMP | BPF_JEQ | BPF_K) as u16,
                jt: jump(here, matched),
                jf: if last { jump(here, unmatched) } else { 0 },
                k: sorted[low + index],
            };
            index += 1;
        }
        return;
    }
    let middle = low + calls / 2;
    let lower_length = search_length(middle - low);
    program[at] = libc::sock_filter {
        code: (BPF_JMP | BPF_JGE | BPF_K) as u16,
        jt: jump(at, at + 1 + lower_length),
        jf: 0,
        k: sorted[middle],
    };
    search(program, at + 1, sorted, low, middle, matched, unmatched);
    search(
        program,
        at + 1 + lower_length,
        sorted,
        middle,
        high,
        matched,
        unmatched,
    );
}

/// The offset of a forward jump from the instruction at `from` to the one at `to`.
const fn jump(from: usize, to: usize) -> u8 {
    assert!(
        to > from && to - from - 1 <= u8::MAX as usize,
        "a jump out of reach"
    );
    (to - from - 1) as u8
}

/// An allowlist of the calls in `first` and `second`, which must be disjoint: the architecture
/// checked (another one kills the process), each listed call allowed, every other refused.
const fn allowlist<const LENGTH: usize>(
    first: &[libc::c_long],
    second: &[libc::c_long],
) -> [libc::sock_filter; LENGTH] {
    use libc::{BPF_ABS, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W};
    let (sorted, calls) = sorted_calls(first, second);
    assert!(LENGTH == allowlist_length(calls));
    let mut program = [bpf_statement(BPF_RET | BPF_K, REFUSE); LENGTH];
    program[0] = bpf_statement(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_ARCH);
    program[1] = libc::sock_filter {
        code: (BPF_JMP | BPF_JEQ | BPF_K) as u16,
        jt: 1,
        jf: 0,
        // An architecture without a value never gets here: install_allowlist refuses first.
        k: match AUDIT_ARCH {
            Some(arch) => arch,
            None => 0,
        },
    };
    program[2] = bpf_statement(BPF_RET | BPF_K, libc::SECCOMP_RET_KILL_PROCESS);
    program[3] = bpf_statement(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_NR);
    let refused = LENGTH - 2;
    let allowed = LENGTH - 1;
    search(
        &mut program,
        PROLOGUE_LENGTH,
        &sorted,
        0,
        calls,
        allowed,
        refused,
    );
    // program[refused] is the refusal the array was filled with.
    program[allowed] = bpf_statement(BPF_RET | BPF_K, libc::SECCOMP_RET_ALLOW);
    program
}

/// Installs `program`, an allowlist of [`REQUEST_LOOP_CALLS`] (and more, for an armed worker),
/// and returns how many calls the request loop may make.
fn install_allowlist(program: &[libc::sock_filter]) -> Result<usize, FenceError> {
    let failed = |why: &str| FenceError(format!("cannot apply the seccomp allowlist: {why}"));
    if AUDIT_ARCH.is_none() {
        return Err(failed(&format!(
            "no seccomp architecture value for {}",
            std::env::consts::ARCH
        )));
    }
    sys::install_seccomp_filter(program).map_err(|errno| failed(errno.desc()))?;
    Ok(REQUEST_LOOP_CALLS.len())
}

/// What Landlock would be for a helper started now, before it is drawn: off and why, or the ABI.
fn planned_landlock(governed: bool) -> Result<i32, String> {
    let switches = fault::switches();
    if switches.no_fence || switches.no_landlock {
        return Err("disabled by the test build's switch (as on a kernel without Landlock)".into());
    }
    if !governed {
        return Err("not governed by a policy (the caller's own rights apply)".into());
    }
    kernel_landlock()
}

/// The `--version` lines: the fence every request helper of this install draws, from `policy`
/// as the caller can read it (`None`: not readable or unusable, so only the helper's own roots
/// are known).
pub fn report(policy: Option<&Policy>, governed: bool) -> String {
    let mut out = String::new();
    match planned_landlock(governed) {
        Ok(abi) => {
            out.push_str(&format!(
                "fence: landlock ABI {abi}, drawn from the policy when a helper starts: a \
                 session's roots below (it keeps its fence; new allow rules reach new \
                 sessions), a one-shot helper's only its caller's rules and the syslog \
                 directory\n"
            ));
            for root in roots(policy, &HelperPaths::installed()) {
                out.push_str(&format!(
                    "fence root: {} {}\n",
                    root.path.display(),
                    root.rights
                ));
            }
        }
        Err(why) => out.push_str(&format!("fence: landlock off: {why}\n")),
    }
    if fault::switches().no_fence {
        out.push_str("fence: seccomp off: disabled by the test build's switch\n");
    } else {
        out.push_str(&format!(
            "fence: seccomp allowlist of {} system calls for the request loop; any other fails \
             with EPERM and is logged by the kernel\n",
            REQUEST_LOOP_CALLS.len()
        ));
    }
    out
}

/// The `--explain` line: whether opening `path` (canonical when known) with `access` lies inside
/// the Landlock fence a helper drawn from `policy` has.
pub fn explain(
    policy: &Policy,
    governed: bool,
    path: &[u8],
    access: AccessSet,
    file_type: Option<FileType>,
) -> String {
    if let Err(why) = planned_landlock(governed) {
        return format!("fence: landlock off ({why})\n");
    }
    let types = FileTypeSet::EMPTY.with(file_type.unwrap_or(FileType::File));
    let rights = Rights::for_rule(access, types);
    let path = Path::new(std::ffi::OsStr::from_bytes(path));
    let roots = roots(Some(policy), &HelperPaths::installed());
    if covers(&roots, path, rights) {
        format!("fence: inside (Landlock allows {rights} here)\n")
    } else {
        format!(
            "fence: outside: no Landlock root grants {rights} at {}; the kernel refuses this \
             open whatever a rule says (a session started before a new rule keeps its old \
             fence)\n",
            path.display()
        )
    }
}

/// The fault-injection build's switches (Cargo feature `fault-injection`, refused in release
/// builds): files in `$SYSCONFDIR/myopen-fault/`, read once before the fence. In a normal build
/// every switch is off and nothing is read.
pub mod fault {
    /// Which faults the test build injects.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct Switches {
        /// The decision engine grants every request (`allow-everything`).
        pub allow_everything: bool,
        /// A stray execve before each decision (`execve`).
        pub execve: bool,
        /// No Landlock, no seccomp (`no-fence`).
        pub no_fence: bool,
        /// No Landlock: a kernel without it (`no-landlock`).
        pub no_landlock: bool,
    }

    #[cfg(feature = "fault-injection")]
    pub fn switches() -> Switches {
        use std::path::Path;
        use std::sync::OnceLock;
        static SWITCHES: OnceLock<Switches> = OnceLock::new();
        *SWITCHES.get_or_init(|| {
            let directory = Path::new(crate::config::SYSCONFDIR).join("myopen-fault");
            let on = |name: &str| directory.join(name).exists();
            Switches {
                allow_everything: on("allow-everything"),
                execve: on("execve"),
                no_fence: on("no-fence"),
                no_landlock: on("no-landlock"),
            }
        })
    }

    #[cfg(not(feature = "fault-injection"))]
    pub fn switches() -> Switches {
        Switches::default()
    }

    /// The injected decision bug: in the fault build with `allow-everything`, every request is
    /// granted whatever the policy says.
    pub fn allows_everything() -> bool {
        switches().allow_everything
    }

    /// The injected stray execve, run before each decision in the fault build with `execve`: its
    /// outcome goes to stderr for the test to read (the kernel logs the seccomp refusal too).
    pub fn stray_execve() {
        if switches().execve {
            inject_execve();
        }
    }

    #[cfg(feature = "fault-injection")]
    fn inject_execve() {
        let outcome = nix::unistd::execve::<&std::ffi::CStr, &std::ffi::CStr>(
            c"/nonexistent/myopen-injected-execve",
            &[c"injected"],
            &[],
        );
        let errno = outcome.err().map_or(0, |errno| errno as i32);
        crate::diagnostics::complain(&format!("injected execve: errno {errno}"));
    }

    #[cfg(not(feature = "fault-injection"))]
    fn inject_execve() {}
}

#[cfg(test)]
mod tests;
