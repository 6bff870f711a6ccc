//! The crate's only `unsafe` code: the receive side of descriptor passing, and what the kernel
//! says about how this program was started.
//!
//! `nix::sys::socket::recvmsg` refuses to walk the control messages once the kernel sets
//! `MSG_CTRUNC`, but descriptors that did fit have already been installed in our table by then and
//! must be closed, so this one call is made through libc directly.

use std::ffi::OsString;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// What one `recvmsg` delivered, before any protocol rule is applied.
pub(crate) struct RawReceived {
    pub(crate) bytes: usize,
    pub(crate) fds: Vec<OwnedFd>,
    pub(crate) control_truncated: bool,
    /// Whether an `SCM_CREDENTIALS` message came with the data.
    pub(crate) credentials: bool,
}

const FD_SIZE: usize = mem::size_of::<libc::c_int>();
const CREDENTIALS_SIZE: u32 = mem::size_of::<libc::ucred>() as u32;

/// Receives into `buf` with control space for `room` descriptors, and for one `SCM_CREDENTIALS`
/// message when `credentials` is set, always with `MSG_CMSG_CLOEXEC` so no received descriptor is
/// ever inheritable, retrying `EINTR`.
pub(crate) fn recvmsg_with_fds(
    socket: BorrowedFd<'_>,
    buf: &mut [u8],
    room: usize,
    credentials: bool,
) -> io::Result<RawReceived> {
    let payload = u32::try_from(room.saturating_mul(FD_SIZE))
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: CMSG_SPACE is pure arithmetic on its argument.
    let mut space = unsafe { libc::CMSG_SPACE(payload) } as usize;
    if credentials {
        // SAFETY: as above.
        space += unsafe { libc::CMSG_SPACE(CREDENTIALS_SIZE) } as usize;
    }
    // u64 elements give the buffer the alignment a cmsghdr needs.
    let mut control = vec![0u64; space.div_ceil(mem::size_of::<u64>())];

    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    loop {
        // SAFETY: msghdr is a plain C struct for which all-zero bytes is a valid value.
        let mut message: libc::msghdr = unsafe { mem::zeroed() };
        message.msg_iov = &mut iov;
        message.msg_iovlen = 1;
        message.msg_control = control.as_mut_ptr().cast();
        // size_t with glibc, socklen_t with musl; `space` is a few dozen bytes.
        message.msg_controllen = space as _;

        // SAFETY: every pointer in `message` refers to live buffers of the stated lengths
        // (`buf` through `iov`, `control`) that outlive the call.
        let received =
            unsafe { libc::recvmsg(socket.as_raw_fd(), &mut message, libc::MSG_CMSG_CLOEXEC) };
        if received < 0 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(error);
        }

        let mut fds = Vec::new();
        let mut got_credentials = false;
        // SAFETY: `message` was filled in by a successful recvmsg, so CMSG_FIRSTHDR and
        // CMSG_NXTHDR walk headers the kernel wrote inside `control`, and never past
        // `msg_controllen`.
        let mut header = unsafe { libc::CMSG_FIRSTHDR(&message) };
        while !header.is_null() {
            // SAFETY: `header` is non-null and points at a complete cmsghdr inside `control`.
            let (level, kind, length) = unsafe {
                (
                    (*header).cmsg_level,
                    (*header).cmsg_type,
                    (*header).cmsg_len,
                )
            };
            got_credentials |= level == libc::SOL_SOCKET && kind == libc::SCM_CREDENTIALS;
            if level == libc::SOL_SOCKET && kind == libc::SCM_RIGHTS {
                // SAFETY: CMSG_LEN is pure arithmetic.
                let data_offset = unsafe { libc::CMSG_LEN(0) } as usize;
                // cmsg_len is size_t with glibc but socklen_t with musl.
                #[allow(clippy::unnecessary_cast)]
                let count = (length as usize).saturating_sub(data_offset) / FD_SIZE;
                // SAFETY: the kernel wrote `count` ints after the header; CMSG_DATA points at them.
                let data = unsafe { libc::CMSG_DATA(header) };
                for index in 0..count {
                    // SAFETY: `index < count`, so the read stays inside this message's data; the
                    // data need not be aligned for c_int, hence read_unaligned.
                    let raw = unsafe {
                        data.add(index * FD_SIZE)
                            .cast::<libc::c_int>()
                            .read_unaligned()
                    };
                    // SAFETY: the kernel has just installed `raw` in our descriptor table for this
                    // message; nothing else in the process knows the number, so we own it.
                    fds.push(unsafe { OwnedFd::from_raw_fd(raw) });
                }
            }
            // SAFETY: `header` is a valid header within `message`'s control buffer.
            header = unsafe { libc::CMSG_NXTHDR(&message, header) };
        }

        return Ok(RawReceived {
            bytes: received as usize,
            fds,
            control_truncated: message.msg_flags & libc::MSG_CTRUNC != 0,
            credentials: got_credentials,
        });
    }
}

/// Whether `path` carries file capabilities (a `security.capability` extended attribute).
pub(crate) fn has_file_capabilities(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: both strings are NUL-terminated and outlive the call; a null buffer of size 0 asks
    // only for the attribute's size, so nothing is written.
    let size = unsafe {
        libc::getxattr(
            path.as_ptr(),
            c"security.capability".as_ptr(),
            std::ptr::null_mut(),
            0,
        )
    };
    size > 0
}

/// Whether the kernel runs this program in secure-execution mode (`AT_SECURE`): its exec gained
/// privilege (set-user-ID, set-group-ID, file capabilities) or a security module asked for it,
/// so its environment was chosen by someone less privileged than the program.
pub(crate) fn secure_execution() -> bool {
    // SAFETY: getauxval only reads the auxiliary vector the kernel handed the process at exec.
    // Linux always puts AT_SECURE there.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

/// Whether the effective uid and gid are the real ones.
pub(crate) fn ids_are_real() -> bool {
    nix::unistd::getuid() == nix::unistd::geteuid()
        && nix::unistd::getgid() == nix::unistd::getegid()
}

/// The environment variable `name`, as secure_getenv(3) gives it: `None` in secure-execution mode,
/// where a variable the caller set must not choose what a privileged program runs or connects
/// to. Unset and empty are `None` too. Read through std, which keeps environment access
/// consistent with `std::env::set_var` in other threads (libc's secure_getenv would not).
pub(crate) fn secure_env_var(name: &str) -> Option<OsString> {
    if secure_execution() {
        return None;
    }
    std::env::var_os(name).filter(|value| !value.is_empty())
}
