//! What principals used, shared by replicas: one item per principal and service, partition
//! `usage`, sort key `PRINCIPAL_ARN SERVICE` (`arn:aws:iam::1:user/alice s3`), holding its
//! actions (`actions`, JSON: action → first, last, count, resources) and a `version`. A
//! replica merges what it recorded into the item, written back only if the version is still
//! the one it read, as correlation groups are. Per service, an item stays well under
//! DynamoDB's 400 KB: the largest service has about 450 actions. Items not written for
//! [`KEEP_DAYS`] expire. The audit reads the whole partition with one paginated Query.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::{number, s, string, versioned, Item, StateError, Table, DAY_MS};
use crate::audit::permissions::usage::{ActionUse, Usage};

const PARTITION: &str = "usage";

/// Attempts at one item while other replicas change it.
const TRIES: usize = 8;

/// Items written at once.
const CONCURRENT_ITEMS: usize = 16;

/// An item no replica wrote for this long expires: longer than any `usage_days` that makes
/// sense, so a principal used once a year keeps its record.
pub const KEEP_DAYS: i64 = 400;

impl Table {
    /// Merges `usage` into the shared items. On failure, returns what was not written (to be
    /// tried again with the next record) with the error.
    pub async fn merge_usage(&self, usage: Usage) -> Result<(), (Usage, StateError)> {
        let mut items: BTreeMap<(String, String), BTreeMap<String, ActionUse>> = BTreeMap::new();
        for (principal, actions) in usage.principals {
            for (action, used) in actions.actions {
                let service = action.split(':').next().unwrap_or_default().to_string();
                items
                    .entry((principal.clone(), service))
                    .or_default()
                    .insert(action, used);
            }
        }
        let results = super::at_most(
            CONCURRENT_ITEMS,
            items
                .into_iter()
                .map(|((principal, service), actions)| async move {
                    match self.merge_item(&principal, &service, &actions).await {
                        Ok(()) => None,
                        Err(e) => Some((principal, actions, e)),
                    }
                }),
        )
        .await;
        let mut left = Usage::new();
        let mut error = None;
        for (principal, actions, e) in results.into_iter().flatten() {
            left.merge(Usage::single(principal, actions));
            error.get_or_insert(e);
        }
        match error {
            None => Ok(()),
            Some(e) => Err((left, e)),
        }
    }

    /// Every principal's record, from the whole partition.
    pub async fn read_usage(&self) -> Result<Usage, StateError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.name)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(PARTITION))
            .consistent_read(true)
            .into_paginator()
            .send();
        let mut usage = Usage::new();
        let now = super::now_ms();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.failed("Query", e))?;
            for item in page.items() {
                if super::expired(item, now) {
                    continue;
                }
                let (principal, actions) = self.decode(item)?;
                usage.merge(Usage::single(principal, actions));
            }
        }
        self.succeeded();
        Ok(usage)
    }

    /// One item: read, merge, write back if unchanged meanwhile.
    async fn merge_item(
        &self,
        principal: &str,
        service: &str,
        actions: &BTreeMap<String, ActionUse>,
    ) -> Result<(), StateError> {
        let sk = format!("{principal} {service}");
        for _ in 0..TRIES {
            let item = self.get_sorted(PARTITION, &sk).await?;
            let version = item.as_ref().and_then(|i| number(i, "version"));
            let mut usage = match &item {
                Some(item) => {
                    let (principal, stored) = self.decode(item)?;
                    Usage::single(principal, stored)
                }
                None => Usage::new(),
            };
            usage.merge(Usage::single(principal.to_string(), actions.clone()));
            let merged = usage
                .principals
                .remove(principal)
                .map(|a| a.actions)
                .unwrap_or_default();
            if self.put_usage(&sk, &merged, version).await? {
                return Ok(());
            }
        }
        Err(StateError::Contended {
            table: self.name.clone(),
            key: format!("{PARTITION} {sk}"),
            tries: TRIES,
        })
    }

    fn decode(&self, item: &Item) -> Result<(String, BTreeMap<String, ActionUse>), StateError> {
        let sk = string(item, "sk").unwrap_or_default();
        let principal = sk.rsplit_once(' ').map_or(sk, |(p, _)| p).to_string();
        let actions = string(item, "actions").unwrap_or("{}");
        let actions = serde_json::from_str(actions).map_err(|e| StateError::Schema {
            table: self.name.clone(),
            message: format!(
                "item {PARTITION} {sk}: actions are not a trailwatch usage record: {e}"
            ),
        })?;
        Ok((principal, actions))
    }

    /// Writes the item unless another replica wrote it since `version` was read (false).
    async fn put_usage(
        &self,
        sk: &str,
        actions: &BTreeMap<String, ActionUse>,
        version: Option<i64>,
    ) -> Result<bool, StateError> {
        let json = serde_json::to_string(actions).expect("actions serialize");
        let put = self
            .client
            .put_item()
            .table_name(&self.name)
            .item("pk", s(PARTITION))
            .item("sk", s(sk))
            .item("actions", AttributeValue::S(json))
            .item("expires", super::expires_in(KEEP_DAYS * DAY_MS));
        self.written("PutItem", versioned(put, version).send().await)
    }
}
