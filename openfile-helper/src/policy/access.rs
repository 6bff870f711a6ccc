//! Access words (`read`, `write`, `append`, `create`, `truncate`) and the mapping from open(2)
//! flags to the set of words a request needs.

use std::fmt;

use myopen::wire::validate_open_flags;

/// One access word of the policy language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Access {
    Read,
    Write,
    Append,
    Create,
    Truncate,
}

impl Access {
    /// Every word, in the order they are printed.
    pub const ALL: [Access; 5] = [
        Access::Read,
        Access::Write,
        Access::Append,
        Access::Create,
        Access::Truncate,
    ];

    /// The word as written in policy files and logs.
    pub fn word(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Append => "append",
            Access::Create => "create",
            Access::Truncate => "truncate",
        }
    }

    /// Parses a policy word; case-sensitive so that a policy has one spelling only.
    // Once for each access word of every rule: inlined where the parser reads them, the search
    // of five words costs no call.
    #[inline]
    pub fn from_word(word: &str) -> Option<Access> {
        Access::ALL.into_iter().find(|access| access.word() == word)
    }

    fn bit(self) -> u8 {
        match self {
            Access::Read => 1,
            Access::Write => 1 << 1,
            Access::Append => 1 << 2,
            Access::Create => 1 << 3,
            Access::Truncate => 1 << 4,
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.word())
    }
}

/// A set of [`Access`] words.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AccessSet(u8);

impl AccessSet {
    pub const EMPTY: AccessSet = AccessSet(0);
    pub const ALL: AccessSet = AccessSet(0b1_1111);

    pub fn empty() -> AccessSet {
        AccessSet::EMPTY
    }

    pub fn all() -> AccessSet {
        AccessSet::ALL
    }

    pub fn with(self, access: Access) -> AccessSet {
        AccessSet(self.0 | access.bit())
    }

    /// The set as one byte, as a compiled policy stores it.
    pub(crate) fn bits(self) -> u8 {
        self.0
    }

    /// The set of [`AccessSet::bits`]; `None` for a byte with a bit no word has.
    pub(crate) fn from_bits(bits: u8) -> Option<AccessSet> {
        (bits & !AccessSet::ALL.0 == 0).then_some(AccessSet(bits))
    }

    pub fn insert(&mut self, access: Access) {
        self.0 |= access.bit();
    }

    pub fn contains(self, access: Access) -> bool {
        self.0 & access.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn union(self, other: AccessSet) -> AccessSet {
        AccessSet(self.0 | other.0)
    }

    pub fn intersection(self, other: AccessSet) -> AccessSet {
        AccessSet(self.0 & other.0)
    }

    pub fn difference(self, other: AccessSet) -> AccessSet {
        AccessSet(self.0 & !other.0)
    }

    pub fn is_subset(self, other: AccessSet) -> bool {
        self.difference(other).is_empty()
    }

    pub fn iter(self) -> impl Iterator<Item = Access> {
        Access::ALL
            .into_iter()
            .filter(move |access| self.contains(*access))
    }

    /// What a grant of `self` really allows: `write` also satisfies `append`, because a
    /// descriptor that may write anywhere may also write at the end.
    pub fn effective_grant(self) -> AccessSet {
        if self.contains(Access::Write) {
            self.with(Access::Append)
        } else {
            self
        }
    }

    /// The words of `self` (a request) that `granted` does not cover.
    pub fn missing_from(self, granted: AccessSet) -> AccessSet {
        self.difference(granted.effective_grant())
    }

    /// What a deny of `self` blocks: `write` and `append` block each other, because either one
    /// lets the holder add bytes to the file (and O_APPEND can be cleared with fcntl anyway).
    pub fn effective_deny(self) -> AccessSet {
        if self.contains(Access::Write) || self.contains(Access::Append) {
            self.with(Access::Write).with(Access::Append)
        } else {
            self
        }
    }

    /// Maps open(2) flags to the access a request needs (DESIGN.md, "Policy").
    ///
    /// Flags whose effect the policy cannot describe are refused; the caller answers EINVAL.
    pub fn from_open_flags(flags: i32) -> Result<AccessSet, FlagsError> {
        // Which flags the helper accepts has one definition, shared with the library: the wire
        // format's. Only the mapping to access words lives here.
        validate_open_flags(flags).map_err(|refused| match refused.unknown {
            0 => FlagsError::InvalidAccessMode { flags },
            unknown => FlagsError::Unsupported { flags: unknown },
        })?;
        let mut needed = match flags & libc::O_ACCMODE {
            libc::O_RDONLY => AccessSet::EMPTY.with(Access::Read),
            libc::O_WRONLY => AccessSet::EMPTY.with(Access::Write),
            _ => AccessSet::EMPTY.with(Access::Read).with(Access::Write),
        };
        // O_APPEND only changes where writes land; on a read-only descriptor it has no effect,
        // so O_RDONLY|O_APPEND needs nothing more than read.
        if flags & libc::O_APPEND != 0 && needed.contains(Access::Write) {
            needed = AccessSet(needed.0 & !Access::Write.bit()).with(Access::Append);
        }
        if flags & libc::O_CREAT != 0 {
            needed.insert(Access::Create);
        }
        // O_RDONLY|O_TRUNC truncates on Linux, so it needs the grant like any other truncation.
        if flags & libc::O_TRUNC != 0 {
            needed.insert(Access::Truncate);
        }
        Ok(needed)
    }
}

impl fmt::Display for AccessSet {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return formatter.write_str("none");
        }
        let mut first = true;
        for access in self.iter() {
            if !first {
                formatter.write_str(",")?;
            }
            first = false;
            formatter.write_str(access.word())?;
        }
        Ok(())
    }
}

