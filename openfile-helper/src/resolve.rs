//! Safe resolution and open (P1-P4).
//!
//! 1. The requested path is made absolute and cleaned lexically, and the policy is asked about
//!    it before anything touches the filesystem (P1: no existence oracle outside the policy).
//! 2. The path is resolved to an `O_PATH` descriptor with `openat2(RESOLVE_NO_MAGICLINKS)` (or a
//!    component-by-component `O_NOFOLLOW` walk where openat2 is missing), with only
//!    CAP_DAC_READ_SEARCH raised. An `O_PATH` open never opens a device or blocks on a FIFO.
//! 3. The canonical path and the type of the object actually reached are read from that
//!    descriptor, and the policy is asked again (P2, P3). No second lookup of the path string.
//! 4. The object is reopened through its descriptor with the caller's flags and only the
//!    capability that access needs. O_TRUNC takes effect only here, after every check (P4).
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

/// An object opened for the caller.
#[derive(Debug)]
pub struct Opened {
    /// The descriptor to pass back.
    pub fd: OwnedFd,
    /// Where the object really is.
    pub canonical: Vec<u8>,
    /// The policy's decision on the object itself.
    pub decision: Decision,
}

/// A request that was not served.
#[derive(Debug)]
pub struct Refusal {
    /// What the caller is told.
    pub errno: Errno,
    /// The canonical path, when resolution got that far.
    pub canonical: Option<Vec<u8>>,
    /// The policy's decision, when the policy refused.
    pub decision: Option<Decision>,
    /// Why, in words, for the audit log.
    pub reason: String,
    /// Whether the policy refused (no rule, a deny, a wrong type, an escape through a symlink),
    /// as opposed to the system.
    pub by_policy: bool,
}

impl Refusal {
    fn system(errno: Errno, during: &str) -> Refusal {
        Refusal {
            errno,
            canonical: None,
            decision: None,
            reason: format!("{during}: {}", errno.desc()),
            by_policy: false,
        }
    }

    fn policy(decision: Decision, canonical: Option<Vec<u8>>) -> Refusal {
        let reason = decision.to_string();
        Refusal {
            errno: Errno::EACCES,
            canonical,
            decision: Some(decision),
            reason,
            by_policy: true,
        }
    }

    fn escape(canonical: Option<Vec<u8>>, why: &str) -> Refusal {
        Refusal {
            errno: Errno::EACCES,
            canonical,
            decision: None,
            reason: why.to_owned(),
            by_policy: true,
        }
    }
}

/// Opens `path` with `flags` for `who` if `policy` allows it, by the steps in the module docs.
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
) -> Result<Opened, Refusal> {
    let access = AccessSet::from_open_flags(flags).map_err(|error| Refusal {
        errno: Errno::EINVAL,
        canonical: None,
        decision: None,
        reason: error.to_string(),
        by_policy: false,
    })?;
    let requested = absolute_clean(path.as_bytes())?;

    let lexical = judge(policy, who, &requested, access, None);
    if !lexical.allowed {
        return Err(Refusal::policy(lexical, None));
    }

    // As with open(2), a trailing slash means the object must be a directory.
    let trailing_slash = path.as_bytes().len() > 1 && path.as_bytes().ends_with(b"/");
    let wants = OFlag::from_bits_retain(flags)
        | if trailing_slash {
            OFlag::O_DIRECTORY
        } else {
            OFlag::empty()
        };
    let mut attempts = 0;
    loop {
        attempts += 1;
        let resolve_flags = wants & (OFlag::O_NOFOLLOW | OFlag::O_DIRECTORY);
        match resolve(privilege, &requested, resolve_flags) {
            Ok(object) => return open_existing(policy, who, privilege, object, access, wants),
            Err(Errno::ENOENT) if wants.contains(OFlag::O_CREAT) => {
                match create(
                    policy,
                    who,
                    privilege,
                    &requested,
                    access,
                    wants,
                    creation_mode,
                ) {
                    // The name exists but does not resolve: a dangling symlink. open(2) would
                    // create its target, wherever it points; never do that with privilege.
                    Err(refusal)
                        if refusal.errno == Errno::EEXIST && dangling(privilege, &requested) =>
                    {
                        return Err(Refusal::escape(
                            refusal.canonical,
                            "a dangling symbolic link is in the way; its target is not created",
                        ));
                    }
                    // Someone created it between our two looks: treat it as existing.
                    Err(refusal)
                        if refusal.errno == Errno::EEXIST && !wants.contains(OFlag::O_EXCL) =>
                    {
                        if attempts >= MAX_ATTEMPTS {
                            return Err(refusal);
                        }
                    }
                    result => return result,
                }
            }
            Err(errno) => return Err(Refusal::system(errno, "resolving the path")),
        }
    }
}

