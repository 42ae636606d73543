//! The suppression stage: at most one alert per rule and key per window, the next one after
//! the window carrying how many were held back.
//!
//! Policies come from a rule's own `trailwatch.suppress` key and from `[[suppress]]` entries
//! of the configuration (an entry naming the rule wins over the rule's key, which wins over an
//! entry for every rule). Decisions are idempotent per `alert_id`: an alert seen again (a
//! redelivered SQS message) gets the same decision as the first time, so a sink that failed
//! the first time still gets the alert that was sent.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::Deserialize;

use crate::alert::Alert;
use crate::rules::sigma::timespan::Timespan;
use crate::rules::{RuleSet, Suppress};

/// A `[[suppress]]` entry of the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuppressConfig {
    /// Rule names; empty means every rule without a policy of its own.
    #[serde(default)]
    pub rules: Vec<String>,
    /// `30s`, `10m`, `1h`, `1d`.
    pub window: Timespan,
    /// Dotted event fields that make up the key; empty means one key per rule (per group for
    /// correlations).
    #[serde(default)]
    pub by: Vec<String>,
}

/// How many alert ids a key remembers per window to keep decisions idempotent; beyond it
/// suppressed alerts are only counted.
const MAX_HELD_IDS: usize = 10_000;
/// Keys whose window ended this long ago are forgotten.
pub const KEEP_AFTER_WINDOW_MS: i64 = 24 * 3_600_000;

/// What alerts are counted under: the rule, and the values of the policy's `by` fields (none:
/// one key per rule).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SuppressionKey {
    pub rule: String,
    pub values: Option<Vec<String>>,
}

impl SuppressionKey {
    /// The key as one string, as state files and the shared table store it: the rule, then
    /// (with values) a line break and the values separated by U+001F, which neither a rule
    /// name nor a field value of a CloudTrail record holds.
    pub fn encoded(&self) -> String {
        match &self.values {
            Some(values) => format!("{}\n{}", self.rule, values.join("\u{1f}")),
            None => self.rule.clone(),
        }
    }

    /// The key [`SuppressionKey::encoded`] gave.
    pub fn decode(text: &str) -> SuppressionKey {
        match text.split_once('\n') {
            Some((rule, values)) => SuppressionKey {
                rule: rule.to_string(),
                values: Some(values.split('\u{1f}').map(str::to_string).collect()),
            },
            None => SuppressionKey {
                rule: text.to_string(),
                values: None,
            },
        }
    }
}

/// An alert under a suppression policy: the key it is counted under, the policy's window,
/// and its event time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyed {
    pub key: SuppressionKey,
    pub window_ms: i64,
    pub time_ms: i64,
}

/// Every rule's suppression policy, by rule name; shared, so a caller can place alerts
/// under their keys without holding the suppressor.
#[derive(Debug, Clone, Default)]
pub struct Policies(Arc<HashMap<String, Suppress>>);

impl Policies {
    /// Whether alerts of this rule go through suppression.
    pub fn applies(&self, rule: &str) -> bool {
        self.0.contains_key(rule)
    }

    /// Where an alert stands under its rule's policy, or None when its rule has none.
    pub fn keyed(&self, alert: &Alert) -> Option<Keyed> {
        let policy = self.0.get(&alert.rule.name)?;
        Some(Keyed {
            key: SuppressionKey {
                rule: alert.rule.name.clone(),
                values: alert.suppression_key.clone(),
            },
            window_ms: policy.window_ms,
            time_ms: event_time(alert),
        })
    }

    /// Splits alerts into those no policy covers and those under one.
    pub fn split(&self, alerts: Vec<Alert>) -> (Vec<Alert>, Vec<(Alert, Keyed)>) {
        let mut free = Vec::new();
        let mut keyed = Vec::new();
        for alert in alerts {
            match self.keyed(&alert) {
                Some(k) => keyed.push((alert, k)),
                None => free.push(alert),
            }
        }
        (free, keyed)
    }
}

#[derive(Debug, Clone, serde::Serialize, Deserialize)]
pub struct KeyState {
    /// Event time of the alert that was sent; the window is `start ± window`.
    start: i64,
    window: i64,
    sent: String,
    /// The suppressed count the sent alert carried.
    carried: Option<u64>,
    held: HashSet<String>,
    /// Suppressed alerts beyond [`MAX_HELD_IDS`].
    held_extra: u64,
}

#[derive(Debug, Default)]
pub struct Suppressor {
    policies: Policies,
    keys: HashMap<SuppressionKey, KeyState>,
    newest: i64,
    counted: BTreeMap<String, u64>,
}

/// A `[[suppress]]` entry that would silently do nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SuppressError {
    #[error("suppress[{entry}].rules: no rule named {rule:?} is loaded")]
    UnknownRule { entry: usize, rule: String },
}

/// Every rule's and correlation's policy, by rule name: a config entry naming the rule wins
/// over the rule's own key, which wins over an entry for every rule. A config entry naming a
/// rule that is not loaded, or with a bad window, is an error naming the entry.
pub fn policies(
    set: &RuleSet,
    config: &[SuppressConfig],
) -> Result<HashMap<String, Suppress>, SuppressError> {
    let mut global = None;
    let mut named: HashMap<String, Suppress> = HashMap::new();
    for (i, c) in config.iter().enumerate() {
        let window_ms = c.window.ms;
        let policy = Suppress {
            window_ms,
            by: c.by.clone(),
        };
        if c.rules.is_empty() {
            global = Some(policy);
            continue;
        }
        for r in &c.rules {
            if !set.has(r) {
                return Err(SuppressError::UnknownRule {
                    entry: i,
                    rule: r.clone(),
                });
            }
            named.insert(r.clone(), policy.clone());
        }
    }
    let mut policies = HashMap::new();
    for meta in set.metas() {
        let policy = named
            .get(&meta.info.name)
            .or_else(|| named.get(&meta.info.id))
            .or(meta.suppress.as_ref())
            .or(global.as_ref());
        if let Some(p) = policy {
            policies.insert(meta.info.name.clone(), p.clone());
        }
    }
    Ok(policies)
}

