//! Reading the policy from disk: the only part of the policy engine that does I/O.
//!
//! Trust is checked on descriptors (P7). The walk opens `/` and then each component of the
//! configuration directory with `openat(..., O_NOFOLLOW)` relative to the previous descriptor,
//! and fstat()s what it got, so nothing is looked up twice by name and a symbolic link anywhere
//! is an error rather than something to follow. Files are read from the very descriptor that
//! was checked.

use std::ffi::OsStr;
use std::fmt;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, OFlag, open, openat};
use nix::sys::stat::{FileStat, Mode, fstat, fstatat};

use super::compiled::{CompiledPolicy, Damaged, Reader, Recording, TooLarge, Writer};
use super::error::{FileProblem, PolicyError};
use super::parse::NameResolver;
use super::{LoadedPolicy, Policy};

/// Largest policy file read, in bytes. A typical policy is a few kilobytes; the cap keeps a
/// mistake (or a huge file dropped in by root) from making the helper allocate without bound.
/// Sized for real large policies: a rule takes about 85 bytes, so 1 MiB holds some 12,000 rules
/// (sites with sudoers files of thousands of lines have hundreds to a few thousand rules). Every
/// helper start reads the whole policy, and the cap bounds what one file can make each request
/// pay: a 10,000-rule, 826 KB file costs its load some 16 million instructions
/// (`bench/policy-cost.sh`, musl), a file at the cap some 20 million. The policy keeps each
/// file's text (its globs share it). More rules than that can still be written, as drop-ins
/// (each under the cap), at the same cost per rule.
pub const MAX_POLICY_FILE_SIZE: u64 = 1 << 20;

const GROUP_OR_OTHER_WRITE: u32 = 0o022;

/// How strict to be about a directory's write bits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DirectoryRole {
    /// A directory above the policy tree (like `/etc` or `/tmp`): root-owned and sticky is
    /// enough, because others cannot rename or replace the root-owned entry inside it.
    Ancestor,
    /// `myopen/` or `policy.d/`: which entries exist there matters (a new drop-in, a new
    /// `policy.d`), so no one but root may write to it, sticky or not.
    PolicyTree,
}

/// Loads `$sysconfdir/myopen/policy.toml`, then `$sysconfdir/myopen/policy.d/*.toml` in byte
/// order of their names. A missing `policy.d` is fine; a missing `policy.toml` is an error.
pub fn load(sysconfdir: &Path, resolver: &dyn NameResolver) -> Result<LoadedPolicy, PolicyError> {
    Policy::from_owned_sources(read_sources(sysconfdir)?, resolver)
}

