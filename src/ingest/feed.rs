//! `POST /v1/reports`: reports pushed by other systems as one JSON object, a
//! JSON array, NDJSON or a GeoJSON FeatureCollection. Each item stands or
//! falls alone, so one bad line does not cost a batch its good ones.

use serde_json::{Map, Value};

use super::generic::parse_location;
use super::{BodyKind, InboundError, Message, parse_gateway_time};
use crate::report::{Coordinates, Source, refuse_nul};

const FIELDS: &[&str] = &[
    "id", "text", "sender", "to", "sent_at", "lat", "lon", "meta", "source",
];

/// One item of a batch: where it came from (its source) and what it holds.
pub type Item = Result<(Source, Message), InboundError>;

/// Whether the body held one report or a batch; a batch answers per item.
pub enum Feed {
    One(Box<Item>),
    Batch(Vec<Item>),
}

pub fn parse(kind: BodyKind, body: &[u8]) -> Result<Feed, InboundError> {
    match parse_any(kind, body)? {
        // Nothing was accepted, so nothing can be `200`.
        Feed::Batch(items) if items.is_empty() => Err(InboundError::InvalidBody(
            "empty batch: no reports in it".into(),
        )),
        feed => Ok(feed),
    }
}

fn parse_any(kind: BodyKind, body: &[u8]) -> Result<Feed, InboundError> {
    match kind {
        BodyKind::NdJson => Ok(Feed::Batch(parse_ndjson(body))),
        BodyKind::Json | BodyKind::GeoJson => {
            let value: Value = serde_json::from_slice(body)
                .map_err(|e| InboundError::InvalidBody(format!("not JSON: {e}")))?;
            parse_value(value)
        }
        BodyKind::Empty => Err(InboundError::InvalidBody("empty body".into())),
        BodyKind::Form | BodyKind::Other => Err(InboundError::UnsupportedMediaType(String::new())),
    }
}

fn parse_ndjson(body: &[u8]) -> Vec<Item> {
    body.split(|b| *b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .map(|line| {
            let value: Value = serde_json::from_slice(line)
                .map_err(|e| InboundError::InvalidBody(format!("line is not JSON: {e}")))?;
            item(value)
        })
        .collect()
}

fn parse_value(value: Value) -> Result<Feed, InboundError> {
    match value {
        Value::Array(items) => Ok(Feed::Batch(items.into_iter().map(item).collect())),
        Value::Object(ref map)
            if map.get("type").and_then(Value::as_str) == Some("FeatureCollection") =>
        {
            let Some(Value::Array(features)) = value.get("features").cloned() else {
                return Err(InboundError::invalid(
                    "features",
                    "expected an array of Features",
                ));
            };
            Ok(Feed::Batch(features.into_iter().map(feature).collect()))
        }
        Value::Object(ref map) if map.get("type").and_then(Value::as_str) == Some("Feature") => {
            Ok(Feed::One(Box::new(feature(value))))
        }
        Value::Object(_) => Ok(Feed::One(Box::new(item(value)))),
        _ => Err(InboundError::InvalidBody(
            "expected a report object, an array of them or a FeatureCollection".into(),
        )),
    }
}

/// A GeoJSON Feature: properties are the report, a Point its location.
fn feature(value: Value) -> Item {
    let Value::Object(mut feature) = value else {
        return Err(InboundError::InvalidBody(
            "a feature must be an object".into(),
        ));
    };
    let mut properties = match feature.remove("properties") {
        Some(Value::Object(p)) => p,
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err(InboundError::invalid("properties", "expected an object")),
    };
    if let Some(id) = feature.remove("id") {
        properties.entry("id").or_insert(id);
    }
    let (source, mut message) = fields(properties)?;
    match feature.remove("geometry") {
        None | Some(Value::Null) => {}
        Some(geometry) => message.location = Some(point(&geometry)?),
    }
    Ok((source, message))
}

fn point(geometry: &Value) -> Result<Coordinates, InboundError> {
    if geometry.get("type").and_then(Value::as_str) != Some("Point") {
        return Err(InboundError::invalid(
            "geometry",
            "only Point geometries are supported",
        ));
    }
    let coords = geometry
        .get("coordinates")
        .and_then(Value::as_array)
        .filter(|c| c.len() >= 2)
        .ok_or_else(|| InboundError::invalid("geometry.coordinates", "expected [lon, lat]"))?;
    let (Some(lon), Some(lat)) = (coords[0].as_f64(), coords[1].as_f64()) else {
        return Err(InboundError::invalid(
            "geometry.coordinates",
            "expected numbers",
        ));
    };
    Coordinates::new(lat, lon).map_err(|e| InboundError::invalid("geometry.coordinates", e))
}

fn item(value: Value) -> Item {
    match value {
        Value::Object(map) => fields(map),
        _ => Err(InboundError::InvalidBody(
            "a report must be a JSON object".into(),
        )),
    }
}

fn fields(mut map: Map<String, Value>) -> Item {
    // Any string may reach PostgreSQL, which cannot store NUL.
    refuse_nul("", &map).map_err(|e| InboundError::invalid(&e.path, e.reason))?;
    if let Some(unknown) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(InboundError::invalid(unknown, "unknown field"));
    }
    let source = match take_string(&mut map, "source")? {
        None => Source::new("feed"),
        Some(name) if valid_source_name(&name) => Source::new(&format!("feed:{name}")),
        Some(_) => {
            return Err(InboundError::invalid(
                "source",
                "expected 1 to 64 of a-z, 0-9, '.', '_' or '-'",
            ));
        }
    };
    let id = match map.remove("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => {
            return Err(InboundError::invalid(
                "id",
                "expected a non-empty string or a number",
            ));
        }
    };
    let text =
        take_string(&mut map, "text")?.ok_or_else(|| InboundError::MissingField("text".into()))?;
    let sent_at = take_string(&mut map, "sent_at")?
        .map(|raw| {
            parse_gateway_time(&raw)
                .ok_or_else(|| InboundError::invalid("sent_at", "expected an RFC 3339 time"))
        })
        .transpose()?;
    let location = match (map.remove("lat"), map.remove("lon")) {
        (None | Some(Value::Null), None | Some(Value::Null)) => None,
        (Some(lat), Some(lon)) => Some(parse_location(&number_text(&lat), &number_text(&lon))?),
        (Some(_), _) => return Err(InboundError::MissingField("lon".into())),
        (_, Some(_)) => return Err(InboundError::MissingField("lat".into())),
    };
    let meta = match map.remove("meta") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(InboundError::invalid("meta", "expected an object")),
    };
    let message = Message {
        source_id: id,
        from: take_string(&mut map, "sender")?,
        to: take_string(&mut map, "to")?,
        text,
        text_field: "text",
        sent_at,
        location,
        meta,
        part: None,
    };
    Ok((source, message))
}

