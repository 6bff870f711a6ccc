//! A compiled policy: the installed policy's rules as `openfile-helper --compile` parsed them,
//! stored with the [`PolicyStamp`] of every file they came from and of the name databases their
//! names were resolved through. A helper that finds those files unchanged, by every field fstat
//! gives, reads this instead of parsing them: a decision looks its candidates up in the stored
//! index and decodes those rules alone, so what a request pays follows the rules that could
//! match it, not the size of the policy (issue 15). ld.so.cache and Postfix's postmap tables are
//! the same idea.
//!
//! Pure, like the rest of the engine: bytes in, bytes out. Trust is decided where the file is
//! read (load.rs, P7): a root-owned file no one else may write, in a directory no one else may
//! write, like the sources. Decoding still assumes nothing of the bytes: every length and
//! position is checked, a chain must run backwards, a probe ends after one round of its table,
//! and a rule that does not decode refuses every decision that needs it (fuzzed,
//! `fuzz_targets/compiled_policy.rs`).
//!
//! Layout, little-endian, each list preceded by its length as a u32:
//!
//! | part | contents |
//! | --- | --- |
//! | magic | `myopenc` and the format version byte |
//! | stamp | [`PolicyStamp::encode`] |
//! | files | each source file's path (a rule names its file by position here) |
//! | offsets | for each rule, where its record starts in the records |
//! | records | each rule: kind, access, types, everyone, file, line, pattern, uids, gids |
//! | index | the deepest prefix, the prefix table's slots (hash, last rule), each rule's `earlier` |
//! | grants | (subject, rule) for every allow rule and each subject it names, sorted: who it grants |
//! | names | each user and group name the rules named, and what the database answered for it |

use std::cell::RefCell;
use std::ffi::OsStr;
use std::fmt;
use std::ops::Range;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::access::AccessSet;
use super::glob::Glob;
use super::index::{self, PrefixIndex, PrefixTable, Slot};
use super::load::PolicyStamp;
use super::parse::{LookupFailed, NameResolver};
use super::rule::{FileTypeSet, Identity, Ids, Rule, RuleKind, RuleOrigin, Subjects};

/// The format: "myopenc" and its version byte.
const MAGIC: &[u8; 8] = b"myopenc\x02";

/// The build of the code that gives rules their meaning (`build.rs`: a hash of `src/policy/`),
/// stored after [`MAGIC`]: a compiled policy is used only by the parser and decisions that made
/// it, never by an upgraded helper whose parser reads the same text differently.
const CODE: &[u8] = env!("MYOPEN_POLICY_CODE").as_bytes();

/// A slot of the prefix table, or an `earlier` link, that holds nothing.
const NONE: u32 = u32::MAX;

const SLOT_SIZE: usize = 12;

/// A grant entry: the subject as a u64 key ([`Subject`]), then the rule's position as a u32.
const GRANT_SIZE: usize = 12;

/// Whom an allow rule names, as the key of its grant entries: the kind in the high half, the id
/// in the low one. Every identity's keys are known (everyone, its uid, its gid and groups), so
/// the rules that can grant it are found without looking at the others.
enum Subject {
    Everyone,
    User(u32),
    Group(u32),
}

impl Subject {
    fn key(self) -> u64 {
        match self {
            Subject::Everyone => 0,
            Subject::User(uid) => 1 << 32 | u64::from(uid),
            Subject::Group(gid) => 2 << 32 | u64::from(gid),
        }
    }
}

/// The types byte of a rule whose `types` is `None` (any type): a bit no type uses.
const ANY_TYPE: u8 = 0x80;

/// Whether a name was looked up as a user or as a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameKind {
    User,
    Group,
}

/// Every name a parse looked up and the answer it got: stored in a compiled policy, and asked
/// again before it is used ([`NameAnswers::still_given_by`]). The stamp covers /etc/passwd and
/// /etc/group, which is all the musl helper reads; a helper whose names come through NSS (LDAP,
/// sssd) would otherwise go on using ids that a directory has since given to someone else.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameAnswers(Vec<(NameKind, String, Option<u32>)>);

