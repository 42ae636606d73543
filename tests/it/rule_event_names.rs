//! Every eventName the built-in rules watch, and every one their test events carry, is a name
//! CloudTrail records under that eventSource (tests/data/cloudtrail-event-names.yml, which
//! says where each source's names come from). A rule on a name CloudTrail never records would
//! never fire, and no test of its own would notice. The same holds for field paths: every field
//! a rule tests starts at a top-level field of the CloudTrail record.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use serde_yaml_ng::Value;

fn known() -> BTreeMap<String, BTreeSet<String>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/cloudtrail-event-names.yml"
    );
    let doc: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["sources"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(source, entry)| {
            assert!(
                entry["from"]
                    .as_str()
                    .is_some_and(|f| f.contains("https://")),
                "{source:?} says where its names come from"
            );
            let names = entry["names"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_string())
                .collect();
            (source.as_str().unwrap().to_string(), names)
        })
        .collect()
}

fn files(suffix: &str) -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut out: Vec<_> = walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    out.sort();
    out
}

/// The `detection` of every document of every rule file of the pack, with its file.
fn rule_detections() -> Vec<(std::path::PathBuf, Value)> {
    let mut out = Vec::new();
    for file in files(".yml")
        .into_iter()
        .filter(|f| !f.to_string_lossy().ends_with(".tests.yml"))
    {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let doc = Value::deserialize(doc).unwrap();
            out.push((file.clone(), doc["detection"].clone()));
        }
    }
    out
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().flat_map(strings).collect(),
        _ => vec![],
    }
}

/// The eventSource and eventName values of a detection, at any depth (plain values only:
/// a key with modifiers other than plain equality is not a name).
fn walk(v: &Value, sources: &mut Vec<String>, names: &mut Vec<String>) {
    match v {
        Value::Mapping(map) => {
            for (k, val) in map {
                match k.as_str() {
                    Some("eventSource") => sources.extend(strings(val)),
                    Some("eventName") => names.extend(strings(val)),
                    _ => walk(val, sources, names),
                }
            }
        }
        Value::Sequence(items) => items.iter().for_each(|i| walk(i, sources, names)),
        _ => {}
    }
}

#[test]
fn rules_watch_only_names_cloudtrail_records() {
    let known = known();
    let mut problems = Vec::new();
    let mut checked = 0;
    for (file, detection) in rule_detections() {
        let (mut sources, mut names) = (Vec::new(), Vec::new());
        walk(&detection, &mut sources, &mut names);
        for s in &sources {
            if !known.contains_key(s) {
                problems.push(format!(
                    "{}: eventSource {s} is not in the list",
                    file.display()
                ));
            }
        }
        for name in &names {
            checked += 1;
            // With the rule's sources, the name must be one of theirs; without, any's.
            let ok = if sources.is_empty() {
                known.values().any(|n| n.contains(name))
            } else {
                sources
                    .iter()
                    .any(|s| known.get(s).is_some_and(|n| n.contains(name)))
            };
            if !ok {
                problems.push(format!(
                    "{}: eventName {name} is not recorded under {sources:?}",
                    file.display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(
        checked > 100,
        "only {checked} names found: is the walk broken?"
    );
}

/// Every test event of the pack, as (where: file and case, the CloudTrail record).
fn test_events() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for file in files(".tests.yml") {
        let mut doc: Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        // Sequences share events through YAML anchors and merge keys (`<<: *denied`).
        doc.apply_merge().unwrap();
        for case in doc["tests"].as_sequence().unwrap() {
            let at = format!(
                "{} ({:?})",
                file.display(),
                case["name"].as_str().unwrap_or("")
            );
            let mut events: Vec<&Value> = vec![&case["event"]];
            if let Some(seq) = case["sequence"].as_sequence() {
                events.extend(seq.iter().map(|s| &s["event"]));
            }
            for e in events.into_iter().filter(|e| e.is_mapping()) {
                // EventBridge events carry the record in `detail`.
                let record = if e["detail"].is_mapping() {
                    &e["detail"]
                } else {
                    e
                };
                out.push((at.clone(), record.clone()));
            }
        }
    }
    out
}

#[test]
fn test_events_carry_names_cloudtrail_records() {
    let known = known();
    let mut problems = Vec::new();
    for (at, record) in test_events() {
        let (source, name) = (record["eventSource"].as_str(), record["eventName"].as_str());
        let (Some(source), Some(name)) = (source, name) else {
            continue;
        };
        if !known.get(source).is_some_and(|n| n.contains(name)) {
            problems.push(format!("{at}: {source} {name}"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The test events are shaped like the records CloudTrail writes today: eventVersion 1.08 or
/// later, every kind of userIdentity among them, and an errorMessage with each errorCode.
#[test]
fn test_events_have_real_record_shapes() {
    let mut identities = BTreeSet::new();
    let mut problems = Vec::new();
    let events = test_events();
    assert!(
        events.len() > 150,
        "only {} test events found",
        events.len()
    );
    for (at, record) in events {
        let version: Option<f64> = record["eventVersion"].as_str().and_then(|v| v.parse().ok());
        if version.is_none_or(|v| v < 1.08) {
            problems.push(format!("{at}: eventVersion {:?}", record["eventVersion"]));
        }
        if record["errorCode"].is_string() && !record["errorMessage"].is_string() {
            problems.push(format!("{at}: errorCode without errorMessage"));
        }
        if let Some(t) = record["userIdentity"]["type"].as_str() {
            identities.insert(t.to_string());
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    for kind in [
        "IAMUser",
        "AssumedRole",
        "Root",
        "AWSService",
        "FederatedUser",
        "IdentityCenterUser",
    ] {
        assert!(
            identities.contains(kind),
            "no test event has userIdentity.type {kind}"
        );
    }
}

/// The top-level fields of a CloudTrail record (CloudTrail record contents,
/// https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html).
const RECORD_FIELDS: [&str; 27] = [
    "eventTime",
    "eventVersion",
    "userIdentity",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "requestID",
    "eventID",
    "eventType",
    "apiVersion",
    "managementEvent",
    "readOnly",
    "resources",
    "recipientAccountId",
    "serviceEventDetails",
    "sharedEventID",
    "vpcEndpointId",
    "eventCategory",
    "sessionCredentialFromConsole",
    "tlsDetails",
];

/// The field names a detection tests (selection keys, without modifiers).
fn detection_fields(detection: &Value, out: &mut Vec<String>) {
    fn keys(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Mapping(map) => {
                for k in map.keys().filter_map(Value::as_str) {
                    out.push(k.split('|').next().unwrap_or(k).to_string());
                }
            }
            Value::Sequence(items) => items.iter().for_each(|i| keys(i, out)),
            _ => {}
        }
    }
    if let Some(map) = detection.as_mapping() {
        for (name, selection) in map {
            if name.as_str() != Some("condition") {
                keys(selection, out);
            }
        }
    }
}

/// Every field a rule tests starts at a field CloudTrail records (a typo such as
/// `requestparameters.x` or `userIdentity` misspelt would make a selection never match).
#[test]
fn rules_test_only_fields_cloudtrail_records() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for (file, detection) in rule_detections() {
        let mut fields = Vec::new();
        detection_fields(&detection, &mut fields);
        for field in fields {
            checked += 1;
            let top = field.split('.').next().unwrap_or("");
            if !RECORD_FIELDS.contains(&top) {
                problems.push(format!("{}: field {field}", file.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(
        checked > 150,
        "only {checked} fields found: is the walk broken?"
    );
}
