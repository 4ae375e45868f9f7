//! Vonage (Nexmo) SMS API inbound webhooks ("Vonage" and "Vonage: `sig`" in
//! `docs/gateways.md`;
//! https://developer.vonage.com/en/messaging/sms/guides/inbound-sms and
//! https://developer.vonage.com/en/getting-started/concepts/signing-messages).

use actix_web::HttpResponse;
use actix_web::http::Method;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};

use super::{
    BodyKind, Gateway, Inbound, InboundError, InboundRequest, Message, Params, parse_gateway_time,
};
use crate::config::{VonageConfig, VonageSignatureMethod};
use crate::report::MessagePart;
use crate::secret::{constant_time_eq, hex_eq};

/// Vonage's own SDKs refuse signatures this far in the future.
const MAX_FUTURE_SECS: i64 = 300;

pub struct Vonage {
    secrets: Vec<String>,
    method: VonageSignatureMethod,
    api_key: Option<String>,
    max_age_secs: i64,
}

impl Vonage {
    pub fn new(config: &VonageConfig) -> Self {
        Self {
            secrets: config
                .signature_secret
                .all()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            method: config.signature_method,
            api_key: config.api_key.clone(),
            max_age_secs: config.max_age_secs as i64,
        }
    }

    fn verify(&self, params: &Params, now: i64) -> Result<(), InboundError> {
        let given = params
            .non_empty("sig")
            .ok_or(InboundError::Unauthenticated("sig parameter"))?;
        let unsigned = params.without("sig");
        // PHP and Python signers include empty values, Java skips them.
        let valid = [true, false].iter().fold(false, |found, &with_empty| {
            let base = base_string(&unsigned, with_empty);
            self.secrets.iter().fold(found, |found, secret| {
                hex_eq(given, &sign(self.method, secret, &base)) | found
            })
        });
        if !valid {
            return Err(InboundError::Forbidden("sig does not match"));
        }
        let timestamp: i64 = params
            .require("timestamp")?
            .parse()
            .map_err(|_| InboundError::invalid("timestamp", "expected Unix seconds"))?;
        if now - timestamp > self.max_age_secs || timestamp - now > MAX_FUTURE_SECS {
            return Err(InboundError::Forbidden(
                "signature timestamp is too old or in the future",
            ));
        }
        Ok(())
    }
}

impl Gateway for Vonage {
    fn name(&self) -> &'static str {
        "vonage"
    }

    fn accept(&self, req: &InboundRequest<'_>) -> Result<Inbound, InboundError> {
        let params = match (req.method, req.content_type) {
            (&Method::GET, _) => Params::from_urlencoded(req.query.as_bytes())?,
            (_, BodyKind::Form) => Params::from_urlencoded(req.body)?,
            (_, BodyKind::Json) => Params::from_json_object(req.body)?,
            _ => return Err(InboundError::UnsupportedMediaType(req.content_type_name())),
        };
        self.verify(&params, req.received_at.timestamp())?;
        if let (Some(expected), Some(given)) = (&self.api_key, params.get("api-key"))
            && !constant_time_eq(expected.as_bytes(), given.as_bytes())
        {
            return Err(InboundError::Forbidden(
                "api-key is not the configured account",
            ));
        }
        let msisdn = params.require("msisdn")?;
        let message_id = params.require("messageId")?;
        let to = params.get("to").unwrap_or_default();
        let mut meta = serde_json::Map::new();
        params.copy_into(&["type", "keyword", "concat-ref", "api-key"], &mut meta);
        Ok(Inbound::Messages(vec![Message {
            source_id: Some(message_id.to_owned()),
            // Vonage drops the `+`; its numbers are always international.
            from: Some(format!("+{}", msisdn.trim_start_matches('+'))),
            to: Some(to.to_owned()),
            text: params.get("text").unwrap_or_default().to_owned(),
            text_field: "text",
            sent_at: params
                .non_empty("message-timestamp")
                .and_then(parse_gateway_time),
            meta,
            part: part(&params, msisdn, to)?,
            ..Default::default()
        }]))
    }

    fn success(&self) -> HttpResponse {
        HttpResponse::NoContent().finish()
    }
}

/// The part a `concat=true` message is, grouped by sender, recipient and
/// reference because the reference alone is not unique.
fn part(params: &Params, msisdn: &str, to: &str) -> Result<Option<MessagePart>, InboundError> {
    if params.get("concat") != Some("true") {
        return Ok(None);
    }
    let number = |name: &str| -> Result<u16, InboundError> {
        params
            .require(name)?
            .parse::<u16>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| InboundError::invalid(name, "expected a number from 1"))
    };
    let (index, total) = (number("concat-part")?, number("concat-total")?);
    if index > total {
        return Err(InboundError::invalid(
            "concat-part",
            "greater than concat-total",
        ));
    }
    let reference = params.require("concat-ref")?;
    Ok(Some(MessagePart {
        group: format!("vonage|{msisdn}|{to}|{reference}"),
        index,
        total,
    }))
}

/// `&name=value&…` in byte order of names, `&` and `=` in values as `_`.
fn base_string(params: &Params, with_empty: bool) -> String {
    let mut base = String::new();
    for (name, value) in params.sorted() {
        if value.is_empty() && !with_empty {
            continue;
        }
        base.push('&');
        base.push_str(name);
        base.push('=');
        base.extend(
            value
                .chars()
                .map(|c| if c == '&' || c == '=' { '_' } else { c }),
        );
    }
    base
}

