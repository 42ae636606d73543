//! Rule tests: example events stored beside each rule (`NAME.tests.yml`) that must or must not
//! raise an alert. `trailwatch rules test` runs them; so does the test suite for the pack.
//!
//! ```yaml
//! rule: root-console-login
//! tests:
//!   - name: root signs in with a password
//!     expect: alert          # or: none
//!     event: { ...one CloudTrail record or EventBridge event... }
//! ```

use serde::Deserialize;
use serde_yaml_ng::Value as Yaml;

use super::{RuleError, RuleSet};
use crate::trail;

#[derive(Debug, Clone)]
pub struct TestCase {
    pub file: String,
    pub rule: String,
    pub name: String,
    pub expect_alert: bool,
    /// The event as JSON text, read exactly as a log file would be.
    pub event: String,
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
    event: Yaml,
}

#[derive(Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Expect {
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
        for mut t in tf.tests {
            // `<<: *anchor` lets a near miss restate only what differs from the hit.
            t.event
                .apply_merge()
                .map_err(|e| err(format!("test {:?}: {e}", t.name)))?;
            let event = serde_json::to_string(&t.event).map_err(|e| {
                err(format!(
                    "test {:?}: event is not JSON-compatible: {e}",
                    t.name
                ))
            })?;
            out.push(TestCase {
                file: file.to_string(),
                rule: tf.rule.clone(),
                name: t.name,
                expect_alert: t.expect == Expect::Alert,
                event,
            });
        }
    }
    Ok(out)
}

/// The result of one test case; `failure` says what went wrong.
#[derive(Debug)]
pub struct Outcome {
    pub case: TestCase,
    pub failure: Option<String>,
}

/// Runs each case through the same reader and matcher as a replay.
pub fn run(set: &RuleSet, cases: Vec<TestCase>) -> Vec<Outcome> {
    let mut scratch = Vec::new();
    cases
        .into_iter()
        .map(|case| {
            if !set.rules().iter().any(|r| r.meta.name == case.rule) {
                return Outcome {
                    failure: Some(format!("no rule named {:?} is loaded", case.rule)),
                    case,
                };
            }
            let mut fired = false;
            let mut record_error = None;
            let (stats, err) =
                trail::read_stream(case.event.as_bytes(), set.fields(), |rec| match rec {
                    Ok(rec) => set.for_each_match(&rec, &mut scratch, |rule| {
                        fired |= rule.meta.name == case.rule;
                    }),
                    Err(e) => record_error = Some(e.to_string()),
                });
            let failure = if let Some(e) = err.map(|e| e.to_string()).or(record_error) {
                Some(format!("event could not be read: {e}"))
            } else if stats.records != 1 {
                Some(format!("expected one event, read {}", stats.records))
            } else if fired != case.expect_alert {
                Some(if case.expect_alert {
                    "expected an alert, got none".to_string()
                } else {
                    "expected no alert, but the rule fired".to_string()
                })
            } else {
                None
            };
            Outcome { case, failure }
        })
        .collect()
}
