//! One SQS message, start to finish: what it names, reading it, matching, and delivering the
//! alerts. The outcome says whether the message may be deleted, must be held until its
//! alerts can be delivered, or is left for redelivery.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::alert::{Alert, Origin};
use crate::audit::permissions::usage::UseReader;
use crate::config::Filters;
use crate::metrics::events::{
    AlertExcluded, AlertRaised, AlertsNotDelivered, AlertsSuppressed, CorrelationDropped,
    InputRead, InternalEvent, MessageUnrecognized, ObjectFailed, ObjectSkipped,
};
use crate::metrics::{Metrics, Reason};
use crate::rules::RuleSet;
use crate::sink::SinkSet;
use crate::source::notification::{self, is_log_key, key_layout, Notification, ObjectRef};
use crate::source::queue::{Receipt, Received};
use crate::state::{Batch, State};

use super::consumer::Outcome;
use super::handover::{Batches, Found, Watch};
use super::posture::PostureMonitor;
use super::read::{read_event, read_object, Matching, ObjectRead};

/// What the consumer needs to handle messages; shared by every message task.
pub struct Context {
    pub s3: aws_sdk_s3::Client,
    pub rules: RwLock<Arc<RuleSet>>,
    pub sinks: SinkSet,
    pub metrics: Metrics,
    pub filters: Filters,
    pub exclusions: Arc<crate::detect::exclusions::Exclusions>,
    /// Correlation windows, suppression keys and what each sink accepted, shared by every
    /// message (and, with the shared table, every replica).
    pub state: Arc<dyn State>,
    /// The posture monitor, when `audit.enabled`: it re-audits what IAM events change and
    /// adds the actor's posture to alerts.
    pub posture: Option<Arc<PostureMonitor>>,
    /// The events the readers keep for the posture monitor (none without it).
    pub watch: Watch,
    /// `[usage] record`: readers record what each principal used, kept in `state`.
    pub record_usage: bool,
    /// Alerts and observations read but not yet delivered, over every message in flight (see
    /// [`Batches`]).
    pub budget: Arc<Semaphore>,
    /// Unrecognized messages already logged, so a message is reported once, not once per
    /// redelivery.
    pub unrecognized: moka::sync::Cache<String, ()>,
    /// `[findings]`: which findings of the security services are sent.
    pub findings: crate::alert::service_finding::FindingsConfig,
}

