//! Who is asking: taken from the kernel (real uid, real gid, supplementary groups), never from
//! anything the caller says.

use nix::errno::Errno;
use nix::unistd::{Gid, Group, Uid, User, getgid, getgroups, getuid};

use crate::policy::{Identity, NameResolver};

/// The caller's identity. The helper's real ids are its caller's: setuid and file capabilities
/// change only the effective and saved ids.
pub fn caller() -> Result<Identity, Errno> {
    let groups = getgroups()?.into_iter().map(Gid::as_raw).collect();
    Ok(Identity {
        uid: getuid().as_raw(),
        gid: getgid().as_raw(),
        groups,
    })
}

/// The identity of user `name` (primary group and the groups /etc/group lists), for
/// `--explain --user`.
pub fn of_user(name: &str) -> Result<Option<Identity>, Errno> {
    let Some(user) = User::from_name(name)? else {
        return Ok(None);
    };
    let c_name = std::ffi::CString::new(name).map_err(|_| Errno::EINVAL)?;
    let groups = nix::unistd::getgrouplist(&c_name, user.gid)?
        .into_iter()
        .map(Gid::as_raw)
        .collect();
    Ok(Some(Identity {
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
        groups,
    }))
}

/// The login name of `uid`, for the audit log.
pub fn user_name(uid: u32) -> Option<String> {
    User::from_uid(Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|user| user.name)
}

/// Resolves policy names through the system's user and group databases.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemNames;

impl NameResolver for SystemNames {
    fn uid_of(&self, name: &str) -> Option<u32> {
        User::from_name(name)
            .ok()
            .flatten()
            .map(|user| user.uid.as_raw())
    }

    fn gid_of(&self, name: &str) -> Option<u32> {
        Group::from_name(name)
            .ok()
            .flatten()
            .map(|group| group.gid.as_raw())
    }
}
