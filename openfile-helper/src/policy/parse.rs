//! The policy file parser: TOML text to rules, with file:line on every error and warning.
//!
//! The `toml` crate is used with only its `parse` feature: its span-carrying document tree
//! (`DeTable`) gives byte offsets for every key and value, and leaves out serde entirely, which
//! keeps the code that runs as root small.

use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use super::access::{Access, AccessSet};
use super::error::{PolicyError, Warning};
use super::glob::Glob;
use super::rule::{FileType, FileTypeSet, Rule, RuleKind, RuleOrigin, Subjects};

/// Turns user and group names into ids. The helper's implementation reads the system's user
/// database; tests use a fixed table. Keeping it behind a trait keeps the parser free of I/O.
///
/// `Ok(None)` means the database answered that there is no such name; a lookup that could not be
/// answered at all is `Err`, and makes the whole policy unusable: a caller can provoke such
/// failures (its helper runs with its uid, so it can lower the helper's descriptor limit), and
/// reading them as "no such name" would switch off every deny that names someone.
pub trait NameResolver {
    fn uid_of(&self, name: &str) -> Result<Option<u32>, LookupFailed>;
    fn gid_of(&self, name: &str) -> Result<Option<u32>, LookupFailed>;
}

/// A user or group lookup that could not be answered, with the errno the database gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LookupFailed {
    pub errno: i32,
}

/// Parses one policy file. Rules come back in file order.
pub fn parse_policy(
    text: &str,
    file: &Path,
    resolver: &dyn NameResolver,
) -> Result<(Vec<Rule>, Vec<Warning>), PolicyError> {
    let mut context = Context {
        file,
        resolver,
        line_starts: line_starts(text),
        warnings: Vec::new(),
    };
    let document = DeTable::parse(text).map_err(|error| {
        let offset = error.span().map_or(0, |span| span.start);
        let message = error.message().trim_end().to_owned();
        context.error(offset, format!("invalid TOML: {message}"))
    })?;
    let mut rules = Vec::new();
    for (key, value) in sorted_entries(document.get_ref()) {
        let kind = match key.get_ref().as_ref() {
            "allow" => RuleKind::Allow,
            "deny" => RuleKind::Deny,
            other => {
                return Err(context.error(
                    key.span().start,
                    format!("unknown top-level key {other:?} (expected [[allow]] or [[deny]])"),
                ));
            }
        };
        let DeValue::Array(tables) = value.get_ref() else {
            return Err(context.error(
                key.span().start,
                format!("{kind} must be written as [[{kind}]] tables"),
            ));
        };
        for item in tables.iter() {
            let DeValue::Table(table) = item.get_ref() else {
                return Err(context.error(
                    item.span().start,
                    format!("entries of {kind} must be tables, written [[{kind}]]"),
                ));
            };
            rules.push((item.span().start, context.rule(kind, table, item.span())?));
        }
    }
    // Allow and deny arrays come out of the TOML tree separately; restore the file's order.
    rules.sort_by_key(|(offset, _)| *offset);
    let rules = rules.into_iter().map(|(_, rule)| rule).collect();
    Ok((rules, context.warnings))
}

fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(
            text.bytes()
                .enumerate()
                .filter(|(_, byte)| *byte == b'\n')
                .map(|(offset, _)| offset + 1),
        )
        .collect()
}

/// Entries in source order, so that the first problem in the file is the one reported.
fn sorted_entries<'table, 'input>(
    table: &'table DeTable<'input>,
) -> Vec<(
    &'table Spanned<std::borrow::Cow<'input, str>>,
    &'table Spanned<DeValue<'input>>,
)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    entries
}

struct Context<'a> {
    file: &'a Path,
    resolver: &'a dyn NameResolver,
    line_starts: Vec<usize>,
    warnings: Vec<Warning>,
}

/// Which list a subject entry came from; ids and names mean different things in each.
#[derive(Clone, Copy)]
enum SubjectList {
    Users,
    Groups,
}

impl SubjectList {
    fn key(self) -> &'static str {
        match self {
            SubjectList::Users => "users",
            SubjectList::Groups => "groups",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            SubjectList::Users => "user",
            SubjectList::Groups => "group",
        }
    }
}

/// The resolved content of one `users` or `groups` list.
struct SubjectEntries {
    everyone: bool,
    ids: Vec<u32>,
}

