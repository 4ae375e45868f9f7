//! Entry points for fuzzing every parser of outside input.
//!
//! Each `pub fn <target>(data: &[u8])` feeds arbitrary bytes to the real
//! parsing code and asserts what must hold whatever the bytes are: no
//! panic, and cheap invariants such as round trips. The cargo-fuzz crate in
//! `fuzz/` has one target per function, and `tests/fuzz_corpus.rs` replays
//! every corpus file through the same functions, so a crash once found
//! stays fixed without a sanitizer build.
//!
//! The gateway targets sign what they send with an independent
//! implementation of each gateway's signature scheme (from the gateways'
//! documentation, not from our code): a request signed that way must never
//! be refused for its signature, so the fuzzer also checks the
//! canonicalisation (parameter order, empty values, masking) against the
//! spec, not merely that it does not crash.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::http::Method;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::config::{
    GenericConfig, Secrets, SmsSyncConfig, TokenGatewayConfig, TwilioConfig, VonageConfig,
    VonageSignatureMethod,
};
use crate::ingest::africastalking::AfricasTalking;
use crate::ingest::feed::{self, Feed};
use crate::ingest::generic::Generic;
use crate::ingest::smssync::SmsSync;
use crate::ingest::twilio::Twilio;
use crate::ingest::vonage::Vonage;
use crate::ingest::{
    BodyKind, Gateway, Inbound, InboundError, InboundRequest, Message, Normalizer, Params,
};
use crate::notify::context::sample_context;
use crate::notify::sms::segments::{self, Encoding};
use crate::notify::templates::{Part, Templates};
use crate::phone::{PhoneNormalizer, SenderKind, is_e164};
use crate::queue::spool::Spool;
use crate::queue::{Acknowledge, Delivery, amqp, batch};
use crate::report::{IncomingReport, Source, Text};
use crate::rules::load::{Known, LOG_CHANNEL, load_str};
use crate::secret::SIGNATURE_HEADER;

/// The secret every fuzzed gateway is configured with.
const SECRET: &str = "fuzz-secret";
/// Where the fuzzed gateways pretend to be reached.
const BASE_URL: &str = "https://alerts.example.org/v1/inbound/";
/// Gateway bodies are capped well below this by the API.
const MAX_INPUT: usize = 64 * 1024;

/// One fuzz input cut into the parts of an HTTP request: a byte of flags,
/// then the query string and the body, split at the first NUL.
struct RawRequest<'a> {
    flags: u8,
    query: &'a str,
    body: &'a [u8],
}

impl<'a> RawRequest<'a> {
    fn split(data: &'a [u8]) -> Option<Self> {
        let (&flags, rest) = data.split_first()?;
        if rest.len() > MAX_INPUT {
            return None;
        }
        let (query, body) = match rest.iter().position(|b| *b == 0) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (&[][..], rest),
        };
        Some(Self {
            flags,
            query: std::str::from_utf8(query).ok()?,
            body,
        })
    }

    fn flag(&self, bit: u8) -> bool {
        self.flags & (1 << bit) != 0
    }

    fn method(&self) -> Method {
        if self.flag(0) {
            Method::GET
        } else {
            Method::POST
        }
    }

    fn kind(&self) -> BodyKind {
        match (self.flags >> 1) & 3 {
            0 => BodyKind::Form,
            1 => BodyKind::Json,
            2 => BodyKind::Other,
            _ => BodyKind::Empty,
        }
    }

    /// Whether the harness signs the request as the gateway would.
    fn signed(&self) -> bool {
        self.flag(3)
    }

    fn url(&self, gateway: &str, query: &str) -> String {
        if query.is_empty() {
            format!("{BASE_URL}{gateway}")
        } else {
            format!("{BASE_URL}{gateway}?{query}")
        }
    }
}

/// What a fuzzed request is sent as, once the harness has added its
/// signature or token.
struct Sent {
    method: Method,
    url: String,
    query: String,
    path_token: Option<String>,
    headers: HeaderMap,
    kind: BodyKind,
    body: Vec<u8>,
    received_at: DateTime<Utc>,
}

