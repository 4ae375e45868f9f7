//! OASIS Common Alerting Protocol 1.2 messages and an Atom 1.0 feed of them,
//! so public alert aggregators (Google Public Alerts, the WMO Alert Hub) and
//! national CAP brokers can pick Ishara alerts up without custom glue.
//!
//! Every piece of text goes through quick-xml's escaping; the only thing done
//! by hand is removing characters that XML 1.0 cannot carry at all, because
//! escaping cannot make those legal and SMS text does contain them.

use std::borrow::Cow;
use std::io;

use chrono::{DateTime, SecondsFormat, Utc};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

/// Namespace of every CAP 1.2 element; consumers match on it, not on the
/// element's local name.
pub const CAP_NS: &str = "urn:oasis:names:tc:emergency:cap:1.2";
/// Namespace of Atom 1.0 (RFC 4287).
pub const ATOM_NS: &str = "http://www.w3.org/2005/Atom";
/// Media type of a CAP document, used on feed links and embedded content.
pub const CAP_MEDIA_TYPE: &str = "application/cap+xml";

/// One Ishara alert (or its resolution) as the CAP writer needs it.
#[derive(Debug, Clone)]
pub struct CapAlert<'a> {
    /// Alert id (a ULID).
    pub identifier: &'a str,
    /// E.g. "ishara@health.example.org", from config.
    pub sender: &'a str,
    /// `fired_at`, or `resolved_at` for a resolution.
    pub sent: DateTime<Utc>,
    /// True for a resolution: msgType Update referencing the original alert.
    pub resolved: bool,
    /// `sent` of the original alert, needed for `<references>`.
    pub fired_at: DateTime<Utc>,
    /// "Actual" normally; "Exercise"/"Test" allowed.
    pub status: &'a str,
    /// Rule description or rule id.
    pub event: &'a str,
    pub rule_id: &'a str,
    /// Extreme | Severe | Moderate | Minor | Unknown.
    pub severity: &'a str,
    /// CAP category, e.g. "Health", "Met", "Safety", "Other".
    pub category: &'a str,
    pub headline: &'a str,
    pub description: &'a str,
    /// Link to the alert.
    pub web: Option<&'a str>,
    pub area: CapArea<'a>,
    /// E.g. ("ishara:rule", id), ("ishara:group", ...), ("ishara:value", ...).
    pub parameters: Vec<(&'a str, String)>,
}

/// Where an alert applies.
#[derive(Debug, Clone)]
pub struct CapArea<'a> {
    /// `areaDesc`, e.g. "Garissa, Kenya".
    pub description: &'a str,
    /// Latitude, longitude, radius in km.
    pub circle: Option<(f64, f64, f64)>,
    /// Latitude, longitude pairs; closed here if the caller did not.
    pub polygon: Option<Vec<(f64, f64)>>,
    /// E.g. ("ISO3166-2", "KE-07") or ("ishara:admin1", "KE.07").
    pub geocodes: Vec<(&'a str, String)>,
}

/// One entry of the Atom feed: the alert and where its CAP document lives.
#[derive(Debug, Clone)]
pub struct FeedEntry<'a> {
    pub alert: CapAlert<'a>,
    pub cap_url: String,
}

type XmlWriter = Writer<Vec<u8>>;

/// A standalone CAP 1.2 document (with XML declaration) for one alert.
pub fn cap_xml(alert: &CapAlert) -> String {
    render(|w| {
        write_decl(w)?;
        write_alert(w, alert)
    })
}

/// An Atom 1.0 feed whose entries each embed their CAP `<alert>`, which is
/// the shape CAP aggregators poll.
pub fn atom_feed(
    feed_id: &str,
    title: &str,
    self_url: &str,
    updated: DateTime<Utc>,
    entries: &[FeedEntry],
) -> String {
    render(|w| {
        write_decl(w)?;
        w.create_element("feed")
            .with_attribute(("xmlns", ATOM_NS))
            .write_inner_content(|w| {
                text_element(w, "id", feed_id)?;
                text_element(w, "title", title)?;
                text_element(w, "updated", &xml_time(updated))?;
                let self_url = xml_chars(self_url);
                w.create_element("link")
                    .with_attributes([
                        ("rel", "self"),
                        ("type", "application/atom+xml"),
                        ("href", self_url.as_ref()),
                    ])
                    .write_empty()?;
                for entry in entries {
                    write_entry(w, entry)?;
                }
                Ok(())
            })?;
        Ok(())
    })
}

