//! The helper's only `unsafe` code: adopting the descriptor number the caller passed on argv.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

/// Takes ownership of inherited descriptor `raw`, after checking that it is open.
///
/// Fails with `EBADF` for a negative or closed number. The helper calls this once, for the number
/// on its command line, before it opens anything of its own.
pub(crate) fn adopt_inherited_fd(raw: RawFd) -> Result<OwnedFd, Errno> {
    if raw < 0 {
        return Err(Errno::EBADF);
    }
    // SAFETY: F_GETFD only reads the descriptor flags of `raw`; on a closed number it fails with
    // EBADF and touches nothing.
    if unsafe { libc::fcntl(raw, libc::F_GETFD) } < 0 {
        return Err(Errno::last());
    }
    // SAFETY: `raw` is open and was inherited across exec for this purpose. Nothing else in the
    // helper refers to it: std's stdio handles do not own descriptors, and the helper opens no
    // files before this point, so ownership is unique.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}
