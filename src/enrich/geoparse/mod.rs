//! Place names in SMS text: every run of up to four words is looked up in
//! an index of folded gazetteer names, longer ones also within one typo,
//! and the candidates are weighed by how they were written and where the
//! sender is.

pub mod index;
pub mod normalize;
mod words;

use std::ops::Range;
use std::sync::Arc;

use index::{FUZZY_MIN_LETTERS, NameIndex, Posting, letters};
use normalize::{Case, Words};
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

/// A place named in a text.
#[derive(Debug, Clone, PartialEq)]
pub struct TextMatch {
    /// Index in [`Gazetteer::places`].
    pub place: usize,
    /// The words that named it, folded.
    pub words: String,
    /// Found through a typo.
    pub fuzzy: bool,
    /// 0 to 1.
    pub confidence: f64,
}

pub struct Geoparser {
    gazetteer: Arc<Gazetteer>,
    index: NameIndex,
    common: CommonWords,
    /// Countries of operation.
    countries: Vec<CountryCode>,
}

/// A [`TextMatch`] while the text is being read.
struct Candidate<'t> {
    place: usize,
    words: &'t str,
    fuzzy: bool,
    confidence: f64,
}

/// What the text says about one word run, before looking at places.
struct Run {
    fuzzy: bool,
    letters: usize,
    /// All its words lower case in a text that uses capitals elsewhere.
    lower_in_mixed: bool,
    words: usize,
}

impl Geoparser {
    /// `countries`: ISO alpha-2 codes of the countries of operation; codes
    /// that are not two letters are ignored.
    pub fn new(gazetteer: Arc<Gazetteer>, countries: &[String]) -> Self {
        let index = NameIndex::new(&gazetteer);
        Self {
            gazetteer,
            index,
            common: CommonWords::embedded(),
            countries: countries
                .iter()
                .filter_map(|c| CountryCode::parse(c))
                .collect(),
        }
    }

    pub fn gazetteer(&self) -> &Gazetteer {
        &self.gazetteer
    }

    /// Distinct folded names indexed.
    pub fn names(&self) -> usize {
        self.index.keys()
    }

    /// The best-supported place named in `text`, if any is trusted.
    /// `sender_country`: ISO alpha-2 of the sender's phone number.
    pub fn find(&self, text: &str, sender_country: Option<&str>) -> Option<TextMatch> {
        let words = Words::new(text);
        let sender = sender_country.and_then(CountryCode::parse);
        let mixed_case = {
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
        };
        // The best place of each word run that names one.
        let mut found: Vec<(Range<usize>, Candidate)> = Vec::new();
        let mut consider = |range: &Range<usize>, run: &Run, key, postings: &[Posting]| {
            for &posting in postings {
                let place = &self.gazetteer.places()[posting.place()];
                let Some(score) = self.score(run, posting, place, sender) else {
                    continue;
                };
                let candidate = Candidate {
                    place: posting.place(),
                    words: key,
                    fuzzy: run.fuzzy,
                    confidence: score,
                };
                match found.last_mut() {
                    Some((r, best)) if r == range => {
                        if self.better(&candidate, best) {
                            *best = candidate;
                        }
                    }
                    _ => found.push((range.clone(), candidate)),
                }
            }
        };
        for start in 0..words.len() {
            for len in 1..=MAX_WORDS.min(words.len() - start) {
                let range = start..start + len;
                let all_common = range.clone().all(|i| self.common.contains(words.word(i)));
                // "Mark my words": ordinary words alone are no place.
                if all_common {
                    continue;
                }
                let key = words.slice(range.clone());
                let letters = letters(key);
                let mut run = Run {
                    fuzzy: false,
                    letters,
                    lower_in_mixed: mixed_case
                        && range.clone().all(|i| words.case(i) == Case::Lower),
                    words: len,
                };
                let exact = self.index.exact(key);
                if !exact.is_empty() {
                    consider(&range, &run, key, exact);
                } else if len <= MAX_FUZZY_WORDS && letters + 1 >= FUZZY_MIN_LETTERS {
                    // One letter short of a long name is one typo too
                    // ("Kilif" for Kilifi); the index holds long names only.
                    run.fuzzy = true;
                    self.index
                        .fuzzy(key, |name, postings| consider(&range, &run, name, postings));
                }
            }
        }
        let (range, best) = found
            .iter()
            .filter(|(_, m)| m.confidence >= MIN_CONFIDENCE)
            .max_by(|a, b| {
                if self.better(&a.1, &b.1) {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Less
                }
            })?;
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
        let chosen = longest.map_or(best, |(_, m)| m);
        Some(TextMatch {
            place: chosen.place,
            words: chosen.words.to_owned(),
            fuzzy: chosen.fuzzy,
            confidence: chosen.confidence,
        })
    }

    fn better(&self, a: &Candidate, b: &Candidate) -> bool {
        a.confidence > b.confidence
            || (a.confidence == b.confidence
                && self.gazetteer.places()[a.place].population
                    > self.gazetteer.places()[b.place].population)
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
        // The sender's own country first, then the countries of operation;
        // a foreign town needs every other sign to be strong.
        score *= if sender == Some(place.country) {
            1.0
        } else if self.countries.contains(&place.country) {
            0.9
        } else if sender.is_some() || !self.countries.is_empty() {
            0.6
        } else {
            0.75
        };
        // Among namesakes the bigger town is the likelier one.
        let magnitude = f64::from(place.population.max(1)).log10();
        score *= 0.7 + 0.3 * (magnitude / 6.0).min(1.0);
        score *= match run.letters {
            0..=3 => 0.65,
            4 => 0.8,
            5 => 0.9,
            _ => 1.0,
        };
        if run.lower_in_mixed {
            score *= 0.85;
        }
        // A longer run that names a place is more specific than its parts.
        score *= 1.0 + 0.03 * (run.words - 1) as f64;
        Some(score.min(1.0))
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
                p.gazetteer().places()[m.place].name,
                p.gazetteer().places()[m.place].country
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
        assert_eq!(&*p.gazetteer().places()[m.place].name, "Garissa");
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
        let place = &p.gazetteer().places()[m.place];
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
}
