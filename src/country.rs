//! Country facts from GeoNames `countryInfo.txt`, compiled into the binary.

use std::collections::HashMap;
use std::sync::LazyLock;

const COUNTRY_INFO: &str = include_str!("../data/geonames/countryInfo.txt");

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Country {
    /// ISO 3166-1 alpha-2, upper case.
    pub iso: String,
    pub name: String,
    /// Digits only, without `+`; empty for places without one (Antarctica).
    pub calling_code: String,
    /// Language tags as GeoNames lists them (`sw-KE`, `en-KE`).
    pub languages: Vec<String>,
}

static COUNTRIES: LazyLock<HashMap<String, Country>> = LazyLock::new(|| parse(COUNTRY_INFO));

/// Parses the public GeoNames `countryInfo.txt` format.
pub fn parse(text: &str) -> HashMap<String, Country> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let iso = cols.first()?.trim();
            if iso.len() != 2 {
                return None;
            }
            let calling_code: String = cols
                .get(12)?
                .trim_start_matches('+')
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let country = Country {
                iso: iso.to_ascii_uppercase(),
                name: cols.get(4)?.to_string(),
                calling_code,
                languages: cols
                    .get(15)
                    .map(|l| {
                        l.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            Some((country.iso.clone(), country))
        })
        .collect()
}

/// Looks a country up by its ISO alpha-2 code, in any case.
pub fn by_iso(iso: &str) -> Option<&'static Country> {
    COUNTRIES.get(&iso.to_ascii_uppercase())
}

/// Codes GeoNames still lists for countries that no longer exist (ISO
/// 3166-3): Netherlands Antilles and Serbia and Montenegro would otherwise
/// win +599 and +381 on their old populations.
const FORMERLY_USED: &[&str] = &["AN", "CS"];

/// One dialling prefix (calling code plus, where GeoNames gives one, the
/// area code) and the country it reaches.
struct Prefix {
    digits: String,
    iso: String,
    population: u64,
}

/// The most populous country whose first listed language is `language`
/// (ISO 639-1): where a sender writing it most likely lives.
pub fn most_populous_speaking(language: &str) -> Option<&'static Country> {
    let iso = COUNTRY_INFO
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let population: u64 = cols.get(7)?.trim().parse().ok()?;
            let first = cols.get(15)?.split([',', '-']).next()?;
            first
                .eq_ignore_ascii_case(language)
                .then(|| (population, cols[0].trim()))
        })
        .filter(|(_, iso)| !FORMERLY_USED.contains(iso))
        .max()?
        .1;
    by_iso(iso)
}

static PREFIXES: LazyLock<Vec<Prefix>> = LazyLock::new(|| prefixes(COUNTRY_INFO));

/// Reads the phone column, which is `254`, `+1-876` or `+1-809 and 1-829`:
/// every alternative becomes one prefix of digits.
fn prefixes(text: &str) -> Vec<Prefix> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let iso = cols.first()?.trim().to_ascii_uppercase();
            let population = cols.get(7)?.trim().parse().unwrap_or(0);
            let phone = *cols.get(12)?;
            Some((iso, population, phone))
        })
        .filter(|(iso, _, _)| iso.len() == 2 && !FORMERLY_USED.contains(&iso.as_str()))
        .flat_map(|(iso, population, phone)| {
            phone
                .split(" and ")
                .map(|alt| alt.chars().filter(char::is_ascii_digit).collect::<String>())
                .filter(|digits| !digits.is_empty())
                .map(move |digits| Prefix {
                    digits,
                    iso: iso.clone(),
                    population,
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The country an E.164 number (`+254712345678`) belongs to: the longest
/// matching prefix wins, so +1-809 is the Dominican Republic; where several
/// countries share the same prefix and GeoNames gives no area code to tell
/// them apart (+7, +47, +262), the most populous one is the best guess.
pub fn of_number(e164: &str) -> Option<&'static Country> {
    let digits: String = e164
        .trim()
        .strip_prefix('+')?
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let best = PREFIXES
        .iter()
        .filter(|p| digits.starts_with(&p.digits))
        .max_by_key(|p| (p.digits.len(), p.population))?;
    by_iso(&best.iso)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kenya_has_calling_code_254_and_speaks_swahili() {
        let ke = by_iso("ke").unwrap();
        assert_eq!(ke.calling_code, "254");
        assert_eq!(ke.name, "Kenya");
        assert!(ke.languages.iter().any(|l| l.starts_with("sw")));
    }

    #[test]
    fn north_american_numbers_take_the_leading_code() {
        assert_eq!(by_iso("US").unwrap().calling_code, "1");
        assert_eq!(by_iso("DO").unwrap().calling_code, "1");
    }

    fn iso_of(number: &str) -> Option<&'static str> {
        of_number(number).map(|c| c.iso.as_str())
    }

    #[test]
    fn numbers_find_their_country_by_calling_code() {
        assert_eq!(iso_of("+254712345678"), Some("KE"));
        assert_eq!(iso_of("+252612345678"), Some("SO"));
        assert_eq!(iso_of("+33612345678"), Some("FR"));
    }

    #[test]
    fn area_codes_separate_countries_sharing_a_calling_code() {
        assert_eq!(iso_of("+18095551234"), Some("DO"));
        assert_eq!(iso_of("+18295551234"), Some("DO"));
        assert_eq!(iso_of("+18765551234"), Some("JM"));
        assert_eq!(iso_of("+441481555123"), Some("GG"));
    }

    #[test]
    fn shared_codes_without_area_code_go_to_the_most_populous_country() {
        assert_eq!(iso_of("+12125551234"), Some("US"));
        assert_eq!(iso_of("+447700900123"), Some("GB"));
        assert_eq!(iso_of("+74951234567"), Some("RU"));
        assert_eq!(iso_of("+4791234567"), Some("NO"));
        assert_eq!(iso_of("+61412345678"), Some("AU"));
    }

    #[test]
    fn countries_that_no_longer_exist_are_never_answered() {
        assert_eq!(iso_of("+381641234567"), Some("RS"));
        assert_eq!(iso_of("+59995123456"), Some("CW"));
    }

    #[test]
    fn what_is_not_an_international_number_has_no_country() {
        assert_eq!(iso_of("0712345678"), None);
        assert_eq!(iso_of("+"), None);
        assert_eq!(iso_of("MPESA"), None);
        assert_eq!(iso_of("+0123"), None);
    }

    #[test]
    fn a_language_is_placed_where_most_of_its_speakers_live() {
        let iso = |code| most_populous_speaking(code).map(|c| c.iso.as_str());
        assert_eq!(iso("sw"), Some("TZ"));
        assert_eq!(iso("fr"), Some("CD"));
        assert_eq!(iso("pt"), Some("BR"));
        assert_eq!(iso("xx"), None);
    }

    #[test]
    fn unknown_country_is_none() {
        assert!(by_iso("XX").is_none());
    }
}
