//! The rules that could match a path, found without looking at the others.
//!
//! A rule's glob can only match paths that start with its literal prefix (the leading
//! components without `*`, see [`Glob::literal_prefix`](super::glob::Glob)). The index maps
//! each prefix to the rules that have it, in policy order; a request looks up each leading part
//! of its own path (`/`, `/srv`, `/srv/app3`, ...) and gets every rule that could match, so the
//! cost of a decision follows the rules that share the path's prefixes, not the size of the
//! policy. Rules whose glob starts with a wildcard are under the empty prefix and are always
//! candidates. The candidates still get the whole check ([`super::decide`]): the index only
//! leaves out rules whose glob cannot match, so it never changes a decision.

use std::collections::HashMap;

use super::rule::Rule;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PrefixIndex {
    /// Literal prefix (as bytes of the glob, `""` for none) to the positions of its rules, in
    /// ascending order.
    by_prefix: HashMap<Box<[u8]>, Vec<usize>>,
    /// The most components any indexed prefix has: no longer part of a path needs a lookup.
    deepest: usize,
}

impl PrefixIndex {
    /// Indexes `rules`, which come at positions `first..` of the policy.
    pub(crate) fn add(&mut self, first: usize, rules: &[Rule]) {
        for (offset, rule) in rules.iter().enumerate() {
            let prefix = rule.path.literal_prefix();
            let depth = prefix.iter().filter(|byte| **byte == b'/').count();
            self.deepest = self.deepest.max(depth);
            match self.by_prefix.get_mut(prefix) {
                Some(positions) => positions.push(first + offset),
                None => {
                    self.by_prefix.insert(prefix.into(), vec![first + offset]);
                }
            }
        }
    }

    /// The positions of the rules that could match `path`, in ascending order. `path` must be
    /// absolute and clean (the caller has checked it with `clean_components`), so its
    /// component boundaries are exactly its `/` bytes.
    pub(crate) fn candidates(&self, path: &[u8]) -> Vec<usize> {
        let ends = path
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(_, byte)| **byte == b'/')
            .map(|(position, _)| position)
            .chain((path.len() > 1).then_some(path.len()));
        let mut candidates = Vec::new();
        for end in std::iter::once(0).chain(ends).take(self.deepest + 1) {
            if let Some(positions) = self.by_prefix.get(&path[..end]) {
                candidates.extend_from_slice(positions);
            }
        }
        // Each list is sorted; those of different prefixes interleave in policy order.
        candidates.sort_unstable();
        candidates
    }
}
