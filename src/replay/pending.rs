//! What a replay decides only once every input is read: correlations, counted over every
//! input in event-time order (the same result whatever the thread count or input order), and
//! the alerts of rules under suppression, decided in event-time order with the correlation
//! alerts. Both wait in spills (see `spill.rs`), so memory stays within a budget however
//! dense the archive. An observation waits as a few bytes ([`Waiting`]): its base alert goes
//! to the alert file (`store.rs`) and is read back only if its event completes a window.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::spill::{Spill, Spillable};
use super::store::AlertFile;
use crate::alert::Alert;
use crate::correlate::{AlertStore, Base, Engine, EventKey, Limits, Observation, Slot};
use crate::rules::RuleSet;
use crate::suppress::Suppressor;

/// Memory for what waits, when not given (`--memory-budget`): split between observations
/// and held alerts.
pub const DEFAULT_BUDGET: usize = 16 << 20;

/// Items a worker gathers before it takes the shared spill's lock.
const LOCAL_BATCH: usize = 256;

pub struct Pending {
    store: Arc<AlertFile>,
    observations: Mutex<Spill<Waiting>>,
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
    pub fn new(budget: usize) -> io::Result<Pending> {
        Ok(Pending {
            store: Arc::new(AlertFile::new()?),
            observations: Mutex::new(Spill::new(budget / 4 * 3)),
            held: Mutex::new(Spill::new(budget / 4)),
            error: Mutex::new(None),
        })
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

    /// Moves what a worker gathered into the shared spills, the observations' base alerts
    /// into the alert file.
    pub fn hand_over(&self, local: &mut Local) {
        let mut waiting = self.set_aside(&mut local.observations);
        let pushed = push_all(&self.observations, &mut waiting)
            .and_then(|()| push_all(&self.held, &mut local.held));
        if let Err(e) = pushed {
            self.error.lock().expect("pending lock").get_or_insert(e);
        }
    }

    /// Writes the observations' base alerts to the alert file (an event's observations share
    /// one), serialized before the file's lock is taken. If the file refuses them they are
    /// lost and the replay fails with the file's error.
    fn set_aside(&self, observations: &mut Vec<Observation>) -> Vec<Waiting> {
        let (mut bytes, mut ends) = (Vec::new(), Vec::new());
        let mut last: Option<*const Alert> = None;
        // Per observation: a slot it already has, or the index of its alert in `bytes`.
        let mut at: Vec<Result<Slot, usize>> = Vec::with_capacity(observations.len());
        for o in observations.iter() {
            match &o.base {
                Base::Stored(_, slot) => at.push(Ok(*slot)),
                Base::Alert(a) => {
                    if last != Some(Arc::as_ptr(a)) {
                        if let Err(e) = serde_json::to_writer(&mut bytes, &**a) {
                            self.error
                                .lock()
                                .expect("pending lock")
                                .get_or_insert(e.into());
                            observations.clear();
                            return Vec::new();
                        }
                        ends.push(bytes.len());
                        last = Some(Arc::as_ptr(a));
                    }
                    at.push(Err(ends.len() - 1));
                }
            }
        }
        let Some(slots) = self.store.put_serialized(&bytes, &ends) else {
            observations.clear();
            return Vec::new();
        };
        observations
            .drain(..)
            .zip(at)
            .map(|(o, at)| Waiting {
                correlation: o.correlation,
                step: o.step,
                time_ms: o.time_ms,
                event: o.event,
                group: o.group,
                value: o.value,
                suppression_key: o.suppression_key,
                base: at.unwrap_or_else(|i| slots[i]),
            })
            .collect()
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
        let mut held = self.held.into_inner().expect("pending lock");
        let store: Arc<dyn AlertStore> = self.store.clone();
        let mut engine = Engine::new(set.correlations(), limits).seeing_each_event_once();
        // Correlation alerts join the held alerts: both are decided in event-time order.
        let mut correlated = Vec::new();
        let observations_spilled = observations.spilled;
        let mut sorted = observations.into_sorted();
        let mut last = None;
        for w in &mut sorted {
            // The same record twice in the archive (CloudTrail delivers some events more
            // than once): its observations sort next to each other, and count once.
            let key = w.key();
            if last.as_ref() == Some(&key) {
                continue;
            }
            last = Some(key);
            engine.observe(w.into_observation(&store), &mut correlated);
            correlated.drain(..).try_for_each(|a| held.push(a))?;
        }
        if let Some(e) = sorted.error.or_else(|| self.store.take_error()) {
            return Err(e);
        }
        engine.flush(&mut correlated);
        correlated.into_iter().try_for_each(|a| held.push(a))?;
        let dropped = engine
            .take_stats()
            .into_iter()
            .map(|(rule, s)| (rule, s.dropped_events + s.evicted_groups))
            .filter(|(_, n)| *n > 0)
            .collect();
        let spilled = observations_spilled + held.spilled;
        let mut held = held.into_sorted();
        for alert in &mut held {
            if let Some(alert) = suppressor.decide(alert) {
                emit(alert)?;
            }
        }
        match held.error.or_else(|| self.store.take_error()) {
            Some(e) => Err(e),
            None => Ok((dropped, spilled)),
        }
    }
}

/// An observation waiting for the end of the replay: what counting it needs, and where its
/// base alert is.
#[derive(Debug, Serialize, Deserialize)]
pub struct Waiting {
    correlation: u32,
    step: u16,
    time_ms: i64,
    event: EventKey,
    group: Vec<String>,
    value: Option<String>,
    suppression_key: Option<Vec<String>>,
    base: Slot,
}

impl Waiting {
    fn into_observation(self, store: &Arc<dyn AlertStore>) -> Observation {
        Observation {
            correlation: self.correlation,
            step: self.step,
            time_ms: self.time_ms,
            event: self.event,
            group: self.group,
            value: self.value,
            suppression_key: self.suppression_key,
            base: Base::Stored(Arc::clone(store), self.base),
        }
    }
}

impl Spillable for Waiting {
    type Key = (i64, u32, u16, EventKey);
    type Line = Waiting;
    fn key(&self) -> Self::Key {
        (
            self.time_ms,
            self.correlation,
            self.step,
            self.event.clone(),
        )
    }
    fn weight(&self) -> usize {
        // Each string costs its text and an allocation's bookkeeping.
        let text = |s: &String| s.len() + 32;
        std::mem::size_of::<Waiting>()
            + self.group.iter().map(text).sum::<usize>()
            + self.value.iter().map(text).sum::<usize>()
            + self
                .suppression_key
                .iter()
                .flatten()
                .map(text)
                .sum::<usize>()
    }
}

fn push_all<T: Spillable>(spill: &Mutex<Spill<T>>, items: &mut Vec<T>) -> io::Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let mut spill = spill.lock().expect("pending lock");
    items.drain(..).try_for_each(|item| spill.push(item))
}