/// Whether `path` names something that exists but does not resolve (a dangling symlink).
fn dangling(privilege: &Privilege, path: &[u8]) -> bool {
    resolve(privilege, path, OFlag::empty()).err() == Some(Errno::ENOENT)
        && resolve(privilege, path, OFlag::O_NOFOLLOW).is_ok()
}

/// Makes `path` absolute (relative to the working directory the caller passed down) and
/// removes empty, `.` and `..` components lexically, so the policy sees what a reader sees.
/// The kernel's own resolution of `..` may differ through symlinks; the check on the opened
/// object (step 3) is what makes that safe.
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

/// Resolves `path` to an `O_PATH` descriptor, never following a magic link.
fn resolve(privilege: &Privilege, path: &[u8], extra: OFlag) -> Result<OwnedFd, Errno> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC | extra)
        .resolve(ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let path = OsStr::from_bytes(path);
    for _ in 0..MAX_ATTEMPTS {
        // Searching directories seldom needs CAP_DAC_READ_SEARCH: try with the caller's own
        // rights, and raise it only when the kernel says no. Either way the object reached is
        // what gets checked.
        let attempt = match openat2(AT_FDCWD, path, how) {
            Err(Errno::EACCES) => privilege.with(Need::ReadSearch, || openat2(AT_FDCWD, path, how)),
            other => other,
        };
        match attempt {
            Err(Errno::EAGAIN) => continue,
            // No openat2 (kernel before 5.6), or a seccomp filter refusing it.
            Err(Errno::ENOSYS | Errno::EPERM | Errno::E2BIG) => {
                return walk(privilege, path.as_bytes(), extra);
            }
            result => return result,
        }
    }
    Err(Errno::EAGAIN)
}

/// The fallback resolution: one component at a time with `O_PATH | O_NOFOLLOW`, following
/// symbolic links by their text, and refusing any link that lives on procfs (magic links).
pub fn walk(privilege: &Privilege, path: &[u8], extra: OFlag) -> Result<OwnedFd, Errno> {
    let open_component = |directory: &OwnedFd, name: &[u8], flags: OFlag| {
        privilege.with_if_refused(Need::ReadSearch, || {
            openat(
                directory,
                OsStr::from_bytes(name),
                OFlag::O_PATH | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW | flags,
                Mode::empty(),
            )
        })
    };
    let root = open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut pending: Vec<Vec<u8>> = components_reversed(path);
    let mut current = root.try_clone().map_err(|_| Errno::EMFILE)?;
    let mut links_followed = 0;
    while let Some(name) = pending.pop() {
        let last = pending.is_empty();
        let flags = if last {
            extra & OFlag::O_DIRECTORY
        } else {
            OFlag::O_DIRECTORY
        };
        if name == b".." {
            current = open_component(&current, b"..", OFlag::O_DIRECTORY)?;
            continue;
        }
        let next = open_component(&current, &name, OFlag::empty())?;
        let stat = fstat(&next)?;
        if file_kind(&stat) != SFlag::S_IFLNK {
            if flags.contains(OFlag::O_DIRECTORY) && file_kind(&stat) != SFlag::S_IFDIR {
                return Err(Errno::ENOTDIR);
            }
            current = next;
            continue;
        }
        if last && extra.contains(OFlag::O_NOFOLLOW) {
            return Ok(next);
        }
        links_followed += 1;
        if links_followed > MAX_SYMLINKS || fstatfs(&current)?.filesystem_type() == PROC_SUPER_MAGIC
        {
            return Err(Errno::ELOOP);
        }
        let target = privilege.with_if_refused(Need::ReadSearch, || {
            readlinkat(&current, OsStr::from_bytes(&name))
        })?;
        let target = target.into_vec();
        if target.starts_with(b"/") {
            current = root.try_clone().map_err(|_| Errno::EMFILE)?;
        }
        pending.extend(components_reversed(&target));
    }
    Ok(current)
}