/// Opens `name` under a directory descriptor with `flags`: the one step of loading that may need
/// privilege (reading and listing an open descriptor need none). [`read_sources_with`] takes
/// one, so that the caller can raise a capability around that call and no other.
pub type OpenAt<'a> = &'a dyn Fn(BorrowedFd<'_>, &OsStr, OFlag) -> Result<OwnedFd, Errno>;

/// The checked texts of every policy file, in order, without parsing them, opened with the
/// caller's own rights.
pub fn read_sources(sysconfdir: &Path) -> Result<Vec<(PathBuf, String)>, PolicyError> {
    read_sources_with(sysconfdir, &open_with_own_rights)
}

/// Reads the one policy file at `path` (absolute, or relative to the working directory) with the
/// caller's own rights, through the checks every file of the installed policy gets: not a
/// symbolic link, a regular file (a FIFO or a device never blocks the read), owned by root and
/// writable by no one else, at most [`MAX_POLICY_FILE_SIZE`] bytes, UTF-8. The directories above
/// it are not checked: this is for a file about to be installed (`--check FILE`).
pub fn read_policy_file(path: &Path) -> Result<String, PolicyError> {
    read_trusted_file(&AT_FDCWD, path.as_os_str(), path, &open_with_own_rights)?
        .ok_or_else(|| io(path, "openat", Errno::ENOENT))
}

fn open_with_own_rights(
    directory: BorrowedFd<'_>,
    name: &OsStr,
    flags: OFlag,
) -> Result<OwnedFd, Errno> {
    openat(directory, name, flags, Mode::empty())
}

/// [`read_sources`], opening each directory and file through `open_at`: the part of loading
/// that may need privilege, kept apart from name resolution, which needs none.
pub fn read_sources_with(
    sysconfdir: &Path,
    open_at: OpenAt<'_>,
) -> Result<Vec<(PathBuf, String)>, PolicyError> {
    read_sources_stamped_with(sysconfdir, open_at).map(|(sources, _)| sources)
}

/// [`read_sources_with`], and the [`PolicyStamp`] of what was read: taken from the descriptors
/// the texts came from, so it describes exactly the files read.
pub fn read_sources_stamped_with(
    sysconfdir: &Path,
    open_at: OpenAt<'_>,
) -> Result<(Vec<(PathBuf, String)>, PolicyStamp), PolicyError> {
    walk(sysconfdir, open_at, Contents::Read).map(|(sources, stamp, _)| (sources, stamp))
}

/// The [`PolicyStamp`] the policy has now, through every check a read makes but reading no
/// file: a long-lived helper compares it with the stamp of the policy in hand, and reads the
/// policy again only when they differ.
pub fn stamp_with(sysconfdir: &Path, open_at: OpenAt<'_>) -> Result<PolicyStamp, PolicyError> {
    walk(sysconfdir, open_at, Contents::Skip).map(|(_, stamp, _)| stamp)
}

/// What fstat(2) says about one directory or file: enough that any write, replacement, rename,
/// chmod or chown of it changes it (ctime moves on every change of content or metadata, and
/// cannot be set by anyone).
#[derive(Clone, Debug, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    size: i64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    fn of(status: &FileStat) -> FileStamp {
        FileStamp {
            dev: status.st_dev,
            ino: status.st_ino,
            mode: status.st_mode,
            uid: status.st_uid,
            gid: status.st_gid,
            size: status.st_size,
            mtime: (status.st_mtime, status.st_mtime_nsec),
            ctime: (status.st_ctime, status.st_ctime_nsec),
        }
    }
}

/// How long after a change a file's timestamps are not trusted to show the next one: a
/// timestamp is as coarse as the file system's clock tick (a jiffy; a second or two on some),
/// so a second write within the same tick as the read could leave every field as it was.
pub const SETTLE_TIME: Duration = Duration::from_secs(2);

/// Every directory and file a policy read went through, from `/` down, with the names of the
/// drop-ins, and the user and group databases the names were resolved through; see
/// [`PolicyStamp::unchanged_since`].
#[derive(Clone, Debug)]
pub struct PolicyStamp {
    entries: Vec<(PathBuf, Option<FileStamp>)>,
    /// False when something was changed so shortly before the stamp was taken that a change
    /// right after it might not show ([`SETTLE_TIME`]).
    settled: bool,
}

impl Default for PolicyStamp {
    fn default() -> PolicyStamp {
        PolicyStamp::new()
    }
}

impl PolicyStamp {
    /// The stamp of no files (for policies made from texts, not read from a tree): the stamp of
    /// an installed policy, which always covers files, is never unchanged since it.
    pub fn new() -> PolicyStamp {
        PolicyStamp {
            entries: Vec::new(),
            settled: true,
        }
    }

    fn add(&mut self, path: &Path, status: Option<&FileStat>) {
        if let Some(status) = status {
            let time = |seconds: i64, nanoseconds: i64| {
                Duration::new(
                    u64::try_from(seconds).unwrap_or(0),
                    u32::try_from(nanoseconds).unwrap_or(0),
                )
            };
            let changed = SystemTime::UNIX_EPOCH
                + time(status.st_ctime, status.st_ctime_nsec)
                    .max(time(status.st_mtime, status.st_mtime_nsec));
            // A clock error, or a change less than SETTLE_TIME ago (or in the future).
            let recent = !SystemTime::now()
                .duration_since(changed)
                .is_ok_and(|age| age >= SETTLE_TIME);
            self.settled &= !recent;
        }
        self.entries
            .push((path.to_path_buf(), status.map(FileStamp::of)));
    }

    /// A directory above the policy tree (`/`, `/etc`): only which directory it is, its owner
    /// and its mode matter to the checks a read makes (a replaced one is a new inode). Its times
    /// change whenever anything is created beside the tree, which is no change of the policy.
    fn add_ancestor(&mut self, path: &Path, status: &FileStat) {
        let identity = FileStamp {
            size: 0,
            mtime: (0, 0),
            ctime: (0, 0),
            ..FileStamp::of(status)
        };
        self.entries.push((path.to_path_buf(), Some(identity)));
    }

