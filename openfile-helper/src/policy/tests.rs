//! Decision tests: whole policies, parsed from text, deciding requests.

use super::parse::tests::FakeResolver;
use super::*;
use Access::{Append, Create, Read, Truncate, Write};

const FILE: &str = "/etc/myopen/policy.toml";

fn policy(text: &str) -> Policy {
    match Policy::from_sources([(Path::new(FILE), text)], &FakeResolver) {
        Ok(loaded) => loaded.policy,
        Err(error) => panic!("{error}"),
    }
}

/// `policy` compiled and read back from its bytes.
pub(super) fn compiled(policy: &Policy) -> Policy {
    let bytes = policy
        .compile(
            &[PathBuf::from(FILE)],
            &PolicyStamp::new(),
            &NameAnswers::default(),
        )
        .expect("a policy made from sources")
        .expect("small enough");
    let (_, compiled) = CompiledPolicy::decode(bytes).expect("just compiled");
    Policy::from_compiled(compiled)
}

pub(crate) fn alice() -> Identity {
    Identity {
        uid: 1000,
        gid: 1000,
        groups: vec![4],
        listed_groups: Vec::new(),
    }
}

fn bob() -> Identity {
    Identity {
        uid: 1001,
        gid: 1001,
        groups: vec![],
        listed_groups: Vec::new(),
    }
}

fn set(words: &[Access]) -> AccessSet {
    words.iter().copied().collect()
}

fn origin(line: u32) -> Option<RuleOrigin> {
    Some(RuleOrigin {
        file: Path::new(FILE).into(),
        line,
    })
}

const LOGS: &str = r#"
[[allow]]
path = "/var/log/**"
groups = ["adm"]
access = ["read"]

[[deny]]
path = "/var/log/private/**"
"#;

#[test]
fn allow_by_group_and_deny_beats_allow() {
    let policy = policy(LOGS);
    let decision = policy.decide(&alice(), b"/var/log/syslog", set(&[Read]), None);
    assert_eq!(
        decision,
        Decision {
            allowed: true,
            rule: origin(2),
            reason: Reason::Allowed
        }
    );
    let decision = policy.decide(&alice(), b"/var/log/private/x", set(&[Read]), None);
    assert_eq!(
        decision,
        Decision {
            allowed: false,
            rule: origin(7),
            reason: Reason::DeniedByRule
        }
    );
    assert_eq!(
        decision.to_string(),
        format!("deny (rule {FILE}:7): denied by a deny rule")
    );
    let decision = policy.decide(&bob(), b"/var/log/syslog", set(&[Read]), None);
    assert_eq!(
        decision,
        Decision {
            allowed: false,
            rule: None,
            reason: Reason::NoMatchingRule
        }
    );
    assert!(
        !policy
            .decide(&alice(), b"/var/log", set(&[Read]), None)
            .allowed
    );
    assert!(
        !policy
            .decide(&alice(), b"/etc/shadow", set(&[Read]), None)
            .allowed
    );
}

#[test]
fn deny_order_does_not_matter() {
    let text = r#"
[[deny]]
path = "/data/secret"
[[allow]]
path = "/data/*"
users = ["*"]
access = ["read"]
"#;
    let decision = policy(text).decide(&bob(), b"/data/secret", set(&[Read]), None);
    assert_eq!(decision.reason, Reason::DeniedByRule);
    assert_eq!(decision.rule, origin(2));
    assert!(
        policy(text)
            .decide(&bob(), b"/data/open", set(&[Read]), None)
            .allowed
    );
}

