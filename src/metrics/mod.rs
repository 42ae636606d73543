//! Prometheus metrics, all prefixed `trailwatch_`, and the health endpoints.
//!
//! Every label has a bounded set of values: rule names come from the loaded rules, sink
//! names from the configuration, reasons and results from fixed lists in the code.

pub mod events;
pub mod http;

use std::cell::RefCell;

use prometheus::core::Collector;
use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub alerts_total: IntCounterVec,
    pub alerts_excluded_total: IntCounterVec,
    pub alerts_suppressed_total: IntCounterVec,
    pub correlation_groups: IntGauge,
    pub correlation_late_events_total: IntCounterVec,
    pub correlation_evicted_total: IntCounterVec,
    pub events_total: IntCounter,
    pub sqs_messages_received_total: IntCounter,
    pub sqs_messages_deleted_total: IntCounter,
    pub sqs_messages_failed_total: IntCounterVec,
    pub sqs_messages_redelivered_total: IntCounter,
    pub s3_objects_total: IntCounterVec,
    pub s3_bytes_total: IntCounter,
    pub sink_deliveries_total: IntCounterVec,
    pub state_errors_total: IntCounterVec,
    pub processing_seconds: Histogram,
    pub event_lag_seconds: Histogram,
    pub in_flight_messages: IntGauge,
    /// Messages read in full whose delivery failed, kept invisible and retried here.
    pub held_messages: IntGauge,
    /// Per sink: 1 while it accepts alerts, 0 after a delivery it failed.
    pub sink_up: IntGaugeVec,
    /// Messages in each consumed queue's dead-letter queue (from its RedrivePolicy).
    pub dlq_messages: IntGaugeVec,
    pub rules_loaded: IntGauge,
    /// 1 while /readyz answers 200; set when scraped.
    pub ready: IntGauge,
    pub build_info: IntGaugeVec,
    pub posture_findings: IntGaugeVec,
    pub posture_last_run_timestamp_seconds: IntGauge,
    pub posture_audit_seconds: Histogram,
    pub posture_audits_total: IntCounterVec,
    pub posture_changes_total: IntCounterVec,
    pub findings_total: IntCounterVec,
    /// The full name of every series registered, whether or not it has a sample yet.
    names: Vec<String>,
}

/// Why a message was not finished: the `reason` label of `sqs_messages_failed_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No notification shape trailwatch knows; left for the dead-letter queue.
    Unrecognized,
    /// The object named is gone (NoSuchKey).
    ObjectMissing,
    /// S3 or KMS refused the read.
    AccessDenied,
    /// The object or event could not be read to its end.
    ReadError,
    /// A sink did not accept every alert.
    SinkFailed,
    /// The shared state table could not decide.
    StateUnavailable,
    /// The delete after a finished message failed.
    DeleteFailed,
    /// Made visible again at shutdown, unfinished.
    Released,
}

