//! The state stage: what the daemon decides against, behind one seam. A [`State`] decides each
//! batch a message gives (correlation, then suppression, in event-time order) and keeps each
//! sink's record of the alerts it accepted (so a redelivered message never alerts twice). Two
//! implementations: [`memory::MemoryState`] for one replica (kept across restarts in the state
//! file, [`file`]), and [`dynamodb::SharedState`] for replicas sharing one DynamoDB table.
//!
//! Both keep the same local part ([`Local`]: the correlation engine and the suppression
//! policies) under one lock taken once per batch, and the same per-sink reservations
//! ([`dedupe`]); the shared one decides threshold correlations, suppression windows and
//! deliveries in the table as well.

pub mod dedupe;
pub mod dynamodb;
pub mod file;
pub mod memory;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use tokio::sync::Notify;

use crate::alert::Alert;
use crate::audit::permissions::usage::Usage;
use crate::correlate::snapshot::Snapshot;
use crate::correlate::{Engine, Limits};
use crate::detect::Observation;
use crate::rules::RuleSet;
use crate::suppress::{KeyState, SuppressConfig, SuppressError, Suppressor};

pub use dedupe::Dedupe;
pub use dynamodb::{SharedState, StateError, Table};
pub use memory::MemoryState;

/// What one message's reader handed over: alerts of rules that alert on their own, and
/// observations of rules that feed correlations, with the rule set they were read with
/// (observations index its correlations, whatever a reload does meanwhile).
pub struct Batch {
    pub alerts: Vec<Alert>,
    pub observations: Vec<Observation>,
    pub rules: Arc<RuleSet>,
}

/// What a batch came to.
#[derive(Debug, Default)]
pub struct Decided {
    /// The alerts to send, correlation alerts included.
    pub send: Vec<Alert>,
    /// Per rule, alerts a suppression window held back.
    pub suppressed: BTreeMap<String, u64>,
    /// Per correlation, events not counted: older than the lateness, or past the caps.
    pub late: BTreeMap<String, u64>,
    pub evicted: BTreeMap<String, u64>,
    /// Correlation groups open in this process, after the batch.
    pub open_groups: usize,
    /// Set when the shared table could not decide: nothing of the batch may be sent, and the
    /// message is decided again later (every decision is idempotent per event and alert id).
    pub failure: Option<StateError>,
}

/// What a sink may send of the alerts offered to [`State::claim`], by their index there.
#[derive(Debug, Default)]
pub struct Claims {
    /// This delivery sends them.
    pub mine: Vec<usize>,
    /// Another delivery in this process is sending them: wait for it, then offer them again.
    pub busy: Vec<(usize, Arc<Notify>)>,
    /// Another replica is sending them: offer them again shortly.
    pub elsewhere: Vec<usize>,
    /// The shared table failed: nothing is claimed.
    pub failure: Option<StateError>,
}

/// How the state stage is set up: the rules' correlations and suppression policies, the
/// configuration's suppression entries, the correlation caps, and the sinks' dedupe memory.
#[derive(Clone)]
pub struct Settings {
    pub suppress: Vec<SuppressConfig>,
    pub limits: Limits,
    /// Alert ids each sink remembers, and for how long.
    pub dedupe_capacity: u64,
    pub dedupe_ttl: std::time::Duration,
}

/// The state every implementation keeps in this process, under one lock.
pub struct Local {
    pub engine: Engine,
    pub suppressor: Suppressor,
}

impl Local {
    pub fn new(rules: &RuleSet, settings: &Settings) -> Result<Local, SuppressError> {
        Ok(Local {
            engine: Engine::new(rules.correlations(), settings.limits),
            suppressor: Suppressor::new(rules, &settings.suppress)?,
        })
    }

    /// Events dated more than an hour ahead of the clock are not correlated: one bad
    /// timestamp would make every other event look late.
    fn trusted(observations: &mut Vec<Observation>) {
        let horizon = crate::correlate::horizon_ms();
        let before = observations.len();
        observations.retain(|o| o.time_ms <= horizon);
        if observations.len() < before {
            tracing::warn!(
                events = before - observations.len(),
                "events dated more than an hour ahead of the clock were not correlated"
            );
        }
    }

    /// Counts observations in the engine; the alerts they complete join `alerts`.
    fn correlate(
        &mut self,
        observations: Vec<Observation>,
        alerts: &mut Vec<Alert>,
        d: &mut Decided,
    ) {
        self.engine.observe_all(observations, alerts);
        for (rule, s) in self.engine.take_stats() {
            *d.late.entry(rule.clone()).or_default() += s.late;
            *d.evicted.entry(rule).or_default() += s.evicted_groups + s.dropped_events;
        }
        d.open_groups = self.engine.open_groups();
    }
}

/// The state file's part of a process's state: open windows, suppression keys, and (for one
/// replica) what each principal used.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Saved {
    pub correlation: Snapshot,
    pub suppression: HashMap<String, KeyState>,
    #[serde(default, skip_serializing_if = "Usage::is_empty")]
    pub usage: Usage,
}

/// Per sink name, the alert ids it accepted with when (Unix ms): what the state file keeps
/// so that a restart sends nothing twice.
pub type Delivered = BTreeMap<String, Vec<(String, i64)>>;

