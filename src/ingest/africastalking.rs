//! Africa's Talking incoming-message callbacks ("Africa's Talking" in
//! `docs/gateways.md`; https://developers.africastalking.com/docs/sms/notifications).
//! AT cannot sign, so the callback URL carries a token.

use actix_web::HttpResponse;

use super::{
    BodyKind, Gateway, Inbound, InboundError, InboundRequest, Message, Params, parse_gateway_time,
};
use crate::config::TokenGatewayConfig;
use crate::secret::matches_any;

pub struct AfricasTalking {
    tokens: Vec<String>,
}

impl AfricasTalking {
    pub fn new(config: &TokenGatewayConfig) -> Self {
        Self {
            tokens: config.token.all().into_iter().map(str::to_owned).collect(),
        }
    }
}

impl Gateway for AfricasTalking {
    fn name(&self) -> &'static str {
        "africastalking"
    }

    fn accept(&self, req: &InboundRequest<'_>) -> Result<Inbound, InboundError> {
        let token = req
            .url_token()
            .ok_or(InboundError::Unauthenticated("URL token"))?;
        if !matches_any(token.as_bytes(), self.tokens.iter().map(String::as_str)) {
            return Err(InboundError::Forbidden("URL token does not match"));
        }
        let fields = match req.content_type {
            BodyKind::Form => Params::from_urlencoded(req.body)?,
            BodyKind::Json => Params::from_json_object(req.body)?,
            _ => return Err(InboundError::UnsupportedMediaType(req.content_type_name())),
        };
        let from = fields.require("from")?;
        let mut meta = serde_json::Map::new();
        fields.copy_into(&["linkId", "networkCode", "cost"], &mut meta);
        // AT's date format and zone are not documented; an unreadable date
        // falls back to our receive time, flagged, rather than losing the SMS.
        let sent_at = match fields.non_empty("date") {
            None => None,
            Some(raw) => {
                let parsed = parse_gateway_time(raw);
                if parsed.is_none() {
                    meta.insert("date_unparsed".into(), raw.into());
                }
                parsed
            }
        };
        Ok(Inbound::Messages(vec![Message {
            source_id: fields.non_empty("id").map(str::to_owned),
            from: Some(from.to_owned()),
            to: fields.get("to").map(str::to_owned),
            text: fields.get("text").unwrap_or_default().to_owned(),
            text_field: "text",
            sent_at,
            meta,
            ..Default::default()
        }]))
    }

    fn success(&self) -> HttpResponse {
        HttpResponse::Ok().finish()
    }
}
