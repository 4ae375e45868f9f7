//! Place names in SMS text: every run of up to four words is looked up in
//! an index of folded gazetteer names, longer ones also within one typo,
//! and the candidates are weighed by how they were written and where the
//! sender is.

pub mod index;
pub mod regions;
mod words;

use std::ops::Range;
use std::sync::Arc;

use crate::fold::{Case, Words};
use index::{FUZZY_MIN_LETTERS, NameIndex, Posting, Variants, letters};
use regions::{Form, Region, RegionIndex, RegionPosting};
use words::CommonWords;

use crate::enrich::gazetteer::{CountryCode, Gazetteer, Place};

/// Longest place name looked up, in words ("Chak One Hundred Nine Left").
const MAX_WORDS: usize = 6;
/// Typos are looked for in runs of at most this many words.
const MAX_FUZZY_WORDS: usize = 3;
/// A longer name around the best match wins if it is at least this
/// fraction as trusted.
const LONGER_NAME_MIN_RATIO: f64 = 0.75;
/// Below this a match is not trusted: no place is better than a wrong one.
const MIN_CONFIDENCE: f64 = 0.55;
/// A unit word ("county", "kaunti ya") says a region is meant: it then
/// wins over a town of the same name in another region.
const UNIT_WORD_WEIGHT: f64 = 1.1;
/// A bare region name is a little weaker than a town of that name: "floods
/// in Maputo" is the city, "província de Maputo" the province.
const BARE_REGION_WEIGHT: f64 = 0.95;

thread_local! {
    static SCRATCH: std::cell::RefCell<Variants> = std::cell::RefCell::new(Variants::default());
}

/// What a name in the text refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    /// Index in [`Gazetteer::places`].
    Place(usize),
    /// Index for [`Geoparser::region`].
    Region(usize),
}

/// A place or region named in a text.
#[derive(Debug, Clone, PartialEq)]
pub struct TextMatch {
    pub named: Named,
    /// The words that named it, folded.
    pub words: String,
    /// Found through a typo.
    pub fuzzy: bool,
    /// 0 to 1.
    pub confidence: f64,
}

impl TextMatch {
    /// The place, when a place rather than a region was named.
    pub fn place(&self) -> Option<usize> {
        match self.named {
            Named::Place(i) => Some(i),
            Named::Region(_) => None,
        }
    }
}

/// What a text names: the best-supported place or region, and the words of
/// every name trusted on its own, which are no evidence of the language
/// the text is written in.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Reading {
    pub best: Option<TextMatch>,
    /// Folded words of trusted names, without ordinary words ("tana",
    /// not "river"), each once.
    pub name_words: Vec<String>,
}

pub struct Geoparser {
    gazetteer: Arc<Gazetteer>,
    index: NameIndex,
    regions: RegionIndex,
    common: CommonWords,
    /// Countries of operation.
    countries: Vec<CountryCode>,
}

/// A [`TextMatch`] while the text is being read.
struct Candidate<'t> {
    named: Named,
    words: &'t str,
    fuzzy: bool,
    /// Regions with a unit word may exceed 1 here, so that they outrank
    /// any town; [`TextMatch::confidence`] is capped.
    confidence: f64,
    /// For regions: named with a unit word.
    unit: bool,
}

