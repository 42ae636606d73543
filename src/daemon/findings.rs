//! An EventBridge event of Security Hub, GuardDuty or Access Analyzer on the queue: its
//! findings at or above `[findings] min_severity`, not excluded, with the posture of the
//! principal they name, go to the sinks like alerts. The message is deleted once every sink
//! accepted them, held while a sink is down, and left for the dead-letter queue when it is
//! not a finding event trailwatch can read.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::alert::service_finding::{self, ServiceFinding, Verdict};
use crate::metrics::events::{FindingsRead, InternalEvent};
use crate::source::queue::Receipt;

use super::consumer::Outcome;
use super::message::Context;

pub async fn handle(
    ctx: &Context,
    receipt: &Receipt,
    body: &str,
    stop: &CancellationToken,
) -> Outcome {
    let event: serde_json::Value = match serde_json::from_str(body) {
        Ok(v) => v,
        // The consumer parsed it as JSON to route it here.
        Err(_) => serde_json::Value::Null,
    };
    // EventBridge → SNS → SQS delivers the event inside SNS's envelope.
    let event = match (
        event.get("Type").and_then(serde_json::Value::as_str),
        event.get("Message").and_then(serde_json::Value::as_str),
    ) {
        (Some("Notification"), Some(inner)) => {
            serde_json::from_str(inner).unwrap_or(serde_json::Value::Null)
        }
        _ => event,
    };
    let read = match service_finding::from_event(&event) {
        Ok(r) => r,
        Err(why) => return super::message::unrecognized(ctx, receipt, &why),
    };
    // A metric label: one of the three services, whatever the event claims.
    let service = match event.get("source").and_then(serde_json::Value::as_str) {
        Some("aws.securityhub") => "securityhub",
        Some("aws.guardduty") => "guardduty",
        Some("aws.access-analyzer") => "access-analyzer",
        _ => "unknown",
    };
    let mut outcomes = vec![("own", read.own), ("closed", read.closed)];
    let mut send: Vec<Arc<ServiceFinding>> = Vec::new();
    for mut f in read.findings {
        let verdict = ctx.findings.judge(&f);
        match outcomes.iter_mut().find(|(o, _)| *o == verdict.as_str()) {
            Some((_, n)) => *n += 1,
            None => outcomes.push((verdict.as_str(), 1)),
        }
        if verdict == Verdict::Send {
            if let (Some(posture), Some(arn)) = (&ctx.posture, &f.principal) {
                f.posture = posture.of_principal(arn);
            }
            send.push(Arc::new(f));
        }
    }
    outcomes.retain(|(_, n)| *n > 0);
    FindingsRead {
        message_id: &receipt.message_id,
        service,
        outcomes: &outcomes,
    }
    .emit(&ctx.metrics);
    match ctx.sinks.deliver_until(&send, stop).await {
        Ok(()) => Outcome::Done,
        Err(_) if stop.is_cancelled() => Outcome::Stopped,
        Err(errors) => Outcome::Hold(super::message::not_delivered(ctx, receipt, &errors)),
    }
}
