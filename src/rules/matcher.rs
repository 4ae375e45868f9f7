//! Which rules a report matches, for all rules at once: every term of every
//! rule goes into one Aho-Corasick automaton, so the cost of a report grows
//! with its length and the rules it actually hits, not with the number of
//! rules. Only rules whose `keywords` were hit, and the few rules without
//! `keywords`, are then checked condition by condition.
//!
//! Text and terms are folded the same way as place names
//! ([`normalize`](crate::enrich::geoparse::normalize)): lower case, accents
//! removed, any run of characters that are not letters or digits one space.
//! So a term matches whole words only, and a phrase matches across any
//! punctuation and spacing: `watery diarrhoea` matches "Watery, diarrhoea".

use std::cell::RefCell;
use std::ops::Range;

use aho_corasick::{AhoCorasick, MatchKind};

use super::model::{PlaceFilter, Rule, Topic};
use crate::fold::{Words, fold};

/// What the matcher needs of an enriched report.
#[derive(Debug, Clone, Copy, Default)]
pub struct Subject<'a> {
    pub text: &'a str,
    pub language: &'a str,
    pub source: &'a str,
    pub country: Option<&'a str>,
    pub admin1_code: Option<&'a str>,
    pub admin1_name: Option<&'a str>,
    pub place_name: Option<&'a str>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleMatch {
    /// Index into the rules given to [`Matcher::new`].
    pub rule: usize,
    /// The rule's `keywords` topics found in the text, in rule order, each
    /// once; empty when the rule has no `keywords`.
    pub topics: Vec<String>,
}

/// One topic of one rule's `keywords`, `all` or `none`: the unit a term hit
/// marks.
#[derive(Debug, Clone, Copy)]
struct Slot {
    rule: u32,
    /// A `keywords` topic, whose hit makes the rule a candidate.
    any: bool,
}

#[derive(Debug)]
struct Compiled {
    any: Range<u32>,
    all: Range<u32>,
    none: Range<u32>,
    /// Names of the `any` slots, in order.
    any_names: Vec<String>,
    languages: Vec<String>,
    places: Vec<PlaceFilter>,
    sources: Vec<String>,
    text: Option<regex::Regex>,
}

#[derive(Debug)]
pub struct Matcher {
    /// `None` when no rule has a term.
    automaton: Option<AhoCorasick>,
    /// The slots of pattern `p` are `pattern_slots[pattern_start[p]..pattern_start[p + 1]]`.
    pattern_start: Vec<u32>,
    pattern_slots: Vec<u32>,
    slots: Vec<Slot>,
    rules: Vec<Compiled>,
    /// Rules without `keywords`: no term hit can make them candidates, so
    /// they are checked on every report.
    unkeyed: Vec<u32>,
}

/// Buffers reused from report to report. Stamps carry the number of the
/// report that set them, so nothing needs clearing between reports.
#[derive(Debug, Default)]
pub struct Scratch {
    words: Words,
    ascii: String,
    epoch: u32,
    slot_stamp: Vec<u32>,
    rule_stamp: Vec<u32>,
    candidates: Vec<u32>,
    admin1_name: Words,
    place_name: Words,
    names_epoch: u32,
}

impl Scratch {
    fn next_report(&mut self, slots: usize, rules: usize) {
        if self.epoch == u32::MAX {
            self.slot_stamp.fill(0);
            self.rule_stamp.fill(0);
            self.names_epoch = 0;
            self.epoch = 0;
        }
        self.epoch += 1;
        if self.slot_stamp.len() < slots {
            self.slot_stamp.resize(slots, 0);
        }
        if self.rule_stamp.len() < rules {
            self.rule_stamp.resize(rules, 0);
        }
        self.candidates.clear();
    }

