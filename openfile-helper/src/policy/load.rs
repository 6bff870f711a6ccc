//! Reading the policy from disk: the only part of the policy engine that does I/O.
//!
//! Trust is checked on descriptors (P7). The walk opens `/` and then each component of the
//! configuration directory with `openat(..., O_NOFOLLOW)` relative to the previous descriptor,
//! and fstat()s what it got, so nothing is looked up twice by name and a symbolic link anywhere
//! is an error rather than something to follow. Files are read from the very descriptor that
//! was checked.

use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, OFlag, open, openat};
use nix::sys::stat::{FileStat, Mode, fstat, fstatat};

use super::error::{FileProblem, PolicyError};
use super::parse::NameResolver;
use super::{LoadedPolicy, Policy};

/// Largest policy file read, in bytes. A policy is a few kilobytes; the cap keeps a mistake
/// (or a huge file dropped in by root) from making the helper allocate without bound.
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
    let sources = read_sources(sysconfdir)?;
    Policy::from_sources(
        sources
            .iter()
            .map(|(path, text)| (path.as_path(), text.as_str())),
        resolver,
    )
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
    let tree_path = sysconfdir.join("myopen");
    let tree = open_directory_path(&tree_path, open_at)?;

    let main_path = tree_path.join("policy.toml");
    let Some(main_text) = read_trusted_file(&tree, OsStr::new("policy.toml"), &main_path, open_at)?
    else {
        return Err(PolicyError::file(main_path, FileProblem::Missing));
    };
    let mut sources = vec![(main_path, main_text)];

    let dropin_path = tree_path.join("policy.d");
    if let Some(dropins) = open_directory_at(
        &tree,
        OsStr::new("policy.d"),
        &dropin_path,
        OFlag::O_RDONLY,
        DirectoryRole::PolicyTree,
        open_at,
    )? {
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
            // A drop-in removed between readdir and open is simply no longer part of the policy.
            if let Some(text) = read_trusted_file(&dropins.as_fd(), name, &path, open_at)? {
                sources.push((path, text));
            }
        }
    }

    Ok(sources)
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
fn open_directory_path(path: &Path, open_at: OpenAt<'_>) -> Result<OwnedFd, PolicyError> {
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
    check_directory(&current, &root_path, DirectoryRole::Ancestor)?;

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
        current = open_directory_at(&current, name, &current_path, OFlag::O_PATH, role, open_at)?
            .ok_or_else(|| PolicyError::file(&current_path, FileProblem::Missing))?;
    }
    Ok(current)
}

/// Opens directory `name` under `parent` without following a symbolic link and checks it.
/// `Ok(None)` if it does not exist.
fn open_directory_at(
    parent: &impl AsFd,
    name: &OsStr,
    path: &Path,
    access: OFlag,
    role: DirectoryRole,
    open_at: OpenAt<'_>,
) -> Result<Option<OwnedFd>, PolicyError> {
    let flags = access | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    match open_at(parent.as_fd(), name, flags) {
        Ok(directory) => {
            check_directory(&directory, path, role)?;
            Ok(Some(directory))
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
) -> Result<(), PolicyError> {
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
    Ok(())
}

/// Opens, checks and reads one policy file from the checked descriptor. `Ok(None)` if absent.
fn read_trusted_file(
    directory: &impl AsFd,
    name: &OsStr,
    path: &Path,
    open_at: OpenAt<'_>,
) -> Result<Option<String>, PolicyError> {
    // O_NONBLOCK: a FIFO planted here must not hang the helper before fstat rejects it.
    // O_NOCTTY: a terminal must not become the controlling terminal.
    let flags = OFlag::O_RDONLY
        | OFlag::O_NOFOLLOW
        | OFlag::O_CLOEXEC
        | OFlag::O_NONBLOCK
        | OFlag::O_NOCTTY;
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
    let too_large = PolicyError::file(
        path,
        FileProblem::TooLarge {
            limit: MAX_POLICY_FILE_SIZE,
        },
    );
    if u64::try_from(status.st_size).map_or(true, |size| size > MAX_POLICY_FILE_SIZE) {
        return Err(too_large);
    }
    // Read one byte past the cap, so a file that grew after fstat is still caught.
    let mut bytes = Vec::new();
    std::fs::File::from(file)
        .take(MAX_POLICY_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| {
            io(
                path,
                "read",
                Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO)),
            )
        })?;
    if u64::try_from(bytes.len()).map_or(true, |size| size > MAX_POLICY_FILE_SIZE) {
        return Err(too_large);
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| PolicyError::file(path, FileProblem::NotUtf8))
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
