//! What in an SMS carries language.
//!
//! Crisis texts are full of things every language shares: links, phone
//! numbers, counts, emoji, case codes ("CHOL 3", "KE-46", "REF123"). Left
//! in, they push a statistical detector toward whichever language happens
//! to score such n-grams best, and they make a text that says nothing look
//! long enough to judge.

use unicode_normalization::char::is_combining_mark;

use crate::fold::fold;

/// Top-level domains that mark a bare `name.tld` token as a link. A short
/// list on purpose: "end.Next" (a missing space) is common in SMS and must
/// stay two words.
const LINK_DOMAINS: &[&str] = &[
    "com", "org", "net", "info", "gov", "edu", "int", "io", "co", "ly", "app", "ke", "ug", "tz",
    "ng", "za", "ph", "fr", "uk",
];

/// The words of `text` that carry language, joined by single spaces.
pub fn language_text(text: &str) -> String {
    language_text_without(text, &[])
}

/// [`language_text`] without the words of place names: "Baybay" or
/// "Kismaayo" say where, not in what language. `names` are folded words
/// as the geoparser gives them.
pub fn language_text_without(text: &str, names: &[String]) -> String {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let digits: Vec<bool> = tokens
        .iter()
        .map(|t| t.chars().any(char::is_numeric))
        .collect();
    let has_digit = |i: usize| digits.get(i).copied().unwrap_or(false);
    // A capitalised word next to a number is a code ("CHOL 3", "OK 3"),
    // unless the whole text is shouted in capitals. Other acronyms stay:
    // "UNCTAD" or "WHO" are how a language writes names, and lingua uses
    // them.
    let shouted = is_shouted(&tokens, &digits);
    let mut kept = String::with_capacity(text.len());
    let mut word = String::new();
    for (i, token) in tokens.iter().enumerate() {
        if is_link_or_address(token) || token.starts_with(['#', '@']) {
            continue;
        }
        if has_digit(i) {
            // Numbers, phone numbers and codes such as KE-46, REF123, 3pm.
            continue;
        }
        letters_only(token, &mut word);
        let code = !shouted && is_acronym(&word) && (has_digit(i + 1) || i > 0 && has_digit(i - 1));
        if word.is_empty() || code {
            continue;
        }
        for part in word.split(' ') {
            if names.is_empty() || !is_name(part, names) {
                if !kept.is_empty() {
                    kept.push(' ');
                }
                kept.push_str(part);
            }
        }
    }
    kept
}

fn is_name(word: &str, names: &[String]) -> bool {
    let folded = fold(word);
    !folded.is_empty() && folded.split(' ').all(|w| names.iter().any(|n| n == w))
}

/// How much language a (cleaned) text holds: its letters.
pub fn letter_count(text: &str) -> usize {
    text.chars().filter(|c| c.is_alphabetic()).count()
}

fn is_link_or_address(token: &str) -> bool {
    // Most words: nothing a link or an address is made of.
    if !token.contains(['.', '/', '@', ':']) {
        return false;
    }
    let lower = token.to_lowercase();
    if lower.contains("://") || lower.starts_with("www.") {
        return true;
    }
    // e-mail addresses: something@something.something
    if let Some((user, host)) = lower.split_once('@')
        && !user.is_empty()
        && host.contains('.')
    {
        return true;
    }
    // bare links such as x.co/abc or bit.ly
    let host = lower
        .trim_end_matches(|c: char| !c.is_alphanumeric() && c != '/')
        .split('/')
        .next()
        .unwrap_or("");
    match host.rsplit_once('.') {
        Some((name, tld)) => {
            !name.is_empty()
                && (LINK_DOMAINS.contains(&tld) || lower.contains('/'))
                && tld.chars().all(|c| c.is_ascii_alphabetic())
        }
        None => false,
    }
}

/// Keeps letters, the marks that complete them (Devanagari vowel signs and
/// virama) and apostrophes or hyphens inside a word ("aujourd'hui",
/// "mji-mkuu"); everything else (emoji, punctuation) becomes a word break.
fn letters_only(token: &str, word: &mut String) {
    let is_letter = |c: char| c.is_alphabetic() || is_combining_mark(c);
    word.clear();
    let mut previous = None;
    let mut chars = token.chars().peekable();
    while let Some(c) = chars.next() {
        let joiner = matches!(c, '\'' | '’' | '-')
            && previous.is_some_and(is_letter)
            && chars.peek().is_some_and(|&n| is_letter(n));
        if is_letter(c) || joiner {
            word.push(c);
        } else if !word.is_empty() && !word.ends_with(' ') {
            word.push(' ');
        }
        previous = Some(c);
    }
    word.truncate(word.trim_end().len());
}

