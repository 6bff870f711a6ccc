//! The policy file parser: text to rules, with file:line on every error and warning.
//!
//! A policy file is TOML, and this is a parser for exactly the part of TOML (v1.1) a policy
//! needs, written for it: `[[allow]]` and `[[deny]]` tables (or `allow = [{ ... }]` arrays of
//! inline tables), keys bare or quoted, basic strings with every TOML escape, literal strings,
//! integers in every TOML notation, arrays over several lines with comments and a trailing
//! comma, comments, LF or CRLF line ends, a byte order mark at the start. Anything else, valid TOML or not, is an error naming
//! the file and line: a policy is never read more generously than it was meant.
//!
//! It reads the text once, front to back, and builds each rule as its table ends, with no
//! document tree in between: the helper parses the whole policy on every start, so the cost per
//! rule is what a large policy pays on every open. `toml_reference` (tests and fuzzing only)
//! reads the same language through the `toml` crate, and the two are checked against each other.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use super::access::{Access, AccessSet};
use super::error::{PolicyError, Warning};
use super::glob::Glob;
use super::rule::{FileType, FileTypeSet, Ids, Rule, RuleKind, RuleOrigin, Subjects};

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
    parse_policy_reading(text, file, resolver, Reading::PlainLinesFirst)
}

/// Whether the parser tries its shortcut for the plainest lines ([`Parser::plain_entry`],
/// [`Parser::plain_header`]) before the general reading. Tests read every file both ways.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reading {
    PlainLinesFirst,
    #[cfg(test)]
    GeneralOnly,
}

/// [`parse_policy`] of a text the caller gives up: the rules' globs share it as it is, where a
/// borrowed text is copied for them (some 40 instructions a rule, at a large policy's length).
pub fn parse_owned_policy(
    text: String,
    file: &Path,
    resolver: &dyn NameResolver,
) -> Result<(Vec<Rule>, Vec<Warning>), PolicyError> {
    parse_shared_text(&Arc::new(text), file, resolver, Reading::PlainLinesFirst)
}

pub(crate) fn parse_policy_reading(
    text: &str,
    file: &Path,
    resolver: &dyn NameResolver,
    reading: Reading,
) -> Result<(Vec<Rule>, Vec<Warning>), PolicyError> {
    parse_shared_text(&Arc::new(text.to_owned()), file, resolver, reading)
}

fn parse_shared_text(
    shared_text: &Arc<String>,
    file: &Path,
    resolver: &dyn NameResolver,
    reading: Reading,
) -> Result<(Vec<Rule>, Vec<Warning>), PolicyError> {
    let text = shared_text.as_str();
    let mut parser = Parser {
        reading,
        text,
        bytes: text.as_bytes(),
        position: 0,
        line: 1,
        file,
        shared_file: file.into(),
        shared_text: Arc::clone(shared_text),
        resolver,
        recent_names: Vec::new(),
        recent_names_next: 0,
        rules: Vec::with_capacity(expected_rules(text)),
        warnings: Vec::new(),
    };
    parser.document()?;
    Ok((parser.rules, parser.warnings))
}

/// Room for about the rules `text` holds, so the list is allocated once: with musl's allocator
/// each doubling was a fresh mapping and an unmap. Guessed from the length, not counted: a rule
/// takes some 85 bytes as policies are written, and counting the `[[` of the headers cost a
/// tenth of the parsing. A file of shorter rules grows the list once or twice; room reserved
/// and not used is address space the allocator never touches. Bounded, so that a file near the
/// size cap cannot make the helper reserve more than a policy of that size needs.
fn expected_rules(text: &str) -> usize {
    const BYTES_PER_RULE: usize = 64;
    const MOST_RULES_RESERVED: usize = 16_384;
    (text.len() / BYTES_PER_RULE + 1).min(MOST_RULES_RESERVED)
}

/// How the rules of one kind have been written so far. TOML has two forms for an array of
/// tables, and a file may use only one of them for a given key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Unused,
    /// `allow = [{ ... }, ...]` at the top of the file.
    InlineArray,
    /// `[[allow]]` headers.
    Headers,
}

/// The form of `allow` and of `deny`.
struct Forms {
    allow: Form,
    deny: Form,
}

impl Forms {
    fn of(&mut self, kind: RuleKind) -> &mut Form {
        match kind {
            RuleKind::Allow => &mut self.allow,
            RuleKind::Deny => &mut self.deny,
        }
    }
}

/// A key as written before `=` or inside a header: its first part, and the second part of a
/// dotted key (every dotted key is refused, the second part only names what was meant).
struct Key<'text> {
    first: Cow<'text, str>,
    second: Option<Cow<'text, str>>,
}

/// What kind of value starts at the current position, as TOML names the types.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ValueType {
    String,
    Integer,
    Array,
    Table,
    Float,
    Boolean,
    Datetime,
}

impl ValueType {
    fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::Integer => "integer",
            ValueType::Array => "array",
            ValueType::Table => "table",
            ValueType::Float => "float",
            ValueType::Boolean => "boolean",
            ValueType::Datetime => "datetime",
        }
    }
}

/// An integer as written: its value if it fits an `i128`, or only its sign if it does not (either
/// way it is out of range for an id, and the message says which end).
enum Integer {
    Value(i128),
    TooLarge { negative: bool },
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

impl SubjectEntries {
    fn none() -> SubjectEntries {
        SubjectEntries {
            everyone: false,
            ids: Ids::new(),
        }
    }
}

/// One rule while its table is read: each key at most once.
struct RuleDraft {
    kind: RuleKind,
    /// The line of its `[[allow]]`/`[[deny]]` header, or of the `{` of an inline table.
    line: u32,
    path: Option<Glob>,
    users: Option<SubjectEntries>,
    groups: Option<SubjectEntries>,
    access: Option<AccessSet>,
    types: Option<FileTypeSet>,
}

impl RuleDraft {
    fn new(kind: RuleKind, line: u32) -> RuleDraft {
        RuleDraft {
            kind,
            line,
            path: None,
            users: None,
            groups: None,
            access: None,
            types: None,
        }
    }
}

/// The keys of a rule.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RuleKey {
    Path,
    Users,
    Groups,
    Access,
    Types,
}