impl Sent {
    fn new(raw: &RawRequest<'_>, gateway: &str) -> Self {
        Self {
            method: raw.method(),
            url: raw.url(gateway, raw.query),
            query: raw.query.to_owned(),
            path_token: None,
            headers: HeaderMap::new(),
            kind: raw.kind(),
            body: raw.body.to_vec(),
            received_at: Utc.timestamp_opt(1_740_816_930, 0).unwrap(),
        }
    }

    fn header(&mut self, name: &'static str, value: &str) {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.insert(HeaderName::from_static(name), value);
        }
    }

    fn request(&self) -> InboundRequest<'_> {
        InboundRequest {
            method: &self.method,
            url: self.url.clone(),
            query: &self.query,
            path_token: self.path_token.as_deref(),
            headers: &self.headers,
            content_type: self.kind,
            body: &self.body,
            received_at: self.received_at,
        }
    }
}

fn secrets() -> Secrets {
    Secrets::One(SECRET.to_owned())
}

/// Accepts `sent` and checks what came out: a request the harness signed
/// is never refused for its credentials, and every message read from it
/// either becomes a report that survives the queue's JSON round trip or
/// is refused naming a field.
fn check_gateway(gateway: &dyn Gateway, sent: &Sent, signed: bool) {
    match gateway.accept(&sent.request()) {
        Ok(Inbound::Messages(messages)) => {
            for message in messages {
                check_message(&Source::new(gateway.name()), message, sent.received_at);
            }
        }
        Ok(Inbound::Poll(_)) => {}
        Err(e) => {
            assert!(
                !(signed && is_signature_refusal(&e)),
                "{}: a correctly signed request was refused: {e}",
                gateway.name()
            );
            check_error(&e);
        }
    }
}

fn is_signature_refusal(error: &InboundError) -> bool {
    match error {
        InboundError::Unauthenticated(_) => true,
        InboundError::Forbidden(reason) => {
            reason.contains("does not match") && !reason.contains("AccountSid")
        }
        _ => false,
    }
}

/// Every refusal of a message names its field; only a key the sender
/// chose (an unknown field of a feed report) may have an empty name.
fn check_error(error: &InboundError) {
    if let InboundError::InvalidField { reason, .. } = error
        && reason == "unknown field"
    {
        return;
    }
    if let Some(field) = error.field() {
        assert!(!field.is_empty(), "an error names an empty field: {error}");
    }
}

fn normalizer() -> Normalizer {
    Normalizer::new(
        PhoneNormalizer::new(Some("KE")).expect("KE is a country"),
        b"fuzz-pseudonym-key".to_vec(),
    )
}

/// A message becomes a report (or a field error), and the report is what
/// the worker reads back from the queue.
fn check_message(source: &Source, message: Message, received_at: DateTime<Utc>) {
    match normalizer().report(source, message, received_at) {
        Ok(report) => check_report_round_trip(&report),
        Err(e) => {
            assert!(
                e.field().is_some(),
                "a message refused without a field: {e}"
            );
            check_error(&e);
        }
    }
}

fn check_report_round_trip(report: &IncomingReport) {
    // Whatever the queue lets through, the edge would have let through.
    assert_eq!(Text::parse(report.text.as_str()).as_ref(), Ok(&report.text));
    let key = report.dedup_key();
    let (source, id) = key.split_once(':').expect("a dedup key has a colon");
    assert_eq!(source, report.source.as_str().replace(':', "/"));
    assert_eq!(id, report.source_id.as_str());
    let json = crate::queue::codec::encode_report(report);
    let back = crate::queue::codec::decode_report(&json).expect("a report decodes");
    assert_eq!(&back, report, "a report changed through the queue");
}

// ------------------------------------------------------------- gateways