#[test]
fn deny_with_users_applies_only_to_them() {
    let text = r#"
[[allow]]
path = "/srv/**"
users = ["*"]
access = ["read", "write"]
[[deny]]
path = "/srv/**"
users = ["bob"]
[[deny]]
path = "/srv/ro/**"
groups = ["adm"]
access = ["write"]
"#;
    let policy = policy(text);
    assert!(
        policy
            .decide(&alice(), b"/srv/x", set(&[Read]), None)
            .allowed
    );
    assert_eq!(
        policy.decide(&bob(), b"/srv/x", set(&[Read]), None).reason,
        Reason::DeniedByRule
    );
    // alice is in adm: write (and append) under /srv/ro is denied, read is not.
    assert!(
        policy
            .decide(&alice(), b"/srv/ro/f", set(&[Read]), None)
            .allowed
    );
    for needed in [set(&[Write]), set(&[Append]), set(&[Read, Write])] {
        let decision = policy.decide(&alice(), b"/srv/ro/f", needed, None);
        assert_eq!(decision.reason, Reason::DeniedByRule, "{needed}");
        assert_eq!(decision.rule, origin(9));
    }
}

#[test]
fn single_rule_must_grant_all_access() {
    let text = r#"
[[allow]]
path = "/data/*"
users = ["alice"]
access = ["read"]
[[allow]]
path = "/data/*"
users = ["alice"]
access = ["write"]
"#;
    let policy = policy(text);
    assert!(
        policy
            .decide(&alice(), b"/data/f", set(&[Read]), None)
            .allowed
    );
    let write = policy.decide(&alice(), b"/data/f", set(&[Write]), None);
    assert!(write.allowed);
    assert_eq!(write.rule, origin(6));
    let both = policy.decide(&alice(), b"/data/f", set(&[Read, Write]), None);
    assert_eq!(
        both,
        Decision {
            allowed: false,
            rule: origin(2),
            reason: Reason::AccessNotGranted {
                missing: set(&[Write])
            }
        }
    );
    assert_eq!(
        both.to_string(),
        format!("deny (rule {FILE}:2): the matching allow rule does not grant write")
    );
}

#[test]
fn first_matching_allow_decides() {
    let text = r#"
[[allow]]
path = "/data/**"
users = ["alice"]
access = ["read", "write"]
[[allow]]
path = "/data/f"
users = ["alice"]
access = ["read"]
"#;
    let decision = policy(text).decide(&alice(), b"/data/f", set(&[Read]), None);
    assert_eq!(decision.rule, origin(2));
}

#[test]
fn write_implies_append_but_append_does_not_imply_write() {
    let text = r#"
[[allow]]
path = "/w"
users = ["*"]
access = ["write"]
[[allow]]
path = "/a"
users = ["*"]
access = ["append"]
"#;
    let policy = policy(text);
    let flags_to_access = |flags| match AccessSet::from_open_flags(flags) {
        Ok(access) => access,
        Err(error) => panic!("{error}"),
    };
    let append = flags_to_access(libc::O_WRONLY | libc::O_APPEND);
    let write = flags_to_access(libc::O_WRONLY);
    assert!(policy.decide(&bob(), b"/w", append, None).allowed);
    assert!(policy.decide(&bob(), b"/w", write, None).allowed);
    assert!(policy.decide(&bob(), b"/a", append, None).allowed);
    assert_eq!(
        policy.decide(&bob(), b"/a", write, None).reason,
        Reason::AccessNotGranted {
            missing: set(&[Write])
        }
    );
}

#[test]
fn every_access_word_must_be_granted_on_its_own() {
    for word in Access::ALL {
        let text = format!(
            "[[allow]]\npath = \"/f\"\nusers = [\"*\"]\naccess = [\"{}\"]\n",
            word.word()
        );
        let policy = policy(&text);
        for needed in Access::ALL {
            let decision = policy.decide(&bob(), b"/f", set(&[needed]), None);
            let expected = needed == word || (word == Write && needed == Append);
            assert_eq!(decision.allowed, expected, "grant {word}, need {needed}");
        }
        let all = policy.decide(&bob(), b"/f", AccessSet::ALL, None);
        assert!(!all.allowed);
    }
    let policy = policy(
        "[[allow]]\npath = \"/f\"\nusers = [\"*\"]\naccess = [\"read\", \"create\", \"truncate\"]\n",
    );
    assert!(
        policy
            .decide(&bob(), b"/f", set(&[Read, Create, Truncate]), None)
            .allowed
    );
    assert!(
        !policy
            .decide(&bob(), b"/f", set(&[Write, Create, Truncate]), None)
            .allowed
    );
}

