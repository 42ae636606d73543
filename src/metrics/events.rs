//! What the daemon logs and counts, one type per kind of happening: the log line and the
//! metric that record the same thing live together here, so they cannot drift apart, and the
//! code where it happens says only what happened (`MessageReleased { .. }.emit(&metrics)`).

use std::time::Duration;

use super::{Metrics, Reason};

/// Something worth a log line and a metric.
pub trait InternalEvent {
    fn emit(self, metrics: &Metrics);
}

/// A receive returned messages.
pub struct MessagesReceived {
    pub count: usize,
}

impl InternalEvent for MessagesReceived {
    fn emit(self, metrics: &Metrics) {
        metrics
            .sqs_messages_received_total
            .inc_by(self.count as u64);
    }
}

/// A message handed out again: an earlier attempt did not finish. Counted so that a message
/// that keeps failing is visible before it reaches the dead-letter queue.
pub struct MessageRedelivered<'a> {
    pub message_id: &'a str,
    pub receive_count: u32,
}

impl InternalEvent for MessageRedelivered<'_> {
    fn emit(self, metrics: &Metrics) {
        metrics.sqs_messages_redelivered_total.inc();
        tracing::warn!(
            message_id = self.message_id,
            receive_count = self.receive_count,
            "message received again: an earlier attempt did not finish (it goes to the dead-letter queue after the queue's maxReceiveCount)"
        );
    }
}

/// A receive failed as a whole; the receiver waits before the next.
pub struct ReceiveFailed<'a> {
    pub queue: &'a str,
    pub error: &'a dyn std::fmt::Display,
    pub wait: Duration,
}

impl InternalEvent for ReceiveFailed<'_> {
    fn emit(self, _: &Metrics) {
        tracing::warn!(queue = self.queue, error = %self.error, wait = ?self.wait, "ReceiveMessage failed");
    }
}

/// A message left in the queue for redelivery. The handler logged the detail where it knew
/// it.
pub struct MessageKept {
    pub reason: Reason,
}

impl InternalEvent for MessageKept {
    fn emit(self, metrics: &Metrics) {
        metrics
            .sqs_messages_failed_total
            .with_label_values(&[self.reason.as_str()])
            .inc();
    }
}

/// A message read in full whose delivery failed is held: kept invisible and tried again
/// after `wait` (or as soon as a sink that was down accepts again), instead of being left
/// to come back and climb towards the dead-letter queue. Logged on its first hold only.
pub struct MessageHeld<'a> {
    pub message_id: &'a str,
    pub reason: Reason,
    pub first: bool,
    pub wait: Duration,
}

impl InternalEvent for MessageHeld<'_> {
    fn emit(self, metrics: &Metrics) {
        if self.first {
            metrics.held_messages.inc();
            tracing::warn!(message_id = self.message_id, reason = self.reason.as_str(), wait = ?self.wait,
                "delivery failed: message held (kept invisible) until it can be delivered");
        } else {
            tracing::debug!(message_id = self.message_id, wait = ?self.wait, "message still held");
        }
    }
}

/// A held message is no longer held: delivered, released at shutdown, or given back to the
/// queue at SQS's 12-hour limit on keeping a message invisible.
pub struct MessageUnheld<'a> {
    pub message_id: &'a str,
    pub held_for: Duration,
    pub delivered: bool,
}

impl InternalEvent for MessageUnheld<'_> {
    fn emit(self, metrics: &Metrics) {
        metrics.held_messages.dec();
        if self.delivered {
            tracing::info!(message_id = self.message_id, held_for = ?self.held_for, "held message delivered");
        } else {
            tracing::warn!(message_id = self.message_id, held_for = ?self.held_for, "held message given back to the queue undelivered");
        }
    }
}

/// An unfinished message made visible again at shutdown, for another consumer.
pub struct MessageReleased<'a> {
    pub message_id: &'a str,
    pub error: Option<&'a dyn std::fmt::Display>,
}

impl InternalEvent for MessageReleased<'_> {
    fn emit(self, metrics: &Metrics) {
        metrics
            .sqs_messages_failed_total
            .with_label_values(&[Reason::Released.as_str()])
            .inc();
        match self.error {
            None => tracing::info!(message_id = self.message_id, "unfinished message released"),
            Some(e) => {
                tracing::warn!(message_id = self.message_id, error = %e, "could not release message; it returns when its visibility timeout runs out")
            }
        }
    }
}

/// Renewing a message's visibility failed; it may be handed to another consumer while this
/// one still works on it (its alerts are deduplicated).
pub struct VisibilityNotExtended<'a> {
    pub message_id: &'a str,
    pub error: &'a dyn std::fmt::Display,
}

impl InternalEvent for VisibilityNotExtended<'_> {
    fn emit(self, _: &Metrics) {
        tracing::warn!(message_id = self.message_id, error = %self.error, "could not extend visibility");
    }
}