fn sign(method: VonageSignatureMethod, secret: &str, base: &str) -> String {
    fn hmac_hex<M: Mac + hmac::digest::KeyInit>(secret: &str, base: &str) -> String {
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(secret.as_bytes())
            .expect("HMAC takes any key");
        mac.update(base.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
    match method {
        VonageSignatureMethod::Md5hash => {
            hex::encode(Md5::digest(format!("{base}{secret}").as_bytes()))
        }
        VonageSignatureMethod::Md5 => hmac_hex::<Hmac<Md5>>(secret, base),
        VonageSignatureMethod::Sha1 => hmac_hex::<Hmac<sha1::Sha1>>(secret, base),
        VonageSignatureMethod::Sha256 => hmac_hex::<Hmac<sha2::Sha256>>(secret, base),
        VonageSignatureMethod::Sha512 => hmac_hex::<Hmac<sha2::Sha512>>(secret, base),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use VonageSignatureMethod::*;

    const KENYA_BODY: &str = "msisdn=254712345678&to=254700000000&messageId=0B00000123ABCDEF&text=Cholera%3A+3+cases+%26+1+death%2C+ward%3DDadaab&type=text&keyword=CHOLERA&api-key=abcd1234&message-timestamp=2025-03-01+08%3A15%3A30&timestamp=1740816930&nonce=5f0c1a2e-7b4d-4c1e-9a3f-2d6e8b9c0a11";
    const KENYA_SECRET: &str = "Sig-Secret-0123456789";

    fn kenya_base() -> String {
        base_string(
            &Params::from_urlencoded(KENYA_BODY.as_bytes()).unwrap(),
            true,
        )
    }

    #[test]
    fn sdk_test_vector() {
        let params = Params::from_urlencoded(b"a=1&b=2&timestamp=1461605396").unwrap();
        assert_eq!(
            sign(Md5hash, "secret", &base_string(&params, true)),
            "6af838ef94998832dbfc29020b564830"
        );
    }

    #[test]
    fn kenya_base_string_sorts_by_bytes_and_masks_separators() {
        assert_eq!(
            kenya_base(),
            "&api-key=abcd1234&keyword=CHOLERA&message-timestamp=2025-03-01 08:15:30&messageId=0B00000123ABCDEF&msisdn=254712345678&nonce=5f0c1a2e-7b4d-4c1e-9a3f-2d6e8b9c0a11&text=Cholera: 3 cases _ 1 death, ward_Dadaab&timestamp=1740816930&to=254700000000&type=text"
        );
    }

    #[test]
    fn kenya_signatures_for_every_method() {
        let base = kenya_base();
        let cases = [
            (Md5hash, "f209c5bad04eaf6360303179ef62393c"),
            (Md5, "B8D41A06A39E1B2EE565C46637257AD2"),
            (Sha1, "684E49CDE18E695BE6365A27465C1BE22D916069"),
            (
                Sha256,
                "8CB45E8BAF28C6C712FCC8C4105E331B7803CD010AB3396A161C80FF108136C3",
            ),
            (
                Sha512,
                "97C79A439FF6A851093CF440BBFFBF8DDA0A0520BEEFA6B4761D575781A6F405C8F747F072756C271996352916978D5594D2AF2EA6E05A5EBF1C916ABF790BA7",
            ),
        ];
        for (method, expected) in cases {
            assert!(
                hex_eq(expected, &sign(method, KENYA_SECRET, &base)),
                "{method:?}"
            );
        }
    }

    #[test]
    fn verify_accepts_the_example_and_rejects_stale_or_wrong_signatures() {
        let vonage = Vonage {
            secrets: vec![KENYA_SECRET.into()],
            method: Md5hash,
            api_key: None,
            max_age_secs: 24 * 3600 + 600,
        };
        let signed = format!("{KENYA_BODY}&sig=f209c5bad04eaf6360303179ef62393c");
        let params = Params::from_urlencoded(signed.as_bytes()).unwrap();
        vonage.verify(&params, 1740816930 + 60).unwrap();
        assert!(matches!(
            vonage.verify(&params, 1740816930 + 2 * 86400),
            Err(InboundError::Forbidden(_))
        ));
        let tampered = signed.replace("Dadaab", "Garissa");
        assert!(matches!(
            vonage.verify(
                &Params::from_urlencoded(tampered.as_bytes()).unwrap(),
                1740816930
            ),
            Err(InboundError::Forbidden(_))
        ));
        assert!(matches!(
            vonage.verify(
                &Params::from_urlencoded(KENYA_BODY.as_bytes()).unwrap(),
                1740816930
            ),
            Err(InboundError::Unauthenticated(_))
        ));
    }

    #[test]
    fn concat_fields_become_a_part() {
        let p = Params::from_urlencoded(b"concat=true&concat-ref=7&concat-total=2&concat-part=2")
            .unwrap();
        let part = part(&p, "254712345678", "254700000000").unwrap().unwrap();
        assert_eq!((part.index, part.total), (2, 2));
        assert_eq!(part.group, "vonage|254712345678|254700000000|7");
        let bad = Params::from_urlencoded(b"concat=true&concat-ref=7&concat-total=2&concat-part=3")
            .unwrap();
        assert!(part_err(&bad));
    }

    fn part_err(p: &Params) -> bool {
        part(p, "1", "2").is_err()
    }
}
