//! [`State`] in this process alone: one replica. Correlation windows and suppression keys
//! are decided under one lock per batch; each sink's accepted ids live in its [`Dedupe`]
//! memory. All of it survives a rule reload and, through the state file, a restart.

use std::sync::Mutex;

use futures_util::future::BoxFuture;

use super::{Batch, Claims, Decided, Deliveries, Local, Settings, State, StateError};
use crate::audit::permissions::usage::Usage;
use crate::rules::RuleSet;
use crate::suppress::SuppressError;

pub struct MemoryState {
    local: Mutex<Local>,
    deliveries: Deliveries,
    usage: Mutex<Usage>,
}

impl MemoryState {
    pub fn new(rules: &RuleSet, settings: &Settings) -> Result<MemoryState, SuppressError> {
        Ok(MemoryState {
            local: Mutex::new(Local::new(rules, settings)?),
            deliveries: Deliveries::new(settings),
            usage: Mutex::new(Usage::new()),
        })
    }

    /// The decisions of one batch, made here and now (also the shared state's local part).
    pub fn decide_now(&self, batch: Batch) -> Decided {
        let Batch {
            mut alerts,
            mut observations,
            ..
        } = batch;
        Local::trusted(&mut observations);
        let mut d = Decided::default();
        let mut local = self.local.lock().expect("state lock");
        local.correlate(observations, &mut alerts, &mut d);
        d.send = local.suppressor.decide_all(alerts);
        d.suppressed = local.suppressor.take_counts();
        d
    }
}

impl State for MemoryState {
    fn local(&self) -> &Mutex<Local> {
        &self.local
    }

    fn deliveries(&self) -> &Deliveries {
        &self.deliveries
    }

    fn recorded(&self) -> &Mutex<Usage> {
        &self.usage
    }

    fn decide(&self, batch: Batch) -> BoxFuture<'_, Decided> {
        let decided = self.decide_now(batch);
        Box::pin(std::future::ready(decided))
    }

    fn claim<'a>(&'a self, sink: &'a str, ids: &'a [&'a str]) -> BoxFuture<'a, Claims> {
        let claim = self.deliveries.of(sink).claim(ids);
        Box::pin(std::future::ready(Claims {
            mine: claim.mine,
            busy: claim.busy,
            ..Claims::default()
        }))
    }

    fn settle<'a>(
        &'a self,
        sink: &'a str,
        sent: &'a [(&'a str, bool)],
    ) -> BoxFuture<'a, Result<(), StateError>> {
        let dedupe = self.deliveries.of(sink);
        for (id, accepted) in sent {
            dedupe.release(id, *accepted);
        }
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::test_alert;
    use crate::rules::sigma::timespan::Timespan;
    use crate::suppress::SuppressConfig;

    fn settings(suppress: Vec<SuppressConfig>) -> Settings {
        Settings {
            suppress,
            limits: Default::default(),
            dedupe_capacity: 1000,
            dedupe_ttl: std::time::Duration::from_secs(3600),
        }
    }

    fn rules() -> RuleSet {
        test_alert::rules()
    }

    #[tokio::test]
    async fn a_batch_is_suppressed_in_event_time_order_and_decided_the_same_again() {
        let set = rules();
        let cfg = vec![SuppressConfig {
            rules: vec!["t".into()],
            window: Timespan::minutes(10),
            by: vec![],
        }];
        let state = MemoryState::new(&set, &settings(cfg)).unwrap();
        let at = |i: usize, minute: u32| {
            test_alert::alert_on(&format!(
                r#"{{"eventName":"CreateUser","eventSource":"iam.amazonaws.com","eventID":"e{i}","eventTime":"2026-11-20T09:{minute:02}:00Z","recipientAccountId":"111122223333"}}"#
            ))
        };
        let set = std::sync::Arc::new(set);
        let batch = || Batch {
            alerts: vec![at(2, 5), at(1, 0), at(3, 8)],
            observations: vec![],
            rules: set.clone(),
        };
        let first = state.decide(batch()).await;
        let sent = |d: &Decided| {
            d.send
                .iter()
                .map(|a| a.alert_id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            sent(&first),
            [at(1, 0).alert_id],
            "the earliest of the window is sent, whatever the order they came in"
        );
        assert_eq!(first.suppressed.get("t"), Some(&2));
        assert!(first.failure.is_none());
        let again = state.decide(batch()).await;
        assert_eq!(sent(&again), sent(&first), "the same decisions");
        assert!(again.suppressed.is_empty(), "held once, counted once");
    }

    #[tokio::test]
    async fn a_sink_claims_an_alert_once_until_it_is_settled() {
        let state = MemoryState::new(&rules(), &settings(vec![])).unwrap();
        let ids = ["a", "b"];
        let first = state.claim("hook", &ids).await;
        assert_eq!(first.mine, [0, 1]);
        assert_eq!(state.claim("hook", &ids).await.busy.len(), 2);
        assert_eq!(
            state.claim("other", &ids).await.mine,
            [0, 1],
            "sinks are apart"
        );
        state
            .settle("hook", &[("a", true), ("b", false)])
            .await
            .unwrap();
        assert_eq!(state.claim("hook", &ids).await.mine, [1]);
        // Saved and restored: a restart does not send "a" again.
        let (saved, delivered) = state.save();
        let restarted = MemoryState::new(&rules(), &settings(vec![])).unwrap();
        assert_eq!(restarted.restore(saved, delivered).1, 1);
        assert_eq!(restarted.claim("hook", &ids).await.mine, [1]);
    }
}
