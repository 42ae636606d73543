//! What correlation costs: replay throughput of a synthetic archive with the built-in pack's
//! correlations on versus off, the memory of one million open groups, and one group's burst
//! of 200,000 events as replay and the daemon count it: a sequence never completed (the
//! group held at its cap), its second rule alone, a brute force alerting every ten events,
//! and a value_count group at its cap with one distinct value.
//!
//! `cargo bench --bench correlation`. Prints a small table; numbers are in docs/performance.md.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use trailwatch::alert::Origin;
use trailwatch::correlate::{Engine, Limits};
use trailwatch::detect::exclusions::Exclusions;
use trailwatch::detect::{scan, Detector, Observation, Outcomes, Scan};
use trailwatch::pipeline::Pipeline;
use trailwatch::replay::{self, Options};
use trailwatch::rules::loader::{built_in_files, is_rule_file};
use trailwatch::rules::{RuleSet, RuleSetBuilder};
use trailwatch::source::local;
use trailwatch::synth::{generate, Plan};

const ARCHIVE_BYTES: u64 = 400_000_000;
const RUNS: usize = 5;
const GROUPS: usize = 1_000_000;
/// Sign-ins without MFA by one principal within the hour, never followed by a key creation.
const BURST: usize = 200_000;

fn built_in() -> RuleSet {
    let mut b = RuleSetBuilder::new();
    for (name, text) in built_in_files(is_rule_file) {
        b.add_yaml(&name, text);
    }
    b.build().unwrap()
}

/// The same pack without its correlations (their base rules alert on their own).
fn without_correlations() -> RuleSet {
    let set = built_in();
    let names: Vec<String> = set
        .rules()
        .iter()
        .map(|r| r.meta.info.name.clone())
        .collect();
    set.retain_named(&names).unwrap()
}

fn replay_once(pipeline: &Pipeline, listing: &trailwatch::source::Listing) -> (Duration, u64) {
    let opts = Options {
        threads: 2,
        ..Options::default()
    };
    let started = Instant::now();
    let summary = replay::run(
        pipeline,
        &opts,
        listing,
        &mut std::io::sink(),
        None,
        &|_| {},
    )
    .unwrap();
    (started.elapsed(), summary.total_alerts())
}

fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[derive(Default)]
struct Collect(Vec<Observation>);

impl Outcomes for Collect {
    fn alert(&mut self, _: trailwatch::alert::Alert) {}
    fn observation(&mut self, o: Observation) {
        self.0.push(o);
    }
    fn excluded(&mut self, _: &str) {}
}

impl Scan for Collect {}

/// The observation `record` (a one-record log file) gives `correlation`, as a template.
fn template(set: &RuleSet, record: &str, correlation: &str) -> Observation {
    let mut out = Collect::default();
    let origin = Origin::File { file: "b".into() };
    let detector = Detector {
        rules: set,
        origin: &origin,
        exclusions: &Exclusions::default(),
    };
    scan(record.as_bytes(), &detector, &mut out);
    let index = set
        .correlations()
        .iter()
        .position(|c| c.meta.info.name == correlation)
        .unwrap() as u32;
    out.0.into_iter().find(|o| o.correlation == index).unwrap()
}

const FAILED_SIGN_IN: &str = r#"{"Records":[{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","accountId":"111122223333","userName":"alice"},"eventTime":"2026-11-20T09:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.7","errorMessage":"Failed authentication","responseElements":{"ConsoleLogin":"Failure"},"eventID":"8e0c1f0a-4b7d-4c1e-9f3a-2d5b6c7e8f90","eventType":"AwsConsoleSignIn","recipientAccountId":"111122223333"}]}"#;

const ACCESS_KEY_CREATED: &str = r#"{"Records":[{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice"},"eventTime":"2026-11-20T09:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.7","requestParameters":{"userName":"bob"},"eventID":"8e0c1f0a-4b7d-4c1e-9f3a-2d5b6c7e8f92","eventType":"AwsApiCall","recipientAccountId":"111122223333"}]}"#;

