//! Secret comparison that takes the same time wherever the inputs differ.

use subtle::ConstantTimeEq;

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// True if `given` equals any of `secrets`; every candidate is compared, so
/// the time does not reveal which one matched.
pub fn matches_any<'a>(given: &[u8], secrets: impl IntoIterator<Item = &'a str>) -> bool {
    secrets.into_iter().fold(false, |found, s| {
        constant_time_eq(given, s.as_bytes()) | found
    })
}

/// Hex signatures compare case-insensitively: SDKs differ in case.
pub fn hex_eq(given: &str, expected: &str) -> bool {
    constant_time_eq(
        given.trim().to_ascii_lowercase().as_bytes(),
        expected.to_ascii_lowercase().as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_secrets() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(matches_any(b"new", ["old", "new"]));
        assert!(!matches_any(b"x", ["old", "new"]));
        assert!(hex_eq("ABCDEF", "abcdef"));
    }
}