    /// Whether the files this stamp was taken of are, by every field fstat gives, those
    /// `earlier` was taken of, and `earlier` can be trusted to show a change: nothing it covers
    /// had changed within [`SETTLE_TIME`] before it was taken.
    pub fn unchanged_since(&self, earlier: &PolicyStamp) -> bool {
        earlier.settled && self.entries == earlier.entries
    }

    /// Whether a change right after this stamp was taken is sure to show in the next one.
    pub fn settled(&self) -> bool {
        self.settled
    }

    /// The stamp as a compiled policy stores it.
    pub(crate) fn encode(&self, out: &mut Writer) -> Result<(), TooLarge> {
        out.u8(u8::from(self.settled));
        out.length(self.entries.len())?;
        for (path, stamp) in &self.entries {
            out.bytes(path.as_os_str().as_bytes())?;
            match stamp {
                None => out.u8(0),
                Some(stamp) => {
                    out.u8(1);
                    out.u64(stamp.dev);
                    out.u64(stamp.ino);
                    out.u32(stamp.mode);
                    out.u32(stamp.uid);
                    out.u32(stamp.gid);
                    out.i64(stamp.size);
                    for (seconds, nanoseconds) in [stamp.mtime, stamp.ctime] {
                        out.i64(seconds);
                        out.i64(nanoseconds);
                    }
                }
            }
        }
        Ok(())
    }

    /// [`PolicyStamp::encode`] read back.
    pub(crate) fn decode(reader: &mut Reader<'_>) -> Result<PolicyStamp, Damaged> {
        let settled = match reader.u8()? {
            0 => false,
            1 => true,
            _ => return Err(Damaged("stamp")),
        };
        let count = reader.length()?;
        let mut entries = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            let path = PathBuf::from(OsStr::from_bytes(reader.bytes()?));
            let stamp = match reader.u8()? {
                0 => None,
                1 => Some(FileStamp {
                    dev: reader.u64()?,
                    ino: reader.u64()?,
                    mode: reader.u32()?,
                    uid: reader.u32()?,
                    gid: reader.u32()?,
                    size: reader.i64()?,
                    mtime: (reader.i64()?, reader.i64()?),
                    ctime: (reader.i64()?, reader.i64()?),
                }),
                _ => return Err(Damaged("stamp")),
            };
            entries.push((path, stamp));
        }
        Ok(PolicyStamp { entries, settled })
    }
}

/// The user and group databases of NSS `files`: a policy's names were resolved through them,
/// so a change there (a group renumbered, a user removed) is a change of the policy too. Other
/// NSS sources (LDAP, sssd) have no file to watch.
const NAME_DATABASES: [&str; 2] = ["/etc/passwd", "/etc/group"];

/// What [`walk`] gives back: the texts read, in order, the stamp, and the tree's descriptor.
type Walked = (Vec<(PathBuf, String)>, PolicyStamp, OwnedFd);

/// Whether [`walk`] reads the files it checks, or only stamps them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Contents {
    Read,
    Skip,
}

