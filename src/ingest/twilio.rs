//! Twilio Programmable Messaging webhooks ("Twilio" and "Twilio:
//! `X-Twilio-Signature`" in `docs/gateways.md`;
//! https://www.twilio.com/docs/messaging/guides/webhook-request and
//! https://www.twilio.com/docs/usage/webhooks/webhooks-security).

use std::collections::HashMap;

use actix_web::HttpResponse;
use actix_web::http::Method;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::{BodyKind, Gateway, Inbound, InboundError, InboundRequest, Message, Params};
use crate::config::TwilioConfig;
use crate::secret::{constant_time_eq, hex_eq};

const SIGNATURE: &str = "x-twilio-signature";
const SIGNATURE_SETTINGS: &str = "x-twilio-webhooks-signature-settings";
const TWIML_EMPTY: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#;

/// Location hints and metadata worth keeping with the report.
const META_FIELDS: &[&str] = &[
    "AccountSid",
    "MessagingServiceSid",
    "NumSegments",
    "NumMedia",
    "FromCity",
    "FromState",
    "FromZip",
    "FromCountry",
    "ToCountry",
];

pub struct Twilio {
    auth_tokens: Vec<String>,
    account_sid: Option<String>,
    /// Shared webhook signing keys by id (Twilio's public beta).
    signing_keys: HashMap<String, String>,
}

impl Twilio {
    pub fn new(config: &TwilioConfig) -> Self {
        Self {
            auth_tokens: config
                .auth_token
                .all()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            account_sid: config.account_sid.clone(),
            signing_keys: config.signing_keys.clone().into_iter().collect(),
        }
    }

    fn verify(&self, req: &InboundRequest<'_>, signed_params: &Params) -> Result<(), InboundError> {
        let given = req
            .header(SIGNATURE)
            .ok_or(InboundError::Unauthenticated("X-Twilio-Signature header"))?;
        let keys: Vec<(&str, Algorithm)> = match req.header(SIGNATURE_SETTINGS) {
            None => self
                .auth_tokens
                .iter()
                .map(|t| (t.as_str(), Algorithm::Sha1))
                .collect(),
            Some(settings) => {
                let (key_id, algorithm) = parse_settings(settings)
                    .ok_or(InboundError::Forbidden("unknown signature settings"))?;
                let secret = self
                    .signing_keys
                    .get(key_id)
                    .ok_or(InboundError::Forbidden("unknown signing key"))?;
                vec![(secret.as_str(), algorithm)]
            }
        };
        let valid = url_variants(&req.url).iter().any(|url| {
            keys.iter().fold(false, |found, (key, algorithm)| {
                let expected = signature(*algorithm, key, url, signed_params);
                constant_time_eq(given.as_bytes(), expected.as_bytes()) | found
            })
        });
        if valid {
            Ok(())
        } else {
            Err(InboundError::Forbidden("X-Twilio-Signature does not match"))
        }
    }

    fn check_body_hash(req: &InboundRequest<'_>) -> Result<(), InboundError> {
        let Some(expected) = form_urlencoded::parse(req.query.as_bytes())
            .find(|(k, _)| k == "bodySHA256")
            .map(|(_, v)| v.into_owned())
        else {
            return Err(InboundError::Forbidden(
                "JSON webhooks must carry bodySHA256",
            ));
        };
        let actual = hex::encode(Sha256::digest(req.body));
        if hex_eq(&expected, &actual) {
            Ok(())
        } else {
            Err(InboundError::Forbidden(
                "bodySHA256 does not match the body",
            ))
        }
    }

