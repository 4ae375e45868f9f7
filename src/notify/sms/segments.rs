//! How many SMS a text costs, and cutting a text to a segment budget.
//!
//! Follows GSM 03.38 (3GPP TS 23.038) and UCS-2, as summed up under "SMS" in
//! `docs/notifications.md`: one character outside the GSM-7 default alphabet
//! and its extension table makes the whole message UCS-2, and neither an
//! escape pair nor a surrogate pair is ever split across two parts.

use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segments {
    pub encoding: Encoding,
    /// septets (GSM-7) or UTF-16 units (UCS-2)
    pub units: usize,
    /// the size of each part in units; its len() is the number of SMS
    pub parts: Vec<usize>,
}

/// Limits per encoding: (single SMS, each part of a concatenated SMS). The
/// difference is the user data header that concatenation needs.
const GSM7_LIMITS: (usize, usize) = (160, 153);
const UCS2_LIMITS: (usize, usize) = (70, 67);

const GSM7_ELLIPSIS: &str = "...";
const UCS2_ELLIPSIS: &str = "…";

/// How far back (in characters) `fit` looks for a word break before it
/// settles for cutting inside a word.
const WORD_BREAK_WINDOW: usize = 20;

/// Septets a character costs in GSM-7, or `None` if it has no GSM-7 form.
fn gsm7_septets(c: char) -> Option<usize> {
    match c {
        '@'
        | '£'
        | '$'
        | '¥'
        | 'è'
        | 'é'
        | 'ù'
        | 'ì'
        | 'ò'
        | 'Ç'
        | '\n'
        | 'Ø'
        | 'ø'
        | '\r'
        | 'Å'
        | 'å'
        | 'Δ'
        | '_'
        | 'Φ'
        | 'Γ'
        | 'Λ'
        | 'Ω'
        | 'Π'
        | 'Ψ'
        | 'Σ'
        | 'Θ'
        | 'Ξ'
        | 'Æ'
        | 'æ'
        | 'ß'
        | 'É'
        | ' '
        | '!'
        | '"'
        | '#'
        | '¤'
        | '%'
        | '&'
        | '\''
        | '('
        | ')'
        | '*'
        | '+'
        | ','
        | '-'
        | '.'
        | '/'
        | '0'..='9'
        | ':'
        | ';'
        | '<'
        | '='
        | '>'
        | '?'
        | '¡'
        | 'A'..='Z'
        | 'Ä'
        | 'Ö'
        | 'Ñ'
        | 'Ü'
        | '§'
        | '¿'
        | 'a'..='z'
        | 'ä'
        | 'ö'
        | 'ñ'
        | 'ü'
        | 'à' => Some(1),
        // The extension table: an escape septet plus the code.
        '^' | '{' | '}' | '\\' | '[' | '~' | ']' | '|' | '€' | '\u{0C}' => Some(2),
        _ => None,
    }
}

pub fn encoding(text: &str) -> Encoding {
    if text.chars().all(|c| gsm7_septets(c).is_some()) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    }
}

/// Units a character costs once the message's encoding is known.
fn char_units(c: char, encoding: Encoding) -> usize {
    match encoding {
        // Only reached for GSM-7 texts, so every character has a septet form;
        // 1 is a harmless fallback that keeps this total.
        Encoding::Gsm7 => gsm7_septets(c).unwrap_or(1),
        Encoding::Ucs2 => c.len_utf16(),
    }
}

fn limits(encoding: Encoding) -> (usize, usize) {
    match encoding {
        Encoding::Gsm7 => GSM7_LIMITS,
        Encoding::Ucs2 => UCS2_LIMITS,
    }
}

/// Greedy packing of characters into parts. `Copy` so `fit` can ask "what if
/// the ellipsis came next" without disturbing the running state.
#[derive(Debug, Clone, Copy)]
struct Packer {
    single: usize,
    per_part: usize,
    total: usize,
    closed_parts: usize,
    current: usize,
}

impl Packer {
    fn new(encoding: Encoding) -> Self {
        let (single, per_part) = limits(encoding);
        Self {
            single,
            per_part,
            total: 0,
            closed_parts: 0,
            current: 0,
        }
    }

    /// Adds one character (never split); returns the size of the part it
    /// closed, if it did not fit in the current one.
    fn push(&mut self, units: usize) -> Option<usize> {
        self.total += units;
        let closed = (self.current + units > self.per_part).then_some(self.current);
        if closed.is_some() {
            self.closed_parts += 1;
            self.current = 0;
        }
        self.current += units;
        closed
    }