/// Applies the configuration's policies to the rule set before it is shared, so detection
/// computes every suppression key while it matches (see [`RuleSet::key_suppression`]).
pub fn prepare(set: &mut RuleSet, config: &[SuppressConfig]) -> Result<(), SuppressError> {
    let policies = policies(set, config)?;
    set.key_suppression(&policies);
    Ok(())
}

impl Suppressor {
    /// The suppressor for a rule set [`prepare`]d with the same configuration.
    pub fn new(set: &RuleSet, config: &[SuppressConfig]) -> Result<Suppressor, SuppressError> {
        Ok(Suppressor {
            policies: Policies(Arc::new(policies(set, config)?)),
            ..Suppressor::default()
        })
    }

    /// The policies, to place alerts under their keys elsewhere.
    pub fn policies(&self) -> Policies {
        self.policies.clone()
    }

    /// Whether alerts of this rule go through suppression.
    pub fn applies(&self, rule: &str) -> bool {
        self.policies.applies(rule)
    }

    /// Suppressed alerts per rule since the last call.
    pub fn take_counts(&mut self) -> BTreeMap<String, u64> {
        std::mem::take(&mut self.counted)
    }

    /// Decides a batch in event-time order (ties by alert id), which makes the outcome
    /// independent of the order the alerts were found in. Returns the alerts to send.
    pub fn decide_all(&mut self, mut alerts: Vec<Alert>) -> Vec<Alert> {
        alerts.sort_by_cached_key(|a| (event_time(a), a.alert_id.clone()));
        alerts.into_iter().filter_map(|a| self.decide(a)).collect()
    }

    /// The alert to send (with `suppressed` set when it closes a window that held some back),
    /// or None when it is suppressed.
    pub fn decide(&mut self, mut alert: Alert) -> Option<Alert> {
        let Some(Keyed {
            key,
            window_ms: window,
            time_ms: t,
        }) = self.policies.keyed(&alert)
        else {
            return Some(alert);
        };
        // A timestamp from the future must not expire every other key.
        if t > self.newest && t <= crate::correlate::horizon_ms() {
            self.newest = t;
            self.prune();
        }
        let id = alert.alert_id.clone();
        match self.keys.get_mut(&key) {
            Some(s) if s.sent == id => {
                alert.suppressed = s.carried;
                return Some(alert);
            }
            Some(s) if s.held.contains(&id) => return None,
            Some(s) if t >= s.start - window && t < s.start + window => {
                if s.held.len() < MAX_HELD_IDS {
                    s.held.insert(id);
                } else {
                    s.held_extra += 1;
                }
                *self.counted.entry(alert.rule.name.clone()).or_default() += 1;
                return None;
            }
            _ => {}
        }
        let carried = self
            .keys
            .get(&key)
            .map(|s| s.held.len() as u64 + s.held_extra)
            .filter(|&n| n > 0);
        alert.suppressed = carried;
        self.keys.insert(
            key,
            KeyState {
                start: t,
                window,
                sent: id,
                carried,
                held: HashSet::new(),
                held_extra: 0,
            },
        );
        Some(alert)
    }

    fn prune(&mut self) {
        let newest = self.newest;
        self.keys
            .retain(|_, s| s.start + s.window + KEEP_AFTER_WINDOW_MS >= newest);
    }

    /// The open keys, encoded, for the daemon's state file.
    pub fn snapshot(&self) -> HashMap<String, KeyState> {
        self.keys
            .iter()
            .map(|(k, v)| (k.encoded(), v.clone()))
            .collect()
    }

    pub fn restore(&mut self, keys: HashMap<String, KeyState>) {
        self.newest = keys.values().map(|s| s.start).max().unwrap_or(0);
        self.keys = keys
            .into_iter()
            .map(|(k, v)| (SuppressionKey::decode(&k), v))
            .collect();
    }
}

/// The alert's event time in milliseconds; an alert without one counts as now.
pub fn event_time(alert: &Alert) -> i64 {
    alert
        .event_time_ms()
        .unwrap_or_else(|| chrono::Utc::now().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_stored_as_the_text_older_state_files_hold() {
        for key in [
            SuppressionKey {
                rule: "console-login-failure".into(),
                values: Some(vec!["alice".into(), "203.0.113.9".into()]),
            },
            SuppressionKey {
                rule: "root-activity".into(),
                values: None,
            },
            SuppressionKey {
                rule: "r".into(),
                values: Some(vec![String::new()]),
            },
        ] {
            assert_eq!(SuppressionKey::decode(&key.encoded()), key);
        }
        let key = SuppressionKey {
            rule: "console-login-failure".into(),
            values: Some(vec!["alice".into(), "203.0.113.9".into()]),
        };
        assert_eq!(
            key.encoded(),
            "console-login-failure\nalice\u{1f}203.0.113.9"
        );
    }
}
