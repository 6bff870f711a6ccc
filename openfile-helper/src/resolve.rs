//! Safe resolution and open (P1-P4).
//!
//! 1. The requested path is made absolute and cleaned lexically, and the policy is asked about
//!    it before anything touches the filesystem (P1: no existence oracle outside the policy).
//!    This check can only refuse: the cleaned form is not what open(2) resolves (`file/.`,
//!    `missing/../file`, `link/../f` all differ), so it never grants anything by itself.
//! 2. The path as given is resolved with the kernel's own semantics to an `O_PATH` descriptor,
//!    with `openat2(RESOLVE_NO_MAGICLINKS)` (or a component-by-component `O_NOFOLLOW` walk where
//!    openat2 is missing), raising CAP_DAC_READ_SEARCH only when the caller's own rights are
//!    refused. An `O_PATH` open never opens a device or blocks on a FIFO. A resolution that fails
//!    is reported as it is only where the caller could have learnt that itself, or where it
//!    stopped at a name the policy allows; anywhere else it is EACCES, as the object would be
//!    (P1: what lies behind a symlink out of the policy does not show).
//! 3. The canonical path and the type of the object actually reached are read from that
//!    descriptor, and the policy is asked again (P2, P3): this is the check that grants. No
//!    second lookup of the path string.
//! 4. The caller's hook runs (the service writes the grant's audit record there, P8), then the
//!    object is reopened through its descriptor with the caller's flags, `O_NOCTTY` and only the
//!    capability that access needs. O_TRUNC and O_CREAT take effect only here, after every check
//!    and after the record (P4).
//!
//! Creation goes through the parent directory's descriptor with `O_NOFOLLOW | O_EXCL`, with the
//! caller's uid and gid as the file system ids, so a new file belongs to the caller.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use nix::errno::Errno;
use nix::fcntl::{
    AT_FDCWD, FcntlArg, OFlag, OpenHow, ResolveFlag, fcntl, open, openat, openat2, readlinkat,
};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat};
use nix::sys::statfs::{PROC_SUPER_MAGIC, fstatfs};

use crate::policy::{AccessSet, Decision, FileType, Identity, Policy, Reason};
use crate::privilege::{Need, Privilege};

/// How often a resolution racing with renames (openat2's EAGAIN) or a creation racing with
/// another creator is tried before giving up.
const MAX_ATTEMPTS: usize = 16;

/// Symbolic links followed in one resolution before ELOOP, as the kernel's limit.
const MAX_SYMLINKS: usize = 40;

/// An object opened for the caller (where it is and why it was granted went to the hook before
/// the open, as an [`Approved`]).
#[derive(Debug)]
pub struct Opened {
    /// The descriptor to pass back.
    pub fd: OwnedFd,
}

/// An open the policy approved, about to take effect: what [`open_checked`]'s hook is shown just
/// before the open or creation happens.
#[derive(Debug)]
pub struct Approved<'a> {
    /// Where the object is (or will be, for a creation).
    pub canonical: &'a [u8],
    /// The policy's decision on it.
    pub decision: &'a Decision,
}

/// How far a refused request got, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Refused on the lexically cleaned path, before any lookup (the raw path may hide the name
    /// in padding such as `/./././`).
    Cleaned(Vec<u8>),
    /// Resolution failed: the canonical path of the deepest directory reached and the name it
    /// could not get past.
    Reached(Vec<u8>),
    /// Resolved: the canonical path of the object (or, for a creation, of its place).
    Canonical(Vec<u8>),
}

/// A request that was not served.
#[derive(Debug)]
pub struct Refusal {
    /// What the caller is told.
    pub errno: Errno,
    /// How far the request got, when it got anywhere worth telling.
    pub progress: Option<Progress>,
    /// The policy's decision, when the policy refused.
    pub decision: Option<Decision>,
    /// Why, in words, for the audit log.
    pub reason: String,
    /// Whether the policy refused (no rule, a deny, a wrong type, an escape through a symlink),
    /// as opposed to the system.
    pub by_policy: bool,
    /// Whether this process can serve nothing more and must end once it has answered: the
    /// client is to ask a new one (the wire's restart reply).
    pub ends_serving: bool,
}

impl Refusal {
    /// A refusal with `errno` for `reason`, nothing resolved.
    pub fn new(errno: Errno, reason: String, by_policy: bool) -> Refusal {
        Refusal {
            errno,
            progress: None,
            decision: None,
            reason,
            by_policy,
            ends_serving: false,
        }
    }

    fn system(errno: Errno, during: &str) -> Refusal {
        Refusal::new(
            errno,
            format!("{during}: {}", myopen::strerror(errno as i32)),
            false,
        )
    }

    fn policy(decision: Decision, canonical: Option<Vec<u8>>) -> Refusal {
        Refusal::new(Errno::EACCES, decision.to_string(), true)
            .deciding(decision)
            .at(canonical.map(Progress::Canonical))
    }

    fn escape(canonical: Option<Vec<u8>>, why: &str) -> Refusal {
        Refusal::new(Errno::EACCES, why.to_owned(), true).at(canonical.map(Progress::Canonical))
    }

    fn deciding(self, decision: Decision) -> Refusal {
        Refusal {
            decision: Some(decision),
            ..self
        }
    }

    fn at(self, progress: Option<Progress>) -> Refusal {
        Refusal { progress, ..self }
    }
}

/// What [`open_checked`] runs just before a granted open or creation takes effect. An error
/// refuses the request with that refusal, and nothing happens to the file.
pub type BeforeEffect<'a> = dyn Fn(&Approved<'_>) -> Result<(), Refusal> + 'a;

/// Opens `path` with `flags` for `who` if `policy` allows it, by the steps in the module docs;
/// `before_effect` runs once the object is checked and before the open changes anything.
///
/// `policy` is `None` for a helper without privilege: it has no more rights than its caller, so
/// there is nothing for a policy to protect, but the resolution is the same (no magic links, no
/// FIFO that blocks, no device opened by accident).
pub fn open_checked(
    policy: Option<&Policy>,
    who: &Identity,
    privilege: &Privilege,
    path: &OsStr,
    flags: i32,
    creation_mode: u32,
    before_effect: &BeforeEffect<'_>,
) -> Result<Opened, Refusal> {
    let access = AccessSet::from_open_flags(flags)
        .map_err(|error| Refusal::new(Errno::EINVAL, error.to_string(), false))?;
    let path = path.as_bytes();
    let cleaned = absolute_clean(path)?;

    let lexical = judge(policy, who, &cleaned, access, None);
    if !lexical.allowed {
        let cleaned = (cleaned != path).then_some(Progress::Cleaned(cleaned));
        return Err(Refusal::policy(lexical, None).at(cleaned));
    }

    // As with open(2), a trailing slash means the object must be a directory.
    let trailing_slash = path.len() > 1 && path.ends_with(b"/");
    let request = Request {
        policy,
        who,
        privilege,
        access,
        wants: OFlag::from_bits_retain(flags)
            | if trailing_slash {
                OFlag::O_DIRECTORY
            } else {
                OFlag::empty()
            },
        creation_mode,
        before_effect,
    };
    let mut attempts = 0;
    loop {
        attempts += 1;
        let resolve_flags = request.wants & (OFlag::O_NOFOLLOW | OFlag::O_DIRECTORY);
        match request.resolve(path, resolve_flags, "resolving the path") {
            Ok(object) => return request.open_existing(object),
            Err(refusal)
                if refusal.errno == Errno::ENOENT && request.wants.contains(OFlag::O_CREAT) =>
            {
                match request.create(path) {
                    // The name exists but does not resolve: a dangling symlink. open(2) would
                    // create its target, wherever it points; never do that with privilege.
                    Err(refusal) if refusal.errno == Errno::EEXIST && dangling(privilege, path) => {
                        return Err(Refusal::escape(
                            None,
                            "a dangling symbolic link is in the way; its target is not created",
                        )
                        .at(refusal.progress));
                    }
                    // Someone created it between our two looks: treat it as existing.
                    Err(refusal)
                        if refusal.errno == Errno::EEXIST
                            && !request.wants.contains(OFlag::O_EXCL) =>
                    {
                        if attempts >= MAX_ATTEMPTS {
                            return Err(refusal);
                        }
                    }
                    result => return result,
                }
            }
            Err(refusal) => return Err(refusal),
        }
    }
}