/// The walk of the policy tree every read and every stamp makes: `/` down to the tree, then
/// policy.toml, then the drop-ins, each checked (P7). With [`Contents::Skip`] the sources come
/// back empty. The tree's checked descriptor comes back too, for the compiled policy inside it.
fn walk(sysconfdir: &Path, open_at: OpenAt<'_>, contents: Contents) -> Result<Walked, PolicyError> {
    let mut stamp = PolicyStamp::new();
    let mut sources = Vec::new();
    let mut take = |path: PathBuf, file: OwnedFd, status: &FileStat, stamp: &mut PolicyStamp| {
        stamp.add(&path, Some(status));
        if contents == Contents::Read {
            sources.push((path.clone(), read_checked(file, status, &path)?));
        }
        Ok::<(), PolicyError>(())
    };
    let tree_path = sysconfdir.join("myopen");
    let tree = open_directory_path(&tree_path, open_at, &mut stamp)?;

    let main_path = tree_path.join("policy.toml");
    let Some((file, status)) = open_trusted_file(
        &tree,
        OsStr::new("policy.toml"),
        &main_path,
        open_at,
        contents,
        MAX_POLICY_FILE_SIZE,
    )?
    else {
        return Err(PolicyError::file(main_path, FileProblem::Missing));
    };
    take(main_path, file, &status, &mut stamp)?;

    let dropin_path = tree_path.join("policy.d");
    match open_directory_at(
        &tree,
        OsStr::new("policy.d"),
        &dropin_path,
        OFlag::O_RDONLY,
        DirectoryRole::PolicyTree,
        open_at,
    )? {
        None => stamp.add(&dropin_path, None),
        Some((dropins, status)) => {
            stamp.add(&dropin_path, Some(&status));
            let mut dropins =
                Dir::from_fd(dropins).map_err(|errno| io(&dropin_path, "fdopendir", errno))?;
            let mut names = Vec::new();
            for entry in dropins.iter() {
                let entry = entry.map_err(|errno| io(&dropin_path, "readdir", errno))?;
                let name = entry.file_name().to_bytes();
                // Like the shell's `*.toml`: dotfiles (editor leftovers, `.`, `..`) are not read.
                if name.ends_with(b".toml") && !name.starts_with(b".") {
                    names.push(name.to_vec());
                }
            }
            names.sort();
            for name in names {
                let name = OsStr::from_bytes(&name);
                let path = dropin_path.join(name);
                // A drop-in removed between readdir and open is simply no longer part of the
                // policy.
                match open_trusted_file(
                    &dropins.as_fd(),
                    name,
                    &path,
                    open_at,
                    contents,
                    MAX_POLICY_FILE_SIZE,
                )? {
                    Some((file, status)) => take(path, file, &status, &mut stamp)?,
                    None => stamp.add(&path, None),
                }
            }
        }
    }
    for database in NAME_DATABASES {
        let status = nix::sys::stat::stat(database).ok();
        stamp.add(Path::new(database), status.as_ref());
    }
    Ok((sources, stamp, tree))
}

fn io(path: &Path, call: &'static str, errno: Errno) -> PolicyError {
    PolicyError::file(
        path,
        FileProblem::Io {
            call,
            errno: errno as i32,
        },
    )
}

/// Opens an absolute directory path component by component from `/`, checking each one.
fn open_directory_path(
    path: &Path,
    open_at: OpenAt<'_>,
    stamp: &mut PolicyStamp,
) -> Result<OwnedFd, PolicyError> {
    if !path.is_absolute() {
        return Err(PolicyError::file(path, FileProblem::NotAbsolute));
    }
    let root_path = PathBuf::from("/");
    let mut current = open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|errno| io(&root_path, "open", errno))?;
    let status = check_directory(&current, &root_path, DirectoryRole::Ancestor)?;
    stamp.add_ancestor(&root_path, &status);

    let names: Vec<&OsStr> = path
        .components()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(Ok(name)),
            Component::RootDir | Component::CurDir => None,
            Component::ParentDir | Component::Prefix(_) => Some(Err(())),
        })
        .collect::<Result<_, ()>>()
        .map_err(|()| PolicyError::file(path, FileProblem::NotAbsolute))?;

    let mut current_path = root_path;
    let last = names.len().saturating_sub(1);
    for (position, name) in names.into_iter().enumerate() {
        current_path.push(name);
        let role = if position == last {
            DirectoryRole::PolicyTree
        } else {
            DirectoryRole::Ancestor
        };
        let (directory, status) =
            open_directory_at(&current, name, &current_path, OFlag::O_PATH, role, open_at)?
                .ok_or_else(|| PolicyError::file(&current_path, FileProblem::Missing))?;
        match role {
            DirectoryRole::Ancestor => stamp.add_ancestor(&current_path, &status),
            DirectoryRole::PolicyTree => stamp.add(&current_path, Some(&status)),
        }
        current = directory;
    }
    Ok(current)
}

/// Opens directory `name` under `parent` without following a symbolic link and checks it; gives
/// back what fstat said. `Ok(None)` if it does not exist.
fn open_directory_at(
    parent: &impl AsFd,
    name: &OsStr,
    path: &Path,
    access: OFlag,
    role: DirectoryRole,
    open_at: OpenAt<'_>,
) -> Result<Option<(OwnedFd, FileStat)>, PolicyError> {
    let flags = access | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    match open_at(parent.as_fd(), name, flags) {
        Ok(directory) => {
            let status = check_directory(&directory, path, role)?;
            Ok(Some((directory, status)))
        }
        Err(Errno::ENOENT) => Ok(None),
        // O_NOFOLLOW|O_DIRECTORY on a link gives ENOTDIR (O_PATH) or ELOOP; say which it is.
        // This second lookup only picks the wording of an error, it never grants anything.
        Err(errno @ (Errno::ENOTDIR | Errno::ELOOP)) => {
            let problem = match fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(status) if file_type_bits(&status) == libc::S_IFLNK => FileProblem::SymbolicLink,
                Ok(_) => FileProblem::NotADirectory,
                Err(_) => return Err(io(path, "openat", errno)),
            };
            Err(PolicyError::file(path, problem))
        }
        Err(errno) => Err(io(path, "openat", errno)),
    }
}