fn render(body: impl FnOnce(&mut XmlWriter) -> io::Result<()>) -> String {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    // The sink is a Vec, whose io::Write never fails.
    body(&mut writer).expect("writing XML into memory cannot fail");
    // Every input is &str and quick-xml writes it through unchanged.
    String::from_utf8(writer.into_inner()).expect("XML built from &str is UTF-8")
}

fn write_decl(w: &mut XmlWriter) -> io::Result<()> {
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
}

fn write_entry(w: &mut XmlWriter, entry: &FeedEntry) -> io::Result<()> {
    let alert = &entry.alert;
    let title = if alert.headline.trim().is_empty() {
        event_name(alert)
    } else {
        alert.headline
    };
    let cap_url = xml_chars(&entry.cap_url);
    w.create_element("entry").write_inner_content(|w| {
        // The message identifier rather than cap_url: it stays the same if
        // the service moves host, and it differs between an alert and its
        // resolution even when both are served from one URL.
        text_element(w, "id", &format!("urn:ishara:alert:{}", message_id(alert)))?;
        text_element(w, "title", title)?;
        text_element(w, "updated", &xml_time(alert.sent))?;
        w.create_element("author")
            .write_inner_content(|w| text_element(w, "name", alert.sender))?;
        if !alert.description.trim().is_empty() {
            text_element(w, "summary", alert.description)?;
        }
        w.create_element("link")
            .with_attributes([
                ("rel", "alternate"),
                ("type", CAP_MEDIA_TYPE),
                ("href", cap_url.as_ref()),
            ])
            .write_empty()?;
        // RFC 4287 4.1.3.3: with an XML media type the content is the
        // document's root element itself, not escaped text.
        w.create_element("content")
            .with_attribute(("type", CAP_MEDIA_TYPE))
            .write_inner_content(|w| write_alert(w, alert))?;
        Ok(())
    })?;
    Ok(())
}

fn write_alert(w: &mut XmlWriter, alert: &CapAlert) -> io::Result<()> {
    let sender = cap_token(alert.sender);
    let identifier = message_id(alert);
    // The xmlns is declared on <alert> itself so the element stays in the CAP
    // namespace when embedded in an Atom feed, whose default namespace differs.
    w.create_element("alert")
        .with_attribute(("xmlns", CAP_NS))
        .write_inner_content(|w| {
            text_element(w, "identifier", &identifier)?;
            text_element(w, "sender", &sender)?;
            text_element(w, "sent", &xml_time(alert.sent))?;
            text_element(w, "status", status(alert.status))?;
            text_element(
                w,
                "msgType",
                if alert.resolved { "Update" } else { "Alert" },
            )?;
            text_element(w, "scope", "Public")?;
            if alert.resolved {
                // The original was sent under the bare alert id, so that is
                // what consumers need to find and supersede it.
                let original = cap_token(alert.identifier);
                let fired = xml_time(alert.fired_at);
                text_element(w, "references", &format!("{sender},{original},{fired}"))?;
            }
            w.create_element("info")
                .write_inner_content(|w| write_info(w, alert))?;
            Ok(())
        })?;
    Ok(())
}

fn write_info(w: &mut XmlWriter, alert: &CapAlert) -> io::Result<()> {
    text_element(w, "language", "en-US")?;
    text_element(w, "category", category(alert.category))?;
    text_element(w, "event", event_name(alert))?;
    // AllClear (new in CAP 1.2) is what tells consumers a resolution means
    // the threat is over; Monitor would read as "keep watching".
    let response = if alert.resolved {
        "AllClear"
    } else {
        "Monitor"
    };
    text_element(w, "responseType", response)?;
    text_element(
        w,
        "urgency",
        if alert.resolved { "Past" } else { "Immediate" },
    )?;
    text_element(w, "severity", severity(alert.severity))?;
    // Every Ishara alert rests on reports actually received, firing or not.
    text_element(w, "certainty", "Observed")?;
    if !alert.headline.trim().is_empty() {
        text_element(w, "headline", alert.headline)?;
    }
    if !alert.description.trim().is_empty() {
        text_element(w, "description", alert.description)?;
    }
    if let Some(web) = alert.web.filter(|web| !web.trim().is_empty()) {
        text_element(w, "web", web)?;
    }
    for (name, value) in &alert.parameters {
        named_value(w, "parameter", name, value)?;
    }
    w.create_element("area")
        .write_inner_content(|w| write_area(w, &alert.area))?;
    Ok(())
}

