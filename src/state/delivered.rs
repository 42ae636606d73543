//! Which alerts each sink accepted, across replicas. Before sending, a replica claims the
//! alert for the sink with a conditional put (a lease naming it); after the sink accepts, it
//! records the acceptance for the dedupe window; after a failure it drops its claim. A claim
//! left by a replica that died expires with its lease, so the alert is sent by whoever comes
//! next. Cost: two writes per alert and sink (one more read when another replica got there
//! first).

use aws_sdk_dynamodb::operation::put_item::PutItemError;

use super::{expires_in, key, n, now_ms, number, s, StateError, Table};

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
        match put {
            Ok(_) => {
                self.succeeded();
                Ok(Claimed::Mine)
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(PutItemError::is_conditional_check_failed_exception) =>
            {
                // Accepted, or leased by another: which one decides whether to wait.
                let item = self.get(&pk).await?;
                Ok(match item {
                    Some(item) if number(&item, "accepted").is_some() => Claimed::Accepted,
                    _ => Claimed::Elsewhere,
                })
            }
            Err(e) => Err(self.failed("PutItem", e)),
        }
    }

    /// Records that `sink` accepted `alert_id`: no replica sends it again within `window_ms`.
    pub async fn record_delivery(
        &self,
        sink: &str,
        alert_id: &str,
        window_ms: i64,
    ) -> Result<(), StateError> {
        self.client
            .put_item()
            .table_name(&self.name)
            .item("pk", s(&key("delivered", &[sink, alert_id])))
            .item("sk", s("-"))
            .item("accepted", n(now_ms()))
            .item("expires", expires_in(window_ms))
            .send()
            .await
            .map_err(|e| self.failed("PutItem", e))?;
        self.succeeded();
        Ok(())
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
        match deleted {
            Ok(_) => {
                self.succeeded();
                Ok(())
            }
            // Not ours any more (our lease ran out and another took it): nothing to drop.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(self.failed("DeleteItem", e)),
        }
    }
}