impl NameAnswers {
    /// Whether `resolver` answers every name as it was answered; `false` also when a lookup
    /// cannot be answered now (a read of the sources then reports it).
    pub fn still_given_by(&self, resolver: &dyn NameResolver) -> bool {
        self.0.iter().all(|(kind, name, answer)| {
            let now = match kind {
                NameKind::User => resolver.uid_of(name),
                NameKind::Group => resolver.gid_of(name),
            };
            now == Ok(*answer)
        })
    }
}

/// A [`NameResolver`] that keeps every answer the resolver it wraps gives: parse a policy
/// through it, and [`Recording::answers`] are the names to store with the compiled policy.
pub struct Recording<'a> {
    resolver: &'a dyn NameResolver,
    answers: RefCell<NameAnswers>,
}

impl<'a> Recording<'a> {
    pub fn new(resolver: &'a dyn NameResolver) -> Recording<'a> {
        Recording {
            resolver,
            answers: RefCell::new(NameAnswers::default()),
        }
    }

    pub fn answers(self) -> NameAnswers {
        self.answers.into_inner()
    }

    fn keep(
        &self,
        kind: NameKind,
        name: &str,
        answer: Result<Option<u32>, LookupFailed>,
    ) -> Result<Option<u32>, LookupFailed> {
        if let Ok(id) = answer {
            let mut answers = self.answers.borrow_mut();
            if !answers.0.iter().any(|(k, n, _)| *k == kind && n == name) {
                answers.0.push((kind, name.to_owned(), id));
            }
        }
        answer
    }
}

impl NameResolver for Recording<'_> {
    fn uid_of(&self, name: &str) -> Result<Option<u32>, LookupFailed> {
        self.keep(NameKind::User, name, self.resolver.uid_of(name))
    }

    fn gid_of(&self, name: &str) -> Result<Option<u32>, LookupFailed> {
        self.keep(NameKind::Group, name, self.resolver.gid_of(name))
    }
}

/// Why compiled bytes cannot be used. The helper then reads the policy's sources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Damaged(pub &'static str);

impl fmt::Display for Damaged {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "compiled policy damaged: {}", self.0)
    }
}

impl std::error::Error for Damaged {}

/// Reads the parts of compiled bytes in order, checking every length against what is left.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    fn take(&mut self, length: usize) -> Result<&'a [u8], Damaged> {
        let end = self
            .at
            .checked_add(length)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(Damaged("truncated"))?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Damaged> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Damaged> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Damaged> {
        self.array().map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self) -> Result<u64, Damaged> {
        self.array().map(u64::from_le_bytes)
    }

    pub(crate) fn i64(&mut self) -> Result<i64, Damaged> {
        self.array().map(i64::from_le_bytes)
    }

    /// A count or length, as a `usize`.
    pub(crate) fn length(&mut self) -> Result<usize, Damaged> {
        usize::try_from(self.u32()?).map_err(|_| Damaged("length out of range"))
    }

    /// A byte string: its length, then its bytes.
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], Damaged> {
        let length = self.length()?;
        self.take(length)
    }

    /// Skips `count` items of `size` bytes, giving back where they start.
    fn skip(&mut self, count: usize, size: usize) -> Result<usize, Damaged> {
        let start = self.at;
        self.take(
            count
                .checked_mul(size)
                .ok_or(Damaged("length out of range"))?,
        )?;
        Ok(start)
    }
}

/// Appends the parts of compiled bytes.
pub(crate) struct Writer {
    pub(crate) bytes: Vec<u8>,
}

/// What cannot be compiled: a count or length beyond the format's u32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLarge;

impl fmt::Display for TooLarge {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("the policy is too large to compile")
    }
}

impl Writer {
    pub(crate) fn u8(&mut self, value: u8) {
        self.bytes.push(value);
    }