fn file_type_bits(status: &FileStat) -> u32 {
    status.st_mode & libc::S_IFMT
}

fn check_directory(
    directory: &OwnedFd,
    path: &Path,
    role: DirectoryRole,
) -> Result<FileStat, PolicyError> {
    let status = fstat(directory).map_err(|errno| io(path, "fstat", errno))?;
    match file_type_bits(&status) {
        libc::S_IFDIR => {}
        libc::S_IFLNK => return Err(PolicyError::file(path, FileProblem::SymbolicLink)),
        _ => return Err(PolicyError::file(path, FileProblem::NotADirectory)),
    }
    if status.st_uid != 0 {
        return Err(PolicyError::file(
            path,
            FileProblem::NotRootOwned { uid: status.st_uid },
        ));
    }
    let sticky = status.st_mode & libc::S_ISVTX != 0;
    let exempt = sticky && role == DirectoryRole::Ancestor;
    if status.st_mode & GROUP_OR_OTHER_WRITE != 0 && !exempt {
        return Err(PolicyError::file(path, FileProblem::WritableByGroupOrOther));
    }
    Ok(status)
}

/// Opens, checks and reads one policy file from the checked descriptor. `Ok(None)` if absent.
fn read_trusted_file(
    directory: &impl AsFd,
    name: &OsStr,
    path: &Path,
    open_at: OpenAt<'_>,
) -> Result<Option<String>, PolicyError> {
    match open_trusted_file(
        directory,
        name,
        path,
        open_at,
        Contents::Read,
        MAX_POLICY_FILE_SIZE,
    )? {
        Some((file, status)) => read_checked(file, &status, path).map(Some),
        None => Ok(None),
    }
}

/// Opens one policy file (for reading, or as an `O_PATH` for a stamp) and checks it (type,
/// owner, mode, at most `limit` bytes) on the descriptor; gives back the descriptor and what
/// fstat said. `Ok(None)` if absent.
fn open_trusted_file(
    directory: &impl AsFd,
    name: &OsStr,
    path: &Path,
    open_at: OpenAt<'_>,
    contents: Contents,
    limit: u64,
) -> Result<Option<(OwnedFd, FileStat)>, PolicyError> {
    // O_NONBLOCK: a FIFO planted here must not hang the helper before fstat rejects it.
    // O_NOCTTY: a terminal must not become the controlling terminal. O_PATH, for a stamp, opens
    // nothing (no read access, no open of a device, no inotify IN_OPEN) and still fstat()s; on a
    // symbolic link it gives the link, which the type check below refuses.
    let access = match contents {
        Contents::Read => OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY,
        Contents::Skip => OFlag::O_PATH,
    };
    let flags = access | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let file = match open_at(directory.as_fd(), name, flags) {
        Ok(file) => file,
        Err(Errno::ENOENT) => return Ok(None),
        Err(Errno::ELOOP) => return Err(PolicyError::file(path, FileProblem::SymbolicLink)),
        Err(errno) => return Err(io(path, "openat", errno)),
    };
    let status = fstat(&file).map_err(|errno| io(path, "fstat", errno))?;
    if file_type_bits(&status) != libc::S_IFREG {
        return Err(PolicyError::file(path, FileProblem::NotARegularFile));
    }
    if status.st_uid != 0 {
        return Err(PolicyError::file(
            path,
            FileProblem::NotRootOwned { uid: status.st_uid },
        ));
    }
    if status.st_mode & GROUP_OR_OTHER_WRITE != 0 {
        return Err(PolicyError::file(path, FileProblem::WritableByGroupOrOther));
    }
    if u64::try_from(status.st_size).map_or(true, |size| size > limit) {
        return Err(too_large(path, limit));
    }
    Ok(Some((file, status)))
}

