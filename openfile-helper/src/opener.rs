//! Opening the requested path, with the caller's own rights.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;

/// Opens `path` with the caller's `flags`, close-on-exec in the helper (the descriptor crosses to
/// the caller by SCM_RIGHTS, never by exec). A new file gets 0666 filtered by the umask the
/// caller passed down.
pub fn open_as_caller(path: &OsStr, flags: i32) -> Result<OwnedFd, Errno> {
    let flags = OFlag::from_bits_retain(flags) | OFlag::O_CLOEXEC;
    let creation_mode = Mode::from_bits_truncate(0o666);
    loop {
        match open(path, flags, creation_mode) {
            Err(Errno::EINTR) => continue,
            result => return result,
        }
    }
}
