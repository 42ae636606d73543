//! Telling CloudTrail records apart from the other documents found in trails.

use super::error::{Position, TrailError};
use super::fields::{well_known as wk, FieldSet, Fields, Value};

/// One CloudTrail record, borrowed from the reader's buffer.
pub struct Record<'a> {
    /// The record's JSON text (for EventBridge events: the `detail` object).
    pub raw: &'a str,
    pub fields: Fields<'a>,
    /// Index of the record in its input (0-based).
    pub index: u64,
    /// `eventTime` in milliseconds, parsed the first time anything asks (a time window,
    /// a correlation, an alert) and not again.
    time_ms: std::cell::OnceCell<Option<i64>>,
}

impl<'a> Record<'a> {
    pub fn new(raw: &'a str, fields: Fields<'a>, index: u64) -> Record<'a> {
        Record {
            raw,
            fields,
            index,
            time_ms: std::cell::OnceCell::new(),
        }
    }

    /// `eventTime` as already parsed, without parsing it: None when nothing asked yet.
    pub fn parsed_time_ms(&self) -> Option<Option<i64>> {
        self.time_ms.get().copied()
    }

    /// `eventTime` in milliseconds since the epoch; None when missing or not RFC 3339.
    pub fn time_ms(&self) -> Option<i64> {
        *self
            .time_ms
            .get_or_init(|| self.fields.str(wk::EVENT_TIME).and_then(parse_time_ms))
    }
}

/// An RFC 3339 time (CloudTrail's `eventTime`) in milliseconds since the epoch.
pub fn parse_time_ms(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// What a frame turned out to be.
pub enum Document<'a> {
    Record(Record<'a>),
    /// A CloudTrail digest file: valid, but holds no events.
    Digest,
}

/// Parses one frame and decides what it is.
pub fn classify<'a>(
    set: &FieldSet,
    bytes: &'a [u8],
    index: u64,
    offset: u64,
) -> Result<Document<'a>, TrailError> {
    let at = position(index, offset);
    let raw = utf8(bytes, at)?;
    if !raw.starts_with('{') {
        return Err(TrailError::NotCloudTrail {
            message: "expected a JSON object".into(),
            at,
        });
    }
    let fields = set.extract(raw).map_err(|e| json_error(e, at))?;
    decide(set, raw, fields, index, at)
}

/// What [`classify`] does with a frame whose fields were extracted as it was framed
/// ([`FieldSet::extract_prefix`]).
pub fn classify_extracted<'a>(
    set: &FieldSet,
    bytes: &'a [u8],
    fields: Fields<'a>,
    index: u64,
    offset: u64,
) -> Result<Document<'a>, TrailError> {
    let at = position(index, offset);
    decide(set, utf8(bytes, at)?, fields, index, at)
}

fn position(index: u64, offset: u64) -> Position {
    Position {
        offset: Some(offset),
        record: Some(index),
    }
}

fn utf8(bytes: &[u8], at: Position) -> Result<&str, TrailError> {
    if let Ok(text) = simdutf8::basic::from_utf8(bytes) {
        return Ok(text);
    }
    // The std check says where the text stops being UTF-8.
    std::str::from_utf8(bytes).map_err(|e| TrailError::Json {
        message: format!(
            "invalid UTF-8 at byte {}",
            at.offset.unwrap_or(0) + e.valid_up_to() as u64
        ),
        at,
    })
}

fn json_error(e: serde_json::Error, at: Position) -> TrailError {
    TrailError::Json {
        message: e.to_string(),
        at,
    }
}

/// A record, an EventBridge event's record, a digest, or why the object is none of those.
fn decide<'a>(
    set: &FieldSet,
    raw: &'a str,
    fields: Fields<'a>,
    index: u64,
    at: Position,
) -> Result<Document<'a>, TrailError> {
    let not_ct = |message: String| TrailError::NotCloudTrail { message, at };
    if let Some(kind) = fields.str(wk::DETAIL_TYPE) {
        if !kind.ends_with("via CloudTrail") {
            return Err(not_ct(format!(
                "EventBridge event of type {kind:?} does not carry a CloudTrail record"
            )));
        }
        let Some(Value::Raw(detail)) = fields.get(wk::DETAIL).first() else {
            return Err(not_ct("EventBridge event without a `detail` object".into()));
        };
        let detail: &'a str = detail;
        let fields = set.extract(detail).map_err(|e| json_error(e, at))?;
        return record(detail, fields, index).map_err(not_ct);
    }
    if !fields.get(wk::DIGEST_START_TIME).is_empty() {
        return Ok(Document::Digest);
    }
    record(raw, fields, index).map_err(not_ct)
}

fn record<'a>(raw: &'a str, fields: Fields<'a>, index: u64) -> Result<Document<'a>, String> {
    if !fields.get(wk::S3_NOTIFICATION).is_empty() || fields.str(wk::EVENT_SOURCE) == Some("aws:s3")
    {
        return Err("an S3 event notification, not a CloudTrail record".into());
    }
    let missing: Vec<&str> = [
        (wk::EVENT_NAME, "eventName"),
        (wk::EVENT_SOURCE, "eventSource"),
    ]
    .iter()
    .filter(|(id, _)| fields.str(*id).is_none())
    .map(|(_, name)| *name)
    .collect();
    if !missing.is_empty() {
        return Err(format!("no {} in object", missing.join(" or ")));
    }
    Ok(Document::Record(Record::new(raw, fields, index)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(json: &str) -> String {
        match classify(&FieldSet::new(), json.as_bytes(), 3, 100) {
            Ok(Document::Record(r)) => format!("record {}", r.fields.str(wk::EVENT_NAME).unwrap()),
            Ok(Document::Digest) => "digest".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn classifies_documents() {
        assert_eq!(
            kind(r#"{"eventName":"ConsoleLogin","eventSource":"signin.amazonaws.com"}"#),
            "record ConsoleLogin"
        );
        assert_eq!(
            kind(
                r#"{"version":"0","detail-type":"AWS API Call via CloudTrail","detail":{"eventName":"CreateUser","eventSource":"iam.amazonaws.com"}}"#
            ),
            "record CreateUser"
        );
        assert_eq!(kind(r#"{"digestStartTime":"x","logFiles":[]}"#), "digest");
        assert_eq!(
            kind(r#"{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{}}"#),
            "not CloudTrail: an S3 event notification, not a CloudTrail record (record 3, byte 100)"
        );
        assert_eq!(
            kind(r#"{"hello":"world"}"#),
            "not CloudTrail: no eventName or eventSource in object (record 3, byte 100)"
        );
        assert_eq!(
            kind(r#"{"detail-type":"EC2 Instance State-change Notification","detail":{}}"#),
            "not CloudTrail: EventBridge event of type \"EC2 Instance State-change Notification\" does not carry a CloudTrail record (record 3, byte 100)"
        );
        assert!(kind("[1]").contains("expected a JSON object"));
        assert!(kind(r#"{"eventName":"#).starts_with("invalid JSON"));
    }
}