impl Context<'_> {
    fn line(&self, offset: usize) -> u32 {
        let line = self.line_starts.partition_point(|start| *start <= offset);
        u32::try_from(line.max(1)).unwrap_or(u32::MAX)
    }

    fn error(&self, offset: usize, message: impl Into<String>) -> PolicyError {
        PolicyError::parse(self.file, self.line(offset), message)
    }

    fn warn(&mut self, offset: usize, message: String) {
        let line = self.line(offset);
        self.warnings.push(Warning {
            file: self.file.to_path_buf(),
            line,
            message,
        });
    }

    fn rule(
        &mut self,
        kind: RuleKind,
        table: &DeTable<'_>,
        header: Range<usize>,
    ) -> Result<Rule, PolicyError> {
        let mut path = None;
        let mut users = None;
        let mut groups = None;
        let mut access = None;
        let mut types = None;
        for (key, value) in sorted_entries(table) {
            match key.get_ref().as_ref() {
                "path" => path = Some(self.glob(value)?),
                "users" => users = Some(self.subjects(value, SubjectList::Users, kind)?),
                "groups" => groups = Some(self.subjects(value, SubjectList::Groups, kind)?),
                "access" => {
                    access = Some(self.words(value, "access", Access::from_word, ACCESS_WORDS)?)
                }
                "types" => {
                    types = Some(self.words(value, "types", FileType::from_word, TYPE_WORDS)?)
                }
                other => {
                    return Err(self.error(
                        key.span().start,
                        format!("unknown key {other:?} in [[{kind}]]"),
                    ));
                }
            }
        }
        let Some(path) = path else {
            return Err(self.error(header.start, format!("[[{kind}]] needs a \"path\"")));
        };
        let subjects_given = users.is_some() || groups.is_some();
        let subjects = match (users, groups) {
            (None, None) if kind == RuleKind::Deny => Subjects::everyone(),
            (None, None) => {
                return Err(self.error(
                    header.start,
                    "[[allow]] needs \"users\" or \"groups\" (use [\"*\"] for everyone)",
                ));
            }
            (users, groups) => {
                let users = users.unwrap_or(SubjectEntries {
                    everyone: false,
                    ids: Vec::new(),
                });
                let groups = groups.unwrap_or(SubjectEntries {
                    everyone: false,
                    ids: Vec::new(),
                });
                Subjects {
                    everyone: users.everyone || groups.everyone,
                    uids: users.ids,
                    gids: groups.ids,
                }
            }
        };
        let access: AccessSet = match access {
            Some(words) => words.into_iter().collect(),
            None if kind == RuleKind::Deny => AccessSet::ALL,
            None => return Err(self.error(header.start, "[[allow]] needs \"access\"")),
        };
        let types: Option<FileTypeSet> = match (kind, types) {
            (RuleKind::Allow, None) => Some(FileTypeSet::DEFAULT_ALLOW),
            (RuleKind::Deny, None) => None,
            (_, Some(words)) => {
                let set: FileTypeSet = words.into_iter().collect();
                // A deny that names every type is not limited by type, so it can already act
                // in the lexical pre-check (P1).
                if kind == RuleKind::Deny && set == FileTypeSet::ALL {
                    None
                } else {
                    Some(set)
                }
            }
        };
        if subjects_given && subjects.is_nobody() {
            let message = match kind {
                RuleKind::Allow => {
                    "this [[allow]] can never match: none of its users or groups exist"
                }
                RuleKind::Deny => {
                    "this [[deny]] applies to nobody: its users and groups lists are empty"
                }
            };
            self.warn(header.start, message.to_owned());
        }
        if kind == RuleKind::Allow
            && !access.contains(Access::Read)
            && !access.contains(Access::Write)
            && !access.contains(Access::Append)
        {
            self.warn(
                header.start,
                "this [[allow]] can never match: every open needs read, write or append, and it grants none of them"
                    .to_owned(),
            );
        }
        Ok(Rule {
            kind,
            path,
            subjects,
            access,
            types,
            origin: RuleOrigin {
                file: self.file.to_path_buf(),
                line: self.line(header.start),
            },
        })
    }

    fn glob(&self, value: &Spanned<DeValue<'_>>) -> Result<Glob, PolicyError> {
        let DeValue::String(pattern) = value.get_ref() else {
            return Err(self.error(
                value.span().start,
                format!(
                    "\"path\" must be a string, not {}",
                    value.get_ref().type_str()
                ),
            ));
        };
        Glob::new(pattern).map_err(|error| {
            self.error(
                value.span().start,
                format!("bad path pattern {pattern:?}: {error}"),
            )
        })
    }

    fn array<'value, 'input>(
        &self,
        value: &'value Spanned<DeValue<'input>>,
        key: &str,
        what: &str,
    ) -> Result<&'value DeArray<'input>, PolicyError> {
        let DeValue::Array(items) = value.get_ref() else {
            return Err(self.error(
                value.span().start,
                format!(
                    "{key:?} must be an array of {what}, not {}",
                    value.get_ref().type_str()
                ),
            ));
        };
        if items.is_empty() {
            return Err(self.error(
                value.span().start,
                format!("empty {key:?} list (omit the key or list at least one entry)"),
            ));
        }
        Ok(items)
    }

    fn words<T>(
        &self,
        value: &Spanned<DeValue<'_>>,
        key: &str,
        from_word: fn(&str) -> Option<T>,
        expected: &str,
    ) -> Result<Vec<T>, PolicyError> {
        let items = self.array(value, key, "words")?;
        let mut words = Vec::new();
        for item in items.iter() {
            let word = match item.get_ref() {
                DeValue::String(word) => word,
                other => {
                    return Err(self.error(
                        item.span().start,
                        format!("{key:?} entries must be strings, not {}", other.type_str()),
                    ));
                }
            };
            let Some(parsed) = from_word(word) else {
                return Err(self.error(
                    item.span().start,
                    format!("unknown {key} word {word:?} (expected one of: {expected})"),
                ));
            };
            words.push(parsed);
        }
        Ok(words)
    }

    /// One `users` or `groups` list of a rule of `kind`. A name the system does not know matches
    /// nobody in an allow, and everyone in a deny: a deny fails closed.
    fn subjects(
        &mut self,
        value: &Spanned<DeValue<'_>>,
        list: SubjectList,
        kind: RuleKind,
    ) -> Result<SubjectEntries, PolicyError> {
        let key = list.key();
        let items = self.array(value, key, "names or ids")?;
        let mut entries = SubjectEntries {
            everyone: false,
            ids: Vec::new(),
        };
        for item in items.iter() {
            let offset = item.span().start;
            match item.get_ref() {
                DeValue::Integer(integer) => {
                    let id = i128::from_str_radix(integer.as_str(), integer.radix())
                        .map_err(|_| self.error(offset, format!("invalid id in {key:?}")))?;
                    entries.ids.push(self.id_in_range(id, offset, key)?);
                }
                DeValue::String(text) => {
                    let text: &str = text;
                    if text == "*" {
                        entries.everyone = true;
                    } else if text.is_empty() {
                        return Err(self.error(offset, format!("empty name in {key:?}")));
                    } else if text.bytes().all(|byte| byte.is_ascii_digit()) {
                        // Too many digits for i128 is out of range too, so saturate.
                        let id = text.parse::<i128>().unwrap_or(i128::MAX);
                        entries.ids.push(self.id_in_range(id, offset, key)?);
                    } else if let Some(digits) = text.strip_prefix(['-', '+'])
                        && !digits.is_empty()
                        && digits.bytes().all(|byte| byte.is_ascii_digit())
                    {
                        return Err(self.error(
                            offset,
                            format!("id {text:?} in {key:?} must be plain digits, without a sign"),
                        ));
                    } else {
                        let resolved = match list {
                            SubjectList::Users => self.resolver.uid_of(text),
                            SubjectList::Groups => self.resolver.gid_of(text),
                        };
                        match resolved {
                            Ok(Some(id)) => {
                                entries
                                    .ids
                                    .push(self.id_in_range(i128::from(id), offset, key)?)
                            }
                            Ok(None) if kind == RuleKind::Deny => {
                                entries.everyone = true;
                                self.warn(
                                    offset,
                                    format!(
                                        "unknown {} {text:?} in a [[deny]]: it denies everyone until the name exists or is removed",
                                        list.noun()
                                    ),
                                );
                            }
                            Ok(None) => self.warn(
                                offset,
                                format!(
                                    "unknown {} {text:?}: this entry matches nobody",
                                    list.noun()
                                ),
                            ),
                            Err(LookupFailed { errno }) => {
                                return Err(PolicyError::Lookup {
                                    file: self.file.to_path_buf(),
                                    line: self.line(offset),
                                    name: text.to_owned(),
                                    errno,
                                });
                            }
                        }
                    }
                }
                other => {
                    return Err(self.error(
                        offset,
                        format!(
                            "{key:?} entries must be names (strings) or ids (integers), not {}",
                            other.type_str()
                        ),
                    ));
                }
            }
        }
        Ok(entries)
    }

    fn id_in_range(&self, id: i128, offset: usize, key: &str) -> Result<u32, PolicyError> {
        if id < 0 {
            return Err(self.error(offset, format!("negative id {id} in {key:?}")));
        }
        let id = u32::try_from(id).map_err(|_| {
            self.error(offset, format!("id in {key:?} is larger than {}", u32::MAX))
        })?;
        if id == u32::MAX {
            return Err(self.error(
                offset,
                format!("id {id} in {key:?} is (uid_t)-1, which names nobody"),
            ));
        }
        Ok(id)
    }
}

const ACCESS_WORDS: &str = "read, write, append, create, truncate";
const TYPE_WORDS: &str = "file, dir, char, block, fifo, socket";

#[cfg(test)]
pub(crate) mod tests {
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
}
