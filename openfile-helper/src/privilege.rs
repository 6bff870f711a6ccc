//! Privilege: until the policy engine exists, the helper keeps none at all.
//!
//! Installed setuid root or with file capabilities, the helper first becomes exactly its caller
//! (real uid and gid, no capabilities), so every open below happens with the caller's own rights.

use nix::errno::Errno;
use nix::unistd::{getresgid, getresuid, setresgid, setresuid};

/// Drops every privilege the installation gave: saved and effective ids become the real ones,
/// and all capabilities are cleared unless the caller is root already.
pub fn become_caller() -> Result<(), Errno> {
    let gids = getresgid()?;
    if gids.effective != gids.real || gids.saved != gids.real {
        setresgid(gids.real, gids.real, gids.real)?;
    }
    let uids = getresuid()?;
    if uids.effective != uids.real || uids.saved != uids.real {
        setresuid(uids.real, uids.real, uids.real)?;
    }
    if !uids.real.is_root() {
        for set in [
            caps::CapSet::Effective,
            caps::CapSet::Permitted,
            caps::CapSet::Inheritable,
        ] {
            caps::clear(None, set).map_err(|_| Errno::EPERM)?;
        }
    }
    let (uids, gids) = (getresuid()?, getresgid()?);
    let all_real = uids.effective == uids.real
        && uids.saved == uids.real
        && gids.effective == gids.real
        && gids.saved == gids.real;
    if !all_real {
        return Err(Errno::EPERM);
    }
    Ok(())
}