fn write_area(w: &mut XmlWriter, area: &CapArea) -> io::Result<()> {
    text_element(w, "areaDesc", area.description)?;
    if let Some(polygon) = area.polygon.as_deref().and_then(polygon_text) {
        text_element(w, "polygon", &polygon)?;
    }
    if let Some(circle) = area.circle.and_then(circle_text) {
        text_element(w, "circle", &circle)?;
    }
    for (name, value) in &area.geocodes {
        named_value(w, "geocode", name, value)?;
    }
    Ok(())
}

fn named_value(w: &mut XmlWriter, element: &str, name: &str, value: &str) -> io::Result<()> {
    w.create_element(element).write_inner_content(|w| {
        text_element(w, "valueName", name)?;
        text_element(w, "value", value)
    })?;
    Ok(())
}

fn text_element(w: &mut XmlWriter, name: &str, text: &str) -> io::Result<()> {
    w.create_element(name)
        .write_text_content(BytesText::new(&xml_chars(text)))?;
    Ok(())
}

/// A resolution is a message of its own and CAP identifiers must be unique
/// per message, so it cannot reuse the alert id the original went out under.
fn message_id(alert: &CapAlert) -> String {
    let id = cap_token(alert.identifier);
    if alert.resolved {
        format!("{id}-resolved")
    } else {
        id.into_owned()
    }
}

fn event_name<'a>(alert: &CapAlert<'a>) -> &'a str {
    if alert.event.trim().is_empty() {
        alert.rule_id
    } else {
        alert.event
    }
}

/// CAP forbids spaces, commas, `<` and `&` in identifier and sender because
/// `<references>` packs "sender,identifier,sent" triples separated by
/// whitespace; one stray comma or space would make every later reference to
/// this message unparseable. Such characters become `_`. ULIDs and e-mail
/// style senders never contain them, so this only guards against config typos.
fn cap_token(raw: &str) -> Cow<'_, str> {
    let forbidden = |c: char| c.is_whitespace() || matches!(c, ',' | '<' | '&');
    if raw.contains(forbidden) {
        Cow::Owned(raw.replace(forbidden, "_"))
    } else {
        Cow::Borrowed(raw)
    }
}

/// CAP's dateTime profile: explicit "+00:00" (the spec disallows "Z") and no
/// fractional seconds. Also valid RFC 3339, so Atom uses the same form.
fn xml_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// Characters outside XML 1.0's `Char` production (most C0 controls, U+FFFE,
/// U+FFFF) make the whole document malformed and have no escaped form, so
/// they become U+FFFD, which keeps a visible trace that something was there.
fn xml_chars(raw: &str) -> Cow<'_, str> {
    let illegal = |c: char| matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}');
    if raw.contains(illegal) {
        Cow::Owned(raw.replace(illegal, "\u{FFFD}"))
    } else {
        Cow::Borrowed(raw)
    }
}

fn valid_point(lat: f64, lon: f64) -> bool {
    (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)
}

/// CAP requires a closed ring of at least four points. A shape that cannot
/// become one (too few points, non-finite or out-of-range coordinates) is
/// left out rather than sent broken: areaDesc and the geocodes still locate
/// the alert, whereas a bad polygon can make a consumer reject the message.
fn polygon_text(points: &[(f64, f64)]) -> Option<String> {
    if !points.iter().all(|&(lat, lon)| valid_point(lat, lon)) {
        return None;
    }
    let mut ring = points.to_vec();
    if let (Some(&first), Some(&last)) = (ring.first(), ring.last())
        && first != last
    {
        ring.push(first);
    }
    if ring.len() < 4 {
        return None;
    }
    let pairs: Vec<String> = ring
        .iter()
        .map(|(lat, lon)| format!("{lat},{lon}"))
        .collect();
    Some(pairs.join(" "))
}

/// Same reasoning as [`polygon_text`]: an impossible circle is left out.
fn circle_text((lat, lon, radius_km): (f64, f64, f64)) -> Option<String> {
    (valid_point(lat, lon) && radius_km.is_finite() && radius_km >= 0.0)
        .then(|| format!("{lat},{lon} {radius_km}"))
}