/// Whether `path` names something that exists but does not resolve (a dangling symlink).
fn dangling(privilege: &Privilege, path: &[u8]) -> bool {
    matches!(
        resolve(privilege, path, OFlag::empty()),
        Err(Unresolved {
            errno: Errno::ENOENT,
            ..
        })
    ) && resolve(privilege, path, OFlag::O_NOFOLLOW).is_ok()
}

/// Makes `path` absolute (relative to the working directory the caller passed down) and
/// removes empty, `.` and `..` components lexically, so the policy sees what a reader sees.
/// The kernel's own resolution differs (`..` after a symlink, a missing directory before `..`,
/// `.` after a file): this form is only ever used to refuse early; the check on the object
/// opened (step 3) is what grants.
pub fn absolute_clean(path: &[u8]) -> Result<Vec<u8>, Refusal> {
    let mut joined;
    let full = if path.starts_with(b"/") {
        path
    } else {
        let cwd = nix::unistd::getcwd()
            .map_err(|errno| Refusal::system(errno, "reading the working directory"))?;
        joined = cwd.into_os_string().into_vec();
        joined.push(b'/');
        joined.extend_from_slice(path);
        &joined
    };
    let mut components: Vec<&[u8]> = Vec::new();
    for component in full.split(|&byte| byte == b'/') {
        match component {
            b"" | b"." => {}
            b".." => {
                components.pop();
            }
            name => components.push(name),
        }
    }
    let mut clean = Vec::with_capacity(full.len());
    for component in &components {
        clean.push(b'/');
        clean.extend_from_slice(component);
    }
    if clean.is_empty() {
        clean.push(b'/');
    }
    Ok(clean)
}

/// One request, as the steps after the lexical check need it.
struct Request<'a> {
    policy: Option<&'a Policy>,
    who: &'a Identity,
    privilege: &'a Privilege,
    access: AccessSet,
    /// The caller's open flags, with `O_DIRECTORY` for a trailing slash.
    wants: OFlag,
    creation_mode: u32,
    before_effect: &'a BeforeEffect<'a>,
}

impl Request<'_> {
    fn judge(&self, path: &[u8], file_type: Option<FileType>) -> Decision {
        judge(self.policy, self.who, path, self.access, file_type)
    }

    /// Resolves `path` as given to an `O_PATH` descriptor (`during` names the step for the
    /// audit log). The caller learns why resolution failed only where its own rights met the
    /// same failure, or where resolution stopped at a name the policy allows it to ask about;
    /// anywhere else the failure (ENOENT, ENOTDIR, ELOOP, ...) would tell what lies behind a
    /// symlink out of the policy, so it is EACCES, the answer the object itself would get.
    fn resolve(&self, path: &[u8], extra: OFlag, during: &str) -> Result<OwnedFd, Refusal> {
        let unresolved = match resolve(self.privilege, path, extra) {
            Ok(object) => return Ok(object),
            Err(unresolved) => unresolved,
        };
        let reached = reached(self.privilege, path, extra);
        let decision = reached.as_deref().map(|reached| self.judge(reached, None));
        let refusal = match decision {
            Some(decision) if !unresolved.by_caller && !decision.allowed => Refusal::new(
                Errno::EACCES,
                format!(
                    "{during}: {} at a name no rule allows; the caller is told EACCES",
                    myopen::strerror(unresolved.errno as i32)
                ),
                true,
            )
            .deciding(decision),
            None if !unresolved.by_caller => Refusal::new(
                Errno::EACCES,
                format!(
                    "{during}: {} where it cannot be retraced; the caller is told EACCES",
                    myopen::strerror(unresolved.errno as i32)
                ),
                true,
            ),
            _ => Refusal::system(unresolved.errno, during),
        };
        Err(refusal.at(reached.map(Progress::Reached)))
    }

    fn open_existing(&self, object: OwnedFd) -> Result<Opened, Refusal> {
        let stat = fstat(&object).map_err(|errno| Refusal::system(errno, "fstat"))?;
        let Some(file_type) = FileType::from_mode(stat.st_mode) else {
            // Only a final symlink opened with O_NOFOLLOW gets here, as with open(2).
            return Err(Refusal::system(Errno::ELOOP, "opening with O_NOFOLLOW"));
        };
        let canonical = canonical_path(&object)?;
        let decision = self.judge(&canonical, Some(file_type));
        if !decision.allowed {
            return Err(Refusal::policy(decision, Some(canonical)));
        }
        let exists = |errno: Errno, reason: &str| {
            Err(Refusal::new(errno, reason.to_owned(), false)
                .deciding(decision.clone())
                .at(Some(Progress::Canonical(canonical.clone()))))
        };
        if self.wants.contains(OFlag::O_CREAT | OFlag::O_EXCL) {
            return exists(Errno::EEXIST, "exists");
        }
        // open(2) never creates over, or opens with O_CREAT, a directory.
        if self.wants.contains(OFlag::O_CREAT) && file_type == FileType::Dir {
            return exists(Errno::EISDIR, "O_CREAT on a directory");
        }
        // A hard link can put someone else's file at an allowed path (where protected_hardlinks
        // is off); only the owner's own multiply-linked files are served.
        if self.policy.is_some()
            && file_type == FileType::File
            && stat.st_nlink > 1
            && stat.st_uid != self.who.uid
        {
            return Err(Refusal::escape(
                Some(canonical),
                "file has several hard links and is not the caller's",
            ));
        }
        (self.before_effect)(&Approved {
            canonical: &canonical,
            decision: &decision,
        })?;
        let own_rights = mode_grants(&stat, self.who, self.access);
        let fd = reopen(
            self.privilege,
            &object,
            file_type,
            self.access,
            self.wants,
            own_rights,
        )
        .map_err(|errno| {
            Refusal::system(errno, "reopening")
                .deciding(decision.clone())
                .at(Some(Progress::Canonical(canonical.clone())))
        })?;
        let reopened = fstat(&fd).map_err(|errno| Refusal::system(errno, "fstat"))?;
        if (reopened.st_dev, reopened.st_ino) != (stat.st_dev, stat.st_ino) {
            return Err(Refusal::escape(
                Some(canonical),
                "the reopened object is not the one checked",
            ));
        }
        Ok(Opened { fd })
    }

    /// Creates the last component of `path` in the directory the rest resolves to, as open(2)
    /// with O_CREAT does (but never through a symlink).
    fn create(&self, path: &[u8]) -> Result<Opened, Refusal> {
        let (parent, name) = match path.iter().rposition(|&byte| byte == b'/') {
            Some(0) => (&b"/"[..], &path[1..]),
            Some(split) => (&path[..split], &path[split + 1..]),
            None => (&b"."[..], path),
        };
        if matches!(name, b"" | b"." | b"..") || self.wants.contains(OFlag::O_DIRECTORY) {
            return Err(Refusal::system(Errno::EISDIR, "creating"));
        }
        let directory =
            self.resolve(parent, OFlag::O_DIRECTORY, "resolving the parent directory")?;
        let candidate = child_path(canonical_path(&directory)?, name);
        let decision = self.judge(&candidate, Some(FileType::File));
        if !decision.allowed {
            return Err(Refusal::policy(decision, Some(candidate)));
        }
        (self.before_effect)(&Approved {
            canonical: &candidate,
            decision: &decision,
        })?;
        let flags = (self.wants - OFlag::O_NOFOLLOW)
            | OFlag::O_CREAT
            | OFlag::O_EXCL
            | OFlag::O_NOFOLLOW
            | OFlag::O_NOCTTY
            | OFlag::O_CLOEXEC;
        // The requested mode (0666 for the one-shot protocol) filtered by the caller's umask
        // (inherited), never set-id or sticky bits; owned by the caller, whose ids the helper
        // has. Writing into the directory needs CAP_DAC_OVERRIDE only when the caller may not.
        let created = self.privilege.with_if_refused(Need::Override, || {
            openat(
                &directory,
                OsStr::from_bytes(name),
                flags,
                Mode::from_bits_truncate(self.creation_mode & 0o777),
            )
        });
        let fd = match created {
            Ok(fd) => fd,
            // EEXIST: something appeared at the name since we looked, possibly a symlink: never
            // follow it here; the caller retries from the top unless O_EXCL was asked for.
            Err(errno) => {
                return Err(Refusal::system(errno, "creating")
                    .deciding(decision)
                    .at(Some(Progress::Canonical(candidate))));
            }
        };
        let stat = fstat(&fd).map_err(|errno| Refusal::system(errno, "fstat"))?;
        if file_kind(&stat) != SFlag::S_IFREG || stat.st_uid != self.who.uid {
            return Err(Refusal::escape(
                Some(candidate),
                "the created object is not the caller's regular file",
            ));
        }
        Ok(Opened { fd })
    }
}

