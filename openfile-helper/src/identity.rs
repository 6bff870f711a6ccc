//! Who is asking: taken from the kernel (real uid, real gid, supplementary groups), never from
//! anything the caller says.

use std::cell::RefCell;
use std::collections::HashMap;

use nix::errno::Errno;
use nix::unistd::{Gid, Group, Uid, User, getgid, getgroups, getuid};

use crate::policy::{Identity, LookupFailed, NameResolver};

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
/// policy that names the same group in 150 rules must not read /etc/group 150 times. A lookup
/// that fails is not cached, and fails the load.
#[derive(Debug, Default)]
pub struct SystemNames {
    users: RefCell<HashMap<String, Option<u32>>>,
    groups: RefCell<HashMap<String, Option<u32>>>,
}

/// `lookup(name)` through `cache`: only answers the database gave are kept.
fn cached(
    cache: &RefCell<HashMap<String, Option<u32>>>,
    name: &str,
    lookup: impl FnOnce() -> Result<Option<u32>, Errno>,
) -> Result<Option<u32>, LookupFailed> {
    if let Some(answer) = cache.borrow().get(name) {
        return Ok(*answer);
    }
    let answer = lookup().map_err(|errno| LookupFailed {
        // nix reports the errno it found; a lookup that failed without one is still a failure.
        errno: match errno as i32 {
            0 => libc::EIO,
            errno => errno,
        },
    })?;
    cache.borrow_mut().insert(name.to_owned(), answer);
    Ok(answer)
}

impl NameResolver for SystemNames {
    fn uid_of(&self, name: &str) -> Result<Option<u32>, LookupFailed> {
        cached(&self.users, name, || {
            Ok(User::from_name(name)?.map(|user| user.uid.as_raw()))
        })
    }

    fn gid_of(&self, name: &str) -> Result<Option<u32>, LookupFailed> {
        cached(&self.groups, name, || {
            Ok(Group::from_name(name)?.map(|group| group.gid.as_raw()))
        })
    }
}
