//! Suppression windows shared by replicas: the same decisions as [`crate::suppress`], made
//! against the `suppress#RULE#KEY` item of the table. The first alert of a window is sent by
//! whichever replica opens the window first (a conditional put); the rest add their ids to the
//! window's `held` set (a conditional update, so a window replaced meanwhile is read again).
//! Decisions stay idempotent per alert id: a redelivered alert that was sent is sent again
//! (with the same count), one that was held is held.

use std::collections::{BTreeMap, HashSet};

use aws_sdk_dynamodb::types::AttributeValue;

use crate::alert::Alert;
use crate::suppress::{Keyed, SuppressionKey, KEEP_AFTER_WINDOW_MS};

use super::{expires_in, key, n, number, s, string, Item, StateError, Table};

/// Alert ids a window keeps for idempotent decisions; beyond it held alerts are only counted.
/// Smaller than the in-memory limit: an item holds at most 400 KB.
const MAX_HELD_IDS: usize = 5_000;

/// Attempts at one decision while other replicas change the same window.
const TRIES: usize = 8;

/// Keys decided at once; alerts of one key are decided in order.
const CONCURRENT_KEYS: usize = 16;

enum Decision {
    Send(Box<Alert>),
    /// Held back; `counted` is false when it was held by an earlier attempt.
    Held {
        rule: String,
        counted: bool,
    },
}

/// What a batch came to: the alerts to send, in event-time order, the alerts newly held back
/// per rule, and the first call that failed (the batch must then be decided again; what was
/// held is counted once, now).
pub struct Decided {
    pub send: Vec<Alert>,
    pub held: BTreeMap<String, u64>,
    pub failure: Option<StateError>,
}

impl Table {
    /// Decides a batch, in event-time order per key (ties by alert id), as the in-memory
    /// suppressor does.
    pub async fn suppress_all(&self, mut alerts: Vec<(Alert, Keyed)>) -> Decided {
        alerts
            .sort_by(|(a, ka), (b, kb)| (ka.time_ms, &a.alert_id).cmp(&(kb.time_ms, &b.alert_id)));
        let mut by_key: BTreeMap<SuppressionKey, Vec<(Alert, Keyed)>> = BTreeMap::new();
        for (alert, keyed) in alerts {
            by_key
                .entry(keyed.key.clone())
                .or_default()
                .push((alert, keyed));
        }
        let decided = super::at_most(
            CONCURRENT_KEYS,
            by_key
                .into_values()
                .map(|alerts| self.suppress_in_order(alerts)),
        )
        .await;
        let mut result = Decided {
            send: Vec::new(),
            held: BTreeMap::new(),
            failure: None,
        };
        for (decisions, failure) in decided {
            if let Some(e) = failure {
                result.failure.get_or_insert(e);
            }
            for decision in decisions {
                match decision {
                    Decision::Send(alert) => result.send.push(*alert),
                    Decision::Held {
                        rule,
                        counted: true,
                    } => *result.held.entry(rule).or_default() += 1,
                    Decision::Held { .. } => {}
                }
            }
        }
        result
            .send
            .sort_by_cached_key(|a| (crate::suppress::event_time(a), a.alert_id.clone()));
        result
    }