/// `directory/name`, for a canonical `directory`.
fn child_path(mut directory: Vec<u8>, name: &[u8]) -> Vec<u8> {
    if directory != b"/" {
        directory.push(b'/');
    }
    directory.extend_from_slice(name);
    directory
}

/// A resolution that failed.
#[derive(Debug)]
struct Unresolved {
    errno: Errno,
    /// Whether the caller's own rights met this failure (nothing was raised to get there).
    by_caller: bool,
}

/// Resolves `path` to an `O_PATH` descriptor, never following a magic link.
fn resolve(privilege: &Privilege, path: &[u8], extra: OFlag) -> Result<OwnedFd, Unresolved> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC | extra)
        .resolve(ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let name = OsStr::from_bytes(path);
    for _ in 0..MAX_ATTEMPTS {
        // Searching directories seldom needs CAP_DAC_READ_SEARCH: try with the caller's own
        // rights, and raise it only when the kernel says no. Either way the object reached is
        // what gets checked.
        let (attempt, by_caller) = match openat2(AT_FDCWD, name, how) {
            Err(Errno::EACCES) => (
                privilege.with(Need::ReadSearch, || openat2(AT_FDCWD, name, how)),
                false,
            ),
            other => (other, true),
        };
        match attempt {
            Err(Errno::EAGAIN) => continue,
            // No openat2 (kernel before 5.6), or a seccomp filter refusing it. The walk does not
            // say where it raised a capability: treat its failures as privileged ones.
            Err(Errno::ENOSYS | Errno::EPERM | Errno::E2BIG) => {
                return walk(privilege, path, extra).map_err(|stuck| Unresolved {
                    errno: stuck.errno,
                    by_caller: false,
                });
            }
            Err(errno) => return Err(Unresolved { errno, by_caller }),
            Ok(object) => return Ok(object),
        }
    }
    Err(Unresolved {
        errno: Errno::EAGAIN,
        by_caller: false,
    })
}

/// How far resolving `path` gets: the canonical path of the deepest directory reached and the
/// name it could not get past. `None` when not even that is known, or when the path resolves
/// after all (it changed in between).
fn reached(privilege: &Privilege, path: &[u8], extra: OFlag) -> Option<Vec<u8>> {
    let stuck = walk(privilege, path, extra).err()?;
    let directory = canonical_path(stuck.directory.as_ref()?).ok()?;
    Some(child_path(directory, &stuck.name))
}

/// Where a [`walk`] stopped.
#[derive(Debug)]
pub struct Stuck {
    /// Why.
    pub errno: Errno,
    /// The directory it was in, when it got as far as its starting point.
    directory: Option<OwnedFd>,
    /// The name in it that it could not get past.
    name: Vec<u8>,
}

/// One component's worth of a [`walk`].
enum Step {
    /// Go on from this directory (or, for the last component, this is the object).
    Into(OwnedFd),
    /// A symbolic link: go on with its text.
    Follow(Vec<u8>),
    /// The last component is a symbolic link and O_NOFOLLOW was asked for: it is the object.
    Link(OwnedFd),
    /// `.`: stay (the component before it was required to be a directory).
    Stay,
}

