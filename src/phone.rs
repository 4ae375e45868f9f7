//! Senders' numbers in E.164, as described under "Phone numbers" in
//! `docs/gateways.md`.
//!
//! A number we cannot normalise is kept raw and flagged, never dropped: the
//! report matters more than its sender's formatting.

use serde::{Deserialize, Serialize};

/// `+` then 8 to 15 digits, the first not 0: what alerts may be sent to.
pub fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderKind {
    /// `+` and 8 to 15 digits.
    E164,
    /// 3 to 6 digits, such as `22384`.
    ShortCode,
    /// A name such as `MPESA`.
    Alphanumeric,
    /// Kept as received (`phone_invalid`).
    Invalid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    pub value: String,
    pub kind: SenderKind,
    /// The channel a prefix named, such as `whatsapp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

impl Sender {
    /// The country of the number: none for short codes, names and numbers
    /// that could not be put in E.164.
    pub fn country(&self) -> Option<&'static crate::country::Country> {
        (self.kind == SenderKind::E164)
            .then(|| crate::country::of_number(&self.value))
            .flatten()
    }
}

/// Normalises numbers as written in one country of operation.
#[derive(Debug, Clone, Default)]
pub struct PhoneNormalizer {
    /// Digits of the default country's calling code, such as `254`.
    calling_code: Option<String>,
}

impl PhoneNormalizer {
    /// `default_country` is an ISO alpha-2 code; `None` leaves national
    /// numbers (`0712…`) unresolved.
    pub fn new(default_country: Option<&str>) -> Result<Self, UnknownCountry> {
        let calling_code = match default_country {
            None => None,
            Some(iso) => {
                let country =
                    crate::country::by_iso(iso).ok_or_else(|| UnknownCountry(iso.to_owned()))?;
                Some(country.calling_code.clone()).filter(|c| !c.is_empty())
            }
        };
        Ok(Self { calling_code })
    }

    pub fn normalize(&self, raw: &str) -> Sender {
        let (channel, rest) = split_channel(raw.trim());
        if rest.chars().any(char::is_alphabetic) {
            return Sender {
                value: rest.to_owned(),
                kind: SenderKind::Alphanumeric,
                channel,
            };
        }
        let cleaned: String = rest
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '\u{a0}'))
            .collect();
        let (value, kind) = match self.to_e164(&cleaned) {
            Some(Number::E164(n)) => (n, SenderKind::E164),
            Some(Number::ShortCode(n)) => (n, SenderKind::ShortCode),
            None => (raw.trim().to_owned(), SenderKind::Invalid),
        };
        Sender {
            value,
            kind,
            channel,
        }
    }

    fn to_e164(&self, cleaned: &str) -> Option<Number> {
        let international = cleaned
            .strip_prefix('+')
            .or_else(|| cleaned.strip_prefix("00"));
        let digits = international.unwrap_or(cleaned);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let national_digits = match (international, &self.calling_code) {
            (Some(d), Some(cc)) => without_trunk_zeros(cc, d),
            (Some(d), None) => d.to_owned(),
            (None, _) if (3..=6).contains(&digits.len()) => {
                return Some(Number::ShortCode(digits.to_owned()));
            }
            (None, Some(cc)) => {
                if let Some(national) = digits.strip_prefix('0') {
                    format!("{cc}{national}")
                } else if digits.starts_with(cc.as_str()) && digits.len() - cc.len() >= 8 {
                    without_trunk_zeros(cc, digits)
                } else {
                    format!("{cc}{digits}")
                }
            }
            (None, None) => return None,
        };
        // No country code starts with 0: `+0712…` is a national number
        // written after a plus, which we cannot place, not E.164.
        ((8..=15).contains(&national_digits.len()) && !national_digits.starts_with('0'))
            .then(|| Number::E164(format!("+{national_digits}")))
    }
}

/// `2540712…`: trunk zeros written after the country code, with or
/// without the plus, are dropped while at least 8 digits stay after the
/// code. All of them, so that a normalised number normalises to itself.
fn without_trunk_zeros(cc: &str, digits: &str) -> String {
    let Some(mut rest) = digits.strip_prefix(cc) else {
        return digits.to_owned();
    };
    while rest.len() > 8
        && let Some(shorter) = rest.strip_prefix('0')
    {
        rest = shorter;
    }
    format!("{cc}{rest}")
}

enum Number {
    E164(String),
    ShortCode(String),
}

