//! The DynamoDB table every replica shares (`[state] backend = "dynamodb"`), and
//! [`SharedState`], the [`crate::state::State`] decided in it. The table holds which
//! alerts each sink accepted, the suppression windows, and the groups of threshold
//! correlations. With it, replicas consuming one queue send an alert to a sink once, hold back
//! a rule's repeats once and count a burst once, across the fleet, restarts and kill -9.
//!
//! The table has a string partition key `pk` and a string sort key `sk`, and TTL on the number
//! attribute `expires` (Unix seconds). Items (`sk` is `-` but for usage):
//! - `delivered#SINK#ALERT_ID`: while a replica sends the alert, `owner` and `lease` (Unix ms
//!   until which it is sending); once the sink accepted it, `accepted` (Unix ms), kept for
//!   the dedupe window. See [`delivered`].
//! - `suppress#RULE#KEY`: the open suppression window of a rule and key: `start` (event time,
//!   ms), `window` (ms), `sent` (the alert id sent), `carried`, `held` (a string set of the
//!   alert ids held back), `held_extra`. See [`suppression`].
//! - `correlation#ID#GROUP` (`version`, `group`) and `correlation-alert#ALERT_ID` (`alert`):
//!   a correlation group's events and the alerts it fired. See [`correlation`].
//! - partition `usage`, sort key `PRINCIPAL_ARN SERVICE`: the actions a principal used of one
//!   service (`actions`, `version`). See [`usage`].
//!
//! Every decision is a conditional write, so two replicas deciding at once cannot both win;
//! reads are strongly consistent. DynamoDB deletes expired items lazily (days later; moto
//! never does), so an expired item is treated as absent by every reader, and a write that
//! replaces one allows for it in its condition.

pub mod correlation;
pub mod delivered;
mod shared;
pub mod suppression;
pub mod usage;

pub use shared::SharedState;

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::metrics::events::{InternalEvent, StateCallFailed};
use crate::metrics::http::Health;
use crate::metrics::Metrics;

pub type Item = HashMap<String, AttributeValue>;

/// The shared state could not be read or written; names the call, the table and the item.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StateError {
    #[error("DynamoDB {operation} on table {table}: {message}")]
    Call {
        operation: &'static str,
        table: String,
        message: String,
    },
    #[error("table {table}: {message}")]
    Schema { table: String, message: String },
    #[error("DynamoDB {operation} on table {table}: {left} item(s) still unprocessed after retries (throttled)")]
    Throttled {
        operation: &'static str,
        table: String,
        left: usize,
    },
    #[error("table {table}: item {key} changed under every one of {tries} attempts")]
    Contended {
        table: String,
        key: String,
        tries: usize,
    },
}

/// The shared table, as one replica sees it.
pub struct Table {
    client: aws_sdk_dynamodb::Client,
    name: String,
    /// This replica, in the leases it takes.
    owner: String,
    /// How long a claim on sending an alert holds (`state.claim_lease_secs`).
    lease_ms: i64,
    metrics: Metrics,
    health: Option<Arc<Health>>,
}

impl Table {
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        name: &str,
        metrics: Metrics,
        health: Option<Arc<Health>>,
    ) -> Table {
        Table {
            client,
            name: name.to_string(),
            owner: format!("{}-{:016x}", std::process::id(), fastrand::u64(..)),
            lease_ms: 180_000,
            metrics,
            health,
        }
    }

    /// With claims on sending an alert held this long.
    pub fn with_lease(mut self, lease: std::time::Duration) -> Table {
        self.lease_ms = lease.as_millis() as i64;
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks that the table exists with the key schema above; returns what is worth a warning
    /// (TTL not enabled on `expires`: items then stay, costing storage, never correctness).
    pub async fn check(&self) -> Result<Vec<String>, StateError> {
        let described = self
            .client
            .describe_table()
            .table_name(&self.name)
            .send()
            .await
            .map_err(|e| self.failed("DescribeTable", e))?;
        let table = described
            .table()
            .ok_or_else(|| self.schema("not described"))?;
        let keys: Vec<(&str, &str)> = table
            .key_schema()
            .iter()
            .map(|k| (k.attribute_name(), k.key_type().as_str()))
            .collect();
        if keys != [("pk", "HASH"), ("sk", "RANGE")] {
            return Err(self.schema(&format!(
                "key schema is {keys:?}; trailwatch needs pk (HASH) and sk (RANGE), both strings"
            )));
        }
        for def in table.attribute_definitions() {
            if def.attribute_type().as_str() != "S" {
                return Err(self.schema(&format!(
                    "key attribute {} is of type {}; it must be a string (S)",
                    def.attribute_name(),
                    def.attribute_type().as_str()
                )));
            }
        }
        let ttl = self
            .client
            .describe_time_to_live()
            .table_name(&self.name)
            .send()
            .await
            .map_err(|e| self.failed("DescribeTimeToLive", e))?;
        let ttl = ttl.time_to_live_description();
        let enabled = ttl.is_some_and(|t| {
            t.time_to_live_status().map(|s| s.as_str()) == Some("ENABLED")
                && t.attribute_name() == Some("expires")
        });
        Ok(if enabled {
            vec![]
        } else {
            vec![format!(
                "table {}: TTL is not enabled on attribute expires; expired items are ignored but never deleted",
                self.name
            )]
        })
    }

    fn schema(&self, message: &str) -> StateError {
        StateError::Schema {
            table: self.name.clone(),
            message: message.to_string(),
        }
    }

    /// A failed call: counted, logged once per failure, and /readyz says not ready until a
    /// call succeeds again.
    fn failed<E, R>(&self, operation: &'static str, e: SdkError<E, R>) -> StateError
    where
        E: std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        let error = StateError::Call {
            operation,
            table: self.name.clone(),
            message: DisplayErrorContext(&e).to_string(),
        };
        self.report(operation, error)
    }

    /// Counts and logs a failure of `operation`, and marks the state unavailable (/readyz).
    fn report(&self, operation: &'static str, error: StateError) -> StateError {
        StateCallFailed {
            operation,
            error: &error,
        }
        .emit(&self.metrics);
        if let Some(h) = &self.health {
            h.mark_state_available(false);
        }
        error
    }

    /// A conditional write's outcome: true when written, false when its condition did not
    /// hold (another replica got there first).
    fn written<T, E, R>(
        &self,
        operation: &'static str,
        result: Result<T, SdkError<E, R>>,
    ) -> Result<bool, StateError>
    where
        E: ConditionFailed + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        match result {
            Ok(_) => {
                self.succeeded();
                Ok(true)
            }
            Err(e) if e.as_service_error().is_some_and(E::condition_failed) => Ok(false),
            Err(e) => Err(self.failed(operation, e)),
        }
    }

    fn succeeded(&self) {
        if let Some(h) = &self.health {
            h.mark_state_available(true);
        }
    }

    /// The item under `pk` (sort key `-`), read strongly consistent; None when absent or
    /// expired.
    async fn get(&self, pk: &str) -> Result<Option<Item>, StateError> {
        self.get_sorted(pk, "-").await
    }

    /// The item under `pk` and `sk`, as [`Table::get`] reads it.
    async fn get_sorted(&self, pk: &str, sk: &str) -> Result<Option<Item>, StateError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.failed("GetItem", e))?;
        self.succeeded();
        Ok(out.item.filter(|item| !expired(item, now_ms())))
    }
}

