//! Folded place names to places, exactly and within one typo.

use std::collections::HashMap;

use foldhash::fast::FixedState;

use crate::enrich::gazetteer::Gazetteer;
use crate::fold::fold;

/// Only towns of this size are found through a typo: a misspelt word is
/// far likelier to be some other word than a hamlet's name.
pub const FUZZY_MIN_POPULATION: u32 = 5_000;
/// Shorter names are too close to ordinary words for a typo to be trusted.
pub const FUZZY_MIN_LETTERS: usize = 6;

/// One place a key leads to, and whether through a main name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Posting(u32);

impl Posting {
    fn new(place: usize, alternate: bool) -> Self {
        Self((place as u32) << 1 | alternate as u32)
    }
    pub fn place(self) -> usize {
        (self.0 >> 1) as usize
    }
    /// Found through an alternate name rather than the name or ASCII name.
    pub fn alternate(self) -> bool {
        self.0 & 1 == 1
    }
}

pub struct NameIndex {
    /// Folded name → range of `postings`.
    exact: HashMap<Box<str>, (u32, u32), FixedState>,
    postings: Vec<Posting>,
    fuzzy: DeletionIndex,
}

impl NameIndex {
    pub fn new(gazetteer: &Gazetteer) -> Self {
        let mut pairs: Vec<(Box<str>, Posting)> = Vec::with_capacity(gazetteer.places().len() * 5);
        let mut fuzzy_keys: Vec<Box<str>> = Vec::new();
        for (i, place) in gazetteer.places().iter().enumerate() {
            let main = fold(&place.name);
            let ascii = fold(&place.ascii_name);
            for key in [&main, &ascii] {
                if place.population >= FUZZY_MIN_POPULATION && letters(key) >= FUZZY_MIN_LETTERS {
                    fuzzy_keys.push(key.as_str().into());
                }
            }
            let alternates = place.alternates().map(fold);
            for (key, alternate) in [(main.clone(), false), (ascii.clone(), false)]
                .into_iter()
                .chain(alternates.map(|a| (a, true)))
            {
                if key.is_empty() {
                    continue;
                }
                // "Homa Bay" is often written "Homabay", "N'Djamena" "Ndjamena".
                if key.contains(' ') {
                    pairs.push((key.replace(' ', "").into(), Posting::new(i, true)));
                }
                pairs.push((key.into(), Posting::new(i, alternate)));
            }
        }
        // Sorted, a main-name posting comes before the alternate one of the
        // same place, so dedup keeps the stronger.
        pairs.sort_unstable();
        pairs.dedup_by(|b, a| a.0 == b.0 && a.1.place() == b.1.place());
        let mut exact = HashMap::with_capacity_and_hasher(pairs.len(), FixedState::default());
        let mut postings = Vec::with_capacity(pairs.len());
        let mut iter = pairs.into_iter().peekable();
        while let Some((key, posting)) = iter.next() {
            let start = postings.len() as u32;
            postings.push(posting);
            while let Some((_, p)) = iter.next_if(|(k, _)| *k == key) {
                postings.push(p);
            }
            exact.insert(key, (start, postings.len() as u32));
        }
        exact.shrink_to_fit();
        fuzzy_keys.sort_unstable();
        fuzzy_keys.dedup();
        Self {
            exact,
            postings,
            fuzzy: DeletionIndex::new(fuzzy_keys),
        }
    }

    /// The places named exactly `key` (already folded).
    pub fn exact(&self, key: &str) -> &[Posting] {
        match self.exact.get(key) {
            Some(&(start, end)) => &self.postings[start as usize..end as usize],
            None => &[],
        }
    }

    /// Calls `found` with each indexed name one typo away from `key`
    /// (already folded, at least [`FUZZY_MIN_LETTERS`] letters), and its
    /// places. `variants`: [`Variants::of`] the key.
    pub fn fuzzy<'a>(
        &'a self,
        key: &str,
        variants: &[u64],
        mut found: impl FnMut(&'a str, &'a [Posting]),
    ) {
        self.fuzzy
            .near(key, variants, |name| found(name, self.exact(name)));
    }

    pub fn keys(&self) -> usize {
        self.exact.len()
    }
}

pub fn letters(key: &str) -> usize {
    key.chars().filter(|c| *c != ' ').count()
}

/// SymSpell's trick: two strings are one edit apart only if they share a
/// one-deletion variant (or one is a deletion of the other), so indexing
/// every name's deletions turns a typo search into a few hash lookups.
/// Variants are kept as 64-bit hashes; a collision only costs a failed
/// check in [`within_one_edit`].
pub(super) struct DeletionIndex {
    keys: Vec<Box<str>>,
    variants: HashMap<u64, (u32, u32), FixedState>,
    key_ids: Vec<u32>,
}

impl DeletionIndex {
    pub(super) fn new(keys: Vec<Box<str>>) -> Self {
        let mut pairs: Vec<(u64, u32)> = Vec::with_capacity(keys.len() * 10);
        let mut scratch = Variants::default();
        for (id, key) in keys.iter().enumerate() {
            let start = pairs.len();
            for &h in scratch.of(key) {
                pairs.push((h, id as u32));
            }
            // Doubled letters give the same deletion twice.
            pairs[start..].sort_unstable();
            let mut kept = start;
            for i in start..pairs.len() {
                if i == start || pairs[i] != pairs[kept - 1] {
                    pairs[kept] = pairs[i];
                    kept += 1;
                }
            }
            pairs.truncate(kept);
        }
        pairs.sort_unstable();
        let mut variants = HashMap::with_capacity_and_hasher(pairs.len(), FixedState::default());
        let mut key_ids = Vec::with_capacity(pairs.len());
        let mut i = 0;
        while i < pairs.len() {
            let h = pairs[i].0;
            let start = key_ids.len() as u32;
            while i < pairs.len() && pairs[i].0 == h {
                key_ids.push(pairs[i].1);
                i += 1;
            }
            variants.insert(h, (start, key_ids.len() as u32));
        }
        Self {
            keys,
            variants,
            key_ids,
        }
    }

