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

/// Hardens the process; `keep` are the inherited descriptors above 2 to keep (a helper's request
/// socket; a `myopend` worker's control socket and what the listener's NSS modules hold open).
pub fn harden(keep: &[RawFd]) -> Result<(), Errno> {
    ensure_standard_fds_open()?;
    close_inherited_fds(keep)?;
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

/// The ranges of descriptors from 3 up to close so that exactly `keep` (of those above 2) stays.
fn ranges_to_close(keep: &[RawFd]) -> Vec<(u32, u32)> {
    let mut kept: Vec<u32> = keep
        .iter()
        .filter_map(|&fd| u32::try_from(fd).ok())
        .filter(|&fd| fd > 2)
        .collect();
    kept.sort_unstable();
    kept.dedup();
    let mut ranges = Vec::with_capacity(kept.len() + 1);
    let mut first = 3u32;
    for fd in kept {
        if fd > first {
            ranges.push((first, fd - 1));
        }
        first = fd.saturating_add(1);
    }
    ranges.push((first, u32::MAX));
    ranges
}

fn close_inherited_fds(keep: &[RawFd]) -> Result<(), Errno> {
    for (first, last) in ranges_to_close(keep) {
        match sys::close_range(first, last) {
            Ok(()) => {}
            Err(Errno::ENOSYS | Errno::EPERM) => close_each(first, last),
            Err(errno) => return Err(errno),
        }
    }
    Ok(())
}

/// The descriptors this process has open now (from `/proc/self/fd`, less the one reading it).
pub fn open_descriptors() -> Result<Vec<RawFd>, Errno> {
    let mut directory = nix::dir::Dir::open(
        "/proc/self/fd",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let own = std::os::fd::AsRawFd::as_raw_fd(&directory);
    let mut open = Vec::new();
    for entry in directory.iter() {
        let entry = entry?;
        if let Some(fd) = entry
            .file_name()
            .to_str()
            .ok()
            .and_then(|name| name.parse::<RawFd>().ok())
            .filter(|&fd| fd != own)
        {
            open.push(fd);
        }
    }
    Ok(open)
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

#[cfg(test)]
mod tests {
    use super::ranges_to_close;

    #[test]
    fn everything_above_2_is_closed_but_what_is_kept() {
        assert_eq!(ranges_to_close(&[]), vec![(3, u32::MAX)]);
        assert_eq!(ranges_to_close(&[3]), vec![(4, u32::MAX)]);
        assert_eq!(ranges_to_close(&[9]), vec![(3, 8), (10, u32::MAX)]);
        // A worker's control socket and two descriptors of the listener's NSS modules, given in
        // any order, duplicates and standard descriptors ignored.
        assert_eq!(
            ranges_to_close(&[12, 5, 2, 6, 12, -1]),
            vec![(3, 4), (7, 11), (13, u32::MAX)]
        );
    }
}