/// Two or more letters, all capitals (scripts without case never match).
fn is_acronym(word: &str) -> bool {
    let mut letters = 0;
    for c in word.chars() {
        if c.is_lowercase() || (c.is_alphabetic() && !c.is_uppercase()) {
            return false;
        }
        letters += usize::from(c.is_alphabetic());
    }
    letters >= 2
}

/// More capitals than small letters, in at least two words: one capitalised
/// word alone ("CHOL 3") is a code, not shouting.
fn is_shouted(tokens: &[&str], digits: &[bool]) -> bool {
    let mut word = String::new();
    let capital_words = tokens
        .iter()
        .zip(digits)
        .filter(|&(token, &digit)| {
            !digit && {
                letters_only(token, &mut word);
                is_acronym(&word)
            }
        })
        .count();
    if capital_words < 2 {
        return false;
    }
    let (upper, lower) =
        tokens
            .iter()
            .flat_map(|t| t.chars())
            .fold((0usize, 0usize), |(u, l), c| {
                (
                    u + usize::from(c.is_uppercase()),
                    l + usize::from(c.is_lowercase()),
                )
            });
    upper > lower
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn place_names_are_left_out_when_given() {
        let names = ["tacloban".to_owned(), "nord".to_owned(), "ouest".to_owned()];
        assert_eq!(
            language_text_without("Stranded in TACLOBAN since 2 days, pls help", &names),
            "Stranded in since days pls help"
        );
        // A hyphenated name is left out whole; other words stay.
        assert_eq!(
            language_text_without("Inondations dans le Nord-Ouest, aidez-nous", &names),
            "Inondations dans le aidez-nous"
        );
        assert_eq!(
            language_text_without("Stranded in Tacloban", &[]),
            "Stranded in Tacloban"
        );
    }

    #[test]
    fn links_numbers_emoji_and_codes_leave_only_the_words() {
        assert_eq!(
            language_text("CHOL 3 cases at https://x.co call +254712345678 😷"),
            "cases at call"
        );
    }

    #[test]
    fn acronyms_away_from_numbers_are_names_and_stay() {
        assert_eq!(
            language_text("WHO team reached ward 4 ZONE 7 today"),
            "WHO team reached ward today"
        );
    }

    #[test]
    fn case_codes_and_references_are_not_language() {
        assert_eq!(
            language_text("Wagonjwa KE-46 ref REF123 wamelazwa Garissa"),
            "Wagonjwa ref wamelazwa Garissa"
        );
    }

    #[test]
    fn emails_mentions_hashtags_and_bare_links_go() {
        assert_eq!(
            language_text("Écrivez à info@msf.org ou @MSF_fr #choléra voir bit.ly/abc merci"),
            "Écrivez à ou voir merci"
        );
    }

    #[test]
    fn a_missing_space_after_a_full_stop_keeps_both_words() {
        assert_eq!(
            language_text("Maji yamefika.Tuma msaada"),
            "Maji yamefika Tuma msaada"
        );
    }

    #[test]
    fn emoji_glued_to_words_and_punctuation_are_word_breaks() {
        assert_eq!(
            language_text("Help!!🙏please,water rising..."),
            "Help please water rising"
        );
    }

    #[test]
    fn apostrophes_and_hyphens_inside_words_stay() {
        assert_eq!(
            language_text("l'eau monte aujourd'hui, 'vite'"),
            "l'eau monte aujourd'hui vite"
        );
    }

    #[test]
    fn a_text_in_capitals_keeps_its_words() {
        assert_eq!(
            language_text("MAJI YAMEFIKA DARAJA 2M"),
            "MAJI YAMEFIKA DARAJA"
        );
    }

    #[test]
    fn devanagari_keeps_its_vowel_signs_and_virama() {
        assert_eq!(language_text("बाढ़ का पानी 😢"), "बाढ़ का पानी");
    }

    #[test]
    fn arabic_script_words_stay() {
        assert_eq!(language_text("المياه ترتفع 20 سم"), "المياه ترتفع سم");
    }

    #[test]
    fn nothing_but_a_code_and_a_count_leaves_nothing() {
        assert_eq!(language_text("OK 3"), "");
        assert_eq!(language_text("https://example.org/report?id=4"), "");
        assert_eq!(letter_count(&language_text("+254 712 345 678 👍")), 0);
    }

    #[test]
    fn letters_are_counted_without_spaces_or_marks_of_punctuation() {
        assert_eq!(letter_count("cases at call"), 11);
        assert_eq!(letter_count("l'eau"), 4);
    }
}