/// The best place, and the best region, of each word run naming one, in
/// the order of the runs.
#[derive(Default)]
struct Found<'t> {
    places: Vec<(Range<usize>, Candidate<'t>)>,
    regions: Vec<(Range<usize>, Candidate<'t>)>,
}

/// What the text says about one word run, before looking at places.
struct Run {
    fuzzy: bool,
    letters: usize,
    /// All its words lower case in a text that uses capitals elsewhere.
    lower_in_mixed: bool,
    /// Every word capitalised (or upper case) in a text that also uses
    /// lower case: written as a name.
    capitalized_in_mixed: bool,
    words: usize,
    /// Every word is an ordinary word: a place only inside a longer name.
    all_common: bool,
    /// A unit word ("county") stands next to it.
    unit: bool,
    /// Index of its first word in the text.
    first_word: usize,
}

impl Geoparser {
    /// `countries`: ISO alpha-2 codes of the countries of operation; codes
    /// that are not two letters are ignored.
    pub fn new(gazetteer: Arc<Gazetteer>, countries: &[String]) -> Self {
        let index = NameIndex::new(&gazetteer);
        let common = CommonWords::embedded();
        let regions = RegionIndex::new(&gazetteer, &common);
        Self {
            gazetteer,
            index,
            regions,
            common,
            countries: countries
                .iter()
                .filter_map(|c| CountryCode::parse(c))
                .collect(),
        }
    }

    pub fn gazetteer(&self) -> &Gazetteer {
        &self.gazetteer
    }

    pub fn region(&self, index: usize) -> &Region {
        self.regions.region(index)
    }

    /// Distinct folded names indexed.
    pub fn names(&self) -> usize {
        self.index.keys()
    }

    /// The best-supported place or region named in `text`, if any is
    /// trusted. `sender_country`: ISO alpha-2 of the sender's phone number.
    pub fn find(&self, text: &str, sender_country: Option<&str>) -> Option<TextMatch> {
        self.read(text, sender_country).best
    }

    /// [`Geoparser::find`], and the words of every trusted name.
    pub fn read(&self, text: &str, sender_country: Option<&str>) -> Reading {
        let words = Words::new(text);
        let sender = sender_country.and_then(CountryCode::parse);
        let found = self.candidates(&words, sender);
        Reading {
            best: self.choose(&found),
            name_words: self.name_words(&words, &found),
        }
    }

    /// Every word run of up to [`MAX_WORDS`] looked up.
    fn candidates<'t>(&'t self, words: &'t Words, sender: Option<CountryCode>) -> Found<'t> {
        let mixed_case = is_mixed_case(words);
        let mut found = Found::default();
        SCRATCH.with_borrow_mut(|scratch| {
            for start in 0..words.len() {
                for len in 1..=MAX_WORDS.min(words.len() - start) {
                    let range = start..start + len;
                    self.read_run(words, range, mixed_case, sender, scratch, &mut found);
                }
            }
        });
        found
    }

    fn read_run<'t>(
        &'t self,
        words: &'t Words,
        range: Range<usize>,
        mixed_case: bool,
        sender: Option<CountryCode>,
        scratch: &mut Variants,
        found: &mut Found<'t>,
    ) {
        let key = words.slice(range.clone());
        let letters = letters(key);
        let all_common = range.clone().all(|i| self.common.contains(words.word(i)));
        // "Mark my words": ordinary words alone are no place.
        let place_exact = if all_common {
            &[][..]
        } else {
            self.index.exact(key)
        };
        let region_exact = self.regions.exact(key);
        // A run that names a town exactly is no typo of a region.
        let typo = !all_common
            && place_exact.is_empty()
            && range.len() <= MAX_FUZZY_WORDS
            && letters + 1 >= FUZZY_MIN_LETTERS;
        if place_exact.is_empty() && region_exact.is_empty() && !typo {
            return;
        }
        let mut run = Run {
            fuzzy: false,
            letters,
            lower_in_mixed: mixed_case && range.clone().all(|i| words.case(i) == Case::Lower),
            capitalized_in_mixed: mixed_case
                && range
                    .clone()
                    .all(|i| matches!(words.case(i), Case::Capitalized | Case::Upper)),
            words: range.len(),
            all_common,
            unit: false,
            first_word: range.start,
        };
        let variants: &[u64] = if typo { scratch.of(key) } else { &[] };
        let mut keep_place = |name, postings: &[Posting], run: &Run| {
            for &posting in postings {
                if let Some(c) = self.place_candidate(run, name, posting, sender) {
                    keep_better(&mut found.places, &range, c, |a, b| self.better(a, b));
                }
            }
        };
        if !place_exact.is_empty() {
            keep_place(key, place_exact, &run);
        } else if typo {
            // One letter short of a long name is one typo too ("Kilif" for
            // Kilifi); the index holds long names only.
            run.fuzzy = true;
            self.index.fuzzy(key, variants, |name, postings| {
                keep_place(name, postings, &run)
            });
            run.fuzzy = false;
        }
        let mut region_hits: Vec<(&str, &[RegionPosting])> = Vec::new();
        if !region_exact.is_empty() {
            region_hits.push((key, region_exact));
        } else if typo {
            run.fuzzy = true;
            self.regions.fuzzy(key, variants, |name, postings| {
                region_hits.push((name, postings))
            });
        }
        if region_hits.is_empty() {
            return;
        }
        run.unit = self.regions.has_unit_word(words, &range);
        for (name, postings) in region_hits {
            for &posting in postings {
                if let Some(c) = self.region_candidate(&run, name, posting, sender) {
                    keep_better(&mut found.regions, &range, c, |a, b| self.better(a, b));
                }
            }
        }
    }

    /// The folded words of every trusted name, each once, without the
    /// ordinary words inside them ("tana", not "river").
    fn name_words(&self, words: &Words, found: &Found) -> Vec<String> {
        let mut name_words: Vec<String> = Vec::new();
        let trusted = found
            .places
            .iter()
            .chain(&found.regions)
            .filter(|(_, c)| c.confidence >= MIN_CONFIDENCE);
        for (range, _) in trusted {
            for i in range.clone() {
                let word = words.word(i);
                if !self.common.contains(word) && !name_words.iter().any(|w| w == word) {
                    name_words.push(word.to_owned());
                }
            }
        }
        name_words
    }

    fn choose(&self, found: &Found) -> Option<TextMatch> {
        let region = found
            .regions
            .iter()
            .filter(|(_, c)| c.confidence >= MIN_CONFIDENCE)
            .max_by(|a, b| self.order(&a.1, &b.1));
        let chosen = match (self.best_place(&found.places), region) {
            (Some(place), Some(region)) => self.place_or_region(place, region),
            (Some((_, place)), None) => place,
            (None, Some((_, region))) => region,
            (None, None) => return None,
        };
        Some(TextMatch {
            named: chosen.named,
            words: chosen.words.to_owned(),
            fuzzy: chosen.fuzzy,
            confidence: chosen.confidence.min(1.0),
        })
    }

    fn best_place<'a, 't>(
        &self,
        found: &'a [(Range<usize>, Candidate<'t>)],
    ) -> Option<(&'a Range<usize>, &'a Candidate<'t>)> {
        let (range, best) = found
            .iter()
            .filter(|(_, m)| m.confidence >= MIN_CONFIDENCE)
            .max_by(|a, b| self.order(&a.1, &b.1))?;
        // "Katsina-Ala" is not Katsina: a longer name around the best one
        // is the more specific reading, unless it is much weaker ("de la
        // Paz" abroad around "La Paz" at home).
        let longest = found
            .iter()
            .filter(|(r, m)| {
                m.confidence >= MIN_CONFIDENCE.max(best.confidence * LONGER_NAME_MIN_RATIO)
                    && r.start <= range.start
                    && r.end >= range.end
                    && r.len() > range.len()
            })
            .max_by_key(|(r, _)| r.len());
        Some(longest.map_or((range, best), |(r, m)| (r, m)))
    }

    /// A town inside the named region is the more precise answer ("Dutse,
    /// Jigawa state"), unless it is the region's own name written with a
    /// unit word ("Garissa county" means the county); otherwise the
    /// stronger reading wins, and a unit word makes the region stronger.
    fn place_or_region<'a, 't>(
        &self,
        (place_range, place): (&Range<usize>, &'a Candidate<'t>),
        (region_range, region): &'a (Range<usize>, Candidate<'t>),
    ) -> &'a Candidate<'t> {
        let (Named::Place(p), Named::Region(r)) = (place.named, region.named) else {
            return place;
        };
        let inside = self.gazetteer.places()[p].admin1_code().as_deref()
            == Some(&*self.regions.region(r).code);
        let same_words =
            place_range.start < region_range.end && region_range.start < place_range.end;
        if inside {
            if region.unit && same_words {
                region
            } else {
                place
            }
        } else if region.confidence > place.confidence {
            region
        } else {
            place
        }
    }

    fn order(&self, a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
        if self.better(a, b) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Less
        }
    }

    fn better(&self, a: &Candidate, b: &Candidate) -> bool {
        let population = |c: &Candidate| match c.named {
            Named::Place(i) => self.gazetteer.places()[i].population,
            Named::Region(_) => 0,
        };
        a.confidence > b.confidence
            || (a.confidence == b.confidence && population(a) > population(b))
    }

    fn place_candidate<'t>(
        &self,
        run: &Run,
        name: &'t str,
        posting: Posting,
        sender: Option<CountryCode>,
    ) -> Option<Candidate<'t>> {
        let place = &self.gazetteer.places()[posting.place()];
        Some(Candidate {
            named: Named::Place(posting.place()),
            words: name,
            fuzzy: run.fuzzy,
            confidence: self.score(run, posting, place, sender)?,
            unit: false,
        })
    }

    /// Scored like a town of a million people, then weighed by whether a
    /// unit word stands next to it.
    fn region_candidate<'t>(
        &self,
        run: &Run,
        name: &'t str,
        posting: RegionPosting,
        sender: Option<CountryCode>,
    ) -> Option<Candidate<'t>> {
        let country = self.regions.region(posting.region).country;
        let at_home = sender == Some(country);
        // "le nord du pays", "Central market": direction words and ordinary
        // words name a region only when the text says so, or when written
        // as a name (not just first in the sentence) by someone there.
        if (posting.plain || run.all_common)
            && !run.unit
            && !(run.capitalized_in_mixed && run.first_word > 0 && at_home)
        {
            return None;
        }
        let mut score = match (run.fuzzy, posting.form) {
            (false, Form::Name) => 1.0,
            (false, Form::Short) => 0.9,
            (true, Form::Name) => 0.8,
            (true, Form::Short) if run.letters >= 7 => 0.7,
            (true, Form::Short) => return None,
        };
        // Regions have no population to weigh namesakes by, and many
        // countries have a "Central" or a "Reunion": a region abroad
        // needs a unit word.
        score *= if at_home || self.countries.contains(&country) {
            self.country_weight(country, sender)
        } else if run.unit {
            0.75
        } else {
            return None;
        };
        score *= length_weight(run.letters);
        if run.lower_in_mixed {
            score *= 0.85;
        }
        score *= 1.0 + 0.03 * (run.words - 1) as f64;
        score *= if run.unit {
            UNIT_WORD_WEIGHT
        } else {
            BARE_REGION_WEIGHT
        };
        Some(Candidate {
            named: Named::Region(posting.region),
            words: name,
            fuzzy: run.fuzzy,
            confidence: score,
            unit: run.unit,
        })
    }

    /// The sender's own country first, then the countries of operation;
    /// a foreign name needs every other sign to be strong.
    fn country_weight(&self, country: CountryCode, sender: Option<CountryCode>) -> f64 {
        if sender == Some(country) {
            1.0
        } else if self.countries.contains(&country) {
            0.9
        } else if sender.is_some() || !self.countries.is_empty() {
            0.6
        } else {
            0.75
        }
    }

    /// How far a candidate is trusted, 0 to 1; none when it must not count.
    fn score(
        &self,
        run: &Run,
        posting: Posting,
        place: &Place,
        sender: Option<CountryCode>,
    ) -> Option<f64> {
        let mut score = match (run.fuzzy, posting.alternate()) {
            (false, false) => 1.0,
            (false, true) => 0.85,
            (true, false) if place.population >= index::FUZZY_MIN_POPULATION => 0.8,
            // Typos of alternate names, or of small places, find too much.
            (true, _) => return None,
        };
        score *= self.country_weight(place.country, sender);
        // Among namesakes the bigger town is the likelier one.
        let magnitude = f64::from(place.population.max(1)).log10();
        score *= 0.7 + 0.3 * (magnitude / 6.0).min(1.0);
        score *= length_weight(run.letters);
        if run.lower_in_mixed {
            score *= 0.85;
        }
        // A longer run that names a place is more specific than its parts.
        score *= 1.0 + 0.03 * (run.words - 1) as f64;
        Some(score.min(1.0))
    }
}