#[test]
fn types_default_to_file_and_are_checked_when_known() {
    let text = r#"
[[allow]]
path = "/dev/*"
users = ["*"]
access = ["read"]
[[allow]]
path = "/dev/tty*"
users = ["*"]
access = ["read"]
types = ["char"]
"#;
    let policy = policy(text);
    let read = set(&[Read]);
    // Lexical pre-check: type not known yet.
    assert!(policy.decide(&bob(), b"/dev/sda", read, None).allowed);
    let decision = policy.decide(&bob(), b"/dev/sda", read, Some(FileType::Block));
    assert_eq!(
        decision,
        Decision {
            allowed: false,
            rule: origin(2),
            reason: Reason::TypeNotAllowed {
                file_type: FileType::Block
            }
        }
    );
    assert!(
        policy
            .decide(&bob(), b"/dev/sda", read, Some(FileType::File))
            .allowed
    );
    let tty = policy.decide(&bob(), b"/dev/tty1", read, Some(FileType::Char));
    assert!(tty.allowed);
    assert_eq!(tty.rule, origin(6));
}

#[test]
fn every_type_word() {
    for allowed_type in FileType::ALL {
        let text = format!(
            "[[allow]]\npath = \"/x\"\nusers = [\"*\"]\naccess = [\"read\"]\ntypes = [\"{allowed_type}\"]\n"
        );
        let policy = policy(&text);
        for actual in FileType::ALL {
            let decision = policy.decide(&bob(), b"/x", set(&[Read]), Some(actual));
            assert_eq!(decision.allowed, actual == allowed_type);
        }
    }
}

#[test]
fn type_limited_deny_acts_only_once_type_is_known() {
    let text = r#"
[[allow]]
path = "/x/*"
users = ["*"]
access = ["read"]
types = ["file", "fifo"]
[[deny]]
path = "/x/*"
types = ["fifo"]
"#;
    let policy = policy(text);
    let read = set(&[Read]);
    assert!(policy.decide(&bob(), b"/x/p", read, None).allowed);
    assert!(
        policy
            .decide(&bob(), b"/x/p", read, Some(FileType::File))
            .allowed
    );
    let decision = policy.decide(&bob(), b"/x/p", read, Some(FileType::Fifo));
    assert_eq!(decision.reason, Reason::DeniedByRule);
    assert_eq!(decision.rule, origin(7));
}

#[test]
fn deny_without_types_acts_in_precheck() {
    let text = r#"
[[allow]]
path = "/x/*"
users = ["*"]
access = ["read"]
[[deny]]
path = "/x/secret"
access = ["read"]
"#;
    let decision = policy(text).decide(&bob(), b"/x/secret", set(&[Read]), None);
    assert_eq!(decision.reason, Reason::DeniedByRule);
}

#[test]
fn unknown_names_match_nobody_in_an_allow_and_everyone_in_a_deny() {
    let allow_only = r#"
[[allow]]
path = "/x"
users = ["mallory"]
access = ["read"]
"#;
    // The deny names someone the system does not know: it fails closed, for everyone, even
    // against an allow that would grant the path to all.
    let with_deny = r#"
[[allow]]
path = "/x"
users = ["*"]
access = ["read"]
[[deny]]
path = "/x"
users = ["ghost"]
"#;
    for who in [alice(), bob()] {
        assert_eq!(
            policy(allow_only)
                .decide(&who, b"/x", set(&[Read]), None)
                .reason,
            Reason::NoMatchingRule
        );
        assert_eq!(
            policy(with_deny)
                .decide(&who, b"/x", set(&[Read]), None)
                .reason,
            Reason::DeniedByRule
        );
    }
}

