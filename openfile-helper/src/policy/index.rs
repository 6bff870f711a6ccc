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

use super::rule::Rule;

#[derive(Clone, Debug, Default)]
pub(crate) struct PrefixIndex {
    /// Hash of a literal prefix to the last rule indexed with it. Keyed by hash alone, so that
    /// indexing a rule allocates nothing of its own: two prefixes with the same hash only share
    /// a chain, which adds candidates and never loses one.
    last_by_prefix: LastByPrefix,
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
        self.last_by_prefix.make_room(rules.len());
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
        candidates_in(self, path)
    }

    /// The index as a compiled policy stores it: each slot of the table (hash and last rule, or
    /// empty), the rule before each rule in its chain, and the deepest prefix.
    pub(crate) fn parts(&self) -> (&[Option<Slot>], &[Option<usize>], usize) {
        (&self.last_by_prefix.slots, &self.earlier, self.deepest)
    }
}

/// What a look-up of candidates needs from an index: the in-memory [`PrefixIndex`] of a parsed
/// policy, or the table stored in a compiled one. One walk serves both, so a compiled policy
/// finds exactly the candidates its source would.
pub(crate) trait PrefixTable {
    /// The last rule indexed with this prefix hash.
    fn last_with(&self, hash: u64) -> Option<usize>;
    /// The rule before `position` in its chain.
    fn earlier_than(&self, position: usize) -> Option<usize>;
    /// The most components any indexed prefix has.
    fn deepest(&self) -> usize;
}

impl PrefixTable for PrefixIndex {
    fn last_with(&self, hash: u64) -> Option<usize> {
        self.last_by_prefix.get(hash)
    }

    fn earlier_than(&self, position: usize) -> Option<usize> {
        self.earlier.get(position).copied().flatten()
    }

    fn deepest(&self) -> usize {
        self.deepest
    }
}

/// [`PrefixIndex::candidates`] in any [`PrefixTable`].
pub(crate) fn candidates_in(table: &impl PrefixTable, path: &[u8]) -> Vec<usize> {
    let mut candidates = Vec::new();
    let mut add_chain = |hash: PrefixHash| {
        let mut next = table.last_with(hash.0);
        while let Some(position) = next {
            candidates.push(position);
            // A chain runs strictly backwards, which also ends any cycle a damaged compiled
            // policy could describe.
            next = table
                .earlier_than(position)
                .filter(|earlier| *earlier < position);
        }
    };
    // The empty prefix (rules of `/` and of a leading wildcard), then each leading part of
    // the path, as deep as any rule's prefix goes.
    let deepest = table.deepest();
    let mut hash = PrefixHash::EMPTY;
    add_chain(hash);
    let mut depth = 0;
    for (position, byte) in path.iter().enumerate() {
        if position > 0 && *byte == b'/' {
            depth += 1;
            if depth > deepest {
                break;
            }
            add_chain(hash);
        }
        hash = hash.then(byte);
    }
    if path.len() > 1 && depth < deepest {
        add_chain(hash);
    }
    // Chains run backwards and interleave across prefixes: policy order is restored here.
    // Two leading parts of the path with one hash would give the same chain twice.
    candidates.sort_unstable();
    candidates.dedup();
    candidates
}

/// Where a hash's probe starts in a table of `length` slots (a power of two): its top bits,
/// spread by a multiplication (FNV-1a's low bits depend only on the low bits of the bytes).
pub(crate) fn probe_start(hash: u64, length: usize) -> usize {
    let bits = length.trailing_zeros();
    let spread = hash.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    usize::try_from(spread.checked_shr(64 - bits).unwrap_or(0)).unwrap_or(0)
}

