//! Rule tests replayed: a case's events go through the same reader, matcher and correlation
//! engine as a replay, in the order the test gives them (see [`crate::rules::testing`]).

use std::collections::HashSet;

use crate::alert::{Alert, Origin};
use crate::correlate::{Engine, Limits};
use crate::detect::exclusions::Exclusions;
use crate::detect::{self, Detector, Observation, Outcomes, Scan};
use crate::rules::testing::TestCase;
use crate::rules::RuleSet;
use crate::trail::{Record, TrailError};

/// One case's run: base rules are counted by their matches (a rule that only feeds
/// correlations still has tests of its own), correlations by the alerts the engine raises
/// from the observations, counted as they come.
struct CaseRun<'a> {
    set: &'a RuleSet,
    rule: &'a str,
    scratch: Vec<u32>,
    base_matches: u64,
    engine: Engine,
    alerts: Vec<Alert>,
    record_error: Option<String>,
}

impl Outcomes for CaseRun<'_> {
    fn alert(&mut self, _alert: Alert) {}
    fn observation(&mut self, o: Observation) {
        self.engine.observe(o, &mut self.alerts);
    }
    fn excluded(&mut self, _rule: &str) {}
}

impl Scan for CaseRun<'_> {
    fn record(&mut self, record: &Record) -> bool {
        let (rule, mut n) = (self.rule, 0);
        self.set.for_each_match(record, &mut self.scratch, |r| {
            n += (r.meta.info.name == rule) as u64
        });
        self.base_matches += n;
        true
    }
    fn unusable(&mut self, error: TrailError) {
        self.record_error = Some(error.to_string());
    }
}

/// How many alerts of the case's rule its events raise, or why they could not be read.
pub fn count(set: &RuleSet, case: &TestCase) -> Result<u64, String> {
    let origin = Origin::File {
        file: "<test>".into(),
    };
    let exclusions = Exclusions::default();
    let detector = Detector {
        rules: set,
        origin: &origin,
        exclusions: &exclusions,
    };
    let mut run = CaseRun {
        set,
        rule: &case.rule,
        scratch: Vec::new(),
        base_matches: 0,
        engine: Engine::new(set.correlations(), Limits::default()),
        alerts: Vec::new(),
        record_error: None,
    };
    let (_, err) = detect::scan(case.events.as_bytes(), &detector, &mut run);
    run.engine.flush(&mut run.alerts);
    if let Some(e) = err.map(|e| e.to_string()).or(run.record_error) {
        return Err(e);
    }
    if set.rules().iter().any(|r| r.meta.info.name == case.rule) {
        return Ok(run.base_matches);
    }
    // A redelivered event re-sends the alert it completed, under the same id; sinks
    // deduplicate by id, so distinct ids are what a user receives.
    let ids: HashSet<&str> = run
        .alerts
        .iter()
        .filter(|a| a.rule.name == case.rule)
        .map(|a| a.alert_id.as_str())
        .collect();
    Ok(ids.len() as u64)
}