/// Twilio: `base64(HMAC-SHA1(token, url + name1 + value1 + …))`, names in
/// byte order; a JSON body is signed through `bodySHA256` in the URL.
pub fn twilio(data: &[u8]) {
    let Some(raw) = RawRequest::split(data) else {
        return;
    };
    let gateway = Twilio::new(&TwilioConfig {
        auth_token: secrets(),
        account_sid: None,
        signing_keys: Default::default(),
    });
    let mut sent = Sent::new(&raw, "twilio");
    let signed = raw.signed() && sent.kind != BodyKind::Other;
    let signed_params = match (&sent.method, sent.kind) {
        (&Method::GET, _) => Params::default(),
        (_, BodyKind::Json) => {
            // First, so that it is the hash read whatever the query holds.
            let hash = hex::encode(Sha256::digest(&sent.body));
            sent.query = join_query(&format!("bodySHA256={hash}"), &sent.query);
            sent.url = raw.url("twilio", &sent.query);
            Params::default()
        }
        // A body that is not UTF-8 is refused before any signature.
        _ => Params::from_urlencoded(&sent.body).unwrap_or_default(),
    };
    if signed {
        let signature = twilio_signature(&sent.url, &signed_params);
        sent.header("x-twilio-signature", &signature);
    }
    check_gateway(&gateway, &sent, signed);
}

fn join_query(first: &str, second: &str) -> String {
    match (first.is_empty(), second.is_empty()) {
        (_, true) => first.to_owned(),
        (true, false) => second.to_owned(),
        (false, false) => format!("{first}&{second}"),
    }
}

