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

    #[test]
    fn unknown_country_is_none() {
        assert!(by_iso("XX").is_none());
    }
}

/// Placeholder until calling-code lookup lands.
pub fn of_number(e164: &str) -> Option<&'static Country> {
    let digits = e164.trim_start_matches('+');
    (1..=4)
        .rev()
        .filter_map(|n| digits.get(..n))
        .find_map(|prefix| COUNTRIES.values().find(|c| c.calling_code == prefix))
}