/// Runs the futures with at most `limit` at once; results in completion order. (The futures
/// are made before they are polled: a stream mapping borrowed items to futures would not be
/// `Send` for every lifetime, which the daemon's message tasks need.)
pub async fn at_most<F: std::future::Future>(
    limit: usize,
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    use futures_util::StreamExt;
    let futures: Vec<F> = futures.into_iter().collect();
    futures_util::stream::iter(futures)
        .buffer_unordered(limit)
        .collect()
        .await
}

/// A put that writes only over the `version` it read (None: only where no live item is), so
/// that of two replicas merging into one item at once, one wins and the other reads again.
fn versioned(put: PutItemFluentBuilder, version: Option<i64>) -> PutItemFluentBuilder {
    let put = put.item("version", n(version.unwrap_or(0) + 1));
    match version {
        Some(v) => put
            .condition_expression("#version = :v")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":v", n(v)),
        None => put
            .condition_expression("attribute_not_exists(pk) OR #expires < :now_s")
            .expression_attribute_names("#expires", "expires")
            .expression_attribute_values(":now_s", n(now_ms() / 1000)),
    }
}

/// The errors of calls that take a condition.
trait ConditionFailed {
    fn condition_failed(&self) -> bool;
}

impl ConditionFailed for aws_sdk_dynamodb::operation::put_item::PutItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl ConditionFailed for aws_sdk_dynamodb::operation::update_item::UpdateItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl ConditionFailed for aws_sdk_dynamodb::operation::delete_item::DeleteItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

/// A partition key: the kind, then the parts; long keys (suppression keys built from event
/// values) are hashed, DynamoDB allows 2048 bytes.
fn key(kind: &str, parts: &[&str]) -> String {
    let joined = parts.join("#");
    if joined.len() <= 1024 {
        format!("{kind}#{joined}")
    } else {
        use sha2::Digest;
        format!(
            "{kind}#sha256:{}",
            hex::encode(sha2::Sha256::digest(&joined))
        )
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn string<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

const DAY_MS: i64 = 24 * 3_600_000;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Past its `expires` (Unix seconds), whether or not TTL has deleted it yet.
fn expired(item: &Item, now_ms: i64) -> bool {
    number(item, "expires").is_some_and(|e| e * 1000 < now_ms)
}

/// `expires` for an item that must live `ms` from now.
fn expires_in(ms: i64) -> AttributeValue {
    n((now_ms() + ms) / 1000 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_keys_are_hashed_to_a_fixed_length() {
        assert_eq!(key("delivered", &["sink", "id"]), "delivered#sink#id");
        let long = "x".repeat(5000);
        let k = key("suppress", &["rule", &long]);
        assert_eq!(k.len(), "suppress#sha256:".len() + 64);
        assert_ne!(k, key("suppress", &["rule", &"y".repeat(5000)]));
    }

    #[test]
    fn an_item_past_its_expiry_counts_as_absent() {
        let item: Item = [("expires".to_string(), n(100))].into();
        assert!(expired(&item, 100_001));
        assert!(!expired(&item, 100_000));
        assert!(!expired(&Item::new(), 100_001));
    }
}