    fn hit(&self, slots: &Range<u32>) -> impl Iterator<Item = usize> + '_ {
        (slots.start as usize..slots.end as usize).filter(|&s| self.slot_stamp[s] == self.epoch)
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Matcher {
    pub fn new(rules: &[Rule]) -> Self {
        let mut patterns: Vec<String> = Vec::new();
        let mut pattern_of: std::collections::HashMap<String, u32> = Default::default();
        // (pattern, slot) pairs, grouped by pattern below.
        let mut uses: Vec<(u32, u32)> = Vec::new();
        let mut slots: Vec<Slot> = Vec::new();
        let mut compiled = Vec::with_capacity(rules.len());
        let mut unkeyed = Vec::new();

        for (r, rule) in rules.iter().enumerate() {
            let r32 = u32::try_from(r).expect("fewer than 2^32 rules");
            let mut add = |topics: &[Topic], any: bool| -> Range<u32> {
                let start = slots.len() as u32;
                for topic in topics {
                    let slot = slots.len() as u32;
                    slots.push(Slot { rule: r32, any });
                    for term in &topic.terms {
                        let folded = fold(term);
                        // An empty pattern would hit every report; `load` refuses such terms.
                        if folded.is_empty() {
                            continue;
                        }
                        let next = patterns.len() as u32;
                        let p = *pattern_of.entry(folded).or_insert_with_key(|k| {
                            patterns.push(k.clone());
                            next
                        });
                        uses.push((p, slot));
                    }
                }
                start..slots.len() as u32
            };
            let filter = &rule.filter;
            let any = add(&filter.any, true);
            let all = add(&filter.all, false);
            let none = add(&filter.none, false);
            if any.is_empty() {
                unkeyed.push(r32);
            }
            compiled.push(Compiled {
                any,
                all,
                none,
                any_names: filter.any.iter().map(|t| t.name.clone()).collect(),
                languages: filter.languages.clone(),
                places: filter
                    .places
                    .iter()
                    .map(|p| match p {
                        PlaceFilter::Admin(a) => PlaceFilter::Admin(a.to_ascii_uppercase()),
                        PlaceFilter::Named(n) => PlaceFilter::Named(fold(n)),
                        near => near.clone(),
                    })
                    .collect(),
                sources: filter.sources.clone(),
                text: filter.text.clone(),
            });
        }

        uses.sort_unstable();
        uses.dedup();
        let mut pattern_start = Vec::with_capacity(patterns.len() + 1);
        let mut pattern_slots = Vec::with_capacity(uses.len());
        let mut i = 0;
        for p in 0..patterns.len() as u32 {
            pattern_start.push(pattern_slots.len() as u32);
            while i < uses.len() && uses[i].0 == p {
                pattern_slots.push(uses[i].1);
                i += 1;
            }
        }
        pattern_start.push(pattern_slots.len() as u32);

        let automaton = (!patterns.is_empty()).then(|| {
            AhoCorasick::builder()
                // Overlapping search, which needs standard semantics, so
                // that "water rising" and "rising" both register.
                .match_kind(MatchKind::Standard)
                .build(&patterns)
                .expect("an automaton of folded terms: below every size limit of aho-corasick")
        });
        Self {
            automaton,
            pattern_start,
            pattern_slots,
            slots,
            rules: compiled,
            unkeyed,
        }
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Distinct folded terms in the automaton.
    pub fn patterns(&self) -> usize {
        self.pattern_start.len().saturating_sub(1)
    }

    /// Replaces `out` with the rules `report` matches, by rule index, using
    /// this thread's buffers.
    pub fn matches(&self, report: &Subject<'_>, out: &mut Vec<RuleMatch>) {
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => self.matches_with(report, &mut scratch, out),
            // Only if a caller matched from inside a match: keep working.
            Err(_) => self.matches_with(report, &mut Scratch::default(), out),
        });
    }

