//! The alert stage: what fired, on which event, for whom — one JSON document per alert.
//!
//! The same document is written by `replay` and sent by the daemon's sinks, so its shape is
//! part of trailwatch's interface (see docs/alerts.md).

pub mod service_finding;
mod summary;
pub mod table;
#[cfg(test)]
pub(crate) mod test_alert;

mod record_json;

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use uuid::Uuid;

pub use crate::rules::RuleInfo;
use crate::rules::RuleMeta;
use crate::trail::fields::well_known as wk;
use crate::trail::{self, Record};
pub use record_json::RecordJson;

use summary::{actor_name, summary};

/// Namespace of alert ids: `alert_id` = UUIDv5(namespace, rule id + eventID), so the same rule
/// on the same event always gives the same id, wherever and however often it is processed.
const ALERT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5f0c_8a1e_8d2b_4e0e_9c39_7a51_0b3e_7d21);

/// Where the event was read from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Origin {
    File {
        file: String,
    },
    S3 {
        bucket: String,
        key: String,
    },
    /// An event carried in the SQS message itself (EventBridge).
    Sqs {
        queue: String,
        message_id: String,
    },
}

/// A short string kept inline up to 24 bytes: most of an event's fields (time, name, source,
/// region, account, IP, error) fit, and a dense replay builds hundreds of thousands of events,
/// where an allocation per field showed as a fifth of the cost of an alert.
pub type Short = compact_str::CompactString;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "type")]
    pub kind: Option<Short>,
    pub arn: Option<Short>,
    pub name: Option<Short>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventInfo {
    pub id: Option<Short>,
    pub time: Option<Short>,
    pub name: Option<Short>,
    pub source: Option<Short>,
    pub region: Option<Short>,
    pub account: Option<Short>,
    pub actor: Actor,
    pub source_ip: Option<Short>,
    pub user_agent: Option<Short>,
    pub error_code: Option<Short>,
}

/// What a correlation alert adds: the group, what was counted, and the events behind it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CorrelationInfo {
    /// event_count, value_count, temporal or temporal_ordered.
    #[serde(rename = "type")]
    pub kind: crate::rules::sigma::correlation::Kind,
    /// Group-by name → value, as the correlation's `group-by` lists them.
    pub group: std::collections::BTreeMap<String, String>,
    /// Matching events in the window.
    pub count: u64,
    /// value_count: the field and how many distinct values it had.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub distinct_values: Option<u64>,
    /// temporal/temporal_ordered: the base rules' names in event-time order.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub sequence: Vec<String>,
    /// Event times of the first and last contributing events, and the rule's timespan.
    pub first_event_time: String,
    pub last_event_time: String,
    pub timespan: String,
    /// The contributing eventIDs, oldest first, at most [`MAX_EVENT_IDS`].
    pub event_ids: Vec<String>,
    /// How many eventIDs were left out of `event_ids`.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub event_ids_omitted: u64,
}

/// The cap on `correlation.event_ids`, so a burst of thousands of events stays one small alert.
pub const MAX_EVENT_IDS: usize = 50;

