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
//! | `load` | reading the policy files through checked descriptors (P7), and the compiled policy |
//! | `compiled` | a parsed policy as bytes, and decisions read from those bytes |
//! | `error` | errors and warnings |

mod access;
mod compiled;
mod decide;
mod error;
mod glob;
mod index;
mod load;
mod parse;
mod rule;
#[cfg(test)]
pub(crate) mod toml_reference;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use access::{Access, AccessSet, FlagsError};
pub use compiled::{CompiledPolicy, Damaged, NameAnswers, NameKind, Recording, TooLarge};
pub use decide::{Decision, Reason};
pub use error::{FileProblem, PolicyError, Warning};
pub use glob::{Glob, GlobError, MAX_PATTERN_LEN};
pub use load::{
    CompileError, Compiled, CompiledState, MAX_COMPILED_SIZE, MAX_POLICY_FILE_SIZE, OpenAt,
    PolicyStamp, SETTLE_TIME, compile, compiled_agrees_with_sources, compiled_may_exist,
    compiled_path, load, read_compiled_with, read_policy_file, read_sources,
    read_sources_stamped_with, read_sources_with, stamp_with,
};
pub use parse::{LookupFailed, NameResolver};
pub use rule::{FileType, FileTypeSet, Identity, Ids, Rule, RuleKind, RuleOrigin, Subjects};

/// The rules of every policy file, in order: policy.toml first, then drop-ins by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    rules: Rules,
}

/// Where a policy's rules are: parsed from its sources, or in a compiled policy's bytes. Either
/// way a decision looks only at the rules that could match its path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Rules {
    Parsed {
        rules: Vec<Rule>,
        /// Which of `rules` could match a path.
        index: index::PrefixIndex,
    },
    Compiled(Arc<CompiledPolicy>),
}

impl Default for Rules {
    fn default() -> Rules {
        Rules::Parsed {
            rules: Vec::new(),
            index: index::PrefixIndex::default(),
        }
    }
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

    /// The policy of a compiled policy's rules.
    pub fn from_compiled(compiled: CompiledPolicy) -> Policy {
        Policy {
            rules: Rules::Compiled(Arc::new(compiled)),
        }
    }

    /// Appends the rules of the next file (of a policy made from sources: a compiled policy
    /// takes no more).
    pub fn add_rules(&mut self, added: Vec<Rule>) {
        let Rules::Parsed { rules, index } = &mut self.rules else {
            debug_assert!(false, "rules added to a compiled policy");
            return;
        };
        index.add(rules.len(), &added);
        // The first file's rules are taken as they are, not copied.
        if rules.is_empty() {
            *rules = added;
        } else {
            rules.extend(added);
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

    /// The rules of a policy made from sources; `None` for a compiled one, whose rules are read
    /// one at a time ([`Policy::for_each_rule`]).
    pub fn parsed_rules(&self) -> Option<&[Rule]> {
        match &self.rules {
            Rules::Parsed { rules, .. } => Some(rules),
            Rules::Compiled(_) => None,
        }
    }

    pub fn rule_count(&self) -> usize {
        match &self.rules {
            Rules::Parsed { rules, .. } => rules.len(),
            Rules::Compiled(compiled) => compiled.rule_count(),
        }
    }

    /// Calls `each` with every rule, in policy order, whose kind and subjects `keep` accepts. A
    /// compiled policy makes only those rules' globs; a rule of it that does not decode ends the
    /// walk with an error.
    pub fn for_each_rule(
        &self,
        keep: &dyn Fn(RuleKind, &Subjects) -> bool,
        each: &mut dyn FnMut(&Rule),
    ) -> Result<(), Damaged> {
        match &self.rules {
            Rules::Parsed { rules, .. } => {
                for rule in rules.iter().filter(|rule| keep(rule.kind, &rule.subjects)) {
                    each(rule);
                }
                Ok(())
            }
            Rules::Compiled(compiled) => compiled.for_each_rule(keep, each),
        }
    }

    /// Calls `each` with every allow rule that can grant `who` ([`Subjects::matches`]), in policy
    /// order. A compiled policy finds them in its grants, reading no other rule.
    pub fn for_each_grant_to(
        &self,
        who: &Identity,
        each: &mut dyn FnMut(&Rule),
    ) -> Result<(), Damaged> {
        match &self.rules {
            Rules::Parsed { rules, .. } => {
                rules
                    .iter()
                    .filter(|rule| rule.kind == RuleKind::Allow && rule.subjects.matches(who))
                    .for_each(each);
                Ok(())
            }
            Rules::Compiled(compiled) => compiled.for_each_grant_to(who, each),
        }
    }

    /// Checks every part and rule of a compiled policy (a parsed one is whole by construction).
    pub fn verify(&self) -> Result<(), Damaged> {
        match &self.rules {
            Rules::Parsed { .. } => Ok(()),
            Rules::Compiled(compiled) => compiled.verify(),
        }
    }

    /// This policy with its rules in memory: a compiled policy's rules decoded, each checked, and
    /// indexed again, for a process that serves many requests (a session, a daemon worker) and
    /// draws its fence from every rule.
    pub fn in_memory(self) -> Result<Policy, Damaged> {
        match &self.rules {
            Rules::Parsed { .. } => Ok(self),
            Rules::Compiled(compiled) => {
                let mut rules = Vec::with_capacity(compiled.rule_count());
                compiled.for_each_rule(&|_, _| true, &mut |rule| rules.push(rule.clone()))?;
                let mut policy = Policy::new();
                policy.add_rules(rules);
                Ok(policy)
            }
        }
    }

    /// The compiled bytes of this policy, parsed from `files` with `stamp`, its names answered
    /// as `names` says; `None` for a policy that is itself compiled.
    pub fn compile(
        &self,
        files: &[PathBuf],
        stamp: &PolicyStamp,
        names: &NameAnswers,
    ) -> Option<Result<Vec<u8>, TooLarge>> {
        match &self.rules {
            Rules::Parsed { rules, index } => {
                Some(compiled::encode(rules, index, files, stamp, names))
            }
            Rules::Compiled(_) => None,
        }
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
        match &self.rules {
            Rules::Parsed { rules, index } => {
                decide::decide(rules, Some(index), who, path, access, file_type)
            }
            Rules::Compiled(compiled) => {
                decide::decide_among(who, path, access, file_type, |path| {
                    let rules = compiled.candidates(path).ok()?;
                    Some(rules.into_iter().map(Cow::Owned).collect())
                })
            }
        }
    }

    /// The rules of a policy made from sources, for tests that look at them.
    #[cfg(test)]
    pub(crate) fn rules(&self) -> &[Rule] {
        self.parsed_rules().expect("a policy made from sources")
    }

    /// The prefix index of a policy made from sources.
    #[cfg(test)]
    pub(crate) fn parsed_index(&self) -> &index::PrefixIndex {
        match &self.rules {
            Rules::Parsed { index, .. } => index,
            Rules::Compiled(_) => panic!("a compiled policy has no index in memory"),
        }
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
        let rules = self.parsed_rules().unwrap_or_default();
        decide::decide(rules, None, who, path, access, file_type)
    }
}

#[cfg(test)]
pub(crate) mod tests;