    /// One key's alerts, one after the other, up to the first failed call.
    async fn suppress_in_order(
        &self,
        alerts: Vec<(Alert, Keyed)>,
    ) -> (Vec<Decision>, Option<StateError>) {
        let mut out = Vec::with_capacity(alerts.len());
        for (alert, keyed) in alerts {
            match self.suppress(alert, &keyed).await {
                Ok(d) => out.push(d),
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    }

    async fn suppress(&self, mut alert: Alert, keyed: &Keyed) -> Result<Decision, StateError> {
        let pk = key("suppress", &[&keyed.key.encoded()]);
        let (t, window) = (keyed.time_ms, keyed.window_ms);
        for _ in 0..TRIES {
            let item = self.get(&pk).await?;
            let id = alert.alert_id.as_str();
            if let Some(item) = &item {
                if string(item, "sent") == Some(id) {
                    alert.suppressed = number(item, "carried").map(|c| c as u64);
                    return Ok(Decision::Send(Box::new(alert)));
                }
                let held = held_ids(item);
                let rule = alert.rule.name.clone();
                if held.contains(id) {
                    return Ok(Decision::Held {
                        rule,
                        counted: false,
                    });
                }
                let start = number(item, "start").unwrap_or(i64::MIN / 2);
                let window = number(item, "window").unwrap_or(window);
                if t >= start - window && t < start + window {
                    if self.hold(&pk, item, id, held.len()).await? {
                        return Ok(Decision::Held {
                            rule,
                            counted: true,
                        });
                    }
                    continue;
                }
            }
            let carried = item
                .as_ref()
                .map(|i| held_ids(i).len() as i64 + number(i, "held_extra").unwrap_or(0))
                .filter(|&c| c > 0);
            if self
                .open(&pk, item.as_ref(), &alert, keyed, carried)
                .await?
            {
                alert.suppressed = carried.map(|c| c as u64);
                return Ok(Decision::Send(Box::new(alert)));
            }
        }
        Err(StateError::Contended {
            table: self.name.clone(),
            key: pk,
            tries: TRIES,
        })
    }

    /// Adds `id` to the window `item` is, unless the window was replaced or the id added
    /// meanwhile (false).
    async fn hold(&self, pk: &str, item: &Item, id: &str, held: usize) -> Result<bool, StateError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("pk", s(pk))
            .key("sk", s("-"))
            .expression_attribute_names("#sent", "sent")
            .expression_attribute_values(":sent", s(string(item, "sent").unwrap_or_default()));
        // Only one replica adds an id (the others re-read and find it held): each held alert
        // is counted once across the fleet.
        let update = if held < MAX_HELD_IDS {
            update
                .update_expression("ADD #held :ids")
                .condition_expression("#sent = :sent AND NOT contains(#held, :id)")
                .expression_attribute_names("#held", "held")
                .expression_attribute_values(":ids", AttributeValue::Ss(vec![id.to_string()]))
                .expression_attribute_values(":id", s(id))
        } else {
            update
                .update_expression("ADD #extra :one")
                .condition_expression("#sent = :sent")
                .expression_attribute_names("#extra", "held_extra")
                .expression_attribute_values(":one", n(1))
        };
        self.written("UpdateItem", update.send().await)
    }

    /// Opens a window with `alert` as its sent alert, replacing `previous` (the window as it
    /// was read; None when there was none or it expired) unless another replica changed it
    /// meanwhile (false).
    async fn open(
        &self,
        pk: &str,
        previous: Option<&Item>,
        alert: &Alert,
        keyed: &Keyed,
        carried: Option<i64>,
    ) -> Result<bool, StateError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.name)
            .item("pk", s(pk))
            .item("sk", s("-"))
            .item("start", n(keyed.time_ms))
            .item("window", n(keyed.window_ms))
            .item("sent", s(&alert.alert_id))
            .item(
                "expires",
                expires_in(2 * keyed.window_ms + KEEP_AFTER_WINDOW_MS),
            );
        if let Some(c) = carried {
            put = put.item("carried", n(c));
        }
        put = match previous.and_then(|p| string(p, "sent")) {
            Some(sent) => put
                .condition_expression("#sent = :sent")
                .expression_attribute_names("#sent", "sent")
                .expression_attribute_values(":sent", s(sent)),
            None => put
                .condition_expression("attribute_not_exists(pk) OR #expires < :now_s")
                .expression_attribute_names("#expires", "expires")
                .expression_attribute_values(":now_s", n(super::now_ms() / 1000)),
        };
        self.written("PutItem", put.send().await)
    }
}

fn held_ids(item: &Item) -> HashSet<&str> {
    item.get("held")
        .and_then(|v| v.as_ss().ok())
        .map(|ids| ids.iter().map(String::as_str).collect())
        .unwrap_or_default()
}