/// Each sink's reservations and memory of accepted ids, made on first use.
pub struct Deliveries {
    by_sink: Mutex<HashMap<String, Arc<Dedupe>>>,
    capacity: u64,
    ttl: std::time::Duration,
}

impl Deliveries {
    pub fn new(settings: &Settings) -> Deliveries {
        Deliveries {
            by_sink: Mutex::default(),
            capacity: settings.dedupe_capacity,
            ttl: settings.dedupe_ttl,
        }
    }

    pub fn of(&self, sink: &str) -> Arc<Dedupe> {
        self.by_sink
            .lock()
            .expect("deliveries lock")
            .entry(sink.to_string())
            .or_insert_with(|| Arc::new(Dedupe::new(self.capacity, self.ttl)))
            .clone()
    }

    pub fn window_ms(&self) -> i64 {
        (self.ttl.as_millis() as i64).max(1)
    }

    fn delivered(&self) -> Delivered {
        self.by_sink
            .lock()
            .expect("deliveries lock")
            .iter()
            .map(|(name, d)| (name.clone(), d.snapshot()))
            .collect()
    }

    fn restore(&self, saved: Delivered) -> usize {
        saved
            .into_iter()
            .map(|(sink, ids)| self.of(&sink).restore(ids))
            .sum()
    }
}

/// The seam: one batch decided at a time per message, deliveries claimed and settled per
/// sink. Implementations differ in where decisions that replicas must agree on are made.
pub trait State: Send + Sync + 'static {
    /// The state kept in this process.
    fn local(&self) -> &Mutex<Local>;
    fn deliveries(&self) -> &Deliveries;

    /// Correlates the batch's observations, then passes every alert (base and correlation)
    /// through suppression, in event-time order.
    fn decide(&self, batch: Batch) -> BoxFuture<'_, Decided>;

    /// Reserves, for `sink`, the alerts `ids` names that it has not accepted and nobody is
    /// sending; says which are being sent elsewhere.
    fn claim<'a>(&'a self, sink: &'a str, ids: &'a [&'a str]) -> BoxFuture<'a, Claims>;

    /// Ends the reservations [`State::claim`] gave: remembers what the sink accepted, frees
    /// the rest. A failure to record leaves the message to be tried again.
    fn settle<'a>(
        &'a self,
        sink: &'a str,
        sent: &'a [(&'a str, bool)],
    ) -> BoxFuture<'a, Result<(), StateError>>;

    /// What delivered batches' records used (`[usage] record`): this process's whole record,
    /// or with the shared table what this replica has not written there yet.
    fn recorded(&self) -> &Mutex<Usage>;

    /// Whether the state file keeps the usage record (the shared table keeps its own).
    fn file_keeps_usage(&self) -> bool {
        true
    }

    /// Takes in what a batch's records used.
    fn record_usage(&self, used: Usage) {
        if !used.is_empty() {
            self.recorded().lock().expect("usage lock").merge(used);
        }
    }

    /// Everything recorded, for the posture audit: this process's record, or every
    /// replica's from the shared table.
    fn usage(&self) -> BoxFuture<'_, Result<Usage, StateError>> {
        let usage = self.recorded().lock().expect("usage lock").clone();
        Box::pin(std::future::ready(Ok(usage)))
    }

    /// Writes what was recorded to where replicas share it (nothing to do for one).
    fn flush_usage(&self) -> BoxFuture<'_, Result<(), StateError>> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// A new rule set (SIGHUP): windows of correlations still loaded, and suppression keys,
    /// carry over.
    fn reload(&self, rules: &RuleSet, settings: &Settings) -> Result<(), SuppressError> {
        let mut next = Local::new(rules, settings)?;
        let mut local = self.local().lock().expect("state lock");
        next.engine.restore(local.engine.snapshot());
        next.suppressor.restore(local.suppressor.snapshot());
        *local = next;
        Ok(())
    }

    /// Waits until the reservations another delivery holds have ended.
    fn wait<'a>(
        &'a self,
        sink: &'a str,
        busy: &'a [(usize, Arc<Notify>)],
        ids: &'a [&'a str],
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let dedupe = self.deliveries().of(sink);
            for (i, done) in busy {
                dedupe.wait(ids[*i], done).await;
            }
        })
    }

    /// Open windows, suppression keys, the usage record and each sink's accepted ids, for
    /// the state file.
    fn save(&self) -> (Saved, Delivered) {
        let usage = match self.file_keeps_usage() {
            true => self.recorded().lock().expect("usage lock").clone(),
            false => Usage::default(),
        };
        let local = self.local().lock().expect("state lock");
        let saved = Saved {
            correlation: local.engine.snapshot(),
            suppression: local.suppressor.snapshot(),
            usage,
        };
        (saved, self.deliveries().delivered())
    }

    /// Takes back what [`State::save`] gave; returns the groups and ids restored.
    fn restore(&self, saved: Saved, delivered: Delivered) -> (usize, usize) {
        if self.file_keeps_usage() {
            self.record_usage(saved.usage);
        }
        let groups = {
            let mut local = self.local().lock().expect("state lock");
            local.suppressor.restore(saved.suppression);
            local.engine.restore(saved.correlation)
        };
        (groups, self.deliveries().restore(delivered))
    }

    fn open_groups(&self) -> usize {
        self.local()
            .lock()
            .expect("state lock")
            .engine
            .open_groups()
    }
}