/// Lower and upper case both in use: case then says what is written as a
/// name.
fn is_mixed_case(words: &Words) -> bool {
    let mut lower = false;
    let mut upper = false;
    for i in 0..words.len() {
        match words.case(i) {
            Case::Lower => lower = true,
            Case::Capitalized | Case::Upper => upper = true,
            Case::Other => {}
        }
    }
    lower && upper
}

/// Short names are too close to ordinary words to be trusted fully.
fn length_weight(letters: usize) -> f64 {
    match letters {
        0..=3 => 0.65,
        4 => 0.8,
        5 => 0.9,
        _ => 1.0,
    }
}

/// Keeps the better candidate of each word run; runs arrive in order, so
/// the run being read is the last one kept.
fn keep_better<'t>(
    found: &mut Vec<(Range<usize>, Candidate<'t>)>,
    range: &Range<usize>,
    candidate: Candidate<'t>,
    better: impl Fn(&Candidate, &Candidate) -> bool,
) {
    match found.last_mut() {
        Some((r, best)) if r == range => {
            if better(&candidate, best) {
                *best = candidate;
            }
        }
        _ => found.push((range.clone(), candidate)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::gazetteer::fixture;

    fn parser(countries: &[&str]) -> Geoparser {
        let countries: Vec<String> = countries.iter().map(|c| c.to_string()).collect();
        Geoparser::new(Arc::new(fixture::gazetteer()), &countries)
    }

    fn name(p: &Geoparser, text: &str, sender: Option<&str>) -> Option<String> {
        p.find(text, sender).map(|m| {
            format!(
                "{} {}",
                p.gazetteer().places()[m.place().unwrap()].name,
                p.gazetteer().places()[m.place().unwrap()].country
            )
        })
    }

    #[test]
    fn names_are_found_in_any_case_and_without_accents() {
        let p = parser(&[]);
        let ke = Some("KE");
        assert_eq!(
            name(&p, "floods in KISUMU now", ke).as_deref(),
            Some("Kisumu KE")
        );
        assert_eq!(
            name(&p, "maji yamefika homa bay", ke).as_deref(),
            Some("Homa Bay KE")
        );
        assert_eq!(
            name(&p, "we are in homabay", ke).as_deref(),
            Some("Homa Bay KE")
        );
        assert_eq!(
            name(&p, "inondation a cap haitien", Some("HT")).as_deref(),
            Some("Cap-Haïtien HT")
        );
    }

    #[test]
    fn one_typo_is_forgiven_in_longer_names_only() {
        let p = parser(&[]);
        let m = p.find("tuko garissza hakuna maji", Some("KE")).unwrap();
        assert!(m.fuzzy);
        assert_eq!(&*p.gazetteer().places()[m.place().unwrap()].name, "Garissa");
        // "Gulu" with a typo is four letters: too short to guess.
        assert_eq!(name(&p, "help at gulo", Some("UG")), None);
    }

    #[test]
    fn ordinary_words_that_are_towns_are_not_places() {
        let p = parser(&[]);
        assert_eq!(
            name(&p, "Mark my words, the bar is closed", Some("BE")),
            None
        );
        assert_eq!(name(&p, "Mark my words", None), None);
        assert_eq!(name(&p, "the man at the bar", Some("ME")), None);
    }

    #[test]
    fn the_sender_country_picks_among_namesakes() {
        let p = parser(&[]);
        assert_eq!(
            name(&p, "flooding in mbale", Some("KE")).as_deref(),
            Some("Mbale KE")
        );
        assert_eq!(
            name(&p, "flooding in mbale", Some("UG")).as_deref(),
            Some("Mbale UG")
        );
        // With nothing else to go on, the bigger one.
        assert_eq!(
            name(&p, "flooding in mbale", None).as_deref(),
            Some("Mbale UG")
        );
    }

    #[test]
    fn countries_of_operation_break_ties_without_a_sender() {
        let p = parser(&["KE"]);
        assert_eq!(
            name(&p, "flooding in Mbale", None).as_deref(),
            Some("Mbale KE")
        );
    }

    #[test]
    fn population_picks_among_namesakes_of_one_country() {
        let p = parser(&[]);
        let m = p.find("curfew in aurangabad", Some("IN")).unwrap();
        let place = &p.gazetteer().places()[m.place().unwrap()];
        assert_eq!(place.admin1_code().as_deref(), Some("IN.16"));
    }

    #[test]
    fn a_small_foreign_place_in_lower_case_is_not_trusted() {
        let p = parser(&[]);
        assert_eq!(name(&p, "Please send busia help", Some("HT")), None);
        assert_eq!(
            name(&p, "Storm hits Port-au-Prince", Some("KE")).as_deref(),
            Some("Port-au-Prince HT")
        );
    }

    #[test]
    fn arabic_script_names_are_found_through_alternate_names() {
        let p = parser(&[]);
        assert_eq!(
            name(&p, "فيضانات في نيروبي", Some("KE")).as_deref(),
            Some("Nairobi KE")
        );
    }

    #[test]
    fn text_without_places_gives_none() {
        let p = parser(&[]);
        assert_eq!(p.find("", Some("KE")), None);
        assert_eq!(p.find("we need water and food please", Some("KE")), None);
    }

    /// What a text names, as `Place KE.16` or `Region KE.16`.
    fn named(p: &Geoparser, text: &str, sender: Option<&str>) -> Option<String> {
        p.find(text, sender).map(|m| match m.named {
            Named::Place(i) => {
                let place = &p.gazetteer().places()[i];
                format!("{} {}", place.name, place.admin1_code().unwrap())
            }
            Named::Region(i) => format!("Region {}", p.region(i).code),
        })
    }

    #[test]
    fn regions_are_named_with_unit_words_in_the_languages_of_operation() {
        let p = parser(&[]);
        for (text, sender, region) in [
            ("Floods in Tana River county, roads cut", "KE", "KE.48"),
            ("mafuriko kaunti ya tana river", "KE", "KE.48"),
            ("Jigawa state: 40 families displaced", "NG", "NG.39"),
            (
                "Inondations dans le département du Nord-Ouest",
                "HT",
                "HT.03",
            ),
            ("daad ayaa ku dhuftay gobolka Bari", "SO", "SO.03"),
            ("cheias na província de Maputo", "MZ", "MZ.04"),
        ] {
            assert_eq!(
                named(&p, text, Some(sender)).as_deref(),
                Some(&*format!("Region {region}")),
                "{text}"
            );
        }
    }

    #[test]
    fn a_bare_region_name_counts_from_its_own_country() {
        let p = parser(&[]);
        assert_eq!(
            named(&p, "no food in Niger for 3 days", Some("NG")).as_deref(),
            Some("Region NG.31")
        );
        // From abroad, a bare region name is too weak; with a unit word it
        // is still read.
        assert_eq!(named(&p, "no food in Niger for 3 days", Some("GB")), None);
        assert_eq!(
            named(&p, "no food in Niger state for 3 days", Some("GB")).as_deref(),
            Some("Region NG.31")
        );
    }

    #[test]
    fn a_town_inside_the_named_region_is_the_more_precise_answer() {
        let p = parser(&[]);
        assert_eq!(
            named(&p, "Dutse, Jigawa state: 40 families displaced", Some("NG")).as_deref(),
            Some("Dutse NG.39")
        );
        // The town of the region's own name, bare, is the town...
        assert_eq!(
            named(&p, "Cholera in Garissa", Some("KE")).as_deref(),
            Some("Garissa KE.16")
        );
        // ...and with a unit word, the region.
        assert_eq!(
            named(&p, "Cholera in Garissa county", Some("KE")).as_deref(),
            Some("Region KE.16")
        );
    }

    #[test]
    fn a_unit_word_beats_a_town_of_the_same_name_elsewhere() {
        let p = parser(&[]);
        // Maputo the city is in Maputo City (MZ.11), not Maputo province.
        assert_eq!(
            named(&p, "falta comida em Maputo", Some("MZ")).as_deref(),
            Some("Maputo MZ.11")
        );
        assert_eq!(
            named(&p, "falta comida na província de Maputo", Some("MZ")).as_deref(),
            Some("Region MZ.04")
        );
        // Bari in Italy is a big town; "gobolka Bari" is the Somali region.
        assert_eq!(
            named(&p, "gobolka Bari", Some("SO")).as_deref(),
            Some("Region SO.03")
        );
    }

    #[test]
    fn directions_and_unit_words_alone_name_no_region() {
        let p = parser(&[]);
        for text in [
            "le nord ouest du pays est sans eau",
            "Ouest: the road is cut",
            "the county offices are closed",
            "Dumating na ang team ng lalawigan",
        ] {
            assert_eq!(named(&p, text, Some("HT")), None, "{text}");
        }
        // Written as a name, inside a sentence, by someone there: a region.
        assert_eq!(
            named(&p, "inondations dans le Nord-Ouest depuis hier", Some("HT")).as_deref(),
            Some("Region HT.03")
        );
    }

    #[test]
    fn the_words_of_trusted_names_are_given_for_language_detection() {
        let p = parser(&[]);
        let reading = p.read("Floods in Tana River county and Garissa", Some("KE"));
        assert_eq!(reading.name_words, ["garissa", "tana"]);
        assert!(p.read("we need water", Some("KE")).name_words.is_empty());
    }
}
