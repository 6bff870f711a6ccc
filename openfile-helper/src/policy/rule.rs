//! The parts of a rule: file types, identities, who a rule applies to, and where it came from.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use super::access::AccessSet;
use super::glob::Glob;

/// The type of the object being opened, as fstat reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileType {
    File,
    Dir,
    Char,
    Block,
    Fifo,
    Socket,
}

impl FileType {
    pub const ALL: [FileType; 6] = [
        FileType::File,
        FileType::Dir,
        FileType::Char,
        FileType::Block,
        FileType::Fifo,
        FileType::Socket,
    ];

    pub fn word(self) -> &'static str {
        match self {
            FileType::File => "file",
            FileType::Dir => "dir",
            FileType::Char => "char",
            FileType::Block => "block",
            FileType::Fifo => "fifo",
            FileType::Socket => "socket",
        }
    }

    pub fn from_word(word: &str) -> Option<FileType> {
        FileType::ALL
            .into_iter()
            .find(|file_type| file_type.word() == word)
    }

    /// The type encoded in `st_mode`; `None` for a symbolic link or an unknown type, which no
    /// rule can allow.
    pub fn from_mode(mode: u32) -> Option<FileType> {
        match mode & libc::S_IFMT {
            libc::S_IFREG => Some(FileType::File),
            libc::S_IFDIR => Some(FileType::Dir),
            libc::S_IFCHR => Some(FileType::Char),
            libc::S_IFBLK => Some(FileType::Block),
            libc::S_IFIFO => Some(FileType::Fifo),
            libc::S_IFSOCK => Some(FileType::Socket),
            _ => None,
        }
    }

    fn bit(self) -> u8 {
        match self {
            FileType::File => 1,
            FileType::Dir => 1 << 1,
            FileType::Char => 1 << 2,
            FileType::Block => 1 << 3,
            FileType::Fifo => 1 << 4,
            FileType::Socket => 1 << 5,
        }
    }
}

impl fmt::Display for FileType {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.word())
    }
}

/// A set of [`FileType`]s.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FileTypeSet(u8);

impl FileTypeSet {
    pub const EMPTY: FileTypeSet = FileTypeSet(0);
    pub const ALL: FileTypeSet = FileTypeSet(0b11_1111);
    /// What an `[[allow]]` without `types` covers.
    pub const DEFAULT_ALLOW: FileTypeSet = FileTypeSet(1);

    pub fn with(self, file_type: FileType) -> FileTypeSet {
        FileTypeSet(self.0 | file_type.bit())
    }

    /// The set as one byte, as a compiled policy stores it.
    pub(crate) fn bits(self) -> u8 {
        self.0
    }

    /// The set of [`FileTypeSet::bits`]; `None` for a byte with a bit no type has.
    pub(crate) fn from_bits(bits: u8) -> Option<FileTypeSet> {
        (bits & !FileTypeSet::ALL.0 == 0).then_some(FileTypeSet(bits))
    }

    pub fn contains(self, file_type: FileType) -> bool {
        self.0 & file_type.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = FileType> {
        FileType::ALL
            .into_iter()
            .filter(move |file_type| self.contains(*file_type))
    }
}

impl FromIterator<FileType> for FileTypeSet {
    fn from_iter<I: IntoIterator<Item = FileType>>(iter: I) -> FileTypeSet {
        iter.into_iter().fold(FileTypeSet::EMPTY, FileTypeSet::with)
    }
}

impl fmt::Display for FileTypeSet {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return formatter.write_str("none");
        }
        let mut first = true;
        for file_type in self.iter() {
            if !first {
                formatter.write_str(",")?;
            }
            first = false;
            formatter.write_str(file_type.word())?;
        }
        Ok(())
    }
}

impl fmt::Debug for FileTypeSet {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "FileTypeSet({self})")
    }
}

/// Who is asking: real uid, real gid and supplementary groups, as the kernel reports them.
/// Passed in by the caller so that the policy never reads process state itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    /// Groups a deny matches as well as the ones held: for a `myopend` peer, those the user
    /// database lists for its uid. A peer may have dropped groups it holds inside a user
    /// namespace that allows setgroups (newgidmap makes such namespaces), which no helper
    /// caller can do without privilege; a deny naming a group is meant for its members. Empty
    /// for the helper's callers.
    pub listed_groups: Vec<u32>,
}