impl Reason {
    pub const ALL: [Reason; 8] = [
        Reason::Unrecognized,
        Reason::ObjectMissing,
        Reason::AccessDenied,
        Reason::ReadError,
        Reason::SinkFailed,
        Reason::StateUnavailable,
        Reason::DeleteFailed,
        Reason::Released,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unrecognized => "unrecognized",
            Reason::ObjectMissing => "object_missing",
            Reason::AccessDenied => "access_denied",
            Reason::ReadError => "read_error",
            Reason::SinkFailed => "sink_failed",
            Reason::StateUnavailable => "state_unavailable",
            Reason::DeleteFailed => "delete_failed",
            Reason::Released => "released_on_shutdown",
        }
    }

    /// Whether the message was read in full and only its delivery failed: a sink or the
    /// shared state was down. Such a message is held, not left to climb towards the
    /// dead-letter queue.
    pub fn is_delivery(self) -> bool {
        matches!(self, Reason::SinkFailed | Reason::StateUnavailable)
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new_custom(Some("trailwatch".into()), None).expect("valid prefix");
        let names = RefCell::new(Vec::new());
        let register = |c: Box<dyn Collector>| {
            for d in c.desc() {
                names.borrow_mut().push(format!("trailwatch_{}", d.fq_name));
            }
            registry.register(c).expect("unique metric");
        };
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            register(Box::new(c.clone()));
            c
        };
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            register(Box::new(c.clone()));
            c
        };
        let histogram = |name: &str, help: &str, buckets: Vec<f64>| {
            let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
                .expect("valid metric");
            register(Box::new(h.clone()));
            // Prometheus stores a histogram as these series; queries name them.
            for suffix in ["_bucket", "_sum", "_count"] {
                names
                    .borrow_mut()
                    .push(format!("trailwatch_{name}{suffix}"));
            }
            h
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            register(Box::new(g.clone()));
            g
        };
        let build_info = IntGaugeVec::new(
            Opts::new(
                "build_info",
                "Always 1; the version label says which trailwatch runs",
            ),
            &["version"],
        )
        .expect("valid metric");
        register(Box::new(build_info.clone()));
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
            register(Box::new(g.clone()));
            g
        };
        Metrics {
            posture_findings: gauge_vec(
                "posture_findings",
                "Findings of the last posture audit, by check, severity and status",
                &["check", "severity", "status"],
            ),
            posture_last_run_timestamp_seconds: gauge(
                "posture_last_run_timestamp_seconds",
                "When the last full posture audit finished (Unix time)",
            ),
            posture_audit_seconds: histogram(
                "posture_audit_seconds",
                "Time a posture audit took, full or re-audit after an event",
                vec![0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0],
            ),
            posture_audits_total: counter_vec(
                "posture_audits_total",
                "Posture audits run, by kind (full, event) and result (ok, error: some API call failed)",
                &["kind", "result"],
            ),
            posture_changes_total: counter_vec(
                "posture_changes_total",
                "Posture changes sent to the sinks, by change (failed, resolved)",
                &["change"],
            ),
            findings_total: counter_vec(
                "findings_total",
                "Findings of the security services read from the queue, by service (securityhub, guardduty, access-analyzer) and outcome (sent, below_threshold, excluded, own: trailwatch's imports echoed back, closed: archived, resolved or passed)",
                &["service", "outcome"],
            ),
            alerts_total: counter_vec(
                "alerts_total",
                "Alerts raised, by rule and level",
                &["rule", "level"],
            ),
            alerts_excluded_total: counter_vec(
                "alerts_excluded_total",
                "Rule matches that a filter document or a config exclusion excluded, by rule",
                &["rule"],
            ),
            alerts_suppressed_total: counter_vec(
                "alerts_suppressed_total",
                "Alerts held back by a suppression window, by rule",
                &["rule"],
            ),
            correlation_groups: gauge(
                "correlation_groups",
                "Open correlation groups (windows being counted)",
            ),
            correlation_late_events_total: counter_vec(
                "correlation_late_events_total",
                "Events older than the correlation lateness allows, not counted, by correlation",
                &["rule"],
            ),
            correlation_evicted_total: counter_vec(
                "correlation_evicted_total",
                "Correlation state dropped at its caps (groups evicted, events dropped), by correlation",
                &["rule"],
            ),
            events_total: counter(
                "events_total",
                "CloudTrail records matched against the rules",
            ),
            sqs_messages_received_total: counter(
                "sqs_messages_received_total",
                "SQS messages received",
            ),
            sqs_messages_deleted_total: counter(
                "sqs_messages_deleted_total",
                "SQS messages deleted after full processing",
            ),
            sqs_messages_failed_total: counter_vec(
                "sqs_messages_failed_total",
                "SQS messages left for redelivery, by reason",
                &["reason"],
            ),
            sqs_messages_redelivered_total: counter(
                "sqs_messages_redelivered_total",
                "SQS messages received again after an earlier receive did not delete them",
            ),
            s3_objects_total: counter_vec(
                "s3_objects_total",
                "S3 objects handled, by result",
                &["result"],
            ),
            s3_bytes_total: counter("s3_bytes_total", "Decompressed bytes read from S3 objects"),
            state_errors_total: counter_vec(
                "state_errors_total",
                "Calls to the shared state table (DynamoDB) that failed after retries, by operation",
                &["operation"],
            ),
            sink_deliveries_total: counter_vec(
                "sink_deliveries_total",
                "Alert deliveries by sink and result",
                &["sink", "result"],
            ),
            processing_seconds: histogram(
                "processing_seconds",
                "Time to read and match one S3 object or EventBridge event",
                prometheus::exponential_buckets(0.001, 2.5, 12).expect("valid buckets"),
            ),
            event_lag_seconds: histogram(
                "event_lag_seconds",
                "Alert time minus the event's eventTime",
                vec![
                    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0,
                    21600.0, 86400.0,
                ],
            ),
            in_flight_messages: gauge(
                "in_flight_messages",
                "SQS messages received and not finished (held ones included)",
            ),
            held_messages: gauge(
                "held_messages",
                "SQS messages read in full whose alerts a sink (or the shared state) did not take: kept invisible and retried, not left to reach the dead-letter queue",
            ),
            sink_up: gauge_vec(
                "sink_up",
                "1 while the sink accepts alerts, 0 since a delivery it did not accept",
                &["sink"],
            ),
            dlq_messages: gauge_vec(
                "dlq_messages",
                "Messages waiting in the dead-letter queue of a consumed queue (ApproximateNumberOfMessages), by dead-letter queue name",
                &["queue"],
            ),
            rules_loaded: gauge("rules_loaded", "Rules in the running rule set"),
            ready: gauge(
                "ready",
                "1 while the daemon is ready (/readyz): it has received from SQS and is not draining",
            ),
            build_info,
            names: names.take(),
            registry,
        }
    }

    /// Every series name this daemon can export: each metric's full name, and for histograms
    /// the `_bucket`, `_sum` and `_count` series Prometheus stores.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus::TextEncoder::new()
            .encode_utf8(&self.registry.gather(), &mut out)
            .expect("text encoding cannot fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