/// The last rule of `hash` in a table of `length` slots (a power of two) that `slot_at` reads:
/// linear probing from [`probe_start`], at most once round the table, so that a table with no
/// empty slot (which a damaged compiled policy could hold) still ends the search.
pub(crate) fn probe(
    hash: u64,
    length: usize,
    slot_at: impl Fn(usize) -> Option<Slot>,
) -> Option<usize> {
    if length == 0 || !length.is_power_of_two() {
        return None;
    }
    let mask = length - 1;
    let mut index = probe_start(hash, length);
    for _ in 0..length {
        match slot_at(index) {
            Some(slot) if slot.hash == hash => return Some(slot.last),
            Some(_) => index = (index + 1) & mask,
            None => return None,
        }
    }
    None
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

/// Two indexes are equal when they lead from the same prefixes to the same rules, however
/// their tables were sized.
impl PartialEq for PrefixIndex {
    fn eq(&self, other: &PrefixIndex) -> bool {
        self.earlier == other.earlier
            && self.deepest == other.deepest
            && self.last_by_prefix.used == other.last_by_prefix.used
            && self
                .last_by_prefix
                .entries()
                .all(|(hash, last)| other.last_by_prefix.get(hash) == Some(last))
    }
}

impl Eq for PrefixIndex {}

/// A map from prefix hash to rule position, its own open-addressing table (linear probing,
/// a power of two long, at most half full) rather than a `HashMap`: indexing a rule is then a
/// probe or two, where the map's insert cost loading a large policy some 60 instructions a
/// rule. Only the policy's own prefixes are inserted, so a caller cannot choose the keys.
#[derive(Clone, Debug, Default)]
struct LastByPrefix {
    slots: Vec<Option<Slot>>,
    used: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    pub(crate) hash: u64,
    pub(crate) last: usize,
}

impl LastByPrefix {
    /// Room for `more` keys besides those there, so that inserting them never grows the table.
    fn make_room(&mut self, more: usize) {
        let wanted = self.used.saturating_add(more).saturating_mul(2);
        if wanted <= self.slots.len() {
            return;
        }
        let length = wanted.next_power_of_two().max(16);
        let old = std::mem::replace(&mut self.slots, vec![None; length]);
        self.used = 0;
        for slot in old.into_iter().flatten() {
            self.insert(slot.hash, slot.last);
        }
    }

    /// Sets the last rule for `hash`, giving back the one before. [`LastByPrefix::make_room`]
    /// must have made room for it.
    fn insert(&mut self, hash: u64, last: usize) -> Option<usize> {
        let mask = self.slots.len() - 1;
        let mut index = probe_start(hash, self.slots.len());
        loop {
            match &mut self.slots[index] {
                Some(slot) if slot.hash == hash => {
                    return Some(std::mem::replace(&mut slot.last, last));
                }
                Some(_) => index = (index + 1) & mask,
                empty => {
                    *empty = Some(Slot { hash, last });
                    self.used += 1;
                    return None;
                }
            }
        }
    }

    fn get(&self, hash: u64) -> Option<usize> {
        probe(hash, self.slots.len(), |index| {
            self.slots.get(index).copied().flatten()
        })
    }

    /// Every hash and its last rule.
    fn entries(&self) -> impl Iterator<Item = (u64, usize)> + '_ {
        self.slots
            .iter()
            .flatten()
            .map(|slot| (slot.hash, slot.last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_keeps_the_last_rule_of_each_hash_as_it_grows() {
        let mut table = LastByPrefix::default();
        assert_eq!(table.get(7), None);
        let mut expected = std::collections::HashMap::new();
        for position in 0..1000 {
            if position % 100 == 0 {
                table.make_room(100);
            }
            // Few distinct hashes, some colliding in their probe start, and 0 among them.
            let hash = (position as u64 % 37) << 58;
            assert_eq!(
                table.insert(hash, position),
                expected.insert(hash, position)
            );
        }
        for (hash, last) in &expected {
            assert_eq!(table.get(*hash), Some(*last));
        }
        assert_eq!(table.get(1), None);
        assert_eq!(table.used, expected.len());
        assert_eq!(table.entries().count(), expected.len());
    }
}