    pub(crate) fn u32(&mut self, value: u32) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    pub(crate) fn u64(&mut self, value: u64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    pub(crate) fn i64(&mut self, value: i64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    pub(crate) fn length(&mut self, value: usize) -> Result<(), TooLarge> {
        self.u32(
            u32::try_from(value)
                .ok()
                .filter(|value| *value != NONE)
                .ok_or(TooLarge)?,
        );
        Ok(())
    }

    pub(crate) fn bytes(&mut self, value: &[u8]) -> Result<(), TooLarge> {
        self.length(value.len())?;
        self.bytes.extend_from_slice(value);
        Ok(())
    }

    fn position(&mut self, value: Option<usize>) -> Result<(), TooLarge> {
        match value {
            Some(position) => self.length(position),
            None => {
                self.u32(NONE);
                Ok(())
            }
        }
    }
}

/// The compiled bytes of a parsed policy: `rules` in policy order, their `index`, the `files`
/// they came from in order, and the `stamp` those files had when they were read.
pub(crate) fn encode(
    rules: &[Rule],
    index: &PrefixIndex,
    files: &[PathBuf],
    stamp: &PolicyStamp,
    names: &NameAnswers,
) -> Result<Vec<u8>, TooLarge> {
    let mut out = Writer {
        bytes: Vec::with_capacity(rules.len().saturating_mul(64).saturating_add(4096)),
    };
    out.bytes.extend_from_slice(MAGIC);
    out.bytes.extend_from_slice(CODE);
    stamp.encode(&mut out)?;

    let mut file_names: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let mut records = Writer { bytes: Vec::new() };
    let mut offsets = Vec::with_capacity(rules.len());
    for rule in rules {
        offsets.push(records.bytes.len());
        records.u8(match rule.kind {
            RuleKind::Allow => 0,
            RuleKind::Deny => 1,
        });
        records.u8(rule.access.bits());
        records.u8(rule.types.map_or(ANY_TYPE, FileTypeSet::bits));
        records.u8(u8::from(rule.subjects.everyone));
        let file = match file_names
            .iter()
            .position(|file| **file == *rule.origin.file)
        {
            Some(position) => position,
            None => {
                file_names.push(&rule.origin.file);
                file_names.len() - 1
            }
        };
        records.length(file)?;
        records.u32(rule.origin.line);
        records.bytes(rule.path.as_str().as_bytes())?;
        for ids in [&rule.subjects.uids, &rule.subjects.gids] {
            records.length(ids.len())?;
            for id in ids.iter() {
                records.u32(*id);
            }
        }
    }

    out.length(file_names.len())?;
    for file in &file_names {
        out.bytes(file.as_os_str().as_bytes())?;
    }
    out.length(rules.len())?;
    for offset in offsets {
        out.length(offset)?;
    }
    out.bytes(&records.bytes)?;
    let (slots, earlier, deepest) = index.parts();
    out.length(deepest)?;
    out.length(slots.len())?;
    for slot in slots {
        match slot {
            Some(slot) => {
                out.u64(slot.hash);
                out.length(slot.last)?;
            }
            None => {
                out.u64(0);
                out.u32(NONE);
            }
        }
    }
    for position in earlier {
        out.position(*position)?;
    }
    let mut grants = Vec::new();
    for (position, rule) in rules.iter().enumerate() {
        if rule.kind != RuleKind::Allow {
            continue;
        }
        let subjects = &rule.subjects;
        let everyone = subjects.everyone.then_some(Subject::Everyone);
        let users = subjects.uids.iter().map(|uid| Subject::User(*uid));
        let groups = subjects.gids.iter().map(|gid| Subject::Group(*gid));
        for subject in everyone.into_iter().chain(users).chain(groups) {
            grants.push((subject.key(), position));
        }
    }
    grants.sort_unstable();
    grants.dedup();
    out.length(grants.len())?;
    for (key, position) in grants {
        out.u64(key);
        out.length(position)?;
    }
    out.length(names.0.len())?;
    for (kind, name, answer) in &names.0 {
        out.u8(match kind {
            NameKind::User => 0,
            NameKind::Group => 1,
        });
        out.bytes(name.as_bytes())?;
        match answer {
            Some(id) => {
                out.u8(1);
                out.u32(*id);
            }
            None => out.u8(0),
        }
    }
    Ok(out.bytes)
}

/// A policy read from compiled bytes. Decoding checked that every part is in range; each
/// position, link and rule is checked when it is read ([`CompiledPolicy::verify`] checks them
/// all at once).
#[derive(Clone, PartialEq, Eq)]
pub struct CompiledPolicy {
    bytes: Vec<u8>,
    files: Vec<Arc<Path>>,
    rule_count: usize,
    offsets: usize,
    records: Range<usize>,
    deepest: usize,
    slots: usize,
    slot_count: usize,
    earlier: usize,
    grants: usize,
    grant_count: usize,
}

impl fmt::Debug for CompiledPolicy {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("CompiledPolicy")
            .field("bytes", &self.bytes.len())
            .field("files", &self.files)
            .field("rules", &self.rule_count)
            .finish_non_exhaustive()
    }
}

/// One rule's fields as stored, before its pattern is checked as a glob.
struct Record<'a> {
    kind: RuleKind,
    access: AccessSet,
    types: Option<FileTypeSet>,
    subjects: Subjects,
    file: usize,
    line: u32,
    pattern: &'a [u8],
}

