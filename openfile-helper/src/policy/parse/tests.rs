//! Parser tests: what each construct means, every error with its line, and agreement with
//! the `toml` crate (`toml_reference`) on generated policies.

use super::*;
use std::path::PathBuf;

/// A fixed user database: alice=1000, bob=1001; groups adm=4, staff=50.
pub(crate) struct FakeResolver;

impl NameResolver for FakeResolver {
    fn uid_of(&self, name: &str) -> Result<Option<u32>, LookupFailed> {
        Ok(match name {
            "root" => Some(0),
            "alice" => Some(1000),
            "bob" => Some(1001),
            _ => None,
        })
    }

    fn gid_of(&self, name: &str) -> Result<Option<u32>, LookupFailed> {
        Ok(match name {
            "root" => Some(0),
            "adm" => Some(4),
            "staff" => Some(50),
            _ => None,
        })
    }
}

const FILE: &str = "/etc/myopen/policy.toml";

fn parse(text: &str) -> Result<(Vec<Rule>, Vec<Warning>), PolicyError> {
    parse_policy(text, Path::new(FILE), &FakeResolver)
}

fn parse_ok(text: &str) -> (Vec<Rule>, Vec<Warning>) {
    match parse(text) {
        Ok(parsed) => parsed,
        Err(error) => panic!("unexpected error: {error}"),
    }
}

fn error_of(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn design_example_parses() {
    let text = r#"
# comment
[[allow]]
path = "/var/log/**"      # absolute glob
groups = ["adm"]
access = ["read"]
types = ["file"]

[[deny]]
path = "/var/log/private/**"
"#;
    let (rules, warnings) = parse_ok(text);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(rules.len(), 2);
    let allow = &rules[0];
    assert_eq!(allow.kind, RuleKind::Allow);
    assert_eq!(allow.path.as_str(), "/var/log/**");
    assert_eq!(allow.subjects.gids, vec![4]);
    assert!(allow.subjects.uids.is_empty());
    assert!(!allow.subjects.everyone);
    assert_eq!(allow.access, AccessSet::EMPTY.with(Access::Read));
    assert_eq!(allow.types, Some(FileTypeSet::DEFAULT_ALLOW));
    assert_eq!(
        allow.origin,
        RuleOrigin {
            file: PathBuf::from(FILE),
            line: 3
        }
    );
    let deny = &rules[1];
    assert_eq!(deny.kind, RuleKind::Deny);
    assert!(deny.subjects.everyone);
    assert_eq!(deny.access, AccessSet::ALL);
    assert_eq!(deny.types, None);
    assert_eq!(deny.origin.line, 9);
}

#[test]
fn rules_keep_file_order_across_kinds() {
    let text = r#"
[[deny]]
path = "/a"
[[allow]]
path = "/b"
users = ["*"]
access = ["read"]
[[deny]]
path = "/c"
[[allow]]
path = "/d"
users = ["*"]
access = ["read"]
"#;
    let (rules, _) = parse_ok(text);
    let order: Vec<(&str, u32)> = rules
        .iter()
        .map(|rule| (rule.path.as_str(), rule.origin.line))
        .collect();
    assert_eq!(order, vec![("/a", 2), ("/b", 4), ("/c", 8), ("/d", 10)]);
}

#[test]
fn ids_as_integers_digit_strings_names_and_star() {
    let text = r#"
[[allow]]
path = "/x"
users = [1001, "1002", "alice", 0x10]
groups = ["50", 7, "adm"]
access = ["read"]
[[allow]]
path = "/y"
users = ["*"]
access = ["read"]
[[allow]]
path = "/z"
groups = ["*", "nosuchgroup"]
access = ["read"]
"#;
    let (rules, warnings) = parse_ok(text);
    assert_eq!(rules[0].subjects.uids, vec![1001, 1002, 1000, 16]);
    assert_eq!(rules[0].subjects.gids, vec![50, 7, 4]);
    assert!(!rules[0].subjects.everyone);
    assert!(rules[1].subjects.everyone);
    assert!(rules[2].subjects.everyone);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(
        warnings[0].to_string(),
        format!("{FILE}:13: warning: unknown group \"nosuchgroup\": this entry matches nobody")
    );
    let (rules, _) = parse_ok(
        "[[allow]]\npath = \"/x\"\nusers = [4294967294, \"4294967294\", 0]\naccess = [\"read\"]\n",
    );
    assert_eq!(rules[0].subjects.uids, vec![u32::MAX - 1, u32::MAX - 1, 0]);
    let (rules, _) = parse_ok(
        "[[allow]]\npath = \"/x\"\nusers = [1_001, +7, 0o17, 0b11]\naccess = [\"read\"]\n",
    );
    assert_eq!(rules[0].subjects.uids, vec![1001, 7, 15, 3]);
}

#[test]
fn minus_one_is_never_an_id() {
    // (uid_t)-1 and (gid_t)-1 mean "no change" to setresuid(2) and chown(2), never an
    // identity (the sudo CVE-2019-14287 family): refused, with file and line.
    for list in ["users", "groups"] {
        for id in ["4294967295", "\"4294967295\""] {
            let text =
                format!("[[allow]]\npath = \"/x\"\n{list} = [0, {id}]\naccess = [\"read\"]\n");
            assert_eq!(
                error_of(&text),
                format!(
                    "{FILE}:3: id 4294967295 in \"{list}\" is (uid_t)-1, which names nobody"
                )
            );
        }
    }
}

/// A user database that cannot answer (an NSS outage, no descriptor left).
struct FailingResolver;

impl NameResolver for FailingResolver {
    fn uid_of(&self, _: &str) -> Result<Option<u32>, LookupFailed> {
        Err(LookupFailed {
            errno: libc::EMFILE,
        })
    }
    fn gid_of(&self, _: &str) -> Result<Option<u32>, LookupFailed> {
        Err(LookupFailed {
            errno: libc::EMFILE,
        })
    }
}

#[test]
fn a_failed_lookup_makes_the_policy_unusable() {
    for text in [
        "[[deny]]\npath = \"/x/**\"\ngroups = [\"contractors\"]\n",
        "[[allow]]\npath = \"/x/**\"\nusers = [\"alice\"]\naccess = [\"read\"]\n",
    ] {
        let error = parse_policy(text, Path::new(FILE), &FailingResolver).unwrap_err();
        assert!(
            matches!(
                error,
                PolicyError::Lookup {
                    line: 3,
                    errno: libc::EMFILE,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .starts_with(&format!("{FILE}:3: cannot look up ")),
            "{error}"
        );
    }
    // Ids and "*" need no lookup, so they still parse.
    parse_policy(
        "[[allow]]\npath = \"/x\"\nusers = [\"*\", 1000]\naccess = [\"read\"]\n",
        Path::new(FILE),
        &FailingResolver,
    )
    .unwrap();
}

#[test]
fn unknown_names_warn_and_match_nobody() {
    let text = r#"
[[allow]]
path = "/x"
users = ["mallory",
     "trudy"]
access = ["read"]

[[deny]]
path = "/y"
groups = ["ghosts"]
"#;
    let (rules, warnings) = parse_ok(text);
    assert!(rules[0].subjects.is_nobody());
    // A deny that names someone the system does not know fails closed: it denies everyone
    // until the name exists or the administrator removes it.
    assert!(rules[1].subjects.everyone);
    let messages: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        vec![
            format!("{FILE}:4: warning: unknown user \"mallory\": this entry matches nobody"),
            format!("{FILE}:5: warning: unknown user \"trudy\": this entry matches nobody"),
            format!(
                "{FILE}:2: warning: this [[allow]] can never match: none of its users or groups exist"
            ),
            format!(
                "{FILE}:10: warning: unknown group \"ghosts\" in a [[deny]]: it denies everyone until the name exists or is removed"
            ),
        ]
    );
}

#[test]
fn allow_without_read_write_or_append_warns() {
    let (_, warnings) = parse_ok(
        "[[allow]]\npath = \"/x\"\nusers = [\"*\"]\naccess = [\"create\", \"truncate\"]\n",
    );
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].message.contains("can never match"));
    assert_eq!(warnings[0].line, 1);
}