/// The keys of a rule as written, and what each must be.
const RULE_KEYS: [(RuleKey, &str, &str); 5] = [
    (RuleKey::Path, "path", "a string"),
    (RuleKey::Users, "users", "an array of names or ids"),
    (RuleKey::Groups, "groups", "an array of names or ids"),
    (RuleKey::Access, "access", "an array of words"),
    (RuleKey::Types, "types", "an array of words"),
];

const ACCESS_WORDS: &str = "read, write, append, create, truncate";
const TYPE_WORDS: &str = "file, dir, char, block, fifo, socket";

struct Parser<'text, 'context> {
    reading: Reading,
    text: &'text str,
    bytes: &'text [u8],
    position: usize,
    /// The 1-based line of `position`.
    line: u32,
    file: &'context Path,
    /// `file`, once for all the rules' origins.
    shared_file: Arc<Path>,
    /// `text`, once for all the rules' globs.
    shared_text: Arc<String>,
    resolver: &'context dyn NameResolver,
    /// The resolver's answers for the last [`RECENT_NAMES`] names, oldest replaced first.
    recent_names: Vec<KnownName>,
    recent_names_next: usize,
    rules: Vec<Rule>,
    warnings: Vec<Warning>,
}

/// How many names [`Parser::resolve`] remembers: a linear search of a few is cheaper than
/// the resolver's own cache, and their buffers are reused.
const RECENT_NAMES: usize = 4;

struct KnownName {
    /// A user name if true, a group name if not.
    users: bool,
    name: String,
    id: Option<u32>,
}

/// The text and position machinery: bytes, lines, whitespace, comments, syntax errors.
impl<'text> Parser<'text, '_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.position + ahead).copied()
    }

    fn error(&self, line: u32, message: impl Into<String>) -> PolicyError {
        PolicyError::parse(self.file, line, message)
    }

    /// A syntax error at the current line.
    fn invalid(&self, message: impl std::fmt::Display) -> PolicyError {
        self.error(self.line, format!("invalid TOML: {message}"))
    }

    /// Valid TOML that a policy does not use, refused rather than guessed at.
    fn unsupported(&self, what: &str) -> PolicyError {
        self.error(self.line, format!("not supported in a policy file: {what}"))
    }

    /// What is at the current position, for a syntax error.
    fn found(&self) -> String {
        match self.text[self.position..].chars().next() {
            None => "the end of the file".to_owned(),
            Some('\n') | Some('\r') => "the end of the line".to_owned(),
            Some(character) => format!("{character:?}"),
        }
    }

    fn warn(&mut self, line: u32, message: String) {
        self.warnings.push(Warning {
            file: self.file.to_path_buf(),
            line,
            message,
        });
    }

    fn skip_spaces(&mut self) {
        while let Some(b' ' | b'\t') = self.peek() {
            self.position += 1;
        }
    }

    /// A comment from `#` to the end of the line, not including the line end.
    fn skip_comment(&mut self) -> Result<(), PolicyError> {
        debug_assert_eq!(self.peek(), Some(b'#'));
        while let Some(byte) = self.peek() {
            match byte {
                b'\n' => break,
                b'\r' if self.peek_at(1) == Some(b'\n') => break,
                b'\t' => {}
                0x00..=0x1f | 0x7f => {
                    return Err(self.invalid(format!(
                        "control character {:?} in a comment",
                        char::from(byte)
                    )));
                }
                _ => {}
            }
            self.position += 1;
        }
        Ok(())
    }

    /// A line end (LF or CRLF), if one is next.
    fn newline(&mut self) -> Result<bool, PolicyError> {
        match self.peek() {
            Some(b'\n') => self.position += 1,
            Some(b'\r') if self.peek_at(1) == Some(b'\n') => self.position += 2,
            Some(b'\r') => {
                return Err(self.invalid("a carriage return must be followed by a line feed"));
            }
            _ => return Ok(false),
        }
        self.line += 1;
        Ok(true)
    }

    /// Spaces, an optional comment, then the end of the line or of the file.
    #[inline]
    fn end_of_line(&mut self) -> Result<(), PolicyError> {
        // Nearly every line ends right after its last token: that much is taken where the
        // line was read, without a call.
        if self.peek() == Some(b'\n') {
            self.position += 1;
            self.line += 1;
            return Ok(());
        }
        self.end_of_line_after_blanks()
    }

    #[inline(never)]
    fn end_of_line_after_blanks(&mut self) -> Result<(), PolicyError> {
        self.skip_spaces();
        if self.peek() == Some(b'#') {
            self.skip_comment()?;
        }
        if self.peek().is_none() || self.newline()? {
            Ok(())
        } else {
            Err(self.invalid(format!(
                "expected the end of the line, found {}",
                self.found()
            )))
        }
    }

    /// Spaces, line ends and comments, where an array (or, since TOML 1.1, an inline table)
    /// allows them.
    fn skip_blank_lines(&mut self) -> Result<(), PolicyError> {
        loop {
            self.skip_spaces();
            match self.peek() {
                Some(b'#') => self.skip_comment()?,
                Some(b'\n' | b'\r') => {
                    self.newline()?;
                }
                _ => return Ok(()),
            }
        }
    }

    fn expect(&mut self, byte: u8, what: &str) -> Result<(), PolicyError> {
        if self.peek() == Some(byte) {
            self.position += 1;
            Ok(())
        } else {
            Err(self.invalid(format!("expected {what}, found {}", self.found())))
        }
    }
}

