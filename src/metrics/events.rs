//! What the daemon logs and counts, one type per kind of happening: the log line and the
//! metric that record the same thing live together here, so they cannot drift apart, and the
//! code where it happens says only what happened (`MessageReleased { .. }.emit(&metrics)`).

use std::time::Duration;

use super::{reason, Metrics};

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

/// A message left in the queue for redelivery; `reason` is one of [`reason`]. The handler
/// logged the detail where it knew it.
pub struct MessageKept {
    pub reason: &'static str,
}

impl InternalEvent for MessageKept {
    fn emit(self, metrics: &Metrics) {
        metrics
            .sqs_messages_failed_total
            .with_label_values(&[self.reason])
            .inc();
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
            .with_label_values(&[reason::RELEASED])
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
            .with_label_values(&[reason::DELETE_FAILED])
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