    fn message(&self, fields: &Params) -> Result<Message, InboundError> {
        if let (Some(expected), Some(given)) = (&self.account_sid, fields.get("AccountSid"))
            && !constant_time_eq(expected.as_bytes(), given.as_bytes())
        {
            return Err(InboundError::Forbidden(
                "AccountSid is not the configured account",
            ));
        }
        let sid = fields
            .non_empty("MessageSid")
            .or_else(|| fields.non_empty("SmsMessageSid"))
            .or_else(|| fields.non_empty("SmsSid"))
            .ok_or_else(|| InboundError::MissingField("MessageSid".into()))?;
        let from = fields.require("From")?;
        let mut meta = serde_json::Map::new();
        fields.copy_into(META_FIELDS, &mut meta);
        let media: Vec<&str> = (0..10)
            .map_while(|n| fields.get(&format!("MediaUrl{n}")))
            .collect();
        if !media.is_empty() {
            meta.insert("media".into(), media.clone().into());
        }
        let body = fields
            .get("Body")
            .ok_or_else(|| InboundError::MissingField("Body".into()))?;
        // An MMS may have no text; its media links keep it from being empty.
        let text = if body.trim().is_empty() {
            media.join(" ")
        } else {
            body.to_owned()
        };
        Ok(Message {
            source_id: Some(sid.to_owned()),
            from: Some(from.to_owned()),
            to: fields.get("To").map(str::to_owned),
            text,
            text_field: "Body",
            meta,
            ..Default::default()
        })
    }
}

impl Gateway for Twilio {
    fn name(&self) -> &'static str {
        "twilio"
    }

    fn accept(&self, req: &InboundRequest<'_>) -> Result<Inbound, InboundError> {
        let fields = match (req.method, req.content_type) {
            (&Method::GET, _) => {
                self.verify(req, &Params::default())?;
                Params::from_urlencoded(req.query.as_bytes())?
            }
            (_, BodyKind::Form) => {
                let params = Params::from_urlencoded(req.body)?;
                self.verify(req, &params)?;
                params
            }
            (_, BodyKind::Json) => {
                self.verify(req, &Params::default())?;
                Self::check_body_hash(req)?;
                Params::from_json_object(req.body)?
            }
            _ => return Err(InboundError::UnsupportedMediaType(req.content_type_name())),
        };
        Ok(Inbound::Messages(vec![self.message(&fields)?]))
    }

    fn success(&self) -> HttpResponse {
        HttpResponse::Ok()
            .content_type("text/xml")
            .body(TWIML_EMPTY)
    }
}

#[derive(Debug, Clone, Copy)]
enum Algorithm {
    Sha1,
    Sha256,
}

fn parse_settings(header: &str) -> Option<(&str, Algorithm)> {
    let mut key = None;
    let mut algorithm = None;
    for part in header.split(',') {
        match part.trim().split_once('=')? {
            ("key", v) => key = Some(v),
            ("algorithm", "HMAC_SHA256") => algorithm = Some(Algorithm::Sha256),
            ("algorithm", "HMAC_SHA1") => algorithm = Some(Algorithm::Sha1),
            ("algorithm", _) => return None,
            _ => {}
        }
    }
    Some((key?, algorithm?))
}

/// `base64(HMAC(key, url + name1 + value1 + …))`, names in byte order.
fn signature(algorithm: Algorithm, key: &str, url: &str, params: &Params) -> String {
    fn sign<M: Mac + hmac::digest::KeyInit>(key: &str, url: &str, params: &Params) -> Vec<u8> {
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key.as_bytes())
            .expect("HMAC takes any key");
        mac.update(url.as_bytes());
        for (name, value) in params.sorted() {
            mac.update(name.as_bytes());
            mac.update(value.as_bytes());
        }
        mac.finalize().into_bytes().to_vec()
    }
    let digest = match algorithm {
        Algorithm::Sha1 => sign::<Hmac<Sha1>>(key, url, params),
        Algorithm::Sha256 => sign::<Hmac<Sha256>>(key, url, params),
    };
    BASE64.encode(digest)
}

