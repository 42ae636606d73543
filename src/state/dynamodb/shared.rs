//! [`State`] shared by replicas through the table: threshold correlations (decided one event
//! at a time) count in shared groups, every suppression window is an item, and a sink's
//! deliveries are claimed and recorded there, so N replicas on one queue alert once. What
//! replicas need not agree on stays in this process: correlations that wait for their window
//! to end, and each sink's reservations while it sends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;

use super::delivered::Claimed;
use super::{at_most, StateError, Table};
use crate::audit::permissions::usage::Usage;
use crate::correlate::stored::decided_per_event;
use crate::rules::RuleSet;
use crate::state::{Batch, Claims, Decided, Deliveries, Local, Settings, State};
use crate::suppress::SuppressError;

/// Shared-table calls in flight per delivery.
const CONCURRENT_CALLS: usize = 32;

pub struct SharedState {
    local: Mutex<Local>,
    deliveries: Deliveries,
    table: Arc<Table>,
    /// Per sink, alert ids the sink accepted whose acceptance the table did not take (it was
    /// failing); recorded before the next delivery to that sink.
    unrecorded: Mutex<HashMap<String, Vec<String>>>,
    /// What this replica recorded principals using and has not written to the table yet.
    usage: Mutex<Usage>,
}

impl SharedState {
    pub fn new(
        rules: &RuleSet,
        settings: &Settings,
        table: Arc<Table>,
    ) -> Result<SharedState, SuppressError> {
        Ok(SharedState {
            local: Mutex::new(Local::new(rules, settings)?),
            deliveries: Deliveries::new(settings),
            table,
            unrecorded: Mutex::default(),
            usage: Mutex::new(Usage::new()),
        })
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    async fn decide_shared(&self, batch: Batch) -> Decided {
        let Batch {
            mut alerts,
            mut observations,
            rules,
        } = batch;
        Local::trusted(&mut observations);
        let mut d = Decided::default();
        // The one lock of the batch: local correlations, and what the rest needs of it.
        let (policies, limits, shared) = {
            let mut local = self.local.lock().expect("state lock");
            let (shared, here): (Vec<_>, Vec<_>) = observations.into_iter().partition(|o| {
                local
                    .engine
                    .correlation(o.correlation)
                    .is_some_and(decided_per_event)
            });
            local.correlate(here, &mut alerts, &mut d);
            (local.suppressor.policies(), local.engine.limits(), shared)
        };
        if !shared.is_empty() {
            let correlated = self
                .table
                .correlate_all(rules.correlations(), shared, &limits)
                .await;
            for (rule, late) in correlated.late {
                *d.late.entry(rule).or_default() += late;
            }
            for (rule, dropped) in correlated.dropped {
                *d.evicted.entry(rule).or_default() += dropped;
            }
            if let Some(e) = correlated.failure {
                d.failure = Some(e);
                return d;
            }
            alerts.extend(correlated.alerts);
        }
        let (mut send, keyed) = policies.split(alerts);
        if !keyed.is_empty() {
            let suppressed = self.table.suppress_all(keyed).await;
            d.suppressed = suppressed.held;
            if let Some(e) = suppressed.failure {
                d.failure = Some(e);
                return d;
            }
            send.extend(suppressed.send);
        }
        d.send = send;
        d
    }

    async fn claim_shared(&self, sink: &str, ids: &[&str]) -> Claims {
        if let Err(e) = self.record_unrecorded(sink).await {
            return Claims {
                failure: Some(e),
                ..Claims::default()
            };
        }
        let dedupe = self.deliveries.of(sink);
        let local = dedupe.claim(ids);
        let window_ms = self.deliveries.window_ms();
        let answers = at_most(
            CONCURRENT_CALLS,
            local.mine.iter().map(|&i| async move {
                (i, self.table.claim_delivery(sink, ids[i], window_ms).await)
            }),
        )
        .await;
        let mut claims = Claims {
            busy: local.busy,
            ..Claims::default()
        };
        for (i, answer) in answers {
            match answer {
                Ok(Claimed::Mine) => claims.mine.push(i),
                // Accepted from another replica: remembered here, not sent.
                Ok(Claimed::Accepted) => dedupe.release(ids[i], true),
                Ok(Claimed::Elsewhere) => {
                    dedupe.release(ids[i], false);
                    claims.elsewhere.push(i);
                }
                Err(e) => {
                    dedupe.release(ids[i], false);
                    claims.failure.get_or_insert(e);
                }
            }
        }
        if claims.failure.is_some() {
            // Nothing is sent in this attempt: give back the claims taken.
            let taken: Vec<(&str, bool)> = claims.mine.drain(..).map(|i| (ids[i], false)).collect();
            let _ = self.settle_shared(sink, &taken).await;
            claims.elsewhere.clear();
        }
        claims
    }

    /// Records the acceptances an earlier delivery could not record.
    async fn record_unrecorded(&self, sink: &str) -> Result<(), StateError> {
        let ids = self
            .unrecorded
            .lock()
            .expect("unrecorded lock")
            .remove(sink)
            .unwrap_or_default();
        self.record(sink, &ids).await
    }

    /// Records acceptances in the table; what could not be recorded is kept for the next
    /// delivery to this sink.
    async fn record(&self, sink: &str, ids: &[String]) -> Result<(), StateError> {
        if ids.is_empty() {
            return Ok(());
        }
        let recorded = self
            .table
            .record_deliveries(sink, ids, self.deliveries.window_ms())
            .await;
        recorded.map_err(|(unrecorded, e)| {
            self.unrecorded
                .lock()
                .expect("unrecorded lock")
                .entry(sink.to_string())
                .or_default()
                .extend(unrecorded);
            e
        })
    }

    async fn settle_shared(&self, sink: &str, sent: &[(&str, bool)]) -> Result<(), StateError> {
        let dedupe = self.deliveries.of(sink);
        let mut accepted = Vec::new();
        let mut failed = Vec::new();
        for &(id, ok) in sent {
            dedupe.release(id, ok);
            match ok {
                true => accepted.push(id.to_string()),
                false => failed.push(id),
            }
        }
        let recorded = self.record(sink, &accepted).await;
        let dropped = at_most(
            CONCURRENT_CALLS,
            failed.into_iter().map(|id| self.table.drop_claim(sink, id)),
        )
        .await;
        recorded.and_then(|()| dropped.into_iter().collect())
    }
}

impl State for SharedState {
    fn local(&self) -> &Mutex<Local> {
        &self.local
    }