/// Path components in reverse order (so that `pop` yields them first to last), without empty
/// and `.` components.
fn components_reversed(path: &[u8]) -> Vec<Vec<u8>> {
    path.split(|&byte| byte == b'/')
        .filter(|component| !matches!(*component, b"" | b"."))
        .rev()
        .map(<[u8]>::to_vec)
        .collect()
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

    thread_local! {
        /// The process the directory was opened in, and the directory: after a fork it would
        /// list the parent's descriptors, so it is reopened when the pid changes.
        static DIRECTORY: RefCell<Option<(u32, OwnedFd)>> = const { RefCell::new(None) };
    }

    /// Runs `relative` on the cached directory with `fd`'s name in it, or `absolute` on the
    /// full `/proc/self/fd/N` path when the directory cannot be had (a tiny descriptor limit).
    fn through<T>(
        fd: &OwnedFd,
        relative: impl FnOnce(&OwnedFd, &str) -> Result<T, Errno>,
        absolute: impl FnOnce(&str) -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        let name = fd.as_raw_fd().to_string();
        let pid = std::process::id();
        DIRECTORY.with_borrow_mut(|cached| {
            if cached
                .as_ref()
                .is_none_or(|(opened_in, _)| *opened_in != pid)
            {
                let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
                *cached = open("/proc/self/fd", flags, Mode::empty())
                    .ok()
                    .map(|directory| (pid, directory));
            }
            match cached.as_ref() {
                Some((_, directory)) => relative(directory, &name),
                None => absolute(&format!("/proc/self/fd/{name}")),
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

/// The path of the object behind `fd`, as the kernel knows it.
fn canonical_path(fd: &OwnedFd) -> Result<Vec<u8>, Refusal> {
    let target = own_fds::read_link(fd)
        .map_err(|errno| {
            Refusal::escape(
                None,
                &format!("cannot read the opened object's path: {}", errno.desc()),
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

fn open_existing(
    policy: Option<&Policy>,
    who: &Identity,
    privilege: &Privilege,
    object: OwnedFd,
    access: AccessSet,
    wants: OFlag,
) -> Result<Opened, Refusal> {
    let stat = fstat(&object).map_err(|errno| Refusal::system(errno, "fstat"))?;
    let Some(file_type) = FileType::from_mode(stat.st_mode) else {
        // Only a final symlink opened with O_NOFOLLOW gets here, as with open(2).
        return Err(Refusal::system(Errno::ELOOP, "opening with O_NOFOLLOW"));
    };
    let canonical = canonical_path(&object)?;
    let decision = judge(policy, who, &canonical, access, Some(file_type));
    if !decision.allowed {
        return Err(Refusal::policy(decision, Some(canonical)));
    }
    if wants.contains(OFlag::O_CREAT | OFlag::O_EXCL) {
        return Err(Refusal {
            errno: Errno::EEXIST,
            canonical: Some(canonical),
            decision: Some(decision),
            reason: "exists".into(),
            by_policy: false,
        });
    }
    // A hard link can put someone else's file at an allowed path (where protected_hardlinks is
    // off); only the owner's own multiply-linked files are served.
    if policy.is_some()
        && file_type == FileType::File
        && stat.st_nlink > 1
        && stat.st_uid != who.uid
    {
        return Err(Refusal::escape(
            Some(canonical),
            "file has several hard links and is not the caller's",
        ));
    }
    let own_rights = mode_grants(&stat, who, access);
    let fd = reopen(privilege, &object, file_type, access, wants, own_rights).map_err(|errno| {
        Refusal {
            errno,
            canonical: Some(canonical.clone()),
            decision: Some(decision.clone()),
            reason: format!("reopening: {}", errno.desc()),
            by_policy: false,
        }
    })?;
    let reopened = fstat(&fd).map_err(|errno| Refusal::system(errno, "fstat"))?;
    if (reopened.st_dev, reopened.st_ino) != (stat.st_dev, stat.st_ino) {
        return Err(Refusal::escape(
            Some(canonical),
            "the reopened object is not the one checked",
        ));
    }
    Ok(Opened {
        fd,
        canonical,
        decision,
    })
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
    let mut flags =
        (wants - (OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW)) | OFlag::O_CLOEXEC;
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

fn create(
    policy: Option<&Policy>,
    who: &Identity,
    privilege: &Privilege,
    requested: &[u8],
    access: AccessSet,
    wants: OFlag,
    creation_mode: u32,
) -> Result<Opened, Refusal> {
    let split = requested
        .iter()
        .rposition(|&byte| byte == b'/')
        .unwrap_or(0);
    let (parent, name) = (&requested[..split.max(1)], &requested[split + 1..]);
    if name.is_empty() || wants.contains(OFlag::O_DIRECTORY) {
        return Err(Refusal::system(Errno::EISDIR, "creating"));
    }
    let directory = resolve(privilege, parent, OFlag::O_DIRECTORY)
        .map_err(|errno| Refusal::system(errno, "resolving the parent directory"))?;
    let mut candidate = canonical_path(&directory)?;
    if candidate != b"/" {
        candidate.push(b'/');
    }
    candidate.extend_from_slice(name);
    let decision = judge(policy, who, &candidate, access, Some(FileType::File));
    if !decision.allowed {
        return Err(Refusal::policy(decision, Some(candidate)));
    }
    let flags = (wants - OFlag::O_NOFOLLOW)
        | OFlag::O_CREAT
        | OFlag::O_EXCL
        | OFlag::O_NOFOLLOW
        | OFlag::O_CLOEXEC;
    // The requested mode (0666 for the one-shot protocol) filtered by the caller's umask
    // (inherited), never set-id or sticky bits; owned by the caller, whose ids the helper has.
    // Writing into the directory needs CAP_DAC_OVERRIDE only when the caller may not.
    let created = privilege.with_if_refused(Need::Override, || {
        openat(
            &directory,
            OsStr::from_bytes(name),
            flags,
            Mode::from_bits_truncate(creation_mode & 0o777),
        )
    });
    let fd = match created {
        Ok(fd) => fd,
        // EEXIST: something appeared at the name since we looked, possibly a symlink: never
        // follow it here; the caller retries from the top unless O_EXCL was asked for.
        Err(errno) => {
            return Err(Refusal {
                errno,
                canonical: Some(candidate),
                decision: Some(decision),
                reason: format!("creating: {}", errno.desc()),
                by_policy: false,
            });
        }
    };
    let stat = fstat(&fd).map_err(|errno| Refusal::system(errno, "fstat"))?;
    if file_kind(&stat) != SFlag::S_IFREG || stat.st_uid != who.uid {
        return Err(Refusal::escape(
            Some(candidate),
            "the created object is not the caller's regular file",
        ));
    }
    Ok(Opened {
        fd,
        canonical: candidate,
        decision,
    })
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
        }
    }

    fn open_with(policy: &Policy, path: &Path, flags: i32) -> Result<Opened, Refusal> {
        open_checked(
            Some(policy),
            &me(),
            &Privilege::none(),
            path.as_os_str(),
            flags,
            0o666,
        )
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
        };
        let as_group = Identity {
            uid: owner.wrapping_add(1),
            gid: group,
            groups: vec![],
        };
        let as_other = Identity {
            uid: owner.wrapping_add(1),
            gid: group.wrapping_add(1),
            groups: vec![],
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
        let mut components = components_reversed(b"/a//./b/../c");
        assert_eq!(components.pop().unwrap(), b"a");
        assert_eq!(components.pop().unwrap(), b"b");
        assert_eq!(components.pop().unwrap(), b"..");
        assert_eq!(components.pop().unwrap(), b"c");
        assert!(components.is_empty());
    }

    #[test]
    fn allowed_file_is_served_with_its_canonical_path() {
        let tree = Tree::new();
        let opened = open_with(
            &tree.policy("\"read\"", "\"file\""),
            &tree.path("allowed/file"),
            libc::O_RDONLY,
        )
        .unwrap();
        assert_eq!(
            opened.canonical,
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
        assert_eq!(refusal.canonical, None, "nothing was resolved");
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
            refusal.canonical.unwrap(),
            tree.path("secret/shadow").as_os_str().as_bytes()
        );
    }

    #[test]
    fn symlink_to_an_allowed_target_is_served() {
        let tree = Tree::new();
        symlink("file", tree.path("allowed/alias")).unwrap();
        let opened = open_with(
            &tree.policy("\"read\"", "\"file\""),
            &tree.path("allowed/alias"),
            libc::O_RDONLY,
        )
        .unwrap();
        assert_eq!(
            opened.canonical,
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
        let privilege = Privilege::none();
        for path in [
            "allowed/file",
            "allowed/relative",
            "absolute-dir/file",
            "allowed/sub/../file",
            "absolute-dir/sub/../relative",
        ] {
            let path = tree.path(path);
            let bytes = path.as_os_str().as_bytes();
            let walked = fstat(walk(&privilege, bytes, OFlag::empty()).unwrap()).unwrap();
            let resolved = fstat(resolve(&privilege, bytes, OFlag::empty()).unwrap()).unwrap();
            assert_eq!(
                (walked.st_dev, walked.st_ino),
                (resolved.st_dev, resolved.st_ino),
                "{}",
                path.display()
            );
        }
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
            .unwrap_err(),
            Errno::ELOOP
        );
        assert_eq!(
            walk(&privilege, b"/proc/self/cwd", OFlag::empty()).unwrap_err(),
            Errno::ELOOP
        );
        assert_eq!(
            walk(&privilege, b"/proc/self/root/etc", OFlag::empty()).unwrap_err(),
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