fn twilio_signature(url: &str, params: &Params) -> String {
    let mut pairs: Vec<(&str, &str)> = params.iter().collect();
    pairs.sort();
    let mut mac = Hmac::<Sha1>::new_from_slice(SECRET.as_bytes()).expect("any key");
    mac.update(url.as_bytes());
    for (name, value) in pairs {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Vonage: `md5("&name=value…" + secret)` over the parameters other than
/// `sig`, names in byte order, `&` and `=` in values masked as `_`.
pub fn vonage(data: &[u8]) {
    let Some(raw) = RawRequest::split(data) else {
        return;
    };
    let gateway = Vonage::new(&VonageConfig {
        signature_secret: secrets(),
        signature_method: VonageSignatureMethod::Md5hash,
        api_key: None,
        max_age_secs: 86_400,
    });
    let mut sent = Sent::new(&raw, "vonage");
    let form = sent.method == Method::GET || sent.kind == BodyKind::Form;
    let signed = raw.signed() && form;
    if signed {
        let carrier = if sent.method == Method::GET {
            sent.query.as_bytes()
        } else {
            &sent.body[..]
        };
        let params = Params::from_urlencoded(carrier)
            .unwrap_or_default()
            .without("sig");
        let signature = vonage_signature(&params);
        // The timestamp check is not what this target is about: the
        // request arrives when it says it was signed.
        if let Some(at) = params
            .get("timestamp")
            .and_then(|t| t.parse::<i64>().ok())
            .and_then(|t| Utc.timestamp_opt(t, 0).single())
        {
            sent.received_at = at;
        }
        let pair = format!("sig={signature}");
        // Only the canonical form of the parameters is signed: re-encoding
        // them keeps what Vonage signs and drops our own `sig`.
        let body = reencode(&params, &pair);
        if sent.method == Method::GET {
            sent.query = body;
        } else {
            sent.body = body.into_bytes();
        }
    }
    check_gateway(&gateway, &sent, signed);
}

fn reencode(params: &Params, extra: &str) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params.iter() {
        out.append_pair(name, value);
    }
    join_query(&out.finish(), extra)
}

fn vonage_signature(params: &Params) -> String {
    let mut pairs: Vec<(&str, &str)> = params.iter().collect();
    pairs.sort();
    let mut base = String::new();
    for (name, value) in pairs {
        base.push('&');
        base.push_str(name);
        base.push('=');
        base.push_str(&value.replace(['&', '='], "_"));
    }
    hex::encode(Md5::digest(format!("{base}{SECRET}").as_bytes()))
}

/// Africa's Talking: a token in the URL, and a form or JSON body.
pub fn africastalking(data: &[u8]) {
    let Some(raw) = RawRequest::split(data) else {
        return;
    };
    let gateway = AfricasTalking::new(&TokenGatewayConfig { token: secrets() });
    let mut sent = Sent::new(&raw, "at");
    if raw.signed() {
        sent.path_token = Some(SECRET.to_owned());
    }
    check_gateway(&gateway, &sent, raw.signed());
}

/// SMSSync: a shared secret among the form fields, or task polling.
pub fn smssync(data: &[u8]) {
    let Some(raw) = RawRequest::split(data) else {
        return;
    };
    let gateway = SmsSync::new(&SmsSyncConfig {
        secret: secrets(),
        device_ids: Vec::new(),
    });
    let mut sent = Sent::new(&raw, "smssync");
    // A secret put first is the one read; polling carries it in the query.
    let signed = raw.signed() && sent.kind == BodyKind::Form;
    if signed {
        let secret = format!("secret={SECRET}");
        let mut body = secret.clone().into_bytes();
        body.push(b'&');
        body.extend_from_slice(&sent.body);
        sent.body = body;
        sent.query = format!("{secret}&{}", sent.query);
    }
    check_gateway(&gateway, &sent, signed);
}

/// The generic gateway: HMAC-SHA256 of the body, or a bearer token.
pub fn generic(data: &[u8]) {
    let Some(raw) = RawRequest::split(data) else {
        return;
    };
    let gateway = Generic::new(&GenericConfig {
        token: Some(secrets()),
        hmac_secret: Some(secrets()),
    });
    let mut sent = Sent::new(&raw, "generic");
    if raw.signed() {
        if raw.flag(4) {
            sent.header("authorization", &format!("Bearer {SECRET}"));
        } else {
            let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key");
            mac.update(&sent.body);
            let signature = hex::encode(mac.finalize().into_bytes());
            sent.header(SIGNATURE_HEADER, &format!("sha256={signature}"));
        }
    }
    check_gateway(&gateway, &sent, raw.signed());
}

/// Name/value pairs from a form or a flat JSON object: re-encoding parsed
/// form pairs gives the same pairs back, and sorting keeps every pair.
pub fn params(data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    // Not UTF-8 once decoded: refused, nothing to re-encode.
    let Ok(form) = Params::from_urlencoded(data) else {
        return;
    };
    let again = Params::from_urlencoded(reencode(&form, "").as_bytes())
        .expect("re-encoded pairs are UTF-8");
    assert_eq!(form, again, "form pairs changed through re-encoding");
    check_sorted(&form);
    if let Ok(json) = Params::from_json_object(data) {
        check_sorted(&json);
    }
}

fn check_sorted(params: &Params) {
    let sorted = params.sorted();
    assert_eq!(sorted.len(), params.iter().count());
    assert!(sorted.windows(2).all(|w| w[0] <= w[1]), "not sorted");
}

// ------------------------------------------------------------- the feed

/// `POST /v1/reports`: the first byte picks JSON, NDJSON or GeoJSON.
pub fn feed(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    if body.len() > MAX_INPUT {
        return;
    }
    let kind = match kind % 3 {
        0 => BodyKind::Json,
        1 => BodyKind::NdJson,
        _ => BodyKind::GeoJson,
    };
    let received_at = Utc.timestamp_opt(1_740_816_930, 0).unwrap();
    let items = match feed::parse(kind, body) {
        Ok(Feed::One(item)) => vec![*item],
        Ok(Feed::Batch(items)) => items,
        Err(e) => return check_error(&e),
    };
    if kind == BodyKind::NdJson {
        let lines = body
            .split(|b| *b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .count();
        assert_eq!(items.len(), lines, "one answer per NDJSON line");
    }
    for item in items {
        match item {
            Ok((source, message)) => check_message(&source, message, received_at),
            Err(e) => check_error(&e),
        }
    }
}

// ------------------------------------------------------------- the queue

/// A grouped queue message: the first line is the content type, the rest
/// the body, as a consumer gets them. A body that splits encodes back to
/// itself; each payload is read as the worker reads it.
pub fn queue_message(data: &[u8]) {
    let (content_type, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[][..], data),
    };
    let mut properties = lapin::BasicProperties::default();
    if let Ok(content_type) = std::str::from_utf8(content_type)
        && content_type.len() < 256
    {
        properties = properties.with_content_type(content_type.into());
    }
    let grouped = amqp::is_grouped(&properties);
    assert_eq!(grouped, content_type == batch::CONTENT_TYPE.as_bytes());
    let delivery = Delivery::new(body.to_vec(), false, Box::new(NoAck)).grouped(grouped);
    let Ok(payloads) = delivery.payloads() else {
        assert!(grouped, "a plain message is always one payload");
        return;
    };
    if grouped {
        assert_eq!(batch::encode(&payloads), body, "decode then encode");
    }
    for payload in payloads {
        if let Ok(report) = crate::queue::codec::decode_report(payload) {
            check_report_round_trip(&report);
        }
    }
}

/// The grouped message codec alone: payloads cut from the input at NULs
/// encode and decode back to themselves.
pub fn batch_codec(data: &[u8]) {
    if let Ok(payloads) = batch::decode(data) {
        assert_eq!(batch::encode(&payloads), data);
    }
    let payloads: Vec<&[u8]> = data.split(|b| *b == 0).collect();
    let body = batch::encode(&payloads);
    assert_eq!(batch::decode(&body).expect("encoded decodes"), payloads);
}

struct NoAck;

#[async_trait::async_trait]
impl Acknowledge for NoAck {
    async fn ack(self: Box<Self>) -> anyhow::Result<()> {
        Ok(())
    }
    async fn dead_letter(self: Box<Self>, _: &[u8], _: &str) -> anyhow::Result<()> {
        Ok(())
    }
    async fn dead_letter_copy(&self, _: &[u8], _: &str) -> anyhow::Result<()> {
        Ok(())
    }
}

/// A spool segment as found on disk after a crash: whatever its bytes,
/// opening the spool and reading it yields records that are really in the
/// file, in order, and that a fresh spool stores and gives back unchanged.
pub fn spool_segment(data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    let dir = ScratchDir::new("spool");
    std::fs::write(dir.path().join("00000000000000000001.spool"), data)
        .expect("the scratch dir is writable");
    let spool = Spool::open(dir.path()).expect("a spool over any segment opens");
    let pending = spool.pending();
    let records = match spool.oldest().expect("the segment reads") {
        Some(segment) => segment.records,
        None => Vec::new(),
    };
    assert_eq!(pending, records.len() as u64, "pending counts the records");
    // Damaged bytes are skipped, so records need not be contiguous: each
    // is a whole framed record of the file, after the one before it.
    let mut at = 0;
    for record in &records {
        let mut framed = (record.len() as u32).to_le_bytes().to_vec();
        framed.extend_from_slice(&crc32fast::hash(record).to_le_bytes());
        framed.extend_from_slice(record);
        let found = data[at..]
            .windows(framed.len())
            .position(|w| w == framed.as_slice())
            .expect("each record is a framed record of the file, in order");
        at += found + framed.len();
    }
    let copy = ScratchDir::new("spool-copy");
    let fresh = Spool::open(copy.path()).expect("a new spool opens");
    let slices: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
    fresh.append_all(&slices).expect("appends");
    let back = fresh.oldest().expect("reads").map(|s| s.records);
    assert_eq!(back.unwrap_or_default(), records);
}

/// A directory of its own under the system's temporary directory, removed
/// when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(what: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("ishara-fuzz-{what}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("the temporary directory is writable");
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ------------------------------------------------------------- operators' files

/// A rule file: loading never panics, every diagnostic names a place in
/// the file, and loading is deterministic.
pub fn rules_yaml(data: &[u8]) {
    let Ok(yaml) = std::str::from_utf8(data) else {
        return;
    };
    if yaml.len() > MAX_INPUT {
        return;
    }
    let known = Known {
        channels: [LOG_CHANNEL.to_owned(), "email".to_owned()].into(),
        templates: ["default".to_owned(), "outbreak".to_owned()].into(),
    };
    let file = Path::new("rules/fuzz.yaml");
    let first = load_str(file, yaml, &known);
    // YAML breaks lines at CR, LF and CRLF alike.
    let lines = yaml.replace("\r\n", "\n").matches(['\r', '\n']).count() + 1;
    match &first {
        Ok(rules) => {
            let mut ids: Vec<_> = rules.iter().map(|r| r.id.clone()).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), rules.len(), "rule ids are unique");
        }
        Err(diagnostics) => {
            assert!(!diagnostics.is_empty(), "a refusal says why");
            for d in diagnostics {
                assert_eq!(d.file, file);
                assert!(d.line <= lines + 1, "{d} is past the end of the file");
            }
        }
    }
    let second = load_str(file, yaml, &known);
    assert_eq!(
        first.as_ref().map(Vec::len).map_err(Clone::clone),
        second.as_ref().map(Vec::len).map_err(Clone::clone),
        "loading is deterministic"
    );
}

