//! A gateway for everything else: JSON or form with `from`, `to`, `text`,
//! optional `id`, `sent_at`, `lat`, `lon`; authenticated by a token or an
//! HMAC-SHA256 of the body.

use actix_web::HttpResponse;
use serde_json::json;

use super::{
    BodyKind, Gateway, Inbound, InboundError, InboundRequest, Message, Params, parse_gateway_time,
};
use crate::config::GenericConfig;
use crate::report::Coordinates;
use crate::secret::{SIGNATURE_HEADER, body_signature, hex_eq, matches_any};

pub struct Generic {
    tokens: Vec<String>,
    hmac_secrets: Vec<String>,
}

impl Generic {
    pub fn new(config: &GenericConfig) -> Self {
        let owned = |s: &Option<crate::config::Secrets>| {
            s.as_ref()
                .map(|s| s.all().into_iter().map(str::to_owned).collect())
                .unwrap_or_default()
        };
        Self {
            tokens: owned(&config.token),
            hmac_secrets: owned(&config.hmac_secret),
        }
    }

    fn authenticate(&self, req: &InboundRequest<'_>) -> Result<(), InboundError> {
        if let Some(sig) = req.header(SIGNATURE_HEADER)
            && !self.hmac_secrets.is_empty()
        {
            let given = sig.strip_prefix("sha256=").unwrap_or(sig);
            let valid = self.hmac_secrets.iter().fold(false, |found, secret| {
                hex_eq(given, &body_signature(secret, req.body)) | found
            });
            return if valid {
                Ok(())
            } else {
                Err(InboundError::Forbidden("X-Ishara-Signature does not match"))
            };
        }
        let bearer = req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::to_owned);
        let Some(token) = bearer.or_else(|| req.url_token()) else {
            return Err(InboundError::Unauthenticated(
                "bearer token, URL token or X-Ishara-Signature",
            ));
        };
        if !self.tokens.is_empty()
            && matches_any(
                token.trim().as_bytes(),
                self.tokens.iter().map(String::as_str),
            )
        {
            Ok(())
        } else {
            Err(InboundError::Forbidden("token does not match"))
        }
    }
}

impl Gateway for Generic {
    fn name(&self) -> &'static str {
        "generic"
    }

    fn accept(&self, req: &InboundRequest<'_>) -> Result<Inbound, InboundError> {
        self.authenticate(req)?;
        let fields = match req.content_type {
            BodyKind::Form => Params::from_urlencoded(req.body)?,
            BodyKind::Json => Params::from_json_object(req.body)?,
            _ => return Err(InboundError::UnsupportedMediaType(req.content_type_name())),
        };
        let from = fields.require("from")?;
        let sent_at = fields
            .non_empty("sent_at")
            .map(|raw| {
                parse_gateway_time(raw)
                    .ok_or_else(|| InboundError::invalid("sent_at", "expected an RFC 3339 time"))
            })
            .transpose()?;
        let location = match (fields.non_empty("lat"), fields.non_empty("lon")) {
            (None, None) => None,
            (Some(lat), Some(lon)) => Some(parse_location(lat, lon)?),
            (Some(_), None) => return Err(InboundError::MissingField("lon".into())),
            (None, Some(_)) => return Err(InboundError::MissingField("lat".into())),
        };
        Ok(Inbound::Messages(vec![Message {
            source_id: fields.non_empty("id").map(str::to_owned),
            from: Some(from.to_owned()),
            to: fields.get("to").map(str::to_owned),
            text: fields.get("text").unwrap_or_default().to_owned(),
            text_field: "text",
            sent_at,
            location,
            ..Default::default()
        }]))
    }

    fn success(&self) -> HttpResponse {
        HttpResponse::Ok().json(json!({"status": "accepted"}))
    }
}

pub fn parse_location(lat: &str, lon: &str) -> Result<Coordinates, InboundError> {
    let lat: f64 = lat
        .trim()
        .parse()
        .map_err(|_| InboundError::invalid("lat", "expected a number"))?;
    let lon: f64 = lon
        .trim()
        .parse()
        .map_err(|_| InboundError::invalid("lon", "expected a number"))?;
    Coordinates::new(lat, lon).map_err(|e| match e {
        crate::report::CoordinatesError::Latitude => InboundError::invalid("lat", e),
        crate::report::CoordinatesError::Longitude => InboundError::invalid("lon", e),
    })
}
