//! Name/value pairs as gateways send them: form bodies, query strings or
//! flat JSON objects. Order, duplicates and empty values are kept because
//! signatures cover them.

use super::InboundError;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Decodes as `form_urlencoded` does, but refuses what it would replace
    /// with U+FFFD (bytes that are not UTF-8) and NUL characters, naming
    /// the field: a mangled text must not be stored as if it were sent.
    pub fn from_urlencoded(raw: &[u8]) -> Result<Self, InboundError> {
        raw.split(|b| *b == b'&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let mut halves = pair.splitn(2, |b| *b == b'=');
                let name = decode_component(halves.next().unwrap_or_default())
                    .map_err(|reason| InboundError::invalid("body", reason))?;
                let value =
                    decode_component(halves.next().unwrap_or_default()).map_err(|reason| {
                        // "=%00" has no name; the error still names a field.
                        let field = if name.is_empty() { "body" } else { &name };
                        InboundError::invalid(field, reason)
                    })?;
                Ok((name, value))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// A flat JSON object; numbers and booleans become their text, as the
    /// form variant of the same webhook would carry them.
    pub fn from_json_object(raw: &[u8]) -> Result<Self, InboundError> {
        let value: serde_json::Value = serde_json::from_slice(raw)
            .map_err(|e| InboundError::InvalidBody(format!("not JSON: {e}")))?;
        let serde_json::Value::Object(map) = value else {
            return Err(InboundError::InvalidBody("expected a JSON object".into()));
        };
        crate::report::refuse_nul("", &map)
            .map_err(|e| InboundError::invalid(&e.path, e.reason))?;
        Ok(Self(
            map.into_iter()
                .filter_map(|(k, v)| {
                    let text = match v {
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Number(n) => n.to_string(),
                        serde_json::Value::Bool(b) => b.to_string(),
                        _ => return None,
                    };
                    Some((k, text))
                })
                .collect(),
        ))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A present, non-blank value, or `400` naming the field.
    pub fn require(&self, name: &str) -> Result<&str, InboundError> {
        self.get(name)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| InboundError::MissingField(name.to_owned()))
    }

    /// A present, non-blank value.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.trim().is_empty())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Pairs sorted by name, then value, in byte order: the order both
    /// Twilio and Vonage sign in.
    pub fn sorted(&self) -> Vec<(&str, &str)> {
        let mut pairs: Vec<_> = self.iter().collect();
        pairs.sort_unstable();
        pairs
    }

    pub fn without(&self, name: &str) -> Self {
        Self(self.0.iter().filter(|(k, _)| k != name).cloned().collect())
    }

    /// Copies the named fields that are present into report metadata.
    pub fn copy_into(&self, names: &[&str], meta: &mut serde_json::Map<String, serde_json::Value>) {
        for name in names {
            if let Some(v) = self.get(name) {
                meta.insert((*name).to_owned(), v.to_owned().into());
            }
        }
    }
}

/// One name or value: `+` is a space, then percent-decoding, then UTF-8.
fn decode_component(raw: &[u8]) -> Result<String, &'static str> {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    let decoded = percent_encoding::percent_decode(&spaced)
        .decode_utf8()
        .map_err(|_| "not valid UTF-8")?;
    if decoded.contains('\0') {
        return Err("holds a NUL character");
    }
    Ok(decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_under_an_empty_name_names_the_body() {
        for raw in [&b"=%00"[..], b"Body=hi&=a%00b"] {
            let err = Params::from_urlencoded(raw).unwrap_err();
            assert_eq!(err.field(), Some("body"), "{err}");
        }
        let err = Params::from_json_object(br#"{"": "a\u0000b"}"#).unwrap_err();
        assert_eq!(err.field(), Some("body"), "{err}");
    }

    #[test]
    fn form_keeps_empty_values_and_decodes_plus() {
        let p =
            Params::from_urlencoded(b"Body=Cholera+cases&FromCity=&From=%2B254712345678").unwrap();
        assert_eq!(p.get("Body"), Some("Cholera cases"));
        assert_eq!(p.get("FromCity"), Some(""));
        assert_eq!(p.get("From"), Some("+254712345678"));
        assert!(
            matches!(p.require("FromCity"), Err(InboundError::MissingField(f)) if f == "FromCity")
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_and_nul_are_refused_naming_the_field() {
        for raw in [&b"a=1&Body=%FF"[..], b"a=1&Body=\xC3\x28", b"Body=a%00b"] {
            let err = Params::from_urlencoded(raw).unwrap_err();
            assert_eq!(err.field(), Some("Body"), "{raw:?}");
        }
        let err = Params::from_json_object(br#"{"text":"a\u0000"}"#).unwrap_err();
        assert_eq!(err.field(), Some("text"));
        let p = Params::from_urlencoded("t=%C3%A9+%E2%82%AC&u=é".as_bytes()).unwrap();
        assert_eq!((p.get("t"), p.get("u")), (Some("é €"), Some("é")));
    }

    #[test]
    fn sorting_is_by_bytes_so_upper_case_comes_first() {
        let p = Params::from_urlencoded(b"body=x&To=1&AccountSid=2&From=3").unwrap();
        let names: Vec<_> = p.sorted().into_iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["AccountSid", "From", "To", "body"]);
    }

    #[test]
    fn json_numbers_become_text_and_non_objects_are_refused() {
        let p = Params::from_json_object(br#"{"a":1,"b":"x","c":true,"d":{"x":1}}"#).unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("c"), Some("true"));
        assert_eq!(p.get("d"), None);
        assert!(Params::from_json_object(b"[1]").is_err());
    }
}
