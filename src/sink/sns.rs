//! Amazon SNS: one message per alert, published in batches of up to ten.

use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use backon::{ExponentialBuilder, Retryable};
use tokio_util::sync::CancellationToken;

use super::{Message, Partial};

/// SNS's limit for a whole Publish/PublishBatch request, with room for the request's own
/// overhead (subjects, attributes, ids).
const MAX_REQUEST_BYTES: usize = 256 * 1024 - 8 * 1024;
const MAX_BATCH: usize = 10;

pub struct SnsSink {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

/// `Subject`: printable ASCII, no line breaks, under 100 characters.
pub fn subject(m: &impl Message) -> String {
    let raw = m.headline();
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if clean.len() <= 99 {
        clean
    } else {
        format!("{}...", &clean[..96])
    }
}

/// The message's JSON, trimmed (an alert without `record`, saying so) when it would not fit
/// in one SNS message.
pub fn body(m: &impl Message) -> String {
    let full = serde_json::to_string(m).expect("messages serialize");
    if full.len() <= MAX_REQUEST_BYTES {
        return full;
    }
    m.trimmed().to_string()
}

fn attr(v: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .expect("data type is set")
}

impl SnsSink {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: String) -> Self {
        SnsSink { client, topic_arn }
    }

    /// GetTopicAttributes on the topic: it exists and the caller may read it.
    pub async fn probe(&self) -> Result<String, String> {
        self.client
            .get_topic_attributes()
            .topic_arn(&self.topic_arn)
            .send()
            .await
            .map(|out| {
                let subs = out
                    .attributes()
                    .and_then(|a| a.get("SubscriptionsConfirmed"))
                    .map_or("?", String::as_str)
                    .to_string();
                format!("{} ({subs} confirmed subscriptions)", self.topic_arn)
            })
            .map_err(|e| aws_sdk_sns::error::DisplayErrorContext(e).to_string())
    }

    /// Publishes the alerts in batches. Once `stop` is cancelled no new batch is started;
    /// one already published reports what SNS accepted.
    pub async fn send<M: Message>(
        &self,
        alerts: &[&M],
        stop: &CancellationToken,
    ) -> Result<(), Partial> {
        let bodies: Vec<String> = alerts.iter().map(|a| body(*a)).collect();
        let mut accepted = Vec::new();
        let mut start = 0;
        while start < alerts.len() {
            if stop.is_cancelled() {
                return Err(Partial {
                    accepted,
                    error: "not sent: shutting down".into(),
                });
            }
            // As many alerts as fit in one request.
            let mut end = start;
            let mut size = 0;
            while end < alerts.len()
                && end - start < MAX_BATCH
                && size + bodies[end].len() <= MAX_REQUEST_BYTES
            {
                size += bodies[end].len();
                end += 1;
            }
            let end = end.max(start + 1);
            match self.publish(&alerts[start..end], &bodies[start..end]).await {
                Ok(()) => accepted.extend(start..end),
                Err(p) => {
                    accepted.extend(p.accepted.iter().map(|i| i + start));
                    return Err(Partial {
                        accepted,
                        error: p.error,
                    });
                }
            }
            start = end;
        }
        Ok(())
    }

    /// One PublishBatch request for the given entries, retried with backoff on errors of the
    /// whole request (throttling, 5xx, connection trouble).
    async fn publish_once<M: Message>(
        &self,
        alerts: &[&M],
        bodies: &[String],
        pending: &[usize],
    ) -> Result<aws_sdk_sns::operation::publish_batch::PublishBatchOutput, String> {
        let attempt = || async {
            let entries: Vec<PublishBatchRequestEntry> = pending
                .iter()
                .map(|&i| {
                    let a = alerts[i];
                    PublishBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message(&bodies[i])
                        .subject(subject(a))
                        .message_attributes("kind", attr(a.kind()))
                        .message_attributes("rule", attr(a.name()))
                        .message_attributes("level", attr(&a.level().to_string()))
                        .message_attributes("account", attr(a.account().unwrap_or("unknown")))
                        .build()
                        .expect("id and message are set")
                })
                .collect();
            self.client
                .publish_batch()
                .topic_arn(&self.topic_arn)
                .set_publish_batch_request_entries(Some(entries))
                .send()
                .await
                .map_err(|e| aws_sdk_sns::error::DisplayErrorContext(e).to_string())
        };
        attempt
            .retry(
                ExponentialBuilder::default()
                    .with_jitter()
                    .with_max_times(3),
            )
            .await
    }

    /// Publishes a batch; entries SNS refuses for transient reasons are tried again.
    async fn publish<M: Message>(&self, alerts: &[&M], bodies: &[String]) -> Result<(), Partial> {
        let mut pending: Vec<usize> = (0..alerts.len()).collect();
        let mut accepted = Vec::new();
        for round in 0..4u32 {
            let out = match self.publish_once(alerts, bodies, &pending).await {
                Ok(o) => o,
                Err(e) => {
                    return Err(Partial {
                        accepted,
                        error: format!("PublishBatch failed: {e}"),
                    })
                }
            };
            for ok in out.successful() {
                if let Some(i) = ok.id().and_then(|id| id.parse::<usize>().ok()) {
                    accepted.push(i);
                }
            }
            let failed: Vec<(usize, String, bool)> = out
                .failed()
                .iter()
                .filter_map(|f| {
                    f.id().parse::<usize>().ok().map(|i| {
                        (
                            i,
                            format!("{}: {}", f.code(), f.message().unwrap_or("")),
                            f.sender_fault(),
                        )
                    })
                })
                .collect();
            if failed.is_empty() {
                return Ok(());
            }
            // Errors that are the caller's fault will not go away by retrying.
            if failed.iter().any(|f| f.2) || round == 3 {
                return Err(Partial {
                    accepted,
                    error: format!("SNS refused {} alerts: {}", failed.len(), failed[0].1),
                });
            }
            pending = failed.into_iter().map(|f| f.0).collect();
            tokio::time::sleep(std::time::Duration::from_millis(200 << round)).await;
        }
        unreachable!("the last round returns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_is_cut_below_100_printable_characters() {
        let a = crate::alert::test_alert::alert(10);
        let s = subject(&a);
        assert!(s.len() < 100, "{s}");
        assert!(s.starts_with("[critical] A very long title"));
        assert!(s.ends_with("..."));
        assert!(s.chars().all(|c| c.is_ascii_graphic() || c == ' '));
    }

    #[test]
    fn oversized_alerts_drop_the_record_with_a_marker() {
        let small = crate::alert::test_alert::alert(10);
        assert!(body(&small).contains("\"record\""));
        let big = crate::alert::test_alert::alert(300 * 1024);
        let b = body(&big);
        assert!(b.len() < MAX_REQUEST_BYTES);
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert!(v.get("record").is_none());
        assert!(v["record_dropped"].as_str().unwrap().contains("256 KB"));
        assert_eq!(v["alert_id"], big.alert_id.as_str());
    }
}
