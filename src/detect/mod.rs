//! The detection stage: the one scan every reader runs (the daemon's S3 objects and
//! EventBridge events, replay's inputs, rule tests), matching each record against the rules,
//! applying the configuration's exclusions, and sorting what matched into alerts (rules that
//! alert on their own) and observations (rules that feed correlations).

mod base;
mod event_key;
pub mod exclusions;
mod scan;

use std::sync::Arc;

use crate::alert::{Alert, Origin};
use crate::rules::RuleSet;
use crate::trail::Record;
use exclusions::Exclusions;

pub use base::{AlertStore, Base, Slot};
pub use event_key::EventKey;
pub use scan::{scan, scan_framed, scan_part, Detector, Scan};

/// One base-rule match that feeds one correlation.
#[derive(Debug, Clone)]
pub struct Observation {
    /// Index of the correlation in the rule set.
    pub correlation: u32,
    /// Position of the base rule in the correlation's `rules`.
    pub step: u16,
    /// `eventTime`, in milliseconds since the epoch.
    pub time_ms: i64,
    pub event: EventKey,
    /// Group-by values, in the correlation's order; a missing field is the empty string.
    pub group: Vec<String>,
    /// The value_count field's value.
    pub value: Option<String>,
    /// The correlation's suppression key, when it has a suppression policy.
    pub suppression_key: Option<Vec<String>>,
    /// The base rule's alert for this event: a correlation alert it completes carries its
    /// event, origin and record.
    pub base: Base,
}

impl Observation {
    /// The order observations are counted in: event time, then a fixed tie-break, so the
    /// result does not depend on which file, message or thread saw the event first.
    pub fn sort_key(&self) -> (i64, u32, u16, &EventKey) {
        (self.time_ms, self.correlation, self.step, &self.event)
    }
}

/// Where `detect` puts what it found.
pub trait Outcomes {
    fn alert(&mut self, alert: Alert);
    fn observation(&mut self, observation: Observation);
    /// A rule matched, but a filter document or a config exclusion kept it from counting.
    fn excluded(&mut self, rule: &str);
}

/// Matches one record and sorts the results: excluded matches are only counted; the others
/// alert (unless the rule only feeds correlations) and feed the correlations they belong to.
fn detect(
    set: &RuleSet,
    record: &Record,
    scratch: &mut Vec<u32>,
    origin: &Origin,
    exclusions: &Exclusions,
    out: &mut impl Outcomes,
) {
    set.for_each_outcome(record, scratch, |rule, filtered| {
        if filtered {
            return out.excluded(&rule.meta.info.name);
        }
        let mut alert = Alert::new(&rule.meta, record, origin);
        alert.suppression_key = rule
            .suppress_key
            .as_deref()
            .map(|ids| key_values(record, ids));
        if exclusions.excludes(&alert) {
            return out.excluded(&rule.meta.info.name);
        }
        if rule.feeds.is_empty() {
            return out.alert(alert);
        }
        // Without an event time an event cannot be placed in a window; it still alerts if
        // the rule does.
        let alert = Arc::new(alert);
        if let Some(time_ms) = record.time_ms() {
            let event = EventKey::of(alert.event.id.as_deref(), &alert.alert_id);
            let text = |id| {
                record
                    .fields
                    .get(id)
                    .first()
                    .and_then(|v| v.text())
                    .unwrap_or("")
                    .to_string()
            };
            for feed in &rule.feeds {
                let group: Vec<String> = feed.group.iter().map(|&id| text(id)).collect();
                let suppression_key = feed.suppress_key.as_deref().map(|ids| match ids {
                    [] => group.clone(),
                    ids => key_values(record, ids),
                });
                out.observation(Observation {
                    correlation: feed.correlation,
                    step: feed.step,
                    time_ms,
                    event: event.clone(),
                    group,
                    value: feed.value.map(text),
                    suppression_key,
                    base: Base::Alert(alert.clone()),
                });
            }
        }
        if rule.generates {
            out.alert(Arc::unwrap_or_clone(alert));
        }
    });
}

/// A suppression key from the fields matching extracted: one value per field, every value of
/// a field that crosses an array (`resources.ARN`) joined by commas, missing as empty.
fn key_values(record: &Record, ids: &[crate::trail::FieldId]) -> Vec<String> {
    ids.iter()
        .map(|&id| {
            let values: Vec<&str> = record
                .fields
                .get(id)
                .iter()
                .filter_map(|v| v.text())
                .collect();
            values.join(",")
        })
        .collect()
}