impl fmt::Debug for AccessSet {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "AccessSet({self})")
    }
}

impl FromIterator<Access> for AccessSet {
    fn from_iter<I: IntoIterator<Item = Access>>(iter: I) -> AccessSet {
        iter.into_iter().fold(AccessSet::EMPTY, AccessSet::with)
    }
}

/// Why open(2) flags were refused. The caller answers EINVAL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagsError {
    /// The access mode bits are 3 (not O_RDONLY, O_WRONLY or O_RDWR).
    InvalidAccessMode { flags: i32 },
    /// Bits the helper does not understand; `flags` holds only those bits.
    Unsupported { flags: i32 },
}

// Names for the refused bits we know, so the error says `O_PATH` rather than a number.
// O_TMPFILE and O_SYNC contain O_DIRECTORY and O_DSYNC; only their own bits are listed here.
const KNOWN_UNSUPPORTED: [(i32, &str); 7] = [
    (libc::O_PATH, "O_PATH"),
    (libc::O_TMPFILE & !libc::O_DIRECTORY, "O_TMPFILE"),
    (libc::O_DIRECT, "O_DIRECT"),
    (libc::O_NOATIME, "O_NOATIME"),
    (libc::O_SYNC & !libc::O_DSYNC, "O_SYNC"),
    (libc::O_DSYNC, "O_DSYNC"),
    (libc::O_ASYNC, "O_ASYNC"),
];

