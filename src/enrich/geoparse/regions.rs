//! Admin-1 regions by name: "Turkana county", "mafuriko kaunti ya Garissa",
//! "Jigawa state", or a bare "Niger" from a Nigerian number.
//!
//! Field staff name the county or state as often as the town, and a rule
//! grouped by admin-1 must count those reports too. Region names are
//! indexed next to place names with the same folding and typo tolerance;
//! the unit words around a name ("county", "província de") say that a
//! region is meant.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use foldhash::fast::FixedState;

use super::index::{DeletionIndex, FUZZY_MIN_LETTERS, letters};
use super::words::CommonWords;
use crate::enrich::gazetteer::{CountryCode, Gazetteer};
use crate::fold::{Words, fold};

const UNIT_WORDS: &str = include_str!("unit-words.txt");

/// Generic words GeoNames adds to some region names, dropped for the short
/// form people write: "Nairobi Area" is "Nairobi", "Abuja Federal Capital
/// Territory" is "Abuja".
const GENERIC_SUFFIXES: &[&str] = &[
    "d c",
    "federal capital territory",
    "capital territory",
    "capital district",
    "special region",
    "autonomous region",
    "area",
    "district",
    "region",
    "province",
    "state",
    "city",
    "county",
    "governorate",
    "department",
    "division",
    "municipality",
    "prefecture",
];

/// The same, written first: "Muhafazat Hadramawt" is "Hadramawt".
const GENERIC_PREFIXES: &[&str] = &[
    "muhafazat",
    "departamento del",
    "departamento de la",
    "departamento de",
    "provincia de",
    "region de",
];

/// An admin-1 region that can be named in text.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// `KE.46`.
    pub code: Box<str>,
    pub country: CountryCode,
}

/// How a key names a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Form {
    /// Its GeoNames name or ASCII name.
    Name,
    /// Its name without a generic word ("Nairobi" for "Nairobi Area") or
    /// without spaces ("tanariver").
    Short,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionPosting {
    /// Index in [`RegionIndex::region`].
    pub region: usize,
    pub form: Form,
    /// Every word of the key is a direction or an ordinary word ("Nord",
    /// "Central"): a region only next to a unit word, or capitalised.
    pub plain: bool,
}

pub struct RegionIndex {
    regions: Vec<Region>,
    exact: HashMap<Box<str>, Vec<RegionPosting>, FixedState>,
    /// Every word run of every SMS is looked up, and almost none is a
    /// region: this bit set of the keys' [`shape`] answers most of them
    /// without hashing the run.
    shapes: Vec<u64>,
    fuzzy: DeletionIndex,
    units: UnitWords,
}

impl RegionIndex {
    pub fn new(gazetteer: &Gazetteer, common: &CommonWords) -> Self {
        let units = UnitWords::parse(UNIT_WORDS);
        // Where GeoNames gives one name to several codes of a country (the
        // old and new provinces of Congo), the one most people live in.
        let mut people: HashMap<String, u64> = HashMap::new();
        for place in gazetteer.places() {
            if let Some(code) = place.admin1_code() {
                *people.entry(code).or_default() += u64::from(place.population);
            }
        }
        let mut codes: Vec<(&str, _)> = gazetteer.admin1().collect();
        codes.sort_unstable_by_key(|(code, _)| *code);
        let mut regions = Vec::with_capacity(codes.len());
        let mut keyed: HashMap<Box<str>, Vec<(RegionPosting, u64)>, FixedState> =
            HashMap::default();
        for (code, admin1) in codes {
            let Some(country) = code.get(..2).and_then(CountryCode::parse) else {
                continue;
            };
            let index = regions.len();
            regions.push(Region {
                code: code.into(),
                country,
            });
            let weight = people.get(code).copied().unwrap_or(0);
            for (key, form) in keys(&admin1.name, &admin1.ascii_name) {
                let plain = key
                    .split(' ')
                    .all(|w| common.contains(w) || units.is_direction(w));
                let posting = RegionPosting {
                    region: index,
                    form,
                    plain,
                };
                keyed.entry(key.into()).or_default().push((posting, weight));
            }
        }
        let mut exact: HashMap<Box<str>, Vec<RegionPosting>, FixedState> =
            HashMap::with_capacity_and_hasher(keyed.len(), FixedState::default());
        for (key, mut postings) in keyed {
            // Per country: a full name before a short form, then the
            // region more people live in; one region per key and country.
            postings.sort_by(|(a, aw), (b, bw)| {
                regions[a.region]
                    .country
                    .cmp(&regions[b.region].country)
                    .then(a.form.cmp(&b.form))
                    .then(bw.cmp(aw))
                    .then(a.region.cmp(&b.region))
            });
            postings
                .dedup_by(|(b, _), (a, _)| regions[a.region].country == regions[b.region].country);
            exact.insert(key, postings.into_iter().map(|(p, _)| p).collect());
        }
        let mut fuzzy_keys: Vec<Box<str>> = exact
            .iter()
            .filter(|(key, postings)| {
                letters(key) >= FUZZY_MIN_LETTERS && postings.iter().any(|p| p.form == Form::Name)
            })
            .map(|(key, _)| key.clone())
            .collect();
        fuzzy_keys.sort_unstable();
        let mut shapes = vec![0u64; SHAPES / 64];
        for key in exact.keys() {
            let bit = shape(key);
            shapes[bit / 64] |= 1 << (bit % 64);
        }
        Self {
            regions,
            exact,
            shapes,
            fuzzy: DeletionIndex::new(fuzzy_keys),
            units,
        }
    }