    /// `variants`: [`Variants::of`] the query, computed once for every
    /// index it is looked up in.
    pub(super) fn near<'a>(
        &'a self,
        query: &str,
        variants: &[u64],
        mut found: impl FnMut(&'a str),
    ) {
        // A name reached through several variants is reported once.
        let mut seen: [u32; 8] = [u32::MAX; 8];
        let mut seen_len = 0;
        for h in variants {
            let Some(&(start, end)) = self.variants.get(h) else {
                continue;
            };
            for &id in &self.key_ids[start as usize..end as usize] {
                if seen[..seen_len].contains(&id) {
                    continue;
                }
                let key = &self.keys[id as usize];
                if &**key != query && within_one_edit(query, key) {
                    if seen_len < seen.len() {
                        seen[seen_len] = id;
                        seen_len += 1;
                    }
                    found(key);
                }
            }
        }
    }
}

/// Hashes of a string and of each of its one-deletion variants.
/// Reused across word runs and texts: a typo lookup would otherwise grow
/// its buffers anew each time, and that was a tenth of the geoparser's time.
#[derive(Default)]
pub struct Variants {
    chars: Vec<u64>,
    powers: Vec<u64>,
    suffix: Vec<u64>,
    hashes: Vec<u64>,
}

impl Variants {
    /// A polynomial hash gives every deletion's hash from prefix and
    /// suffix hashes in constant time, where copying and hashing each
    /// variant would cost its length: this is most of a typo lookup.
    pub fn of(&mut self, s: &str) -> &[u64] {
        const BASE: u64 = 0x0100_0000_01b3;
        self.chars.clear();
        self.chars.extend(s.chars().map(|c| u64::from(c) + 1));
        let n = self.chars.len();
        self.powers.clear();
        self.powers.push(1);
        for i in 1..n {
            self.powers.push(self.powers[i - 1].wrapping_mul(BASE));
        }
        // suffix[i]: chars i.. with the exponents they have in the whole.
        self.suffix.clear();
        self.suffix.resize(n + 1, 0);
        for i in (0..n).rev() {
            self.suffix[i] =
                self.suffix[i + 1].wrapping_add(self.chars[i].wrapping_mul(self.powers[n - 1 - i]));
        }
        self.hashes.clear();
        self.hashes.push(self.suffix[0]);
        let mut prefix = 0u64;
        for i in 0..n {
            let deleted = prefix
                .wrapping_mul(self.powers[n - 1 - i])
                .wrapping_add(self.suffix[i + 1]);
            self.hashes.push(deleted ^ ((n as u64 - 1) << 56));
            prefix = prefix.wrapping_mul(BASE).wrapping_add(self.chars[i]);
        }
        // The length in the top bits keeps strings of different lengths apart.
        self.hashes[0] ^= (n as u64) << 56;
        &self.hashes
    }
}

/// One substitution, insertion, deletion or swap of neighbours apart
/// (optimal string alignment distance ≤ 1, which a general edit-distance
/// routine would compute in full for every candidate).
pub fn within_one_edit(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        one_edit(a.as_bytes(), b.as_bytes())
    } else {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        one_edit(&a, &b)
    }
}

fn one_edit<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[prefix..], &b[prefix..]);
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (a, b) = (&a[..a.len() - suffix], &b[..b.len() - suffix]);
    match (a.len(), b.len()) {
        (0, 0) | (1, 1) | (1, 0) | (0, 1) => true,
        (2, 2) => a[0] == b[1] && a[1] == b[0],
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::gazetteer::fixture;

    #[test]
    fn one_edit_covers_substitution_insertion_deletion_and_swap() {
        assert!(within_one_edit("garissa", "garisa"));
        assert!(within_one_edit("garissa", "garrissa"));
        assert!(within_one_edit("garissa", "garixsa"));
        assert!(within_one_edit("garissa", "gairssa"));
        assert!(!within_one_edit("garissa", "gorisso"));
        assert!(!within_one_edit("garissa", "garissabc"));
    }

    #[test]
    fn one_edit_counts_letters_not_bytes() {
        assert!(within_one_edit("kisumu", "kisümu"));
        assert!(!within_one_edit("kisumu", "kisümü"));
    }

    #[test]
    fn exact_keys_reach_names_ascii_names_and_alternates() {
        let g = fixture::gazetteer();
        let index = NameIndex::new(&g);
        let hits = index.exact("cap haitien");
        assert_eq!(hits.len(), 1);
        assert!(!hits[0].alternate());
        assert_eq!(index.exact("mbale").len(), 2);
        assert!(index.exact("homabay").iter().all(|p| p.alternate()));
        assert!(index.exact("nowhere").is_empty());
    }

    #[test]
    fn fuzzy_finds_towns_one_typo_away() {
        let g = fixture::gazetteer();
        let index = NameIndex::new(&g);
        let mut names = Vec::new();
        let mut variants = Variants::default();
        for (query, expected) in [
            ("garisa", &["garissa"][..]),
            ("mombsaa", &["mombasa"]),
            ("mbxyzsa", &[]),
        ] {
            names.clear();
            index.fuzzy(query, variants.of(query), |name, _| {
                names.push(name.to_owned())
            });
            assert_eq!(names, expected, "{query}");
        }
        assert!(names.is_empty());
    }
}
