//! A sink's memory of the alert ids it accepted, and of the ids being sent right now.
//!
//! Checking "accepted before?", sending, then remembering is not enough when two messages
//! name the same object at the same time (a queue fed by both S3 notifications and
//! CloudTrail's SNS topic): both would find the id new and both would send it. So an id is
//! reserved before it is sent. A delivery that finds an id reserved by another waits for that
//! delivery to end, then sends whatever it did not get accepted. It never waits while holding
//! reservations of its own, so two deliveries cannot wait for each other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moka::sync::Cache;
use tokio::sync::Notify;

use crate::config::DedupeConfig;

pub struct Dedupe {
    /// Alert ids this sink accepted recently.
    seen: Cache<String, ()>,
    /// Ids being sent, with what their senders wake waiters with when they finish.
    sending: Mutex<HashMap<String, Arc<Notify>>>,
}

/// The outcome of [`Dedupe::claim`]: what this delivery must send now, and what it must wait
/// for before trying again.
pub struct Claim<'a, T> {
    pub mine: Vec<&'a T>,
    pub busy: Vec<(&'a T, Arc<Notify>)>,
}

impl Dedupe {
    pub fn new(cfg: &DedupeConfig) -> Dedupe {
        Dedupe {
            seen: Cache::builder()
                .max_capacity(cfg.capacity)
                .time_to_live(Duration::from_secs(cfg.ttl_secs))
                .build(),
            sending: Mutex::new(HashMap::new()),
        }
    }

    /// Reserves every item whose id was neither accepted before nor is being sent; items
    /// being sent by another delivery come back as busy; accepted ones are dropped.
    pub fn claim<'a, T>(&self, items: &[&'a T], id: impl Fn(&T) -> &str) -> Claim<'a, T> {
        let mut sending = self.sending.lock().expect("dedupe lock");
        let mut claim = Claim {
            mine: Vec::new(),
            busy: Vec::new(),
        };
        for &item in items {
            let key = id(item);
            if self.seen.contains_key(key) {
                continue;
            }
            match sending.get(key) {
                Some(done) => claim.busy.push((item, done.clone())),
                None => {
                    sending.insert(key.to_string(), Arc::new(Notify::new()));
                    claim.mine.push(item);
                }
            }
        }
        claim
    }

    /// Ends a reservation: remembers the id if the sink accepted it, and wakes deliveries
    /// waiting for it.
    pub fn release(&self, key: &str, accepted: bool) {
        if accepted {
            self.seen.insert(key.to_string(), ());
        }
        let done = self.sending.lock().expect("dedupe lock").remove(key);
        if let Some(done) = done {
            done.notify_waiters();
        }
    }

    /// Waits until the reservations of `busy` have ended.
    pub async fn wait<T>(&self, busy: &[(&T, Arc<Notify>)], id: impl Fn(&T) -> &str) {
        for (item, done) in busy {
            // `notify_waiters` wakes the futures that exist when it is called: create ours
            // first, then look whether the reservation is still held.
            let notified = done.notified();
            let held = self
                .sending
                .lock()
                .expect("dedupe lock")
                .get(id(item))
                .is_some_and(|n| Arc::ptr_eq(n, done));
            if held {
                notified.await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dedupe() -> Dedupe {
        Dedupe::new(&DedupeConfig::default())
    }

    #[test]
    fn an_id_is_claimed_once_until_released() {
        let d = dedupe();
        let ids = ["a", "b"];
        let refs: Vec<&&str> = ids.iter().collect();
        let first = d.claim(&refs, |s| s);
        assert_eq!(first.mine.len(), 2);
        let second = d.claim(&refs, |s| s);
        assert!(second.mine.is_empty());
        assert_eq!(second.busy.len(), 2);
        // "a" accepted, "b" failed: only "b" can be claimed again.
        d.release("a", true);
        d.release("b", false);
        let third = d.claim(&refs, |s| s);
        assert_eq!(third.mine.iter().map(|s| **s).collect::<Vec<_>>(), ["b"]);
        assert!(third.busy.is_empty());
    }

    #[tokio::test]
    async fn a_waiting_delivery_wakes_when_the_sender_finishes() {
        let d = Arc::new(dedupe());
        let ids = ["a"];
        let refs: Vec<&&str> = ids.iter().collect();
        let mine = d.claim(&refs, |s| s);
        assert_eq!(mine.mine.len(), 1);
        let waiter = {
            let d = d.clone();
            tokio::spawn(async move {
                let ids = ["a"];
                let refs: Vec<&&str> = ids.iter().collect();
                let claim = d.claim(&refs, |s| s);
                assert_eq!(claim.busy.len(), 1);
                d.wait(&claim.busy, |s| s).await;
                // The sender's attempt failed: now this delivery owns the id.
                d.claim(&refs, |s| s).mine.len()
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        d.release("a", false);
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(5), waiter)
                .await
                .expect("the waiter woke")
                .unwrap(),
            1
        );
    }
}