/// The fallback resolution, and the way to find out how far a failed one got: one component at
/// a time with `O_PATH | O_NOFOLLOW`, from `/` or the working directory as open(2) starts,
/// following symbolic links by their text, and refusing any link that lives on procfs (magic
/// links). `.` and `..` are the kernel's: `file/.` needs a directory, `missing/..` needs
/// `missing`, `link/..` is the parent of the link's target.
pub fn walk(privilege: &Privilege, path: &[u8], extra: OFlag) -> Result<OwnedFd, Stuck> {
    let stuck = |errno: Errno, directory: Option<OwnedFd>, name: &[u8]| Stuck {
        errno,
        directory,
        name: name.to_vec(),
    };
    let directory_flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let root =
        open("/", directory_flags, Mode::empty()).map_err(|errno| stuck(errno, None, b""))?;
    let start = if path.starts_with(b"/") {
        root.try_clone().map_err(|_| Errno::EMFILE)
    } else {
        open(".", directory_flags, Mode::empty())
    };
    let mut current = start.map_err(|errno| stuck(errno, None, b""))?;
    let mut pending: Vec<Vec<u8>> = components_reversed(path);
    let mut links_followed = 0;
    while let Some(name) = pending.pop() {
        let last = pending.is_empty();
        match step(privilege, &current, &name, last, extra, &mut links_followed) {
            Ok(Step::Into(next)) => current = next,
            Ok(Step::Follow(target)) => {
                if target.starts_with(b"/") {
                    current = root
                        .try_clone()
                        .map_err(|_| stuck(Errno::EMFILE, Some(current), &name))?;
                }
                pending.extend(components_reversed(&target));
            }
            Ok(Step::Link(link)) => return Ok(link),
            Ok(Step::Stay) => {}
            Err(errno) => return Err(stuck(errno, Some(current), &name)),
        }
    }
    Ok(current)
}

/// Looks `name` up in `directory` for [`walk`].
fn step(
    privilege: &Privilege,
    directory: &OwnedFd,
    name: &[u8],
    last: bool,
    extra: OFlag,
    links_followed: &mut usize,
) -> Result<Step, Errno> {
    let lookup = |flags: OFlag| {
        privilege.with_if_refused(Need::ReadSearch, || {
            openat(
                directory,
                OsStr::from_bytes(name),
                OFlag::O_PATH | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW | flags,
                Mode::empty(),
            )
        })
    };
    match name {
        b"." => return Ok(Step::Stay),
        b".." => return lookup(OFlag::O_DIRECTORY).map(Step::Into),
        _ => {}
    }
    let next = lookup(OFlag::empty())?;
    let stat = fstat(&next)?;
    if file_kind(&stat) != SFlag::S_IFLNK {
        let must_be_directory = !last || extra.contains(OFlag::O_DIRECTORY);
        if must_be_directory && file_kind(&stat) != SFlag::S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        return Ok(Step::Into(next));
    }
    if last && extra.contains(OFlag::O_NOFOLLOW) {
        return Ok(Step::Link(next));
    }
    *links_followed += 1;
    if *links_followed > MAX_SYMLINKS || fstatfs(directory)?.filesystem_type() == PROC_SUPER_MAGIC {
        return Err(Errno::ELOOP);
    }
    let target = privilege.with_if_refused(Need::ReadSearch, || {
        readlinkat(directory, OsStr::from_bytes(name))
    })?;
    Ok(Step::Follow(target.into_vec()))
}

/// Path components in reverse order (so that `pop` yields them first to last), without empty
/// components; a trailing slash becomes a final `.`, which needs a directory as it does for
/// open(2).
fn components_reversed(path: &[u8]) -> Vec<Vec<u8>> {
    let mut components: Vec<Vec<u8>> = path
        .split(|&byte| byte == b'/')
        .filter(|component| !component.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    if path.ends_with(b"/") && !components.is_empty() {
        components.push(b".".to_vec());
    }
    components.reverse();
    components
}

fn file_kind(stat: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT
}

/// The helper's own descriptors as procfs shows them: the way to read an opened object's path and
/// to reopen it. `/proc/self/fd` is opened once per process and each descriptor looked up
/// relative to it, instead of resolving `/proc`, `self` and `fd` twice for every request.
mod own_fds {
    use std::cell::RefCell;
    use std::ffi::OsString;
    use std::os::fd::{AsRawFd, OwnedFd};

    use nix::errno::Errno;
    use nix::fcntl::{OFlag, open, openat, readlink, readlinkat};
    use nix::sys::stat::Mode;
    use nix::sys::statfs::{PROC_SUPER_MAGIC, fstatfs, statfs};

    /// Which process the cached directory lists.
    enum Owner {
        /// Opened for a request: checked against getpid(2) at every use, since after a fork it
        /// would list the parent's descriptors.
        Pid(u32),
        /// Opened by [`settle`] in the process that serves (after any fork: a daemon worker
        /// settles once it has its connection, and nothing forks after): used without asking
        /// the kernel for the pid at every request. The pid is kept for the debug builds' check.
        Settled(u32),
    }

    thread_local! {
        static DIRECTORY: RefCell<Option<(Owner, OwnedFd)>> = const { RefCell::new(None) };
    }

    const OWN_FDS: &str = "/proc/self/fd";

    /// Opens this process's descriptor directory for every later request, so that a request
    /// needs no getpid(2). For the process that serves, after it has forked for the last time
    /// (`Service::start` and `Service::for_peer`); a process that forked after this would read
    /// its parent's descriptors, which debug builds check. Without the directory (EMFILE, or
    /// not on procfs) every request falls back to the checked path and fails as it would.
    pub(super) fn settle() {
        let pid = std::process::id();
        DIRECTORY.with_borrow_mut(|cached| {
            *cached = procfs_directory(OWN_FDS)
                .ok()
                .map(|directory| (Owner::Settled(pid), directory));
        });
    }

    /// `path` opened as a directory, if it is on procfs. Anything else could say what it likes
    /// about where an object is (libpathrs checks the same): EXDEV, and the request fails.
    pub(super) fn procfs_directory(path: &str) -> Result<OwnedFd, Errno> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let directory = open(path, flags, Mode::empty())?;
        if fstatfs(&directory)?.filesystem_type() != PROC_SUPER_MAGIC {
            return Err(Errno::EXDEV);
        }
        Ok(directory)
    }

    /// Runs `relative` on the cached directory with `fd`'s name in it, or `absolute` on the
    /// full `/proc/self/fd/N` path when the directory cannot be opened (a tiny descriptor
    /// limit), after checking with statfs(2) that the path is on procfs.
    fn through<T>(
        fd: &OwnedFd,
        relative: impl FnOnce(&OwnedFd, &str) -> Result<T, Errno>,
        absolute: impl FnOnce(&str) -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        let name = fd.as_raw_fd().to_string();
        DIRECTORY.with_borrow_mut(|cached| {
            let current = match cached.as_ref() {
                Some((Owner::Settled(pid), _)) => {
                    debug_assert_eq!(
                        *pid,
                        std::process::id(),
                        "forked after settling: the directory lists the parent's descriptors"
                    );
                    true
                }
                Some((Owner::Pid(pid), _)) => *pid == std::process::id(),
                None => false,
            };
            if !current {
                let pid = std::process::id();
                *cached = match procfs_directory(OWN_FDS) {
                    Ok(directory) => Some((Owner::Pid(pid), directory)),
                    Err(Errno::EXDEV) => return Err(Errno::EXDEV),
                    Err(_) => None,
                };
            }
            match cached.as_ref() {
                Some((_, directory)) => relative(directory, &name),
                None if statfs(OWN_FDS)?.filesystem_type() == PROC_SUPER_MAGIC => {
                    absolute(&format!("{OWN_FDS}/{name}"))
                }
                None => Err(Errno::EXDEV),
            }
        })
    }

    /// The path of the object behind `fd`.
    pub(super) fn read_link(fd: &OwnedFd) -> Result<OsString, Errno> {
        through(fd, |directory, name| readlinkat(directory, name), readlink)
    }

    /// A new open file description of the object behind `fd`, with `flags`.
    pub(super) fn reopen(fd: &OwnedFd, flags: OFlag) -> Result<OwnedFd, Errno> {
        through(
            fd,
            |directory, name| openat(directory, name, flags, Mode::empty()),
            |path| open(path, flags, Mode::empty()),
        )
    }
}