/// The rule's document, serialized once per rule rather than once per alert.
fn rule_json<S: serde::Serializer>(rule: &RuleInfo, s: S) -> Result<S::Ok, S::Error> {
    rule.json().serialize(s)
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One alert. Serialized as one line of JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Alert {
    pub alert_id: String,
    #[serde(serialize_with = "rule_json")]
    pub rule: std::sync::Arc<RuleInfo>,
    pub event: EventInfo,
    pub summary: String,
    pub origin: Origin,
    /// When trailwatch raised the alert (RFC 3339, UTC; see [`detected_now`]).
    pub detected_at: Short,
    /// The CloudTrail record exactly as read (for a correlation, the event that completed it).
    pub record: RecordJson,
    /// Only on correlation alerts.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub correlation: Option<CorrelationInfo>,
    /// Alerts with the same suppression key held back since the previous one was sent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub suppressed: Option<u64>,
    /// The values that make up the rule's suppression key (one per `by` field, an array
    /// field's values joined by commas; a correlation's group when `by` is empty), when a
    /// suppression policy applies: alerts with the same key share one window.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub suppression_key: Option<Vec<String>>,
    /// The actor's IAM posture from the daemon's last audit (its failing checks, admin or
    /// not, MFA, key ages), when the actor is an audited IAM user or role.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub posture: Option<crate::audit::PrincipalPosture>,
    /// `event.time` in milliseconds: taken from the record when reading it already parsed it
    /// (a time window, a correlation), else parsed the first time [`Alert::event_time_ms`]
    /// is asked (suppression, the lag metric), and never again. Not part of the document.
    #[serde(skip)]
    pub time_ms: std::sync::OnceLock<Option<i64>>,
}

impl Alert {
    pub fn new(rule: &RuleMeta, record: &Record, origin: &Origin) -> Alert {
        Alert::of_rule(&rule.info, record, origin)
    }

    /// [`Alert::new`] from the rule's document alone (what an alert carries of its rule).
    pub fn of_rule(rule: &std::sync::Arc<RuleInfo>, record: &Record, origin: &Origin) -> Alert {
        let f = &record.fields;
        let s = |id| f.str(id).map(Short::from);
        let event = EventInfo {
            id: s(wk::EVENT_ID),
            time: s(wk::EVENT_TIME),
            name: s(wk::EVENT_NAME),
            source: s(wk::EVENT_SOURCE),
            region: s(wk::AWS_REGION),
            account: s(wk::RECIPIENT_ACCOUNT_ID).or_else(|| s(wk::ACTOR_ACCOUNT_ID)),
            actor: Actor {
                kind: s(wk::ACTOR_TYPE),
                arn: s(wk::ACTOR_ARN),
                name: actor_name(f),
            },
            source_ip: s(wk::SOURCE_IP),
            user_agent: s(wk::USER_AGENT),
            error_code: s(wk::ERROR_CODE),
        };
        // Without an eventID the record text itself is the identity of the event.
        let event_key = event.id.as_deref().unwrap_or(record.raw);
        Alert {
            alert_id: alert_id(&rule.id, event_key),
            summary: summary(&rule.title, &event),
            rule: rule.clone(),
            event,
            origin: origin.clone(),
            detected_at: detected_now(),
            record: RecordJson::of(record),
            correlation: None,
            suppressed: None,
            suppression_key: None,
            posture: None,
            time_ms: record
                .parsed_time_ms()
                .map(std::sync::OnceLock::from)
                .unwrap_or_default(),
        }
    }

    /// The event's time in milliseconds since the epoch, when it has a readable one.
    pub fn event_time_ms(&self) -> Option<i64> {
        *self.time_ms.get_or_init(|| {
            self.event
                .time
                .as_deref()
                .and_then(trail::record::parse_time_ms)
        })
    }

    /// The alert as one line of JSON, newline included.
    pub fn to_json_line(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_json_line(&mut out);
        out
    }

    /// Appends the alert as one line of JSON to `out` (no copy through a buffer of its own).
    pub fn write_json_line(&self, out: &mut Vec<u8>) {
        self.write_json(out);
        out.push(b'\n');
    }

    /// Appends the alert's JSON document to `out`: the same bytes as serializing it, with the
    /// rule's document and the record written as the text they are (serializing the record
    /// through serde checks it first, a second parse of every record a replay writes), and
    /// the rest serialized by sonic-rs, whose SIMD string escaping halved the cost of writing
    /// an alert in a dense replay (escaping was most of serde_json's time).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        write_object(
            out,
            &AlertId {
                alert_id: &self.alert_id,
            },
        );
        out.pop(); // the closing brace: the members that follow continue the object
        out.extend_from_slice(b",\"rule\":");
        out.extend_from_slice(self.rule.json().get().as_bytes());
        append_members(
            out,
            &Head {
                event: &self.event,
                summary: &self.summary,
                origin: &self.origin,
                detected_at: &self.detected_at,
            },
        );
        out.extend_from_slice(b",\"record\":");
        out.extend_from_slice(self.record.get().as_bytes());
        append_members(
            out,
            &Tail {
                correlation: self.correlation.as_ref(),
                suppressed: self.suppressed,
                suppression_key: self.suppression_key.as_ref(),
                posture: self.posture.as_ref(),
            },
        );
        out.push(b'}');
    }
}

