//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use trailwatch::rules::{RuleSet, RuleSetBuilder};
use trailwatch::trail;

/// Runs the real `trailwatch` binary.
pub fn trailwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trailwatch"))
        .args(args)
        .env("TRAILWATCH_LOG", "warn")
        .output()
        .expect("run trailwatch")
}

/// Runs trailwatch with its stderr closed from the start (`trailwatch … 2>&1 | head -1`
/// once `head` has its line); stdout is captured.
pub fn trailwatch_stderr_closed(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trailwatch"))
        .args(args)
        .env("TRAILWATCH_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run trailwatch");
    drop(child.stderr.take());
    child.wait_with_output().expect("run trailwatch")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The alerts of a JSONL output, parsed.
pub fn alerts(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// Writes a synthetic alert-dense archive into `dir` (`trailwatch generate --density`).
pub fn dense_archive(dir: &Path, size_mb: &str, density: &str, seed: &str) {
    let made = trailwatch(&[
        "generate",
        "--out",
        dir.to_str().unwrap(),
        "--size-mb",
        size_mb,
        "--density",
        density,
        "--seed",
        seed,
        "--records-per-file",
        "5000",
    ]);
    assert!(made.status.success(), "{}", stderr(&made));
}

/// The alerts' `alert_id`s, sorted: what two runs are compared by.
pub fn sorted_ids(alerts: &[serde_json::Value]) -> Vec<String> {
    let mut ids: Vec<String> = alerts
        .iter()
        .map(|a| a["alert_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// `rule.name` of each alert, in output order.
pub fn rule_names(alerts: &[serde_json::Value]) -> Vec<String> {
    alerts
        .iter()
        .map(|a| a["rule"]["name"].as_str().unwrap().to_string())
        .collect()
}

pub fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// Compiles rules from YAML text.
pub fn ruleset(yaml: &str) -> RuleSet {
    let mut b = RuleSetBuilder::new();
    b.add_yaml("test.yml", yaml);
    b.build()
        .unwrap_or_else(|e| panic!("rules do not load: {e:?}"))
}

/// Names of the rules that match each record of `json`, record by record.
pub fn matches(set: &RuleSet, json: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut scratch = Vec::new();
    let (_, err) = trail::read_stream(json.as_bytes(), set.fields(), |rec| {
        let rec = rec.expect("valid record");
        let mut hit = Vec::new();
        set.for_each_match(&rec, &mut scratch, |r| hit.push(r.meta.info.name.clone()));
        out.push(hit);
    });
    assert!(err.is_none(), "{err:?}");
    out
}

/// A minimal CloudTrail record for `eventName` with the given extra JSON members.
pub fn record(event_name: &str, extra: &str) -> String {
    let sep = if extra.is_empty() { "" } else { "," };
    format!(
        r#"{{"eventVersion":"1.09","eventTime":"2026-11-20T09:00:00Z","eventSource":"iam.amazonaws.com","eventName":"{event_name}","awsRegion":"us-east-1","eventID":"e-{event_name}"{sep}{extra}}}"#
    )
}
pub mod daemon;
pub mod moto;

/// A failed console sign-in of `user` at `time` (RFC 3339); the eventID is numbered `n`.
pub fn failed_login(user: &str, time: &str, n: u32) -> serde_json::Value {
    serde_json::json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "accountId": "111122223333", "userName": user,
                         "arn": format!("arn:aws:iam::111122223333:user/{user}")},
        "eventTime": time,
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.77",
        "errorMessage": "Failed authentication",
        "responseElements": {"ConsoleLogin": "Failure"},
        "eventID": format!("00000000-0000-4000-8000-{n:012}"),
        "eventType": "AwsConsoleSignIn",
        "recipientAccountId": "111122223333"
    })
}

/// Every file below `dir`, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}
