//! Start-up hardening: the first thing the helper does, before it trusts anything it inherited.
//!
//! A setuid program inherits its environment, descriptors, signal dispositions and mask, and
//! resource limits from a caller who may be hostile. Each is put into a known state here.

use std::os::fd::RawFd;

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::stat::Mode;

use crate::sys;

/// Hardens the process; `request_socket` is the one inherited descriptor above 2 to keep.
pub fn harden(request_socket: Option<RawFd>) -> Result<(), Errno> {
    ensure_standard_fds_open()?;
    close_inherited_fds(request_socket)?;
    sys::clear_environment()?;
    reset_signals()?;
    disable_core_dumps()
}

/// The limits whose exhaustion could make a policy load go wrong rather than fail outright:
/// descriptors (name lookups open files), memory, stack.
const PINNED: [Resource; 4] = [
    Resource::RLIMIT_NOFILE,
    Resource::RLIMIT_AS,
    Resource::RLIMIT_DATA,
    Resource::RLIMIT_STACK,
];

/// The soft limits of [`PINNED`] as raised to their hard limits.
///
/// The caller chooses the limits the helper starts with and, since the helper runs with the
/// caller's uid after the credential switch, may lower its soft limits again at any moment
/// (prlimit). They are raised right before each policy read, the one step a shortage could make
/// go wrong rather than fail (a one-shot helper reads its policy once, so raising them at start
/// too would be the same work twice); every other resource failure simply refuses, and
/// [`ResourceLimits::unchanged`] lets the policy read check that nobody lowered one meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceLimits {
    soft: [u64; PINNED.len()],
}

impl ResourceLimits {
    /// Raises each soft limit of [`PINNED`] to its hard limit, and returns what they are now.
    pub fn pin() -> Result<ResourceLimits, Errno> {
        let mut soft = [0; PINNED.len()];
        for (resource, pinned) in PINNED.into_iter().zip(soft.iter_mut()) {
            let (_, hard) = getrlimit(resource)?;
            setrlimit(resource, hard, hard)?;
            *pinned = hard;
        }
        Ok(ResourceLimits { soft })
    }

    /// Whether every soft limit is still what [`ResourceLimits::pin`] set.
    pub fn unchanged(&self) -> bool {
        PINNED
            .into_iter()
            .zip(self.soft)
            .all(|(resource, pinned)| getrlimit(resource).is_ok_and(|(soft, _)| soft == pinned))
    }
}

/// Opens /dev/null on each of fds 0-2 that is closed, so that nothing the helper opens later can
/// land on a standard descriptor (where a stray diagnostic would be written into it).
fn ensure_standard_fds_open() -> Result<(), Errno> {
    for fd in 0..=2 {
        if !sys::is_open(fd) {
            // open returns the lowest free number, which is this one; keep it open for good.
            let null = open("/dev/null", OFlag::O_RDWR, Mode::empty())?;
            std::mem::forget(null);
        }
    }
    Ok(())
}

fn close_inherited_fds(keep: Option<RawFd>) -> Result<(), Errno> {
    let ranges: Vec<(u32, u32)> = match keep
        .and_then(|fd| u32::try_from(fd).ok())
        .filter(|&fd| fd > 2)
    {
        Some(keep) => vec![(3, keep - 1), (keep.saturating_add(1), u32::MAX)],
        None => vec![(3, u32::MAX)],
    };
    for (first, last) in ranges {
        if first > last {
            continue;
        }
        match sys::close_range(first, last) {
            Ok(()) => {}
            Err(Errno::ENOSYS | Errno::EPERM) => close_each(first, last),
            Err(errno) => return Err(errno),
        }
    }
    Ok(())
}

/// For kernels without close_range (before 5.9): close up to the descriptor limit.
fn close_each(first: u32, last: u32) {
    let limit = nix::sys::resource::getrlimit(Resource::RLIMIT_NOFILE)
        .map(|(soft, _)| soft)
        .unwrap_or(65_536);
    let end = u64::from(last).min(limit.min(1 << 20));
    for fd in u64::from(first)..end {
        if let Ok(fd) = RawFd::try_from(fd) {
            sys::close(fd);
        }
    }
}

/// Every signal back to its default action and unblocked, but SIGPIPE ignored: the helper must
/// never die of a signal a caller can provoke, and a closed stderr or socket would send SIGPIPE.
fn reset_signals() -> Result<(), Errno> {
    for signal in Signal::iterator() {
        let handler = match signal {
            Signal::SIGKILL | Signal::SIGSTOP => continue,
            Signal::SIGPIPE => SigHandler::SigIgn,
            _ => SigHandler::SigDfl,
        };
        sys::set_signal_disposition(signal, handler)?;
    }
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
}

/// No core file and no ptrace attach by the caller: memory may hold policy and paths read with
/// privilege.
fn disable_core_dumps() -> Result<(), Errno> {
    setrlimit(Resource::RLIMIT_CORE, 0, 0)?;
    nix::sys::prctl::set_dumpable(false)
}
