//! Least privilege: the helper holds nothing effective except during the one open that needs it.
//!
//! Installed setuid root or with file capabilities (`cap_dac_read_search,cap_dac_override+p`),
//! the helper reaches the same state: every uid and gid is the caller's real one, the permitted
//! set is at most CAP_DAC_READ_SEARCH and CAP_DAC_OVERRIDE, the effective and inheritable sets
//! are empty, the bounding set is trimmed where that is possible, and no_new_privs is set.
//! Not privileged at all, it works with the caller's own rights.

use std::collections::HashSet;
use std::fmt;

use caps::{CapSet, Capability};
use nix::errno::Errno;
use nix::unistd::{getresgid, getresuid, setresgid, setresuid};

/// The kernel's bit mask for `capabilities`.
fn mask<'a>(capabilities: impl Iterator<Item = &'a Capability>) -> u64 {
    capabilities.fold(0, |mask, capability| mask | capability.bitmask())
}

/// The capabilities the helper may ever use.
pub const KEPT: [Capability; 2] = [
    Capability::CAP_DAC_READ_SEARCH,
    Capability::CAP_DAC_OVERRIDE,
];

/// How the installation gave the helper its privilege.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installation {
    /// setuid root, started by a user other than root.
    SetuidRoot,
    /// File capabilities (or started by root, whose capabilities are trimmed the same way).
    Capabilities,
    /// No privilege: opens happen with the caller's own rights.
    Unprivileged,
    /// Started by root, whose own rights already cover every open: no policy applies (root could
    /// open the file itself), but the capabilities are trimmed the same way.
    CallerIsRoot,
}

impl Installation {
    /// Whether requests are held to the policy: only when the helper can do more than its caller.
    pub fn enforces_policy(self) -> bool {
        matches!(self, Installation::SetuidRoot | Installation::Capabilities)
    }
}

impl fmt::Display for Installation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Installation::SetuidRoot => {
                "setuid root (reduced to CAP_DAC_READ_SEARCH, CAP_DAC_OVERRIDE)"
            }
            Installation::Capabilities => {
                "file capabilities (CAP_DAC_READ_SEARCH, CAP_DAC_OVERRIDE)"
            }
            Installation::Unprivileged => "none: opens use the caller's own rights",
            Installation::CallerIsRoot => {
                "started by root: opens use root's own rights, no policy applies"
            }
        })
    }
}

/// The capabilities one open needs raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Search directories and read files: resolving a path, opening for reading.
    ReadSearch,
    /// Any write access, creating or truncating (also covers reading).
    Override,
}

/// The helper's privilege after [`Privilege::establish`].
#[derive(Debug)]
pub struct Privilege {
    installation: Installation,
    permitted: HashSet<Capability>,
}

impl Privilege {
    /// Becomes the caller with at most [`KEPT`] permitted and nothing effective. Call once, right
    /// after start-up hardening and before anything else.
    pub fn establish() -> Result<Privilege, Errno> {
        let uids = getresuid()?;
        let gids = getresgid()?;
        let had_root = uids.effective.is_root() || uids.saved.is_root();
        let permitted_before = caps::read(None, CapSet::Permitted).map_err(|_| Errno::EPERM)?;

        // The bounding set can only be trimmed with CAP_SETPCAP, which only root has here.
        if caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP).unwrap_or(false) {
            for capability in caps::runtime::thread_all_supported() {
                if !KEPT.contains(&capability) {
                    caps::drop(None, CapSet::Bounding, capability).map_err(|_| Errno::EPERM)?;
                }
            }
        }
        let _ = caps::clear(None, CapSet::Ambient);

        // Keep the permitted set across the switch away from uid 0; it is cut down right after.
        nix::sys::prctl::set_keepcaps(true)?;
        setresgid(gids.real, gids.real, gids.real)?;
        setresuid(uids.real, uids.real, uids.real)?;
        nix::sys::prctl::set_keepcaps(false)?;