    /// [`matches`](Self::matches) with the caller's buffers.
    pub fn matches_with(
        &self,
        report: &Subject<'_>,
        scratch: &mut Scratch,
        out: &mut Vec<RuleMatch>,
    ) {
        out.clear();
        scratch.next_report(self.slots.len(), self.rules.len());
        if let Some(automaton) = &self.automaton {
            let text = if report.text.is_ascii() {
                fold_ascii(report.text, &mut scratch.ascii);
                scratch.ascii.as_bytes()
            } else {
                scratch.words.fold(report.text);
                scratch.words.as_str().as_bytes()
            };
            for hit in automaton.find_overlapping_iter(text) {
                let whole_word = (hit.start() == 0 || text[hit.start() - 1] == b' ')
                    && (hit.end() == text.len() || text[hit.end()] == b' ');
                if !whole_word {
                    continue;
                }
                let p = hit.pattern().as_usize();
                let uses = self.pattern_start[p] as usize..self.pattern_start[p + 1] as usize;
                for &slot in &self.pattern_slots[uses] {
                    let stamp = &mut scratch.slot_stamp[slot as usize];
                    if *stamp == scratch.epoch {
                        continue;
                    }
                    *stamp = scratch.epoch;
                    let Slot { rule, any } = self.slots[slot as usize];
                    if any && scratch.rule_stamp[rule as usize] != scratch.epoch {
                        scratch.rule_stamp[rule as usize] = scratch.epoch;
                        scratch.candidates.push(rule);
                    }
                }
            }
        }
        scratch.candidates.extend_from_slice(&self.unkeyed);
        scratch.candidates.sort_unstable();

        let candidates = std::mem::take(&mut scratch.candidates);
        // `out` keeps its entries and their strings from the last report, so
        // that steady state allocates nothing: overwrite, then cut the rest.
        let mut filled = 0;
        for &r in &candidates {
            let rule = &self.rules[r as usize];
            if !self.holds(rule, report, scratch) {
                continue;
            }
            if filled == out.len() {
                out.push(RuleMatch {
                    rule: 0,
                    topics: Vec::new(),
                });
            }
            let m = &mut out[filled];
            filled += 1;
            m.rule = r as usize;
            let mut named = 0;
            for s in scratch.hit(&rule.any) {
                let name = &rule.any_names[s - rule.any.start as usize];
                if m.topics[..named].contains(name) {
                    continue;
                }
                if named == m.topics.len() {
                    m.topics.push(String::new());
                }
                m.topics[named].clone_from(name);
                named += 1;
            }
            m.topics.truncate(named);
        }
        out.truncate(filled);
        scratch.candidates = candidates;
    }

    /// Everything but `keywords`, which made the rule a candidate; cheapest
    /// first.
    fn holds(&self, rule: &Compiled, report: &Subject<'_>, scratch: &mut Scratch) -> bool {
        if scratch.hit(&rule.all).count() != rule.all.len() {
            return false;
        }
        if scratch.hit(&rule.none).next().is_some() {
            return false;
        }
        if !rule.languages.is_empty() && !rule.languages.iter().any(|l| l == report.language) {
            return false;
        }
        if !rule.sources.is_empty() && !rule.sources.iter().any(|s| source_holds(s, report.source))
        {
            return false;
        }
        if !rule.places.is_empty() && !rule.places.iter().any(|p| place_holds(p, report, scratch)) {
            return false;
        }
        rule.text.as_ref().is_none_or(|re| re.is_match(report.text))
    }
}

/// [`Words::fold`] for ASCII text, which is most SMS: the same result
/// without the Unicode tables, a third of the cost of a match otherwise.
fn fold_ascii(text: &str, out: &mut String) {
    out.clear();
    let mut gap = false;
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            out.push(char::from(b.to_ascii_lowercase()));
        } else {
            gap = true;
        }
    }
}