    pub fn region(&self, index: usize) -> &Region {
        &self.regions[index]
    }

    /// The regions named exactly `key` (already folded).
    pub fn exact(&self, key: &str) -> &[RegionPosting] {
        let bit = shape(key);
        if self.shapes[bit / 64] & (1 << (bit % 64)) == 0 {
            return &[];
        }
        self.exact.get(key).map_or(&[], Vec::as_slice)
    }

    /// Calls `found` with each region name one typo away from `key`
    /// (already folded), and its regions. `variants`: [`Variants::of`] the
    /// key.
    pub fn fuzzy<'a>(
        &'a self,
        key: &str,
        variants: &[u64],
        mut found: impl FnMut(&'a str, &'a [RegionPosting]),
    ) {
        self.fuzzy
            .near(key, variants, |name| found(name, self.exact(name)));
    }

    /// Whether a unit word stands right before or after `range`.
    pub fn has_unit_word(&self, words: &Words, range: &Range<usize>) -> bool {
        self.units.around(words, range)
    }
}

/// Bits in [`RegionIndex::shapes`]: with some 10,000 keys, about one run in
/// seven that is no region still gets hashed.
const SHAPES: usize = 1 << 16;

/// A key's length and its first, second and last bytes, in 16 bits.
fn shape(key: &str) -> usize {
    let b = key.as_bytes();
    let (first, second, last) = match b {
        [] => (0, 0, 0),
        [only] => (*only, 0, *only),
        [first, second] => (*first, *second, *second),
        [first, second, .., last] => (*first, *second, *last),
    };
    let mixed = (b.len() as u32).wrapping_mul(0x9E37_79B9)
        ^ u32::from(first).wrapping_mul(0x85EB_CA6B)
        ^ u32::from(second).wrapping_mul(0xC2B2_AE35)
        ^ u32::from(last).wrapping_mul(0x27D4_EB2F);
    (mixed >> 16) as usize % SHAPES
}

/// The keys a region is found by: its names folded, and their short forms.
fn keys(name: &str, ascii_name: &str) -> Vec<(String, Form)> {
    let mut keys: Vec<(String, Form)> = Vec::new();
    let mut add = |key: String, form| {
        if !key.is_empty() && !keys.iter().any(|(k, _)| *k == key) {
            keys.push((key, form));
        }
    };
    for full in [fold(name), fold(ascii_name)] {
        add(full.clone(), Form::Name);
        let short = without_generic_suffix(&full);
        if short != full {
            add(short.to_owned(), Form::Short);
        }
        if full.contains(' ') {
            add(full.replace(' ', ""), Form::Short);
        }
    }
    keys
}

fn without_generic_suffix(key: &str) -> &str {
    GENERIC_SUFFIXES
        .iter()
        .find_map(|suffix| key.strip_suffix(suffix)?.strip_suffix(' '))
        .or_else(|| {
            GENERIC_PREFIXES
                .iter()
                .find_map(|prefix| key.strip_prefix(prefix)?.strip_prefix(' '))
        })
        .filter(|rest| !rest.is_empty())
        .unwrap_or(key)
}

