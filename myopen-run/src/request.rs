//! One notified open: what the child asked for, read from the child itself, and whether its own
//! rights suffice. Nothing here decides what the child may have; that is the helper's policy.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::unistd::AccessFlags;

use crate::sys::{Listener, Notification};

/// Which kind of call was notified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An open: a granted one returns the helper's descriptor.
    Open,
    /// access(2) and friends: a granted one returns 0, and the descriptor is closed.
    Access,
}

/// What the child's open asked for, once read out of its registers and memory.
#[derive(Debug)]
pub struct OpenCall {
    pub kind: Kind,
    /// The path as the child passed it.
    pub path: Vec<u8>,
    /// The directory a relative path starts from, opened through `/proc/<pid>` (`O_PATH`):
    /// the child's cwd, or the directory descriptor of an `openat`. `None` for absolute paths.
    base: Option<OwnedFd>,
    /// `open(2)` flags.
    pub flags: i32,
    /// The mode for a file it creates.
    pub mode: u32,
    pid: i32,
    dirfd: Option<i32>,
}

/// What becomes of one notification.
#[derive(Debug)]
pub enum Triage {
    /// Let the child's own system call run: its own rights suffice, or the open is not one the
    /// helper could do (unknown flags, `openat2` resolve restrictions, a bad pointer, ...).
    LetRun,
    /// The child's own rights were refused: ask the helper for `call`.
    Escalate(OpenCall),
    /// The caller is gone, or no longer in this system call: answer nothing.
    Gone,
}

/// Reads the open behind `notification` from the child and probes the child's own rights.
pub fn triage(listener: &Listener, notification: &Notification) -> Triage {
    let Some(call) = read_call(notification) else {
        return Triage::LetRun;
    };
    // Everything read above came from /proc/<pid> and the memory of <pid>; only if the caller is
    // still waiting in this very system call was that pid still the caller.
    if !listener.is_pending(notification.id) {
        return Triage::Gone;
    }
    match call.own_rights() {
        Err(Errno::EACCES | Errno::EPERM) => Triage::Escalate(call),
        _ => Triage::LetRun,
    }
}