/// CAP enumerations are case-sensitive, while Ishara's own severities are
/// lower case, so known values are mapped to their CAP spelling whatever the
/// case the caller used.
fn canonical<'a>(raw: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let raw = raw.trim();
    allowed
        .iter()
        .copied()
        .find(|v| v.eq_ignore_ascii_case(raw))
}

/// An unknown status is passed through, not mapped: there is no neutral
/// status, and guessing "Actual" could turn a drill into a real alert while
/// guessing "Test" would silently mute a real one. A schema check downstream
/// flags it instead.
fn status(raw: &str) -> &str {
    const STATUSES: &[&str] = &["Actual", "Exercise", "System", "Test", "Draft"];
    canonical(raw, STATUSES).unwrap_or(raw)
}

/// "Unknown" is a legitimate CAP severity, so it is the honest fallback.
fn severity(raw: &str) -> &'static str {
    const SEVERITIES: &[&str] = &["Extreme", "Severe", "Moderate", "Minor", "Unknown"];
    canonical(raw, SEVERITIES).unwrap_or("Unknown")
}

/// "Other" is CAP's catch-all category, so it is the honest fallback.
fn category(raw: &str) -> &'static str {
    const CATEGORIES: &[&str] = &[
        "Geo",
        "Met",
        "Safety",
        "Security",
        "Rescue",
        "Fire",
        "Health",
        "Env",
        "Transport",
        "Infra",
        "CBRNE",
        "Other",
    ];
    canonical(raw, CATEGORIES).unwrap_or("Other")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use roxmltree::{Document, Node};

    const ID: &str = "01JDZ8Q4V6M9X3K2T7B5N1P0RS";
    const SENDER: &str = "ishara@health.example.org";

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, h, m, 0).unwrap()
    }

    fn firing() -> CapAlert<'static> {
        CapAlert {
            identifier: ID,
            sender: SENDER,
            sent: at(12, 0),
            resolved: false,
            fired_at: at(12, 0),
            status: "Actual",
            event: "Suspected cholera cluster",
            rule_id: "cholera-cluster",
            severity: "Severe",
            category: "Health",
            headline: "Cholera cluster in Garissa",
            description: "12 reports of acute watery diarrhoea in 6 hours.",
            web: Some("https://ishara.example.org/alerts/01JDZ8Q4V6M9X3K2T7B5N1P0RS"),
            area: CapArea {
                description: "Garissa, Kenya",
                circle: Some((-0.4532, 39.6461, 25.0)),
                polygon: None,
                geocodes: vec![
                    ("ISO3166-2", "KE-07".to_string()),
                    ("ishara:admin1", "KE.07".to_string()),
                ],
            },
            parameters: vec![
                ("ishara:rule", "cholera-cluster".to_string()),
                ("ishara:value", "12".to_string()),
            ],
        }
    }

    fn resolution() -> CapAlert<'static> {
        CapAlert {
            resolved: true,
            sent: at(18, 30),
            ..firing()
        }
    }

    fn elements<'a, 'i>(node: Node<'a, 'i>) -> Vec<Node<'a, 'i>> {
        node.children().filter(Node::is_element).collect()
    }

    fn names<'a>(node: Node<'a, '_>) -> Vec<&'a str> {
        elements(node)
            .into_iter()
            .map(|n| n.tag_name().name())
            .collect()
    }

    fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Node<'a, 'i> {
        elements(node)
            .into_iter()
            .find(|n| n.tag_name().name() == name)
            .unwrap_or_else(|| panic!("no <{name}> in <{}>", node.tag_name().name()))
    }

    fn text<'a>(node: Node<'a, '_>, name: &str) -> &'a str {
        child(node, name).text().unwrap_or("")
    }

    #[test]
    fn firing_alert_has_required_elements_in_cap_order() {
        let xml = cap_xml(&firing());
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
        let doc = Document::parse(&xml).unwrap();
        let alert = doc.root_element();
        assert_eq!(alert.tag_name().namespace(), Some(CAP_NS));
        assert_eq!(alert.tag_name().name(), "alert");
        assert!(
            alert
                .descendants()
                .filter(Node::is_element)
                .all(|n| n.tag_name().namespace() == Some(CAP_NS))
        );
        assert_eq!(
            names(alert),
            [
                "identifier",
                "sender",
                "sent",
                "status",
                "msgType",
                "scope",
                "info"
            ]
        );
        assert_eq!(text(alert, "identifier"), ID);
        assert_eq!(text(alert, "sender"), SENDER);
        assert_eq!(text(alert, "sent"), "2026-12-02T12:00:00+00:00");
        assert_eq!(text(alert, "status"), "Actual");
        assert_eq!(text(alert, "msgType"), "Alert");
        assert_eq!(text(alert, "scope"), "Public");

        let info = child(alert, "info");
        assert_eq!(
            names(info),
            [
                "language",
                "category",
                "event",
                "responseType",
                "urgency",
                "severity",
                "certainty",
                "headline",
                "description",
                "web",
                "parameter",
                "parameter",
                "area"
            ]
        );
        assert_eq!(text(info, "category"), "Health");
        assert_eq!(text(info, "event"), "Suspected cholera cluster");
        assert_eq!(text(info, "responseType"), "Monitor");
        assert_eq!(text(info, "urgency"), "Immediate");
        assert_eq!(text(info, "severity"), "Severe");
        assert_eq!(text(info, "certainty"), "Observed");
        let parameter = child(info, "parameter");
        assert_eq!(names(parameter), ["valueName", "value"]);
        assert_eq!(text(parameter, "valueName"), "ishara:rule");
        assert_eq!(text(parameter, "value"), "cholera-cluster");

        let area = child(info, "area");
        assert_eq!(names(area), ["areaDesc", "circle", "geocode", "geocode"]);
        assert_eq!(text(area, "areaDesc"), "Garissa, Kenya");
        assert_eq!(text(area, "circle"), "-0.4532,39.6461 25");
        let geocode = child(area, "geocode");
        assert_eq!(text(geocode, "valueName"), "ISO3166-2");
        assert_eq!(text(geocode, "value"), "KE-07");
    }

    #[test]
    fn times_have_numeric_offset_and_no_fraction() {
        let alert = CapAlert {
            sent: at(12, 0) + chrono::Duration::milliseconds(987),
            ..firing()
        };
        let xml = cap_xml(&alert);
        let doc = Document::parse(&xml).unwrap();
        assert_eq!(
            text(doc.root_element(), "sent"),
            "2026-12-02T12:00:00+00:00"
        );
        assert!(!xml.contains("00Z"));
    }

    #[test]
    fn resolution_is_an_update_referencing_the_original() {
        let xml = cap_xml(&resolution());
        let doc = Document::parse(&xml).unwrap();
        let alert = doc.root_element();
        assert_eq!(
            names(alert),
            [
                "identifier",
                "sender",
                "sent",
                "status",
                "msgType",
                "scope",
                "references",
                "info"
            ]
        );
        assert_eq!(text(alert, "identifier"), format!("{ID}-resolved"));
        assert_eq!(text(alert, "sent"), "2026-12-02T18:30:00+00:00");
        assert_eq!(text(alert, "msgType"), "Update");
        assert_eq!(
            text(alert, "references"),
            format!("{SENDER},{ID},2026-12-02T12:00:00+00:00")
        );
        let info = child(alert, "info");
        assert_eq!(text(info, "urgency"), "Past");
        assert_eq!(text(info, "responseType"), "AllClear");
        assert_eq!(text(info, "certainty"), "Observed");
    }

    #[test]
    fn special_characters_round_trip() {
        let headline = "Flood <warning> & \"evacuate\" 'now' 🌊 فيضان في المدينة";
        let description = "Line one & <b>not bold</b>\nسطر ثانٍ — 🚨 ]]> \"quoted\"\tend";
        let area = "Garissa & Lagdera <north>, \"Kenya\"";
        let value = "a<b & c>d \"e\" 'f' 🙂";
        let alert = CapAlert {
            headline,
            description,
            event: "Rule \"<x>\" & co",
            parameters: vec![("ishara:value", value.to_string())],
            area: CapArea {
                description: area,
                geocodes: vec![("ishara:place", value.to_string())],
                ..firing().area
            },
            ..firing()
        };
        let xml = cap_xml(&alert);
        let doc = Document::parse(&xml).unwrap();
        let info = child(doc.root_element(), "info");
        assert_eq!(text(info, "headline"), headline);
        assert_eq!(text(info, "description"), description);
        assert_eq!(text(info, "event"), "Rule \"<x>\" & co");
        assert_eq!(text(child(info, "parameter"), "value"), value);
        let area_node = child(info, "area");
        assert_eq!(text(area_node, "areaDesc"), area);
        assert_eq!(text(child(area_node, "geocode"), "value"), value);
    }

    #[test]
    fn characters_illegal_in_xml_are_replaced() {
        let alert = CapAlert {
            headline: "bell\u{7} nul\u{0} ok",
            ..firing()
        };
        let xml = cap_xml(&alert);
        let doc = Document::parse(&xml).unwrap();
        let info = child(doc.root_element(), "info");
        assert_eq!(text(info, "headline"), "bell\u{FFFD} nul\u{FFFD} ok");
    }

    #[test]
    fn identifier_and_sender_lose_reserved_characters() {
        let alert = CapAlert {
            identifier: "a b,c<d&e",
            sender: "ops team, ishara",
            resolved: true,
            ..firing()
        };
        let xml = cap_xml(&alert);
        let doc = Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(text(root, "identifier"), "a_b_c_d_e-resolved");
        assert_eq!(text(root, "sender"), "ops_team__ishara");
        let references = text(root, "references");
        assert!(!references.contains(char::is_whitespace));
        assert_eq!(
            references.split(',').collect::<Vec<_>>(),
            ["ops_team__ishara", "a_b_c_d_e", "2026-12-02T12:00:00+00:00"]
        );
    }

    fn area_of(area: CapArea<'static>) -> (String, Vec<String>) {
        let xml = cap_xml(&CapAlert { area, ..firing() });
        let doc = Document::parse(&xml).unwrap();
        let area = child(child(doc.root_element(), "info"), "area");
        let polygon = elements(area)
            .into_iter()
            .find(|n| n.has_tag_name((CAP_NS, "polygon")))
            .and_then(|n| n.text())
            .unwrap_or("")
            .to_string();
        (
            polygon,
            names(area).into_iter().map(str::to_string).collect(),
        )
    }

    fn with_polygon(points: Vec<(f64, f64)>) -> CapArea<'static> {
        CapArea {
            polygon: Some(points),
            circle: None,
            ..firing().area
        }
    }

    #[test]
    fn open_polygon_is_closed() {
        let (polygon, names) =
            area_of(with_polygon(vec![(-0.3, 39.5), (-0.3, 39.8), (-0.6, 39.8)]));
        assert_eq!(polygon, "-0.3,39.5 -0.3,39.8 -0.6,39.8 -0.3,39.5");
        assert_eq!(names, ["areaDesc", "polygon", "geocode", "geocode"]);
    }

    #[test]
    fn closed_polygon_is_left_alone() {
        let (polygon, _) = area_of(with_polygon(vec![
            (1.0, 2.0),
            (1.0, 3.0),
            (2.0, 3.0),
            (1.0, 2.0),
        ]));
        assert_eq!(polygon, "1,2 1,3 2,3 1,2");
    }

    #[test]
    fn impossible_shapes_are_left_out() {
        for points in [
            vec![],
            vec![(1.0, 2.0), (1.0, 3.0)],
            vec![(1.0, 2.0), (1.0, 3.0), (1.0, 2.0)],
            vec![(1.0, 2.0), (f64::NAN, 3.0), (2.0, 3.0)],
            vec![(91.0, 2.0), (1.0, 3.0), (2.0, 3.0)],
        ] {
            let (_, names) = area_of(with_polygon(points.clone()));
            assert_eq!(names, ["areaDesc", "geocode", "geocode"], "{points:?}");
        }
        for circle in [
            (0.0, 0.0, -1.0),
            (0.0, 0.0, f64::INFINITY),
            (0.0, 200.0, 5.0),
        ] {
            let (_, names) = area_of(CapArea {
                circle: Some(circle),
                ..firing().area
            });
            assert_eq!(names, ["areaDesc", "geocode", "geocode"], "{circle:?}");
        }
    }

    #[test]
    fn area_without_shapes_keeps_description_and_geocodes() {
        let (_, names) = area_of(CapArea {
            circle: None,
            polygon: None,
            ..firing().area
        });
        assert_eq!(names, ["areaDesc", "geocode", "geocode"]);
    }

    #[test]
    fn enumerations_get_cap_spelling() {
        let alert = CapAlert {
            severity: "severe",
            category: "HEALTH",
            status: "exercise",
            event: "",
            web: None,
            ..firing()
        };
        let xml = cap_xml(&alert);
        let doc = Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(text(root, "status"), "Exercise");
        let info = child(root, "info");
        assert_eq!(text(info, "severity"), "Severe");
        assert_eq!(text(info, "category"), "Health");
        assert_eq!(text(info, "event"), "cholera-cluster");
        assert!(!names(info).contains(&"web"));

        let odd = CapAlert {
            severity: "catastrophic",
            category: "Disease",
            ..firing()
        };
        let xml = cap_xml(&odd);
        let doc = Document::parse(&xml).unwrap();
        let info = child(doc.root_element(), "info");
        assert_eq!(text(info, "severity"), "Unknown");
        assert_eq!(text(info, "category"), "Other");
    }

    #[test]
    fn feed_embeds_namespaced_cap_alerts() {
        let entries = [
            FeedEntry {
                alert: firing(),
                cap_url: format!("https://ishara.example.org/cap/{ID}.xml?a=1&b=2"),
            },
            FeedEntry {
                alert: CapAlert {
                    headline: "All clear <Garissa> & \"environs\"",
                    ..resolution()
                },
                cap_url: format!("https://ishara.example.org/cap/{ID}-resolved.xml"),
            },
        ];
        let xml = atom_feed(
            "urn:ishara:feed:public",
            "Ishara alerts & resolutions",
            "https://ishara.example.org/cap/feed.atom?x=1&y=2",
            at(18, 30),
            &entries,
        );
        let doc = Document::parse(&xml).unwrap();
        let feed = doc.root_element();
        assert!(feed.has_tag_name((ATOM_NS, "feed")));
        assert_eq!(text(feed, "id"), "urn:ishara:feed:public");
        assert_eq!(text(feed, "title"), "Ishara alerts & resolutions");
        assert_eq!(text(feed, "updated"), "2026-12-02T18:30:00+00:00");
        let link = child(feed, "link");
        assert_eq!(link.attribute("rel"), Some("self"));
        assert_eq!(
            link.attribute("href"),
            Some("https://ishara.example.org/cap/feed.atom?x=1&y=2")
        );

        let feed_entries: Vec<_> = elements(feed)
            .into_iter()
            .filter(|n| n.has_tag_name((ATOM_NS, "entry")))
            .collect();
        assert_eq!(feed_entries.len(), 2);

        let first = feed_entries[0];
        assert_eq!(text(first, "id"), format!("urn:ishara:alert:{ID}"));
        assert_eq!(text(first, "title"), "Cholera cluster in Garissa");
        assert_eq!(text(first, "updated"), "2026-12-02T12:00:00+00:00");
        assert_eq!(text(child(first, "author"), "name"), SENDER);
        assert_eq!(
            text(first, "summary"),
            "12 reports of acute watery diarrhoea in 6 hours."
        );
        let alternate = child(first, "link");
        assert_eq!(alternate.attribute("rel"), Some("alternate"));
        assert_eq!(alternate.attribute("type"), Some(CAP_MEDIA_TYPE));
        assert_eq!(
            alternate.attribute("href"),
            Some(entries[0].cap_url.as_str())
        );

        for (entry, msg_type) in feed_entries.iter().zip(["Alert", "Update"]) {
            let content = child(*entry, "content");
            assert!(content.has_tag_name((ATOM_NS, "content")));
            assert_eq!(content.attribute("type"), Some(CAP_MEDIA_TYPE));
            let embedded = elements(content);
            assert_eq!(embedded.len(), 1);
            let alert = embedded[0];
            assert!(alert.has_tag_name((CAP_NS, "alert")));
            assert!(
                alert
                    .descendants()
                    .filter(Node::is_element)
                    .all(|n| n.tag_name().namespace() == Some(CAP_NS))
            );
            assert_eq!(text(alert, "msgType"), msg_type);
        }

        let second = feed_entries[1];
        assert_eq!(
            text(second, "id"),
            format!("urn:ishara:alert:{ID}-resolved")
        );
        assert_eq!(text(second, "title"), "All clear <Garissa> & \"environs\"");
        let embedded = child(child(second, "content"), "alert");
        assert_eq!(text(embedded, "identifier"), format!("{ID}-resolved"));
        assert_eq!(xml.matches("<?xml").count(), 1);
    }

    #[test]
    fn empty_feed_parses() {
        let xml = atom_feed(
            "urn:ishara:feed:empty",
            "Nothing",
            "https://x.example/feed",
            at(0, 0),
            &[],
        );
        let doc = Document::parse(&xml).unwrap();
        let feed = doc.root_element();
        assert!(feed.has_tag_name((ATOM_NS, "feed")));
        assert_eq!(names(feed), ["id", "title", "updated", "link"]);
    }
}
