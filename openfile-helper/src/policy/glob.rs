//! Path globs of the policy language, matched on bytes.
//!
//! * `*` matches any bytes (possibly none) within one component. It also matches a leading dot:
//!   `/home/*/notes` covers `/home/.hidden/notes`, unlike a shell. The policy speaks about
//!   paths, not about what `ls` shows, so hiding dotfiles from a rule would only surprise.
//! * `**` must be a whole component and matches zero or more whole components, so `/a/**/b`
//!   matches `/a/b` and `/a/x/y/b`. As the last component it matches one or more, so `/a/**`
//!   covers everything below `/a` but not `/a` itself.
//! * No other metacharacters: `? [ ] { } \` are errors rather than literals, so that a pattern
//!   written for another glob dialect fails loudly instead of matching something unexpected.
//!
//! Matching is the classic greedy two-pointer algorithm, used twice: for `*` over the bytes of
//! one component, and for `**` over the list of components. Both backtrack only to the latest
//! star, so the cost is bounded by (pattern length × path length), never exponential.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// Longest pattern accepted, in bytes; the same as PATH_MAX, since no longer path can be opened.
pub const MAX_PATTERN_LEN: usize = 4096;

/// One step of a pattern, borrowed from its source while a path is matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Segment<'pattern> {
    /// One component; `*` bytes are wildcards, everything else is literal.
    Component(&'pattern [u8]),
    /// `**`: zero or more components.
    AnyDepth,
}

/// A path glob, checked when it is made. It keeps only the pattern: the steps a match walks are
/// taken from it when a path is matched, so a policy pays for splitting a pattern only for the
/// rules a request could concern (those its index returns), not for every rule on every load.
#[derive(Clone)]
pub struct Glob {
    /// The pattern is `text[start..end]`: a policy's globs share the text of their file rather
    /// than each allocating a copy of its pattern (loading a large policy paid one per rule).
    /// A `String` behind the `Arc`, not a `str`, so that the text of a file read into a
    /// `String` is shared as it is rather than copied.
    text: Arc<String>,
    start: u32,
    end: u32,
    /// The length of [`Glob::literal_prefix`] and how many components it has, found while the
    /// pattern was checked: indexing a rule reads them instead of splitting its pattern again.
    prefix_length: u32,
    prefix_depth: u32,
}

/// What [`Glob::new`] must notice about a byte; most bytes are [`ByteClass::Plain`] and cost
/// one table look-up.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ByteClass {
    Plain,
    Slash,
    Star,
    Nul,
    Metacharacter,
}

const BYTE_CLASS: [ByteClass; 256] = {
    let mut table = [ByteClass::Plain; 256];
    table[b'/' as usize] = ByteClass::Slash;
    table[b'*' as usize] = ByteClass::Star;
    table[0] = ByteClass::Nul;
    let metacharacters = *b"?[]{}\\";
    let mut index = 0;
    while index < metacharacters.len() {
        table[metacharacters[index] as usize] = ByteClass::Metacharacter;
        index += 1;
    }
    table
};

/// Why a pattern was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GlobError {
    Empty,
    NotAbsolute,
    TooLong,
    EmptyComponent,
    TrailingSlash,
    DotComponent,
    DotDotComponent,
    /// `**` inside a component, like `a**b`.
    DoubleStarInComponent,
    /// One of `? [ ] { } \`.
    UnsupportedMetacharacter(char),
    NulByte,
}

impl fmt::Display for GlobError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GlobError::Empty => formatter.write_str("empty path pattern"),
            GlobError::NotAbsolute => formatter.write_str("path pattern must start with '/'"),
            GlobError::TooLong => write!(
                formatter,
                "path pattern longer than {MAX_PATTERN_LEN} bytes"
            ),
            GlobError::EmptyComponent => {
                formatter.write_str("path pattern has an empty component ('//')")
            }
            GlobError::TrailingSlash => formatter.write_str("path pattern ends with '/'"),
            GlobError::DotComponent => formatter.write_str("path pattern has a '.' component"),
            GlobError::DotDotComponent => formatter.write_str("path pattern has a '..' component"),
            GlobError::DoubleStarInComponent => formatter.write_str(
                "'**' must be a whole path component (like /a/**/b); use '*' within a component",
            ),
            GlobError::UnsupportedMetacharacter(character) => write!(
                formatter,
                "unsupported glob metacharacter '{character}' (only '*' and '**' are supported)"
            ),
            GlobError::NulByte => formatter.write_str("path pattern contains a NUL byte"),
        }
    }
}

