//! The one folding that both place names and SMS text go through, so that
//! "KISUMU", "Kisúmu" and "kisumu" meet on the same key.

use std::ops::Range;

use unicode_normalization::char::{decompose_canonical, is_combining_mark};

/// How a word was written in the original text: lower-case words that are
/// also place names are weaker evidence than capitalised ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Lower,
    Capitalized,
    Upper,
    /// Digits, scripts without case, or mixed forms like "mcDonald".
    Other,
}

/// A text folded into words separated by single spaces, so that any run of
/// consecutive words is a slice of `folded` and can be looked up directly.
#[derive(Debug, Default)]
pub struct Words {
    folded: String,
    spans: Vec<Range<usize>>,
    cases: Vec<Case>,
}

impl Words {
    pub fn new(text: &str) -> Self {
        let mut words = Self::default();
        words.fold(text);
        words
    }

    /// Refills from `text`, reusing the buffers.
    pub fn fold(&mut self, text: &str) {
        self.folded.clear();
        self.spans.clear();
        self.cases.clear();
        let mut start = None;
        let mut shape = Shape::default();
        for c in text.chars() {
            let in_word = start.is_some();
            // A mark inside a word (Arabic harakat, tatweel) keeps the word going.
            if in_word && (is_combining_mark(c) || c == 'ـ') {
                continue;
            }
            let before = self.folded.len();
            if push_folded(c, &mut self.folded, !in_word && before > 0) {
                if !in_word {
                    start = Some(if before > 0 { before + 1 } else { 0 });
                    shape = Shape::default();
                }
                shape.add(c);
            } else if let Some(s) = start.take() {
                self.spans.push(s..self.folded.len());
                self.cases.push(shape.case());
            }
        }
        if let Some(s) = start {
            self.spans.push(s..self.folded.len());
            self.cases.push(shape.case());
        }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Words `range` joined by single spaces.
    pub fn slice(&self, range: Range<usize>) -> &str {
        &self.folded[self.spans[range.start].start..self.spans[range.end - 1].end]
    }

    pub fn word(&self, i: usize) -> &str {
        &self.folded[self.spans[i].clone()]
    }

    pub fn case(&self, i: usize) -> Case {
        self.cases[i]
    }

    /// The whole folded text.
    pub fn as_str(&self) -> &str {
        &self.folded
    }
}

/// Folds a name into its key: the words of [`Words`] joined by one space.
pub fn fold(name: &str) -> String {
    Words::new(name).folded
}

#[derive(Default)]
struct Shape {
    letters: u16,
    upper: u16,
    first_upper: bool,
}

impl Shape {
    fn add(&mut self, c: char) {
        if c.is_uppercase() {
            if self.letters == 0 {
                self.first_upper = true;
            }
            self.upper += 1;
        }
        if c.is_alphabetic() && (c.is_uppercase() || c.is_lowercase()) {
            self.letters += 1;
        }
    }

    fn case(&self) -> Case {
        match (self.letters, self.upper) {
            (0, _) => Case::Other,
            (_, 0) => Case::Lower,
            (n, u) if n == u && n > 1 => Case::Upper,
            (_, 1) if self.first_upper => Case::Capitalized,
            (1, 1) => Case::Capitalized,
            _ => Case::Other,
        }
    }
}

/// Appends the folded form of `c` to `out`; returns whether it appended
/// anything, that is whether `c` is part of a word. `space_first` asks for a separating space before the first
/// word character.
fn push_folded(c: char, out: &mut String, space_first: bool) -> bool {
    let mut pushed = false;
    let mut push = |out: &mut String, s: char| {
        if !pushed && space_first {
            out.push(' ');
        }
        pushed = true;
        out.push(s);
    };
    if c.is_ascii() {
        if c.is_ascii_alphanumeric() {
            push(out, c.to_ascii_lowercase());
            return true;
        }
        return false;
    }
    // Letters NFD does not split into base + mark.
    let special: Option<&str> = match c {
        'ß' | 'ẞ' => Some("ss"),
        'æ' | 'Æ' => Some("ae"),
        'œ' | 'Œ' => Some("oe"),
        'ø' | 'Ø' => Some("o"),
        'ł' | 'Ł' => Some("l"),
        'đ' | 'Đ' | 'ð' | 'Ð' => Some("d"),
        'þ' | 'Þ' => Some("th"),
        'ı' => Some("i"),
        'ħ' | 'Ħ' => Some("h"),
        // Arabic letters that SMS writers use interchangeably.
        'أ' | 'إ' | 'آ' | 'ٱ' => Some("ا"),
        'ة' => Some("ه"),
        'ى' => Some("ي"),
        _ => None,
    };
    if let Some(s) = special {
        for ch in s.chars() {
            push(out, ch);
        }
        return true;
    }
    if is_combining_mark(c) || !c.is_alphanumeric() {
        return false;
    }
    decompose_canonical(c, |d| {
        if !is_combining_mark(d) {
            for l in d.to_lowercase() {
                push(out, l);
            }
        }
    });
    pushed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accents_case_and_punctuation_fold_away() {
        assert_eq!(fold("Kisúmu"), "kisumu");
        assert_eq!(fold("  PORT-AU-PRINCE!! "), "port au prince");
        assert_eq!(fold("São Tomé"), "sao tome");
        assert_eq!(fold("N'Djamena"), "n djamena");
        assert_eq!(fold("Łódź"), "lodz");
        assert_eq!(fold("Straße"), "strasse");
    }

    #[test]
    fn arabic_script_loses_harakat_and_hamza_forms() {
        assert_eq!(fold("إِدْلِب"), fold("ادلب"));
        assert_eq!(fold("حماة"), "حماه");
    }

    #[test]
    fn words_keep_their_case_and_slice_as_runs() {
        let w = Words::new("Floods in HOMA bay, help!");
        assert_eq!(w.len(), 5);
        assert_eq!(w.slice(2..4), "homa bay");
        assert_eq!(w.case(0), Case::Capitalized);
        assert_eq!(w.case(2), Case::Upper);
        assert_eq!(w.case(3), Case::Lower);
        assert_eq!(w.as_str(), "floods in homa bay help");
    }

    #[test]
    fn empty_and_symbol_only_texts_have_no_words() {
        assert!(Words::new("").is_empty());
        assert!(Words::new(" ?! -- ").is_empty());
    }
}
