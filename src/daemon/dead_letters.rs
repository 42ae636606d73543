//! `trailwatch_dlq_messages{queue}`: how many messages wait in the dead-letter queue of each
//! consumed queue, read from the queue's RedrivePolicy and counted every
//! `sqs.dead_letter_check_secs`. Messages there are notifications trailwatch gave up on;
//! `trailwatch redrive` moves them back once the cause is fixed.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::source::queue::sqs::{depth, SqsQueue};

pub async fn watch(
    queues: Vec<Arc<SqsQueue>>,
    client: aws_sdk_sqs::Client,
    metrics: Metrics,
    every: Duration,
    stop: CancellationToken,
) {
    let mut said = HashSet::new();
    loop {
        for queue in &queues {
            let dead_letter = match queue.describe().await {
                Ok(info) => info.dead_letter,
                Err(e) => {
                    tracing::debug!(error = %e, "dead-letter queue not counted");
                    continue;
                }
            };
            let Some(dl) = dead_letter else {
                if said.insert(queue.url().to_string()) {
                    tracing::warn!(queue = queue.url(), "the queue has no dead-letter queue (RedrivePolicy): a message that always fails is received again until it expires");
                }
                continue;
            };
            match depth(&client, &dl.url).await {
                Ok(n) => metrics
                    .dlq_messages
                    .with_label_values(&[&dl.name])
                    .set(n as i64),
                Err(e) => tracing::debug!(error = %e, "dead-letter queue not counted"),
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