fn too_large(path: &Path, limit: u64) -> PolicyError {
    PolicyError::file(path, FileProblem::TooLarge { limit })
}

/// Reads a file [`open_trusted_file`] opened and checked, as UTF-8 text.
fn read_checked(file: OwnedFd, status: &FileStat, path: &Path) -> Result<String, PolicyError> {
    let bytes = read_checked_bytes(file, status, path, MAX_POLICY_FILE_SIZE)?;
    String::from_utf8(bytes).map_err(|_| PolicyError::file(path, FileProblem::NotUtf8))
}

/// Reads a file [`open_trusted_file`] opened and checked against `limit`.
fn read_checked_bytes(
    file: OwnedFd,
    status: &FileStat,
    path: &Path,
    limit: u64,
) -> Result<Vec<u8>, PolicyError> {
    // Room for the size fstat gave (already checked against the cap) and the one byte that tells
    // a file that grew: growing the buffer doubling by doubling cost a fresh mapping and an unmap
    // at each step with musl's allocator, about 10 of each for a 16 KB policy.
    let expected = usize::try_from(status.st_size).unwrap_or(0);
    let mut bytes = Vec::with_capacity(expected.saturating_add(1));
    // Read one byte past the cap, so a file that grew after fstat is still caught.
    std::fs::File::from(file)
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| {
            io(
                path,
                "read",
                Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO)),
            )
        })?;
    if u64::try_from(bytes.len()).map_or(true, |size| size > limit) {
        return Err(too_large(path, limit));
    }
    Ok(bytes)
}

/// Largest compiled policy read, in bytes: a compiled rule takes about as many bytes as its
/// source, and a policy can be many files of up to [`MAX_POLICY_FILE_SIZE`] each.
pub const MAX_COMPILED_SIZE: u64 = 32 << 20;

/// Where the compiled policy lives, under the policy tree: in a directory of its own, so that
/// writing it changes no directory the [`PolicyStamp`] covers (a file beside policy.toml would
/// change `myopen/` itself, and with it the stamp it had just been compiled under).
const COMPILED_DIRECTORY: &str = "compiled";
const COMPILED_FILE: &str = "policy";

/// `$sysconfdir/myopen/compiled/policy`.
pub fn compiled_path(sysconfdir: &Path) -> PathBuf {
    sysconfdir
        .join("myopen")
        .join(COMPILED_DIRECTORY)
        .join(COMPILED_FILE)
}

/// Whether a compiled policy may be there: false only when stat(2) says it is not. A helper
/// without one reads its sources at once instead of first walking the tree for a stamp (a dozen
/// system calls a one-shot open would otherwise pay for nothing); any other answer (EACCES on a
/// tree the caller may not search) leaves it to [`read_compiled_with`], which checks everything.
pub fn compiled_may_exist(sysconfdir: &Path) -> bool {
    !matches!(
        nix::sys::stat::lstat(&compiled_path(sysconfdir)),
        Err(Errno::ENOENT | Errno::ENOTDIR)
    )
}

/// What the compiled policy is worth now.
#[derive(Debug)]
pub enum CompiledState {
    /// Compiled from exactly the files the policy has now: its rules, and the stamp of now.
    Current(LoadedPolicy, PolicyStamp),
    /// Compiled from files that have changed since (or too soon after a change to tell), or by
    /// another build of the helper.
    Stale,
    /// Never compiled.
    Absent,
    /// Not trusted (owner, mode, type, size) or not readable: never used.
    Refused(String),
}

/// The compiled policy, if the policy's files are still, by every field fstat gives, the ones it
/// was compiled from. Everything a source read checks is checked (the walk is the same one), and
/// the compiled file itself is checked like a source: in a root-owned directory only root may
/// write to, root-owned, writable by no one else, a regular file; and every name the policy
/// named must still get the answer it got (`resolver`, as a read of the sources would ask).
/// `open_at` as for [`read_sources_with`].
pub fn read_compiled_with(
    sysconfdir: &Path,
    open_at: OpenAt<'_>,
    resolver: &dyn NameResolver,
) -> CompiledState {
    let (found, now) = match read_compiled_bytes(sysconfdir, open_at) {
        Ok(read) => read,
        Err(error) => return CompiledState::Refused(error.to_string()),
    };
    let path = compiled_path(sysconfdir);
    let Some(bytes) = found else {
        return CompiledState::Absent;
    };
    if CompiledPolicy::from_another_build(&bytes) {
        return CompiledState::Stale;
    }
    match CompiledPolicy::decode_with_names(bytes) {
        Err(damaged) => CompiledState::Refused(format!("{}: {damaged}", path.display())),
        Ok((compiled_under, _, _)) if !now.unchanged_since(&compiled_under) => CompiledState::Stale,
        Ok((_, names, _)) if !names.still_given_by(resolver) => CompiledState::Stale,
        Ok((_, _, compiled)) => {
            let files = compiled.files().collect();
            CompiledState::Current(
                LoadedPolicy {
                    policy: Policy::from_compiled(compiled),
                    warnings: Vec::new(),
                    files,
                },
                now,
            )
        }
    }
}