impl CompiledPolicy {
    /// Whether `bytes` are a compiled policy made by another build of the helper (another format
    /// version, or another parser): not damaged, only out of date, like an edited source.
    pub fn from_another_build(bytes: &[u8]) -> bool {
        let family = &MAGIC[..MAGIC.len() - 1];
        bytes.starts_with(family)
            && (bytes.get(..MAGIC.len()) != Some(MAGIC.as_slice())
                || bytes.get(MAGIC.len()..MAGIC.len() + CODE.len()) != Some(CODE))
    }

    /// Decodes compiled bytes into the stamp they were compiled under and the policy.
    pub fn decode(bytes: Vec<u8>) -> Result<(PolicyStamp, CompiledPolicy), Damaged> {
        Self::decode_with_names(bytes).map(|(stamp, _, policy)| (stamp, policy))
    }

    /// [`CompiledPolicy::decode`], and the names the policy was compiled with.
    pub fn decode_with_names(
        bytes: Vec<u8>,
    ) -> Result<(PolicyStamp, NameAnswers, CompiledPolicy), Damaged> {
        let mut reader = Reader::new(&bytes);
        if reader.take(MAGIC.len())? != MAGIC {
            return Err(Damaged("not a compiled policy of this version"));
        }
        if reader.take(CODE.len())? != CODE {
            return Err(Damaged("compiled by another build of openfile-helper"));
        }
        let stamp = PolicyStamp::decode(&mut reader)?;
        let file_count = reader.length()?;
        let mut files = Vec::with_capacity(file_count.min(1024));
        for _ in 0..file_count {
            files.push(Arc::from(Path::new(OsStr::from_bytes(reader.bytes()?))));
        }
        let rule_count = reader.length()?;
        let offsets = reader.skip(rule_count, 4)?;
        let records_length = reader.length()?;
        let records_start = reader.skip(records_length, 1)?;
        let deepest = reader.length()?;
        let slot_count = reader.length()?;
        if slot_count != 0 && !slot_count.is_power_of_two() {
            return Err(Damaged("prefix table length not a power of two"));
        }
        let slots = reader.skip(slot_count, SLOT_SIZE)?;
        let earlier = reader.skip(rule_count, 4)?;
        let grant_count = reader.length()?;
        let grants = reader.skip(grant_count, GRANT_SIZE)?;
        let name_count = reader.length()?;
        let mut names = NameAnswers(Vec::with_capacity(name_count.min(1024)));
        for _ in 0..name_count {
            let kind = match reader.u8()? {
                0 => NameKind::User,
                1 => NameKind::Group,
                _ => return Err(Damaged("name kind")),
            };
            let name = std::str::from_utf8(reader.bytes()?).map_err(|_| Damaged("name"))?;
            let answer = match reader.u8()? {
                0 => None,
                1 => Some(reader.u32()?),
                _ => return Err(Damaged("name answer")),
            };
            names.0.push((kind, name.to_owned(), answer));
        }
        if reader.at != bytes.len() {
            return Err(Damaged("trailing bytes"));
        }
        let policy = CompiledPolicy {
            files,
            rule_count,
            offsets,
            records: records_start..records_start + records_length,
            deepest,
            slots,
            slot_count,
            earlier,
            grants,
            grant_count,
            bytes,
        };
        Ok((stamp, names, policy))
    }

    /// Checks everything decoding left to the reads that need it: the layout
    /// ([`CompiledPolicy::check_layout`]) and every rule. Decoding does not, so that a one-shot
    /// helper pays for the rules it reads, not for all of them; every read checks what it
    /// reads, and a rule that does not decode refuses. `openfile-helper --check` runs this.
    pub fn verify(&self) -> Result<(), Damaged> {
        self.check_layout()?;
        self.for_each_rule(&|_, _| true, &mut |_| {})
    }