    fn deliveries(&self) -> &Deliveries {
        &self.deliveries
    }

    fn decide(&self, batch: Batch) -> BoxFuture<'_, Decided> {
        Box::pin(self.decide_shared(batch))
    }

    fn recorded(&self) -> &Mutex<Usage> {
        &self.usage
    }

    fn file_keeps_usage(&self) -> bool {
        false
    }

    /// Writes what this replica recorded since the last flush; what the table did not take
    /// waits for the next one.
    fn flush_usage(&self) -> BoxFuture<'_, Result<(), StateError>> {
        Box::pin(async move {
            let recorded = std::mem::take(&mut *self.usage.lock().expect("usage lock"));
            if recorded.is_empty() {
                return Ok(());
            }
            self.table.merge_usage(recorded).await.map_err(|(left, e)| {
                self.record_usage(left);
                e
            })
        })
    }

    fn usage(&self) -> BoxFuture<'_, Result<Usage, StateError>> {
        Box::pin(async move {
            self.flush_usage().await?;
            self.table.read_usage().await
        })
    }

    fn claim<'a>(&'a self, sink: &'a str, ids: &'a [&'a str]) -> BoxFuture<'a, Claims> {
        Box::pin(self.claim_shared(sink, ids))
    }

    fn settle<'a>(
        &'a self,
        sink: &'a str,
        sent: &'a [(&'a str, bool)],
    ) -> BoxFuture<'a, Result<(), StateError>> {
        Box::pin(self.settle_shared(sink, sent))
    }
}