/// Unrecognized message ids remembered (for a day) so each is logged once.
pub fn unrecognized_memory() -> moka::sync::Cache<String, ()> {
    moka::sync::Cache::builder()
        .max_capacity(10_000)
        .time_to_live(Duration::from_secs(24 * 3600))
        .build()
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

/// A message trailwatch cannot handle: logged once (at debug level on its redeliveries),
/// counted, and left for the dead-letter queue.
pub fn unrecognized(ctx: &Context, receipt: &Receipt, why: &dyn std::fmt::Display) -> Outcome {
    let first = !ctx.unrecognized.contains_key(&receipt.message_id);
    ctx.unrecognized.insert(receipt.message_id.clone(), ());
    MessageUnrecognized {
        message_id: &receipt.message_id,
        queue: &receipt.queue,
        why,
        first,
    }
    .emit(&ctx.metrics);
    Outcome::Retry(Reason::Unrecognized)
}

pub async fn handle(ctx: &Context, message: &Received, stop: &CancellationToken) -> Outcome {
    let (receipt, body) = (&message.receipt, message.body.as_str());
    let note = match notification::parse(body) {
        Ok(n) => n,
        Err(why) => return unrecognized(ctx, receipt, &why),
    };
    if note == Notification::Findings {
        return super::findings::handle(ctx, receipt, body, stop).await;
    }
    let rules = ctx.rules();
    // The observations index this rule set's correlations, whatever a reload does meanwhile.
    let read_with = rules.clone();
    let matching = Matching {
        uses: ctx.record_usage.then(|| UseReader::new(rules.fields())),
        rules,
        exclusions: ctx.exclusions.clone(),
        watch: ctx.watch.clone(),
    };
    // Reading and delivering run side by side: the readers hand over batches as they read,
    // so an alert-dense object never sits whole in memory.
    let (batches, mut received) = Batches::new(ctx.budget.clone());
    let reading = async move {
        let failure = match note {
            Notification::TestEvent => {
                tracing::info!(message_id = %receipt.message_id, "S3 test event acknowledged");
                None
            }
            Notification::Event => one_event(ctx, &matching, receipt, body, &batches).await,
            Notification::Findings => None,
            Notification::Objects(objects) => {
                let mut failure = None;
                for obj in objects {
                    if stop.is_cancelled() {
                        failure.get_or_insert(Reason::Released);
                        break;
                    }
                    if let Some(r) = one_object(ctx, &matching, receipt, &obj, &batches, stop).await
                    {
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
            // Once stopping, batches are only taken (so the reader never waits on the
            // budget) and dropped: the message is released and read again elsewhere.
            if stop.is_cancelled() {
                failure.get_or_insert(Reason::Released);
                continue;
            }
            if let Err(r) = deliver(ctx, &read_with, receipt, found, stop).await {
                failure.get_or_insert(r);
            }
        }
        failure
    };
    match tokio::join!(reading, delivering) {
        (None, None) => Outcome::Done,
        _ if stop.is_cancelled() => Outcome::Stopped,
        (Some(r), _) => Outcome::Retry(r),
        (None, Some(r)) if r.is_delivery() => Outcome::Hold(r),
        (None, Some(r)) => Outcome::Retry(r),
    }
}

/// An EventBridge event carrying one CloudTrail record: the body itself is the input.
async fn one_event(
    ctx: &Context,
    matching: &Matching,
    receipt: &Receipt,
    body: &str,
    batches: &Batches,
) -> Option<Reason> {
    let origin = Origin::Sqs {
        queue: receipt.queue.clone(),
        message_id: receipt.message_id.clone(),
    };
    let (read, err) = read_event(body, &origin, matching, batches).await;
    input_read(ctx, &receipt.message_id, None, &read);
    err.map(|e| {
        tracing::warn!(message_id = %receipt.message_id, error = %e, "event could not be read");
        Reason::ReadError
    })
}

/// One S3 object named by the message; None when it was read whole (or skipped by a filter).
async fn one_object(
    ctx: &Context,
    matching: &Matching,
    receipt: &Receipt,
    obj: &ObjectRef,
    batches: &Batches,
    stop: &CancellationToken,
) -> Option<Reason> {
    if !ctx.wanted(obj) {
        ObjectSkipped {
            bucket: &obj.bucket,
            key: &obj.key,
        }
        .emit(&ctx.metrics);
        return None;
    }
    let started = std::time::Instant::now();
    match read_object(&ctx.s3, obj, matching, batches, stop).await {
        Ok(read) => {
            let name = format!("s3://{}/{}", obj.bucket, obj.key);
            input_read(ctx, &name, Some(read.stats.bytes), &read);
            None
        }
        Err(_) if stop.is_cancelled() => Some(Reason::Released),
        Err(e) => {
            ObjectFailed {
                message_id: &receipt.message_id,
                reason: e.reason(),
                seconds: started.elapsed().as_secs_f64(),
                error: &e,
            }
            .emit(&ctx.metrics);
            Some(e.reason())
        }
    }
}

fn input_read(ctx: &Context, input: &str, s3_bytes: Option<u64>, read: &ObjectRead) {
    InputRead {
        input,
        s3_bytes,
        records: read.stats.records,
        seconds: read.seconds,
        unusable: read.stats.record_errors,
        first_unusable: read.first_bad_record.as_deref(),
    }
    .emit(&ctx.metrics);
}

/// One batch: correlation and suppression (in event-time order within the batch, over the
/// state every message shares, or every replica with the shared table), posture, counting,
/// and every sink.
async fn deliver(
    ctx: &Context,
    rules: &Arc<RuleSet>,
    receipt: &Receipt,
    found: Found,
    stop: &CancellationToken,
) -> Result<(), Reason> {
    for rule in &found.excluded {
        AlertExcluded { rule }.emit(&ctx.metrics);
    }
    if let Some(posture) = &ctx.posture {
        found.watched.iter().for_each(|r| posture.observe(r));
    }
    let usage = found.usage;
    let decided = ctx
        .state
        .decide(Batch {
            alerts: found.alerts,
            observations: found.observations,
            rules: rules.clone(),
        })
        .await;
    for (rule, count) in &decided.suppressed {
        AlertsSuppressed {
            rule,
            count: *count,
        }
        .emit(&ctx.metrics);
    }
    for (rule, late) in &decided.late {
        CorrelationDropped {
            correlation: rule,
            late: *late,
            evicted: decided.evicted.get(rule).copied().unwrap_or(0),
        }
        .emit(&ctx.metrics);
    }
    ctx.metrics
        .correlation_groups
        .set(decided.open_groups as i64);
    // A failed call was logged and counted where it failed; the message is held and its
    // next attempt gets the same decisions (they are idempotent per event and alert id).
    if decided.failure.is_some() {
        return Err(Reason::StateUnavailable);
    }
    let mut alerts = decided.send;
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
    let delivered = ctx.sinks.deliver_until(&alerts, stop).await;
    // Recorded once the batch is handled, so a held message (read again later) is mostly
    // not counted twice; a use counted twice changes a count, never first or last use.
    if delivered.is_ok() {
        ctx.state.record_usage(usage);
    }
    delivered.map_err(|errors| {
        if stop.is_cancelled() {
            return Reason::Released;
        }
        not_delivered(ctx, receipt, &errors)
    })
}

/// Sinks that did not accept a message's alerts (or findings): logged and counted; the
/// message is held until they do.
pub fn not_delivered(
    ctx: &Context,
    receipt: &Receipt,
    errors: &[crate::sink::SinkError],
) -> Reason {
    let sinks: Vec<&str> = errors.iter().map(|e| e.sink.as_str()).collect();
    AlertsNotDelivered {
        message_id: &receipt.message_id,
        sinks: &sinks,
        first_error: &errors[0],
    }
    .emit(&ctx.metrics);
    Reason::SinkFailed
}