/// Readies the per-request path for this process, the one that serves (see `own_fds::settle`).
pub fn settle_in_this_process() {
    own_fds::settle();
}

/// The path of the object behind `fd`, as the kernel knows it.
fn canonical_path(fd: &OwnedFd) -> Result<Vec<u8>, Refusal> {
    let target = own_fds::read_link(fd)
        .map_err(|errno| {
            Refusal::escape(
                None,
                &format!(
                    "cannot read the opened object's path: {}",
                    myopen::strerror(errno as i32)
                ),
            )
        })?
        .into_vec();
    // Unlinked objects, objects outside our root, and pseudo-files have no usable path.
    if !target.starts_with(b"/") || target.ends_with(b" (deleted)") {
        return Err(Refusal::escape(
            Some(target),
            "the opened object has no path the policy can judge",
        ));
    }
    Ok(target)
}

/// Whether the object's permission bits alone give `who` the `access` asked for. ACLs can make the
/// kernel disagree either way; the answer only decides whether to try first without raising a
/// capability.
fn mode_grants(stat: &FileStat, who: &Identity, access: AccessSet) -> bool {
    let bits = if stat.st_uid == who.uid {
        stat.st_mode >> 6
    } else if who.in_group(stat.st_gid) {
        stat.st_mode >> 3
    } else {
        stat.st_mode
    } & 0o7;
    let reads = access.contains(crate::policy::Access::Read);
    let writes = access
        .iter()
        .any(|word| word != crate::policy::Access::Read);
    (!reads || bits & 0o4 != 0) && (!writes || bits & 0o2 != 0)
}

/// Opens the checked object for real, through its `O_PATH` descriptor. A capability is raised only
/// when the caller's own rights do not suffice: when the permission bits say so, or when the
/// kernel refuses the open without it.
fn reopen(
    privilege: &Privilege,
    object: &OwnedFd,
    file_type: FileType,
    access: AccessSet,
    wants: OFlag,
    own_rights_suffice: bool,
) -> Result<OwnedFd, Errno> {
    // O_NOCTTY always: a granted terminal must never become the helper's controlling terminal.
    let mut flags = (wants - (OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW))
        | OFlag::O_NOCTTY
        | OFlag::O_CLOEXEC;
    // A FIFO without a peer would block the helper (read) or fail (write): never wait.
    let nonblocking_for_us = file_type == FileType::Fifo && !wants.contains(OFlag::O_NONBLOCK);
    if nonblocking_for_us {
        flags |= OFlag::O_NONBLOCK;
    }
    let need = if access
        .iter()
        .all(|word| word == crate::policy::Access::Read)
    {
        Need::ReadSearch
    } else {
        Need::Override
    };
    let open_it = || loop {
        match own_fds::reopen(object, flags) {
            Err(Errno::EINTR) => continue,
            result => break result,
        }
    };
    let fd = match own_rights_suffice {
        true => privilege.with_if_refused(need, open_it),
        false => privilege.with(need, open_it),
    }?;
    if nonblocking_for_us {
        let status = OFlag::from_bits_retain(fcntl(&fd, FcntlArg::F_GETFL)?);
        fcntl(&fd, FcntlArg::F_SETFL(status - OFlag::O_NONBLOCK))?;
    }
    Ok(fd)
}

