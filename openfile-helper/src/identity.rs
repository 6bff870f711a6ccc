//! Who is asking: taken from the kernel (real uid, real gid, supplementary groups), never from
//! anything the caller says.

use std::cell::RefCell;
use std::collections::HashMap;

use nix::errno::Errno;
use nix::unistd::{Gid, Uid, User, getgid, getgroups, getuid};

use crate::policy::{Identity, LookupFailed, NameResolver};

/// The caller's identity. The helper's real ids are its caller's: setuid and file capabilities
/// change only the effective and saved ids.
pub fn caller() -> Result<Identity, Errno> {
    let groups = getgroups()?.into_iter().map(Gid::as_raw).collect();
    Ok(Identity {
        uid: getuid().as_raw(),
        gid: getgid().as_raw(),
        groups,
        listed_groups: Vec::new(),
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
        listed_groups: Vec::new(),
    }))
}

/// What the user database says of a `myopend` peer's uid.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ListedUser {
    /// Its login name, for the audit log; `None` for a uid without an entry.
    pub name: Option<String>,
    /// The groups listed for it (its passwd entry's primary group and the groups /etc/group
    /// names it in), which its denies match too ([`Identity::listed_groups`]); none for a uid
    /// without an entry.
    pub groups: Vec<u32>,
}

/// Looks `uid` up once: its name and its listed groups ([`ListedUser`]).
pub fn listed_user(uid: u32) -> Result<ListedUser, Errno> {
    let Some(user) = User::from_uid(Uid::from_raw(uid))? else {
        return Ok(ListedUser::default());
    };
    let c_name = std::ffi::CString::new(user.name.as_str()).map_err(|_| Errno::EINVAL)?;
    let groups = nix::unistd::getgrouplist(&c_name, user.gid)?
        .into_iter()
        .map(Gid::as_raw)
        .collect();
    Ok(ListedUser {
        name: Some(user.name),
        groups,
    })
}

/// Subordinate id ranges (`subuid(5)`, `subgid(5)`): `name:first:count` lines, each the ids a
/// user may map into user namespaces it makes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SubordinateRanges {
    ranges: Vec<(u64, u64)>,
}

impl SubordinateRanges {
    /// Reads `file`; a missing file lists no range. A line that does not parse makes the whole
    /// file an error: a range left out would let its ids through.
    pub fn read(file: &std::path::Path) -> Result<SubordinateRanges, String> {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(SubordinateRanges::default());
            }
            Err(error) => return Err(format!("{}: {error}", file.display())),
        };
        SubordinateRanges::parse(&text)
            .map_err(|line| format!("{}:{line}: not name:first:count", file.display()))
    }

    /// Parses the text of a subuid or subgid file; the number of the first bad line on error.
    pub fn parse(text: &str) -> Result<SubordinateRanges, usize> {
        let mut ranges = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split(':');
            let (Some(_name), Some(first), Some(count), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Err(number + 1);
            };
            match (first.parse::<u64>(), count.parse::<u64>()) {
                (Ok(first), Ok(count)) => ranges.push((first, first.saturating_add(count))),
                _ => return Err(number + 1),
            }
        }
        Ok(SubordinateRanges { ranges })
    }

    /// Whether `id` lies in one of the ranges.
    pub fn contains(&self, id: u32) -> bool {
        let id = u64::from(id);
        self.ranges
            .iter()
            .any(|&(first, end)| first <= id && id < end)
    }
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
        cached(&self.users, name, || uid_by_name(name))
    }

    fn gid_of(&self, name: &str) -> Result<Option<u32>, LookupFailed> {
        cached(&self.groups, name, || gid_by_name(name))
    }
}

/// Through NSS, as nsswitch.conf says (glibc).
#[cfg(not(target_env = "musl"))]
fn uid_by_name(name: &str) -> Result<Option<u32>, Errno> {
    Ok(User::from_name(name)?.map(|user| user.uid.as_raw()))
}

#[cfg(not(target_env = "musl"))]
fn gid_by_name(name: &str) -> Result<Option<u32>, Errno> {
    Ok(nix::unistd::Group::from_name(name)?.map(|group| group.gid.as_raw()))
}