impl Identity {
    /// Whether `gid` is the primary group or one of the supplementary groups.
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }

    /// Whether a deny naming `gid` applies: a group held, or one the database lists.
    pub fn in_group_for_deny(&self, gid: u32) -> bool {
        self.in_group(gid) || self.listed_groups.contains(&gid)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuleKind {
    Allow,
    Deny,
}

impl fmt::Display for RuleKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            RuleKind::Allow => "allow",
            RuleKind::Deny => "deny",
        })
    }
}

/// Where a rule was written: the file and the 1-based line of its `[[allow]]`/`[[deny]]`
/// header. Displays as `file:line`, the form the audit log uses.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RuleOrigin {
    /// Shared by every rule of the file.
    pub file: Arc<Path>,
    pub line: u32,
}

impl fmt::Display for RuleOrigin {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}:{}", self.file.display(), self.line)
    }
}

/// How many ids [`Ids`] holds without a heap allocation. Three, not four, keep an [`Ids`] as
/// small as a `Vec`, and a [`Rule`] within 128 bytes: the parser's push of each rule is then
/// a few moves instead of a call to memcpy (`rule_is_small` checks it).
const INLINE_IDS: usize = 3;

/// A list of uids or gids, kept in place while it is short: most rules name one or two users or
/// groups, and loading a large policy should not pay an allocation for each rule.
#[derive(Clone)]
pub struct Ids(IdStorage);

#[derive(Clone)]
enum IdStorage {
    Inline { length: u8, ids: [u32; INLINE_IDS] },
    Heap(Vec<u32>),
}

impl Ids {
    pub const fn new() -> Ids {
        Ids(IdStorage::Inline {
            length: 0,
            ids: [0; INLINE_IDS],
        })
    }

    pub fn push(&mut self, id: u32) {
        match &mut self.0 {
            IdStorage::Inline { length, ids } => match ids.get_mut(usize::from(*length)) {
                Some(slot) => {
                    *slot = id;
                    *length += 1;
                }
                None => {
                    let mut heap = Vec::with_capacity(INLINE_IDS * 2);
                    heap.extend_from_slice(ids);
                    heap.push(id);
                    self.0 = IdStorage::Heap(heap);
                }
            },
            IdStorage::Heap(heap) => heap.push(id),
        }
    }

    pub fn as_slice(&self) -> &[u32] {
        match &self.0 {
            IdStorage::Inline { length, ids } => &ids[..usize::from(*length)],
            IdStorage::Heap(heap) => heap,
        }
    }
}

impl Default for Ids {
    fn default() -> Ids {
        Ids::new()
    }
}

impl std::ops::Deref for Ids {
    type Target = [u32];

    fn deref(&self) -> &[u32] {
        self.as_slice()
    }
}

impl PartialEq for Ids {
    fn eq(&self, other: &Ids) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Ids {}

impl PartialEq<Vec<u32>> for Ids {
    fn eq(&self, other: &Vec<u32>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl fmt::Debug for Ids {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_slice().fmt(formatter)
    }
}

impl From<Vec<u32>> for Ids {
    fn from(ids: Vec<u32>) -> Ids {
        ids.into_iter().collect()
    }
}

impl FromIterator<u32> for Ids {
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> Ids {
        let mut ids = Ids::new();
        for id in iter {
            ids.push(id);
        }
        ids
    }
}

/// Who a rule applies to, after names were resolved to ids. Names that did not resolve are
/// gone (they match nobody), so an empty `Subjects` without `everyone` matches no one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subjects {
    pub everyone: bool,
    pub uids: Ids,
    pub gids: Ids,
}

impl Subjects {
    pub fn everyone() -> Subjects {
        Subjects {
            everyone: true,
            uids: Ids::new(),
            gids: Ids::new(),
        }
    }

    /// Whether an allow with these subjects grants `who`: by the groups it holds.
    pub fn matches(&self, who: &Identity) -> bool {
        self.everyone
            || self.uids.contains(&who.uid)
            || self.gids.iter().any(|gid| who.in_group(*gid))
    }

    /// Whether a deny with these subjects applies to `who`: by the groups it holds and those the
    /// database lists for it ([`Identity::listed_groups`]).
    pub fn matches_for_deny(&self, who: &Identity) -> bool {
        self.everyone
            || self.uids.contains(&who.uid)
            || self.gids.iter().any(|gid| who.in_group_for_deny(*gid))
    }

    /// True if no identity at all can match.
    pub fn is_nobody(&self) -> bool {
        !self.everyone && self.uids.is_empty() && self.gids.is_empty()
    }
}

/// One `[[allow]]` or `[[deny]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub kind: RuleKind,
    pub path: Glob,
    pub subjects: Subjects,
    /// For an allow: what it grants. For a deny: what it blocks (all words if not given).
    pub access: AccessSet,
    /// `None`: any type. An allow always has `Some` (default `file`); a deny has `Some` only
    /// when its `types` limit it to fewer than all types.
    pub types: Option<FileTypeSet>,
    pub origin: RuleOrigin,
}