/// The compiled policy's bytes (`None`: there is none), read through the checks a source read
/// makes, and the stamp the policy's files have now.
fn read_compiled_bytes(
    sysconfdir: &Path,
    open_at: OpenAt<'_>,
) -> Result<(Option<Vec<u8>>, PolicyStamp), PolicyError> {
    let (_, now, tree) = walk(sysconfdir, open_at, Contents::Skip)?;
    let path = compiled_path(sysconfdir);
    let directory_path = path.parent().unwrap_or(&path);
    let Some((directory, _)) = open_directory_at(
        &tree,
        OsStr::new(COMPILED_DIRECTORY),
        directory_path,
        OFlag::O_PATH,
        DirectoryRole::PolicyTree,
        open_at,
    )?
    else {
        return Ok((None, now));
    };
    let Some((file, status)) = open_trusted_file(
        &directory,
        OsStr::new(COMPILED_FILE),
        &path,
        open_at,
        Contents::Read,
        MAX_COMPILED_SIZE,
    )?
    else {
        return Ok((None, now));
    };
    let bytes = read_checked_bytes(file, &status, &path, MAX_COMPILED_SIZE)?;
    Ok((Some(bytes), now))
}

/// Whether the compiled policy is, byte for byte, what compiling the sources now would write:
/// the whole-file check behind `--check`, which catches damage a decode cannot see (a bit that
/// turned a deny into an allow, a slot of the index that lost a rule). The encoding depends on
/// nothing but the rules, their files, the stamp and the names' answers. `false` when there is
/// no compiled policy.
pub fn compiled_agrees_with_sources(
    sysconfdir: &Path,
    open_at: OpenAt<'_>,
    resolver: &dyn NameResolver,
) -> Result<bool, PolicyError> {
    let (sources, stamp) = read_sources_stamped_with(sysconfdir, open_at)?;
    let recording = Recording::new(resolver);
    let loaded = Policy::from_owned_sources(sources, &recording)?;
    let Ok(Ok(expected)) = loaded
        .policy
        .compile(&loaded.files, &stamp, &recording.answers())
        .ok_or(TooLarge)
    else {
        return Ok(false);
    };
    let (found, _) = read_compiled_bytes(sysconfdir, open_at)?;
    Ok(found.is_some_and(|bytes| bytes == expected))
}

/// What [`compile`] made.
#[derive(Debug)]
pub struct Compiled {
    /// The policy as parsed, with its warnings.
    pub loaded: LoadedPolicy,
    pub path: PathBuf,
    pub size: usize,
}

/// Why [`compile`] stored nothing.
#[derive(Debug)]
pub enum CompileError {
    /// The policy does not load: nothing is compiled from it.
    Policy(PolicyError),
    TooLarge,
    /// Its files kept changing while they were read.
    Unsettled,
}

impl fmt::Display for CompileError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompileError::Policy(error) => write!(formatter, "policy not compiled: {error}"),
            CompileError::TooLarge => write!(
                formatter,
                "policy not compiled: it would take more than {MAX_COMPILED_SIZE} bytes"
            ),
            CompileError::Unsettled => formatter
                .write_str("the policy files keep changing; compile again once they are written"),
        }
    }
}

impl From<PolicyError> for CompileError {
    fn from(error: PolicyError) -> CompileError {
        CompileError::Policy(error)
    }
}

