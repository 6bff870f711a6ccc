//! The policy engine of openfile-helper: who may open which paths, how, and which types.
//!
//! Everything here but [`load`] is pure (no I/O, no process state), so it can be unit-tested
//! and fuzzed on its own. See DESIGN.md, "Policy" and properties P1, P2, P3, P4, P7.
//!
//! | module | job |
//! | --- | --- |
//! | `access` | access words, and open(2) flags to the access a request needs |
//! | `glob` | `*` / `**` path globs, matched on bytes in bounded time |
//! | `rule` | file types, identities, subjects, rules and where they came from |
//! | `parse` | policy text (a subset of TOML) to rules, errors and warnings with file:line |
//! | `decide` | which rule decides a request, and why |
//! | `index` | which rules could match a path, by the literal prefix of their globs |
//! | `load` | reading the policy files through checked descriptors (P7) |
//! | `error` | errors and warnings |

mod access;
mod decide;
mod error;
mod glob;
mod index;
mod load;
mod parse;
mod rule;
#[cfg(test)]
pub(crate) mod toml_reference;

use std::path::{Path, PathBuf};

pub use access::{Access, AccessSet, FlagsError};
pub use decide::{Decision, Reason};
pub use error::{FileProblem, PolicyError, Warning};
pub use glob::{Glob, GlobError, MAX_PATTERN_LEN};
pub use load::{
    MAX_POLICY_FILE_SIZE, OpenAt, PolicyStamp, load, read_policy_file, read_sources,
    read_sources_stamped_with, read_sources_with, stamp_with,
};
pub use parse::{LookupFailed, NameResolver};
pub use rule::{FileType, FileTypeSet, Identity, Ids, Rule, RuleKind, RuleOrigin, Subjects};

/// The rules of every policy file, in order: policy.toml first, then drop-ins by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    rules: Vec<Rule>,
    /// Which of `rules` could match a path: a decision looks at those alone.
    index: index::PrefixIndex,
}

/// A policy together with what loading it had to say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedPolicy {
    pub policy: Policy,
    pub warnings: Vec<Warning>,
    /// The files read, in the order their rules were added.
    pub files: Vec<PathBuf>,
}

impl Policy {
    /// An empty policy, which allows nothing.
    pub fn new() -> Policy {
        Policy::default()
    }

    /// Parses the text of one policy file. `file` is only used to name the origin of rules,
    /// errors and warnings.
    pub fn parse(
        text: &str,
        file: &Path,
        resolver: &dyn NameResolver,
    ) -> Result<(Vec<Rule>, Vec<Warning>), PolicyError> {
        parse::parse_policy(text, file, resolver)
    }

    /// Appends the rules of the next file.
    pub fn add_rules(&mut self, rules: Vec<Rule>) {
        self.index.add(self.rules.len(), &rules);
        // The first file's rules are taken as they are, not copied.
        if self.rules.is_empty() {
            self.rules = rules;
        } else {
            self.rules.extend(rules);
        }
    }

    /// Parses several files' texts, in the order given, into one policy. The first error stops
    /// everything: a policy that is partly broken is not used at all (P7).
    pub fn from_sources<'a>(
        sources: impl IntoIterator<Item = (&'a Path, &'a str)>,
        resolver: &dyn NameResolver,
    ) -> Result<LoadedPolicy, PolicyError> {
        Policy::from_owned_sources(
            sources
                .into_iter()
                .map(|(file, text)| (file.to_path_buf(), text.to_owned()))
                .collect(),
            resolver,
        )
    }

    /// [`Policy::from_sources`] of texts the caller gives up, as the helper's loads do with what
    /// they read: each is kept as it is for its rules' globs, not copied.
    pub fn from_owned_sources(
        sources: Vec<(PathBuf, String)>,
        resolver: &dyn NameResolver,
    ) -> Result<LoadedPolicy, PolicyError> {
        let mut loaded = LoadedPolicy {
            policy: Policy::new(),
            warnings: Vec::new(),
            files: Vec::new(),
        };
        for (file, text) in sources {
            let (rules, warnings) = parse::parse_owned_policy(text, &file, resolver)?;
            loaded.policy.add_rules(rules);
            loaded.warnings.extend(warnings);
            loaded.files.push(file);
        }
        Ok(loaded)
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Decides a request.
    ///
    /// * `file_type: None` is the lexical pre-check, before anything touches the filesystem
    ///   (P1): any deny not limited by `types` is applied, and some allow must cover path,
    ///   identity and every access word.
    /// * `file_type: Some(t)` is the final check on the opened object (P2, P3): additionally
    ///   type-limited denies listing `t` apply, and the allow must list `t`.
    ///
    /// Deny always wins. One allow rule must grant all the needed access; the first such rule
    /// decides. Only the rules whose literal prefix the path shares are looked at (`index`), so
    /// the cost follows those, not the size of the policy.
    pub fn decide(
        &self,
        who: &Identity,
        path: &[u8],
        access: AccessSet,
        file_type: Option<FileType>,
    ) -> Decision {
        decide::decide(&self.rules, Some(&self.index), who, path, access, file_type)
    }

    /// [`Policy::decide`] looking at every rule, without the index: the reference the index is
    /// tested against.
    #[cfg(test)]
    pub(crate) fn decide_by_scanning(
        &self,
        who: &Identity,
        path: &[u8],
        access: AccessSet,
        file_type: Option<FileType>,
    ) -> Decision {
        decide::decide(&self.rules, None, who, path, access, file_type)
    }
}

#[cfg(test)]
mod tests;