fn take_string(map: &mut Map<String, Value>, name: &str) -> Result<Option<String>, InboundError> {
    match map.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(InboundError::invalid(name, "expected a string")),
    }
}

fn number_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn valid_source_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(body: &str) -> Item {
        match parse(BodyKind::Json, body.as_bytes()).unwrap() {
            Feed::One(item) => *item,
            Feed::Batch(_) => panic!("expected one"),
        }
    }

    fn batch(kind: BodyKind, body: &str) -> Vec<Item> {
        match parse(kind, body.as_bytes()).unwrap() {
            Feed::Batch(items) => items,
            Feed::One(_) => panic!("expected a batch"),
        }
    }

    #[test]
    fn one_report_with_all_fields() {
        let (source, m) = one(
            r#"{"id":"r-1","text":"Flood at the bridge","sender":"+254712345678","sent_at":"2025-03-01T08:15:30Z","lat":-1.29,"lon":36.82,"meta":{"team":"a"},"source":"kobo"}"#,
        )
        .unwrap();
        assert_eq!(source.as_str(), "feed:kobo");
        assert_eq!(m.source_id.as_deref(), Some("r-1"));
        assert_eq!(m.location.unwrap().lat(), -1.29);
        assert_eq!(m.meta["team"], "a");
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (r#"{"id":"1"}"#, "text"),
            (r#"{"text":"x","txt":"y"}"#, "txt"),
            (r#"{"text":"x","lat":95,"lon":1}"#, "lat"),
            (r#"{"text":"x","lat":5}"#, "lon"),
            (r#"{"text":"x","sent_at":"yesterday"}"#, "sent_at"),
            (r#"{"text":"x","meta":[1]}"#, "meta"),
            (r#"{"text":"x","source":"Bad Name"}"#, "source"),
        ];
        for (body, field) in cases {
            let err = one(body).unwrap_err();
            assert_eq!(err.field(), Some(field), "{body}");
        }
    }

    #[test]
    fn ndjson_answers_per_line() {
        let items = batch(
            BodyKind::NdJson,
            "{\"id\":1,\"text\":\"a\"}\n\nnot json\n{\"id\":2,\"text\":\"b\"}\n",
        );
        assert_eq!(items.len(), 3);
        assert!(items[0].is_ok() && items[1].is_err() && items[2].is_ok());
        assert_eq!(items[0].as_ref().unwrap().1.source_id.as_deref(), Some("1"));
    }

    #[test]
    fn geojson_points_give_coordinates() {
        let items = batch(
            BodyKind::GeoJson,
            r#"{"type":"FeatureCollection","features":[
                {"type":"Feature","id":"f1","geometry":{"type":"Point","coordinates":[39.64,-0.45]},"properties":{"text":"Cholera"}},
                {"type":"Feature","geometry":{"type":"LineString","coordinates":[[0,0],[1,1]]},"properties":{"text":"x"}}]}"#,
        );
        let (_, m) = items[0].as_ref().unwrap();
        let at = m.location.unwrap();
        assert_eq!((at.lat(), at.lon()), (-0.45, 39.64));
        assert_eq!(m.source_id.as_deref(), Some("f1"));
        assert_eq!(items[1].as_ref().unwrap_err().field(), Some("geometry"));
    }

    #[test]
    fn arrays_are_batches_and_scalars_are_refused() {
        assert_eq!(
            batch(BodyKind::Json, r#"[{"text":"a"},{"text":"b"}]"#).len(),
            2
        );
        assert!(parse(BodyKind::Json, b"42").is_err());
        assert!(parse(BodyKind::Json, b"{").is_err());
    }
}