fn read_call(notification: &Notification) -> Option<OpenCall> {
    let pid = notification.pid;
    let args = notification.args;
    let mut kind = Kind::Open;
    // (directory descriptor, path address, flags, mode)
    let (dirfd, path_address, flags, mode) = match notification.syscall {
        libc::SYS_open => (None, args[0], args[1], args[2]),
        libc::SYS_creat => (
            None,
            args[0],
            (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u64,
            args[1],
        ),
        libc::SYS_openat => (Some(args[0] as i32), args[1], args[2], args[3]),
        libc::SYS_openat2 => {
            if (args[3] as usize) < std::mem::size_of::<libc::open_how>() {
                return None;
            }
            let how = read_open_how(pid, args[2]).ok()?;
            // RESOLVE_* restrictions have no equivalent through the helper.
            if how.resolve != 0 {
                return None;
            }
            (Some(args[0] as i32), args[1], how.flags, how.mode)
        }
        libc::SYS_access => {
            kind = Kind::Access;
            (None, args[0], access_as_open(args[1] as i32, 0)?, 0)
        }
        libc::SYS_faccessat => {
            kind = Kind::Access;
            (
                Some(args[0] as i32),
                args[1],
                access_as_open(args[2] as i32, 0)?,
                0,
            )
        }
        libc::SYS_faccessat2 => {
            kind = Kind::Access;
            let flags = access_as_open(args[2] as i32, args[3] as i32)?;
            (Some(args[0] as i32), args[1], flags, 0)
        }
        _ => return None,
    };
    // The kernel takes the flags as an int: the upper half of the register is ignored.
    let flags = flags as u32 as i32;
    // Flags the helper does not understand (O_PATH, O_TMPFILE, O_DIRECT, ...): the child's own
    // open is all there is.
    myopen::wire::validate_open_flags(flags).ok()?;
    let path = read_c_string(pid, path_address).ok()?;
    if path.is_empty() {
        return None;
    }
    let dirfd = dirfd.filter(|&fd| fd != libc::AT_FDCWD);
    let base = if path.starts_with(b"/") {
        None
    } else {
        let link = match dirfd {
            Some(fd) => format!("/proc/{pid}/fd/{fd}"),
            None => format!("/proc/{pid}/cwd"),
        };
        Some(
            nix::fcntl::open(
                link.as_str(),
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .ok()?,
        )
    };
    Some(OpenCall {
        kind,
        path,
        base,
        flags,
        mode: mode as u32 & 0o7777,
        pid,
        dirfd,
    })
}

/// The open whose success an access check with `mode` and `flags` foretells: reading, writing
/// or both. Execute permission and bare existence (`F_OK`) are not the helper's business.
fn access_as_open(mode: i32, flags: i32) -> Option<u64> {
    if flags & !(libc::AT_EACCESS | libc::AT_SYMLINK_NOFOLLOW) != 0 {
        return None;
    }
    let nofollow = if flags & libc::AT_SYMLINK_NOFOLLOW != 0 {
        libc::O_NOFOLLOW
    } else {
        0
    };
    let access = match mode {
        libc::R_OK => libc::O_RDONLY,
        libc::W_OK => libc::O_WRONLY,
        mode if mode == libc::R_OK | libc::W_OK => libc::O_RDWR,
        _ => return None,
    };
    Some((access | nofollow) as u64)
}

impl OpenCall {
    /// Whether the child's own rights allow this open, asked without opening anything (so no
    /// FIFO or device can block us and nothing is created or truncated): `faccessat2` with
    /// `AT_EACCESS`, since we run with the same ids as the child. A missing file that the open
    /// would create is a question for its directory.
    fn own_rights(&self) -> Result<(), Errno> {
        let access = match self.flags & libc::O_ACCMODE {
            libc::O_WRONLY => AccessFlags::W_OK,
            libc::O_RDWR => AccessFlags::R_OK | AccessFlags::W_OK,
            _ => AccessFlags::R_OK,
        };
        let mut at_flags = AtFlags::AT_EACCESS;
        if self.flags & libc::O_NOFOLLOW != 0 {
            at_flags |= AtFlags::AT_SYMLINK_NOFOLLOW;
        }
        let path = OsStr::from_bytes(&self.path);
        match self.check(path, access, at_flags) {
            Err(Errno::ENOENT) if self.flags & libc::O_CREAT != 0 => {
                let parent = match self.path.iter().rposition(|&byte| byte == b'/') {
                    Some(0) => OsStr::new("/"),
                    Some(slash) => OsStr::from_bytes(&self.path[..slash]),
                    None => OsStr::new("."),
                };
                self.check(
                    parent,
                    AccessFlags::W_OK | AccessFlags::X_OK,
                    AtFlags::AT_EACCESS,
                )
            }
            result => result,
        }
    }

    fn check(&self, path: &OsStr, access: AccessFlags, flags: AtFlags) -> Result<(), Errno> {
        match &self.base {
            Some(base) => nix::unistd::faccessat(base.as_fd(), path, access, flags),
            None => nix::unistd::faccessat(nix::fcntl::AT_FDCWD, path, access, flags),
        }
    }

    /// The path to ask the helper for: absolute, as the child's directory is named in
    /// `/proc/<pid>` (the helper checks the policy on the name, then on what it reaches).
    pub fn absolute_path(&self) -> io::Result<PathBuf> {
        if self.base.is_none() {
            return Ok(PathBuf::from(OsStr::from_bytes(&self.path)));
        }
        let link = match self.dirfd {
            Some(fd) => format!("/proc/{}/fd/{fd}", self.pid),
            None => format!("/proc/{}/cwd", self.pid),
        };
        let mut joined = std::fs::read_link(link)?.into_os_string().into_vec();
        if joined.last() != Some(&b'/') {
            joined.push(b'/');
        }
        joined.extend_from_slice(&self.path);
        Ok(PathBuf::from(std::ffi::OsString::from_vec(joined)))
    }

    /// The mode less the child's umask (`/proc/<pid>/status`), for an open that may create:
    /// the helper applies the umask of myopen-run, which keeps none (see the supervisor).
    pub fn mode_after_umask(&self) -> u32 {
        if self.flags & libc::O_CREAT == 0 {
            return self.mode;
        }
        let umask = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .ok()
            .and_then(|status| {
                status.lines().find_map(|line| {
                    u32::from_str_radix(line.strip_prefix("Umask:")?.trim(), 8).ok()
                })
            })
            // Unknown: the most common umask errs on the side of fewer permissions than 0.
            .unwrap_or(0o022);
        self.mode & !umask
    }

    /// The pid of the thread that asked.
    pub fn pid(&self) -> i32 {
        self.pid
    }
}

/// Reads a NUL-terminated string of at most `PATH_MAX` bytes (NUL included) at `address` in
/// `pid`, never across a page boundary in one read, so that a string ending just before
/// unmapped memory still reads.
fn read_c_string(pid: i32, mut address: u64) -> Result<Vec<u8>, Errno> {
    const PAGE: u64 = 4096;
    let limit = myopen::wire::PATH_MAX;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; PAGE as usize];
    // Most paths are short: the first read takes 256 bytes, later ones the rest of a page.
    let mut step = 256;
    while bytes.len() < limit {
        let to_page_end = (PAGE - address % PAGE) as usize;
        let wanted = to_page_end.min(limit - bytes.len()).min(step);
        step = PAGE as usize;
        read_memory(pid, address, &mut chunk[..wanted])?;
        if let Some(nul) = chunk[..wanted].iter().position(|&byte| byte == 0) {
            bytes.extend_from_slice(&chunk[..nul]);
            return Ok(bytes);
        }
        bytes.extend_from_slice(&chunk[..wanted]);
        address += wanted as u64;
    }
    Err(Errno::ENAMETOOLONG)
}

/// The fields of `struct open_how` that matter here.
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `struct open_how` of an `openat2` call, read from the child.
fn read_open_how(pid: i32, address: u64) -> Result<OpenHow, Errno> {
    let mut bytes = [0u8; std::mem::size_of::<libc::open_how>()];
    read_memory(pid, address, &mut bytes)?;
    let field = |index: usize| {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[index * 8..index * 8 + 8]);
        u64::from_ne_bytes(word)
    };
    Ok(OpenHow {
        flags: field(0),
        mode: field(1),
        resolve: field(2),
    })
}

/// Reads exactly `buffer.len()` bytes at `address` in process `pid`.
fn read_memory(pid: i32, address: u64, buffer: &mut [u8]) -> Result<(), Errno> {
    let length = buffer.len();
    let remote = [nix::sys::uio::RemoteIoVec {
        base: address as usize,
        len: length,
    }];
    let mut local = [io::IoSliceMut::new(buffer)];
    match nix::sys::uio::process_vm_readv(nix::unistd::Pid::from_raw(pid), &mut local, &remote)? {
        read if read == length => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}
