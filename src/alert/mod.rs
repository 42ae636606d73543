//! The alert stage: what fired, on which event, for whom — one JSON document per alert.
//!
//! The same document is written by `replay` and sent by the daemon's sinks, so its shape is
//! part of trailwatch's interface (see the README's "Alert schema").

mod summary;
pub mod table;
#[cfg(test)]
pub(crate) mod test_alert;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

pub use crate::rules::RuleInfo;
use crate::rules::RuleMeta;
use crate::trail::fields::well_known as wk;
use crate::trail::{self, Record};

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
    /// When trailwatch raised the alert (RFC 3339, UTC).
    pub detected_at: String,
    /// The CloudTrail record exactly as read (for a correlation, the event that completed it).
    pub record: Box<RawValue>,
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
                name: actor_name(f).map(Short::from),
            },
            source_ip: s(wk::SOURCE_IP),
            user_agent: s(wk::USER_AGENT),
            error_code: s(wk::ERROR_CODE),
        };
        // Without an eventID the record text itself is the identity of the event.
        let event_key = event.id.as_deref().unwrap_or(record.raw);
        let alert_id = Uuid::new_v5(
            &ALERT_ID_NAMESPACE,
            format!("{}\n{}", rule.info.id, event_key).as_bytes(),
        );
        Alert {
            alert_id: alert_id.to_string(),
            summary: summary(&rule.info.title, &event),
            rule: rule.info.clone(),
            event,
            origin: origin.clone(),
            detected_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            record: RawValue::from_string(trail::compact_json(record.raw).into_owned())
                .expect("a record's text is valid JSON"),
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
        serde_json::to_writer(&mut *out, self).expect("alerts always serialize");
        out.push(b'\n');
    }
}