impl std::error::Error for GlobError {}

impl PartialEq for Glob {
    fn eq(&self, other: &Glob) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Glob {}

/// What checking a pattern finds out about it, besides that it is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Checked {
    prefix_length: u32,
    prefix_depth: u32,
}

impl Glob {
    pub fn new(pattern: &str) -> Result<Glob, GlobError> {
        let checked = Glob::check(pattern)?;
        Ok(Glob::made(
            Arc::new(pattern.to_owned()),
            0..pattern.len(),
            checked,
        ))
    }

    /// [`Glob::new`] of `text[range]`, sharing `text`. A `range` out of `text` (or not on
    /// character boundaries) is an empty pattern.
    pub(crate) fn within(text: &Arc<String>, range: Range<usize>) -> Result<Glob, GlobError> {
        let pattern = text.get(range.clone()).unwrap_or_default();
        let checked = Glob::check(pattern)?;
        Ok(Glob::made(Arc::clone(text), range, checked))
    }

    /// The glob of a pattern written in `text` as a TOML basic string without escapes, whose
    /// opening quote is at `quote`, and the position of its closing quote; `None` if the string
    /// is not of that form, or its pattern is not one [`quick_check`] accepts. The parser then
    /// reads the string the general way and has [`Glob::within`] say what is wrong, if anything:
    /// this only saves it a second pass over the bytes of every rule's pattern.
    pub(crate) fn quoted_within(text: &Arc<String>, quote: usize) -> Option<(Glob, usize)> {
        let start = quote + 1;
        let (checked, end) = quick_check(text.as_bytes(), start, &QUOTED_PATTERN)?;
        Some((Glob::made(Arc::clone(text), start..end, checked), end))
    }

    fn made(text: Arc<String>, range: Range<usize>, checked: Checked) -> Glob {
        // Patterns are at most MAX_PATTERN_LEN long and files at most a few MiB; were a file
        // ever 4 GiB long, the offsets would saturate and the pattern read as empty, which no
        // path matches.
        let narrow = |value: usize| u32::try_from(value).unwrap_or(u32::MAX);
        Glob {
            text,
            start: narrow(range.start),
            end: narrow(range.end),
            prefix_length: checked.prefix_length,
            prefix_depth: checked.prefix_depth,
        }
    }

    fn check(pattern: &str) -> Result<Checked, GlobError> {
        match quick_check(pattern.as_bytes(), 0, &PATTERN) {
            Some((checked, _)) => Ok(checked),
            None => Glob::diagnose(pattern),
        }
    }