    /// Number of SMS: a text within the single limit needs no header at all,
    /// so the multipart split only applies above it.
    fn parts(&self) -> usize {
        if self.total <= self.single {
            1
        } else {
            self.closed_parts + 1
        }
    }

    fn parts_with(mut self, tail: &str, encoding: Encoding) -> usize {
        for c in tail.chars() {
            self.push(char_units(c, encoding));
        }
        self.parts()
    }
}

pub fn count(text: &str) -> Segments {
    let encoding = encoding(text);
    let mut packer = Packer::new(encoding);
    let mut parts = Vec::new();
    for c in text.chars() {
        parts.extend(packer.push(char_units(c, encoding)));
    }
    let parts = if packer.total <= packer.single {
        vec![packer.total]
    } else {
        parts.push(packer.current);
        parts
    };
    Segments {
        encoding,
        units: packer.total,
        parts,
    }
}

fn ellipsis_for(encoding: Encoding) -> &'static str {
    match encoding {
        Encoding::Gsm7 => GSM7_ELLIPSIS,
        Encoding::Ucs2 => UCS2_ELLIPSIS,
    }
}

/// The text cut to fit in `max_segments` (>= 1), ending with an ellipsis
/// when cut: "..." (3 septets) when the result is GSM-7, "…" when UCS-2
/// (never let the ellipsis itself force UCS-2). Cuts at a character
/// boundary, preferably at the last whitespace within the last ~20 chars;
/// returns `Cow::Borrowed` when it already fits.
pub fn fit(text: &str, max_segments: usize) -> Cow<'_, str> {
    // 0 would make every text unsendable; the caller's config rejects it,
    // so treat it as the smallest budget rather than panic.
    let max = max_segments.max(1);
    if count(text).parts.len() <= max {
        return Cow::Borrowed(text);
    }
    let cut = longest_cut(text, max);
    let candidates = [word_break(text, cut), Some(cut)];
    candidates
        .into_iter()
        .flatten()
        .find_map(|at| with_ellipsis(&text[..at], max, true))
        // The hard cut was checked untrimmed by `longest_cut`, so this
        // always yields; the bare ellipsis is a defensive last resort.
        .or_else(|| with_ellipsis(&text[..cut], max, false))
        .map_or(Cow::Borrowed(GSM7_ELLIPSIS), Cow::Owned)
}

/// The longest prefix (as a byte index on a char boundary) that fits in
/// `max` parts once the ellipsis of the prefix's own encoding is added.
///
/// A prefix is GSM-7 up to the first non-GSM character and UCS-2 after it,
/// so both encodings are tracked in one pass; the later fitting boundary
/// wins because it keeps more of the text.
fn longest_cut(text: &str, max: usize) -> usize {
    let mut gsm = Packer::new(Encoding::Gsm7);
    let mut ucs = Packer::new(Encoding::Ucs2);
    let mut still_gsm = true;
    // The empty prefix always fits: "..." is one SMS.
    let mut best = 0;
    for (at, c) in text.char_indices() {
        let fits = if still_gsm {
            gsm.parts_with(GSM7_ELLIPSIS, Encoding::Gsm7) <= max
        } else {
            ucs.parts_with(UCS2_ELLIPSIS, Encoding::Ucs2) <= max
        };
        if fits {
            best = at;
        }
        match gsm7_septets(c) {
            Some(septets) if still_gsm => {
                gsm.push(septets);
            }
            _ => still_gsm = false,
        }
        ucs.push(c.len_utf16());
        // Appending never lowers the part count, so nothing later can fit.
        let gsm_over = !still_gsm || gsm.parts() > max;
        if gsm_over && ucs.parts() > max {
            break;
        }
    }
    best
}

/// A cut at the last whitespace shortly before `cut`, so words stay whole;
/// `None` if the cut already falls on a break or no whitespace is near.
fn word_break(text: &str, cut: usize) -> Option<usize> {
    let (kept, rest) = text.split_at(cut);
    if rest.starts_with(char::is_whitespace) {
        return Some(cut);
    }
    kept.char_indices()
        .rev()
        .take(WORD_BREAK_WINDOW)
        .find(|(_, c)| c.is_whitespace())
        .map(|(at, _)| at)
}