/// Messages deleted.
pub struct MessagesDeleted {
    pub count: usize,
}

impl InternalEvent for MessagesDeleted {
    fn emit(self, metrics: &Metrics) {
        metrics.sqs_messages_deleted_total.inc_by(self.count as u64);
    }
}

/// A delete refused for one message, or for a whole batch (`message_id` None, `count`
/// messages): they will be handed out again and their alerts deduplicated.
pub struct DeleteFailed<'a> {
    pub queue: &'a str,
    pub message_id: Option<&'a str>,
    pub count: usize,
    pub error: &'a dyn std::fmt::Display,
}

impl InternalEvent for DeleteFailed<'_> {
    fn emit(self, metrics: &Metrics) {
        metrics
            .sqs_messages_failed_total
            .with_label_values(&[Reason::DeleteFailed.as_str()])
            .inc_by(self.count as u64);
        match self.message_id {
            Some(id) => {
                tracing::warn!(queue = self.queue, message_id = id, error = %self.error, "delete failed; the message will be redelivered and its alerts deduplicated")
            }
            None => {
                tracing::warn!(queue = self.queue, count = self.count, error = %self.error, "DeleteMessageBatch failed; the messages will be redelivered and their alerts deduplicated")
            }
        }
    }
}

/// A message that is no known notification shape, or one that is not well formed; left for
/// the dead-letter queue. Logged as a warning the first time this process sees the message
/// (`first`), at debug level on its redeliveries.
pub struct MessageUnrecognized<'a> {
    pub message_id: &'a str,
    pub queue: &'a str,
    pub why: &'a dyn std::fmt::Display,
    pub first: bool,
}

impl InternalEvent for MessageUnrecognized<'_> {
    fn emit(self, _: &Metrics) {
        if self.first {
            tracing::warn!(message_id = self.message_id, queue = self.queue, reason = %self.why,
                "unrecognized message left for the dead-letter queue");
        } else {
            tracing::debug!(message_id = self.message_id, queue = self.queue, reason = %self.why,
                "unrecognized message received again");
        }
    }
}

/// What became of each finding an EventBridge finding event carried.
pub struct FindingsRead<'a> {
    pub message_id: &'a str,
    pub service: &'a str,
    /// (outcome, count): sent, below_threshold, excluded, own, closed.
    pub outcomes: &'a [(&'static str, usize)],
}

impl InternalEvent for FindingsRead<'_> {
    fn emit(self, metrics: &Metrics) {
        for &(outcome, count) in self.outcomes {
            metrics
                .findings_total
                .with_label_values(&[self.service, outcome])
                .inc_by(count as u64);
        }
        tracing::debug!(message_id = self.message_id, service = self.service, outcomes = ?self.outcomes, "finding event read");
    }
}

/// An object a filter (key prefix, account, region) or its key's shape leaves out.
pub struct ObjectSkipped<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
}

impl InternalEvent for ObjectSkipped<'_> {
    fn emit(self, metrics: &Metrics) {
        metrics
            .s3_objects_total
            .with_label_values(&["skipped"])
            .inc();
        tracing::debug!(bucket = self.bucket, key = self.key, "object skipped");
    }
}

/// An S3 object, or the CloudTrail record an EventBridge event carries, read to its end.
pub struct InputRead<'a> {
    /// `s3://BUCKET/KEY`, or the message id of an EventBridge event.
    pub input: &'a str,
    /// The object's size; None for an EventBridge event.
    pub s3_bytes: Option<u64>,
    pub records: u64,
    pub seconds: f64,
    /// Unusable records and the first of them, if any.
    pub unusable: u64,
    pub first_unusable: Option<&'a str>,
}

impl InternalEvent for InputRead<'_> {
    fn emit(self, metrics: &Metrics) {
        metrics.processing_seconds.observe(self.seconds);
        metrics.events_total.inc_by(self.records);
        if let Some(bytes) = self.s3_bytes {
            metrics.s3_objects_total.with_label_values(&["ok"]).inc();
            metrics.s3_bytes_total.inc_by(bytes);
        }
        if let Some(first) = self.first_unusable {
            tracing::warn!(
                input = self.input,
                unusable = self.unusable,
                first,
                "unusable records (the rest was read)"
            );
        }
    }
}

/// An object that could not be read; its message stays in the queue.
pub struct ObjectFailed<'a> {
    pub message_id: &'a str,
    pub reason: Reason,
    pub seconds: f64,
    pub error: &'a dyn std::fmt::Display,
}

impl InternalEvent for ObjectFailed<'_> {
    fn emit(self, metrics: &Metrics) {
        metrics.processing_seconds.observe(self.seconds);
        let result = match self.reason {
            Reason::ObjectMissing => "missing",
            Reason::AccessDenied => "denied",
            _ => "error",
        };
        metrics.s3_objects_total.with_label_values(&[result]).inc();
        tracing::error!(message_id = self.message_id, error = %self.error, "object not read; the message stays in the queue");
    }
}