impl fmt::Display for FlagsError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FlagsError::InvalidAccessMode { flags } => {
                write!(formatter, "invalid access mode in open flags {flags:#o}")
            }
            FlagsError::Unsupported { flags } => {
                formatter.write_str("unsupported open flags:")?;
                let mut rest = flags;
                for (bit, name) in KNOWN_UNSUPPORTED {
                    if rest & bit == bit && bit != 0 {
                        write!(formatter, " {name}")?;
                        rest &= !bit;
                    }
                }
                if rest != 0 {
                    write!(formatter, " {rest:#o}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for FlagsError {}

#[cfg(test)]
mod tests {
    use super::*;
    use libc::{O_APPEND, O_CREAT, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY};
    use myopen::wire::O_LARGEFILE_KERNEL;

    fn set(words: &[Access]) -> AccessSet {
        words.iter().copied().collect()
    }

    use Access::{Append, Create, Read, Truncate, Write};

    #[test]
    fn design_table_rows() {
        let rows: &[(i32, &[Access])] = &[
            (O_RDONLY, &[Read]),
            (O_WRONLY, &[Write]),
            (O_RDWR, &[Read, Write]),
            (O_WRONLY | O_APPEND, &[Append]),
            (O_RDWR | O_APPEND, &[Read, Append]),
            (O_RDONLY | O_CREAT, &[Read, Create]),
            (O_WRONLY | O_CREAT, &[Write, Create]),
            (O_WRONLY | O_CREAT | libc::O_EXCL, &[Write, Create]),
            (O_RDONLY | O_TRUNC, &[Read, Truncate]),
            (O_WRONLY | O_TRUNC, &[Write, Truncate]),
            (O_WRONLY | O_CREAT | O_TRUNC, &[Write, Create, Truncate]),
            (O_WRONLY | O_APPEND | O_CREAT, &[Append, Create]),
            (O_RDWR | O_CREAT | O_TRUNC, &[Read, Write, Create, Truncate]),
            (O_RDONLY | O_APPEND, &[Read]),
        ];
        for (flags, words) in rows {
            assert_eq!(
                AccessSet::from_open_flags(*flags),
                Ok(set(words)),
                "flags {flags:#o}"
            );
        }
    }

    #[test]
    fn accepted_and_ignored_flags() {
        for extra in [
            libc::O_NOFOLLOW,
            libc::O_NONBLOCK,
            libc::O_CLOEXEC,
            libc::O_NOCTTY,
            libc::O_DIRECTORY,
            O_LARGEFILE_KERNEL,
            libc::O_LARGEFILE,
            libc::O_EXCL,
        ] {
            assert_eq!(
                AccessSet::from_open_flags(O_RDONLY | extra),
                Ok(set(&[Read])),
                "extra {extra:#o}"
            );
        }
        assert_eq!(O_LARGEFILE_KERNEL, 0o100000);
    }

    #[test]
    fn refused_flags_are_errors() {
        for bad in [
            libc::O_PATH,
            libc::O_TMPFILE,
            libc::O_DIRECT,
            libc::O_NOATIME,
            libc::O_SYNC,
            libc::O_DSYNC,
            libc::O_ASYNC,
            1 << 30,
            i32::MIN,
        ] {
            for mode in [O_RDONLY, O_WRONLY, O_RDWR] {
                assert!(
                    matches!(
                        AccessSet::from_open_flags(mode | bad),
                        Err(FlagsError::Unsupported { .. })
                    ),
                    "flags {bad:#o}"
                );
            }
        }
        assert_eq!(
            AccessSet::from_open_flags(3),
            Err(FlagsError::InvalidAccessMode { flags: 3 })
        );
        assert!(AccessSet::from_open_flags(3 | O_CREAT).is_err());
    }

    #[test]
    fn refused_flags_are_named() {
        let message = AccessSet::from_open_flags(libc::O_PATH)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert_eq!(message, "unsupported open flags: O_PATH");
        let message = AccessSet::from_open_flags(O_WRONLY | libc::O_TMPFILE)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert_eq!(message, "unsupported open flags: O_TMPFILE");
        let message = AccessSet::from_open_flags(libc::O_SYNC)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert_eq!(message, "unsupported open flags: O_SYNC O_DSYNC");
    }

    #[test]
    fn write_grant_satisfies_append_but_not_the_reverse() {
        let needed_append = set(&[Append]);
        assert!(needed_append.missing_from(set(&[Write])).is_empty());
        assert!(needed_append.missing_from(set(&[Append])).is_empty());
        assert_eq!(set(&[Write]).missing_from(set(&[Append])), set(&[Write]));
        assert_eq!(
            set(&[Read, Write]).missing_from(set(&[Read])),
            set(&[Write])
        );
    }

    #[test]
    fn words_round_trip_and_display() {
        for access in Access::ALL {
            assert_eq!(Access::from_word(access.word()), Some(access));
        }
        assert_eq!(Access::from_word("Read"), None);
        assert_eq!(Access::from_word("exec"), None);
        assert_eq!(
            AccessSet::ALL.to_string(),
            "read,write,append,create,truncate"
        );
        assert_eq!(AccessSet::EMPTY.to_string(), "none");
        assert_eq!(set(&Access::ALL), AccessSet::ALL);
    }

    #[test]
    fn deny_of_write_or_append_blocks_both() {
        assert_eq!(set(&[Write]).effective_deny(), set(&[Write, Append]));
        assert_eq!(set(&[Append]).effective_deny(), set(&[Write, Append]));
        assert_eq!(set(&[Read]).effective_deny(), set(&[Read]));
    }
}
