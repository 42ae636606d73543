//! Rule tests: example events stored beside each rule (`NAME.tests.yml`) that must or must not
//! raise an alert, and the runner that judges them. `trailwatch rules test` runs them; so does
//! the test suite for the pack. The events are replayed by the replay engine
//! (`replay::rule_tests`).
//!
//! ```yaml
//! rule: root-console-login
//! tests:
//!   - name: root signs in with a password
//!     expect: alert          # exactly one alert; or: none; or a number of alerts
//!     event: { ...one CloudTrail record or EventBridge event... }
//! ```
//!
//! Correlation rules (and base rules, for several events) take a `sequence` instead of an
//! `event`: events in arrival order, each optionally repeated. A repeated event gets a fresh
//! `eventID` per copy, its `eventTime` moved on by `every` per copy, and `{i}` in any string
//! replaced by the copy's number (0, 1, ...):
//!
//! ```yaml
//!   - name: ten failures in three minutes
//!     expect: alert
//!     sequence:
//!       - event: *failure
//!         repeat: 10
//!         every: 20s
//! ```
//!
//! Filter documents are tested through the rules they apply to: an event the filter excludes
//! is an `expect: none` case of that rule.

use serde::Deserialize;
use serde_yaml_ng::Value as Yaml;

use super::sigma::timespan::timespan_ms;
use super::{RuleError, RuleSet};

#[derive(Debug, Clone)]
pub struct TestCase {
    pub file: String,
    pub rule: String,
    pub name: String,
    /// How many alerts of the rule the events must raise.
    pub expect: u64,
    /// The events as JSON text, read exactly as a log file would be.
    pub events: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    rule: String,
    tests: Vec<TestEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestEntry {
    name: String,
    expect: Expect,
    #[serde(default)]
    event: Option<Yaml>,
    #[serde(default)]
    sequence: Option<Vec<Step>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    event: Yaml,
    #[serde(default = "one")]
    repeat: u32,
    #[serde(default)]
    every: Option<String>,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Expect {
    Count(u64),
    Word(Word),
}

#[derive(Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Word {
    Alert,
    None,
}

/// Parses one tests file (several documents allowed, one per rule).
pub fn parse_tests(file: &str, text: &str) -> Result<Vec<TestCase>, RuleError> {
    let err = |message: String| RuleError {
        file: file.to_string(),
        title: None,
        key: None,
        message,
    };
    let mut out = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let tf = TestFile::deserialize(doc).map_err(|e| err(format!("invalid tests file: {e}")))?;
        for t in tf.tests {
            let at = |m: String| err(format!("test {:?}: {m}", t.name));
            let events = match (t.event, t.sequence) {
                (Some(event), None) => json(event).map_err(at)?,
                (None, Some(steps)) => sequence(steps).map_err(at)?,
                _ => return Err(at("give either event or sequence".into())),
            };
            out.push(TestCase {
                file: file.to_string(),
                rule: tf.rule.clone(),
                name: t.name,
                expect: match t.expect {
                    Expect::Count(n) => n,
                    Expect::Word(Word::Alert) => 1,
                    Expect::Word(Word::None) => 0,
                },
                events,
            });
        }
    }
    Ok(out)
}

/// One event as JSON text; `<<: *anchor` lets a near miss restate only what differs.
fn json(mut event: Yaml) -> Result<String, String> {
    event.apply_merge().map_err(|e| e.to_string())?;
    serde_json::to_string(&event).map_err(|e| format!("event is not JSON-compatible: {e}"))
}

/// The steps expanded into one CloudTrail log document (`{"Records": [...]}`).
fn sequence(steps: Vec<Step>) -> Result<String, String> {
    let mut records = Vec::new();
    for step in steps {
        let base: serde_json::Value = serde_json::from_str(&json(step.event)?).unwrap_or_default();
        let every = step
            .every
            .as_deref()
            .map(timespan_ms)
            .transpose()?
            .unwrap_or(0);
        let time = base
            .get("eventTime")
            .and_then(|t| t.as_str())
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        let id = base.get("eventID").and_then(|t| t.as_str()).unwrap_or("");
        for i in 0..step.repeat {
            let mut event = number(base.clone(), i);
            if step.repeat > 1 {
                let copy_id =
                    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{id}/{i}").as_bytes());
                event["eventID"] = copy_id.to_string().into();
                if let Some(t) = time {
                    let t = t + chrono::Duration::milliseconds(every * i as i64);
                    event["eventTime"] = t
                        .to_utc()
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        .into();
                }
            }
            records.push(event);
        }
    }
    Ok(serde_json::json!({ "Records": records }).to_string())
}

/// `{i}` in every string becomes the copy's number.
fn number(v: serde_json::Value, i: u32) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) if s.contains("{i}") => Value::String(s.replace("{i}", &i.to_string())),
        Value::Array(a) => Value::Array(a.into_iter().map(|v| number(v, i)).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, number(v, i))).collect()),
        other => other,
    }
}

/// The result of one test case; `failure` says what went wrong.
#[derive(Debug)]
pub struct Outcome {
    pub case: TestCase,
    pub failure: Option<String>,
}

/// Runs each case: `count` gives how many alerts of the case's rule its events raise (a
/// replay of them, `replay::rule_tests::count`), or why they could not be read.
pub fn run(
    set: &RuleSet,
    cases: Vec<TestCase>,
    mut count: impl FnMut(&TestCase) -> Result<u64, String>,
) -> Vec<Outcome> {
    cases
        .into_iter()
        .map(|case| {
            let failure = if !set.has(&case.rule) {
                Some(format!("no rule named {:?} is loaded", case.rule))
            } else {
                match count(&case) {
                    Err(e) => Some(format!("events could not be read: {e}")),
                    Ok(got) => judge(case.expect, got),
                }
            };
            Outcome { case, failure }
        })
        .collect()
}

/// What is wrong when `got` alerts were raised and `expect` were wanted.
fn judge(expect: u64, got: u64) -> Option<String> {
    (got != expect).then(|| match (expect, got) {
        (0, n) => format!("expected no alert, but the rule fired {n} times"),
        (1, 0) => "expected an alert, got none".to_string(),
        (want, n) => format!("expected {want} alerts, got {n}"),
    })
}
