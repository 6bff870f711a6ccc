//! The reference the policy parser is tested against: the policy language read through the
//! `toml` crate's span-carrying document tree (`DeTable`), as the helper read it before it had
//! its own parser. Test and fuzz builds only (the unit tests include it, and so does the fuzz
//! crate's `policy_parse_differential`): the helper itself does not depend on `toml`.
//!
//! It is written against the public policy API alone, so that both can include it.

use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use crate::policy::{
    Access, AccessSet, FileType, FileTypeSet, Glob, Ids, LookupFailed, NameResolver, PolicyError,
    Rule, RuleKind, RuleOrigin, Subjects, Warning,
};

/// Parses one policy file. Rules come back in file order.
pub fn parse_policy_with_toml(
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
    ids: Ids,
}

impl Context<'_> {
    fn line(&self, offset: usize) -> u32 {
        let line = self.line_starts.partition_point(|start| *start <= offset);
        u32::try_from(line.max(1)).unwrap_or(u32::MAX)
    }

    fn error(&self, offset: usize, message: impl Into<String>) -> PolicyError {
        PolicyError::Parse {
            file: self.file.to_path_buf(),
            line: self.line(offset),
            message: message.into(),
        }
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
                    ids: Ids::new(),
                });
                let groups = groups.unwrap_or(SubjectEntries {
                    everyone: false,
                    ids: Ids::new(),
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
                file: self.file.into(),
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
            ids: Ids::new(),
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
