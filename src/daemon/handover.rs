//! What the daemon's readers hand to its deliveries while they read: matches in batches,
//! each holding its share of one budget of pending alerts shared by every message, so an
//! alert-dense object never sits whole in memory and a slow sink slows reading down instead
//! of filling memory.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::alert::Alert;
use crate::audit::permissions::usage::{Usage, UseReader};
use crate::detect::{Observation, Outcomes, Scan};
use crate::trail::{self, Record, TrailError};

/// Matches of one stretch of input, handed to the daemon in batches while objects are read.
#[derive(Debug, Default)]
pub struct Found {
    pub alerts: Vec<Alert>,
    /// Matches that feed correlations.
    pub observations: Vec<Observation>,
    /// Names of the rules whose match a filter document or exclusion kept from counting, once
    /// per excluded match.
    pub excluded: Vec<String>,
    /// Records whose eventName is in the reader's watch list, as read (the daemon re-audits
    /// the posture they change).
    pub watched: Vec<String>,
    /// What the records' principals used, when the daemon records it.
    pub usage: Usage,
}

impl Found {
    /// Alerts and observations held: what the pending-alert budget counts.
    pub fn size(&self) -> usize {
        self.alerts.len() + self.observations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.size() == 0
            && self.excluded.is_empty()
            && self.watched.is_empty()
            && self.usage.is_empty()
    }
}

/// Event names whose records a reader keeps (see [`Found::watched`]).
pub type Watch = Arc<HashSet<&'static str>>;

/// What a reader collects as it scans: matches and watched records (handed over in
/// batches when it has a hand-over), and the first unusable record.
pub struct Reading<'a> {
    pub found: Found,
    pub first_bad: Option<String>,
    watch: &'a Watch,
    uses: Option<UseReader>,
    hand_over: Option<HandOver<'a>>,
}

/// Where a reader on a blocking thread hands full batches, and the budget share it holds for
/// the batch it is filling.
struct HandOver<'a> {
    batches: &'a Batches,
    runtime: &'a Handle,
    permit: Option<OwnedSemaphorePermit>,
}

impl<'a> Reading<'a> {
    /// A reading that keeps everything until the caller takes it; it records uses with
    /// `uses`, when given.
    pub fn new(watch: &'a Watch, uses: Option<UseReader>) -> Reading<'a> {
        Reading {
            found: Found::default(),
            first_bad: None,
            watch,
            uses,
            hand_over: None,
        }
    }

    /// A reading on a blocking thread that hands each full batch to `batches` as it goes
    /// (waiting while the budget is spent).
    pub fn handing_over(
        watch: &'a Watch,
        uses: Option<UseReader>,
        batches: &'a Batches,
        runtime: &'a Handle,
    ) -> Reading<'a> {
        Reading {
            hand_over: Some(HandOver {
                permit: batches.reserve_blocking(runtime),
                batches,
                runtime,
            }),
            ..Reading::new(watch, uses)
        }
    }

    /// Hands over what is left: what the readable part of a broken object gave still goes
    /// out (a redelivery deduplicates it).
    pub fn finish(&mut self) {
        if let Some(HandOver {
            permit: Some(p),
            batches,
            ..
        }) = self.hand_over.take()
        {
            if !self.found.is_empty() {
                batches.send_blocking(std::mem::take(&mut self.found), p);
            }
        }
    }
}

impl Outcomes for Reading<'_> {
    fn alert(&mut self, alert: Alert) {
        self.found.alerts.push(alert);
    }
    fn observation(&mut self, observation: Observation) {
        self.found.observations.push(observation);
    }
    fn excluded(&mut self, rule: &str) {
        self.found.excluded.push(rule.to_string());
    }
}

impl Scan for Reading<'_> {
    fn record(&mut self, record: &Record) -> bool {
        if let Some(h) = &mut self.hand_over {
            if self.found.size() >= BATCH {
                if let Some(p) = h.permit.take() {
                    h.batches.send_blocking(std::mem::take(&mut self.found), p);
                }
                h.permit = h.batches.reserve_blocking(h.runtime);
            }
        }
        let name = record.fields.str(trail::fields::well_known::EVENT_NAME);
        if name.is_some_and(|n| self.watch.contains(n)) {
            self.found.watched.push(record.raw.to_string());
        }
        if let Some(used) = self.uses.and_then(|r| r.read(record)) {
            self.found.usage.record(&used);
        }
        true
    }
    fn unusable(&mut self, error: TrailError) {
        self.first_bad.get_or_insert_with(|| error.to_string());
    }
}

/// Matches per batch: an alert-dense object is delivered in pieces of this size while it is
/// read, instead of collected whole.
pub const BATCH: usize = 500;

/// A batch and its share of the pending-alert budget, given back when the batch is dropped
/// (delivered, or given up on).
pub type Batch = (Found, OwnedSemaphorePermit);

/// Where readers hand their batches: one bounded channel per message, and one budget of
/// pending alerts and observations shared by every message. A reader waits (and stops
/// reading) while the budget is spent, so memory stays bounded whatever the density and the
/// number of messages in flight.
#[derive(Clone)]
pub struct Batches {
    tx: mpsc::Sender<Batch>,
    budget: Arc<Semaphore>,
}

impl Batches {
    pub fn new(budget: Arc<Semaphore>) -> (Batches, mpsc::Receiver<Batch>) {
        let (tx, rx) = mpsc::channel(1);
        (Batches { tx, budget }, rx)
    }

    /// A batch's share of the budget, taken before the batch is filled: what a reader holds
    /// while it reads is always counted. Waits (on a blocking thread) while the budget is
    /// spent; None when the budget is gone.
    fn reserve_blocking(&self, runtime: &Handle) -> Option<OwnedSemaphorePermit> {
        runtime
            .block_on(self.budget.clone().acquire_many_owned(BATCH as u32))
            .ok()
    }

    /// Hands over a batch filled under `permit`, waiting for room. False when the receiving
    /// side is gone.
    fn send_blocking(&self, found: Found, permit: OwnedSemaphorePermit) -> bool {
        self.tx.blocking_send((found, permit)).is_ok()
    }

    /// Hands over a batch from async code.
    pub async fn send(&self, found: Found) -> bool {
        let n = found.size().clamp(1, BATCH) as u32;
        let Ok(permit) = self.budget.clone().acquire_many_owned(n).await else {
            return false;
        };
        self.tx.send((found, permit)).await.is_ok()
    }
}
