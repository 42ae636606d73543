//! The daemon's state between messages: correlation windows and suppression keys. Both are
//! decided under one lock, per batch of a message, in event-time order; both survive a rule
//! reload and, with `correlation.state_file`, a restart. The state file also carries the
//! sinks' memory of delivered alert ids, so a restart does not send them again.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::alert::Alert;
use crate::config::Config;
use crate::config::StateBackend;
use crate::correlate::state::Snapshot;
use crate::correlate::{Engine, Observation};
use crate::metrics::events::{AlertsSuppressed, CorrelationDropped, InternalEvent};
use crate::metrics::Metrics;
use crate::rules::RuleSet;
use crate::sink::Delivered;
use crate::suppress::{KeyState, Keyed, Suppressor};

use super::DaemonError;

pub struct Stateful {
    engine: Engine,
    /// The suppression policies; decides too, unless the windows are shared.
    suppressor: Suppressor,
    /// `[state] backend = "dynamodb"`: suppression, and correlations decided per event, are
    /// decided against the shared table.
    shared: bool,
}

/// A batch after the local state: the alerts decided here and, with the shared state, the
/// observations for the shared correlation groups and the alerts for the shared suppression
/// windows.
pub struct Decided {
    pub send: Vec<Alert>,
    pub to_correlate: Vec<Observation>,
    pub to_suppress: Vec<(Alert, Keyed)>,
}

/// What the state file holds.
#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    saved_at: String,
    correlation: Snapshot,
    suppression: HashMap<String, KeyState>,
    /// Per sink, the alert ids it accepted within the dedupe window, with when.
    #[serde(default)]
    delivered: Delivered,
}

const STATE_VERSION: u32 = 1;

impl Stateful {
    pub fn new(set: &RuleSet, cfg: &Config) -> Result<Stateful, DaemonError> {
        Ok(Stateful {
            engine: Engine::new(set.correlations(), cfg.correlation.limits()?),
            suppressor: Suppressor::new(set, &cfg.suppress)?,
            shared: cfg.state.backend == StateBackend::Dynamodb,
        })
    }

    /// Correlates the observations, then passes every alert (base and correlation) through
    /// suppression, here or (shared windows) by the caller.
    pub fn decide(
        &mut self,
        mut alerts: Vec<Alert>,
        mut observations: Vec<Observation>,
        metrics: &Metrics,
    ) -> Decided {
        let horizon = crate::correlate::horizon_ms();
        let before = observations.len();
        observations.retain(|o| o.time_ms <= horizon);
        if observations.len() < before {
            tracing::warn!(
                events = before - observations.len(),
                "events dated more than an hour ahead of the clock were not correlated"
            );
        }
        let to_correlate = if self.shared {
            let (shared, local) = observations.into_iter().partition(|o| {
                self.engine
                    .correlation(o.correlation)
                    .is_some_and(crate::correlate::shared::decided_per_event)
            });
            observations = local;
            shared
        } else {
            Vec::new()
        };
        self.engine.observe_all(observations, &mut alerts);
        for (rule, s) in self.engine.take_stats() {
            CorrelationDropped {
                correlation: &rule,
                late: s.late,
                evicted: s.evicted_groups + s.dropped_events,
            }
            .emit(metrics);
        }
        metrics
            .correlation_groups
            .set(self.engine.open_groups() as i64);
        if self.shared {
            let (send, to_suppress) = self.keyed(alerts);
            return Decided {
                send,
                to_correlate,
                to_suppress,
            };
        }
        let send = self.suppressor.decide_all(alerts);
        for (rule, count) in self.suppressor.take_counts() {
            AlertsSuppressed { rule: &rule, count }.emit(metrics);
        }
        Decided {
            send,
            to_correlate,
            to_suppress: Vec::new(),
        }
    }

    /// Splits alerts into those no suppression policy covers and those under one.
    pub fn keyed(&self, alerts: Vec<Alert>) -> (Vec<Alert>, Vec<(Alert, Keyed)>) {
        let mut free = Vec::new();
        let mut keyed = Vec::new();
        for alert in alerts {
            match self.suppressor.keyed(&alert) {
                Some(k) => keyed.push((alert, k)),
                None => free.push(alert),
            }
        }
        (free, keyed)
    }

    /// The correlation limits (lateness, caps), which the shared groups apply too.
    pub fn limits(&self) -> crate::correlate::Limits {
        self.engine.limits()
    }

    /// A new rule set (SIGHUP): windows of correlations still loaded, and suppression keys,
    /// carry over.
    pub fn reload(&mut self, set: &RuleSet, cfg: &Config) -> Result<(), DaemonError> {
        let mut next = Stateful::new(set, cfg)?;
        next.engine.restore(self.engine.snapshot());
        next.suppressor.restore(self.suppressor.snapshot());
        *self = next;
        Ok(())
    }

    /// The state file's contents: open windows, suppression keys and the sinks' delivered
    /// ids. Taken under the state lock; written with [`write`] outside it.
    pub fn encode(&self, delivered: Delivered) -> Result<Vec<u8>, DaemonError> {
        let file = StateFile {
            version: STATE_VERSION,
            saved_at: chrono::Utc::now().to_rfc3339(),
            correlation: self.engine.snapshot(),
            suppression: self.suppressor.snapshot(),
            delivered,
        };
        serde_json::to_vec(&file).map_err(DaemonError::StateEncode)
    }

    pub fn open_groups(&self) -> usize {
        self.engine.open_groups()
    }

    /// Restores a state file, if there is one; returns the groups restored and the sinks'
    /// delivered ids.
    pub fn load(&mut self, path: &Path) -> Result<(usize, Delivered), DaemonError> {
        let read =
            super::state_file::read(path, "state file", STATE_VERSION, |f: &StateFile| f.version)?;
        let Some(file) = read else {
            return Ok((0, Delivered::new()));
        };
        self.suppressor.restore(file.suppression);
        Ok((self.engine.restore(file.correlation), file.delivered))
    }
}
