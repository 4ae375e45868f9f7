//! Which language a report is written in.
//!
//! lingua does the statistics; this module adds what SMS need around it:
//! only the words that carry language are judged (see [`super::clean`]), a
//! text with too little language or no clear winner is `und` rather than a
//! confident wrong answer, and a near-tie goes to a language the sender's
//! country speaks.

use lingua::{Language, LanguageDetectorBuilder};

use super::clean;
use crate::country::Country;
use crate::language::language_of;
pub use crate::language::{
    DEFAULT_LANGUAGES, LanguageCode, LanguageError, LanguageGuess, parse_languages, supported_codes,
};

/// Fewer letters than this (after cleaning) is not enough to tell a
/// language: "OK", "Hi", "ya". The shortest word pairs in the evaluation
/// data have 8 letters, so real two-word messages stay well above it.
pub const MIN_LETTERS: usize = 3;

/// Below this confidence for the best language the answer is `und`: twice
/// what a blind guess among the ten default languages gets. Word pairs
/// lingua gets right score from 0.217 up in the evaluation, so the bar only
/// refuses texts lingua can hardly tell from noise; an `und` that replaced
/// a right answer would cost more than the wrong answers it saves.
pub const MIN_CONFIDENCE: f64 = 0.2;

/// Languages whose confidence lies within this distance of the best are a
/// near-tie, which the sender's country may break.
pub const TIE_MARGIN: f64 = 0.15;

/// lingua with every model loaded at start, so no report waits for a
/// model to load; shared across threads.
pub struct LanguageDetector {
    lingua: lingua::LanguageDetector,
    languages: Vec<Language>,
}

impl LanguageDetector {
    /// # Panics
    ///
    /// If `codes` holds no language (only [`parse_languages`] makes codes,
    /// and it never returns an empty list).
    pub fn new(codes: &[LanguageCode]) -> Self {
        let languages: Vec<Language> = codes
            .iter()
            .filter_map(|c| language_of(c.as_str()))
            .collect();
        assert!(
            !languages.is_empty(),
            "a language detector needs at least one language"
        );
        let lingua = LanguageDetectorBuilder::from_languages(&languages)
            .with_preloaded_language_models()
            .build();
        Self { lingua, languages }
    }

    /// The configured languages.
    pub fn languages(&self) -> Vec<LanguageCode> {
        self.languages
            .iter()
            .copied()
            .map(LanguageCode::of)
            .collect()
    }

    /// The whole pipeline: clean, refuse too little language, ask lingua,
    /// refuse a weak answer, let the sender's country break a near-tie.
    pub fn detect(&self, text: &str, sender_country: Option<&Country>) -> LanguageGuess {
        self.detect_without(text, sender_country, &[])
    }

    /// [`LanguageDetector::detect`] on the text without the words of the
    /// place names found in it (folded, from the geoparser).
    pub fn detect_without(
        &self,
        text: &str,
        sender_country: Option<&Country>,
        place_names: &[String],
    ) -> LanguageGuess {
        let words = clean::language_text_without(text, place_names);
        if clean::letter_count(&words) < MIN_LETTERS {
            return LanguageGuess::undetermined();
        }
        let values = self.lingua.compute_language_confidence_values(words);
        let Some(&(best, best_confidence)) = values.first() else {
            return LanguageGuess::undetermined();
        };
        if best_confidence < MIN_CONFIDENCE {
            return LanguageGuess::undetermined();
        }
        let (language, confidence) = sender_country
            .and_then(|country| {
                let spoken = spoken_languages(country);
                if spoken.contains(&best) {
                    return None;
                }
                values
                    .iter()
                    .take_while(|(_, c)| best_confidence - c < TIE_MARGIN)
                    .find(|(l, _)| spoken.contains(l))
                    .copied()
            })
            .unwrap_or((best, best_confidence));
        LanguageGuess {
            code: LanguageCode::of(language),
            confidence,
        }
    }

    /// lingua alone on the raw text, for comparison.
    pub fn detect_raw(&self, text: &str) -> Option<Language> {
        self.lingua.detect_language_of(text)
    }
}