/// Appends `value`, which serializes as an object, to `out`.
fn write_object(out: &mut Vec<u8>, value: &impl Serialize) {
    sonic_rs::to_writer(&mut *out, value).expect("alerts always serialize");
}

/// Appends the members of `value`, which serializes as an object, to an object `out` holds
/// open (members written, closing brace not yet).
fn append_members(out: &mut Vec<u8>, value: &impl Serialize) {
    let start = out.len();
    write_object(out, value);
    if out.len() - start == 2 {
        out.truncate(start); // `{}`: no member to add
    } else {
        out[start] = b','; // `{"a":…}` goes on as `,"a":…`
        out.pop();
    }
}

/// The current time as an alert's `detected_at` gives it: RFC 3339 to the millisecond, UTC.
/// A dense replay raises hundreds of alerts within one millisecond, and formatting the time
/// for each was a tenth of the cost of an alert: each thread keeps the last one formatted.
pub fn detected_now() -> Short {
    thread_local! {
        static LAST: std::cell::RefCell<(i64, Short)> = const {
            std::cell::RefCell::new((i64::MIN, Short::const_new("")))
        };
    }
    let now = chrono::Utc::now();
    let ms = now.timestamp_millis();
    LAST.with_borrow_mut(|(at, text)| {
        if *at != ms {
            *at = ms;
            // 24 bytes: held inline, so a clone is a copy.
            *text = Short::new(now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        }
        text.clone()
    })
}

/// An alert's first member ([`Alert::write_json`]).
#[derive(Serialize)]
struct AlertId<'a> {
    alert_id: &'a str,
}

/// An alert's members between its rule and its record, in the document's order
/// ([`Alert::write_json`]).
#[derive(Serialize)]
struct Head<'a> {
    event: &'a EventInfo,
    summary: &'a str,
    origin: &'a Origin,
    detected_at: &'a str,
}

/// An alert's members after its record, in the document's order ([`Alert::write_json`]).
#[derive(Serialize)]
struct Tail<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    correlation: Option<&'a CorrelationInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    suppressed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    suppression_key: Option<&'a Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    posture: Option<&'a crate::audit::PrincipalPosture>,
}

