//! One SQS message, start to finish: what it names, reading it, matching, and delivering the
//! alerts. The outcome says whether the message may be deleted.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use tokio::sync::Semaphore;

use crate::alert::{Alert, Origin};
use crate::config::Filters;
use crate::correlate::{self, Detector, Observation};
use crate::metrics::events::{
    AlertExcluded, AlertRaised, AlertsNotDelivered, AlertsSuppressed, CorrelationDropped,
    InputRead, InternalEvent, MessageUnrecognized, ObjectFailed, ObjectSkipped,
};
use crate::metrics::{reason, Metrics};
use crate::rules::RuleSet;
use crate::sink::SinkSet;
use crate::source::notification::{self, is_log_key, key_layout, Notification, ObjectRef};
use crate::source::queue::Receipt;
use crate::source::s3::{read_object, Batches, Found, Reading, Watch};
use crate::state::Table;
use crate::suppress::Keyed;

use super::consumer::Outcome;
use super::posture::PostureMonitor;
use super::stateful::Stateful;

/// What the consumer needs to handle messages; shared by every message task.
pub struct Context {
    pub s3: aws_sdk_s3::Client,
    pub rules: RwLock<Arc<RuleSet>>,
    pub sinks: SinkSet,
    pub metrics: Metrics,
    pub filters: Filters,
    pub allowlist: Arc<crate::correlate::allowlist::Allowlist>,
    /// Correlation windows and suppression keys, shared by every message.
    pub stateful: std::sync::Mutex<Stateful>,
    /// The posture monitor, when `audit.enabled`: it re-audits what IAM events change and
    /// adds the actor's posture to alerts.
    pub posture: Option<Arc<PostureMonitor>>,
    /// The events the readers keep for the posture monitor (none without it).
    pub watch: Watch,
    /// Alerts and observations read but not yet delivered, over every message in flight (see
    /// [`Batches`]).
    pub budget: Arc<Semaphore>,
    /// The table every replica shares (`[state] backend = "dynamodb"`): correlation groups and
    /// suppression windows here, delivered alert ids in the sinks.
    pub shared: Option<Arc<Table>>,
}

impl Context {
    pub fn rules(&self) -> Arc<RuleSet> {
        self.rules.read().expect("rules lock").clone()
    }

    fn wanted(&self, obj: &ObjectRef) -> bool {
        if !is_log_key(&obj.key) {
            return false;
        }
        let f = &self.filters;
        if f.key_prefix
            .as_ref()
            .is_some_and(|p| !obj.key.starts_with(p.as_str()))
        {
            return false;
        }
        let layout = key_layout(&obj.key);
        let allowed = |list: &[String], v: &Option<String>| {
            list.is_empty() || v.as_ref().is_some_and(|v| list.contains(v))
        };
        allowed(&f.accounts, &layout.account) && allowed(&f.regions, &layout.region)
    }
}

pub async fn handle(ctx: &Context, receipt: &Receipt, body: &str) -> Outcome {
    let note = match notification::parse(body) {
        Ok(n) => n,
        Err(why) => {
            MessageUnrecognized {
                message_id: &receipt.message_id,
                queue: &receipt.queue,
                why: &why,
            }
            .emit(&ctx.metrics);
            return Outcome::Keep(reason::UNRECOGNIZED);
        }
    };
    let rules = ctx.rules();
    // The observations index this rule set's correlations, whatever a reload does meanwhile.
    let read_with = rules.clone();
    // Reading and delivering run side by side: the readers hand over batches as they read,
    // so an alert-dense object never sits whole in memory.
    let (batches, mut received) = Batches::new(ctx.budget.clone());
    let reading = async move {
        let failure = match note {
            Notification::TestEvent => {
                tracing::info!(message_id = %receipt.message_id, "S3 test event acknowledged");
                None
            }
            Notification::Event => read_event(ctx, &rules, receipt, body, &batches).await,
            Notification::Objects(objects) => {
                let mut failure = None;
                for obj in objects {
                    if let Some(r) = read_one(ctx, &rules, receipt, &obj, &batches).await {
                        failure.get_or_insert(r);
                    }
                }
                failure
            }
        };
        drop(batches);
        failure
    };
    let delivering = async {
        let mut failure = None;
        while let Some((found, _budget)) = received.recv().await {
            if let Err(r) = deliver(ctx, &read_with, receipt, found).await {
                failure.get_or_insert(r);
            }
        }
        failure
    };
    match tokio::join!(reading, delivering) {
        (None, None) => Outcome::Done,
        (Some(r), _) | (None, Some(r)) => Outcome::Keep(r),
    }
}

/// An EventBridge event carrying one CloudTrail record: the body itself is the input.
async fn read_event(
    ctx: &Context,
    rules: &RuleSet,
    receipt: &Receipt,
    body: &str,
    batches: &Batches,
) -> Option<&'static str> {
    let started = Instant::now();
    let origin = Origin::Sqs {
        queue: receipt.queue.clone(),
        message_id: receipt.message_id.clone(),
    };
    let detector = Detector {
        rules,
        origin: &origin,
        allowlist: &ctx.allowlist,
    };
    let mut reading = Reading::new(&ctx.watch);
    let (stats, err) = correlate::scan(body.as_bytes(), &detector, &mut reading);
    InputRead {
        input: &receipt.message_id,
        s3_bytes: None,
        records: stats.records,
        seconds: started.elapsed().as_secs_f64(),
        unusable: stats.record_errors,
        first_unusable: reading.first_bad.as_deref(),
    }
    .emit(&ctx.metrics);
    batches.send(reading.found).await;
    err.map(|e| {
        tracing::warn!(message_id = %receipt.message_id, error = %e, "event could not be read");
        reason::READ_ERROR
    })
}

