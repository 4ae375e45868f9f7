//! Secrets in use, shared by the edge and the notifier: comparison that
//! takes the same time wherever the inputs differ, and keyed hashes
//! (pseudonyms of numbers, signatures of bodies).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header of Ishara's own body signature, on the generic gateway's
/// requests and on outgoing webhooks alike.
pub const SIGNATURE_HEADER: &str = "x-ishara-signature";

/// Lower-hex HMAC-SHA256 of the raw body.
pub fn body_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A keyed hash of a number or address: the same for a phone whether it
/// sends reports or receives alerts, and useless without the key.
pub fn pseudonym(key: &[u8], value: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(value.as_bytes());
    let digest = mac.finalize().into_bytes();
    format!("ps_{}", hex::encode(&digest[..10]))
}

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