    /// The whole check, with the error [`quick_check`] does not word: every pattern it leaves
    /// out comes here.
    fn diagnose(pattern: &str) -> Result<Checked, GlobError> {
        if pattern.is_empty() {
            return Err(GlobError::Empty);
        }
        if pattern.len() > MAX_PATTERN_LEN {
            return Err(GlobError::TooLong);
        }
        let Some(rest) = pattern.strip_prefix('/') else {
            return Err(GlobError::NotAbsolute);
        };
        // One pass over the bytes (every metacharacter, NUL and `/` is ASCII), reporting what it
        // finds in a fixed order: a metacharacter anywhere, then a NUL, then a trailing `/`, then
        // the first bad component.
        let bytes = pattern.as_bytes();
        let mut metacharacter = None;
        let mut nul = false;
        let mut bad_component = None;
        let mut component_start = 1;
        let mut double_star = false;
        let mut star_in_component = false;
        // Whether every component so far was literal, and where the last of them ends.
        let mut literal = true;
        let mut prefix_length = 0;
        let mut prefix_depth = 0;
        let mut index = 1;
        loop {
            // Most bytes are plain: pass over them in a tight loop.
            while let Some(byte) = bytes.get(index)
                && BYTE_CLASS[usize::from(*byte)] == ByteClass::Plain
            {
                index += 1;
            }
            // The end of the pattern ends its last component, as a `/` would.
            let class = match bytes.get(index) {
                Some(byte) => BYTE_CLASS[usize::from(*byte)],
                None => ByteClass::Slash,
            };
            match class {
                ByteClass::Plain => {}
                ByteClass::Slash => {
                    // By length first: comparing every component with each bad form costs.
                    let dot = |at: usize| bytes[at] == b'.';
                    let problem = match index - component_start {
                        0 => Some(GlobError::EmptyComponent),
                        1 if dot(component_start) => Some(GlobError::DotComponent),
                        2 if dot(component_start) && dot(component_start + 1) => {
                            Some(GlobError::DotDotComponent)
                        }
                        // Two bytes holding `**` are `**`.
                        2 => None,
                        _ if double_star => Some(GlobError::DoubleStarInComponent),
                        _ => None,
                    };
                    if bad_component.is_none() {
                        bad_component = problem;
                    }
                    literal &= !star_in_component;
                    if literal && index > 1 {
                        prefix_length = index;
                        prefix_depth += 1;
                    }
                    component_start = index + 1;
                    double_star = false;
                    star_in_component = false;
                }
                ByteClass::Nul => nul = true,
                ByteClass::Metacharacter => {
                    metacharacter.get_or_insert(char::from(bytes[index]));
                }
                ByteClass::Star => {
                    double_star |= bytes[index - 1] == b'*';
                    star_in_component = true;
                }
            }
            if index >= bytes.len() {
                break;
            }
            index += 1;
        }
        if let Some(character) = metacharacter {
            return Err(GlobError::UnsupportedMetacharacter(character));
        }
        if nul {
            return Err(GlobError::NulByte);
        }
        if !rest.is_empty() {
            if rest.ends_with('/') {
                return Err(GlobError::TrailingSlash);
            }
            if let Some(problem) = bad_component {
                return Err(problem);
            }
        }
        // At most MAX_PATTERN_LEN, checked above.
        let narrow = |value: usize| u32::try_from(value).unwrap_or(u32::MAX);
        Ok(Checked {
            prefix_length: narrow(prefix_length),
            prefix_depth: narrow(prefix_depth),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        self.text
            .get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }

    /// The steps of the pattern. A trailing `**` must match at least one component (`/a/**`
    /// does not cover `/a`), so it is walked as "any one component, then any depth".
    fn segments(&self) -> Vec<Segment<'_>> {
        let rest = self.as_str().as_bytes().get(1..).unwrap_or_default();
        let mut segments: Vec<Segment<'_>> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split(|byte| *byte == b'/')
                .map(|component| match component {
                    b"**" => Segment::AnyDepth,
                    _ => Segment::Component(component),
                })
                .collect()
        };
        if segments.last() == Some(&Segment::AnyDepth) {
            segments.pop();
            segments.push(Segment::Component(b"*"));
            segments.push(Segment::AnyDepth);
        }
        segments
    }

    /// Whether `path` matches. `path` must be absolute and lexically clean (no empty, `.` or
    /// `..` components, no trailing `/`, no NUL); anything else simply does not match.
    pub fn matches(&self, path: &[u8]) -> bool {
        let Some(components) = clean_components(path) else {
            return false;
        };
        self.matches_components(&components)
    }

    /// The longest leading run of whole literal components, as written (`/srv/app` for
    /// `/srv/app/**/*.log`, empty for `/*/x` and for `/`): every path this glob matches starts
    /// with these components, which is what lets a policy index its rules by it.
    pub(crate) fn literal_prefix(&self) -> &[u8] {
        // Sliced as bytes: the pattern's range was checked when the glob was made, and the
        // character-boundary checks of a str cost indexing every rule a few dozen instructions.
        let start = self.start as usize;
        let end = start + self.prefix_length as usize;
        if end > self.end as usize {
            return &[];
        }
        self.text.as_bytes().get(start..end).unwrap_or_default()
    }

    /// How many components [`Glob::literal_prefix`] has.
    pub(crate) fn literal_prefix_depth(&self) -> usize {
        self.prefix_depth as usize
    }

