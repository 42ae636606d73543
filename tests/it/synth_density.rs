//! `trailwatch generate --density`: the share of records a built-in rule matches is the one
//! asked for, the rest match nothing, and a dense archive makes the correlations fire.

use std::collections::BTreeMap;

use trailwatch::alert::Origin;
use trailwatch::correlate::{Engine, Limits};
use trailwatch::detect::exclusions::Exclusions;
use trailwatch::detect::{scan, Detector, Observation, Outcomes, Scan};
use trailwatch::rules::loader::{load, RuleSources};
use trailwatch::rules::RuleSet;
use trailwatch::synth::{generate, Plan};
use trailwatch::trail::Record;

/// Records read, records some rule matched, and the alerts of every kind by rule.
#[derive(Default)]
struct Tally<'a> {
    set: Option<&'a RuleSet>,
    scratch: Vec<u32>,
    records: u64,
    matched: u64,
    observations: Vec<Observation>,
    alerts: BTreeMap<String, u64>,
    /// eventNames of the records no rule matched.
    unmatched: BTreeMap<String, u64>,
}

impl Outcomes for Tally<'_> {
    fn alert(&mut self, a: trailwatch::alert::Alert) {
        *self.alerts.entry(a.rule.name.clone()).or_default() += 1;
    }
    fn observation(&mut self, o: Observation) {
        self.observations.push(o);
    }
    fn excluded(&mut self, _: &str) {}
}

impl Scan for Tally<'_> {
    fn record(&mut self, record: &Record) -> bool {
        self.records += 1;
        let mut any = false;
        self.set
            .unwrap()
            .for_each_match(record, &mut self.scratch, |_| any = true);
        self.matched += u64::from(any);
        if !any {
            let name = record
                .fields
                .str(trailwatch::trail::fields::well_known::EVENT_NAME);
            *self
                .unmatched
                .entry(name.unwrap_or("").to_string())
                .or_default() += 1;
        }
        true
    }
}

fn tally(set: &RuleSet, density: f64) -> Tally<'_> {
    let dir = tempfile::tempdir().unwrap();
    generate(&Plan {
        out: dir.path().to_path_buf(),
        bytes: 6_000_000,
        records_per_file: 2000,
        seed: 11,
        density: Some(density),
    })
    .unwrap();
    let mut t = Tally {
        set: Some(set),
        ..Tally::default()
    };
    let origin = Origin::File { file: "x".into() };
    let exclusions = Exclusions::default();
    let with = Detector {
        rules: set,
        origin: &origin,
        exclusions: &exclusions,
    };
    let mut files: Vec<_> = walkdir::WalkDir::new(dir.path())
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for f in files {
        let (_, err) = scan(std::fs::File::open(&f).unwrap(), &with, &mut t);
        assert!(err.is_none(), "{}: {err:?}", f.display());
    }
    let mut engine = Engine::new(set.correlations(), Limits::default());
    let mut alerts = Vec::new();
    engine.observe_all(std::mem::take(&mut t.observations), &mut alerts);
    engine.flush(&mut alerts);
    for a in alerts {
        *t.alerts.entry(a.rule.name.clone()).or_default() += 1;
    }
    t
}

fn built_in() -> RuleSet {
    load(&RuleSources::default()).unwrap().0
}

#[test]
fn the_share_of_matching_records_is_the_density_asked_for() {
    let set = built_in();
    let none = tally(&set, 0.0);
    assert!(none.records > 3000, "{}", none.records);
    assert_eq!(none.matched, 0, "at density 0 no rule matches anything");
    let all = tally(&set, 1.0);
    assert_eq!(
        all.matched, all.records,
        "at density 1 every record matches a rule; unmatched: {:?}",
        all.unmatched
    );
    let some = tally(&set, 0.3);
    let share = some.matched as f64 / some.records as f64;
    assert!((0.28..0.32).contains(&share), "share {share:.3}");
}

#[test]
fn a_dense_archive_fires_the_correlations() {
    let set = built_in();
    let alerts = tally(&set, 0.3).alerts;
    for rule in [
        "console-login-brute-force",
        "access-denied-burst",
        "secrets-mass-retrieval",
        "login-without-mfa-then-access-key",
    ] {
        assert!(
            alerts.get(rule).copied().unwrap_or(0) > 0,
            "{rule}: {alerts:?}"
        );
    }
}