/// The URL as received, and with its port removed or the default port
/// added: Twilio signs either, as its own SDK accepts.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return variants;
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host_end = authority
        .rfind(':')
        .filter(|&i| !authority[i..].contains(']'));
    match host_end {
        Some(i) => variants.push(format!("{scheme}://{}{tail}", &authority[..i])),
        None => {
            let port = if scheme.eq_ignore_ascii_case("https") {
                443
            } else {
                80
            };
            variants.push(format!("{scheme}://{authority}:{port}{tail}"));
        }
    }
    variants
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const TOKEN_B: &str = "0123456789abcdef0123456789abcdef";
    const URL_B: &str = "https://alerts.example.org/sms/twilio/inbound?site=7";
    pub const BODY_B: &str = "MessageSid=SM0123456789abcdef0123456789abcdef&AccountSid=AC0123456789abcdef0123456789abcdef&From=%2B254712345678&To=%2B254700000000&Body=Cholera+cases+in+Garissa&NumMedia=0&FromCity=";

    fn sig(url: &str, token: &str, body: &str) -> String {
        signature(
            Algorithm::Sha1,
            token,
            url,
            &Params::from_urlencoded(body.as_bytes()).unwrap(),
        )
    }

    #[test]
    fn twilio_test_vector_a() {
        let body = "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212";
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(sig(url, "12345", body), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert_eq!(
            sig(
                "https://mycompany.com:443/myapp.php?foo=1&bar=2",
                "12345",
                body
            ),
            "EpDEmp1PyjDYp77YxYU3GILBWzE="
        );
    }

    #[test]
    fn kenya_example_b_signs_empty_fields() {
        assert_eq!(sig(URL_B, TOKEN_B, BODY_B), "Vg1r2p6RH8KaFVFmbFLx4YLVi3E=");
        assert_eq!(
            sig(
                "https://alerts.example.org:443/sms/twilio/inbound?site=7",
                TOKEN_B,
                BODY_B
            ),
            "7dc/1QN7urz7O2raVfx1TOSi/y4="
        );
        let without_city = BODY_B.trim_end_matches("&FromCity=");
        assert_eq!(
            sig(URL_B, TOKEN_B, without_city),
            "MbeYkpd4csy1fnKPTobpgcU/fkU="
        );
    }

    #[test]
    fn shared_key_example_d() {
        let params = Params::from_urlencoded(BODY_B.as_bytes()).unwrap();
        assert_eq!(
            signature(Algorithm::Sha256, "whsec_0123456789abcdef", URL_B, &params),
            "3/1zaFNjvZ3LnSYIHT2tmsJEDmKn3cItdnRaq/Q+59U="
        );
    }

    #[test]
    fn json_example_c_signs_the_url_only() {
        let body = r#"{"MessageSid":"SM0123456789abcdef0123456789abcdef","From":"+254712345678","Body":"Cholera cases in Garissa"}"#;
        let hash = hex::encode(Sha256::digest(body));
        assert_eq!(
            hash,
            "a042bdd9c698fb949524aa367092654d980280668397421ff5d672cefee84eca"
        );
        let url = format!("{URL_B}&bodySHA256={hash}");
        assert_eq!(
            signature(Algorithm::Sha1, TOKEN_B, &url, &Params::default()),
            "ZXvmPt8uQpe7VeV7JDhqPVMq45s="
        );
    }

    #[test]
    fn url_variants_add_or_remove_the_port() {
        assert_eq!(
            url_variants("https://a.org/x?y=1"),
            ["https://a.org/x?y=1", "https://a.org:443/x?y=1"]
        );
        assert_eq!(
            url_variants("http://a.org:8080/x"),
            ["http://a.org:8080/x", "http://a.org/x"]
        );
    }

    #[test]
    fn settings_header_names_key_and_algorithm() {
        assert!(matches!(
            parse_settings("key=k1,algorithm=HMAC_SHA256"),
            Some(("k1", Algorithm::Sha256))
        ));
        assert!(parse_settings("key=k1,algorithm=MD5").is_none());
    }
}
