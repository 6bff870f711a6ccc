//! The helper's only `unsafe` code: the few calls nix does not wrap safely.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

/// Whether descriptor number `raw` is open.
pub(crate) fn is_open(raw: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor flags of `raw`; on a closed number it fails with
    // EBADF and touches nothing.
    raw >= 0 && unsafe { libc::fcntl(raw, libc::F_GETFD) } >= 0
}

/// Takes ownership of inherited descriptor `raw`, after checking that it is open.
///
/// Fails with `EBADF` for a negative or closed number. The helper calls this once, for the number
/// on its command line, before it opens anything of its own.
pub(crate) fn adopt_inherited_fd(raw: RawFd) -> Result<OwnedFd, Errno> {
    if !is_open(raw) {
        return Err(Errno::EBADF);
    }
    // SAFETY: `raw` is open and was inherited across exec for this purpose. Nothing else in the
    // helper refers to it: std's stdio handles do not own descriptors, and start-up hardening
    // keeps exactly this number open, so ownership is unique.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Closes every descriptor from `first` to `last` inclusive.
pub(crate) fn close_range(first: u32, last: u32) -> Result<(), Errno> {
    if first > last {
        return Ok(());
    }
    // SAFETY: close_range only closes descriptors; the helper holds no OwnedFd in this range
    // when it runs (it runs before anything is opened), so no owner is left dangling.
    let result = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
    Errno::result(result).map(drop)
}

/// Closes descriptor `raw`, for the fallback when close_range is missing.
pub(crate) fn close(raw: RawFd) {
    // SAFETY: as for close_range: only called on inherited numbers nothing in the helper owns.
    unsafe { libc::close(raw) };
}

/// Empties the environment. Called first in main, while the helper has a single thread.
pub(crate) fn clear_environment() -> Result<(), Errno> {
    // SAFETY: clearenv is unsound only with concurrent environment access from other threads;
    // the helper is single-threaded here and has read nothing from the environment.
    unsafe { nix::env::clearenv() }.map_err(|_| Errno::EINVAL)
}

/// Sets `signal` to `handler` with no flags and an empty mask.
pub(crate) fn set_signal_disposition(signal: Signal, handler: SigHandler) -> Result<(), Errno> {
    let action = SigAction::new(handler, SaFlags::empty(), SigSet::empty());
    // SAFETY: only SIG_DFL and SIG_IGN are installed (no handler code runs), so none of
    // sigaction's async-signal-safety requirements apply.
    unsafe { sigaction(signal, &action) }.map(drop)
}

/// Whether the kernel started this program in secure-execution mode (`AT_SECURE`): exec changed
/// its credentials (setuid, setgid) or gave it capabilities its caller lacked.
pub(crate) fn secure_exec() -> bool {
    // SAFETY: getauxval only reads the auxiliary vector the kernel placed at exec; for a type it
    // does not know it returns 0.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

/// The process's securebits (`PR_GET_SECUREBITS`).
pub(crate) fn securebits() -> Result<u32, Errno> {
    // SAFETY: PR_GET_SECUREBITS takes no pointer argument and only returns the bits.
    let bits = unsafe { libc::prctl(libc::PR_GET_SECUREBITS, 0, 0, 0, 0) };
    Errno::result(bits).map(|bits| bits as u32)
}

/// The running kernel's Landlock ABI version (`landlock_create_ruleset(NULL, 0,
/// LANDLOCK_CREATE_RULESET_VERSION)`): ENOSYS without Landlock, EOPNOTSUPP when it is disabled.
pub(crate) fn landlock_abi_version() -> Result<i32, Errno> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with the VERSION flag the kernel reads no attribute (NULL, size 0) and returns the
    // ABI version or an error; it creates no descriptor.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    Errno::result(version).map(|version| version as i32)
}

/// Installs the seccomp filter `program` on the calling thread, with `SECCOMP_FILTER_FLAG_LOG`
/// so that the kernel logs every call the filter refuses. The helper is single-threaded, and
/// `PR_SET_NO_NEW_PRIVS` is set (privilege establishment set it; it is set again here so the
/// call cannot fail for want of it).
pub(crate) fn install_seccomp_filter(program: &[libc::sock_filter]) -> Result<(), Errno> {
    nix::sys::prctl::set_no_new_privs()?;
    let length = u16::try_from(program.len()).map_err(|_| Errno::E2BIG)?;
    let fprog = libc::sock_fprog {
        len: length,
        // The kernel only reads the program (the pointer is `*mut` in the C declaration).
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `fprog` points to `length` instructions that live across the call; the kernel
    // copies the program and keeps no pointer to it.
    let result = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_LOG,
            &fprog as *const libc::sock_fprog,
        )
    };
    Errno::result(result).map(drop)
}

