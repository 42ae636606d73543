//! What an SQS message asks trailwatch to do, for every delivery shape CloudTrail setups use:
//! CloudTrail's SNS notification (enveloped or raw), S3 event notifications (direct or via
//! SNS), the S3 test event, EventBridge CloudTrail events, and the EventBridge finding events
//! of Security Hub, GuardDuty and IAM Access Analyzer.

use serde_json::Value;

/// An S3 object named by a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Notification {
    /// Log files to read.
    Objects(Vec<ObjectRef>),
    /// An EventBridge event carrying one CloudTrail record: match the body itself.
    Event,
    /// S3's test message, sent when a notification is configured: acknowledge and ignore.
    TestEvent,
    /// An EventBridge event carrying security service findings: the body is the event.
    Findings,
}

/// Why a body is not a notification trailwatch understands (kept short: it labels a metric).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unrecognized(pub String);

pub fn parse(body: &str) -> Result<Notification, Unrecognized> {
    let value: Value =
        serde_json::from_str(body).map_err(|e| Unrecognized(format!("body is not JSON ({e})")))?;
    parse_value(&value, true)
}

fn parse_value(v: &Value, may_unwrap: bool) -> Result<Notification, Unrecognized> {
    let obj = v
        .as_object()
        .ok_or_else(|| Unrecognized("body is not a JSON object".into()))?;
    // SNS envelope (raw message delivery off): the payload is the `Message` string.
    if may_unwrap && obj.get("Type").and_then(Value::as_str) == Some("Notification") {
        let inner = obj
            .get("Message")
            .and_then(Value::as_str)
            .ok_or_else(|| Unrecognized("SNS envelope without a Message".into()))?;
        let inner: Value = serde_json::from_str(inner)
            .map_err(|e| Unrecognized(format!("SNS Message is not JSON ({e})")))?;
        return parse_value(&inner, false);
    }
    // CloudTrail's own notification: keys are not URL-encoded.
    if let (Some(bucket), Some(keys)) = (obj.get("s3Bucket"), obj.get("s3ObjectKey")) {
        let bucket = bucket
            .as_str()
            .ok_or_else(|| Unrecognized("s3Bucket is not a string".into()))?;
        let keys = keys
            .as_array()
            .ok_or_else(|| Unrecognized("s3ObjectKey is not a list".into()))?;
        if keys.is_empty() {
            return Err(Unrecognized("s3ObjectKey names no object".into()));
        }
        return keys
            .iter()
            .map(|k| {
                k.as_str()
                    .map(|key| ObjectRef {
                        bucket: bucket.to_string(),
                        key: key.to_string(),
                    })
                    .ok_or_else(|| Unrecognized("s3ObjectKey holds a non-string".into()))
            })
            .collect::<Result<_, _>>()
            .map(Notification::Objects);
    }
    if obj.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Notification::TestEvent);
    }
    if let Some(records) = obj.get("Records").and_then(Value::as_array) {
        if records.is_empty() {
            return Err(Unrecognized("Records is empty".into()));
        }
        let mut objects = Vec::new();
        for (i, r) in records.iter().enumerate() {
            if r.get("eventSource").and_then(Value::as_str) != Some("aws:s3") {
                return Err(Unrecognized(
                    "Records that are not S3 event notifications".into(),
                ));
            }
            // Every field is checked before the event name decides whether there is
            // anything to read: a record missing one is not well formed, whatever it says.
            let field = |pointer: &str, what: &str| {
                r.pointer(pointer)
                    .and_then(Value::as_str)
                    .ok_or_else(|| Unrecognized(format!("S3 record {i} has no {what}")))
            };
            let name = field("/eventName", "eventName")?;
            let bucket = field("/s3/bucket/name", "s3.bucket.name")?;
            let key = field("/s3/object/key", "s3.object.key")?;
            // Deletions and other S3 events name nothing to read.
            if name.contains("ObjectCreated") {
                objects.push(ObjectRef {
                    bucket: bucket.to_string(),
                    key: form_decode(key)?,
                });
            }
        }
        return Ok(Notification::Objects(objects));
    }
    if let Some(kind) = obj.get("detail-type").and_then(Value::as_str) {
        if kind.ends_with("via CloudTrail") && obj.get("detail").is_some_and(Value::is_object) {
            return Ok(Notification::Event);
        }
        if crate::alert::service_finding::DETAIL_TYPES.contains(&kind) {
            return Ok(Notification::Findings);
        }
        return Err(Unrecognized(format!(
            "EventBridge event of type {kind:?} is neither from CloudTrail nor a finding"
        )));
    }
    Err(Unrecognized(
        "neither an S3, CloudTrail, SNS nor EventBridge notification".into(),
    ))
}