/// Keys, strings, integers and the type of a value.
impl<'text> Parser<'text, '_> {
    /// A key: bare, quoted or dotted (only the first two parts are kept).
    fn key(&mut self) -> Result<Key<'text>, PolicyError> {
        let first = self.simple_key()?;
        let mut second = None;
        loop {
            self.skip_spaces();
            if self.peek() != Some(b'.') {
                break;
            }
            self.position += 1;
            self.skip_spaces();
            let part = self.simple_key()?;
            second.get_or_insert(part);
        }
        Ok(Key { first, second })
    }

    fn simple_key(&mut self) -> Result<Cow<'text, str>, PolicyError> {
        match self.peek() {
            Some(b'"' | b'\'') => self.string(),
            _ => {
                let start = self.position;
                while let Some(b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-') = self.peek()
                {
                    self.position += 1;
                }
                if start == self.position {
                    return Err(self.invalid(format!("expected a key, found {}", self.found())));
                }
                Ok(Cow::Borrowed(&self.text[start..self.position]))
            }
        }
    }

    /// A basic (`"..."`) or literal (`'...'`) string on one line.
    fn string(&mut self) -> Result<Cow<'text, str>, PolicyError> {
        let quote = self.bytes[self.position];
        if self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote) {
            return Err(self.unsupported("multi-line strings (write the string on one line)"));
        }
        self.position += 1;
        let start = self.position;
        // Most strings have nothing to decode: find their end in one scan, and borrow them.
        let plain_end = self.bytes[start..].iter().position(|byte| {
            *byte == quote || *byte == b'\\' || (*byte < 0x20 && *byte != b'\t') || *byte == 0x7f
        });
        if let Some(length) = plain_end
            && self.bytes[start + length] == quote
        {
            self.position = start + length + 1;
            return Ok(Cow::Borrowed(&self.text[start..start + length]));
        }
        let mut decoded: Option<String> = None;
        loop {
            let Some(byte) = self.peek() else {
                return Err(self.invalid("unterminated string at the end of the file"));
            };
            match byte {
                _ if byte == quote => {
                    let end = self.position;
                    self.position += 1;
                    return Ok(match decoded {
                        Some(decoded) => Cow::Owned(decoded),
                        None => Cow::Borrowed(&self.text[start..end]),
                    });
                }
                b'\n' | b'\r' => {
                    return Err(self.invalid("unterminated string: strings end on their line"));
                }
                b'\t' => self.position += 1,
                0x00..=0x1f | 0x7f => {
                    return Err(self.invalid(format!(
                        "control character {:?} in a string (write it as an escape)",
                        char::from(byte)
                    )));
                }
                b'\\' if quote == b'"' => {
                    let decoded =
                        decoded.get_or_insert_with(|| self.text[start..self.position].to_owned());
                    self.position += 1;
                    let character = self.escape()?;
                    decoded.push(character);
                }
                _ => {
                    // Copy a whole UTF-8 character at once; the text is valid UTF-8.
                    let length = utf8_length(byte);
                    if let Some(decoded) = &mut decoded {
                        decoded.push_str(&self.text[self.position..self.position + length]);
                    }
                    self.position += length;
                }
            }
        }
    }

    /// The character of the escape after a `\`.
    fn escape(&mut self) -> Result<char, PolicyError> {
        let Some(letter) = self.peek() else {
            return Err(self.invalid("unterminated string at the end of the file"));
        };
        self.position += 1;
        let digits = match letter {
            b'b' => return Ok('\u{8}'),
            b't' => return Ok('\t'),
            b'n' => return Ok('\n'),
            b'f' => return Ok('\u{c}'),
            b'r' => return Ok('\r'),
            b'e' => return Ok('\u{1b}'),
            b'"' => return Ok('"'),
            b'\\' => return Ok('\\'),
            b'x' => 2,
            b'u' => 4,
            b'U' => 8,
            _ => {
                self.position -= 1;
                return Err(self.invalid(format!("unknown escape \\{} in a string", self.found())));
            }
        };
        let hex = self
            .bytes
            .get(self.position..self.position + digits)
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            .ok_or_else(|| {
                self.invalid(format!(
                    "\\{} needs {digits} hexadecimal digits",
                    char::from(letter)
                ))
            })?;
        let value = hex.iter().fold(0u32, |value, digit| {
            value * 16 + char::from(*digit).to_digit(16).unwrap_or(0)
        });
        self.position += digits;
        char::from_u32(value).ok_or_else(|| {
            self.invalid(format!(
                "\\{}{} is not a Unicode scalar value",
                char::from(letter),
                String::from_utf8_lossy(hex)
            ))
        })
    }

    /// The type of the value that starts here, without reading it. Anything that is not a TOML
    /// value at all is a syntax error.
    fn value_type(&self) -> Result<ValueType, PolicyError> {
        match self.peek() {
            Some(b'"' | b'\'') => return Ok(ValueType::String),
            Some(b'[') => return Ok(ValueType::Array),
            Some(b'{') => return Ok(ValueType::Table),
            _ => {}
        }
        let rest = &self.bytes[self.position..];
        let word = &rest[..rest
            .iter()
            .position(|byte| !is_word_byte(*byte))
            .unwrap_or(rest.len())];
        let digits = word.strip_prefix(b"+").or(word.strip_prefix(b"-"));
        let unsigned = digits.unwrap_or(word);
        Ok(match word {
            b"true" | b"false" => ValueType::Boolean,
            _ if unsigned == b"inf" || unsigned == b"nan" => ValueType::Float,
            [b'0'..=b'9' | b'+' | b'-', ..] => {
                if word.contains(&b':')
                    || (digits.is_none() && unsigned.len() > 4 && unsigned[4] == b'-')
                {
                    ValueType::Datetime
                } else if word.contains(&b'.')
                    || (!unsigned.starts_with(b"0x")
                        && word.iter().any(|byte| matches!(byte, b'e' | b'E')))
                {
                    ValueType::Float
                } else {
                    ValueType::Integer
                }
            }
            _ => return Err(self.invalid(format!("expected a value, found {}", self.found()))),
        })
    }

    /// An integer in any TOML notation: decimal with an optional sign, or `0x`, `0o`, `0b`;
    /// `_` only between digits; no leading zeros.
    fn integer(&mut self) -> Result<Integer, PolicyError> {
        let start = self.position;
        while self.peek().is_some_and(is_word_byte) {
            self.position += 1;
        }
        let word = &self.text[start..self.position];
        let (negative, unsigned) = match word.as_bytes().first() {
            Some(b'-') => (true, &word[1..]),
            Some(b'+') => (false, &word[1..]),
            _ => (false, word),
        };
        let signed = unsigned.len() != word.len();
        let (radix, digits) = match unsigned.get(..2) {
            Some("0x") if !signed => (16, &unsigned[2..]),
            Some("0o") if !signed => (8, &unsigned[2..]),
            Some("0b") if !signed => (2, &unsigned[2..]),
            _ => (10, unsigned),
        };
        let well_formed = !digits.is_empty()
            && !digits.starts_with('_')
            && !digits.ends_with('_')
            && !digits.contains("__")
            && digits
                .chars()
                .all(|character| character == '_' || character.is_digit(radix))
            && !(radix == 10 && digits.len() > 1 && digits.starts_with('0'));
        if !well_formed {
            self.position = start;
            return Err(self.invalid(format!("invalid integer {word:?}")));
        }
        let mut value: i128 = 0;
        for digit in digits
            .chars()
            .filter_map(|character| character.to_digit(radix))
        {
            match value
                .checked_mul(i128::from(radix))
                .and_then(|value| value.checked_add(i128::from(digit)))
            {
                Some(next) => value = next,
                None => return Ok(Integer::TooLarge { negative }),
            }
        }
        Ok(Integer::Value(if negative { -value } else { value }))
    }
}

