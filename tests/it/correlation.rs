//! Correlation and suppression through `trailwatch replay`: exact alerts for exact event
//! sequences, the same result whatever the thread count and input order, and suppression
//! windows with the count carried by the next alert.

use crate::common;

use std::path::{Path, PathBuf};

use common::{alerts, gzip, stderr, trailwatch};
use serde_json::{json, Value};

fn failure(user: &str, time: &str, n: u32) -> Value {
    common::failed_login(user, time, n)
}

/// `2026-11-20T09:00:00Z` plus `secs`.
fn at(secs: i64) -> String {
    (chrono::DateTime::parse_from_rfc3339("2026-11-20T09:00:00Z").unwrap()
        + chrono::Duration::seconds(secs))
    .to_utc()
    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn write_log(path: &Path, records: &[Value]) {
    let doc = json!({ "Records": records }).to_string();
    std::fs::write(path, gzip(doc.as_bytes())).unwrap();
}

/// `trailwatch replay FLAG FILE LOG` (`--rules` or `--config`), which must succeed.
fn replay_with(flag: &str, file: &Path, log: &Path) -> std::process::Output {
    let out = trailwatch(&[
        "replay",
        flag,
        file.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    out
}

fn of_rule<'a>(all: &'a [Value], rule: &str) -> Vec<&'a Value> {
    all.iter().filter(|a| a["rule"]["name"] == rule).collect()
}

/// Twelve failures for alice, 15 s apart, dealt round-robin into three files: no file holds
/// ten, yet the replay sees one burst and raises exactly one brute-force alert, for the first
/// ten events in time order. The last two are below the threshold on their own.
#[test]
fn brute_force_across_files_gives_exactly_one_alert() {
    let dir = tempfile::tempdir().unwrap();
    let events: Vec<Value> = (0..12)
        .map(|i| failure("alice", &at(i as i64 * 15), i))
        .collect();
    let mut files = Vec::new();
    for f in 0..3 {
        let part: Vec<Value> = events.iter().skip(f).step_by(3).cloned().collect();
        let path = dir.path().join(format!("part{f}.json.gz"));
        write_log(&path, &part);
        files.push(path);
    }
    let out = trailwatch(&["replay", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let all = alerts(&out);
    let brute = of_rule(&all, "console-login-brute-force");
    assert_eq!(brute.len(), 1, "{all:#?}");
    let c = &brute[0]["correlation"];
    assert_eq!(c["type"], "event_count");
    assert_eq!(c["count"], 10);
    assert_eq!(
        c["group"],
        json!({"recipientAccountId": "111122223333", "userIdentity.userName": "alice"})
    );
    let ids: Vec<String> = (0..10)
        .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
        .collect();
    assert_eq!(c["event_ids"], json!(ids));
    assert_eq!(c["first_event_time"], at(0));
    assert_eq!(c["last_event_time"], at(135));
    assert_eq!(c["timespan"], "5m");
    // The alert is about the event that completed the burst.
    assert_eq!(brute[0]["event"]["id"], json!(ids[9]));
    assert_eq!(brute[0]["rule"]["level"], "high");
    // generate: true — every failure still alerts on its own.
    assert_eq!(of_rule(&all, "console-login-failure").len(), 12);
    assert!(stderr(&out).contains("console-login-brute-force  1"));
}

/// Nine failures inside five minutes and ten spread over more than five: no alert.
#[test]
fn below_the_threshold_or_outside_the_window_no_alert() {
    let dir = tempfile::tempdir().unwrap();
    let nine: Vec<Value> = (0..9)
        .map(|i| failure("bob", &at(i * 20), i as u32))
        .collect();
    let spread: Vec<Value> = (0..10)
        .map(|i| failure("carol", &at(i * 40), 100 + i as u32))
        .collect();
    write_log(&dir.path().join("a.json.gz"), &nine);
    write_log(&dir.path().join("b.json.gz"), &spread);
    let out = trailwatch(&["replay", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let all = alerts(&out);
    assert_eq!(of_rule(&all, "console-login-failure").len(), 19);
    assert!(
        of_rule(&all, "console-login-brute-force").is_empty(),
        "{all:#?}"
    );
}

/// The same file twice (a redelivered log file) does not count its events twice, nor raise
/// an alert twice.
#[test]
fn the_same_events_twice_do_not_count_twice() {
    let dir = tempfile::tempdir().unwrap();
    let six: Vec<Value> = (0..6)
        .map(|i| failure("dave", &at(i * 10), i as u32))
        .collect();
    write_log(&dir.path().join("a.json.gz"), &six);
    write_log(&dir.path().join("copy-of-a.json.gz"), &six);
    let out = trailwatch(&["replay", dir.path().to_str().unwrap()]);
    let all = alerts(&out);
    assert!(
        of_rule(&all, "console-login-brute-force").is_empty(),
        "{all:#?}"
    );

    // Nineteen, enough for one alert, twice over: one alert, of ten events (a copy of the
    // tenth must neither raise it again nor count towards a second).
    let dir = tempfile::tempdir().unwrap();
    let nineteen: Vec<Value> = (0..19)
        .map(|i| failure("erin", &at(i * 10), i as u32))
        .collect();
    write_log(&dir.path().join("a.json.gz"), &nineteen);
    write_log(&dir.path().join("copy-of-a.json.gz"), &nineteen);
    let out = trailwatch(&["replay", "--threads", "2", dir.path().to_str().unwrap()]);
    let all = alerts(&out);
    assert_eq!(of_rule(&all, "console-login-failure").len(), 38);
    let fired = of_rule(&all, "console-login-brute-force");
    assert_eq!(fired.len(), 1, "{fired:#?}");
    assert_eq!(fired[0]["correlation"]["count"], 10);
    // Nor a second one held back by the rule's suppression window.
    assert!(!stderr(&out).contains("suppressed:"), "{}", stderr(&out));
}

fn correlation_alerts(out: &std::process::Output) -> Vec<(String, Value)> {
    let mut v: Vec<(String, Value)> = alerts(out)
        .into_iter()
        .filter(|a| a.get("correlation").is_some())
        .map(|a| {
            (
                a["alert_id"].as_str().unwrap().to_string(),
                a["correlation"].clone(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// A synthetic archive replayed with one thread, and with four threads over the files in
/// reverse order: the same correlation alerts, identical to the byte.
#[test]
fn replay_correlation_is_independent_of_threads_and_input_order() {
    let dir = tempfile::tempdir().unwrap();
    let gen = trailwatch(&[
        "generate",
        "--out",
        dir.path().to_str().unwrap(),
        "--size-mb",
        "20",
        "--records-per-file",
        "300",
    ]);
    assert!(gen.status.success(), "{}", stderr(&gen));
    let mut files: Vec<PathBuf> = common::files_under(dir.path());
    assert!(files.len() > 20);
    let one = trailwatch(&["replay", "--threads", "1", dir.path().to_str().unwrap()]);
    files.reverse();
    let mut args = vec!["replay".to_string(), "--threads".into(), "4".into()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let many = trailwatch(&args);
    let (a, b) = (correlation_alerts(&one), correlation_alerts(&many));
    assert!(
        a.len() >= 5,
        "the archive should hold some sequences: {}",
        a.len()
    );
    assert_eq!(a, b);
}

/// `[[suppress]]` in the config: one console-login-failure alert per user per hour. Alice's
/// twelve failures give one alert (eleven held back), her failure two hours later gives the
/// next one carrying `suppressed: 11`. The correlation still sees every failure.
#[test]
fn suppression_windows_in_replay() {
    let dir = tempfile::tempdir().unwrap();
    let mut events: Vec<Value> = (0..12)
        .map(|i| failure("alice", &at(i * 15), i as u32))
        .collect();
    events.push(failure("alice", &at(7200), 50));
    events.push(failure("erin", &at(30), 51));
    write_log(&dir.path().join("a.json.gz"), &events);
    let config = dir.path().join("trailwatch.toml");
    std::fs::write(
        &config,
        "[[suppress]]\nrules = [\"console-login-failure\"]\nwindow = \"1h\"\nby = [\"userIdentity.userName\"]\n",
    )
    .unwrap();
    let out = trailwatch(&[
        "replay",
        "--config",
        config.to_str().unwrap(),
        dir.path().join("a.json.gz").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let all = alerts(&out);
    let failures = of_rule(&all, "console-login-failure");
    let summary: Vec<(&str, Option<u64>)> = failures
        .iter()
        .map(|a| {
            (
                a["event"]["time"].as_str().unwrap(),
                a["suppressed"].as_u64(),
            )
        })
        .collect();
    let (t0, t30, t7200) = (at(0), at(30), at(7200));
    assert_eq!(
        summary,
        vec![
            (t0.as_str(), None),
            (t30.as_str(), None),
            (t7200.as_str(), Some(11))
        ]
    );
    assert_eq!(of_rule(&all, "console-login-brute-force").len(), 1);
    assert!(
        stderr(&out).contains("suppressed: console-login-failure 11"),
        "{}",
        stderr(&out)
    );

    // A suppression entry for a rule that is not loaded is refused, naming the entry.
    std::fs::write(
        &config,
        "[[suppress]]\nrules = [\"no-such-rule\"]\nwindow = \"1h\"\n",
    )
    .unwrap();
    let bad = trailwatch(&[
        "replay",
        "--config",
        config.to_str().unwrap(),
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("suppress[0].rules: no rule named \"no-such-rule\" is loaded"),
        "{}",
        stderr(&bad)
    );
}

/// A rule's own `trailwatch.suppress` key, and a correlation rule in a user's file that names
/// a rule that is not loaded.
#[test]
fn rule_documents_carry_suppression_and_bad_correlations_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        r#"title: Failed sign-in, quiet
name: quiet-failure
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName: ConsoleLogin, responseElements.ConsoleLogin: Failure}
  condition: sel
trailwatch:
  suppress: {window: 10m}
"#,
    )
    .unwrap();
    let log = dir.path().join("a.json.gz");
    let events: Vec<Value> = (0..5)
        .map(|i| failure("frank", &at(i * 60), i as u32))
        .collect();
    write_log(&log, &events);
    let out = replay_with("--rules", &rules, &log);
    assert_eq!(alerts(&out).len(), 1);
    assert!(
        stderr(&out).contains("suppressed: quiet-failure 4"),
        "{}",
        stderr(&out)
    );

    std::fs::write(
        &rules,
        r#"title: Many of nothing
correlation:
  type: event_count
  rules: [not-loaded]
  group-by: [userIdentity.userName]
  timespan: 5m
  condition: {gte: 3}
"#,
    )
    .unwrap();
    let out = trailwatch(&["rules", "check", rules.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "rule \"Many of nothing\": correlation.rules: no rule named \"not-loaded\" is loaded"
        ),
        "{}",
        stderr(&out)
    );
}

mod engine {
    use super::{at, failure};
    use trailwatch::alert::Origin;
    use trailwatch::correlate::{Engine, Limits};
    use trailwatch::detect::exclusions::Exclusions;
    use trailwatch::detect::{scan, Detector, Observation, Outcomes, Scan};
    use trailwatch::rules::RuleSet;

    const RULES: &str = r#"title: Failure
name: failure
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {responseElements.ConsoleLogin: Failure}
  condition: sel
---
title: Three failures
name: three
correlation:
  type: event_count
  rules: [failure]
  group-by: [userIdentity.userName]
  timespan: 5m
  condition: {gte: 3}
"#;

    #[derive(Default)]
    struct Obs(Vec<Observation>);
    impl Outcomes for Obs {
        fn alert(&mut self, _: trailwatch::alert::Alert) {}
        fn observation(&mut self, o: Observation) {
            self.0.push(o)
        }
        fn excluded(&mut self, _: &str) {}
    }
    impl Scan for Obs {}

    fn observe(set: &RuleSet, events: &[serde_json::Value]) -> Vec<Observation> {
        let text = serde_json::json!({ "Records": events }).to_string();
        let mut out = Obs::default();
        let origin = Origin::File { file: "t".into() };
        let allow = Exclusions::default();
        let detector = Detector {
            rules: set,
            origin: &origin,
            exclusions: &allow,
        };
        let (_, error) = scan(text.as_bytes(), &detector, &mut out);
        assert!(error.is_none(), "{error:?}");
        out.0
    }

    fn feed(engine: &mut Engine, obs: Vec<Observation>) -> usize {
        let mut alerts = Vec::new();
        obs.into_iter().for_each(|o| engine.observe(o, &mut alerts));
        alerts.len()
    }

    /// Groups beyond the cap are evicted oldest first and counted.
    #[test]
    fn groups_are_capped() {
        let set = super::common::ruleset(RULES);
        let limits = Limits {
            max_groups: 10,
            ..Limits::default()
        };
        let mut engine = Engine::new(set.correlations(), limits);
        let events: Vec<_> = (0..25)
            .map(|i| failure(&format!("user{i}"), &at(i as i64), i))
            .collect();
        assert_eq!(feed(&mut engine, observe(&set, &events)), 0);
        assert!(engine.open_groups() <= 10, "{}", engine.open_groups());
        let stats = engine.take_stats();
        assert_eq!(stats[0].0, "three");
        assert_eq!(
            stats[0].1.evicted_groups as usize + engine.open_groups(),
            25
        );
        // The newest groups survive: user24 still counts towards its threshold.
        let more: Vec<_> = (0..2)
            .map(|i| failure("user24", &at(30 + i), 100 + i as u32))
            .collect();
        assert_eq!(feed(&mut engine, observe(&set, &more)), 1);
    }

    /// An event more than the lateness behind the newest one is not counted; one within it is.
    #[test]
    fn late_events_are_dropped_and_counted() {
        let set = super::common::ruleset(RULES);
        let mut engine = Engine::new(
            set.correlations(),
            Limits {
                lateness_ms: 10 * 60_000,
                ..Limits::default()
            },
        );
        let newest = observe(&set, &[failure("zed", &at(3600), 0)]);
        feed(&mut engine, newest);
        let late = observe(
            &set,
            &[
                failure("amy", &at(0), 1),
                failure("amy", &at(10), 2),
                failure("amy", &at(20), 3),
            ],
        );
        assert_eq!(feed(&mut engine, late), 0);
        assert_eq!(engine.take_stats()[0].1.late, 3);
        let in_time = observe(
            &set,
            &[
                failure("amy", &at(3000), 4),
                failure("amy", &at(3010), 5),
                failure("amy", &at(3020), 6),
            ],
        );
        assert_eq!(feed(&mut engine, in_time), 1);
    }

    /// A snapshot restored into a new engine (restart, reload) keeps counting where it was,
    /// and a redelivered trigger re-sends the very same alert.
    #[test]
    fn snapshots_carry_windows_over() {
        let set = super::common::ruleset(RULES);
        let mut a = Engine::new(set.correlations(), Limits::default());
        feed(
            &mut a,
            observe(
                &set,
                &[failure("kim", &at(0), 0), failure("kim", &at(5), 1)],
            ),
        );
        let text = serde_json::to_string(&a.snapshot()).unwrap();
        let mut b = Engine::new(set.correlations(), Limits::default());
        assert_eq!(b.restore(serde_json::from_str(&text).unwrap()), 1);
        let third = observe(&set, &[failure("kim", &at(9), 2)]);
        let mut first = Vec::new();
        third.iter().cloned().for_each(|o| b.observe(o, &mut first));
        let mut again = Vec::new();
        third.into_iter().for_each(|o| b.observe(o, &mut again));
        assert_eq!(first.len(), 1);
        assert_eq!(again.len(), 1);
        assert_eq!(first[0].alert_id, again[0].alert_id);
    }
}

/// A bucket change on `n`'s bucket, with the bucket in `resources` (an array of objects).
fn bucket_change(bucket: &str, time: &str, n: u32) -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "accountId": "111122223333", "userName": "ops",
                         "arn": "arn:aws:iam::111122223333:user/ops"},
        "eventTime": time,
        "eventSource": "s3.amazonaws.com",
        "eventName": "PutBucketPolicy",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.9",
        "requestParameters": {"bucketName": bucket},
        "resources": [
            {"accountId": "111122223333", "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{bucket}")}
        ],
        "eventID": format!("00000000-0000-4000-8000-{n:012}"),
        "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333"
    })
}

/// Suppression keys resolve fields as matching does: `resources.ARN` reaches into the
/// `resources` array, so each bucket has its own window (before, every alert of the rule
/// shared one empty key and all but the first were held back). The key is on the alert.
/// A config policy on a correlation keys its alerts by the completing event's fields.
#[test]
fn suppression_keys_reach_into_arrays_and_correlations() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        r#"title: Bucket policy changed
name: bucket-policy-changed
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventSource: s3.amazonaws.com, eventName: PutBucketPolicy}
  condition: sel
trailwatch:
  suppress: {window: 1h, by: [resources.ARN]}
"#,
    )
    .unwrap();
    let log = dir.path().join("a.json.gz");
    let buckets = ["a", "b", "a", "a", "b", "c"];
    let events: Vec<Value> = buckets
        .iter()
        .enumerate()
        .map(|(i, b)| bucket_change(b, &at(i as i64 * 60), i as u32))
        .collect();
    write_log(&log, &events);
    let out = replay_with("--rules", &rules, &log);
    let sent: Vec<(String, Value)> = alerts(&out)
        .iter()
        .map(|a| {
            (
                a["event"]["id"].as_str().unwrap()[24..].to_string(),
                a["suppression_key"].clone(),
            )
        })
        .collect();
    assert_eq!(
        sent,
        [
            ("000000000000".to_string(), json!(["arn:aws:s3:::a"])),
            ("000000000001".to_string(), json!(["arn:aws:s3:::b"])),
            ("000000000005".to_string(), json!(["arn:aws:s3:::c"])),
        ]
    );
    assert!(
        stderr(&out).contains("suppressed: bucket-policy-changed 3"),
        "{}",
        stderr(&out)
    );

    // Brute force by alice twice within the hour, the second burst from another address:
    // keyed by the completing event's sourceIPAddress, both bursts alert; keyed by the group
    // (no `by`), the second is held back.
    let mut events: Vec<Value> = (0..20)
        .map(|i| failure("alice", &at(i as i64 * 15), i))
        .collect();
    for e in &mut events[10..] {
        e["sourceIPAddress"] = json!("198.51.100.4");
    }
    write_log(&log, &events);
    let run = |policy: &str| {
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[[suppress]]\nrules = [\"console-login-brute-force\"]\nwindow = \"1h\"\n{policy}"
            ),
        )
        .unwrap();
        let out = replay_with("--config", &config, &log);
        alerts(&out)
            .into_iter()
            .filter(|a| a["rule"]["name"] == "console-login-brute-force")
            .map(|a| a["suppression_key"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        run("by = [\"sourceIPAddress\"]\n"),
        [json!(["203.0.113.77"]), json!(["198.51.100.4"])]
    );
    assert_eq!(run(""), [json!(["111122223333", "alice"])]);
}