fn place_holds(place: &PlaceFilter, report: &Subject<'_>, scratch: &mut Scratch) -> bool {
    match place {
        PlaceFilter::Admin(pattern) => {
            let country = report
                .country
                .or_else(|| report.admin1_code.and_then(|c| c.split('.').next()));
            [report.admin1_code, country]
                .into_iter()
                .flatten()
                .any(|code| glob(pattern.as_bytes(), code.as_bytes()))
        }
        PlaceFilter::Named(name) => {
            if scratch.names_epoch != scratch.epoch {
                scratch.names_epoch = scratch.epoch;
                scratch.admin1_name.fold(report.admin1_name.unwrap_or(""));
                scratch.place_name.fold(report.place_name.unwrap_or(""));
            }
            scratch.admin1_name.as_str() == name || scratch.place_name.as_str() == name
        }
        PlaceFilter::Near { lat, lon, km } => match (report.lat, report.lon) {
            (Some(rlat), Some(rlon)) => haversine_km(*lat, *lon, rlat, rlon) <= *km,
            _ => false,
        },
    }
}

/// `*` matches any run of characters; ASCII case does not matter.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where to resume after the last `*`: pattern after it, text it covers up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p + 1, t));
            p += 1;
        } else if p < pattern.len() && pattern[p].eq_ignore_ascii_case(&text[t]) {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    const EARTH_RADIUS_KM: f64 = 6371.0088;
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let dphi = (lat2 - lat1).to_radians();
    let dlambda = (lon2 - lon1).to_radians();
    let a = (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
}

/// `feed` stands for every feed, named (`feed:kobo`) or not; any other
/// name for itself.
fn source_holds(wanted: &str, source: &str) -> bool {
    wanted == source || (wanted == "feed" && source.starts_with("feed:"))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::rules::load::{Known, load_str};

    /// Rules from YAML, each given as its `match` body only.
    fn matcher(matches: &[&str]) -> Matcher {
        let yaml: String = matches
            .iter()
            .enumerate()
            .map(|(i, m)| {
                format!("- id: r{i}\n  match: {m}\n  when: {{first_seen: {{baseline: 1d}}}}\n")
            })
            .collect();
        let rules = load_str(Path::new("t.yaml"), &yaml, &Known::default()).expect("rules load");
        Matcher::new(&rules)
    }

    fn text(text: &str) -> Subject<'_> {
        Subject {
            text,
            language: "en",
            source: "twilio",
            ..Subject::default()
        }
    }

    fn hits(m: &Matcher, s: &Subject<'_>) -> Vec<usize> {
        let mut out = Vec::new();
        m.matches(s, &mut out);
        out.into_iter().map(|h| h.rule).collect()
    }

    fn topics(m: &Matcher, s: &Subject<'_>) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        m.matches(s, &mut out);
        out.into_iter().map(|h| h.topics).collect()
    }

    #[test]
    fn case_and_accents_do_not_matter() {
        let m = matcher(&["{keywords: [choléra]}"]);
        for t in ["CHOLERA here", "Choléra!", "suspected cholera", "CHOLÉRA"] {
            assert_eq!(hits(&m, &text(t)), [0], "{t}");
        }
        let m = matcher(&["{keywords: [CHOLERA]}"]);
        assert_eq!(hits(&m, &text("kipindupindu na choléra")), [0]);
    }

    #[test]
    fn terms_match_whole_words_only() {
        let m = matcher(&["{keywords: [bar]}"]);
        assert!(hits(&m, &text("the barrier broke")).is_empty());
        assert!(hits(&m, &text("crowbar")).is_empty());
        assert_eq!(hits(&m, &text("at the bar.")), [0]);
        assert_eq!(hits(&m, &text("bar")), [0]);
        assert_eq!(hits(&m, &text("(bar)")), [0]);
    }

    #[test]
    fn phrases_match_across_any_punctuation_and_spacing() {
        let m = matcher(&["{keywords: [\"watery diarrhoea\"]}"]);
        for t in [
            "Watery, diarrhoea",
            "watery   diarrhoea",
            "WATERY-DIARRHOEA!",
            "watery\ndiarrhoea",
        ] {
            assert_eq!(hits(&m, &text(t)), [0], "{t}");
        }
        assert!(hits(&m, &text("watery stools and diarrhoea")).is_empty());
        assert!(hits(&m, &text("watery diarrhoeas")).is_empty());
    }

    #[test]
    fn overlapping_terms_of_different_rules_all_register() {
        let m = matcher(&[
            "{keywords: [\"water rising\"]}",
            "{keywords: [rising]}",
            "{keywords: [water]}",
            "{keywords: [\"rising fast\"]}",
        ]);
        assert_eq!(hits(&m, &text("the water rising fast")), [0, 1, 2, 3]);
    }

    #[test]
    fn any_all_and_none() {
        let m = matcher(&[
            "{keywords: [flood, mafuriko], all: [water, rising], none: [drill, exercise]}",
        ]);
        assert_eq!(hits(&m, &text("Flood: water is rising")), [0]);
        assert!(
            hits(&m, &text("flood, water everywhere")).is_empty(),
            "all needs rising"
        );
        assert_eq!(hits(&m, &text("water rising, one flood")), [0]);
        assert!(
            hits(&m, &text("water rising")).is_empty(),
            "keywords needs one"
        );
        assert!(
            hits(&m, &text("flood drill: water rising")).is_empty(),
            "none"
        );
        assert!(
            hits(&m, &text("mafuriko water rising exercise")).is_empty(),
            "none"
        );
    }

    #[test]
    fn topic_maps_join_every_language_and_report_topic_names() {
        let m = matcher(&[
            "{keywords: {cholera: {en: [cholera], sw: [kipindupindu]}, flood: [flood, mafuriko], fire: [fire]}}",
        ]);
        // A Swahili term in a report taken for English still counts.
        assert_eq!(
            topics(&m, &text("kipindupindu and mafuriko, cholera")),
            [["cholera", "flood"]]
        );
        assert_eq!(topics(&m, &text("FIRE")), [["fire"]]);
        assert!(hits(&m, &text("nothing")).is_empty());
    }

    #[test]
    fn rules_without_keywords_are_checked_on_every_report() {
        let m = matcher(&["{sources: [feed]}", "{none: [test]}", "{keywords: [x]}"]);
        let mut s = text("anything at all");
        assert_eq!(hits(&m, &s), [1]);
        s.source = "feed";
        assert_eq!(hits(&m, &s), [0, 1]);
        assert_eq!(topics(&m, &s), [Vec::<String>::new(), vec![]]);
        s.text = "a test x";
        assert_eq!(hits(&m, &s), [0, 2]);
    }

    #[test]
    fn feed_matches_every_feed_and_feed_name_one() {
        let m = matcher(&["{sources: [feed]}", "{sources: [\"feed:kobo\"]}"]);
        let mut s = text("x");
        s.source = "feed";
        assert_eq!(hits(&m, &s), [0]);
        s.source = "feed:kobo";
        assert_eq!(hits(&m, &s), [0, 1]);
        s.source = "feed:odk";
        assert_eq!(hits(&m, &s), [0]);
        s.source = "feeder";
        assert!(hits(&m, &s).is_empty());
    }

    #[test]
    fn languages_and_sources() {
        let m = matcher(&["{keywords: [maji], languages: [sw, und], sources: [twilio, feed]}"]);
        let mut s = text("maji");
        assert!(hits(&m, &s).is_empty(), "en");
        s.language = "sw";
        assert_eq!(hits(&m, &s), [0]);
        s.source = "africastalking";
        assert!(hits(&m, &s).is_empty());
    }

    #[test]
    fn places_by_code_with_wildcards() {
        let m = matcher(&[
            "{places: [\"KE.*\"]}",
            "{places: [KE]}",
            "{places: [\"*.30\"]}",
            "{places: [\"*\"]}",
            "{places: [\"ke.3*\", UG]}",
        ]);
        let mut s = text("x");
        assert!(hits(&m, &s).is_empty(), "no place");
        s.country = Some("KE");
        assert_eq!(hits(&m, &s), [1, 3], "KE.* needs an admin-1");
        s.admin1_code = Some("KE.30");
        assert_eq!(hits(&m, &s), [0, 1, 2, 3, 4]);
        s.country = None;
        assert_eq!(
            hits(&m, &s),
            [0, 1, 2, 3, 4],
            "country from the admin-1 code"
        );
        s.admin1_code = Some("KE.03");
        assert_eq!(hits(&m, &s), [0, 1, 3]);
        s.admin1_code = Some("UG.C");
        assert_eq!(hits(&m, &s), [3, 4]);
    }

    #[test]
    fn places_by_name_and_distance() {
        let m = matcher(&[
            "{places: [{region: Turkana}]}",
            "{places: [{region: \"Port-au-Prince\"}]}",
            "{places: [{near: {lat: -1.29, lon: 36.82, km: 50}}]}",
        ]);
        let mut s = text("x");
        s.admin1_name = Some("TURKANA");
        assert_eq!(hits(&m, &s), [0]);
        s.admin1_name = Some("Ouest");
        s.place_name = Some("Port au Prince");
        assert_eq!(hits(&m, &s), [1]);
        // Thika is about 40 km from Nairobi, Nakuru about 120 km.
        s.lat = Some(-1.0333);
        s.lon = Some(37.0693);
        assert_eq!(hits(&m, &s), [1, 2]);
        s.lat = Some(-0.3031);
        s.lon = Some(36.08);
        assert_eq!(hits(&m, &s), [1]);
    }

    #[test]
    fn the_regex_runs_on_the_original_text() {
        let m = matcher(&[
            r#"{keywords: [cases], text: '\b\d{2,} Cases\b'}"#,
            r#"{text: 'é'}"#,
        ]);
        assert_eq!(hits(&m, &text("12 Cases today")), [0]);
        assert!(hits(&m, &text("12 cases today")).is_empty());
        assert!(hits(&m, &text("2 Cases")).is_empty());
        assert_eq!(hits(&m, &text("choléra")), [1]);
        assert!(hits(&m, &text("cholera")).is_empty());
    }

    #[test]
    fn shared_terms_and_many_reports_reuse_the_buffers() {
        let m = matcher(&[
            "{keywords: [cholera]}",
            "{keywords: [cholera, flood]}",
            "{none: [cholera]}",
        ]);
        let mut scratch = Scratch::default();
        let mut out = Vec::new();
        for i in 0..1000 {
            let t = if i % 2 == 0 { "cholera" } else { "flood" };
            m.matches_with(&text(t), &mut scratch, &mut out);
            let rules: Vec<usize> = out.iter().map(|h| h.rule).collect();
            assert_eq!(rules, if i % 2 == 0 { vec![0, 1] } else { vec![1, 2] });
        }
        assert_eq!(m.patterns(), 2);
    }

    #[test]
    fn the_stamps_survive_wrapping_around() {
        let m = matcher(&["{keywords: [a]}", "{keywords: [b]}"]);
        let mut scratch = Scratch {
            epoch: u32::MAX - 1,
            ..Scratch::default()
        };
        let mut out = Vec::new();
        for t in ["a", "b", "a", "b"] {
            m.matches_with(&text(t), &mut scratch, &mut out);
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].topics, [t]);
        }
    }

    #[test]
    fn the_ascii_fold_is_the_general_fold() {
        let mut out = String::new();
        for t in [
            "",
            "  ",
            "Hello, World!!",
            " a--b  c ",
            "KE.30 / 12 Cases",
            "x",
            "...y...",
            "Tab\there\n",
        ] {
            fold_ascii(t, &mut out);
            assert_eq!(out, fold(t), "{t:?}");
        }
    }

    #[test]
    fn glob_matches_runs_of_characters() {
        assert!(glob(b"KE.*", b"KE.30"));
        assert!(glob(b"KE.*", b"ke.3"));
        assert!(!glob(b"KE.*", b"KE"));
        assert!(glob(b"*", b""));
        assert!(glob(b"*.0*1", b"KE.0221"));
        assert!(!glob(b"*.0*1", b"KE.0212"));
        assert!(!glob(b"KE", b"KE.30"));
    }
}