    /// The positions the layout holds are in range: each offset within the records, each slot's
    /// last rule, each `earlier` link and each grant a rule's (a link before its own rule), and
    /// the grants sorted. Decoding ranged every part, so the slices here are in the bytes. Were
    /// any of this false, the reads that meet it still end and refuse: a chain is followed only
    /// backwards, a probe once round its table, a position out of range is a damaged rule, and a
    /// grant found out of order is only a rule to check (its own subjects decide).
    fn check_layout(&self) -> Result<(), Damaged> {
        let u32s = |start: usize, count: usize, stride: usize, within: usize| {
            self.bytes[start..start + count * stride]
                .chunks_exact(stride)
                .map(move |chunk| {
                    let mut array = [0; 4];
                    array.copy_from_slice(&chunk[within..within + 4]);
                    u32::from_le_bytes(array) as usize
                })
        };
        let records = self.records.len();
        if u32s(self.offsets, self.rule_count, 4, 0).any(|offset| offset >= records) {
            return Err(Damaged("record offset out of range"));
        }
        let none = NONE as usize;
        let backwards = u32s(self.earlier, self.rule_count, 4, 0)
            .enumerate()
            .all(|(position, earlier)| earlier == none || earlier < position);
        if !backwards {
            return Err(Damaged("index chain does not run backwards"));
        }
        let count = self.rule_count;
        if u32s(self.slots, self.slot_count, SLOT_SIZE, 8).any(|last| last != none && last >= count)
        {
            return Err(Damaged("index slot names no rule"));
        }
        if u32s(self.grants, self.grant_count, GRANT_SIZE, 8).any(|position| position >= count) {
            return Err(Damaged("grant names no rule"));
        }
        let mut previous = None;
        for position in 0..self.grant_count {
            let grant = self.grant(position);
            if previous.is_some_and(|previous| previous > grant) {
                return Err(Damaged("grants not sorted"));
            }
            previous = Some(grant);
        }
        Ok(())
    }

    /// Grant entry `position` (below `grant_count`): its key and rule.
    fn grant(&self, position: usize) -> (u64, usize) {
        let at = self.grants + position * GRANT_SIZE;
        let mut key = [0; 8];
        key.copy_from_slice(&self.bytes[at..at + 8]);
        let mut rule = [0; 4];
        rule.copy_from_slice(&self.bytes[at + 8..at + 12]);
        (u64::from_le_bytes(key), u32::from_le_bytes(rule) as usize)
    }

    /// Calls `each` with every allow rule that can grant `who` ([`Subjects::matches`]), in policy
    /// order, found in the grants: the other rules are not read.
    pub(crate) fn for_each_grant_to(
        &self,
        who: &Identity,
        each: &mut dyn FnMut(&Rule),
    ) -> Result<(), Damaged> {
        let keys = [
            Subject::Everyone,
            Subject::User(who.uid),
            Subject::Group(who.gid),
        ]
        .into_iter()
        .chain(who.groups.iter().map(|gid| Subject::Group(*gid)))
        .map(Subject::key);
        let mut positions = Vec::new();
        for key in keys {
            // The first entry with this key: the grants are sorted (checked when decoded).
            let (mut low, mut high) = (0, self.grant_count);
            while low < high {
                let middle = low + (high - low) / 2;
                if self.grant(middle).0 < key {
                    low = middle + 1;
                } else {
                    high = middle;
                }
            }
            positions.extend(
                (low..self.grant_count)
                    .map(|position| self.grant(position))
                    .take_while(|(found, _)| *found == key)
                    .map(|(_, rule)| rule),
            );
        }
        positions.sort_unstable();
        positions.dedup();
        for position in positions {
            let rule = self.rule(position)?;
            // The grants only find the rules; the rule's own fields decide, as for a parsed one.
            if rule.kind == RuleKind::Allow && rule.subjects.matches(who) {
                each(&rule);
            }
        }
        Ok(())
    }

    fn u32_at(&self, at: usize) -> Result<u32, Damaged> {
        let bytes = self
            .bytes
            .get(at..at.saturating_add(4))
            .ok_or(Damaged("truncated"))?;
        let mut array = [0; 4];
        array.copy_from_slice(bytes);
        Ok(u32::from_le_bytes(array))
    }

    pub fn rule_count(&self) -> usize {
        self.rule_count
    }

