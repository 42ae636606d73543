//! SQS mechanics: receiving, keeping a message invisible while it is worked on, releasing it,
//! and deleting finished messages in background batches.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::metrics::{reason, Metrics};

/// A message's identity for acknowledging it.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub queue_url: String,
    pub message_id: String,
    pub handle: String,
}

pub async fn receive(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    max: i32,
    wait_secs: i32,
    visibility_secs: i32,
) -> Result<Vec<aws_sdk_sqs::types::Message>, String> {
    sqs.receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(max.clamp(1, 10))
        .wait_time_seconds(wait_secs)
        .visibility_timeout(visibility_secs)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .map(|out| out.messages.unwrap_or_default())
        .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
}

/// How many times SQS has handed out this message (`ApproximateReceiveCount`, requested by
/// [`receive`]). A message received again was not deleted before: its last attempt failed,
/// or a consumer died. Logged and counted so that a message that keeps failing is visible
/// before it reaches the dead-letter queue.
pub fn note_receive_count(msg: &aws_sdk_sqs::types::Message, metrics: &Metrics) {
    let count: u32 = msg
        .attributes
        .as_ref()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    if count > 1 {
        metrics.sqs_messages_redelivered_total.inc();
        tracing::warn!(
            message_id = msg.message_id.as_deref().unwrap_or("?"),
            receive_count = count,
            "message received again: an earlier attempt did not finish (it goes to the dead-letter queue after the queue's maxReceiveCount)"
        );
    }
}

/// Renews the message's visibility every half period until `done` is cancelled, so work that
/// outlives the visibility timeout is not handed to another consumer.
pub fn keep_invisible(
    sqs: aws_sdk_sqs::Client,
    receipt: Receipt,
    visibility_secs: i32,
    done: CancellationToken,
) {
    tokio::spawn(async move {
        let period = Duration::from_secs((visibility_secs as u64 / 2).max(1));
        loop {
            tokio::select! {
                _ = done.cancelled() => return,
                _ = tokio::time::sleep(period) => {}
            }
            if done.is_cancelled() {
                return;
            }
            if let Err(e) = sqs
                .change_message_visibility()
                .queue_url(&receipt.queue_url)
                .receipt_handle(&receipt.handle)
                .visibility_timeout(visibility_secs)
                .send()
                .await
            {
                tracing::warn!(message_id = %receipt.message_id, error = %aws_sdk_sqs::error::DisplayErrorContext(e), "could not extend visibility");
            }
        }
    });
}

/// Makes a message visible again at once, for another consumer (used on shutdown).
pub async fn release(sqs: &aws_sdk_sqs::Client, receipt: &Receipt) {
    if let Err(e) = sqs
        .change_message_visibility()
        .queue_url(&receipt.queue_url)
        .receipt_handle(&receipt.handle)
        .visibility_timeout(0)
        .send()
        .await
    {
        tracing::warn!(message_id = %receipt.message_id, error = %aws_sdk_sqs::error::DisplayErrorContext(e), "could not release message");
    }
}

/// Finished messages waiting to be deleted, at most. A message whose alerts were delivered but
/// that is not deleted yet is re-sent after a crash (the sinks' memory of delivered ids goes
/// with the state file, saved periodically), so the backlog is kept small: a full backlog
/// holds up the message tasks, which hold up receiving.
const DELETE_BACKLOG: usize = 100;

/// Deletes finished messages in batches of up to ten, off the receive path, the batches of a
/// round in parallel. Ends when every sender is dropped, after deleting what it was given.
pub fn spawn_deleter(
    sqs: aws_sdk_sqs::Client,
    metrics: Metrics,
) -> (mpsc::Sender<Receipt>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Receipt>(DELETE_BACKLOG);
    let task = tokio::spawn(async move {
        let mut pending: HashMap<String, Vec<Receipt>> = HashMap::new();
        loop {
            let first = rx.recv().await;
            let closed = first.is_none();
            if let Some(r) = first {
                pending.entry(r.queue_url.clone()).or_default().push(r);
                // Gather what arrives in the next moment into the same batches.
                let deadline = tokio::time::Instant::now() + Duration::from_millis(50);
                while let Ok(Some(r)) = tokio::time::timeout_at(deadline, rx.recv()).await {
                    pending.entry(r.queue_url.clone()).or_default().push(r);
                    if pending.values().map(Vec::len).sum::<usize>() >= DELETE_BACKLOG {
                        break;
                    }
                }
            }
            let rounds: Vec<(String, Vec<Receipt>)> = pending.drain().collect();
            let batches = rounds.iter().flat_map(|(queue, receipts)| {
                receipts
                    .chunks(10)
                    .map(|batch| delete_batch(&sqs, &metrics, queue, batch))
            });
            futures_util::future::join_all(batches).await;
            if closed {
                return;
            }
        }
    });
    (tx, task)
}

async fn delete_batch(
    sqs: &aws_sdk_sqs::Client,
    metrics: &Metrics,
    queue: &str,
    batch: &[Receipt],
) {
    let entries: Vec<DeleteMessageBatchRequestEntry> = batch
        .iter()
        .enumerate()
        .map(|(i, r)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(&r.handle)
                .build()
                .expect("id and handle are set")
        })
        .collect();
    match sqs
        .delete_message_batch()
        .queue_url(queue)
        .set_entries(Some(entries))
        .send()
        .await
    {
        Ok(out) => {
            metrics
                .sqs_messages_deleted_total
                .inc_by(out.successful.len() as u64);
            for f in &out.failed {
                let msg = f.id.parse::<usize>().ok().and_then(|i| batch.get(i));
                metrics
                    .sqs_messages_failed_total
                    .with_label_values(&[reason::DELETE_FAILED])
                    .inc();
                tracing::warn!(
                    message_id = msg.map(|m| m.message_id.as_str()).unwrap_or("?"),
                    code = %f.code,
                    error = f.message.as_deref().unwrap_or(""),
                    "delete failed; the message will be redelivered and its alerts deduplicated"
                );
            }
        }
        Err(e) => {
            metrics
                .sqs_messages_failed_total
                .with_label_values(&[reason::DELETE_FAILED])
                .inc_by(batch.len() as u64);
            tracing::warn!(queue, count = batch.len(), error = %aws_sdk_sqs::error::DisplayErrorContext(e), "DeleteMessageBatch failed; the messages will be redelivered and their alerts deduplicated");
        }
    }
}