/// A rule's match that a filter document or an exclusion kept from alerting.
pub struct AlertExcluded<'a> {
    pub rule: &'a str,
}

impl InternalEvent for AlertExcluded<'_> {
    fn emit(self, metrics: &Metrics) {
        metrics
            .alerts_excluded_total
            .with_label_values(&[self.rule])
            .inc();
    }
}

/// An alert decided (after correlation and suppression) and about to go to the sinks.
pub struct AlertRaised<'a> {
    pub rule: &'a str,
    pub level: &'a str,
    /// The event's time, for how far behind the event the alert is.
    pub event_time_ms: Option<i64>,
    pub now_ms: i64,
}

impl InternalEvent for AlertRaised<'_> {
    fn emit(self, metrics: &Metrics) {
        metrics
            .alerts_total
            .with_label_values(&[self.rule, self.level])
            .inc();
        if let Some(t) = self.event_time_ms {
            let lag = (self.now_ms - t) as f64 / 1000.0;
            metrics.event_lag_seconds.observe(lag.max(0.0));
        }
    }
}

/// Alerts some sink did not accept after its retries; the message is held until they are.
pub struct AlertsNotDelivered<'a> {
    pub message_id: &'a str,
    /// The sinks that failed, and the first one's error.
    pub sinks: &'a [&'a str],
    pub first_error: &'a dyn std::fmt::Display,
}

impl InternalEvent for AlertsNotDelivered<'_> {
    fn emit(self, _: &Metrics) {
        tracing::warn!(message_id = self.message_id, sinks = ?self.sinks, first_error = %self.first_error, "alerts not delivered; the message is held until they are");
    }
}

/// Events a correlation did not count: `late` ones older than `correlation.lateness`, and
/// `evicted` ones (groups or events dropped at `max_groups` / `max_events_per_group`).
pub struct CorrelationDropped<'a> {
    pub correlation: &'a str,
    pub late: u64,
    pub evicted: u64,
}

impl InternalEvent for CorrelationDropped<'_> {
    fn emit(self, metrics: &Metrics) {
        metrics
            .correlation_late_events_total
            .with_label_values(&[self.correlation])
            .inc_by(self.late);
        metrics
            .correlation_evicted_total
            .with_label_values(&[self.correlation])
            .inc_by(self.evicted);
        if self.late > 0 {
            tracing::warn!(
                correlation = self.correlation,
                events = self.late,
                "events older than correlation.lateness were not counted"
            );
        }
    }
}

/// Alerts of a rule held back by its suppression window.
pub struct AlertsSuppressed<'a> {
    pub rule: &'a str,
    pub count: u64,
}

impl InternalEvent for AlertsSuppressed<'_> {
    fn emit(self, metrics: &Metrics) {
        metrics
            .alerts_suppressed_total
            .with_label_values(&[self.rule])
            .inc_by(self.count);
    }
}

/// A posture audit finished: `kind` is `full` (every check of an account) or `event` (the
/// scope a CloudTrail event changed). `errors` counts checks that could not be decided.
pub struct PostureAudited<'a> {
    pub kind: &'static str,
    pub account: &'a str,
    /// For `event` audits: what was re-read, and the event that asked for it.
    pub scope: Option<&'a dyn std::fmt::Debug>,
    pub event: Option<&'a str>,
    pub changes: usize,
    pub errors: usize,
    pub seconds: f64,
}

impl InternalEvent for PostureAudited<'_> {
    fn emit(self, metrics: &Metrics) {
        metrics.posture_audit_seconds.observe(self.seconds);
        let result = if self.errors == 0 { "ok" } else { "error" };
        metrics
            .posture_audits_total
            .with_label_values(&[self.kind, result])
            .inc();
        match (self.scope, self.event) {
            (Some(scope), Some(event)) => tracing::info!(
                account = self.account,
                ?scope,
                event,
                changes = self.changes,
                errors = self.errors,
                seconds = self.seconds,
                "posture re-audit done"
            ),
            _ => tracing::info!(
                account = self.account,
                changes = self.changes,
                errors = self.errors,
                seconds = self.seconds,
                "posture audit done"
            ),
        }
    }
}

/// A call to the shared state table failed after the SDK's retries; the message that needed it
/// stays in the queue.
pub struct StateCallFailed<'a> {
    pub operation: &'static str,
    pub error: &'a dyn std::fmt::Display,
}

impl InternalEvent for StateCallFailed<'_> {
    fn emit(self, metrics: &Metrics) {
        metrics
            .state_errors_total
            .with_label_values(&[self.operation])
            .inc();
        tracing::warn!(operation = self.operation, error = %self.error, "shared state call failed");
    }
}