/// The S3 event notification S3 would send for a new object (`ObjectCreated:Put`, key
/// form-encoded): what `replay --enqueue` puts on the daemon's queue, one per object, so a
/// backfill takes the live path.
pub fn s3_event(bucket: &str, key: &str, size: u64) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
    serde_json::json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": encoded, "size": size}},
    }]})
    .to_string()
}

/// S3 notification keys are form-encoded: `+` is a space, then `%XX` escapes.
fn form_decode(key: &str) -> Result<String, Unrecognized> {
    percent_encoding::percent_decode_str(&key.replace('+', " "))
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|_| Unrecognized("S3 key is not UTF-8 after decoding".into()))
}

/// The delivery time in a CloudTrail log file's name (`..._20261120T0915Z_...`), which sorts
/// as text; None for names without one.
pub fn delivery_stamp(key: &str) -> Option<&str> {
    let name = key.rsplit('/').next()?;
    name.split('_').find(|p| {
        p.len() == 14
            && p.as_bytes()[8] == b'T'
            && p.ends_with('Z')
            && p[..8]
                .bytes()
                .chain(p[9..13].bytes())
                .all(|b| b.is_ascii_digit())
    })
}

/// Where a CloudTrail key says its log came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyLayout {
    pub account: Option<String>,
    pub region: Option<String>,
}

/// Reads `[prefix/]AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/file`.
pub fn key_layout(key: &str) -> KeyLayout {
    let parts: Vec<&str> = key.split('/').collect();
    let Some(i) = parts.iter().position(|p| *p == "AWSLogs") else {
        return KeyLayout::default();
    };
    let mut rest = &parts[i + 1..];
    if rest.first().is_some_and(|p| p.starts_with("o-")) {
        rest = &rest[1..];
    }
    match rest {
        [account, "CloudTrail", region, ..] => KeyLayout {
            account: Some(account.to_string()),
            region: Some(region.to_string()),
        },
        [account, ..] => KeyLayout {
            account: Some(account.to_string()),
            region: None,
        },
        _ => KeyLayout::default(),
    }
}

