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

pub struct Dedupe {
    /// Alert ids this sink accepted recently, with when (Unix milliseconds), so the memory
    /// can be saved and restored with its age. Ids are UUIDs, kept as 16 bytes (see [`key`]):
    /// the cache holds `dedupe.capacity` of them per sink.
    seen: Cache<u128, i64>,
    ttl_ms: i64,
    /// Ids being sent, with what their senders wake waiters with when they finish.
    sending: Mutex<HashMap<u128, Arc<Notify>>>,
}

/// The outcome of [`Dedupe::claim`], by index into the ids offered: what this delivery must
/// send now, and what it must wait for before trying again. Ids accepted before are in
/// neither.
#[derive(Debug, Default)]
pub struct Claim {
    pub mine: Vec<usize>,
    pub busy: Vec<(usize, Arc<Notify>)>,
}

impl Dedupe {
    /// Remembers `capacity` accepted ids, each for `ttl`.
    pub fn new(capacity: u64, ttl: Duration) -> Dedupe {
        Dedupe {
            seen: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
            ttl_ms: ttl.as_millis() as i64,
            sending: Mutex::new(HashMap::new()),
        }
    }

    /// Reserves every id that was neither accepted before nor is being sent; ids being sent
    /// by another delivery come back as busy; accepted ones are left out.
    pub fn claim(&self, ids: &[&str]) -> Claim {
        let mut sending = self.sending.lock().expect("dedupe lock");
        let mut claim = Claim::default();
        for (i, id) in ids.iter().enumerate() {
            let key = key(id);
            if self.seen.contains_key(&key) {
                continue;
            }
            match sending.get(&key) {
                Some(done) => claim.busy.push((i, done.clone())),
                None => {
                    sending.insert(key, Arc::new(Notify::new()));
                    claim.mine.push(i);
                }
            }
        }
        claim
    }

    /// Ends a reservation: remembers the id if the sink accepted it, and wakes deliveries
    /// waiting for it.
    pub fn release(&self, id: &str, accepted: bool) {
        let key = key(id);
        if accepted {
            self.seen.insert(key, chrono::Utc::now().timestamp_millis());
        }
        let done = self.sending.lock().expect("dedupe lock").remove(&key);
        if let Some(done) = done {
            done.notify_waiters();
        }
    }

    /// The ids accepted within the dedupe window, with when, oldest first (for the state file).
    pub fn snapshot(&self) -> Vec<(String, i64)> {
        let mut ids: Vec<(String, i64)> = self
            .seen
            .iter()
            .map(|(key, at)| (uuid::Uuid::from_u128(*key).to_string(), at))
            .collect();
        ids.sort_by_key(|(_, at)| *at);
        ids
    }

    /// Remembers ids accepted before a restart, except those older than the window. (Each
    /// restored id lives up to one more window: the cache cannot be told an entry's age.)
    pub fn restore(&self, ids: Vec<(String, i64)>) -> usize {
        let oldest = chrono::Utc::now().timestamp_millis() - self.ttl_ms;
        let mut n = 0;
        for (id, at) in ids.into_iter().filter(|(_, at)| *at >= oldest) {
            self.seen.insert(key(&id), at);
            n += 1;
        }
        n
    }

    /// Waits until the reservation of `id` that `done` belongs to has ended.
    pub async fn wait(&self, id: &str, done: &Arc<Notify>) {
        // `notify_waiters` wakes the futures that exist when it is called: create ours
        // first, then look whether the reservation is still held.
        let notified = done.notified();
        let held = self
            .sending
            .lock()
            .expect("dedupe lock")
            .get(&key(id))
            .is_some_and(|n| Arc::ptr_eq(n, done));
        if held {
            notified.await;
        }
    }
}

/// An alert id as 16 bytes: alert and posture-change ids are UUIDs; anything else (an id from
/// an older version, a test) is hashed into the same space.
fn key(id: &str) -> u128 {
    match uuid::Uuid::try_parse(id) {
        Ok(u) => u.as_u128(),
        Err(_) => {
            use std::hash::{Hash, Hasher};
            let half = |seed: u64| {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                (seed, id).hash(&mut h);
                h.finish() as u128
            };
            half(1) << 64 | half(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dedupe() -> Dedupe {
        Dedupe::new(100_000, Duration::from_secs(24 * 3600))
    }

    #[test]
    fn an_id_is_claimed_once_until_released() {
        let d = dedupe();
        let ids = ["a", "b"];
        let first = d.claim(&ids);
        assert_eq!(first.mine, [0, 1]);
        let second = d.claim(&ids);
        assert!(second.mine.is_empty());
        assert_eq!(second.busy.len(), 2);
        // "a" accepted, "b" failed: only "b" can be claimed again.
        d.release("a", true);
        d.release("b", false);
        let third = d.claim(&ids);
        assert_eq!(third.mine, [1]);
        assert!(third.busy.is_empty());
    }

    #[test]
    fn accepted_ids_survive_a_snapshot_within_the_window() {
        const A: &str = "6b0f8a2e-91c4-5d7e-8a4b-3c2d1e0f9a71";
        const B: &str = "0d1e2f3a-4b5c-5d6e-8f70-8192a3b4c5d6";
        const OLD: &str = "11111111-2222-5333-8444-555555555555";
        let d = dedupe();
        d.claim(&[A, B]);
        d.release(A, true);
        d.release(B, false);
        let saved = d.snapshot();
        assert_eq!(
            saved.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
            [A]
        );
        let restarted = dedupe();
        let long_ago = chrono::Utc::now().timestamp_millis() - 2 * 24 * 3_600_000;
        let mut old = saved.clone();
        old.push((OLD.to_string(), long_ago));
        assert_eq!(restarted.restore(old), 1);
        let claim = restarted.claim(&[A, OLD]);
        assert_eq!(claim.mine, [1]);
    }

    #[test]
    fn ids_that_are_not_uuids_are_kept_apart() {
        assert_ne!(key("a"), key("b"));
        assert_eq!(key("a"), key("a"));
        assert_eq!(
            key("6b0f8a2e-91c4-5d7e-8a4b-3c2d1e0f9a71"),
            0x6b0f8a2e91c45d7e8a4b3c2d1e0f9a71
        );
    }

    #[tokio::test]
    async fn a_waiting_delivery_wakes_when_the_sender_finishes() {
        let d = Arc::new(dedupe());
        let mine = d.claim(&["a"]);
        assert_eq!(mine.mine.len(), 1);
        let waiter = {
            let d = d.clone();
            tokio::spawn(async move {
                let claim = d.claim(&["a"]);
                assert_eq!(claim.busy.len(), 1);
                d.wait("a", &claim.busy[0].1).await;
                // The sender's attempt failed: now this delivery owns the id.
                d.claim(&["a"]).mine.len()
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