impl Rule {
    pub(crate) fn applies_to_type(&self, file_type: FileType) -> bool {
        self.types.is_none_or(|types| types.contains(file_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_words_round_trip() {
        for file_type in FileType::ALL {
            assert_eq!(FileType::from_word(file_type.word()), Some(file_type));
        }
        assert_eq!(FileType::from_word("symlink"), None);
        assert_eq!(FileType::from_word("File"), None);
        let all: FileTypeSet = FileType::ALL.into_iter().collect();
        assert_eq!(all, FileTypeSet::ALL);
        assert_eq!(all.to_string(), "file,dir,char,block,fifo,socket");
        assert!(FileTypeSet::DEFAULT_ALLOW.contains(FileType::File));
        assert_eq!(FileTypeSet::DEFAULT_ALLOW.iter().count(), 1);
    }

    #[test]
    fn types_from_mode() {
        assert_eq!(
            FileType::from_mode(libc::S_IFREG | 0o644),
            Some(FileType::File)
        );
        assert_eq!(
            FileType::from_mode(libc::S_IFDIR | 0o755),
            Some(FileType::Dir)
        );
        assert_eq!(FileType::from_mode(libc::S_IFCHR), Some(FileType::Char));
        assert_eq!(FileType::from_mode(libc::S_IFBLK), Some(FileType::Block));
        assert_eq!(FileType::from_mode(libc::S_IFIFO), Some(FileType::Fifo));
        assert_eq!(FileType::from_mode(libc::S_IFSOCK), Some(FileType::Socket));
        assert_eq!(FileType::from_mode(libc::S_IFLNK | 0o777), None);
        assert_eq!(FileType::from_mode(0), None);
    }

    #[test]
    fn subjects_match_uid_primary_and_supplementary_groups() {
        let who = Identity {
            uid: 1000,
            gid: 100,
            groups: vec![4, 27],
            listed_groups: vec![50],
        };
        let by_uid = Subjects {
            uids: vec![1000].into(),
            ..Subjects::default()
        };
        let by_primary = Subjects {
            gids: vec![100].into(),
            ..Subjects::default()
        };
        let by_supplementary = Subjects {
            gids: vec![27].into(),
            ..Subjects::default()
        };
        let other = Subjects {
            uids: vec![100].into(),
            gids: vec![1000].into(),
            ..Subjects::default()
        };
        assert!(by_uid.matches(&who));
        assert!(by_primary.matches(&who));
        assert!(by_supplementary.matches(&who));
        assert!(
            !other.matches(&who),
            "uids and gids are separate namespaces"
        );
        assert!(Subjects::everyone().matches(&who));
        assert!(!Subjects::default().matches(&who));
        assert!(Subjects::default().is_nobody());
        // A group only the database lists (a myopend peer that dropped it): denies, never grants.
        let by_listed = Subjects {
            gids: vec![50].into(),
            ..Subjects::default()
        };
        assert!(!by_listed.matches(&who), "an allow needs the group held");
        assert!(
            by_listed.matches_for_deny(&who),
            "a deny reaches its members"
        );
        assert!(!other.matches_for_deny(&who));
        assert!(by_supplementary.matches_for_deny(&who));
    }

    #[test]
    fn ids_keep_their_order_past_the_inline_ones() {
        let mut ids = Ids::new();
        let all: Vec<u32> = (0..11).map(|id| id * 7).collect();
        for (count, id) in all.iter().enumerate() {
            ids.push(*id);
            assert_eq!(ids, all[..=count].to_vec());
        }
        assert_eq!(Ids::from(all.clone()), all);
        assert_ne!(Ids::from(vec![1, 2]), Ids::from(vec![2, 1]));
        assert_eq!(format!("{:?}", Ids::from(vec![3, 4])), "[3, 4]");
    }

    #[test]
    fn rule_is_small() {
        assert_eq!(size_of::<Ids>(), size_of::<Vec<u32>>());
        assert!(size_of::<Rule>() <= 128, "{}", size_of::<Rule>());
    }

    #[test]
    fn origin_display() {
        let origin = RuleOrigin {
            file: Path::new("/etc/myopen/policy.toml").into(),
            line: 7,
        };
        assert_eq!(origin.to_string(), "/etc/myopen/policy.toml:7");
    }
}