    /// [`Glob::matches`] on a path already split by [`clean_components`], so that a decision
    /// splits the requested path once, not once per rule.
    pub(crate) fn matches_components(&self, components: &[&[u8]]) -> bool {
        match_segments(&self.segments(), components)
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl fmt::Debug for Glob {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Glob({:?})", self.as_str())
    }
}

/// How [`quick_check`] takes each byte. Anything it does not take as plain, a `/`, a `*` or
/// the end is left to [`Glob::diagnose`].
const PLAIN: u8 = 0;
const SLASH: u8 = 1;
const STAR: u8 = 2;
const END: u8 = 3;
const DIAGNOSE: u8 = 4;

/// Where a pattern [`quick_check`] reads ends, and which of its bytes it takes as what.
struct PatternForm {
    classes: [u8; 256],
    /// What the end of the bytes is: the end of a pattern that is all of them, or a string
    /// without its closing quote.
    end_of_bytes: u8,
}

/// A pattern that is all of its bytes: NUL and the metacharacters are errors.
const PATTERN: PatternForm = PatternForm {
    classes: {
        let mut table = [PLAIN; 256];
        table[b'/' as usize] = SLASH;
        table[b'*' as usize] = STAR;
        table[0] = DIAGNOSE;
        let metacharacters = *b"?[]{}\\";
        let mut index = 0;
        while index < metacharacters.len() {
            table[metacharacters[index] as usize] = DIAGNOSE;
            index += 1;
        }
        table
    },
    end_of_bytes: END,
};

/// A pattern inside a TOML basic string: its quote ends it; a control character other than tab,
/// DEL or a backslash makes it a string the parser must read the general way.
const QUOTED_PATTERN: PatternForm = PatternForm {
    classes: {
        let mut table = PATTERN.classes;
        table[b'"' as usize] = END;
        let mut byte = 0;
        while byte < 0x20 {
            if byte != b'\t' as usize {
                table[byte] = DIAGNOSE;
            }
            byte += 1;
        }
        table[0x7f] = DIAGNOSE;
        table
    },
    end_of_bytes: DIAGNOSE,
};

/// The check of a valid pattern at `bytes[start..]`, up to where `form` ends it: what it found,
/// and where the pattern ends. One pass that does for each byte only what a valid pattern needs;
/// `None` for anything else, every pattern with an error included, so that [`Glob::diagnose`]
/// alone words errors, in its order.
// Inlined in its two callers, each with its form known: its tables are then constants.
#[inline(always)]
fn quick_check(bytes: &[u8], start: usize, form: &PatternForm) -> Option<(Checked, usize)> {
    if bytes.get(start) != Some(&b'/') {
        return None;
    }
    let mut index = start + 1;
    let mut component_start = index;
    // Whether every component so far was literal, and where the last of them ends.
    let mut literal = true;
    let mut double_star = false;
    let mut prefix_length = 0;
    let mut prefix_depth = 0;
    loop {
        // The run of plain bytes up to the next that matters, in a loop of a few instructions
        // a byte: most of a pattern is plain.
        let mut class = form.end_of_bytes;
        while index < bytes.len() {
            class = form.classes[usize::from(bytes[index])];
            if class != PLAIN {
                break;
            }
            index += 1;
            class = form.end_of_bytes;
        }
        if class == STAR {
            double_star |= bytes[index - 1] == b'*';
            literal = false;
            index += 1;
            continue;
        }
        if class != SLASH && class != END {
            return None;
        }
        let length = index - component_start;
        if length <= 2 {
            if matches!(&bytes[component_start..index], b"" | b"." | b"..") {
                // `/` alone is the one valid pattern with an empty component.
                let root = length == 0 && class == END && component_start == start + 1;
                if !root {
                    return None;
                }
            }
        } else if double_star {
            return None;
        }
        if literal && length > 0 {
            prefix_length = index - start;
            prefix_depth += 1;
        }
        if class == END {
            break;
        }
        component_start = index + 1;
        double_star = false;
        index += 1;
    }
    if index - start > MAX_PATTERN_LEN {
        return None;
    }
    // At most MAX_PATTERN_LEN, checked above.
    let narrow = |value: usize| u32::try_from(value).unwrap_or(u32::MAX);
    let checked = Checked {
        prefix_length: narrow(prefix_length),
        prefix_depth: narrow(prefix_depth),
    };
    Some((checked, index))
}

/// Splits an absolute, clean path into its components; `None` if it is not absolute and clean.
/// `/` has no components.
pub(crate) fn clean_components(path: &[u8]) -> Option<Vec<&[u8]>> {
    let rest = path.strip_prefix(b"/")?;
    if path.contains(&0) {
        return None;
    }
    if rest.is_empty() {
        return Some(Vec::new());
    }
    let mut components = Vec::new();
    for component in rest.split(|byte| *byte == b'/') {
        if component.is_empty() || component == b"." || component == b".." {
            return None;
        }
        components.push(component);
    }
    Some(components)
}

/// Greedy matching of segments against components; `AnyDepth` plays the role of `*`.
fn match_segments(segments: &[Segment<'_>], components: &[&[u8]]) -> bool {
    let mut segment_index = 0;
    let mut component_index = 0;
    // (segment index just after the latest `**`, component index it is retried from)
    let mut backtrack: Option<(usize, usize)> = None;
    while component_index < components.len() {
        match segments.get(segment_index) {
            Some(Segment::AnyDepth) => {
                segment_index += 1;
                backtrack = Some((segment_index, component_index));
                continue;
            }
            Some(Segment::Component(pattern)) => {
                if let Some(component) = components.get(component_index)
                    && match_component(pattern, component)
                {
                    segment_index += 1;
                    component_index += 1;
                    continue;
                }
            }
            None => {}
        }
        // Mismatch: let the latest `**` swallow one more component, or fail.
        let Some((resume_segment, resume_component)) = backtrack else {
            return false;
        };
        segment_index = resume_segment;
        component_index = resume_component + 1;
        backtrack = Some((resume_segment, component_index));
    }
    segments
        .get(segment_index..)
        .is_some_and(|rest| rest.iter().all(|segment| *segment == Segment::AnyDepth))
}

/// Greedy matching of one component pattern (`*` = any bytes) against one component.
fn match_component(pattern: &[u8], text: &[u8]) -> bool {
    let mut pattern_index = 0;
    let mut text_index = 0;
    let mut backtrack: Option<(usize, usize)> = None;
    while let Some(&byte) = text.get(text_index) {
        match pattern.get(pattern_index) {
            Some(b'*') => {
                pattern_index += 1;
                backtrack = Some((pattern_index, text_index));
                continue;
            }
            Some(&expected) if expected == byte => {
                pattern_index += 1;
                text_index += 1;
                continue;
            }
            _ => {}
        }
        let Some((resume_pattern, resume_text)) = backtrack else {
            return false;
        };
        pattern_index = resume_pattern;
        text_index = resume_text + 1;
        backtrack = Some((resume_pattern, text_index));
    }
    pattern
        .get(pattern_index..)
        .is_some_and(|rest| rest.iter().all(|byte| *byte == b'*'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, Instant};

    fn glob(pattern: &str) -> Glob {
        match Glob::new(pattern) {
            Ok(glob) => glob,
            Err(error) => panic!("{pattern}: {error}"),
        }
    }

    #[test]
    fn match_table() {
        let table: &[(&str, &[u8], bool)] = &[
            ("/", b"/", true),
            ("/", b"/a", false),
            ("/a", b"/a", true),
            ("/a", b"/b", false),
            ("/a", b"/a/b", false),
            ("/a/b", b"/a", false),
            ("/a/*", b"/a/b", true),
            ("/a/*", b"/a/.hidden", true),
            ("/a/*", b"/a", false),
            ("/a/*", b"/a/b/c", false),
            ("/a/*/c", b"/a/b/c", true),
            ("/a/*/c", b"/a/b/x/c", false),
            ("/a/**", b"/a", false),
            ("/a/**", b"/a/b", true),
            ("/a/**", b"/a/b/c/d", true),
            ("/a/**", b"/ab", false),
            ("/a/**/b", b"/a/b", true),
            ("/a/**/b", b"/a/x/b", true),
            ("/a/**/b", b"/a/x/y/b", true),
            ("/a/**/b", b"/a/x/y/c", false),
            ("/a/**/b", b"/a/b/c", false),
            ("/a/**/b/**", b"/a/x/b/y", true),
            ("/a/**/b/**", b"/a/x/b", false),
            ("/**", b"/", false),
            ("/**", b"/x", true),
            ("/**/x", b"/x", true),
            ("/**/x", b"/a/b/x", true),
            ("/*.log", b"/syslog.log", true),
            ("/*.log", b"/.log", true),
            ("/*.log", b"/log", false),
            ("/a*b*c", b"/abc", true),
            ("/a*b*c", b"/aXbYc", true),
            ("/a*b*c", b"/aXbYcZ", false),
            ("/a*", b"/a", true),
            ("/*", b"/", false),
            ("/var/log/*.log", b"/var/log/x.log", true),
            ("/var/log/*.log", b"/var/log/sub/x.log", false),
            // Non-UTF-8 path bytes: `*` matches them, literals compare bytes.
            ("/data/*", b"/data/\xff\xfe", true),
            ("/data/*.txt", b"/data/\xc3(.txt", true),
            ("/data/\u{e9}", b"/data/\xc3\xa9", true),
            ("/data/\u{e9}", b"/data/\xe9", false),
            // Not clean or not absolute: never matches.
            ("/**", b"", false),
            ("/**", b"a/b", false),
            ("/**", b"/a//b", false),
            ("/**", b"/a/", false),
            ("/**", b"/a/./b", false),
            ("/**", b"/a/../b", false),
            ("/**", b"/..", false),
            ("/**", b"/a\0b", false),
            ("/", b"//", false),
        ];
        for (pattern, path, expected) in table {
            assert_eq!(
                glob(pattern).matches(path),
                *expected,
                "{pattern} vs {:?}",
                String::from_utf8_lossy(path)
            );
        }
    }

    #[test]
    fn a_glob_within_a_text_is_the_glob_of_its_pattern() {
        let text = Arc::new(String::from("path = \"/srv/a*/b\"\npath = \"/x//y\"\n"));
        let shared = Glob::within(&text, 8..17).unwrap();
        assert_eq!(shared.as_str(), "/srv/a*/b");
        assert_eq!(shared, glob("/srv/a*/b"));
        assert_ne!(shared, glob("/srv/a*/c"));
        assert_eq!(shared.literal_prefix(), b"/srv");
        assert!(shared.matches(b"/srv/ab/b"));
        assert_eq!(
            Glob::within(&text, 27..32).err(),
            Some(GlobError::EmptyComponent)
        );
        // Out of the text, or not on a character boundary: an empty pattern, refused.
        assert_eq!(Glob::within(&text, 30..99).err(), Some(GlobError::Empty));
        let accented = Arc::new(String::from("/\u{e9}"));
        assert_eq!(Glob::within(&accented, 0..2).err(), Some(GlobError::Empty));
    }

    #[test]
    fn pattern_errors() {
        let table: &[(&str, GlobError)] = &[
            ("", GlobError::Empty),
            ("a/b", GlobError::NotAbsolute),
            ("*/b", GlobError::NotAbsolute),
            ("/a//b", GlobError::EmptyComponent),
            ("//", GlobError::TrailingSlash),
            ("/a/", GlobError::TrailingSlash),
            ("/a/./b", GlobError::DotComponent),
            ("/a/..", GlobError::DotDotComponent),
            ("/a**b", GlobError::DoubleStarInComponent),
            ("/a/**b", GlobError::DoubleStarInComponent),
            ("/a/***", GlobError::DoubleStarInComponent),
            ("/a?", GlobError::UnsupportedMetacharacter('?')),
            ("/[ab]", GlobError::UnsupportedMetacharacter('[')),
            ("/a]", GlobError::UnsupportedMetacharacter(']')),
            ("/{a,b}", GlobError::UnsupportedMetacharacter('{')),
            ("/a}", GlobError::UnsupportedMetacharacter('}')),
            ("/a\\*", GlobError::UnsupportedMetacharacter('\\')),
            ("/a\0", GlobError::NulByte),
        ];
        for (pattern, expected) in table {
            assert_eq!(
                Glob::new(pattern).as_ref().err(),
                Some(expected),
                "{pattern:?}"
            );
        }
        let long = format!("/{}", "a".repeat(MAX_PATTERN_LEN));
        assert_eq!(Glob::new(&long).err(), Some(GlobError::TooLong));
        assert!(
            GlobError::DoubleStarInComponent
                .to_string()
                .contains("whole path component")
        );
        assert!(
            GlobError::UnsupportedMetacharacter('?')
                .to_string()
                .contains("unsupported")
        );
    }

    #[test]
    fn pathological_inputs_are_fast() {
        let many_stars = format!("/{}b", "a*".repeat(1000));
        let component_path = format!("/{}", "a".repeat(4095));
        let many_double_stars = format!("{}/b", "/**/*a".repeat(400));
        let deep_path = "/a".repeat(2048);
        let cases: Vec<(String, String, bool)> = vec![
            (many_stars, component_path.clone(), false),
            (
                format!("/{}", "a*".repeat(1000)),
                component_path.clone(),
                true,
            ),
            (many_double_stars, deep_path.clone(), false),
            (
                "/**/**/**/**/**/**/**/**/**/**/**/b".to_owned(),
                deep_path.clone(),
                false,
            ),
            (format!("{}/b", "/*".repeat(1000)), deep_path.clone(), false),
            (format!("{}/a", "/**".repeat(1000)), deep_path.clone(), true),
            (
                format!("{}/*b", "/**/*a*a*a*a*a*a*a*a".repeat(100)),
                deep_path.clone(),
                false,
            ),
        ];
        for (pattern, path, expected) in cases {
            let glob = glob(&pattern);
            let start = Instant::now();
            let matched = glob.matches(path.as_bytes());
            let elapsed = start.elapsed();
            assert_eq!(matched, expected, "pattern of {} bytes", pattern.len());
            assert!(
                elapsed < Duration::from_millis(200),
                "{} ms for pattern of {} bytes",
                elapsed.as_millis(),
                pattern.len()
            );
        }
    }

    /// Obviously correct, exponential: straight from the definitions.
    fn reference_match(pattern: &str, path: &[u8]) -> Option<bool> {
        let components = clean_components(path)?;
        let rest = pattern.strip_prefix('/')?;
        let segments: Vec<&[u8]> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').map(str::as_bytes).collect()
        };
        Some(reference_segments(&segments, &components))
    }

    fn reference_segments(segments: &[&[u8]], components: &[&[u8]]) -> bool {
        match segments.split_first() {
            None => components.is_empty(),
            Some((&b"**", rest)) => {
                // Last `**`: one or more; elsewhere: zero or more.
                let minimum = usize::from(rest.is_empty());
                (minimum..=components.len()).any(|taken| {
                    reference_segments(rest, components.get(taken..).unwrap_or_default())
                })
            }
            Some((first, rest)) => match components.split_first() {
                Some((component, others)) => {
                    reference_component(first, component) && reference_segments(rest, others)
                }
                None => false,
            },
        }
    }

    fn reference_component(pattern: &[u8], text: &[u8]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some((b'*', rest)) => (0..=text.len())
                .any(|taken| reference_component(rest, text.get(taken..).unwrap_or_default())),
            Some((byte, rest)) => {
                text.first() == Some(byte)
                    && reference_component(rest, text.get(1..).unwrap_or_default())
            }
        }
    }

    fn component_strategy() -> impl Strategy<Value = String> {
        "[abc.]{1,4}".prop_filter("not a dot component", |component| {
            component != "." && component != ".."
        })
    }

    fn path_strategy() -> impl Strategy<Value = String> {
        proptest::collection::vec(component_strategy(), 0..6).prop_map(|components| {
            if components.is_empty() {
                "/".to_owned()
            } else {
                components.iter().map(|c| format!("/{c}")).collect()
            }
        })
    }

    fn pattern_component_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "[ab*.]{1,4}".prop_filter("valid component", |component| {
                component != "." && component != ".." && !component.contains("**")
            }),
            1 => Just("**".to_owned()),
        ]
    }

    fn pattern_strategy() -> impl Strategy<Value = String> {
        proptest::collection::vec(pattern_component_strategy(), 0..5).prop_map(|components| {
            if components.is_empty() {
                "/".to_owned()
            } else {
                components.iter().map(|c| format!("/{c}")).collect()
            }
        })
    }

    /// What [`Glob::quoted_within`] gives for `pattern` written as a basic string, followed by
    /// more of a line.
    fn quoted(pattern: &str) -> Option<Glob> {
        let text = Arc::new(format!("x = \"{pattern}\" # \""));
        let (glob, end) = Glob::quoted_within(&text, 4)?;
        assert_eq!(end, 5 + pattern.len(), "{pattern:?}");
        Some(glob)
    }

    #[test]
    fn the_quick_check_takes_what_is_valid_and_leaves_the_rest() {
        let valid = [
            "/",
            "/a",
            "/**",
            "/a/**/b/*.log",
            "/.hidden/..x/x../.../*.*",
            "/a\tb",
            "/\u{e9}t\u{e9}/*",
            "/a\"b",
        ];
        for pattern in valid {
            let checked = Glob::diagnose(pattern).expect(pattern);
            assert_eq!(
                quick_check(pattern.as_bytes(), 0, &PATTERN),
                Some((checked, pattern.len()))
            );
        }
        for pattern in [
            "", "a", "//", "/a/", "/./a", "/a/..", "/a**", "/***", "/a?", "/a\0b",
        ] {
            assert!(Glob::diagnose(pattern).is_err(), "{pattern:?}");
            assert_eq!(
                quick_check(pattern.as_bytes(), 0, &PATTERN),
                None,
                "{pattern:?}"
            );
        }
        assert_eq!(quoted("/a/**/b/*.log"), Some(glob("/a/**/b/*.log")));
        assert_eq!(quoted("/"), Some(glob("/")));
        assert_eq!(quoted("/a\tb"), Some(glob("/a\tb")));
        // Strings the parser must read itself, and patterns with errors.
        for pattern in [
            "", "\"\"/a", "/a\\b", "/a\nb", "/a\rb", "/a\u{7f}", "/a/", "/a?",
        ] {
            assert_eq!(quoted(pattern), None, "{pattern:?}");
        }
        let unterminated = Arc::new(String::from("path = \"/a/b"));
        assert!(Glob::quoted_within(&unterminated, 7).is_none());
        let long = format!("/{}", "a".repeat(MAX_PATTERN_LEN));
        assert_eq!(quoted(&long), None);
        assert!(quoted(&long[..MAX_PATTERN_LEN]).is_some());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn the_quick_check_agrees_with_the_whole_one(pattern in "[a/]?(/[a*.?\"\t\\\\\0\u{e9}]{0,3}){0,4}") {
            let quick = quick_check(pattern.as_bytes(), 0, &PATTERN);
            prop_assert_eq!(quick.map(|(checked, _)| checked), Glob::diagnose(&pattern).ok());
            if let Some((_, end)) = quick {
                prop_assert_eq!(end, pattern.len());
            }
            let plain_string = !pattern.contains(['"', '\\', '\0']);
            if plain_string {
                let described = |glob: Glob| {
                    (glob.to_string(), glob.literal_prefix().to_vec(), glob.literal_prefix_depth())
                };
                prop_assert_eq!(quoted(&pattern).map(described), Glob::new(&pattern).ok().map(described));
            }
        }

        #[test]
        fn literal_pattern_matches_exactly_itself(path in path_strategy(), other in path_strategy()) {
            let glob = glob(&path);
            prop_assert!(glob.matches(path.as_bytes()));
            prop_assert_eq!(glob.matches(other.as_bytes()), other == path);
        }

        #[test]
        fn star_for_any_one_component_still_matches(path in path_strategy(), index in any::<prop::sample::Index>()) {
            let components: Vec<&str> = path.split('/').skip(1).filter(|c| !c.is_empty()).collect();
            prop_assume!(!components.is_empty());
            let replaced = index.index(components.len());
            let pattern: String = components
                .iter()
                .enumerate()
                .map(|(position, component)| if position == replaced { "/*".to_owned() } else { format!("/{component}") })
                .collect();
            prop_assert!(glob(&pattern).matches(path.as_bytes()));
        }

        #[test]
        fn prefix_double_star_matches_strictly_deeper(prefix in path_strategy(), below in path_strategy()) {
            let pattern = if prefix == "/" { "/**".to_owned() } else { format!("{prefix}/**") };
            let glob = glob(&pattern);
            prop_assert!(!glob.matches(prefix.as_bytes()));
            let deeper = if prefix == "/" { below.clone() } else { format!("{prefix}{below}") };
            prop_assert_eq!(glob.matches(deeper.as_bytes()), below != "/");
        }

        #[test]
        fn never_panics_on_arbitrary_bytes(pattern in ".{0,40}", path in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(glob) = Glob::new(&pattern) {
                let _ = glob.matches(&path);
            }
        }

        #[test]
        fn agrees_with_reference(pattern in pattern_strategy(), path in path_strategy()) {
            let glob = glob(&pattern);
            prop_assert_eq!(Some(glob.matches(path.as_bytes())), reference_match(&pattern, path.as_bytes()));
        }
    }
}