/// `prefix` plus the ellipsis its encoding calls for, if that fits.
fn with_ellipsis(prefix: &str, max: usize, trim: bool) -> Option<String> {
    let prefix = if trim { prefix.trim_end() } else { prefix };
    if trim && prefix.is_empty() {
        return None;
    }
    // Chosen after trimming: dropping a trailing non-GSM space can make the
    // rest GSM-7, and "…" would then turn it back into UCS-2 for nothing.
    let result = format!("{prefix}{}", ellipsis_for(encoding(prefix)));
    (count(&result).parts.len() <= max).then_some(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, enc: Encoding, units: usize, parts: &[usize]) {
        let got = count(text);
        assert_eq!(
            got,
            Segments {
                encoding: enc,
                units,
                parts: parts.to_vec()
            },
            "{text:?}"
        );
    }

    #[test]
    fn table_cholera_cases() {
        check("Cholera cases in Garissa", Encoding::Gsm7, 24, &[24]);
    }

    #[test]
    fn table_160_a_is_one_sms() {
        check(&"a".repeat(160), Encoding::Gsm7, 160, &[160]);
    }

    #[test]
    fn table_161_a_is_two() {
        check(&"a".repeat(161), Encoding::Gsm7, 161, &[153, 8]);
    }

    #[test]
    fn table_159_a_and_euro() {
        check(
            &format!("{}€", "a".repeat(159)),
            Encoding::Gsm7,
            161,
            &[153, 8],
        );
    }

    #[test]
    fn table_extension_characters() {
        let text = "Maji yamefika [Tana River] ~ 2m {urgent}";
        assert_eq!(text.chars().count(), 40);
        check(text, Encoding::Gsm7, 45, &[45]);
    }

    #[test]
    fn table_french_accents_in_gsm() {
        check("Choléra à Mopti: 3 cas", Encoding::Gsm7, 22, &[22]);
    }

    #[test]
    fn table_c_cedilla_forces_ucs2() {
        check("Français: choléra", Encoding::Ucs2, 17, &[17]);
    }

    #[test]
    fn table_escape_pair_never_splits() {
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        check(&text, Encoding::Gsm7, 306, &[152, 153, 1]);
        assert_eq!(306_usize.div_ceil(153), 2, "the naive count is one short");
    }

    #[test]
    fn table_arabic() {
        check("كوليرا في الخرطوم", Encoding::Ucs2, 17, &[17]);
    }

    #[test]
    fn table_emoji_is_two_units() {
        check("Flood 🌊 rising", Encoding::Ucs2, 15, &[15]);
    }

    #[test]
    fn table_71_arabic_letters() {
        check(&"ب".repeat(71), Encoding::Ucs2, 71, &[67, 4]);
    }

    #[test]
    fn surrogate_pair_never_splits() {
        let text = format!("{}🌊{}", "ب".repeat(66), "ب".repeat(10));
        check(&text, Encoding::Ucs2, 78, &[66, 12]);
    }

    #[test]
    fn alphabet_sizes_match_gsm_03_38() {
        let all = || (0..=0xFFFF_u32).filter_map(char::from_u32);
        assert_eq!(all().filter(|&c| gsm7_septets(c) == Some(1)).count(), 127);
        assert_eq!(all().filter(|&c| gsm7_septets(c) == Some(2)).count(), 10);
        for c in "çáâêíóôõú`‘’“”–…".chars() {
            assert_eq!(gsm7_septets(c), None, "{c:?}");
        }
    }

    #[test]
    fn empty_text_is_one_empty_sms() {
        check("", Encoding::Gsm7, 0, &[0]);
    }

    fn assert_fits(result: &str, max: usize) {
        let got = count(result).parts.len();
        assert!(got <= max, "{got} parts > {max}: {result:?}");
    }

    #[test]
    fn fit_borrows_when_it_fits() {
        let text = "a".repeat(306);
        assert!(matches!(fit(&text, 2), Cow::Borrowed(t) if t == text));
        assert!(matches!(fit("", 1), Cow::Borrowed("")));
    }

    #[test]
    fn fit_gsm_hard_cut_uses_three_dots() {
        let text = "a".repeat(500);
        let got = fit(&text, 2);
        assert_eq!(got, format!("{}...", "a".repeat(303)));
        assert_fits(&got, 2);
        assert_eq!(count(&got).parts, vec![153, 153]);
    }

    #[test]
    fn fit_single_segment_budget() {
        let text = "a".repeat(161);
        let got = fit(&text, 1);
        assert_eq!(got, format!("{}...", "a".repeat(157)));
        assert_eq!(count(&got).parts, vec![160]);
    }

    #[test]
    fn fit_prefers_a_word_break() {
        let text = "word ".repeat(100);
        let got = fit(&text, 1);
        assert!(got.ends_with("word..."), "{got:?}");
        assert!(!got.contains(" ..."), "{got:?}");
        assert_fits(&got, 1);
        assert!(got.len() > 140, "cut too early: {got:?}");
    }

    #[test]
    fn fit_cuts_inside_a_word_when_no_break_is_near() {
        let text = format!("Alert {}", "x".repeat(400));
        let got = fit(&text, 1);
        assert_eq!(got.len(), 160);
        assert!(got.ends_with("x..."));
    }

    #[test]
    fn fit_gsm_text_never_becomes_ucs2() {
        let text = "Cholera cases rising in Garissa ward, send teams now. ".repeat(20);
        for max in 1..=4 {
            let got = fit(&text, max);
            assert_eq!(encoding(&got), Encoding::Gsm7, "{got:?}");
            assert!(got.ends_with("..."));
            assert!(!got.contains('…'));
            assert_fits(&got, max);
        }
    }

    #[test]
    fn fit_drops_the_only_non_gsm_character_and_stays_gsm() {
        // The emoji lies past anything a GSM-7 cut could keep, so the
        // result is GSM-7 and gets "...", not "…".
        let text = format!("{}🌊", "a".repeat(400));
        let got = fit(&text, 2);
        assert_eq!(got, format!("{}...", "a".repeat(303)));
    }

    #[test]
    fn fit_ucs2_uses_unicode_ellipsis() {
        let text = "ب".repeat(200);
        let got = fit(&text, 2);
        assert_eq!(got, format!("{}…", "ب".repeat(133)));
        assert_eq!(count(&got).parts, vec![67, 67]);
        let got = fit(&text, 1);
        assert_eq!(got, format!("{}…", "ب".repeat(69)));
        assert_eq!(count(&got).parts, vec![70]);
    }

    #[test]
    fn fit_ucs2_prefers_a_word_break() {
        let text = "كوليرا في الخرطوم ".repeat(10);
        let got = fit(&text, 1);
        assert!(got.ends_with('…'));
        assert!(!got.contains(" …"), "{got:?}");
        assert_fits(&got, 1);
    }

    #[test]
    fn fit_never_splits_an_emoji() {
        // The 70-unit single SMS holds 68 units + "…", so the emoji at
        // units 68-69 must go whole.
        let text = format!("{}🌊{}", "ب".repeat(68), "ب".repeat(50));
        let got = fit(&text, 1);
        assert_eq!(got, format!("{}…", "ب".repeat(68)));
        assert_fits(&got, 1);
        // One unit earlier, the whole emoji fits.
        let text = format!("{}🌊{}", "ب".repeat(67), "ب".repeat(50));
        let got = fit(&text, 1);
        assert_eq!(got, format!("{}🌊…", "ب".repeat(67)));
        assert_fits(&got, 1);
    }

    #[test]
    fn fit_never_splits_an_escape_pair() {
        let text = "€".repeat(100);
        let got = fit(&text, 1);
        assert_eq!(got, format!("{}...", "€".repeat(78)));
        assert_eq!(count(&got).units, 159);
    }

    #[test]
    fn fit_keeps_the_longer_ucs2_prefix() {
        let text = format!("{}🌊{}", "a".repeat(100), "b".repeat(100));
        let got = fit(&text, 2);
        assert_eq!(encoding(&got), Encoding::Ucs2);
        assert_eq!(got, format!("{}🌊{}…", "a".repeat(100), "b".repeat(31)));
        assert_fits(&got, 2);
    }

    #[test]
    fn fit_zero_is_treated_as_one() {
        let text = "a".repeat(200);
        let got = fit(&text, 0);
        assert_fits(&got, 1);
        assert!(got.ends_with("..."));
    }

    #[test]
    fn fit_results_always_fit() {
        let texts = [
            "Flood 🌊 rising near the river, evacuate now 🚨 ".repeat(12),
            "Choléra à Mopti: 3 cas {urgent} [ward 7] ~ ".repeat(15),
            "Français: choléra ".repeat(30),
            format!("{} {}", "a".repeat(150), "€".repeat(200)),
        ];
        for text in &texts {
            for max in 1..=4 {
                let got = fit(text, max);
                assert_fits(&got, max);
                assert!(text.starts_with(got.trim_end_matches(['.', '…'])));
            }
        }
    }
}