#[derive(Debug, thiserror::Error)]
#[error("unknown country code {0:?}: expected an ISO 3166 alpha-2 code such as KE")]
pub struct UnknownCountry(pub String);

/// Splits `tel:` and channel prefixes such as `whatsapp:+2547…`.
fn split_channel(raw: &str) -> (Option<String>, &str) {
    match raw.split_once(':') {
        Some((prefix, rest))
            if !prefix.is_empty() && prefix.chars().all(|c| c.is_ascii_alphabetic()) =>
        {
            let prefix = prefix.to_ascii_lowercase();
            let channel = (prefix != "tel").then_some(prefix);
            (channel, rest.trim())
        }
        _ => (None, raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kenya(raw: &str) -> Sender {
        PhoneNormalizer::new(Some("KE")).unwrap().normalize(raw)
    }

    fn e164(raw: &str) -> String {
        let s = kenya(raw);
        assert_eq!(s.kind, SenderKind::E164, "{raw} -> {s:?}");
        s.value
    }

    #[test]
    fn e164_numbers_have_a_plus_and_eight_to_fifteen_digits() {
        assert!(is_e164("+254712345678"));
        assert!(!is_e164("254712345678"));
        assert!(!is_e164("+0712345678"));
        assert!(!is_e164("+2547"));
        assert!(!is_e164("+2547123456789012"));
    }

    #[test]
    fn spec_examples_become_e164() {
        assert_eq!(e164("+254712345678"), "+254712345678");
        assert_eq!(e164("254712345678"), "+254712345678");
        assert_eq!(e164("0712 345 678"), "+254712345678");
        assert_eq!(e164("0110123456"), "+254110123456");
        assert_eq!(e164("712345678"), "+254712345678");
        assert_eq!(e164("+2540712345678"), "+254712345678");
        assert_eq!(e164("00254712345678"), "+254712345678");
        assert_eq!(e164("(0712) 345-678"), "+254712345678");
        assert_eq!(e164("tel:+254712345678"), "+254712345678");
    }

    #[test]
    fn foreign_numbers_keep_their_code() {
        assert_eq!(e164("+12349013030"), "+12349013030");
        assert_eq!(e164("0044 20 7946 0958"), "+442079460958");
    }

    #[test]
    fn channel_prefix_is_recorded() {
        let s = kenya("whatsapp:+254712345678");
        assert_eq!(s.value, "+254712345678");
        assert_eq!(s.channel.as_deref(), Some("whatsapp"));
    }

    #[test]
    fn short_codes_and_names_are_kept() {
        assert_eq!(
            kenya("22384"),
            Sender {
                value: "22384".into(),
                kind: SenderKind::ShortCode,
                channel: None
            }
        );
        assert_eq!(kenya("MPESA").kind, SenderKind::Alphanumeric);
        assert_eq!(kenya("MPESA").value, "MPESA");
    }

    #[test]
    fn a_zero_after_the_plus_is_kept_raw_and_flagged() {
        // Found by fuzzing: this was called E.164, which `is_e164` denies.
        for raw in ["+0712345678", "000712345678"] {
            let s = kenya(raw);
            assert_eq!(s.kind, SenderKind::Invalid, "{raw}");
            assert_eq!(s.value, raw);
        }
    }

    #[test]
    fn trunk_zeros_after_the_country_code_go_with_or_without_the_plus() {
        // Found by fuzzing: `2540712…` kept its zero while `+2540712…`
        // lost it, so a normalised number changed when normalised again.
        for raw in ["2540712345678", "+2540712345678", "+25400712345678"] {
            assert_eq!(e164(raw), "+254712345678", "{raw}");
        }
        let us = PhoneNormalizer::new(Some("US")).unwrap();
        let once = us.normalize("1040434357");
        assert_eq!(us.normalize(&once.value), once);
    }

    #[test]
    fn nonsense_is_kept_raw_and_flagged() {
        let s = kenya("+12");
        assert_eq!(s.kind, SenderKind::Invalid);
        assert_eq!(s.value, "+12");
        assert_eq!(kenya("1234567890123456789").kind, SenderKind::Invalid);
    }

    #[test]
    fn without_a_default_country_national_numbers_are_invalid() {
        let n = PhoneNormalizer::new(None).unwrap();
        assert_eq!(n.normalize("0712345678").kind, SenderKind::Invalid);
        assert_eq!(n.normalize("+254712345678").kind, SenderKind::E164);
    }

    #[test]
    fn unknown_default_country_is_an_error() {
        assert!(PhoneNormalizer::new(Some("QQ")).is_err());
    }
}
