//! Correlation groups shared by replicas: each group of a threshold correlation (conditions
//! with only lower bounds: every built-in one) is one `correlation#ID#GROUP` item holding the
//! group's events (`group`, JSON) and a `version`. A replica reads the group, counts its
//! observations with the engine's own step ([`SharedGroup`]), and writes the group back only
//! if the version is still the one it read; otherwise it reads again and recounts. So events
//! of one burst spread over replicas are counted once, in one group, and a correlation alert
//! fires once: the replica whose write wins sends it. An alert fired is kept in its own
//! `correlation-alert#ALERT_ID` item (written before the group), so that a redelivered event
//! sends it again, as the engine does.

use std::collections::BTreeMap;

use crate::alert::Alert;
use crate::correlate::stored::{group_key, SharedGroup};
use crate::correlate::Limits;
use crate::detect::Observation;
use crate::rules::Correlation;

use super::{expires_in, key, number, s, string, versioned, StateError, Table};

/// Attempts at one group while other replicas change it.
const TRIES: usize = 8;

/// Groups decided at once.
const CONCURRENT_GROUPS: usize = 16;

/// Events a shared group keeps (fewer than `correlation.max_events_per_group` allows in
/// memory): a group is one item, and an item holds at most 400 KB (an event is about 100
/// bytes of JSON). Beyond it the oldest are dropped and counted, as in memory.
const MAX_SHARED_EVENTS: usize = 2_000;

/// What a batch of observations came to.
#[derive(Default)]
pub struct Correlated {
    pub alerts: Vec<Alert>,
    /// Per correlation name: events not counted (late) and dropped (group cap).
    pub late: BTreeMap<String, u64>,
    pub dropped: BTreeMap<String, u64>,
    pub failure: Option<StateError>,
}

impl Table {
    /// Counts the observations in their shared groups. `correlations` is the rule set's list
    /// (observations index it).
    pub async fn correlate_all(
        &self,
        correlations: &[Correlation],
        observations: Vec<Observation>,
        limits: &Limits,
    ) -> Correlated {
        let mut by_group: BTreeMap<(u32, String), Vec<Observation>> = BTreeMap::new();
        for obs in observations {
            by_group
                .entry((obs.correlation, group_key(&obs)))
                .or_default()
                .push(obs);
        }
        let results = super::at_most(
            CONCURRENT_GROUPS,
            by_group.into_iter().map(|((ci, group), mut obs)| {
                obs.sort_unstable_by(|a, b| a.sort_key().cmp(&b.sort_key()));
                let corr = &correlations[ci as usize];
                async move { (corr, self.correlate_group(corr, &group, &obs, limits).await) }
            }),
        )
        .await;
        let mut out = Correlated::default();
        for (corr, result) in results {
            match result {
                Ok((alerts, late, dropped)) => {
                    out.alerts.extend(alerts);
                    let name = &corr.meta.info.name;
                    *out.late.entry(name.clone()).or_default() += late;
                    *out.dropped.entry(name.clone()).or_default() += dropped;
                }
                Err(e) => {
                    out.failure.get_or_insert(e);
                }
            }
        }
        out
    }

    /// One group: read, count, write back if unchanged meanwhile. Returns the alerts to send
    /// and the late and dropped counts.
    async fn correlate_group(
        &self,
        corr: &Correlation,
        group: &str,
        observations: &[Observation],
        limits: &Limits,
    ) -> Result<(Vec<Alert>, u64, u64), StateError> {
        let pk = key("correlation", &[&corr.meta.info.id, group]);
        for _ in 0..TRIES {
            let item = self.get(&pk).await?;
            let version = item.as_ref().and_then(|i| number(i, "version"));
            let mut state: SharedGroup = match item.as_ref().and_then(|i| string(i, "group")) {
                Some(json) => serde_json::from_str(json).map_err(|e| StateError::Schema {
                    table: self.name.clone(),
                    message: format!("item {pk}: group is not a trailwatch group: {e}"),
                })?,
                None => SharedGroup::default(),
            };
            let limits = Limits {
                max_events_per_group: limits.max_events_per_group.min(MAX_SHARED_EVENTS),
                ..*limits
            };
            let counted = state.observe(corr, observations, &limits);
            // Kept until the group can no longer see its events again.
            let keep_ms = limits.lateness_ms + corr.timespan_ms + super::DAY_MS;
            for alert in &counted.alerts {
                self.put_fired(alert, keep_ms).await?;
            }
            if self.put_group(&pk, &state, version, keep_ms).await? {
                let mut alerts = counted.alerts;
                for id in &counted.refired {
                    alerts.extend(self.get_fired(id).await?);
                }
                return Ok((alerts, counted.late, counted.dropped));
            }
        }
        Err(StateError::Contended {
            table: self.name.clone(),
            key: pk,
            tries: TRIES,
        })
    }

    /// Writes the group unless another replica wrote it since `version` was read (false).
    async fn put_group(
        &self,
        pk: &str,
        state: &SharedGroup,
        version: Option<i64>,
        keep_ms: i64,
    ) -> Result<bool, StateError> {
        let json = serde_json::to_string(state).expect("a group serializes");
        let put = self
            .client
            .put_item()
            .table_name(&self.name)
            .item("pk", s(pk))
            .item("sk", s("-"))
            .item("group", s(&json))
            .item("expires", expires_in(keep_ms));
        self.written("PutItem", versioned(put, version).send().await)
    }

    async fn put_fired(&self, alert: &Alert, keep_ms: i64) -> Result<(), StateError> {
        let json = serde_json::to_string(alert).expect("an alert serializes");
        self.client
            .put_item()
            .table_name(&self.name)
            .item("pk", s(&key("correlation-alert", &[&alert.alert_id])))
            .item("sk", s("-"))
            .item("alert", s(&json))
            .item("expires", expires_in(keep_ms))
            .send()
            .await
            .map_err(|e| self.failed("PutItem", e))?;
        self.succeeded();
        Ok(())
    }

    /// A fired alert, for a redelivered event; None once it expired.
    async fn get_fired(&self, alert_id: &str) -> Result<Option<Alert>, StateError> {
        let pk = key("correlation-alert", &[alert_id]);
        let Some(item) = self.get(&pk).await? else {
            return Ok(None);
        };
        Ok(string(&item, "alert").and_then(|json| serde_json::from_str(json).ok()))
    }
}
