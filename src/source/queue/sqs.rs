//! [`Queue`] over Amazon SQS (or anything speaking its API at `AWS_ENDPOINT_URL`).

use std::time::Duration;

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};

use super::{DeleteFailure, Queue, QueueError, Receipt, Received};

pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> SqsQueue {
        SqsQueue {
            client,
            url: url.into(),
        }
    }

    fn error(&self, call: &'static str, e: impl std::error::Error) -> QueueError {
        QueueError {
            call,
            queue: self.url.clone(),
            message: DisplayErrorContext(e).to_string(),
        }
    }
}

/// Whole seconds for an SQS timeout, within its limits (visibility: 12 hours).
fn secs(d: Duration) -> i32 {
    d.as_secs().min(43_200) as i32
}

impl Queue for SqsQueue {
    fn name(&self) -> &str {
        &self.url
    }

    async fn receive(
        &self,
        max: usize,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<Received>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(secs(wait).min(20))
            .visibility_timeout(secs(visibility))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| self.error("ReceiveMessage", e))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let receive_count = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                // SQS always sets both; a message without them could not be deleted anyway.
                Some(Received {
                    receipt: Receipt {
                        queue: self.url.clone(),
                        message_id: m.message_id?,
                        handle: m.receipt_handle?,
                    },
                    body: m.body.unwrap_or_default(),
                    receive_count,
                })
            })
            .collect())
    }

    async fn delete(&self, receipts: &[Receipt]) -> Result<Vec<DeleteFailure>, QueueError> {
        let entries: Vec<DeleteMessageBatchRequestEntry> = receipts
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
        let out = self
            .client
            .delete_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| self.error("DeleteMessageBatch", e))?;
        Ok(out
            .failed
            .into_iter()
            .map(|f| DeleteFailure {
                message_id: f
                    .id
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| receipts.get(i))
                    .map_or_else(|| "?".to_string(), |r| r.message_id.clone()),
                code: f.code,
                message: f.message.unwrap_or_default(),
            })
            .collect())
    }

    async fn set_visibility(
        &self,
        receipt: &Receipt,
        visibility: Duration,
    ) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(&receipt.handle)
            .visibility_timeout(secs(visibility))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.error("ChangeMessageVisibility", e))
    }
}
