//! Ordinary words that must not be read as place names on their own.

use std::collections::HashSet;

use foldhash::fast::FixedState;

use crate::fold::fold;

const COMMON_WORDS: &str = include_str!("common-words.txt");

pub struct CommonWords(HashSet<Box<str>, FixedState>);

impl CommonWords {
    pub fn embedded() -> Self {
        Self::parse(COMMON_WORDS)
    }

    /// Lines of `lang: word word ...`; `#` starts a comment line.
    fn parse(text: &str) -> Self {
        let words = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once(':').map(|(_, words)| words))
            .flat_map(str::split_whitespace)
            .map(|w| fold(w).into_boxed_str())
            .collect();
        Self(words)
    }

    /// `word` must already be folded.
    pub fn contains(&self, word: &str) -> bool {
        self.0.contains(word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_list_holds_words_of_several_languages() {
        let words = CommonWords::embedded();
        for w in ["mark", "bar", "man", "tafadhali", "agua", "eau"] {
            assert!(words.contains(w), "{w}");
        }
        assert!(!words.contains("nairobi"));
    }
}