/// The musl build reads the policy's names from /etc/passwd and /etc/group alone. musl's own
/// lookups ask nscd over a new socket for every name the files lack; a session or a daemon worker
/// rereads its policy under the seccomp fence, where socket(2) fails with EPERM, so one name the
/// files lack made every reread an error and the session refused everything until it ended. The
/// same sources at the first read and at every reread, and no socket after the fence.
#[cfg(target_env = "musl")]
fn uid_by_name(name: &str) -> Result<Option<u32>, Errno> {
    files::id_of(std::path::Path::new("/etc/passwd"), name)
}

#[cfg(target_env = "musl")]
fn gid_by_name(name: &str) -> Result<Option<u32>, Errno> {
    files::id_of(std::path::Path::new("/etc/group"), name)
}

/// passwd(5) and group(5) files: `name:password:id:...` lines.
#[cfg_attr(not(target_env = "musl"), allow(dead_code))]
mod files {
    use nix::errno::Errno;

    /// The id (third field) of the first line of `database` whose first field is `name`; `None`
    /// when no line names it. A file that cannot be read is an error, never "no such name".
    pub fn id_of(database: &std::path::Path, name: &str) -> Result<Option<u32>, Errno> {
        let text = std::fs::read(database)
            .map_err(|error| Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO)))?;
        Ok(id_in(&text, name.as_bytes()))
    }

    /// As musl's parser does, a line without a numeric id is skipped: a deny naming a name found
    /// only there then names an unknown name, which denies everyone.
    pub fn id_in(text: &[u8], name: &[u8]) -> Option<u32> {
        text.split(|&byte| byte == b'\n').find_map(|line| {
            let mut fields = line.split(|&byte| byte == b':');
            if fields.next() != Some(name) {
                return None;
            }
            let id = fields.nth(1)?;
            std::str::from_utf8(id).ok()?.parse::<u32>().ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::SubordinateRanges;
    use super::files;

    #[test]
    fn a_database_line_gives_the_id_of_the_first_entry_with_the_name() {
        let group = b"root:x:0:\nreaders:x:1001:alice,bob\nreaders:x:7:\nbad:x:nan:\nshort\n";
        assert_eq!(files::id_in(group, b"root"), Some(0));
        assert_eq!(files::id_in(group, b"readers"), Some(1001));
        assert_eq!(files::id_in(group, b"read"), None);
        assert_eq!(files::id_in(group, b"bad"), None);
        assert_eq!(files::id_in(group, b"short"), None);
        assert_eq!(files::id_in(group, b""), None);
        let passwd = b"alice:x:1000:1000:Alice:/home/alice:/bin/sh";
        assert_eq!(files::id_in(passwd, b"alice"), Some(1000));
    }

    #[test]
    fn a_database_that_cannot_be_read_is_an_error() {
        assert_eq!(
            files::id_of(std::path::Path::new("/nonexistent/group"), "root"),
            Err(nix::errno::Errno::ENOENT)
        );
    }

    #[test]
    fn subordinate_ranges_cover_first_to_first_plus_count() {
        let ranges = SubordinateRanges::parse("alice:100000:65536\n\n# note\nbob:300000:10\n")
            .expect("parses");
        assert!(!ranges.contains(99_999));
        assert!(ranges.contains(100_000));
        assert!(ranges.contains(165_535));
        assert!(!ranges.contains(165_536));
        assert!(ranges.contains(300_009));
        assert!(!ranges.contains(300_010));
        assert!(!ranges.contains(1000));
        assert_eq!(
            SubordinateRanges::parse(""),
            Ok(SubordinateRanges::default())
        );
    }

    #[test]
    fn a_bad_line_makes_the_whole_file_an_error() {
        assert_eq!(
            SubordinateRanges::parse("alice:100000:65536\nbob:x:1\n"),
            Err(2)
        );
        assert_eq!(SubordinateRanges::parse("alice:100000\n"), Err(1));
        assert_eq!(SubordinateRanges::parse("alice:1:2:3\n"), Err(1));
        assert_eq!(SubordinateRanges::parse("alice:1:-2\n"), Err(1));
    }

    #[test]
    fn a_missing_file_lists_no_range() {
        assert_eq!(
            SubordinateRanges::read(std::path::Path::new("/nonexistent/subuid")),
            Ok(SubordinateRanges::default())
        );
    }
}