#[test]
fn every_access_and_type_word() {
    let text = r#"
[[allow]]
path = "/x"
users = ["*"]
access = ["read", "write", "append", "create", "truncate"]
types = ["file", "dir", "char", "block", "fifo", "socket"]
[[deny]]
path = "/y"
access = ["truncate"]
types = ["fifo", "char"]
[[deny]]
path = "/z"
types = ["file", "dir", "char", "block", "fifo", "socket"]
"#;
    let (rules, _) = parse_ok(text);
    assert_eq!(rules[0].access, AccessSet::ALL);
    assert_eq!(rules[0].types, Some(FileTypeSet::ALL));
    assert_eq!(rules[1].access, AccessSet::EMPTY.with(Access::Truncate));
    assert_eq!(
        rules[1].types,
        Some(FileTypeSet::EMPTY.with(FileType::Fifo).with(FileType::Char))
    );
    assert_eq!(
        rules[2].types, None,
        "a deny of every type is not type-limited"
    );
}

#[test]
fn parse_errors_name_file_and_line() {
    let cases: &[(&str, &str)] = &[
        (
            "[[allow]]\npath = \"/x\"\nusers = [\"*\"]\naccess = [\"read\"]\n\n\nacess = [\"read\"]\n",
            "7: unknown key \"acess\" in [[allow]]",
        ),
        (
            "[[deny]]\npath = \"/x\"\nuser = [\"bob\"]\n",
            "3: unknown key \"user\" in [[deny]]",
        ),
        (
            "\n[[alow]]\npath = \"/x\"\n",
            "2: unknown top-level key \"alow\"",
        ),
        ("\n\n[options]\n", "3: unknown top-level key \"options\""),
        ("verbose = true\n", "1: unknown top-level key \"verbose\""),
        (
            "\n[allow]\npath = \"/x\"\n",
            "2: allow must be written as [[allow]] tables",
        ),
        ("allow = [1]\n", "1: entries of allow must be tables"),
        (
            "[[allow]]\nusers = [\"*\"]\naccess = [\"read\"]\n",
            "1: [[allow]] needs a \"path\"",
        ),
        (
            "\n[[allow]]\npath = \"/x\"\naccess = [\"read\"]\n",
            "2: [[allow]] needs \"users\" or \"groups\"",
        ),
        (
            "[[allow]]\npath = \"/x\"\nusers = [\"*\"]\n",
            "1: [[allow]] needs \"access\"",
        ),
        (
            "[[allow]]\npath = \"/x\"\nusers = [\"*\"]\naccess = []\n",
            "4: empty \"access\" list",
        ),
        (
            "[[deny]]\npath = \"/x\"\nusers = []\n",
            "3: empty \"users\" list",
        ),
        (
            "[[allow]]\npath = \"/x\"\nusers = [\"*\"]\naccess = [\"read\",\n \"exec\"]\n",
            "5: unknown access word \"exec\"",
        ),
        (
            "[[allow]]\npath = \"/x\"\nusers = [\"*\"]\naccess = [\"read\"]\ntypes = [\"symlink\"]\n",
            "5: unknown types word \"symlink\"",
        ),
        (
            "[[allow]]\npath = \"x/y\"\nusers = [\"*\"]\naccess = [\"read\"]\n",
            "2: bad path pattern \"x/y\": path pattern must start with '/'",
        ),
        (
            "[[allow]]\n\npath = \"/a**b\"\nusers = [\"*\"]\naccess = [\"read\"]\n",
            "3: bad path pattern \"/a**b\": '**' must be a whole path component",
        ),
        (
            "[[deny]]\npath = \"/a/?\"\n",
            "2: bad path pattern \"/a/?\": unsupported glob metacharacter '?'",
        ),
        (
            "[[deny]]\npath = 5\n",
            "2: \"path\" must be a string, not integer",
        ),
        (
            "[[deny]]\npath = \"/x\"\nusers = \"bob\"\n",
            "3: \"users\" must be an array of names or ids, not string",
        ),
        (
            "[[deny]]\npath = \"/x\"\nusers = [true]\n",
            "3: \"users\" entries must be names (strings) or ids (integers), not boolean",
        ),
        (
            "[[deny]]\npath = \"/x\"\naccess = [1]\n",
            "3: \"access\" entries must be strings, not integer",
        ),
        (
            "[[deny]]\npath = \"/x\"\nusers = [-1]\n",
            "3: negative id -1 in \"users\"",
        ),
        (
            "[[deny]]\npath = \"/x\"\ngroups = [\"-5\"]\n",
            "3: id \"-5\" in \"groups\" must be plain digits, without a sign",
        ),
        (
            "[[deny]]\npath = \"/x\"\nusers = [4294967296]\n",
            "3: id in \"users\" is larger than 4294967295",
        ),
        (
            "[[deny]]\npath = \"/x\"\nusers = [\"99999999999999999999999999999999999999999999\"]\n",
            "3: id in \"users\" is larger than 4294967295",
        ),
        (
            "[[deny]]\npath = \"/x\"\nusers = [\"\"]\n",
            "3: empty name in \"users\"",
        ),
        (
            "[[deny]]\npath = \"/x\"\npath = \"/y\"\n",
            "3: invalid TOML: duplicate key",
        ),
        ("[[deny]]\npath = \"/x\n", "2: invalid TOML:"),
        (
            "[[deny]]\npath = \"/x\"\ntypes = [\"file\"]\n[deny.extra]\n",
            "4: unknown key \"extra\" in [[deny]]",
        ),
        (
            "[[deny]]\npath = \"/x\"\nsub.key = 1\n",
            "3: unknown key \"sub\" in [[deny]]",
        ),
    ];
    for (text, expected) in cases {
        let message = error_of(text);
        let expected = format!("{FILE}:{expected}");
        assert!(
            message.starts_with(&expected),
            "for:\n{text}\nexpected prefix: {expected}\ngot:             {message}"
        );
    }
}

#[test]
fn inline_tables_work_too() {
    let (rules, _) = parse_ok(
        "\nallow = [\n  { path = \"/a\", users = [\"*\"], access = [\"read\"] },\n]\n",
    );
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].origin.line, 3);
}

#[test]
fn empty_policy_is_valid_and_allows_nothing() {
    let (rules, warnings) = parse_ok("# nothing yet\n");
    assert!(rules.is_empty());
    assert!(warnings.is_empty());
}
