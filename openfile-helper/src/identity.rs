//! Who is asking: taken from the kernel (real uid, real gid, supplementary groups), never from
//! anything the caller says.

use std::cell::RefCell;
use std::collections::HashMap;

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

/// Resolves policy names through the system's user and group databases, each name once: a
/// policy that names the same group in 150 rules must not read /etc/group 150 times.
#[derive(Debug, Default)]
pub struct SystemNames {
    users: RefCell<HashMap<String, Option<u32>>>,
    groups: RefCell<HashMap<String, Option<u32>>>,
}

impl NameResolver for SystemNames {
    fn uid_of(&self, name: &str) -> Option<u32> {
        *self
            .users
            .borrow_mut()
            .entry(name.to_owned())
            .or_insert_with(|| {
                User::from_name(name)
                    .ok()
                    .flatten()
                    .map(|user| user.uid.as_raw())
            })
    }

    fn gid_of(&self, name: &str) -> Option<u32> {
        *self
            .groups
            .borrow_mut()
            .entry(name.to_owned())
            .or_insert_with(|| {
                Group::from_name(name)
                    .ok()
                    .flatten()
                    .map(|group| group.gid.as_raw())
            })
    }
}
