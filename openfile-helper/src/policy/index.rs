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
use std::hash::{BuildHasherDefault, Hasher};

use super::rule::Rule;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PrefixIndex {
    /// Hash of a literal prefix to the last rule indexed with it. Keyed by hash alone, so that
    /// indexing a rule allocates nothing of its own: two prefixes with the same hash only share
    /// a chain, which adds candidates and never loses one.
    last_by_prefix: HashMap<u64, usize, BuildHasherDefault<AlreadyHashed>>,
    /// For the rule at each position, the rule before it with the same prefix hash, if any.
    earlier: Vec<Option<usize>>,
    /// The most components any indexed prefix has: no longer part of a path needs a lookup.
    deepest: usize,
}

impl PrefixIndex {
    /// Indexes `rules`, which come at positions `first..` of the policy (the positions already
    /// indexed, one file after another).
    pub(crate) fn add(&mut self, first: usize, rules: &[Rule]) {
        debug_assert_eq!(first, self.earlier.len());
        self.earlier.reserve(rules.len());
        self.last_by_prefix.reserve(rules.len());
        for (offset, rule) in rules.iter().enumerate() {
            let hash = rule
                .path
                .literal_prefix()
                .iter()
                .fold(PrefixHash::EMPTY, PrefixHash::then)
                .0;
            self.deepest = self.deepest.max(rule.path.literal_prefix_depth());
            self.earlier
                .push(self.last_by_prefix.insert(hash, first + offset));
        }
    }

    /// The positions of the rules that could match `path`, in ascending order. `path` must be
    /// absolute and clean (the caller has checked it with `clean_components`), so its
    /// component boundaries are exactly its `/` bytes.
    pub(crate) fn candidates(&self, path: &[u8]) -> Vec<usize> {
        let mut candidates = Vec::new();
        let mut add_chain = |hash: PrefixHash| {
            let mut next = self.last_by_prefix.get(&hash.0).copied();
            while let Some(position) = next {
                candidates.push(position);
                next = self.earlier.get(position).copied().flatten();
            }
        };
        // The empty prefix (rules of `/` and of a leading wildcard), then each leading part of
        // the path, as deep as any rule's prefix goes.
        let mut hash = PrefixHash::EMPTY;
        add_chain(hash);
        let mut depth = 0;
        for (position, byte) in path.iter().enumerate() {
            if position > 0 && *byte == b'/' {
                depth += 1;
                if depth > self.deepest {
                    break;
                }
                add_chain(hash);
            }
            hash = hash.then(byte);
        }
        if path.len() > 1 && depth < self.deepest {
            add_chain(hash);
        }
        // Chains run backwards and interleave across prefixes: policy order is restored here.
        // Two leading parts of the path with one hash would give the same chain twice.
        candidates.sort_unstable();
        candidates.dedup();
        candidates
    }
}

/// FNV-1a over the bytes of a prefix, taken a byte at a time so that a request hashes each
/// leading part of its path on the way.
#[derive(Clone, Copy)]
struct PrefixHash(u64);

impl PrefixHash {
    const EMPTY: PrefixHash = PrefixHash(0xcbf2_9ce4_8422_2325);

    fn then(self, byte: &u8) -> PrefixHash {
        PrefixHash((self.0 ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3))
    }
}

/// The map's keys are hashes already: hashing them again would only cost time. Only the
/// policy's own prefixes are inserted, so a caller cannot choose the keys.
#[derive(Default)]
struct AlreadyHashed(u64);

impl Hasher for AlreadyHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 << 8) | u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}