/// The phrases of `unit-words.txt`, folded.
struct UnitWords {
    before: HashSet<Box<str>, FixedState>,
    /// Longest phrase in `before`, in words.
    before_words: usize,
    after: HashSet<Box<str>, FixedState>,
    directions: HashSet<Box<str>, FixedState>,
}

impl UnitWords {
    fn parse(text: &str) -> Self {
        let mut units = Self {
            before: HashSet::default(),
            before_words: 0,
            after: HashSet::default(),
            directions: HashSet::default(),
        };
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((head, rest)) = line.split_once(':') else {
                continue;
            };
            if head.trim() == "directions" {
                units
                    .directions
                    .extend(rest.split_whitespace().map(|w| fold(w).into()));
                continue;
            }
            let phrases = rest.split('|').map(fold).filter(|p| !p.is_empty());
            if head.ends_with("before") {
                for phrase in phrases {
                    units.before_words = units.before_words.max(phrase.split(' ').count());
                    units.before.insert(phrase.into());
                }
            } else if head.ends_with("after") {
                units.after.extend(phrases.map(Into::into));
            }
        }
        units
    }

    fn is_direction(&self, word: &str) -> bool {
        self.directions.contains(word)
    }

    fn around(&self, words: &Words, range: &Range<usize>) -> bool {
        let before = (1..=self.before_words.min(range.start)).any(|n| {
            self.before
                .contains(words.slice(range.start - n..range.start))
        });
        before || (range.end < words.len() && self.after.contains(words.word(range.end)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::index::Variants;
    use super::*;
    use crate::enrich::gazetteer::fixture;

    fn index() -> RegionIndex {
        RegionIndex::new(&fixture::gazetteer(), &CommonWords::embedded())
    }

    fn codes(index: &RegionIndex, key: &str) -> Vec<String> {
        index
            .exact(key)
            .iter()
            .map(|p| index.region(p.region).code.to_string())
            .collect()
    }

    #[test]
    fn regions_are_found_by_name_and_short_form() {
        let index = index();
        assert_eq!(codes(&index, "garissa"), ["KE.16"]);
        assert_eq!(codes(&index, "nairobi area"), ["KE.05"]);
        assert_eq!(index.exact("nairobi")[0].form, Form::Short);
        assert_eq!(codes(&index, "uasingishu"), ["KE.52"]);
        assert!(index.exact("kenya").is_empty());
    }

    #[test]
    fn direction_names_are_plain() {
        let index = index();
        assert!(index.exact("ouest")[0].plain);
        assert!(index.exact("central")[0].plain);
        // "region" is a unit word: "Central Region" is named as a name
        // ("in Central Region") or as "central" next to the unit word.
        assert!(index.exact("central region")[0].plain);
        assert!(!index.exact("garissa")[0].plain);
    }

    #[test]
    fn unit_words_are_read_before_and_after_the_name() {
        let index = index();
        let has = |text: &str, range: Range<usize>| index.has_unit_word(&Words::new(text), &range);
        assert!(has("Cholera in Turkana county", 2..3));
        assert!(has("mafuriko kaunti ya Garissa", 3..4));
        assert!(has("dans le département du Nord-Ouest", 4..6));
        assert!(has("daad ayaa ku dhuftay gobolka Bari", 5..6));
        assert!(has("cheias na província de Cabo Delgado", 4..6));
        assert!(!has("Cholera in Turkana today", 2..3));
        assert!(!has("Turkana", 0..1));
    }

    #[test]
    fn one_typo_is_forgiven_in_longer_region_names() {
        let index = index();
        let mut found = Vec::new();
        let mut variants = Variants::default();
        index.fuzzy("garisa", variants.of("garisa"), |name, _| {
            found.push(name.to_owned())
        });
        assert_eq!(found, ["garissa"]);
    }

    #[test]
    fn generic_suffixes_come_off_whole_words_only() {
        assert_eq!(
            without_generic_suffix("abuja federal capital territory"),
            "abuja"
        );
        assert_eq!(without_generic_suffix("nairobi area"), "nairobi");
        assert_eq!(without_generic_suffix("tana river"), "tana river");
        assert_eq!(without_generic_suffix("area"), "area");
        assert_eq!(without_generic_suffix("sarea"), "sarea");
    }
}
