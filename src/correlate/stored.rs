//! One group of a threshold correlation kept outside the engine, for state shared by replicas
//! (the DynamoDB backend stores one per correlation and group, and replaces it with a
//! conditional write). It counts with the engine's own step (`engine::count`), so a
//! group decides the same alerts wherever it is kept. What differs is lateness: with no
//! global watermark across replicas, an event counts unless it is older than the group's
//! newest event by more than the lateness. And the alerts a group fired are not kept in it
//! (an item holds 400 KB), only their ids: the caller keeps the alerts beside it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::engine::{count, KEY_SEP};
use super::window::Group;
use super::Limits;
use crate::alert::Alert;
use crate::detect::Observation;
use crate::rules::Correlation;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SharedGroup {
    group: Group,
    /// Per event (step and event id) that completed a correlation, the alert's id.
    #[serde(default)]
    fired: BTreeMap<String, String>,
}

/// What counting a group's observations came to.
#[derive(Debug, Default)]
pub struct Counted {
    /// Correlation alerts completed now.
    pub alerts: Vec<Alert>,
    /// Ids of alerts completed before by events seen again (a redelivery): sent again, as
    /// their first delivery may have failed.
    pub refired: Vec<String>,
    /// Events older than the group's newest by more than the lateness: not counted.
    pub late: u64,
    /// Oldest events dropped for the cap on events per group.
    pub dropped: u64,
}

/// Whether a correlation can be decided one group at a time as events arrive (conditions
/// with only lower bounds); others wait for their window to end and stay with the engine.
pub fn decided_per_event(corr: &Correlation) -> bool {
    corr.condition.is_threshold()
}

/// The key of an observation's group within its correlation.
pub fn group_key(obs: &Observation) -> String {
    obs.group.join(&KEY_SEP.to_string())
}

impl SharedGroup {
    /// Counts observations of this group, in the engine's order (sort them with
    /// [`Observation::sort_key`]), then drops events no later window can use.
    pub fn observe(
        &mut self,
        corr: &Correlation,
        observations: &[Observation],
        limits: &Limits,
    ) -> Counted {
        let mut counted = Counted::default();
        for obs in observations {
            let newest = self.group.last_time.max(obs.time_ms);
            if obs.time_ms < newest.saturating_sub(limits.lateness_ms) {
                counted.late += 1;
                continue;
            }
            let event = format!("{}:{}", obs.step, obs.event);
            if self.group.find(obs.time_ms, &obs.event, obs.step).is_some() {
                counted.refired.extend(self.fired.get(&event).cloned());
                continue;
            }
            let max = limits.max_events_per_group;
            let (alert, dropped) = count(corr, &mut self.group, obs, max, false);
            if let Some(alert) = alert {
                self.fired.insert(event, alert.alert_id.clone());
                counted.alerts.push(alert);
            }
            counted.dropped += u64::from(dropped);
        }
        // A later event is at most `lateness` older than the newest, and its window spans
        // `timespan` before it: nothing older can be counted again.
        let horizon = self.group.last_time - limits.lateness_ms - corr.timespan_ms;
        self.group.prune(horizon);
        for entry in &mut self.group.entries {
            entry.fired = None;
        }
        let kept: std::collections::HashSet<String> = self
            .group
            .entries
            .iter()
            .map(|e| format!("{}:{}", e.step, e.id))
            .collect();
        self.fired.retain(|event, _| kept.contains(event));
        counted
    }
}