/// UUIDv5 of the rule id and event key (see [`ALERT_ID_NAMESPACE`]), hashed with the `sha1`
/// crate, which uses the CPU's SHA instructions where it has them: a dense replay computes
/// hundreds of thousands of ids, and the portable hash was a tenth of an alert's cost.
fn alert_id(rule_id: &str, event_key: &str) -> String {
    let mut h = Sha1::new();
    h.update(ALERT_ID_NAMESPACE.as_bytes());
    h.update(rule_id.as_bytes());
    h.update(b"\n");
    h.update(event_key.as_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    let id = uuid::Builder::from_sha1_bytes(bytes).into_uuid();
    id.hyphenated()
        .encode_lower(&mut Uuid::encode_buffer())
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_written_document_is_the_serialized_one() {
        let plain = test_alert::alert(3);
        let mut full = plain.clone();
        full.correlation = Some(CorrelationInfo {
            kind: crate::rules::sigma::correlation::Kind::EventCount,
            group: [("user".to_string(), "alice \"a\"".to_string())].into(),
            count: 5,
            field: None,
            distinct_values: None,
            sequence: vec![],
            first_event_time: "2026-11-20T09:00:00Z".into(),
            last_event_time: "2026-11-20T09:01:00Z".into(),
            timespan: "5m".into(),
            event_ids: vec!["e1".into()],
            event_ids_omitted: 2,
        });
        full.suppressed = Some(4);
        full.suppression_key = Some(vec!["alice".into()]);
        full.posture = Some(crate::audit::PrincipalPosture {
            arn: "arn:aws:iam::111122223333:user/alice".into(),
            failing: vec!["mfa".into()],
            ..Default::default()
        });
        let mut only_suppressed = plain.clone();
        only_suppressed.suppressed = Some(1);
        for alert in [plain, full, only_suppressed] {
            let mut line = Vec::new();
            alert.write_json_line(&mut line);
            let mut expected = serde_json::to_vec(&alert).unwrap();
            expected.push(b'\n');
            assert_eq!(
                String::from_utf8(line).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        }
    }

    /// The written document is the serialized one whatever the strings hold (quotes,
    /// backslashes, control characters, any Unicode): the two are written by different
    /// serializers.
    fn written_as_serialized(alert: &Alert) -> Result<(), TestCaseError> {
        let mut line = Vec::new();
        alert.write_json_line(&mut line);
        let mut expected = serde_json::to_vec(alert).unwrap();
        expected.push(b'\n');
        prop_assert_eq!(
            String::from_utf8(line).unwrap(),
            String::from_utf8(expected).unwrap()
        );
        Ok(())
    }

    /// Strings dense in what JSON escapes, and in what it must not.
    const TRICKY: &str = "[\\x00-\\x1f\"\\\\/a\\x7f\u{80}\u{2028}\u{10ffff}]{0,20}";

    proptest! {
        #[test]
        fn any_strings_are_written_as_serialized(
            name in TRICKY,
            actor in TRICKY,
            file in TRICKY,
            key in proptest::collection::vec(TRICKY, 0..3),
            group in TRICKY,
        ) {
            let mut alert = test_alert::alert(0);
            alert.event.name = Some(name.as_str().into());
            alert.event.actor.name = Some(actor.as_str().into());
            alert.summary = format!("{name} by {actor}");
            alert.origin = Origin::File { file };
            alert.suppression_key = Some(key);
            written_as_serialized(&alert)?;
            alert.correlation = Some(CorrelationInfo {
                kind: crate::rules::sigma::correlation::Kind::ValueCount,
                group: [("user".to_string(), group.clone())].into(),
                count: 2,
                field: Some(group),
                distinct_values: Some(2),
                sequence: vec![],
                first_event_time: "2026-11-20T09:00:00Z".into(),
                last_event_time: "2026-11-20T09:01:00Z".into(),
                timespan: "5m".into(),
                event_ids: vec![],
                event_ids_omitted: 0,
            });
            written_as_serialized(&alert)?;
        }
    }

    #[test]
    fn alert_ids_are_uuid_v5_of_the_rule_and_event() {
        let alert = test_alert::alert(0);
        let expected = Uuid::new_v5(
            &ALERT_ID_NAMESPACE,
            format!("{}\ne1", alert.rule.id).as_bytes(),
        );
        assert_eq!(alert.alert_id, expected.to_string());
    }

    #[test]
    fn a_record_is_kept_on_one_line_and_read_back() {
        let rules = crate::rules::RuleSetBuilder::new().build().unwrap();
        let text =
            "{\n  \"eventName\": \"E\",\n  \"eventSource\": \"s\",\n\t\"a b\": \"x \\\" y\"\n}";
        let mut record = None;
        trail::read_stream(text.as_bytes(), rules.fields(), |r| {
            record = Some(RecordJson::of(&r.unwrap()));
        });
        let record = record.unwrap();
        assert_eq!(
            record.get(),
            r#"{"eventName":"E","eventSource":"s","a b":"x \" y"}"#
        );
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(json, record.get());
        let back: RecordJson = serde_json::from_str(text).unwrap();
        assert_eq!(back, record);
    }
}