/// The structure of a policy file: lines, headers, key/value pairs, arrays, inline tables.
impl<'text> Parser<'text, '_> {
    fn document(&mut self) -> Result<(), PolicyError> {
        let mut forms = Forms {
            allow: Form::Unused,
            deny: Form::Unused,
        };
        let mut table: Option<RuleDraft> = None;
        // A byte order mark some editors write is not part of the text (TOML readers skip it).
        if self.text.starts_with('\u{feff}') {
            self.position = '\u{feff}'.len_utf8();
        }
        loop {
            self.skip_spaces();
            match self.peek() {
                None => break,
                Some(b'#' | b'\n' | b'\r') => {}
                Some(b'[') => {
                    if let Some(draft) = table.take() {
                        self.finish(draft)?;
                    }
                    let plain = match self.reading {
                        Reading::PlainLinesFirst => self.plain_header(),
                        #[cfg(test)]
                        Reading::GeneralOnly => None,
                    };
                    table = Some(match plain {
                        Some(kind) => self.array_table(&mut forms, kind, self.line)?,
                        None => self.header(&mut forms)?,
                    });
                }
                Some(_) => {
                    let line = self.line;
                    if let Some(draft) = &mut table
                        && self.reading == Reading::PlainLinesFirst
                        && self.plain_entry(draft)?
                    {
                        self.end_of_line()?;
                        continue;
                    }
                    let key = self.key()?;
                    self.equals()?;
                    match &mut table {
                        Some(draft) => self.rule_entry(draft, key, line)?,
                        None => self.top_level_entry(key, line, &mut forms)?,
                    }
                }
            }
            self.end_of_line()?;
        }
        if let Some(draft) = table {
            self.finish(draft)?;
        }
        Ok(())
    }

    /// TOML has no line break inside a key/value pair, but the toml crate reads one there in an
    /// inline table: say that this form is not supported rather than call it invalid.
    fn no_line_break(&mut self, place: &str) -> Result<(), PolicyError> {
        self.skip_spaces();
        match self.peek() {
            Some(b'\n' | b'\r' | b'#') => Err(self.unsupported(&format!("a line break {place}"))),
            _ => Ok(()),
        }
    }

    fn equals(&mut self) -> Result<(), PolicyError> {
        self.skip_spaces();
        self.expect(b'=', "'=' after the key")?;
        self.skip_spaces();
        Ok(())
    }

    /// A `[table]` or `[[array]]` header; only `[[allow]]` and `[[deny]]` are policy.
    fn header(&mut self, forms: &mut Forms) -> Result<RuleDraft, PolicyError> {
        let line = self.line;
        self.position += 1;
        let array = self.peek() == Some(b'[');
        if array {
            self.position += 1;
        }
        self.skip_spaces();
        let key = self.key()?;
        self.skip_spaces();
        self.expect(b']', "']' at the end of the header")?;
        if array {
            self.expect(b']', "']]' at the end of the header")?;
        }
        let kind = match key.first.as_ref() {
            "allow" => RuleKind::Allow,
            "deny" => RuleKind::Deny,
            other => {
                return Err(self.error(
                    line,
                    format!("unknown top-level key {other:?} (expected [[allow]] or [[deny]])"),
                ));
            }
        };
        let form = forms.of(kind);
        if let Some(second) = &key.second
            && *form == Form::Headers
        {
            return Err(self.error(line, format!("unknown key {second:?} in [[{kind}]]")));
        }
        if !array || key.second.is_some() {
            return Err(self.error(line, format!("{kind} must be written as [[{kind}]] tables")));
        }
        self.array_table(forms, kind, line)
    }

    /// What a `[[allow]]` or `[[deny]]` header at `line` starts, once read.
    fn array_table(
        &self,
        forms: &mut Forms,
        kind: RuleKind,
        line: u32,
    ) -> Result<RuleDraft, PolicyError> {
        let form = forms.of(kind);
        if *form == Form::InlineArray {
            return Err(self.error(
                line,
                format!("[[{kind}]] after `{kind} = [...]`: write the {kind} rules in one form"),
            ));
        }
        *form = Form::Headers;
        Ok(RuleDraft::new(kind, line))
    }

    /// A key/value pair before the first header: only `allow = [...]` and `deny = [...]`, arrays
    /// of inline tables, are policy.
    fn top_level_entry(
        &mut self,
        key: Key<'text>,
        line: u32,
        forms: &mut Forms,
    ) -> Result<(), PolicyError> {
        let kind = match key.first.as_ref() {
            "allow" => RuleKind::Allow,
            "deny" => RuleKind::Deny,
            other => {
                return Err(self.error(
                    line,
                    format!("unknown top-level key {other:?} (expected [[allow]] or [[deny]])"),
                ));
            }
        };
        if key.second.is_some() || self.value_type()? != ValueType::Array {
            return Err(self.error(line, format!("{kind} must be written as [[{kind}]] tables")));
        }
        let form = forms.of(kind);
        if *form != Form::Unused {
            return Err(self.error(line, format!("invalid TOML: duplicate key \"{kind}\"")));
        }
        *form = Form::InlineArray;
        self.array(|parser, item_type, item_line| {
            if item_type != ValueType::Table {
                return Err(parser.error(
                    item_line,
                    format!("entries of {kind} must be tables, written [[{kind}]]"),
                ));
            }
            let draft = parser.inline_table(kind)?;
            parser.finish(draft)
        })?;
        Ok(())
    }

    /// An array: calls `item` with the type and line of each entry, at its start; `item` must
    /// read the whole entry. Returns how many entries there were.
    fn array(
        &mut self,
        mut item: impl FnMut(&mut Self, ValueType, u32) -> Result<(), PolicyError>,
    ) -> Result<usize, PolicyError> {
        self.position += 1;
        let mut count = 0;
        loop {
            self.skip_blank_lines()?;
            if self.peek() == Some(b']') {
                self.position += 1;
                return Ok(count);
            }
            let item_type = self.value_type()?;
            item(self, item_type, self.line)?;
            count += 1;
            self.skip_blank_lines()?;
            match self.peek() {
                Some(b',') => self.position += 1,
                Some(b']') => {
                    self.position += 1;
                    return Ok(count);
                }
                _ => {
                    return Err(self.invalid(format!(
                        "expected ',' or ']' in the array, found {}",
                        self.found()
                    )));
                }
            }
        }
    }

    /// `{ key = value, ... }`: one rule. Since TOML 1.1 it may span lines and end in a comma.
    fn inline_table(&mut self, kind: RuleKind) -> Result<RuleDraft, PolicyError> {
        let mut draft = RuleDraft::new(kind, self.line);
        self.position += 1;
        loop {
            self.skip_blank_lines()?;
            if self.peek() == Some(b'}') {
                self.position += 1;
                return Ok(draft);
            }
            let line = self.line;
            let key = self.key()?;
            self.no_line_break("between a key and its '=' in an inline table")?;
            self.equals()?;
            self.no_line_break("between '=' and its value in an inline table")?;
            self.rule_entry(&mut draft, key, line)?;
            self.skip_blank_lines()?;
            match self.peek() {
                Some(b',') => self.position += 1,
                Some(b'}') => {
                    self.position += 1;
                    return Ok(draft);
                }
                _ => {
                    return Err(self.invalid(format!(
                        "expected ',' or '}}' in the inline table, found {}",
                        self.found()
                    )));
                }
            }
        }
    }
}