/// GeoNames lists tags such as `sw-KE`, `en-KE` or `fil`: the part before
/// the region is the language.
fn spoken_languages(country: &Country) -> Vec<Language> {
    country
        .languages
        .iter()
        .filter_map(|tag| language_of(&tag.split('-').next()?.to_ascii_lowercase()))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use super::*;
    use crate::country;

    static DETECTOR: LazyLock<LanguageDetector> = LazyLock::new(|| {
        let codes: Vec<String> = DEFAULT_LANGUAGES.iter().map(|c| c.to_string()).collect();
        LanguageDetector::new(&parse_languages(&codes).unwrap())
    });

    fn code(text: &str, country: Option<&str>) -> String {
        let country = country.map(|iso| country::by_iso(iso).unwrap());
        DETECTOR.detect(text, country).code.as_str().to_owned()
    }

    fn strings(codes: &[&str]) -> Vec<String> {
        codes.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn the_detector_can_be_shared_across_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<LanguageDetector>();
    }

    #[test]
    fn sms_in_english_swahili_and_french_are_recognised() {
        assert_eq!(
            code(
                "Water is rising fast near the bridge, 3 families need help 🙏",
                None
            ),
            "en"
        );
        assert_eq!(
            code(
                "Maji yamefika daraja la Garissa, watu 40 wanahitaji msaada",
                None
            ),
            "sw"
        );
        assert_eq!(
            code(
                "Cas de choléra à l'hôpital de Mopti, appelez le 223 7000 0000",
                None
            ),
            "fr"
        );
    }

    #[test]
    fn the_confidence_of_a_clear_answer_is_high() {
        let guess = DETECTOR.detect(
            "Wagonjwa watatu wa kipindupindu wamelazwa hospitalini leo",
            None,
        );
        assert_eq!(guess.code.as_str(), "sw");
        assert!(guess.confidence > 0.5, "{guess:?}");
    }

    #[test]
    fn texts_without_language_are_undetermined() {
        for text in [
            "OK 3",
            "https://x.co/a7Fq",
            "+254712345678 👍",
            "KE-46 REF123",
            "",
        ] {
            let guess = DETECTOR.detect(text, None);
            assert_eq!(guess, LanguageGuess::undetermined(), "{text:?}");
        }
    }

    #[test]
    fn a_link_does_not_sway_the_language() {
        assert_eq!(
            code(
                "Angalia https://www.who.int/news/cholera-outbreak-update sasa hivi",
                None
            ),
            "sw"
        );
    }

    #[test]
    fn a_kenyan_sender_breaks_a_near_tie_toward_swahili() {
        // A Swahili word pair of the evaluation set that lingua puts behind
        // Tagalog.
        let text = "kibao track";
        let values = DETECTOR
            .lingua
            .compute_language_confidence_values(clean::language_text(text));
        let confidence = |language| values.iter().find(|(l, _)| *l == language).unwrap().1;
        let (swahili, best) = (confidence(Language::Swahili), values[0]);
        // The example is only worth something while it is a real near-tie
        // that Swahili loses without the sender.
        assert_ne!(best.0, Language::Swahili, "{values:?}");
        assert!(best.1 - swahili < TIE_MARGIN, "{values:?}");
        assert_eq!(code(text, None), best.0.iso_code_639_1().to_string());
        assert_eq!(code(text, Some("KE")), "sw");
    }

    #[test]
    fn a_sender_country_does_not_override_a_clear_answer() {
        assert_eq!(
            code(
                "The clinic has run out of oral rehydration salts",
                Some("KE")
            ),
            "en"
        );
        assert_eq!(
            code(
                "Tafadhali tumeni chakula na maji kwa familia hizi",
                Some("FR")
            ),
            "sw"
        );
    }

    #[test]
    fn configured_codes_are_validated() {
        let parsed = parse_languages(&strings(&[" EN", "sw"])).unwrap();
        assert_eq!(
            parsed.iter().map(LanguageCode::as_str).collect::<Vec<_>>(),
            ["en", "sw"]
        );
        let unknown = parse_languages(&strings(&["en", "xx"])).unwrap_err();
        assert!(matches!(&unknown, LanguageError::Unknown { code, .. } if code == "xx"));
        let message = unknown.to_string();
        assert!(
            message.contains("\"xx\"") && message.contains("sw"),
            "{message}"
        );
        assert_eq!(
            parse_languages(&strings(&["en", "fr", "en"])),
            Err(LanguageError::Duplicate("en".into()))
        );
        assert!(matches!(
            parse_languages(&[]),
            Err(LanguageError::Empty { .. })
        ));
    }

    #[test]
    fn a_language_not_compiled_in_is_refused() {
        // German is a real ISO 639-1 code, but its model is not in this build.
        assert!(matches!(
            parse_languages(&strings(&["de"])),
            Err(LanguageError::Unknown { .. })
        ));
    }

    #[test]
    fn one_configured_language_still_refuses_other_scripts() {
        let detector = LanguageDetector::new(&parse_languages(&strings(&["en"])).unwrap());
        assert_eq!(
            detector
                .detect("The road to the camp is flooded", None)
                .code
                .as_str(),
            "en"
        );
        assert!(
            detector
                .detect("المياه ترتفع بسرعة في القرية", None)
                .code
                .is_undetermined()
        );
    }
}