/// The policy's decision, or for a helper without privilege (no policy) a grant of the caller's
/// own rights.
fn judge(
    policy: Option<&Policy>,
    who: &Identity,
    path: &[u8],
    access: AccessSet,
    file_type: Option<FileType>,
) -> Decision {
    crate::fence::fault::stray_execve();
    match policy {
        Some(_) if crate::fence::fault::allows_everything() => Decision {
            allowed: true,
            rule: None,
            reason: Reason::Allowed,
        },
        Some(policy) => policy.decide(who, path, access, file_type),
        None => Decision {
            allowed: true,
            rule: None,
            reason: Reason::Allowed,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
    use std::path::{Path, PathBuf};

    use crate::policy::{LookupFailed, NameResolver};

    struct NoNames;

    impl NameResolver for NoNames {
        fn uid_of(&self, _: &str) -> Result<Option<u32>, LookupFailed> {
            Ok(None)
        }
        fn gid_of(&self, _: &str) -> Result<Option<u32>, LookupFailed> {
            Ok(None)
        }
    }

    /// A tree under /tmp: `allowed/` (the policy covers it) and `secret/` (it does not).
    struct Tree {
        dir: tempfile::TempDir,
    }

    impl Tree {
        fn new() -> Tree {
            let dir = tempfile::Builder::new()
                .prefix("resolve-test-")
                .tempdir_in("/tmp")
                .unwrap();
            std::fs::create_dir(dir.path().join("allowed")).unwrap();
            std::fs::create_dir(dir.path().join("secret")).unwrap();
            std::fs::write(dir.path().join("allowed/file"), b"allowed content").unwrap();
            std::fs::write(dir.path().join("secret/shadow"), b"SECRET").unwrap();
            Tree { dir }
        }

        fn path(&self, relative: &str) -> PathBuf {
            self.dir.path().join(relative)
        }

        fn policy(&self, access: &str, types: &str) -> Policy {
            let text = format!(
                "[[allow]]\npath = \"{}/allowed/**\"\nusers = [\"*\"]\naccess = [{access}]\ntypes = [{types}]\n",
                self.dir.path().display()
            );
            let (rules, _) = Policy::parse(&text, Path::new("test.toml"), &NoNames).unwrap();
            let mut policy = Policy::new();
            policy.add_rules(rules);
            policy
        }
    }

    fn me() -> Identity {
        Identity {
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
            groups: vec![],
            listed_groups: Vec::new(),
        }
    }

    fn open_with(policy: &Policy, path: &Path, flags: i32) -> Result<Opened, Refusal> {
        open_approved(policy, path, flags).0
    }

    /// Like [`open_with`], with the canonical path the hook was shown, if it ran.
    fn open_approved(
        policy: &Policy,
        path: &Path,
        flags: i32,
    ) -> (Result<Opened, Refusal>, Option<Vec<u8>>) {
        let approved = std::cell::RefCell::new(None);
        let outcome = open_checked(
            Some(policy),
            &me(),
            &Privilege::none(),
            path.as_os_str(),
            flags,
            0o666,
            &|approval: &Approved<'_>| {
                *approved.borrow_mut() = Some(approval.canonical.to_vec());
                Ok(())
            },
        );
        (outcome, approved.into_inner())
    }

    #[test]
    fn lexical_cleaning() {
        for (input, expected) in [
            (&b"/"[..], &b"/"[..]),
            (b"//etc///hosts", b"/etc/hosts"),
            (b"/etc/./hosts", b"/etc/hosts"),
            (b"/var/log/../log/syslog", b"/var/log/syslog"),
            (b"/../../etc", b"/etc"),
            (b"/a/b/..", b"/a"),
            (b"/a/\xff\n/x", b"/a/\xff\n/x"),
        ] {
            assert_eq!(
                absolute_clean(input).unwrap(),
                expected,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn permission_bits_decide_whether_to_try_without_privilege() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"x").unwrap();
        let stat_with = |mode: u32| {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            nix::sys::stat::stat(&path).unwrap()
        };
        let (owner, group) = (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        );
        let as_owner = Identity {
            uid: owner,
            gid: owner.wrapping_add(1),
            groups: vec![],
            listed_groups: Vec::new(),
        };
        let as_group = Identity {
            uid: owner.wrapping_add(1),
            gid: group,
            groups: vec![],
            listed_groups: Vec::new(),
        };
        let as_other = Identity {
            uid: owner.wrapping_add(1),
            gid: group.wrapping_add(1),
            groups: vec![],
            listed_groups: Vec::new(),
        };
        let read = AccessSet::EMPTY.with(crate::policy::Access::Read);
        let write = AccessSet::EMPTY.with(crate::policy::Access::Write);
        let cases = [
            (0o600, &as_owner, read, true),
            (0o600, &as_owner, write, true),
            (0o400, &as_owner, write, false),
            (0o640, &as_group, read, true),
            (0o640, &as_group, write, false),
            (0o640, &as_other, read, false),
            (0o604, &as_other, read, true),
            (0o000, &as_owner, read, false),
        ];
        for (mode, who, access, expected) in cases {
            assert_eq!(
                mode_grants(&stat_with(mode), who, access),
                expected,
                "{mode:o} {who:?} {access}"
            );
        }
    }

    #[test]
    fn components_in_pop_order() {
        for (path, expected) in [
            (
                &b"/a//./b/../c"[..],
                &[&b"a"[..], b".", b"b", b"..", b"c"][..],
            ),
            (b"a/b/", &[b"a", b"b", b"."]),
            (b"/", &[]),
            (b"file/.", &[b"file", b"."]),
        ] {
            let mut components = components_reversed(path);
            for component in expected {
                assert_eq!(components.pop().unwrap(), *component);
            }
            assert!(components.is_empty(), "{}", String::from_utf8_lossy(path));
        }
    }

    #[test]
    fn allowed_file_is_served_with_its_canonical_path() {
        let tree = Tree::new();
        let (opened, approved) = open_approved(
            &tree.policy("\"read\"", "\"file\""),
            &tree.path("allowed/file"),
            libc::O_RDONLY,
        );
        let opened = opened.unwrap();
        assert_eq!(
            approved.unwrap(),
            tree.path("allowed/file").as_os_str().as_bytes()
        );
        assert_eq!(
            std::fs::read_to_string(format!("/proc/self/fd/{}", opened.fd.as_raw_fd())).unwrap(),
            "allowed content"
        );
    }

    #[test]
    fn lexical_refusal_comes_before_any_lookup() {
        // P1: a path outside the policy that does not even exist is EACCES, not ENOENT.
        let tree = Tree::new();
        let refusal = open_with(
            &tree.policy("\"read\"", "\"file\""),
            &tree.path("secret/missing"),
            libc::O_RDONLY,
        )
        .unwrap_err();
        assert_eq!(refusal.errno, Errno::EACCES);
        assert_eq!(refusal.progress, None, "nothing was resolved");
    }

    #[test]
    fn symlinks_out_of_the_allowed_tree_are_refused() {
        let tree = Tree::new();
        symlink(tree.path("secret/shadow"), tree.path("allowed/link")).unwrap();
        symlink(tree.path("secret"), tree.path("allowed/dirlink")).unwrap();
        symlink("../secret/shadow", tree.path("allowed/relative")).unwrap();
        let policy = tree.policy("\"read\"", "\"file\"");
        for path in [
            "allowed/link",
            "allowed/dirlink/shadow",
            "allowed/relative",
            "allowed/../secret/shadow",
        ] {
            let refusal = open_with(&policy, &tree.path(path), libc::O_RDONLY).unwrap_err();
            assert_eq!(refusal.errno, Errno::EACCES, "{path}");
        }
        let refusal = open_with(&policy, &tree.path("allowed/link"), libc::O_RDONLY).unwrap_err();
        assert_eq!(
            refusal.progress,
            Some(Progress::Canonical(
                tree.path("secret/shadow").into_os_string().into_vec()
            ))
        );
    }

    #[test]
    fn symlink_to_an_allowed_target_is_served() {
        let tree = Tree::new();
        symlink("file", tree.path("allowed/alias")).unwrap();
        let (opened, approved) = open_approved(
            &tree.policy("\"read\"", "\"file\""),
            &tree.path("allowed/alias"),
            libc::O_RDONLY,
        );
        assert!(opened.is_ok());
        assert_eq!(
            approved.unwrap(),
            tree.path("allowed/file").as_os_str().as_bytes()
        );
        let refusal = open_with(
            &tree.policy("\"read\"", "\"file\""),
            &tree.path("allowed/alias"),
            libc::O_RDONLY | libc::O_NOFOLLOW,
        )
        .unwrap_err();
        assert_eq!(
            refusal.errno,
            Errno::ELOOP,
            "O_NOFOLLOW on a final symlink, as open(2)"
        );
    }

    #[test]
    fn wrong_type_is_refused_and_fifo_never_blocks() {
        let tree = Tree::new();
        nix::unistd::mkfifo(&tree.path("allowed/fifo"), Mode::from_bits_truncate(0o644)).unwrap();
        let files_only = tree.policy("\"read\"", "\"file\"");
        assert_eq!(
            open_with(&files_only, &tree.path("allowed/fifo"), libc::O_RDONLY)
                .unwrap_err()
                .errno,
            Errno::EACCES
        );
        assert_eq!(
            open_with(&files_only, &tree.path("allowed"), libc::O_RDONLY)
                .unwrap_err()
                .errno,
            Errno::EACCES
        );

        let fifos = tree.policy("\"read\", \"write\"", "\"fifo\"");
        let opened = open_with(&fifos, &tree.path("allowed/fifo"), libc::O_RDONLY)
            .expect("read side opens at once");
        let status = OFlag::from_bits_retain(fcntl(&opened.fd, FcntlArg::F_GETFL).unwrap());
        assert!(
            !status.contains(OFlag::O_NONBLOCK),
            "the caller gets the blocking mode it asked for"
        );
        drop(opened);
        let refusal = open_with(&fifos, &tree.path("allowed/fifo"), libc::O_WRONLY).unwrap_err();
        assert_eq!(
            refusal.errno,
            Errno::ENXIO,
            "no reader: fails instead of blocking"
        );
    }

    #[test]
    fn refused_truncate_leaves_the_file_alone() {
        let tree = Tree::new();
        let file = tree.path("allowed/file");
        let before = std::fs::metadata(&file).unwrap();
        for flags in [
            libc::O_RDONLY | libc::O_TRUNC,
            libc::O_WRONLY,
            libc::O_RDWR,
            libc::O_WRONLY | libc::O_APPEND,
        ] {
            let refusal =
                open_with(&tree.policy("\"read\"", "\"file\""), &file, flags).unwrap_err();
            assert_eq!(refusal.errno, Errno::EACCES, "{flags:#o}");
        }
        let after = std::fs::metadata(&file).unwrap();
        assert_eq!(
            (after.len(), after.mtime(), after.mtime_nsec()),
            (before.len(), before.mtime(), before.mtime_nsec())
        );
    }

    #[test]
    fn creation_needs_the_grant_and_makes_a_plain_file() {
        let tree = Tree::new();
        let new = tree.path("allowed/new");
        let refusal = open_with(
            &tree.policy("\"write\"", "\"file\""),
            &new,
            libc::O_WRONLY | libc::O_CREAT,
        )
        .unwrap_err();
        assert_eq!(refusal.errno, Errno::EACCES);
        assert!(!new.exists(), "nothing created without the create grant");

        let opened = open_with(
            &tree.policy("\"write\", \"create\"", "\"file\""),
            &new,
            libc::O_WRONLY | libc::O_CREAT,
        )
        .unwrap();
        let metadata = std::fs::metadata(&new).unwrap();
        assert!(metadata.is_file());
        assert_eq!(metadata.uid(), nix::unistd::getuid().as_raw());
        assert_eq!(metadata.permissions().mode() & 0o7000, 0);
        drop(opened);

        let refusal = open_with(
            &tree.policy("\"write\", \"create\"", "\"file\""),
            &new,
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
        )
        .unwrap_err();
        assert_eq!(refusal.errno, Errno::EEXIST);
    }

    #[test]
    fn creation_never_goes_through_a_dangling_symlink() {
        let tree = Tree::new();
        symlink(tree.path("secret/planted"), tree.path("allowed/dangling")).unwrap();
        let policy = tree.policy("\"write\", \"create\"", "\"file\"");
        let refusal = open_with(
            &policy,
            &tree.path("allowed/dangling"),
            libc::O_WRONLY | libc::O_CREAT,
        )
        .unwrap_err();
        assert_eq!(refusal.errno, Errno::EACCES, "{}", refusal.reason);
        assert!(
            !tree.path("secret/planted").exists(),
            "the symlink's target was not created"
        );
    }

    #[test]
    fn magic_links_are_never_followed() {
        let tree = Tree::new();
        let everything = {
            let (rules, _) = Policy::parse(
                "[[allow]]\npath = \"/**\"\nusers = [\"*\"]\naccess = [\"read\"]\ntypes = [\"file\", \"dir\", \"char\"]\n",
                Path::new("test.toml"),
                &NoNames,
            )
            .unwrap();
            let mut policy = Policy::new();
            policy.add_rules(rules);
            policy
        };
        let file = std::fs::File::open(tree.path("secret/shadow")).unwrap();
        let via_fd = format!("/proc/self/fd/{}", file.as_raw_fd());
        let via_root = format!(
            "/proc/{}/root{}",
            std::process::id(),
            tree.path("secret/shadow").display()
        );
        for path in [via_fd.as_str(), via_root.as_str(), "/proc/self/cwd/x"] {
            let refusal = open_with(&everything, Path::new(path), libc::O_RDONLY).unwrap_err();
            assert_eq!(refusal.errno, Errno::ELOOP, "{path}");
        }
    }

    #[test]
    fn walk_agrees_with_openat2() {
        let tree = Tree::new();
        symlink("file", tree.path("allowed/relative")).unwrap();
        symlink(tree.path("allowed"), tree.path("absolute-dir")).unwrap();
        std::fs::create_dir(tree.path("allowed/sub")).unwrap();
        symlink("../../secret", tree.path("allowed/sub/up")).unwrap();
        symlink("file/", tree.path("allowed/slashed")).unwrap();
        let privilege = Privilege::none();
        for path in [
            "allowed/file",
            "allowed/relative",
            "absolute-dir/file",
            "allowed/sub/../file",
            "absolute-dir/sub/../relative",
            // The kernel's `.` and `..`, not the lexical ones.
            "allowed/file/.",
            "allowed/file/",
            "allowed/missing/../file",
            "allowed/sub/up/../allowed/file",
            "allowed/sub/up/../file",
            "allowed/slashed",
            "allowed/sub/.",
            "allowed/sub/",
        ] {
            let path = tree.path(path);
            let bytes = path.as_os_str().as_bytes();
            let identity = |result: Result<OwnedFd, Errno>| {
                result.map(|fd| {
                    let stat = fstat(fd).unwrap();
                    (stat.st_dev, stat.st_ino)
                })
            };
            let walked = identity(walk(&privilege, bytes, OFlag::empty()).map_err(|s| s.errno));
            let resolved =
                identity(resolve(&privilege, bytes, OFlag::empty()).map_err(|u| u.errno));
            let kernel = identity(open(&path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()));
            assert_eq!(walked, kernel, "walk: {}", path.display());
            assert_eq!(resolved, kernel, "openat2: {}", path.display());
        }
    }

    #[test]
    fn relative_paths_resolve_from_the_working_directory() {
        // The test process's working directory is the crate's: Cargo.toml is there.
        let privilege = Privilege::none();
        let expected = fstat(
            open(
                "Cargo.toml",
                OFlag::O_PATH | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .unwrap(),
        )
        .unwrap();
        for path in [&b"Cargo.toml"[..], b"./Cargo.toml", b"src/../Cargo.toml"] {
            for fd in [
                walk(&privilege, path, OFlag::empty()).unwrap(),
                resolve(&privilege, path, OFlag::empty()).unwrap(),
            ] {
                let stat = fstat(fd).unwrap();
                assert_eq!(
                    (stat.st_dev, stat.st_ino),
                    (expected.st_dev, expected.st_ino)
                );
            }
        }
    }

    #[test]
    fn a_failed_resolution_says_how_far_it_got() {
        let tree = Tree::new();
        symlink(tree.path("secret"), tree.path("allowed/vault")).unwrap();
        let privilege = Privilege::none();
        let secret = tree.path("secret");
        let secret = secret.as_os_str().as_bytes();
        for (path, extra, expected) in [
            (
                "allowed/vault/missing",
                OFlag::empty(),
                [secret, b"/missing"].concat(),
            ),
            (
                "allowed/vault/missing/x",
                OFlag::empty(),
                [secret, b"/missing"].concat(),
            ),
            (
                "allowed/vault/shadow/x",
                OFlag::empty(),
                [secret, b"/shadow"].concat(),
            ),
            (
                "allowed/vault/shadow",
                OFlag::O_DIRECTORY,
                [secret, b"/shadow"].concat(),
            ),
        ] {
            let path = tree.path(path);
            assert_eq!(
                reached(&privilege, path.as_os_str().as_bytes(), extra),
                Some(expected),
                "{}",
                path.display()
            );
        }
        assert_eq!(
            reached(
                &privilege,
                tree.path("allowed/file").as_os_str().as_bytes(),
                OFlag::empty()
            ),
            None,
            "it resolves"
        );
    }

    #[test]
    fn the_object_opened_is_the_one_open_would_open() {
        let tree = Tree::new();
        std::fs::create_dir(tree.path("allowed/a")).unwrap();
        std::fs::write(tree.path("allowed/a/f"), b"lexical").unwrap();
        std::fs::create_dir(tree.path("allowed/elsewhere")).unwrap();
        std::fs::create_dir(tree.path("allowed/elsewhere/deep")).unwrap();
        std::fs::write(tree.path("allowed/elsewhere/f"), b"kernel").unwrap();
        symlink("../elsewhere/deep", tree.path("allowed/a/link")).unwrap();
        let policy = tree.policy("\"read\", \"write\", \"create\"", "\"file\"");
        for (path, expected) in [
            ("allowed/file/.", Err(Errno::ENOTDIR)),
            ("allowed/file/", Err(Errno::ENOTDIR)),
            ("allowed/missing/../file", Err(Errno::ENOENT)),
            ("allowed/a/link/../f", Ok(&b"kernel"[..])),
        ] {
            let outcome = open_with(&policy, &tree.path(path), libc::O_RDONLY)
                .map(|opened| read_all(opened.fd))
                .map_err(|refusal| refusal.errno);
            assert_eq!(outcome, expected.map(<[u8]>::to_vec), "{path}");
        }
        let create = libc::O_WRONLY | libc::O_CREAT;
        assert_eq!(
            open_with(&policy, &tree.path("allowed/missing/../new"), create)
                .unwrap_err()
                .errno,
            Errno::ENOENT
        );
        assert!(!tree.path("allowed/new").exists());
        open_with(&policy, &tree.path("allowed/a/link/../made"), create).unwrap();
        assert!(tree.path("allowed/elsewhere/made").exists());
        assert!(!tree.path("allowed/a/made").exists());
        // The lexical path is allowed, the object open(2) reaches is not.
        symlink(tree.path("secret/x/y"), tree.path("allowed/a/out")).unwrap();
        std::fs::create_dir_all(tree.path("secret/x/y")).unwrap();
        let refusal = open_with(
            &policy,
            &tree.path("allowed/a/out/../../shadow"),
            libc::O_RDONLY,
        )
        .unwrap_err();
        assert_eq!(refusal.errno, Errno::EACCES);
        assert_eq!(
            refusal.progress,
            Some(Progress::Canonical(
                tree.path("secret/shadow").into_os_string().into_vec()
            ))
        );
    }

    fn read_all(fd: OwnedFd) -> Vec<u8> {
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut std::fs::File::from(fd), &mut content).unwrap();
        content
    }

    #[test]
    fn the_hook_runs_before_the_effect_and_can_refuse_it() {
        let tree = Tree::new();
        let policy = tree.policy("\"read\", \"write\", \"create\", \"truncate\"", "\"file\"");
        let file = tree.path("allowed/file");
        let new = tree.path("allowed/new");
        let seen = std::cell::RefCell::new(Vec::new());
        let refuse = |grant: &Approved<'_>| {
            seen.borrow_mut().push(grant.canonical.to_vec());
            // The file is as it was when the hook runs.
            assert_eq!(std::fs::read(&file).unwrap(), b"allowed content");
            assert!(!new.exists());
            Err(Refusal::new(Errno::EAGAIN, "no record".into(), false))
        };
        for (path, flags) in [
            (&file, libc::O_WRONLY | libc::O_TRUNC),
            (&new, libc::O_WRONLY | libc::O_CREAT),
        ] {
            let refusal = open_checked(
                Some(&policy),
                &me(),
                &Privilege::none(),
                path.as_os_str(),
                flags,
                0o600,
                &refuse,
            )
            .unwrap_err();
            assert_eq!(refusal.errno, Errno::EAGAIN);
        }
        assert_eq!(
            std::fs::read(&file).unwrap(),
            b"allowed content",
            "not truncated"
        );
        assert!(!new.exists(), "not created");
        assert_eq!(
            *seen.borrow(),
            [file.as_os_str().as_bytes(), new.as_os_str().as_bytes()]
        );
        // A refusal before the grant never reaches the hook.
        let never =
            |_: &Approved<'_>| -> Result<(), Refusal> { panic!("the hook ran for a refusal") };
        let refusal = open_checked(
            Some(&policy),
            &me(),
            &Privilege::none(),
            tree.path("secret/shadow").as_os_str(),
            libc::O_RDONLY,
            0,
            &never,
        )
        .unwrap_err();
        assert_eq!(refusal.errno, Errno::EACCES);
    }

    #[test]
    fn a_lexical_refusal_keeps_the_cleaned_path() {
        let tree = Tree::new();
        let mut padded = tree.path("allowed").into_os_string().into_vec();
        padded.extend(b"/.".repeat(300));
        padded.extend_from_slice(b"/../secret/shadow");
        let refusal = open_with(
            &tree.policy("\"read\"", "\"file\""),
            Path::new(OsStr::from_bytes(&padded)),
            libc::O_RDONLY,
        )
        .unwrap_err();
        assert_eq!(
            refusal.progress,
            Some(Progress::Cleaned(
                tree.path("secret/shadow").into_os_string().into_vec()
            ))
        );
    }

    #[test]
    fn only_procfs_may_say_where_an_object_is() {
        assert!(own_fds::procfs_directory("/proc/self/fd").is_ok());
        let elsewhere = tempfile::tempdir().unwrap();
        assert_eq!(
            own_fds::procfs_directory(elsewhere.path().to_str().unwrap()).unwrap_err(),
            Errno::EXDEV,
            "a directory that is not on procfs is not trusted with canonical paths"
        );
    }

    #[test]
    fn walk_refuses_loops_and_magic_links() {
        let tree = Tree::new();
        symlink("loop-b", tree.path("loop-a")).unwrap();
        symlink("loop-a", tree.path("loop-b")).unwrap();
        let privilege = Privilege::none();
        assert_eq!(
            walk(
                &privilege,
                tree.path("loop-a").as_os_str().as_bytes(),
                OFlag::empty()
            )
            .unwrap_err()
            .errno,
            Errno::ELOOP
        );
        assert_eq!(
            walk(&privilege, b"/proc/self/cwd", OFlag::empty())
                .unwrap_err()
                .errno,
            Errno::ELOOP
        );
        assert_eq!(
            walk(&privilege, b"/proc/self/root/etc", OFlag::empty())
                .unwrap_err()
                .errno,
            Errno::ELOOP
        );
        let link = walk(
            &privilege,
            tree.path("loop-a").as_os_str().as_bytes(),
            OFlag::O_NOFOLLOW,
        )
        .unwrap();
        assert_eq!(file_kind(&fstat(&link).unwrap()), SFlag::S_IFLNK);
    }
}