        let permitted: HashSet<Capability> = KEPT
            .into_iter()
            .filter(|capability| permitted_before.contains(capability))
            .collect();
        caps::set(None, CapSet::Effective, &HashSet::new()).map_err(|_| Errno::EPERM)?;
        caps::set(None, CapSet::Inheritable, &HashSet::new()).map_err(|_| Errno::EPERM)?;
        caps::set(None, CapSet::Permitted, &permitted).map_err(|_| Errno::EPERM)?;
        nix::sys::prctl::set_no_new_privs()?;

        let privilege = Privilege {
            installation: match (uids.real.is_root(), had_root, permitted.len() == KEPT.len()) {
                (true, _, _) => Installation::CallerIsRoot,
                (false, true, _) => Installation::SetuidRoot,
                (false, false, true) => Installation::Capabilities,
                (false, false, false) => Installation::Unprivileged,
            },
            permitted,
        };
        privilege.verify(uids.real, gids.real)?;
        Ok(privilege)
    }

    /// A privilege that holds nothing, without touching the process: [`Privilege::with`] just runs
    /// the operation. For tests of the code that opens files, and for callers that must not
    /// change their own credentials.
    pub fn none() -> Privilege {
        Privilege {
            installation: Installation::Unprivileged,
            permitted: HashSet::new(),
        }
    }

    fn verify(&self, uid: nix::unistd::Uid, gid: nix::unistd::Gid) -> Result<(), Errno> {
        let (uids, gids) = (getresuid()?, getresgid()?);
        let ids_are_callers = [uids.real, uids.effective, uids.saved]
            .iter()
            .all(|&id| id == uid)
            && [gids.real, gids.effective, gids.saved]
                .iter()
                .all(|&id| id == gid);
        let effective = caps::read(None, CapSet::Effective).map_err(|_| Errno::EPERM)?;
        let permitted = caps::read(None, CapSet::Permitted).map_err(|_| Errno::EPERM)?;
        if !ids_are_callers
            || !effective.is_empty()
            || !permitted.is_subset(&KEPT.into_iter().collect())
        {
            return Err(Errno::EPERM);
        }
        Ok(())
    }

    /// How the helper was installed.
    pub fn installation(&self) -> Installation {
        self.installation
    }

    /// Runs `operation` with the caller's own rights, and again with the capabilities `need`
    /// calls for only if the kernel refused it (`EACCES` or `EPERM`): a capability is raised only
    /// when it is actually needed.
    pub fn with_if_refused<T>(
        &self,
        need: Need,
        operation: impl Fn() -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        match operation() {
            Err(Errno::EACCES | Errno::EPERM) => self.with(need, operation),
            other => other,
        }
    }

    /// Gives up every capability for good, before the answer is sent.
    pub fn drop_all(&self) {
        for set in [CapSet::Effective, CapSet::Permitted] {
            if caps::clear(None, set).is_err() {
                std::process::exit(libc::EPERM);
            }
        }
    }

    /// Runs `operation` with the capabilities `need` calls for raised, and lowers them again
    /// before returning. Without privilege it simply runs `operation` with the caller's rights.
    ///
    /// If the capabilities cannot be lowered again the process exits at once: going on with
    /// privilege raised is never an option.
    pub fn with<T>(&self, need: Need, operation: impl FnOnce() -> T) -> T {
        let wanted: &[Capability] = match need {
            Need::ReadSearch => &[Capability::CAP_DAC_READ_SEARCH],
            Need::Override => &KEPT,
        };
        let raised = mask(
            wanted
                .iter()
                .filter(|capability| self.permitted.contains(capability)),
        );
        if raised == 0 {
            return operation();
        }
        let permitted = mask(self.permitted.iter());
        if crate::sys::set_capabilities(raised, permitted).is_err() {
            // Could not raise: go on with the caller's rights, which is always safe.
            return operation();
        }
        let result = operation();
        if crate::sys::set_capabilities(0, permitted).is_err() {
            std::process::exit(libc::EPERM);
        }
        result
    }
}