/// What the keys of a rule mean.
impl<'text> Parser<'text, '_> {
    /// One `key = value` of a rule's table; the value starts at the current position.
    fn rule_entry(
        &mut self,
        draft: &mut RuleDraft,
        key: Key<'text>,
        line: u32,
    ) -> Result<(), PolicyError> {
        let kind = draft.kind;
        let Some(&(rule_key, name, expected)) =
            RULE_KEYS.iter().find(|(_, name, _)| *name == key.first)
        else {
            return Err(self.error(line, format!("unknown key {:?} in [[{kind}]]", key.first)));
        };
        if key.second.is_some() {
            return Err(self.error(line, format!("{name:?} must be {expected}, not table")));
        }
        self.not_given(draft, rule_key, name, line)?;
        let value_type = self.value_type()?;
        let value_line = self.line;
        let wrong_type = || format!("{name:?} must be {expected}, not {}", value_type.name());
        match name {
            "path" => {
                if value_type != ValueType::String {
                    return Err(self.error(value_line, wrong_type()));
                }
                let pattern = self.string()?;
                self.set_path(draft, &pattern, value_line)?;
            }
            "users" | "groups" => {
                if value_type != ValueType::Array {
                    return Err(self.error(value_line, wrong_type()));
                }
                let list = if name == "users" {
                    SubjectList::Users
                } else {
                    SubjectList::Groups
                };
                let entries = self.subjects(list, kind, value_line)?;
                match list {
                    SubjectList::Users => draft.users = Some(entries),
                    SubjectList::Groups => draft.groups = Some(entries),
                }
            }
            _ => {
                if value_type != ValueType::Array {
                    return Err(self.error(value_line, wrong_type()));
                }
                if name == "access" {
                    let mut access = AccessSet::EMPTY;
                    self.words(name, value_line, ACCESS_WORDS, |word| {
                        Access::from_word(word).map(|word| access = access.with(word))
                    })?;
                    draft.access = Some(access);
                } else {
                    let mut types = FileTypeSet::EMPTY;
                    self.words(name, value_line, TYPE_WORDS, |word| {
                        FileType::from_word(word).map(|word| types = types.with(word))
                    })?;
                    draft.types = Some(types);
                }
            }
        }
        Ok(())
    }

    /// A duplicate key is an error at the line of the second one.
    fn not_given(
        &self,
        draft: &RuleDraft,
        key: RuleKey,
        name: &str,
        line: u32,
    ) -> Result<(), PolicyError> {
        let given = match key {
            RuleKey::Path => draft.path.is_some(),
            RuleKey::Users => draft.users.is_some(),
            RuleKey::Groups => draft.groups.is_some(),
            RuleKey::Access => draft.access.is_some(),
            RuleKey::Types => draft.types.is_some(),
        };
        if given {
            return Err(self.error(line, format!("invalid TOML: duplicate key {name:?}")));
        }
        Ok(())
    }

    fn set_path(&self, draft: &mut RuleDraft, pattern: &str, line: u32) -> Result<(), PolicyError> {
        // A pattern read as it is written lies in the text, which its glob then shares; one
        // decoded from escapes has its own.
        let offset = (pattern.as_ptr() as usize).wrapping_sub(self.text.as_ptr() as usize);
        let glob = if offset <= self.text.len() && pattern.len() <= self.text.len() - offset {
            Glob::within(&self.shared_text, offset..offset + pattern.len())
        } else {
            Glob::new(pattern)
        };
        let glob = glob
            .map_err(|error| self.error(line, format!("bad path pattern {pattern:?}: {error}")))?;
        draft.path = Some(glob);
        Ok(())
    }

    fn unknown_word(&self, key: &str, word: &str, line: u32, expected: &str) -> PolicyError {
        self.error(
            line,
            format!("unknown {key} word {word:?} (expected one of: {expected})"),
        )
    }

    /// `key = value` of a rule's table in the form nearly every policy line has, read without
    /// the general machinery: a bare key of the rule, then either a plain basic string (no
    /// escapes) for `path`, or a one-line array of plain basic strings and decimal ids for the
    /// others, with nothing but spaces in between. The value's meaning is taken by the very
    /// functions the general reading uses, entry by entry as it would, so errors and warnings
    /// are the same. Anything else (including anything the general reading would refuse as
    /// syntax) gives `Ok(false)` with nothing read and no warning left, and the general reading
    /// takes over. The line end is left to the caller.
    fn plain_entry(&mut self, draft: &mut RuleDraft) -> Result<bool, PolicyError> {
        let bytes = self.bytes;
        let line = self.line;
        let (key, name) = match &bytes[self.position..] {
            [b'p', b'a', b't', b'h', ..] => (RuleKey::Path, "path"),
            [b'u', b's', b'e', b'r', b's', ..] => (RuleKey::Users, "users"),
            [b'g', b'r', b'o', b'u', b'p', b's', ..] => (RuleKey::Groups, "groups"),
            [b'a', b'c', b'c', b'e', b's', b's', ..] => (RuleKey::Access, "access"),
            [b't', b'y', b'p', b'e', b's', ..] => (RuleKey::Types, "types"),
            _ => return Ok(false),
        };
        // A longer key (`pathx`) or a dotted one is caught here too: only blanks and `=` follow.
        let mut at = self.position + name.len();
        if bytes.get(at..at + 3) == Some(b" = ") {
            at += 3;
        } else {
            at = skip_blanks(bytes, at);
            if bytes.get(at) != Some(&b'=') {
                return Ok(false);
            }
            at = skip_blanks(bytes, at + 1);
        }
        if key == RuleKey::Path {
            // The string and its pattern in one pass; anything else in it, including an error,
            // is for the general reading to read and word.
            if bytes.get(at) != Some(&b'"') {
                return Ok(false);
            }
            let Some((glob, end)) = Glob::quoted_within(&self.shared_text, at) else {
                return Ok(false);
            };
            self.not_given(draft, key, name, line)?;
            self.position = end + 1;
            draft.path = Some(glob);
            return Ok(true);
        }
        if bytes.get(at) != Some(&b'[') {
            return Ok(false);
        }
        // The general reading refuses a key given twice before it looks at the value.
        self.not_given(draft, key, name, line)?;
        let warnings = self.warnings.len();
        match self.plain_array(draft, key, name, at + 1)? {
            Some(end) => {
                self.position = end;
                Ok(true)
            }
            None => {
                // The general reading reads the entries again, and warns again.
                self.warnings.truncate(warnings);
                Ok(false)
            }
        }
    }

    /// The entries of a one-line array of plain basic strings and decimal ids (digits without a
    /// sign, `_` or a leading zero, few enough to be exact), a trailing comma allowed, from just
    /// after its `[` at `at`: their meaning for `key`, taken in order, and the position after
    /// the `]`. `None` at the first thing of any other form: the general reading then reads the
    /// whole array, and reaches that same point having met what was met here.
    fn plain_array(
        &mut self,
        draft: &mut RuleDraft,
        key: RuleKey,
        name: &str,
        mut at: usize,
    ) -> Result<Option<usize>, PolicyError> {
        let bytes = self.bytes;
        let line = self.line;
        let list = match key {
            RuleKey::Users => Some(SubjectList::Users),
            RuleKey::Groups => Some(SubjectList::Groups),
            _ => None,
        };
        let mut entries = SubjectEntries::none();
        let mut access = AccessSet::EMPTY;
        let mut types = FileTypeSet::EMPTY;
        at = skip_blanks(bytes, at);
        loop {
            match bytes.get(at) {
                Some(b'"') => {
                    let start = at + 1;
                    let Some(end) = plain_string_end(bytes, start) else {
                        return Ok(None);
                    };
                    let text = &self.text[start..end];
                    match list {
                        Some(list) => self.subject(text, list, draft.kind, line, &mut entries)?,
                        None if key == RuleKey::Access => {
                            let Some(word) = Access::from_word(text) else {
                                return Err(self.unknown_word(name, text, line, ACCESS_WORDS));
                            };
                            access = access.with(word);
                        }
                        None => {
                            let Some(word) = FileType::from_word(text) else {
                                return Err(self.unknown_word(name, text, line, TYPE_WORDS));
                            };
                            types = types.with(word);
                        }
                    }
                    at = end + 1;
                }
                // An id among words is an error the general reading words.
                Some(b'0'..=b'9') if list.is_some() => {
                    let digits = bytes[at..]
                        .iter()
                        .position(|byte| !byte.is_ascii_digit())
                        .unwrap_or(bytes.len() - at);
                    if digits > 18 || (digits > 1 && bytes[at] == b'0') {
                        return Ok(None);
                    }
                    // Only digits the general reading reads as an integer of their own: in
                    // `4294967295abc` it sees one invalid integer, and says so, where the range
                    // of the id would be the wrong complaint.
                    if !matches!(bytes.get(at + digits), Some(b' ' | b'\t' | b',' | b']')) {
                        return Ok(None);
                    }
                    let id = decimal(&bytes[at..at + digits]);
                    entries
                        .ids
                        .push(self.id_in_range(i128::from(id), line, name)?);
                    at += digits;
                }
                _ => return Ok(None),
            }
            at = skip_blanks(bytes, at);
            match bytes.get(at) {
                Some(b',') => {
                    at = skip_blanks(bytes, at + 1);
                    if bytes.get(at) == Some(&b']') {
                        break;
                    }
                }
                Some(b']') => break,
                _ => return Ok(None),
            }
        }
        match key {
            RuleKey::Users => draft.users = Some(entries),
            RuleKey::Groups => draft.groups = Some(entries),
            RuleKey::Access => draft.access = Some(access),
            RuleKey::Types => draft.types = Some(types),
            RuleKey::Path => {}
        }
        Ok(Some(at + 1))
    }

    /// `[[allow]]` or `[[deny]]` exactly, read; `None` with nothing read otherwise.
    fn plain_header(&mut self) -> Option<RuleKind> {
        let rest = &self.bytes[self.position..];
        let (kind, length) = if rest.starts_with(b"[[allow]]") {
            (RuleKind::Allow, 9)
        } else if rest.starts_with(b"[[deny]]") {
            (RuleKind::Deny, 8)
        } else {
            return None;
        };
        self.position += length;
        Some(kind)
    }

    /// An array of words (`access`, `types`); `take` is `None` for a word it does not know.
    fn words(
        &mut self,
        key: &str,
        line: u32,
        expected: &str,
        mut take: impl FnMut(&str) -> Option<()>,
    ) -> Result<(), PolicyError> {
        let count = self.array(|parser, item_type, item_line| {
            if item_type != ValueType::String {
                return Err(parser.error(
                    item_line,
                    format!("{key:?} entries must be strings, not {}", item_type.name()),
                ));
            }
            let word = parser.string()?;
            take(&word).ok_or_else(|| parser.unknown_word(key, &word, item_line, expected))
        })?;
        if count == 0 {
            return Err(self.error(line, empty_list(key)));
        }
        Ok(())
    }

    /// One `users` or `groups` list of a rule of `kind`. A name the system does not know matches
    /// nobody in an allow, and everyone in a deny: a deny fails closed.
    fn subjects(
        &mut self,
        list: SubjectList,
        kind: RuleKind,
        line: u32,
    ) -> Result<SubjectEntries, PolicyError> {
        let key = list.key();
        let mut entries = SubjectEntries::none();
        let count = self.array(|parser, item_type, item_line| {
            match item_type {
                ValueType::Integer => {
                    let id = match parser.integer()? {
                        Integer::Value(id) => id,
                        Integer::TooLarge { negative: true } => i128::MIN,
                        Integer::TooLarge { negative: false } => i128::MAX,
                    };
                    entries.ids.push(parser.id_in_range(id, item_line, key)?);
                }
                ValueType::String => {
                    let text = parser.string()?;
                    parser.subject(&text, list, kind, item_line, &mut entries)?;
                }
                other => {
                    return Err(parser.error(
                        item_line,
                        format!(
                            "{key:?} entries must be names (strings) or ids (integers), not {}",
                            other.name()
                        ),
                    ));
                }
            }
            Ok(())
        })?;
        if count == 0 {
            return Err(self.error(line, empty_list(key)));
        }
        Ok(entries)
    }

    /// One string of a `users` or `groups` list: `*`, an id in digits, or a name to look up.
    fn subject(
        &mut self,
        text: &str,
        list: SubjectList,
        kind: RuleKind,
        line: u32,
        entries: &mut SubjectEntries,
    ) -> Result<(), PolicyError> {
        let key = list.key();
        let is_id = |digits: &[u8]| !digits.is_empty() && digits.iter().all(u8::is_ascii_digit);
        // By the first byte: most entries are a name or an id, and tell at once.
        let bytes = text.as_bytes();
        if bytes == b"*" {
            entries.everyone = true;
        } else if bytes.is_empty() {
            return Err(self.error(line, format!("empty name in {key:?}")));
        } else if bytes[0].is_ascii_digit() && is_id(bytes) {
            // Too many digits for i128 is out of range too, so saturate.
            let id = match text.len() {
                ..=18 => i128::from(decimal(bytes)),
                _ => text.parse::<i128>().unwrap_or(i128::MAX),
            };
            entries.ids.push(self.id_in_range(id, line, key)?);
        } else if matches!(bytes[0], b'-' | b'+') && is_id(&bytes[1..]) {
            return Err(self.error(
                line,
                format!("id {text:?} in {key:?} must be plain digits, without a sign"),
            ));
        } else {
            let resolved = self.resolve(list, text);
            match resolved {
                Ok(Some(id)) => entries
                    .ids
                    .push(self.id_in_range(i128::from(id), line, key)?),
                Ok(None) if kind == RuleKind::Deny => {
                    entries.everyone = true;
                    self.warn(
                        line,
                        format!(
                            "unknown {} {text:?} in a [[deny]]: it denies everyone until the name exists or is removed",
                            list.noun()
                        ),
                    );
                }
                Ok(None) => self.warn(
                    line,
                    format!(
                        "unknown {} {text:?}: this entry matches nobody",
                        list.noun()
                    ),
                ),
                Err(LookupFailed { errno }) => {
                    return Err(PolicyError::Lookup {
                        file: self.file.to_path_buf(),
                        line,
                        name: text.to_owned(),
                        errno,
                    });
                }
            }
        }
        Ok(())
    }

    /// A name through the resolver, or through the answers it gave for the last few names: a
    /// large policy names the same few groups in rule after rule. Only answers are kept, so a
    /// lookup that failed is asked again (and fails the policy anyway).
    fn resolve(&mut self, list: SubjectList, name: &str) -> Result<Option<u32>, LookupFailed> {
        let users = matches!(list, SubjectList::Users);
        // Compared in place: names are short, and a call to memcmp cost more than the bytes.
        let same = |known: &str| {
            known.len() == name.len() && known.bytes().zip(name.bytes()).all(|(a, b)| a == b)
        };
        if let Some(known) = self
            .recent_names
            .iter()
            .find(|known| known.users == users && same(&known.name))
        {
            return Ok(known.id);
        }
        let id = match list {
            SubjectList::Users => self.resolver.uid_of(name),
            SubjectList::Groups => self.resolver.gid_of(name),
        }?;
        let slot = self.recent_names_next % RECENT_NAMES;
        self.recent_names_next = self.recent_names_next.wrapping_add(1);
        let known = match self.recent_names.get_mut(slot) {
            Some(known) => known,
            None => {
                self.recent_names.push(KnownName {
                    users,
                    name: String::new(),
                    id,
                });
                let last = self.recent_names.len() - 1;
                &mut self.recent_names[last]
            }
        };
        known.users = users;
        known.name.clear();
        known.name.push_str(name);
        known.id = id;
        Ok(id)
    }

    // Once per id: inlined, the checks of an id known to be small fold into a comparison or two.
    #[inline(always)]
    fn id_in_range(&self, id: i128, line: u32, key: &str) -> Result<u32, PolicyError> {
        if id < 0 {
            if id == i128::MIN {
                return Err(self.error(line, format!("negative id in {key:?}")));
            }
            return Err(self.error(line, format!("negative id {id} in {key:?}")));
        }
        let id = u32::try_from(id)
            .map_err(|_| self.error(line, format!("id in {key:?} is larger than {}", u32::MAX)))?;
        if id == u32::MAX {
            return Err(self.error(
                line,
                format!("id {id} in {key:?} is (uid_t)-1, which names nobody"),
            ));
        }
        Ok(id)
    }

    /// The end of a rule's table: what it lacks, its defaults, its warnings.
    // Once per rule, from the document loop: inlined there, the draft is not copied into a call.
    #[inline(always)]
    fn finish(&mut self, draft: RuleDraft) -> Result<(), PolicyError> {
        let RuleDraft {
            kind,
            line,
            path,
            users,
            groups,
            access,
            types,
        } = draft;
        let Some(path) = path else {
            return Err(self.error(line, format!("[[{kind}]] needs a \"path\"")));
        };
        let subjects_given = users.is_some() || groups.is_some();
        let subjects = match (users, groups) {
            (None, None) if kind == RuleKind::Deny => Subjects::everyone(),
            (None, None) => {
                return Err(self.error(
                    line,
                    "[[allow]] needs \"users\" or \"groups\" (use [\"*\"] for everyone)",
                ));
            }
            (users, groups) => {
                let users = users.unwrap_or_else(SubjectEntries::none);
                let groups = groups.unwrap_or_else(SubjectEntries::none);
                Subjects {
                    everyone: users.everyone || groups.everyone,
                    uids: users.ids,
                    gids: groups.ids,
                }
            }
        };
        let access = match access {
            Some(access) => access,
            None if kind == RuleKind::Deny => AccessSet::ALL,
            None => return Err(self.error(line, "[[allow]] needs \"access\"")),
        };
        let types = match (kind, types) {
            (RuleKind::Allow, None) => Some(FileTypeSet::DEFAULT_ALLOW),
            (RuleKind::Deny, None) => None,
            // A deny that names every type is not limited by type, so it can already act in the
            // lexical pre-check (P1).
            (RuleKind::Deny, Some(FileTypeSet::ALL)) => None,
            (_, Some(types)) => Some(types),
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
            self.warn(line, message.to_owned());
        }
        if kind == RuleKind::Allow
            && !access.contains(Access::Read)
            && !access.contains(Access::Write)
            && !access.contains(Access::Append)
        {
            self.warn(
                line,
                "this [[allow]] can never match: every open needs read, write or append, and it grants none of them"
                    .to_owned(),
            );
        }
        self.rules.push(Rule {
            kind,
            path,
            subjects,
            access,
            types,
            origin: RuleOrigin {
                file: Arc::clone(&self.shared_file),
                line,
            },
        });
        Ok(())
    }
}

