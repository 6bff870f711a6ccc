//! The decision: given who asks, for which path, what access and (once known) what type, which
//! rule decides and why.

use std::borrow::Cow;
use std::fmt;

use super::access::AccessSet;
use super::glob::clean_components;
use super::index::PrefixIndex;
use super::rule::{FileType, Identity, Rule, RuleKind, RuleOrigin};

/// Why a request was allowed or refused. Every refusal is EACCES for the caller; the reason is
/// for `--explain` and the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// An allow rule matched path, identity, every needed access word and (if known) the type.
    Allowed,
    /// A deny rule matched; deny always wins.
    DeniedByRule,
    /// No allow rule covers this path for this identity.
    NoMatchingRule,
    /// An allow rule covers path and identity but does not grant all of the access needed;
    /// `missing` is what the first such rule lacks.
    AccessNotGranted { missing: AccessSet },
    /// An allow rule grants the access but not for this type of object.
    TypeNotAllowed { file_type: FileType },
    /// The path is not absolute and lexically clean, so no rule can speak about it.
    PathNotClean,
    /// The request asked for no access at all; refused rather than guessed at.
    NothingRequested,
    /// A rule the decision had to look at could not be read from the compiled policy: refused,
    /// since that rule might have been a deny.
    CompiledPolicyDamaged,
}

impl fmt::Display for Reason {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Allowed => formatter.write_str("allowed"),
            Reason::DeniedByRule => formatter.write_str("denied by a deny rule"),
            Reason::NoMatchingRule => {
                formatter.write_str("no allow rule covers this path for this user")
            }
            Reason::AccessNotGranted { missing } => {
                write!(
                    formatter,
                    "the matching allow rule does not grant {missing}"
                )
            }
            Reason::TypeNotAllowed { file_type } => {
                write!(
                    formatter,
                    "the matching allow rule does not allow type {file_type}"
                )
            }
            Reason::PathNotClean => {
                formatter.write_str("the path is not absolute and lexically clean")
            }
            Reason::NothingRequested => formatter.write_str("no access was requested"),
            Reason::CompiledPolicyDamaged => formatter.write_str(
                "a rule of the compiled policy is damaged (run openfile-helper --compile again)",
            ),
        }
    }
}

/// The outcome of [`super::Policy::decide`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The rule that decided (or, for `AccessNotGranted` and `TypeNotAllowed`, the rule that
    /// came closest); `None` when no rule matched.
    pub rule: Option<RuleOrigin>,
    pub reason: Reason,
}

impl fmt::Display for Decision {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(if self.allowed { "allow" } else { "deny" })?;
        if let Some(rule) = &self.rule {
            write!(formatter, " (rule {rule})")?;
        }
        if !self.allowed {
            write!(formatter, ": {}", self.reason)?;
        }
        Ok(())
    }
}

impl Decision {
    fn deny(reason: Reason, rule: Option<&Rule>) -> Decision {
        Decision {
            allowed: false,
            rule: rule.map(|rule| rule.origin.clone()),
            reason,
        }
    }
}

/// Decides a request under `rules`. With an `index` of those rules, only the rules it names as
/// candidates for the path are looked at; without one, every rule is (the reference the index
/// is tested against). Either way the first matching deny, the first sufficient allow and the
/// closest rules are those of the policy's order, since the rules left out cannot match.
pub(crate) fn decide(
    rules: &[Rule],
    index: Option<&PrefixIndex>,
    who: &Identity,
    path: &[u8],
    access: AccessSet,
    file_type: Option<FileType>,
) -> Decision {
    decide_among(who, path, access, file_type, |path| {
        Some(match index {
            // The index was built from these very rules, so every position is in range; were it
            // not, the panic would abort the helper (its panic hook), which grants nothing.
            Some(index) => index
                .candidates(path)
                .into_iter()
                .map(|position| Cow::Borrowed(&rules[position]))
                .collect(),
            None => rules.iter().map(Cow::Borrowed).collect(),
        })
    })
}

/// Decides a request among the rules `candidates` gives for its (clean) path, in policy order:
/// every rule that could match it. `None` from `candidates` (a compiled policy that could not
/// give them) refuses.
pub(crate) fn decide_among<'a>(
    who: &Identity,
    path: &[u8],
    access: AccessSet,
    file_type: Option<FileType>,
    candidates: impl FnOnce(&[u8]) -> Option<Vec<Cow<'a, Rule>>>,
) -> Decision {
    if access.is_empty() {
        return Decision::deny(Reason::NothingRequested, None);
    }
    let Some(components) = clean_components(path) else {
        return Decision::deny(Reason::PathNotClean, None);
    };
    let Some(owned) = candidates(path) else {
        return Decision::deny(Reason::CompiledPolicyDamaged, None);
    };
    let candidates: Vec<&Rule> = owned.iter().map(AsRef::as_ref).collect();
    let applies = |rule: &Rule| {
        let subjects_match = match rule.kind {
            RuleKind::Allow => rule.subjects.matches(who),
            RuleKind::Deny => rule.subjects.matches_for_deny(who),
        };
        subjects_match && rule.path.matches_components(&components)
    };

    for rule in candidates.iter().filter(|rule| rule.kind == RuleKind::Deny) {
        // Before the type is known, only a deny that is not limited by type can act; a
        // type-limited deny is checked again once the caller knows the type.
        let type_applies = match file_type {
            Some(file_type) => rule.applies_to_type(file_type),
            None => rule.types.is_none(),
        };
        if type_applies
            && !access.intersection(rule.access.effective_deny()).is_empty()
            && applies(rule)
        {
            return Decision::deny(Reason::DeniedByRule, Some(rule));
        }
    }

    let mut closest_by_access: Option<(&Rule, AccessSet)> = None;
    let mut closest_by_type: Option<(&Rule, FileType)> = None;
    for rule in candidates
        .iter()
        .filter(|rule| rule.kind == RuleKind::Allow)
    {
        if !applies(rule) {
            continue;
        }
        // One rule must grant everything: two partial grants do not add up, so a rule written
        // for readers never becomes half of a write permission.
        let missing = access.missing_from(rule.access);
        if !missing.is_empty() {
            closest_by_access.get_or_insert((rule, missing));
            continue;
        }
        if let Some(file_type) = file_type
            && !rule.applies_to_type(file_type)
        {
            closest_by_type.get_or_insert((rule, file_type));
            continue;
        }
        return Decision {
            allowed: true,
            rule: Some(rule.origin.clone()),
            reason: Reason::Allowed,
        };
    }
    match (closest_by_type, closest_by_access) {
        (Some((rule, file_type)), _) => {
            Decision::deny(Reason::TypeNotAllowed { file_type }, Some(rule))
        }
        (None, Some((rule, missing))) => {
            Decision::deny(Reason::AccessNotGranted { missing }, Some(rule))
        }
        (None, None) => Decision::deny(Reason::NoMatchingRule, None),
    }
}