const SIGN_IN_WITHOUT_MFA: &str = r#"{"Records":[{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice"},"eventTime":"2026-11-20T09:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.7","responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"No"},"eventID":"8e0c1f0a-4b7d-4c1e-9f3a-2d5b6c7e8f91","eventType":"AwsConsoleSignIn","recipientAccountId":"111122223333"}]}"#;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let written = generate(&Plan {
        out: dir.path().to_path_buf(),
        bytes: ARCHIVE_BYTES,
        records_per_file: 5000,
        seed: 11,
        density: None,
    })
    .unwrap();
    let listing = local::list(&[PathBuf::from(dir.path())]);
    let on = built_in();
    let off = without_correlations();
    println!(
        "archive: {} files, {} records, {:.0} MB uncompressed; rules: {} + {} correlations vs {}",
        written.files,
        written.records,
        written.bytes as f64 / 1e6,
        on.len(),
        on.correlations().len(),
        off.len()
    );
    let (on_pipeline, off_pipeline) = (
        Pipeline::with_rules(built_in()),
        Pipeline::with_rules(without_correlations()),
    );
    // Alternate the two so drift in the machine's speed hits both alike; keep the best run.
    let (mut best_on, mut best_off) = (Duration::MAX, Duration::MAX);
    let (mut alerts_on, mut alerts_off) = (0, 0);
    for _ in 0..RUNS {
        let (t, a) = replay_once(&off_pipeline, &listing);
        best_off = best_off.min(t);
        alerts_off = a;
        let (t, a) = replay_once(&on_pipeline, &listing);
        best_on = best_on.min(t);
        alerts_on = a;
    }
    let mbs = |d: Duration| written.bytes as f64 / 1e6 / d.as_secs_f64();
    println!(
        "replay, 2 threads, best of {RUNS}: correlations off {:.3} s ({:.0} MB/s, {alerts_off} alerts), on {:.3} s ({:.0} MB/s, {alerts_on} alerts): {:+.1}%",
        best_off.as_secs_f64(),
        mbs(best_off),
        best_on.as_secs_f64(),
        mbs(best_on),
        (best_on.as_secs_f64() / best_off.as_secs_f64() - 1.0) * 100.0
    );

    // One million users with one failed sign-in each: one open group apiece.
    let obs = template(&on, FAILED_SIGN_IN, "console-login-brute-force");
    let mut engine = Engine::new(on.correlations(), Limits::default());
    let mut alerts = Vec::new();
    let before = rss();
    let started = Instant::now();
    for i in 0..GROUPS {
        let mut o = obs.clone();
        o.group = vec!["111122223333".into(), format!("user-{i:07}")];
        o.event = format!("00000000-0000-4000-8000-{i:012}").as_str().into();
        o.time_ms += (i as i64) % 60_000;
        o.base = obs.base.clone();
        engine.observe(o, &mut alerts);
    }
    let elapsed = started.elapsed();
    let grown = rss().saturating_sub(before);
    println!(
        "{} open groups: {:.0} MB resident ({:.0} bytes per group), {:.0} ns per observation",
        engine.open_groups(),
        grown as f64 / 1e6,
        grown as f64 / engine.open_groups().max(1) as f64,
        elapsed.as_nanos() as f64 / GROUPS as f64
    );

    // One principal's burst: its group fills to the cap (10,000 events) and then drops its
    // oldest event for each new one, as replay counts it (each event seen once).
    burst(
        &on,
        SIGN_IN_WITHOUT_MFA,
        "login-without-mfa-then-access-key",
        "one group at its cap",
        true,
    );
    // The same as the daemon counts it: each event is looked for first (a redelivery).
    burst(
        &on,
        SIGN_IN_WITHOUT_MFA,
        "login-without-mfa-then-access-key",
        "one group at its cap, daemon",
        false,
    );
    // One user's failed sign-ins, as the daemon counts them: a brute-force alert every ten,
    // the events it used kept in the group to recognise a redelivery.
    burst(
        &on,
        FAILED_SIGN_IN,
        "console-login-brute-force",
        "one event_count group firing, daemon",
        false,
    );
    // A script creating keys, no sign-in before: the second rule of a sequence, alone.
    burst(
        &on,
        ACCESS_KEY_CREATED,
        "login-without-mfa-then-access-key",
        "one sequence's second rule alone at its cap",
        true,
    );
    // One address's failed sign-ins, all for one user: a value_count group at its cap whose
    // window holds one distinct value, measured again for every event.
    burst(
        &on,
        FAILED_SIGN_IN,
        "password-spraying",
        "one value_count group at its cap",
        true,
    );
}

/// Counts [`BURST`] observations of `record` spread over an hour into one group of
/// `correlation`; `once`: as replay does, each event seen once.
fn burst(set: &RuleSet, record: &str, correlation: &str, label: &str, once: bool) {
    let obs = template(set, record, correlation);
    let mut engine = Engine::new(set.correlations(), Limits::default());
    if once {
        engine = engine.seeing_each_event_once();
    }
    let mut alerts = Vec::new();
    let started = Instant::now();
    for i in 0..BURST {
        let mut o = obs.clone();
        o.event = format!("00000000-0000-4000-8000-{i:012}").as_str().into();
        o.time_ms += (i as i64) * 3_600_000 / BURST as i64;
        o.base = obs.base.clone();
        engine.observe(o, &mut alerts);
    }
    let elapsed = started.elapsed();
    let dropped: u64 = engine
        .take_stats()
        .iter()
        .map(|(_, s)| s.dropped_events)
        .sum();
    println!(
        "{label}: {BURST} observations, {dropped} oldest events dropped, {} alerts, {:.0} ns per observation",
        alerts.len(),
        elapsed.as_nanos() as f64 / BURST as f64
    );
}
