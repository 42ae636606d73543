//! What a replay decides only once every input is read: correlations, counted over every
//! input in event-time order (the same result whatever the thread count or input order), and
//! the alerts of rules under suppression, decided in event-time order with the correlation
//! alerts. Both wait in spills (see `spill.rs`), so memory stays within a budget however
//! dense the archive.

use std::collections::BTreeMap;
use std::io;
use std::sync::Mutex;

use super::spill::{Spill, Spillable};
use crate::alert::Alert;
use crate::correlate::{Engine, Limits, Observation};
use crate::rules::RuleSet;
use crate::suppress::Suppressor;

/// Memory for what waits, when not given (`--memory-budget`): split between observations
/// and held alerts.
pub const DEFAULT_BUDGET: usize = 64 << 20;

/// Items a worker gathers before it takes the shared spill's lock.
const LOCAL_BATCH: usize = 256;

pub struct Pending {
    observations: Mutex<Spill<Observation>>,
    held: Mutex<Spill<Alert>>,
    /// The first failure to write a run (a full disk): the replay reports it.
    error: Mutex<Option<io::Error>>,
}

/// One worker's share, handed to [`Pending`] in batches.
#[derive(Default)]
pub struct Local {
    observations: Vec<Observation>,
    held: Vec<Alert>,
}

impl Pending {
    pub fn new(budget: usize) -> Pending {
        Pending {
            observations: Mutex::new(Spill::new(budget / 4 * 3)),
            held: Mutex::new(Spill::new(budget / 4)),
            error: Mutex::new(None),
        }
    }

    pub fn observe(&self, local: &mut Local, o: Observation) {
        local.observations.push(o);
        if local.observations.len() >= LOCAL_BATCH {
            self.hand_over(local);
        }
    }

    pub fn hold(&self, local: &mut Local, a: Alert) {
        local.held.push(a);
        if local.held.len() >= LOCAL_BATCH {
            self.hand_over(local);
        }
    }

    /// Moves what a worker gathered into the shared spills.
    pub fn hand_over(&self, local: &mut Local) {
        let pushed = push_all(&self.observations, &mut local.observations)
            .and_then(|()| push_all(&self.held, &mut local.held));
        if let Err(e) = pushed {
            self.error.lock().expect("pending lock").get_or_insert(e);
        }
    }

    /// Counts every observation in event-time order, then passes the correlation alerts and
    /// the held ones through suppression in event-time order, handing each alert to send to
    /// `emit`. Returns, per correlation, what its caps dropped, and how many items were
    /// written to disk on the way.
    pub fn decide(
        self,
        set: &RuleSet,
        limits: Limits,
        suppressor: &mut Suppressor,
        emit: &mut dyn FnMut(Alert) -> io::Result<()>,
    ) -> io::Result<(BTreeMap<String, u64>, u64)> {
        if let Some(e) = self.error.into_inner().expect("pending lock") {
            return Err(e);
        }
        let observations = self.observations.into_inner().expect("pending lock");
        let held = self.held.into_inner().expect("pending lock");
        let spilled = observations.spilled + held.spilled;
        let mut engine = Engine::new(set.correlations(), limits);
        let mut correlated = Vec::new();
        let mut sorted = observations.into_sorted();
        for o in &mut sorted {
            engine.observe(o, &mut correlated);
        }
        if let Some(e) = sorted.error {
            return Err(e);
        }
        engine.flush(&mut correlated);
        let dropped = engine
            .take_stats()
            .into_iter()
            .map(|(rule, s)| (rule, s.dropped_events + s.evicted_groups))
            .filter(|(_, n)| *n > 0)
            .collect();
        correlated.sort_by_cached_key(Spillable::key);
        let mut correlated = correlated.into_iter();
        let mut held = held.into_sorted();
        let (mut h, mut c) = (held.next(), correlated.next());
        loop {
            let held_first = match (&h, &c) {
                (None, None) => break,
                (Some(a), Some(b)) => order(a) <= order(b),
                (held, _) => held.is_some(),
            };
            let alert = if held_first {
                std::mem::replace(&mut h, held.next())
            } else {
                std::mem::replace(&mut c, correlated.next())
            };
            if let Some(alert) = alert.and_then(|a| suppressor.decide(a)) {
                emit(alert)?;
            }
        }
        if let Some(e) = held.error {
            return Err(e);
        }
        Ok((dropped, spilled))
    }
}

/// The order alerts are decided in (the key a held alert spills under), without copying.
fn order(a: &Alert) -> (i64, &str) {
    (crate::suppress::event_time(a), &a.alert_id)
}

fn push_all<T: Spillable>(spill: &Mutex<Spill<T>>, items: &mut Vec<T>) -> io::Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let mut spill = spill.lock().expect("pending lock");
    items.drain(..).try_for_each(|item| spill.push(item))
}