    /// The source files, in the order their rules were added.
    pub fn files(&self) -> impl Iterator<Item = PathBuf> + '_ {
        self.files.iter().map(|file| file.to_path_buf())
    }

    fn record(&self, position: usize) -> Result<Record<'_>, Damaged> {
        let offset = self.u32_at(self.offsets + position.checked_mul(4).ok_or(Damaged("rule"))?)?;
        let records = &self.bytes[self.records.clone()];
        let mut reader = Reader::new(records.get(offset as usize..).ok_or(Damaged("rule"))?);
        let kind = match reader.u8()? {
            0 => RuleKind::Allow,
            1 => RuleKind::Deny,
            _ => return Err(Damaged("rule kind")),
        };
        let access = AccessSet::from_bits(reader.u8()?).ok_or(Damaged("rule access"))?;
        let types = match reader.u8()? {
            ANY_TYPE => None,
            bits => Some(FileTypeSet::from_bits(bits).ok_or(Damaged("rule types"))?),
        };
        let everyone = match reader.u8()? {
            0 => false,
            1 => true,
            _ => return Err(Damaged("rule subjects")),
        };
        let file = reader.length()?;
        if file >= self.files.len() {
            return Err(Damaged("rule file"));
        }
        let line = reader.u32()?;
        let pattern = reader.bytes()?;
        let mut ids = || -> Result<Ids, Damaged> {
            let count = reader.length()?;
            let mut ids = Ids::new();
            for _ in 0..count {
                ids.push(reader.u32()?);
            }
            Ok(ids)
        };
        let uids = ids()?;
        let gids = ids()?;
        Ok(Record {
            kind,
            access,
            types,
            subjects: Subjects {
                everyone,
                uids,
                gids,
            },
            file,
            line,
            pattern,
        })
    }

    fn rule_of(&self, record: Record<'_>) -> Result<Rule, Damaged> {
        let pattern = std::str::from_utf8(record.pattern).map_err(|_| Damaged("rule pattern"))?;
        Ok(Rule {
            kind: record.kind,
            path: Glob::new(pattern).map_err(|_| Damaged("rule pattern"))?,
            subjects: record.subjects,
            access: record.access,
            types: record.types,
            origin: RuleOrigin {
                file: Arc::clone(&self.files[record.file]),
                line: record.line,
            },
        })
    }

    /// The rule at `position`, its pattern checked as the parser checks it.
    pub fn rule(&self, position: usize) -> Result<Rule, Damaged> {
        if position >= self.rule_count {
            return Err(Damaged("rule"));
        }
        self.rule_of(self.record(position)?)
    }

    /// The rules that could match `path` (absolute and clean), in policy order.
    pub(crate) fn candidates(&self, path: &[u8]) -> Result<Vec<Rule>, Damaged> {
        index::candidates_in(self, path)
            .into_iter()
            .map(|position| self.rule(position))
            .collect()
    }

    /// Calls `each` with every rule, in policy order, for which `keep` holds of its kind and
    /// subjects: only those rules' patterns are checked and made into globs.
    pub(crate) fn for_each_rule(
        &self,
        keep: &dyn Fn(RuleKind, &Subjects) -> bool,
        each: &mut dyn FnMut(&Rule),
    ) -> Result<(), Damaged> {
        for position in 0..self.rule_count {
            let record = self.record(position)?;
            if keep(record.kind, &record.subjects) {
                each(&self.rule_of(record)?);
            }
        }
        Ok(())
    }
}

impl PrefixTable for CompiledPolicy {
    fn last_with(&self, hash: u64) -> Option<usize> {
        index::probe(hash, self.slot_count, |slot| {
            let at = self.slots.checked_add(slot.checked_mul(SLOT_SIZE)?)?;
            let mut reader = Reader::new(self.bytes.get(at..)?);
            let slot_hash = reader.u64().ok()?;
            let last = reader.u32().ok()?;
            (last != NONE).then_some(Slot {
                hash: slot_hash,
                last: last as usize,
            })
        })
    }

    fn earlier_than(&self, position: usize) -> Option<usize> {
        let earlier = self
            .u32_at(self.earlier.checked_add(position.checked_mul(4)?)?)
            .ok()?;
        (earlier != NONE).then_some(earlier as usize)
    }

    fn deepest(&self) -> usize {
        self.deepest
    }
}

#[cfg(test)]
#[path = "compiled_tests.rs"]
mod tests;