/// Forks the process. Only called by `myopend`'s listener, which is single-threaded (it never
/// starts a thread), so the child may run any code afterwards.
pub(crate) fn fork() -> Result<nix::unistd::ForkResult, Errno> {
    // SAFETY: the caller is single-threaded, so no lock held by another thread is copied into
    // the child in a locked state; the child goes on running ordinary Rust code.
    unsafe { nix::unistd::fork() }
}

/// Takes ownership of `raw`, a descriptor accept4(2) has just returned.
pub(crate) fn own_accepted(raw: RawFd) -> OwnedFd {
    // SAFETY: accept4 returned `raw` this instant; nothing else in the process knows the number,
    // so ownership is unique.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

/// `SO_PEERGROUPS`: the supplementary groups the kernel recorded for the peer of a connected
/// `AF_UNIX` socket when it connected (Linux 4.13). nix has no wrapper for it.
pub(crate) fn peer_groups(socket: std::os::fd::BorrowedFd<'_>) -> Result<Vec<u32>, Errno> {
    use std::os::fd::AsRawFd;
    // NGROUPS_MAX is 65536: start small, and grow once to what the kernel says it needs.
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    loop {
        let mut length =
            libc::socklen_t::try_from(groups.len() * std::mem::size_of::<libc::gid_t>())
                .map_err(|_| Errno::EOVERFLOW)?;
        // SAFETY: `groups` has room for `length` bytes and outlives the call; the kernel writes
        // at most `length` bytes and sets `length` to what it wrote (or needs, with ERANGE).
        let result = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PEERGROUPS,
                groups.as_mut_ptr().cast(),
                &mut length,
            )
        };
        let count = length as usize / std::mem::size_of::<libc::gid_t>();
        match Errno::result(result) {
            Ok(_) => {
                groups.truncate(count);
                return Ok(groups);
            }
            Err(Errno::ERANGE) if count > groups.len() => groups.resize(count, 0),
            Err(errno) => return Err(errno),
        }
    }
}

/// A thread's effective, permitted and inheritable capability sets, as the kernel's 64-bit masks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CapabilityMasks {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

/// `_LINUX_CAPABILITY_VERSION_3` (linux/capability.h): 64-bit sets, as two 32-bit halves.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapabilityHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapabilityHalf {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The calling thread's three capability sets, in one capget(2). (The caps crate reads one set
/// per call, and reads all three again before each write.)
pub(crate) fn capabilities() -> Result<CapabilityMasks, Errno> {
    let mut header = CapabilityHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut halves = [CapabilityHalf::default(); 2];
    // SAFETY: version 3 makes the kernel write exactly two `CapabilityHalf` structs (repr(C),
    // three u32 each, as `struct __user_cap_data_struct`) into `halves`, which outlives the call.
    let result = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut CapabilityHeader,
            halves.as_mut_ptr(),
        )
    };
    Errno::result(result)?;
    let join = |low: u32, high: u32| u64::from(low) | u64::from(high) << 32;
    Ok(CapabilityMasks {
        effective: join(halves[0].effective, halves[1].effective),
        permitted: join(halves[0].permitted, halves[1].permitted),
        inheritable: join(halves[0].inheritable, halves[1].inheritable),
    })
}

/// Makes the calling thread's three capability sets exactly `masks`, in one capset(2). The kernel
/// refuses (EPERM) anything that would add to the permitted set, or to the effective set beyond
/// the new permitted one.
pub(crate) fn set_capabilities(masks: CapabilityMasks) -> Result<(), Errno> {
    let mut header = CapabilityHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let split = |mask: u64| (mask as u32, (mask >> 32) as u32);
    let (effective, permitted, inheritable) = (
        split(masks.effective),
        split(masks.permitted),
        split(masks.inheritable),
    );
    let halves = [
        CapabilityHalf {
            effective: effective.0,
            permitted: permitted.0,
            inheritable: inheritable.0,
        },
        CapabilityHalf {
            effective: effective.1,
            permitted: permitted.1,
            inheritable: inheritable.1,
        },
    ];
    // SAFETY: version 3 makes the kernel read exactly the two structs of `halves`, which
    // outlives the call; it writes nothing through the data pointer.
    let result = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapabilityHeader,
            halves.as_ptr(),
        )
    };
    Errno::result(result).map(drop)
}