/// True for keys that can hold CloudTrail logs: not digests, not folders, `.json[.gz]`/`.gz`.
pub fn is_log_key(key: &str) -> bool {
    !crate::trail::is_digest_name(key)
        && !key.ends_with('/')
        && (key.ends_with(".json.gz") || key.ends_with(".json") || key.ends_with(".gz"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(n: Notification) -> Vec<(String, String)> {
        match n {
            Notification::Objects(o) => o.into_iter().map(|o| (o.bucket, o.key)).collect(),
            other => panic!("not objects: {other:?}"),
        }
    }

    const CT: &str = r#"{"s3Bucket":"org-trail-logs","s3ObjectKey":["AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20/a+b%2B.json.gz","k2.json.gz"]}"#;

    #[test]
    fn cloudtrail_notification_raw_and_enveloped_keys_not_decoded() {
        let want = vec![
            (
                "org-trail-logs".to_string(),
                "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20/a+b%2B.json.gz".to_string(),
            ),
            ("org-trail-logs".to_string(), "k2.json.gz".to_string()),
        ];
        assert_eq!(objects(parse(CT).unwrap()), want);
        let env = serde_json::json!({"Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:x", "Message": CT,
            "Timestamp": "t", "SignatureVersion": "1", "Signature": "s", "SigningCertURL": "u", "UnsubscribeURL": "u"});
        assert_eq!(objects(parse(&env.to_string()).unwrap()), want);
    }

    #[test]
    fn s3_event_keys_are_form_decoded_and_work_via_sns() {
        let s3 = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"eu-west-1","eventName":"ObjectCreated:Put",
            "s3":{"bucket":{"name":"b"},"object":{"key":"AWSLogs/1/a+file%2Bname.json.gz","size":1}}},
            {"eventSource":"aws:s3","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"x"}}}]}"#;
        assert_eq!(
            objects(parse(s3).unwrap()),
            vec![("b".into(), "AWSLogs/1/a file+name.json.gz".into())]
        );
        let env = serde_json::json!({"Type": "Notification", "Subject": "Amazon S3 Notification", "Message": s3});
        assert_eq!(objects(parse(&env.to_string()).unwrap()).len(), 1);
    }

    #[test]
    fn test_event_eventbridge_and_garbage() {
        assert_eq!(
            parse(r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"t","Bucket":"b"}"#)
                .unwrap(),
            Notification::TestEvent
        );
        let env = serde_json::json!({"Type": "Notification", "Message": r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#});
        assert_eq!(parse(&env.to_string()).unwrap(), Notification::TestEvent);
        assert_eq!(
            parse(r#"{"version":"0","detail-type":"AWS API Call via CloudTrail","detail":{"eventName":"x"}}"#).unwrap(),
            Notification::Event
        );
        assert!(parse("hello").unwrap_err().0.contains("not JSON"));
        assert!(parse(r#"{"a":1}"#).is_err());
        assert!(
            parse(r#"{"Records":[{"eventSource":"iam.amazonaws.com"}]}"#)
                .unwrap_err()
                .0
                .contains("not S3")
        );
        assert!(
            parse(r#"{"detail-type":"EC2 Spot Instance Interruption Warning","detail":{}}"#)
                .is_err()
        );
    }

    #[test]
    fn notifications_that_are_not_well_formed_are_unrecognized_not_empty() {
        for (body, why) in [
            (r#"{"eventSource":"aws:s3","s3":{}}"#, "neither"),
            (
                r#"{"Records":[{"eventSource":"aws:s3","s3":{}}]}"#,
                "has no eventName",
            ),
            (
                r#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"}}}]}"#,
                "has no s3.object.key",
            ),
            (
                r#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectRemoved:Delete","s3":{"object":{"key":"k"}}}]}"#,
                "has no s3.bucket.name",
            ),
            (r#"{"Records":[]}"#, "Records is empty"),
            (r#"{"s3Bucket":"b","s3ObjectKey":[]}"#, "names no object"),
        ] {
            let err = parse(body).expect_err(body);
            assert!(err.0.contains(why), "{body}: {err}");
        }
    }

    #[test]
    fn key_layouts() {
        assert_eq!(
            key_layout("p/AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20/f.json.gz"),
            KeyLayout {
                account: Some("111122223333".into()),
                region: Some("eu-west-1".into())
            }
        );
        assert_eq!(
            key_layout(
                "AWSLogs/o-abc123def4/111122223333/CloudTrail/us-east-1/2026/11/20/f.json.gz"
            )
            .region
            .as_deref(),
            Some("us-east-1")
        );
        assert_eq!(key_layout("random/key.json"), KeyLayout::default());
        assert!(is_log_key("AWSLogs/1/CloudTrail/r/2026/11/20/f.json.gz"));
        assert!(!is_log_key(
            "AWSLogs/1/CloudTrail-Digest/r/2026/11/20/1_CloudTrail-Digest_r_x.json.gz"
        ));
        assert!(!is_log_key("AWSLogs/1/CloudTrail/"));
        assert!(!is_log_key("AWSLogs/1/CloudTrail/r/notes.txt"));
    }

    #[test]
    fn finds_the_delivery_time_in_a_log_name() {
        assert_eq!(
            delivery_stamp(
                "AWSLogs/1/CloudTrail/r/2026/11/20/1_CloudTrail_r_20261120T0920Z_GeoZ.json.gz"
            ),
            Some("20261120T0920Z")
        );
        assert_eq!(delivery_stamp("logs/export_2026.json.gz"), None);
    }

    #[test]
    fn the_enqueued_notification_names_the_object_it_was_made_for() {
        for key in [
            "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/a_b.json.gz",
            "odd keys/with spaces+plus%percent/ü.json.gz",
        ] {
            assert_eq!(
                parse(&s3_event("trail", key, 42)),
                Ok(Notification::Objects(vec![ObjectRef {
                    bucket: "trail".into(),
                    key: key.into(),
                }]))
            );
        }
    }
}
