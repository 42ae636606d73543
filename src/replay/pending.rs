//! What a replay decides only once every input is read: correlations, counted over every
//! input in event-time order (the same result whatever the thread count or input order), and
//! the alerts of rules under suppression, decided in event-time order with the correlation
//! alerts. Both wait in spills (see `spill.rs`), so memory stays within a budget however
//! dense the archive. An observation waits as a few bytes ([`Waiting`]): what its base alert
//! is rebuilt from goes to the alert file (`store.rs`), read back only if its event completes
//! a window.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::spill::{Spill, Spillable};
use super::store::{AlertFile, LastOrigin};
use crate::alert::Alert;
use crate::correlate::{Engine, Limits};
use crate::detect::{AlertStore, Base, EventKey, Observation, Slot};
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
    /// Their base alerts are in `bases` (positions relative to it) until handed over.
    observations: Vec<Waiting>,
    /// Base alerts' entries (see `store.rs`), written as they are observed, so the worker
    /// keeps no reference to them and an alerting rule's alert goes on without a copy.
    bases: Vec<u8>,
    /// The base alert last written, by id: an event's observations (one per correlation it
    /// feeds) come one after another and share it.
    last: Option<(String, Slot)>,
    origin: LastOrigin,
    held: Vec<Alert>,
    /// Kept until [`Pending::hand_over`] is called, however much gathers: what a part of a
    /// stream gave may still be thrown away (see `split.rs`).
    deferred: bool,
}

impl Local {
    /// A share handed over only when [`Pending::hand_over`] is called.
    pub fn deferred() -> Local {
        Local {
            deferred: true,
            ..Local::default()
        }
    }
}

impl Pending {
    /// What waits of a replay with `set`, in `budget` bytes of memory.
    pub fn new(budget: usize, set: &RuleSet) -> io::Result<Pending> {
        let rules = set.rules().iter().map(|r| r.meta.info.clone()).collect();
        Ok(Pending {
            store: Arc::new(AlertFile::new(rules)?),
            observations: Mutex::new(Spill::new(budget / 4 * 3)),
            held: Mutex::new(Spill::new(budget / 4)),
            error: Mutex::new(None),
        })
    }

    /// Where the observation's base alert is in the worker's `bases`, written there unless
    /// it is the last.
    fn set_aside(&self, local: &mut Local, base: &Base) -> io::Result<Slot> {
        let alert = base
            .load()
            .ok_or_else(|| io::Error::other("a stored base alert could not be read back"))?;
        if let Some((id, slot)) = &local.last {
            if *id == alert.alert_id {
                return Ok(*slot);
            }
        }
        let start = local.bases.len();
        self.store
            .encode(&alert, &mut local.origin, &mut local.bases)
            .ok_or_else(|| {
                io::Error::other(format!(
                    "alert {} cannot be set aside: its rule {} is not in the replay's rule set",
                    alert.alert_id, alert.rule.name
                ))
            })?;
        let slot = Slot {
            offset: start as u64,
            len: (local.bases.len() - start) as u32,
        };
        local.last = Some((alert.alert_id.clone(), slot));
        Ok(slot)
    }

    pub fn observe(&self, local: &mut Local, o: Observation) {
        match self.set_aside(local, &o.base) {
            Ok(base) => local.observations.push(Waiting {
                correlation: o.correlation,
                step: o.step,
                time_ms: o.time_ms,
                event: o.event,
                group: o.group,
                value: o.value,
                suppression_key: o.suppression_key,
                base,
            }),
            Err(e) => {
                self.error.lock().expect("pending lock").get_or_insert(e);
            }
        }
        if !local.deferred && local.observations.len() >= LOCAL_BATCH {
            self.hand_over(local);
        }
    }

    pub fn hold(&self, local: &mut Local, a: Alert) {
        local.held.push(a);
        if !local.deferred && local.held.len() >= LOCAL_BATCH {
            self.hand_over(local);
        }
    }

    /// Moves what a worker gathered into the shared spills, the observations' base alerts
    /// into the alert file. If the file refuses them the observations are lost and the
    /// replay fails with the file's error.
    pub fn hand_over(&self, local: &mut Local) {
        let mut waiting = std::mem::take(&mut local.observations);
        match self.store.append(&local.bases) {
            Some(start) => {
                for w in &mut waiting {
                    w.base.offset += start;
                }
            }
            None => waiting.clear(),
        }
        local.bases.clear();
        local.last = None;
        let pushed = push_all(&self.observations, &mut waiting)
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
/// base alert is. Spilled in postcard's binary form: a dense archive spills hundreds of
/// thousands, and as JSON lines writing and reading them was about 6% of its replay.
#[derive(Debug, Serialize, Deserialize)]
pub struct Waiting {
    correlation: u32,
    step: u16,
    time_ms: i64,
    /// As its variant, not as the text its own serde form is (a UUID formatted and parsed
    /// again per observation).
    #[serde(with = "EventKeyForm")]
    event: EventKey,
    group: Vec<String>,
    value: Option<String>,
    suppression_key: Option<Vec<String>>,
    base: Slot,
}

/// An [`EventKey`] as a spilled observation holds it.
#[derive(Serialize, Deserialize)]
#[serde(remote = "EventKey")]
enum EventKeyForm {
    Uuid(u64, u64),
    Text(Box<str>),
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
    fn encode(&self, out: &mut Vec<u8>) {
        postcard::to_io(self, out).expect("observations always encode");
    }
    fn decode(record: &[u8]) -> io::Result<Waiting> {
        postcard::from_bytes(record).map_err(io::Error::other)
    }
}

fn push_all<T: Spillable>(spill: &Mutex<Spill<T>>, items: &mut Vec<T>) -> io::Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let mut spill = spill.lock().expect("pending lock");
    items.drain(..).try_for_each(|item| spill.push(item))
}
