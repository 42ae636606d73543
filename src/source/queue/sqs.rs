//! [`Queue`] over Amazon SQS (or anything speaking its API at `AWS_ENDPOINT_URL`).

use std::time::Duration;

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
};

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
        error(call, &self.url, e)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The queue's ARN, visibility timeout and dead-letter queue (from its RedrivePolicy).
    pub async fn describe(&self) -> Result<QueueInfo, QueueError> {
        let attrs = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::QueueArn)
            .attribute_names(QueueAttributeName::VisibilityTimeout)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .map_err(|e| self.error("GetQueueAttributes", e))?
            .attributes
            .unwrap_or_default();
        let get = |name: QueueAttributeName| attrs.get(&name).cloned();
        let dead_letter = match get(QueueAttributeName::RedrivePolicy) {
            None => None,
            Some(policy) => {
                let policy = RedrivePolicy::parse(&policy).map_err(|message| QueueError {
                    call: "GetQueueAttributes",
                    queue: self.url.clone(),
                    message,
                })?;
                Some(DeadLetter {
                    url: url_of(&self.client, &policy.target_arn).await?,
                    name: name_of_arn(&policy.target_arn).to_string(),
                    arn: policy.target_arn,
                    max_receive_count: policy.max_receive_count,
                })
            }
        };
        Ok(QueueInfo {
            arn: get(QueueAttributeName::QueueArn).unwrap_or_default(),
            visibility_secs: get(QueueAttributeName::VisibilityTimeout)
                .and_then(|v| v.parse().ok()),
            dead_letter,
        })
    }
}

/// What [`SqsQueue::describe`] tells.
#[derive(Debug, Clone)]
pub struct QueueInfo {
    pub arn: String,
    pub visibility_secs: Option<u64>,
    pub dead_letter: Option<DeadLetter>,
}

/// A queue's dead-letter queue, where messages go after `max_receive_count` receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub url: String,
    pub arn: String,
    pub name: String,
    pub max_receive_count: Option<u32>,
}

/// A queue's `RedrivePolicy` attribute, as JSON (maxReceiveCount may be a number or a
/// string).
#[derive(Debug, PartialEq, Eq)]
struct RedrivePolicy {
    target_arn: String,
    max_receive_count: Option<u32>,
}

impl RedrivePolicy {
    fn parse(text: &str) -> Result<RedrivePolicy, String> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("RedrivePolicy is not JSON: {e}"))?;
        let target_arn = v["deadLetterTargetArn"]
            .as_str()
            .ok_or("RedrivePolicy has no deadLetterTargetArn")?
            .to_string();
        let max_receive_count = match &v["maxReceiveCount"] {
            serde_json::Value::Number(n) => n.as_u64().map(|n| n as u32),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        };
        Ok(RedrivePolicy {
            target_arn,
            max_receive_count,
        })
    }
}

/// `arn:aws:sqs:REGION:ACCOUNT:NAME` → NAME.
pub fn name_of_arn(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

/// A queue's URL from its ARN (GetQueueUrl with the name and owner the ARN holds).
pub async fn url_of(client: &aws_sdk_sqs::Client, arn: &str) -> Result<String, QueueError> {
    let parts: Vec<&str> = arn.split(':').collect();
    let (account, name) = match parts.as_slice() {
        [_, _, "sqs", _, account, name] => (*account, *name),
        _ => {
            return Err(QueueError {
                call: "GetQueueUrl",
                queue: arn.to_string(),
                message: "not an SQS queue ARN".into(),
            })
        }
    };
    client
        .get_queue_url()
        .queue_name(name)
        .queue_owner_aws_account_id(account)
        .send()
        .await
        .map_err(|e| error("GetQueueUrl", arn, e))?
        .queue_url
        .ok_or_else(|| QueueError {
            call: "GetQueueUrl",
            queue: arn.to_string(),
            message: "no URL in the answer".into(),
        })
}

/// Messages waiting in a queue (ApproximateNumberOfMessages).
pub async fn depth(client: &aws_sdk_sqs::Client, url: &str) -> Result<u64, QueueError> {
    let attrs = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .map_err(|e| error("GetQueueAttributes", url, e))?
        .attributes
        .unwrap_or_default();
    Ok(attrs
        .get(&QueueAttributeName::ApproximateNumberOfMessages)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

fn error(call: &'static str, queue: &str, e: impl std::error::Error) -> QueueError {
    QueueError {
        call,
        queue: queue.to_string(),
        message: DisplayErrorContext(e).to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redrive_policies_in_both_spellings() {
        let arn = "arn:aws:sqs:us-east-1:111122223333:trail-dlq";
        for text in [
            format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"5"}}"#),
            format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":5}}"#),
        ] {
            assert_eq!(
                RedrivePolicy::parse(&text),
                Ok(RedrivePolicy {
                    target_arn: arn.into(),
                    max_receive_count: Some(5)
                })
            );
        }
        assert!(RedrivePolicy::parse("{}")
            .unwrap_err()
            .contains("deadLetterTargetArn"));
        assert_eq!(name_of_arn(arn), "trail-dlq");
    }
}