/// A template set: what `rules check` accepts also loads, and a loaded set
/// renders every part without panicking.
pub fn template(data: &[u8]) {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    if source.len() > 4096 {
        return;
    }
    let dir = ScratchDir::new("templates");
    std::fs::write(dir.path().join("fuzz.j2"), source).expect("the scratch dir is writable");
    let problems = Templates::check(dir.path(), &[]);
    let loaded = Templates::load(dir.path());
    if problems.is_empty() {
        assert!(loaded.is_ok(), "checked templates failed to load");
    }
    if let Ok(templates) = loaded {
        let context = sample_context("fuzz-rule", &["admin1"], &Default::default());
        let _ = templates.render_parts(Some("fuzz"), Part::ALL, &context);
    }
}

// ------------------------------------------------------------- SMS and phones

/// GSM-7 / UCS-2 segmenting: the parts of `count` cut the text into pieces
/// that join back to it, within the limits of the spec's table, and `fit`
/// always fits.
pub fn sms_segments(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.len() > 8 * 1024 {
        return;
    }
    let counted = segments::count(text);
    let (single, per_part) = match counted.encoding {
        Encoding::Gsm7 => (160, 153),
        Encoding::Ucs2 => (70, 67),
    };
    assert_eq!(counted.parts.iter().sum::<usize>(), counted.units);
    if counted.units <= single {
        assert_eq!(counted.parts.len(), 1);
    } else {
        assert!(counted.parts.iter().all(|p| *p <= per_part && *p > 0));
    }
    let pieces = split_at_parts(text, counted.encoding, &counted.parts);
    assert_eq!(pieces.concat(), text, "the parts join back to the text");
    for max in 1..=4 {
        let fitted = segments::fit(text, max);
        assert!(segments::count(&fitted).parts.len() <= max, "fit({max})");
        if fitted != text {
            let kept = fitted
                .strip_suffix("...")
                .or_else(|| fitted.strip_suffix('…'))
                .expect("a cut text ends with an ellipsis");
            assert!(text.starts_with(kept), "a cut text is a prefix");
        }
    }
}