/// One S3 object named by the message; None when it was read whole (or skipped by a filter).
async fn read_one(
    ctx: &Context,
    rules: &Arc<RuleSet>,
    receipt: &Receipt,
    obj: &ObjectRef,
    batches: &Batches,
) -> Option<&'static str> {
    if !ctx.wanted(obj) {
        ObjectSkipped {
            bucket: &obj.bucket,
            key: &obj.key,
        }
        .emit(&ctx.metrics);
        return None;
    }
    let started = Instant::now();
    let read = read_object(
        &ctx.s3,
        obj,
        rules.clone(),
        ctx.allowlist.clone(),
        ctx.watch.clone(),
        batches,
    )
    .await;
    let seconds = started.elapsed().as_secs_f64();
    match read {
        Ok(read) => {
            InputRead {
                input: &format!("s3://{}/{}", obj.bucket, obj.key),
                s3_bytes: Some(read.stats.bytes),
                records: read.stats.records,
                seconds,
                unusable: read.stats.record_errors,
                first_unusable: read.first_bad_record.as_deref(),
            }
            .emit(&ctx.metrics);
            None
        }
        Err(e) => {
            ObjectFailed {
                message_id: &receipt.message_id,
                reason: e.reason(),
                seconds,
                error: &e,
            }
            .emit(&ctx.metrics);
            Some(e.reason())
        }
    }
}

/// One batch: correlation and suppression (in event-time order within the batch, over the
/// state every message shares, or every replica with the shared table), posture, counting,
/// and every sink.
async fn deliver(
    ctx: &Context,
    rules: &RuleSet,
    receipt: &Receipt,
    found: Found,
) -> Result<(), &'static str> {
    for rule in &found.excluded {
        AlertExcluded { rule }.emit(&ctx.metrics);
    }
    if let Some(posture) = &ctx.posture {
        found.watched.iter().for_each(|r| posture.observe(r));
    }
    let decided = ctx.stateful.lock().expect("state lock").decide(
        found.alerts,
        found.observations,
        &ctx.metrics,
    );
    let mut alerts = decided.send;
    if let Some(table) = &ctx.shared {
        let shared = decide_shared(ctx, table, rules, decided.to_correlate, decided.to_suppress);
        alerts.extend(shared.await?);
    }
    if let Some(posture) = &ctx.posture {
        posture.enrich(&mut alerts);
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    for a in &alerts {
        AlertRaised {
            rule: &a.rule.name,
            level: a.rule.level.as_str(),
            event_time_ms: a.event_time_ms(),
            now_ms,
        }
        .emit(&ctx.metrics);
    }
    let alerts: Vec<Arc<Alert>> = alerts.into_iter().map(Arc::new).collect();
    ctx.sinks.deliver(&alerts).await.map_err(|errors| {
        let sinks: Vec<&str> = errors.iter().map(|e| e.sink.as_str()).collect();
        AlertsNotDelivered {
            message_id: &receipt.message_id,
            sinks: &sinks,
            first_error: &errors[0],
        }
        .emit(&ctx.metrics);
        reason::SINK_FAILED
    })
}

/// The shared table's part of a batch: correlation groups, then suppression windows (for base
/// and correlation alerts alike). A failed call was logged and counted where it failed; the
/// message stays, and its redelivery gets the same decisions (they are idempotent per event
/// and alert id).
async fn decide_shared(
    ctx: &Context,
    table: &Table,
    rules: &RuleSet,
    to_correlate: Vec<Observation>,
    mut to_suppress: Vec<(Alert, Keyed)>,
) -> Result<Vec<Alert>, &'static str> {
    let mut send = Vec::new();
    if !to_correlate.is_empty() {
        let limits = ctx.stateful.lock().expect("state lock").limits();
        let correlated = table
            .correlate_all(rules.correlations(), to_correlate, &limits)
            .await;
        for (rule, late) in &correlated.late {
            let evicted = correlated.dropped.get(rule).copied().unwrap_or(0);
            CorrelationDropped {
                correlation: rule,
                late: *late,
                evicted,
            }
            .emit(&ctx.metrics);
        }
        if correlated.failure.is_some() {
            return Err(reason::STATE_UNAVAILABLE);
        }
        let (free, keyed) = ctx
            .stateful
            .lock()
            .expect("state lock")
            .keyed(correlated.alerts);
        send.extend(free);
        to_suppress.extend(keyed);
    }
    if !to_suppress.is_empty() {
        let shared = table.suppress_all(to_suppress).await;
        for (rule, count) in shared.held {
            AlertsSuppressed { rule: &rule, count }.emit(&ctx.metrics);
        }
        if shared.failure.is_some() {
            return Err(reason::STATE_UNAVAILABLE);
        }
        send.extend(shared.send);
    }
    Ok(send)
}