/// Reads the policy under `sysconfdir` with the caller's own rights, parses it and stores it
/// compiled ([`store_compiled`]), with the stamp of the files read. A stamp taken within
/// [`SETTLE_TIME`] of a change could miss the next one, so that no helper would trust it: this
/// waits for the files to settle (making the compiled directory is such a change).
pub fn compile(sysconfdir: &Path, resolver: &dyn NameResolver) -> Result<Compiled, CompileError> {
    prepare_compiled_directory(sysconfdir)?;
    let mut attempts = 0;
    let (sources, stamp) = loop {
        let (sources, stamp) = read_sources_stamped_with(sysconfdir, &open_with_own_rights)?;
        if stamp.settled() {
            break (sources, stamp);
        }
        attempts += 1;
        if attempts == 3 {
            return Err(CompileError::Unsettled);
        }
        std::thread::sleep(SETTLE_TIME + Duration::from_millis(100));
    };
    let recording = Recording::new(resolver);
    let loaded = Policy::from_owned_sources(sources, &recording)?;
    let names = recording.answers();
    let bytes = loaded
        .policy
        .compile(&loaded.files, &stamp, &names)
        .unwrap_or(Err(TooLarge))
        .map_err(|TooLarge| CompileError::TooLarge)?;
    if u64::try_from(bytes.len()).map_or(true, |size| size > MAX_COMPILED_SIZE) {
        return Err(CompileError::TooLarge);
    }
    let path = store_compiled(sysconfdir, &bytes)?;
    Ok(Compiled {
        loaded,
        path,
        size: bytes.len(),
    })
}

/// Makes the directory of the compiled policy (root, 0755) if it is missing. Done before the
/// policy is read for compiling: making it changes `myopen/`, which the stamp covers.
fn prepare_compiled_directory(sysconfdir: &Path) -> Result<(), PolicyError> {
    let tree_path = sysconfdir.join("myopen");
    let tree = open_directory_path(&tree_path, &open_with_own_rights, &mut PolicyStamp::new())?;
    let directory_path = tree_path.join(COMPILED_DIRECTORY);
    match nix::sys::stat::mkdirat(&tree, COMPILED_DIRECTORY, Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(errno) => Err(io(&directory_path, "mkdirat", errno)),
    }
}

/// Writes `bytes` as the compiled policy, replacing the one there at once (written to a
/// temporary file in the same directory, synced, renamed over it), with mode 0600 whatever the
/// sources' modes: it says everything they say, and a source may be hidden by a directory's mode
/// (the sudoers.d way) or made unreadable after the compile, which a copy would not follow.
/// Helpers open it as they open an unreadable source, with CAP_DAC_READ_SEARCH raised for that
/// open alone. The directory is checked as a read checks it.
fn store_compiled(sysconfdir: &Path, bytes: &[u8]) -> Result<PathBuf, PolicyError> {
    use std::io::Write;

    let path = compiled_path(sysconfdir);
    let tree_path = sysconfdir.join("myopen");
    let tree = open_directory_path(&tree_path, &open_with_own_rights, &mut PolicyStamp::new())?;
    let directory_path = tree_path.join(COMPILED_DIRECTORY);
    let (directory, _) = open_directory_at(
        &tree,
        OsStr::new(COMPILED_DIRECTORY),
        &directory_path,
        OFlag::O_RDONLY,
        DirectoryRole::PolicyTree,
        &open_with_own_rights,
    )?
    .ok_or_else(|| PolicyError::file(&directory_path, FileProblem::Missing))?;
    let temporary = format!(".{COMPILED_FILE}.{}", std::process::id());
    let create = || {
        openat(
            &directory,
            temporary.as_str(),
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
    };
    let file = match create() {
        // Left by a compile of the same pid that was killed: nothing reads temporary names.
        Err(Errno::EEXIST) => {
            let _ = nix::unistd::unlinkat(
                &directory,
                temporary.as_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            );
            create()
        }
        other => other,
    }
    .map_err(|errno| io(&directory_path, "openat", errno))?;
    let written = (|| {
        // Created 0600 less the umask: made exactly 0600 (and the umask cannot widen it).
        nix::sys::stat::fchmod(&file, Mode::from_bits_truncate(0o600))?;
        let mut file = std::fs::File::from(file);
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|error| Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO)))?;
        nix::fcntl::renameat(&directory, temporary.as_str(), &directory, COMPILED_FILE)?;
        nix::unistd::fsync(&directory)
    })();
    if let Err(errno) = written {
        let _ = nix::unistd::unlinkat(
            &directory,
            temporary.as_str(),
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        );
        return Err(io(&path, "write", errno));
    }
    Ok(path)
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
