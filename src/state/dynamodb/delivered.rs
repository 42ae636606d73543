//! Which alerts each sink accepted, across replicas. Before sending, a replica claims the
//! alert for the sink with a conditional put (a lease naming it); after the sink accepts, it
//! records the acceptance for the dedupe window; after a failure it drops its claim. A claim
//! left by a replica that died expires with its lease, so the alert is sent by whoever comes
//! next. Cost: two writes per alert and sink (one more read when another replica got there
//! first); the acceptances go in batches of 25.

use std::time::Duration;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};

use super::{expires_in, key, n, now_ms, number, s, StateError, Table};

/// Items per BatchWriteItem (DynamoDB's limit).
const BATCH: usize = 25;
/// Batches in flight per call of [`Table::record_deliveries`].
const CONCURRENT_BATCHES: usize = 8;
/// Rounds of retrying what DynamoDB left unprocessed (throttling), doubling a 50 ms pause.
const UNPROCESSED_TRIES: usize = 6;

/// What a claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimed {
    /// This replica sends it.
    Mine,
    /// The sink accepted it already (from any replica, within the dedupe window).
    Accepted,
    /// Another replica is sending it now.
    Elsewhere,
}

impl Table {
    /// Claims `alert_id` for `sink`, unless it was accepted or another replica holds a lease.
    pub async fn claim_delivery(
        &self,
        sink: &str,
        alert_id: &str,
        window_ms: i64,
    ) -> Result<Claimed, StateError> {
        let pk = key("delivered", &[sink, alert_id]);
        let now = now_ms();
        let put = self
            .client
            .put_item()
            .table_name(&self.name)
            .item("pk", s(&pk))
            .item("sk", s("-"))
            .item("owner", s(&self.owner))
            .item("lease", n(now + self.lease_ms))
            .item("expires", expires_in(window_ms.max(self.lease_ms)))
            // Attribute names go through placeholders: DynamoDB reserves many plain words.
            .condition_expression(
                "attribute_not_exists(pk) OR #expires < :now_s \
                 OR (attribute_not_exists(#accepted) AND #lease < :now_ms)",
            )
            .expression_attribute_names("#expires", "expires")
            .expression_attribute_names("#accepted", "accepted")
            .expression_attribute_names("#lease", "lease")
            .expression_attribute_values(":now_s", n(now / 1000))
            .expression_attribute_values(":now_ms", n(now))
            .send()
            .await;
        if self.written("PutItem", put)? {
            return Ok(Claimed::Mine);
        }
        // Accepted, or leased by another: which one decides whether to wait.
        let item = self.get(&pk).await?;
        Ok(match item {
            Some(item) if number(&item, "accepted").is_some() => Claimed::Accepted,
            _ => Claimed::Elsewhere,
        })
    }

    /// Records that `sink` accepted these alerts: no replica sends them again within
    /// `window_ms`. Plain puts, so in batches of 25 (one BatchWriteItem each, what DynamoDB
    /// left unprocessed retried). On failure, returns the ids not recorded with the error.
    pub async fn record_deliveries(
        &self,
        sink: &str,
        alert_ids: &[String],
        window_ms: i64,
    ) -> Result<(), (Vec<String>, StateError)> {
        let results = super::at_most(
            CONCURRENT_BATCHES,
            alert_ids
                .chunks(BATCH)
                .map(|ids| self.record_batch(sink, ids, window_ms)),
        )
        .await;
        let mut unrecorded = Vec::new();
        let mut failure = None;
        for r in results {
            if let Err((ids, e)) = r {
                unrecorded.extend(ids);
                failure.get_or_insert(e);
            }
        }
        match failure {
            None => Ok(()),
            Some(e) => Err((unrecorded, e)),
        }
    }

    async fn record_batch(
        &self,
        sink: &str,
        alert_ids: &[String],
        window_ms: i64,
    ) -> Result<(), (Vec<String>, StateError)> {
        let accepted = now_ms();
        let mut pending: Vec<WriteRequest> = alert_ids
            .iter()
            .map(|id| {
                let put = PutRequest::builder()
                    .item("pk", s(&key("delivered", &[sink, id])))
                    .item("sk", s("-"))
                    .item("accepted", n(accepted))
                    .item("expires", expires_in(window_ms))
                    .build()
                    .expect("pk, sk and attributes are set");
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        let mut pause = Duration::from_millis(50);
        for _ in 0..UNPROCESSED_TRIES {
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.name, pending.clone())
                .send()
                .await;
            match out {
                Ok(out) => {
                    self.succeeded();
                    pending = out
                        .unprocessed_items
                        .and_then(|mut u| u.remove(&self.name))
                        .unwrap_or_default();
                    if pending.is_empty() {
                        return Ok(());
                    }
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                Err(e) => {
                    let e = self.failed("BatchWriteItem", e);
                    return Err((alert_ids.to_vec(), e));
                }
            }
        }
        // What is still unprocessed, by the item key it was written under.
        let left: Vec<String> = alert_ids
            .iter()
            .filter(|id| {
                let pk = key("delivered", &[sink, id]);
                pending.iter().any(|w| {
                    w.put_request()
                        .and_then(|p| p.item().get("pk"))
                        .and_then(|v| v.as_s().ok())
                        == Some(&pk)
                })
            })
            .cloned()
            .collect();
        let error = StateError::Throttled {
            operation: "BatchWriteItem",
            table: self.name.clone(),
            left: left.len(),
        };
        Err((left, self.report("BatchWriteItem", error)))
    }

    /// Drops this replica's claim after the sink did not accept the alert, so the next attempt
    /// (here or on another replica) need not wait for the lease to run out.
    pub async fn drop_claim(&self, sink: &str, alert_id: &str) -> Result<(), StateError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.name)
            .key("pk", s(&key("delivered", &[sink, alert_id])))
            .key("sk", s("-"))
            .condition_expression("#owner = :me AND attribute_not_exists(#accepted)")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#accepted", "accepted")
            .expression_attribute_values(":me", s(&self.owner))
            .send()
            .await;
        // False when it is not ours any more (our lease ran out and another replica took it):
        // nothing to drop then.
        self.written("DeleteItem", deleted)?;
        Ok(())
    }
}