/// Cuts `text` into pieces of the given sizes in `encoding`'s units,
/// never inside a character.
fn split_at_parts<'a>(text: &'a str, encoding: Encoding, parts: &[usize]) -> Vec<&'a str> {
    let mut pieces = Vec::with_capacity(parts.len());
    let mut rest = text;
    for &size in parts {
        let mut units = 0;
        let mut end = 0;
        for (i, c) in rest.char_indices() {
            let cost = char_cost(c, encoding);
            if units + cost > size {
                break;
            }
            units += cost;
            end = i + c.len_utf8();
        }
        assert_eq!(units, size, "a part ends inside a character");
        pieces.push(&rest[..end]);
        rest = &rest[end..];
    }
    assert!(rest.is_empty(), "text left over after the last part");
    pieces
}

fn char_cost(c: char, encoding: Encoding) -> usize {
    match encoding {
        Encoding::Ucs2 => c.len_utf16(),
        Encoding::Gsm7 => {
            if "^{}\\[~]|€\u{0C}".contains(c) {
                2
            } else {
                1
            }
        }
    }
}

/// Phone numbers: a normalised sender, written back with its channel
/// prefix, normalises to itself, and what is called E.164 is E.164. (The
/// prefix goes back on because a name may hold a colon: `whatsapp:Shop:1`
/// is the name `Shop:1` on WhatsApp, while `Shop:1` alone would be `1` on
/// the channel `shop`.)
pub fn phone(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    if raw.len() > 256 {
        return;
    }
    for country in [Some("KE"), Some("US"), None] {
        let phones = PhoneNormalizer::new(country).expect("a known country");
        let sender = phones.normalize(raw);
        if sender.kind == SenderKind::E164 {
            assert!(is_e164(&sender.value), "{raw:?} -> {:?}", sender.value);
        }
        if sender.kind != SenderKind::Invalid {
            let channel = sender.channel.as_deref().unwrap_or("tel");
            let again = phones.normalize(&format!("{channel}:{}", sender.value));
            assert_eq!(again, sender, "{raw:?} re-parsed differently");
        }
    }
}
