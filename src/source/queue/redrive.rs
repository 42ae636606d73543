//! Moving a dead-letter queue's messages back to the queue they came from, once what made
//! them fail is fixed: with SQS's own move task (StartMessageMoveTask) where the queue and
//! the caller's permissions allow it, else by receiving, sending and deleting them in
//! batches (at least once: a message is deleted from the dead-letter queue only after the
//! send to the source queue succeeded).

use std::time::Duration;

use aws_sdk_sqs::types::{MessageSystemAttributeName, SendMessageBatchRequestEntry};

use super::sqs::DeadLetter;
use super::QueueError;

/// How messages are moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Method {
    /// SQS's move task, or receive/send/delete where it is not available.
    #[default]
    Auto,
    /// Only SQS's move task (StartMessageMoveTask).
    MoveTask,
    /// Receive, send and delete, in batches of ten.
    Copy,
}

/// How far a move has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub moved: u64,
    /// Known for a move task; for copying, the depth seen at the start.
    pub total: Option<u64>,
}

/// What a move did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub moved: u64,
    /// Messages that could not be sent and stay in the dead-letter queue.
    pub failed: u64,
    pub method: Method,
}

/// Moves the messages of `from` to the queue at `to_url` (ARN `to_arn`), at most `max`
/// when given, reporting progress as it goes.
pub async fn redrive(
    client: &aws_sdk_sqs::Client,
    from: &DeadLetter,
    to_url: &str,
    to_arn: &str,
    method: Method,
    max: Option<u64>,
    mut progress: impl FnMut(Progress),
) -> Result<Moved, QueueError> {
    // A move task cannot be capped at a number of messages.
    if method != Method::Copy && max.is_none() {
        match move_task(client, from, to_arn, &mut progress).await {
            Ok(moved) => {
                return Ok(Moved {
                    moved,
                    failed: 0,
                    method: Method::MoveTask,
                })
            }
            Err(e) if method == Method::MoveTask => return Err(e),
            Err(e) => {
                tracing::info!(error = %e, "StartMessageMoveTask not available: moving messages by receive, send and delete");
            }
        }
    }
    copy(client, from, to_url, max, &mut progress).await
}

/// SQS's own move task, followed until it ends.
async fn move_task(
    client: &aws_sdk_sqs::Client,
    from: &DeadLetter,
    to_arn: &str,
    progress: &mut impl FnMut(Progress),
) -> Result<u64, QueueError> {
    let fail = |call: &'static str, message: String| QueueError {
        call,
        queue: from.url.clone(),
        message,
    };
    let started = client
        .start_message_move_task()
        .source_arn(&from.arn)
        .destination_arn(to_arn)
        .send()
        .await
        .map_err(|e| {
            fail(
                "StartMessageMoveTask",
                aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
            )
        })?;
    // Only a running task has its handle in the listing: the newest task is ours.
    let _ = started.task_handle;
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let tasks = client
            .list_message_move_tasks()
            .source_arn(&from.arn)
            .send()
            .await
            .map_err(|e| {
                fail(
                    "ListMessageMoveTasks",
                    aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
                )
            })?;
        let Some(task) = tasks.results().first() else {
            continue;
        };
        let moved = task.approximate_number_of_messages_moved().max(0) as u64;
        progress(Progress {
            moved,
            total: task
                .approximate_number_of_messages_to_move()
                .map(|n| n as u64),
        });
        match task.status() {
            Some("COMPLETED") => return Ok(moved),
            Some(status @ ("FAILED" | "CANCELLED")) => {
                return Err(fail(
                    "ListMessageMoveTasks",
                    format!(
                        "move task {status}: {}",
                        task.failure_reason().unwrap_or("no reason given")
                    ),
                ))
            }
            _ => {}
        }
    }
}

/// Receive, send, delete, ten at a time, until the dead-letter queue is empty (or `max`).
async fn copy(
    client: &aws_sdk_sqs::Client,
    from: &DeadLetter,
    to_url: &str,
    max: Option<u64>,
    progress: &mut impl FnMut(Progress),
) -> Result<Moved, QueueError> {
    let total = super::sqs::depth(client, &from.url).await.ok();
    let (mut moved, mut failed) = (0u64, 0u64);
    let err = |call: &'static str, queue: &str, e: String| QueueError {
        call,
        queue: queue.to_string(),
        message: e,
    };
    loop {
        let want = max.map_or(10, |m| m.saturating_sub(moved + failed).min(10)) as i32;
        if want == 0 {
            break;
        }
        let received = client
            .receive_message()
            .queue_url(&from.url)
            .max_number_of_messages(want)
            .wait_time_seconds(1)
            // Long enough to send and delete; a message not deleted comes back.
            .visibility_timeout(120)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .message_system_attribute_names(MessageSystemAttributeName::MessageDeduplicationId)
            .send()
            .await
            .map_err(|e| {
                err(
                    "ReceiveMessage",
                    &from.url,
                    aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
                )
            })?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        let entries: Vec<SendMessageBatchRequestEntry> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let system = |name| m.attributes.as_ref().and_then(|a| a.get(&name)).cloned();
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(m.body.clone().unwrap_or_default())
                    .set_message_attributes(m.message_attributes.clone())
                    .set_message_group_id(system(MessageSystemAttributeName::MessageGroupId))
                    .set_message_deduplication_id(system(
                        MessageSystemAttributeName::MessageDeduplicationId,
                    ))
                    .build()
                    .expect("id and body are set")
            })
            .collect();
        let sent = client
            .send_message_batch()
            .queue_url(to_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                err(
                    "SendMessageBatch",
                    to_url,
                    aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
                )
            })?;
        for f in sent.failed() {
            tracing::warn!(
                code = f.code(),
                message = f.message(),
                "a message could not be sent back; it stays in the dead-letter queue"
            );
        }
        failed += sent.failed().len() as u64;
        let deletes: Vec<_> = sent
            .successful()
            .iter()
            .filter_map(|ok| {
                let m = &messages[ok.id().parse::<usize>().ok()?];
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(ok.id())
                    .receipt_handle(m.receipt_handle.clone()?)
                    .build()
                    .ok()
            })
            .collect();
        if !deletes.is_empty() {
            let deleted = client
                .delete_message_batch()
                .queue_url(&from.url)
                .set_entries(Some(deletes))
                .send()
                .await
                .map_err(|e| {
                    err(
                        "DeleteMessageBatch",
                        &from.url,
                        aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
                    )
                })?;
            // Sent but not deleted: the message is in both queues, and the daemon's
            // alert-id dedupe absorbs the second delivery.
            moved += deleted.successful().len() as u64;
        }
        progress(Progress { moved, total });
    }
    Ok(Moved {
        moved,
        failed,
        method: Method::Copy,
    })
}