#[test]
fn numeric_ids_and_users_or_groups() {
    let text = r#"
[[allow]]
path = "/x"
users = [1001]
groups = ["4"]
access = ["read"]
"#;
    let policy = policy(text);
    assert!(
        policy.decide(&alice(), b"/x", set(&[Read]), None).allowed,
        "by group 4"
    );
    assert!(
        policy.decide(&bob(), b"/x", set(&[Read]), None).allowed,
        "by uid 1001"
    );
    let carol = Identity {
        uid: 1002,
        gid: 1002,
        groups: vec![5],
        listed_groups: Vec::new(),
    };
    assert!(!policy.decide(&carol, b"/x", set(&[Read]), None).allowed);
}

#[test]
fn unclean_paths_and_empty_requests_are_refused() {
    let policy = policy("[[allow]]\npath = \"/**\"\nusers = [\"*\"]\naccess = [\"read\"]\n");
    assert!(policy.decide(&bob(), b"/a", set(&[Read]), None).allowed);
    for path in [
        &b"a"[..],
        b"/a/../b",
        b"/a/./b",
        b"/a//b",
        b"/a/",
        b"",
        b"/a\0",
    ] {
        assert_eq!(
            policy.decide(&bob(), path, set(&[Read]), None).reason,
            Reason::PathNotClean
        );
    }
    assert_eq!(
        policy.decide(&bob(), b"/a", AccessSet::EMPTY, None).reason,
        Reason::NothingRequested
    );
}

#[test]
fn empty_policy_denies_everything() {
    let policy = Policy::new();
    let decision = policy.decide(&alice(), b"/", set(&[Read]), None);
    assert_eq!(decision.reason, Reason::NoMatchingRule);
    assert_eq!(decision.rule, None);
    assert_eq!(
        decision.to_string(),
        "deny: no allow rule covers this path for this user"
    );
}