fn empty_list(key: &str) -> String {
    format!("empty {key:?} list (omit the key or list at least one entry)")
}

/// Whether a byte ends a plain basic string or makes it one that needs decoding (or refusing):
/// the quote, a backslash, a control character other than tab, DEL.
const fn stops_plain_string(byte: u8) -> bool {
    byte == b'"' || byte == b'\\' || (byte < 0x20 && byte != b'\t') || byte == 0x7f
}

const STOPS_PLAIN_STRING: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = stops_plain_string(byte as u8);
        byte += 1;
    }
    table
};

fn skip_blanks(bytes: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\t') = bytes.get(at) {
        at += 1;
    }
    at
}

/// The position of the closing quote of a non-empty basic string whose text starts at `start`,
/// if it has nothing to decode; `None` if there is no such string there (an empty string may
/// open a multi-line one).
fn plain_string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let length = bytes
        .get(start..)?
        .iter()
        .position(|byte| STOPS_PLAIN_STRING[usize::from(*byte)])?;
    let end = start + length;
    (length > 0 && bytes[end] == b'"').then_some(end)
}

/// The value of at most 18 decimal digits, which fits.
fn decimal(digits: &[u8]) -> u64 {
    digits
        .iter()
        .fold(0, |value, digit| value * 10 + u64::from(digit - b'0'))
}

/// The bytes a bare word (a number, `true`, a date) can be made of, up to what ends it.
fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'+' | b'-' | b'.' | b':')
}

/// The length of the UTF-8 character whose first byte is `first`.
fn utf8_length(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

#[cfg(test)]
pub(crate) mod tests;
