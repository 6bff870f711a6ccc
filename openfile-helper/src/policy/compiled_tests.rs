//! Compiled-policy tests: what is compiled reads back as the same rules and decisions, and
//! damaged bytes are refused or refuse, never panic, loop or grant. (That a compiled policy
//! decides as its source on random policies is `tests::index_agrees_with_scanning`.)

use std::path::{Path, PathBuf};

use super::super::parse::tests::FakeResolver;
use super::super::parse::{LookupFailed, NameResolver};
use super::super::tests::alice;
use super::super::{Access, AccessSet, Decision, FileType, Identity, Policy, Reason, Rule};
use super::*;

const MAIN: &str = "/etc/myopen/policy.toml";
const DROPIN: &str = "/etc/myopen/policy.d/10-more.toml";

const MAIN_TEXT: &str = "\
[[allow]]
path = \"/srv/app/**/logs/*.log\"
groups = [\"adm\"]
access = [\"read\", \"append\"]

[[deny]]
path = \"/srv/app/private/**\"

[[allow]]
path = \"/*/shared/**\"
users = [\"*\"]
access = [\"read\"]
types = [\"file\", \"dir\"]
";

const DROPIN_TEXT: &str = "\
[[allow]]
path = \"/data/*\"
users = [\"alice\", \"1005\", \"1006\", \"1007\"]
access = [\"read\", \"write\", \"create\"]

[[deny]]
path = \"/data/secret\"
users = [\"alice\"]
access = [\"write\"]
types = [\"file\"]
";

fn parsed() -> (Policy, Vec<PathBuf>) {
    let loaded = Policy::from_sources(
        [
            (Path::new(MAIN), MAIN_TEXT),
            (Path::new(DROPIN), DROPIN_TEXT),
        ],
        &FakeResolver,
    )
    .unwrap();
    (loaded.policy, loaded.files)
}

fn bytes_of(policy: &Policy, files: &[PathBuf]) -> Vec<u8> {
    policy
        .compile(files, &PolicyStamp::new(), &NameAnswers::default())
        .unwrap()
        .unwrap()
}

fn read() -> AccessSet {
    AccessSet::EMPTY.with(Access::Read)
}

const PATHS: [&str; 8] = [
    "/",
    "/data/x",
    "/data/secret",
    "/srv/app/a/logs/b.log",
    "/srv/app/private/logs/b.log",
    "/home/shared/f",
    "/srv",
    "/elsewhere/entirely",
];

fn decisions(policy: &Policy) -> Vec<Decision> {
    let mut decisions = Vec::new();
    for path in PATHS {
        for access in [read(), AccessSet::EMPTY.with(Access::Write), AccessSet::ALL] {
            for file_type in [None, Some(FileType::File), Some(FileType::Dir)] {
                decisions.push(policy.decide(&alice(), path.as_bytes(), access, file_type));
            }
        }
    }
    decisions
}

#[test]
fn a_compiled_policy_reads_back_as_its_rules_and_decides_as_they_do() {
    let (policy, files) = parsed();
    let (stamp, compiled) = CompiledPolicy::decode(bytes_of(&policy, &files)).unwrap();
    assert!(stamp.unchanged_since(&PolicyStamp::new()));
    assert_eq!(compiled.files().collect::<Vec<_>>(), files);
    assert_eq!(compiled.rule_count(), 5);
    let compiled = Policy::from_compiled(compiled);
    assert_eq!(compiled.rule_count(), policy.rule_count());
    assert!(compiled.parsed_rules().is_none());
    assert!(
        compiled
            .compile(&files, &PolicyStamp::new(), &NameAnswers::default())
            .is_none()
    );
    assert_eq!(compiled.verify(), Ok(()));

    let mut rules = Vec::new();
    compiled
        .for_each_rule(&|_, _| true, &mut |rule| rules.push(rule.clone()))
        .unwrap();
    assert_eq!(
        rules,
        policy.rules(),
        "every field, the origin's file and line too"
    );
    let mut allows = 0;
    compiled
        .for_each_rule(
            &|kind, subjects| kind == RuleKind::Allow && subjects.everyone,
            &mut |_| allows += 1,
        )
        .unwrap();
    assert_eq!(allows, 1, "only the rules kept are made");

    assert_eq!(decisions(&compiled), decisions(&policy));
    let granted = compiled.decide(&alice(), b"/data/x", read(), Some(FileType::File));
    assert!(granted.allowed, "{granted}");
    assert_eq!(granted.rule.unwrap().to_string(), format!("{DROPIN}:1"));
}

fn grants_to(policy: &Policy, who: &Identity) -> Vec<Rule> {
    let mut rules = Vec::new();
    policy
        .for_each_grant_to(who, &mut |rule| rules.push(rule.clone()))
        .unwrap();
    rules
}

#[test]
fn the_rules_that_can_grant_someone_are_found_without_reading_the_others() {
    let (policy, files) = parsed();
    let (_, compiled) = CompiledPolicy::decode(bytes_of(&policy, &files)).unwrap();
    let compiled = Policy::from_compiled(compiled);
    let member_of_adm = Identity {
        groups: vec![9, 4],
        ..alice()
    };
    let by_primary_group = Identity {
        gid: 4,
        groups: Vec::new(),
        ..alice()
    };
    let listed = Identity {
        uid: 1006,
        gid: 1006,
        groups: Vec::new(),
        listed_groups: vec![4],
    };
    for (who, expected) in [
        (&alice(), vec![0, 2, 3]),
        (&member_of_adm, vec![0, 2, 3]),
        (&by_primary_group, vec![0, 2, 3]),
        // The fourth uid a rule names (past the ones kept in place); a listed group grants
        // nothing, as in Subjects::matches.
        (&listed, vec![2, 3]),
    ] {
        let expected: Vec<Rule> = expected
            .iter()
            .map(|position| policy.rules()[*position].clone())
            .collect();
        assert_eq!(grants_to(&policy, who), expected, "{who:?}");
        assert_eq!(grants_to(&compiled, who), expected, "{who:?}");
    }
    // In memory again, it is the parsed policy, index and all.
    assert_eq!(compiled.in_memory().unwrap(), policy);
}

#[test]
fn an_empty_policy_compiles_to_one_that_allows_nothing() {
    let policy = Policy::new();
    let (_, compiled) = CompiledPolicy::decode(bytes_of(&policy, &[])).unwrap();
    let compiled = Policy::from_compiled(compiled);
    assert_eq!(compiled.rule_count(), 0);
    let decision = compiled.decide(&alice(), b"/data/x", read(), None);
    assert_eq!(decision.reason, Reason::NoMatchingRule);
}

#[test]
fn cut_short_or_extended_bytes_are_refused() {
    let (policy, files) = parsed();
    let bytes = bytes_of(&policy, &files);
    for length in 0..bytes.len() {
        assert!(
            CompiledPolicy::decode(bytes[..length].to_vec()).is_err(),
            "cut to {length} of {} bytes",
            bytes.len()
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        CompiledPolicy::decode(longer).unwrap_err(),
        Damaged("trailing bytes")
    );
    assert!(!CompiledPolicy::from_another_build(&bytes));
    // Another format version, or the same format from another parser: not decoded, and known
    // for what it is (out of date, not damaged).
    let mut other_version = bytes.clone();
    other_version[7] = 3;
    assert!(CompiledPolicy::from_another_build(&other_version));
    assert!(CompiledPolicy::decode(other_version).is_err());
    let mut other_parser = bytes;
    other_parser[MAGIC.len()] ^= 1;
    assert!(CompiledPolicy::from_another_build(&other_parser));
    assert_eq!(
        CompiledPolicy::decode(other_parser).unwrap_err(),
        Damaged("compiled by another build of openfile-helper")
    );
    assert!(!CompiledPolicy::from_another_build(b"garbage"));
}

/// Every byte changed, one at a time: decoding and every decision and walk on what decodes end
/// without a panic, and nothing decides differently unless the change reached a rule that
/// decision depends on.
#[test]
fn damaged_bytes_never_panic_or_loop() {
    let (policy, files) = parsed();
    let bytes = bytes_of(&policy, &files);
    for position in 0..bytes.len() {
        for change in [0xff, 0x01, 0x80] {
            let mut damaged = bytes.clone();
            damaged[position] ^= change;
            let Ok((_, compiled)) = CompiledPolicy::decode(damaged) else {
                continue;
            };
            let compiled = Policy::from_compiled(compiled);
            let _ = decisions(&compiled);
            let _ = compiled.for_each_rule(&|_, _| true, &mut |_| {});
            let _ = compiled.for_each_grant_to(&alice(), &mut |_| {});
            let _ = compiled.verify();
        }
    }
}

#[test]
fn an_index_chain_that_does_not_run_backwards_is_refused() {
    let (policy, files) = parsed();
    let mut bytes = bytes_of(&policy, &files);
    let (_, layout) = CompiledPolicy::decode(bytes.clone()).unwrap();
    // Rule 1 said to come after rule 3 in its chain: a cycle, were it followed.
    let link = layout.earlier + 4;
    bytes[link..link + 4].copy_from_slice(&3u32.to_le_bytes());
    let (_, compiled) = CompiledPolicy::decode(bytes).unwrap();
    assert_eq!(
        compiled.verify().unwrap_err(),
        Damaged("index chain does not run backwards")
    );
    // Decisions that meet the link still end.
    let _ = decisions(&Policy::from_compiled(compiled));
}

#[test]
fn grants_out_of_order_are_refused() {
    let (policy, files) = parsed();
    let mut bytes = bytes_of(&policy, &files);
    let (_, layout) = CompiledPolicy::decode(bytes.clone()).unwrap();
    assert!(layout.grant_count >= 2);
    // The first grant's key made larger than every other.
    let key = layout.grants;
    bytes[key..key + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    let (_, compiled) = CompiledPolicy::decode(bytes).unwrap();
    assert_eq!(compiled.verify().unwrap_err(), Damaged("grants not sorted"));
    // Found out of order, a grant is only a rule to check: a grant may be lost (a narrower
    // fence), and nobody gets a rule not theirs.
    let compiled = Policy::from_compiled(compiled);
    let nobody = Identity {
        uid: 4242,
        gid: 4242,
        groups: Vec::new(),
        listed_groups: Vec::new(),
    };
    for who in [nobody, alice()] {
        let granted = grants_to(&policy, &who);
        assert!(
            grants_to(&compiled, &who)
                .iter()
                .all(|rule| granted.contains(rule)),
            "{who:?}"
        );
    }
}

#[test]
fn a_probe_of_a_table_with_no_empty_slot_ends() {
    let full = |_: usize| Some(Slot { hash: 1, last: 0 });
    assert_eq!(index::probe(2, 8, full), None);
    assert_eq!(index::probe(1, 8, full), Some(0));
    assert_eq!(index::probe(1, 0, full), None, "no table");
    assert_eq!(index::probe(1, 6, full), None, "not a power of two");
}

/// The offset of rule `position`'s record in the compiled bytes.
fn record_start(bytes: &[u8], compiled: &CompiledPolicy, position: usize) -> usize {
    let offset = compiled.offsets + position * 4;
    let mut array = [0; 4];
    array.copy_from_slice(&bytes[offset..offset + 4]);
    compiled.records.start + u32::from_le_bytes(array) as usize
}

#[test]
fn a_damaged_rule_refuses_the_decisions_that_need_it() {
    let (policy, files) = parsed();
    let bytes = bytes_of(&policy, &files);
    let (_, layout) = CompiledPolicy::decode(bytes.clone()).unwrap();
    let deny = record_start(&bytes, &layout, 4);
    // Rule 4, the deny of /data/secret: its kind byte, then its pattern's first byte.
    let pattern = deny + 12 + 4;
    assert_eq!(&bytes[pattern..pattern + 5], b"/data");
    // Undamaged, reading /data/secret is allowed: the deny is of writes.
    let intact = Policy::from_compiled(layout);
    let allowed = intact.decide(&alice(), b"/data/secret", read(), Some(FileType::File));
    assert!(allowed.allowed, "{allowed}");
    for (at, value) in [(deny, 7), (pattern, b'[')] {
        let mut damaged = bytes.clone();
        damaged[at] = value;
        let (_, compiled) = CompiledPolicy::decode(damaged).unwrap();
        let compiled = Policy::from_compiled(compiled);
        let decision = compiled.decide(&alice(), b"/data/secret", read(), Some(FileType::File));
        assert!(!decision.allowed, "a damaged deny could have refused this");
        assert_eq!(decision.reason, Reason::CompiledPolicyDamaged);
        // A decision whose candidates do not include it is still made.
        let elsewhere = compiled.decide(&alice(), b"/home/shared/f", read(), Some(FileType::File));
        assert!(elsewhere.allowed, "{elsewhere}");
        assert!(compiled.for_each_rule(&|_, _| true, &mut |_| {}).is_err());
        assert!(compiled.verify().is_err());
    }
}

/// A directory that renumbered `adm` and lost `alice`, or cannot be asked at all.
struct Renumbered {
    failing: bool,
}

impl NameResolver for Renumbered {
    fn uid_of(&self, name: &str) -> Result<Option<u32>, LookupFailed> {
        match (self.failing, name) {
            (true, _) => Err(LookupFailed { errno: 24 }),
            (false, "alice") => Ok(None),
            (false, _) => FakeResolver.uid_of(name),
        }
    }

    fn gid_of(&self, name: &str) -> Result<Option<u32>, LookupFailed> {
        match (self.failing, name) {
            (true, _) => Err(LookupFailed { errno: 24 }),
            (false, "adm") => Ok(Some(44)),
            (false, _) => FakeResolver.gid_of(name),
        }
    }
}

#[test]
fn the_names_a_policy_was_compiled_with_must_still_get_the_same_answers() {
    let recording = Recording::new(&FakeResolver);
    let loaded = Policy::from_sources(
        [
            (Path::new(MAIN), MAIN_TEXT),
            (Path::new(DROPIN), DROPIN_TEXT),
        ],
        &recording,
    )
    .unwrap();
    let names = recording.answers();
    let expected = NameAnswers(vec![
        (NameKind::Group, "adm".to_owned(), Some(4)),
        (NameKind::User, "alice".to_owned(), Some(1000)),
    ]);
    assert_eq!(names, expected, "each name once, ids and `*` not looked up");
    let bytes = loaded
        .policy
        .compile(&loaded.files, &PolicyStamp::new(), &names)
        .unwrap()
        .unwrap();
    let (_, read_back, _) = CompiledPolicy::decode_with_names(bytes).unwrap();
    assert_eq!(read_back, names);
    assert!(read_back.still_given_by(&FakeResolver));
    assert!(!read_back.still_given_by(&Renumbered { failing: false }));
    assert!(!read_back.still_given_by(&Renumbered { failing: true }));
}

/// `build.rs`'s collection and hashing, included as they are (`openfile-helper/policy_code.rs`).
mod code_identity {
    include!("../../policy_code.rs");

    pub(super) fn files(root: &std::path::Path) -> Vec<(String, Vec<u8>)> {
        collect_policy_code(root, &mut |_| {}).expect("readable")
    }

    pub(super) fn hash(files: &[(String, Vec<u8>)]) -> String {
        policy_code_hash(files)
    }
}

#[test]
fn the_build_identity_covers_policy_code_at_any_depth_and_nothing_else() {
    let tree = tempfile::tempdir().expect("tempdir");
    let write = |relative: &str| {
        let path = tree.path().join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, relative).expect("write");
    };
    for relative in [
        "decide.rs",
        "toml_reference.rs",
        "load_tests.rs",
        "parse/lexer.rs",
        "parse/tests.rs",
        "parse/deeper/rules.rs",
        "README.md",
    ] {
        write(relative);
    }
    let mut names: Vec<String> = code_identity::files(tree.path())
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["decide.rs", "parse/deeper/rules.rs", "parse/lexer.rs"],
        "policy code at every depth; tests, the TOML reference and other files left out"
    );
    // And the identity this build carries is that of its own src/policy.
    let own = code_identity::files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/policy"));
    assert!(own.iter().any(|(name, _)| name == "parse.rs"));
    assert_eq!(code_identity::hash(&own), env!("MYOPEN_POLICY_CODE"));
}