#[test]
fn drop_ins_come_after_the_main_file_in_the_order_given() {
    let main = "[[allow]]\npath = \"/x\"\nusers = [\"*\"]\naccess = [\"read\"]\n";
    let first = "\n[[allow]]\npath = \"/x\"\nusers = [\"*\"]\naccess = [\"read\", \"write\"]\n";
    let second = "[[deny]]\npath = \"/x\"\nusers = [\"bob\"]\n";
    let sources = [
        (Path::new(FILE), main),
        (Path::new("/etc/myopen/policy.d/10-a.toml"), first),
        (Path::new("/etc/myopen/policy.d/20-b.toml"), second),
    ];
    let loaded = match Policy::from_sources(sources, &FakeResolver) {
        Ok(loaded) => loaded,
        Err(error) => panic!("{error}"),
    };
    let origins: Vec<String> = loaded
        .policy
        .rules()
        .iter()
        .map(|rule| rule.origin.to_string())
        .collect();
    assert_eq!(
        origins,
        vec![
            format!("{FILE}:1"),
            "/etc/myopen/policy.d/10-a.toml:2".to_owned(),
            "/etc/myopen/policy.d/20-b.toml:1".to_owned(),
        ]
    );
    let policy = &loaded.policy;
    let read = policy.decide(&alice(), b"/x", set(&[Read]), None);
    assert_eq!(
        read.rule.map(|rule| rule.to_string()),
        Some(format!("{FILE}:1"))
    );
    let write = policy.decide(&alice(), b"/x", set(&[Write]), None);
    assert_eq!(
        write.rule.map(|rule| rule.to_string()),
        Some("/etc/myopen/policy.d/10-a.toml:2".to_owned())
    );
    let denied = policy.decide(&bob(), b"/x", set(&[Read]), None);
    assert_eq!(
        denied.rule.map(|rule| rule.to_string()),
        Some("/etc/myopen/policy.d/20-b.toml:1".to_owned())
    );

    let broken = [
        (Path::new(FILE), main),
        (Path::new("/etc/myopen/policy.d/30-bad.toml"), "[[allow]]\n"),
    ];
    let error = Policy::from_sources(broken, &FakeResolver).err();
    assert_eq!(
        error.map(|error| error.to_string()),
        Some("/etc/myopen/policy.d/30-bad.toml:1: [[allow]] needs a \"path\"".to_owned())
    );

    // Texts given up, as the loader gives them, read the same.
    let owned = |sources: &[(&Path, &str)]| {
        sources
            .iter()
            .map(|(file, text)| (file.to_path_buf(), (*text).to_owned()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        Policy::from_owned_sources(owned(&sources), &FakeResolver),
        Ok(loaded)
    );
    assert_eq!(
        Policy::from_owned_sources(owned(&broken), &FakeResolver),
        Policy::from_sources(broken, &FakeResolver)
    );
}

#[test]
fn non_utf8_paths_are_decided_on_bytes() {
    let policy = policy("[[allow]]\npath = \"/data/*\"\nusers = [\"*\"]\naccess = [\"read\"]\n");
    assert!(
        policy
            .decide(&bob(), b"/data/\xff\xfe", set(&[Read]), None)
            .allowed
    );
}

/// The index leaves out only rules that cannot match: on random policies whose globs share,
/// nest and wildcard their prefixes, every request is decided exactly as a scan of every rule
/// decides it (the same allow or refusal, the same deciding or closest rule, the same reason).
mod index_agrees_with_scanning {
    use super::*;
    use proptest::prelude::*;

    const COMPONENTS: [&str; 5] = ["a", "b", "ab", "a*", "*"];

    fn glob_strategy() -> impl Strategy<Value = String> {
        let component = prop_oneof![
            4 => proptest::sample::select(&COMPONENTS[..]).prop_map(str::to_owned),
            1 => Just("**".to_owned()),
        ];
        proptest::collection::vec(component, 0..4).prop_map(|components| {
            if components.is_empty() {
                "/".to_owned()
            } else {
                components.iter().map(|c| format!("/{c}")).collect()
            }
        })
    }

    fn path_strategy() -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(&["a", "b", "ab", "c"][..]), 0..5)
            .prop_map(|components| {
                if components.is_empty() {
                    "/".to_owned()
                } else {
                    components.iter().map(|c| format!("/{c}")).collect()
                }
            })
    }

    fn words<T: Copy>(all: &[T], mask: u8) -> Vec<T> {
        all.iter()
            .enumerate()
            .filter(|(bit, _)| mask & (1 << bit) != 0)
            .map(|(_, word)| *word)
            .collect()
    }

    fn quoted(list: &[&str]) -> String {
        let quoted: Vec<String> = list.iter().map(|word| format!("\"{word}\"")).collect();
        format!("[{}]", quoted.join(", "))
    }

    /// One rule's text: (is a deny, glob, subjects choice, access mask, types mask).
    fn rule_text((deny, glob, subjects, access, types): &(bool, String, u8, u8, u8)) -> String {
        let kind = if *deny { "deny" } else { "allow" };
        let mut text = format!("[[{kind}]]\npath = \"{glob}\"\n");
        text += match subjects % 4 {
            0 => "users = [\"alice\"]\n",
            1 => "groups = [\"adm\"]\n",
            2 => "users = [\"*\"]\n",
            _ if *deny => "",
            _ => "users = [\"bob\"]\n",
        };
        let access_words: Vec<&str> = words(&Access::ALL, access | 1)
            .into_iter()
            .map(Access::word)
            .collect();
        // A deny without `access` blocks everything; with one, only what it lists.
        if !*deny || access & 0b10_0000 != 0 {
            text += &format!("access = {}\n", quoted(&access_words));
        }
        let type_words: Vec<&str> = words(&FileType::ALL, *types)
            .into_iter()
            .map(FileType::word)
            .collect();
        if !type_words.is_empty() {
            text += &format!("types = {}\n", quoted(&type_words));
        }
        text + "\n"
    }

    fn rule_strategy() -> impl Strategy<Value = (bool, String, u8, u8, u8)> {
        (
            proptest::bool::weighted(0.3),
            glob_strategy(),
            any::<u8>(),
            any::<u8>(),
            0u8..64,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn on_every_request(
            rules in proptest::collection::vec(rule_strategy(), 0..12),
            requests in proptest::collection::vec((path_strategy(), 1u8..32, any::<bool>(), 0usize..6), 1..8),
        ) {
            let text: String = rules.iter().map(rule_text).collect();
            let policy = policy(&text);
            let compiled = compiled(&policy);
            for who in [alice(), bob()] {
                let grants = |policy: &Policy| {
                    let mut rules = Vec::new();
                    policy.for_each_grant_to(&who, &mut |rule| rules.push(rule.clone())).unwrap();
                    rules
                };
                prop_assert_eq!(grants(&compiled), grants(&policy));
            }
            prop_assert_eq!(&compiled.clone().in_memory().unwrap(), &policy);
            for (path, access, who_is_alice, file_type) in &requests {
                let who = if *who_is_alice { alice() } else { bob() };
                let access: AccessSet = words(&Access::ALL, *access).into_iter().collect();
                for file_type in [None, FileType::ALL.get(*file_type).copied()] {
                    let decision = policy.decide(&who, path.as_bytes(), access, file_type);
                    // The compiled policy, read back from its bytes, decides as its source does.
                    prop_assert_eq!(
                        &compiled.decide(&who, path.as_bytes(), access, file_type),
                        &decision
                    );
                    prop_assert_eq!(
                        decision,
                        policy.decide_by_scanning(&who, path.as_bytes(), access, file_type),
                        "policy:\n{}request: {} {:?} {:?}", text, path, access, file_type
                    );
                }
            }
        }
    }
}

#[test]
fn only_rules_that_could_match_are_candidates() {
    let mut text = String::new();
    for i in 0..1000 {
        text += &format!(
            "[[allow]]\npath = \"/srv/app{i}/**/logs/*.log\"\ngroups = [\"adm\"]\naccess = [\"read\"]\n\n"
        );
        text += &format!("[[deny]]\npath = \"/srv/app{i}/private/**\"\n\n");
    }
    text += "[[allow]]\npath = \"/*/shared/**\"\nusers = [\"*\"]\naccess = [\"read\"]\n\n";
    text += "[[allow]]\npath = \"/data/*\"\nusers = [\"alice\"]\naccess = [\"read\"]\n";
    let policy = policy(&text);
    let data_rule = policy.rules().len() - 1;
    let wildcard_rule = data_rule - 1;
    assert_eq!(
        policy.parsed_index().candidates(b"/data/file"),
        vec![wildcard_rule, data_rule]
    );
    assert_eq!(
        policy.parsed_index().candidates(b"/srv/app7/x/logs/a.log"),
        vec![14, wildcard_rule],
        "app7's allow and the rule that starts with a wildcard"
    );
    assert_eq!(
        policy
            .parsed_index()
            .candidates(b"/srv/app7/private/logs/a.log"),
        vec![14, 15, wildcard_rule],
        "app7's allow and deny, and the rule that starts with a wildcard"
    );
    assert_eq!(policy.parsed_index().candidates(b"/"), vec![wildcard_rule]);
    let decision = policy.decide(&alice(), b"/data/file", set(&[Read]), None);
    assert!(decision.allowed, "{decision}");
}

#[test]
fn literal_prefixes() {
    for (pattern, prefix) in [
        ("/", ""),
        ("/**", ""),
        ("/*/x", ""),
        ("/a", "/a"),
        ("/a/b", "/a/b"),
        ("/a/**", "/a"),
        ("/a/b*/c", "/a"),
        ("/a/b/c*", "/a/b"),
        ("/a/b/c/**/d", "/a/b/c"),
        ("/srv/app/**/logs/*.log", "/srv/app"),
    ] {
        let glob = Glob::new(pattern).unwrap();
        assert_eq!(glob.literal_prefix(), prefix.as_bytes(), "{pattern}");
        assert_eq!(
            glob.literal_prefix_depth(),
            prefix.matches('/').count(),
            "{pattern}"
        );
    }
}
