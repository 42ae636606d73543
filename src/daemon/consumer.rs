//! The consumer: receiving from every queue, working on each message while keeping it
//! invisible, deleting what is done in background batches, leaving what failed for
//! redelivery, and draining on shutdown. What a message *means* is the [`Handler`]'s business;
//! this file is only the queue discipline, the same over SQS and the in-memory queue its
//! tests run against (`tests/queue_consumer.rs`).
//!
//! The rules it keeps: a message is deleted only when the handler says everything it caused
//! is done; a failed one is left alone (the queue hands it out again and, in the end, moves
//! it to the dead-letter queue); its visibility is renewed while it is worked on and not a
//! moment longer; receivers only ask for as many messages as there is room to work on; on
//! shutdown receiving stops, in-flight work gets the grace period, the rest is released.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::metrics::events::{
    DeleteFailed, InternalEvent, MessageHeld, MessageKept, MessageRedelivered, MessageReleased,
    MessageUnheld, MessagesDeleted, MessagesReceived, ReceiveFailed, VisibilityNotExtended,
};
use crate::metrics::http::Health;
use crate::metrics::{Metrics, Reason};
use crate::source::queue::{Queue, Receipt, Received, DELETE_BATCH, MAX_INVISIBLE};

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything the message caused is done: delete it.
    Done,
    /// Leave it for redelivery (and, in the end, the dead-letter queue).
    Retry(Reason),
    /// It was read in full and only its delivery failed (a sink, or the shared state, is
    /// down): hold it here, invisible, and try again, rather than let it come back and
    /// climb towards the dead-letter queue.
    Hold(Reason),
    /// Shutdown cut it short (see [`Handler::handle`]): make it visible again at once.
    Stopped,
}

/// Works on one message.
pub trait Handler: Send + Sync + 'static {
    /// Handles a message. Once `stop` is cancelled (the grace period of a shutdown is over)
    /// the handler ends as soon as it can without losing track of what it did: it starts
    /// nothing new, lets a sink call already made finish (so an alert a sink accepted is
    /// remembered as accepted), joins its readers, and returns [`Outcome::Stopped`].
    fn handle(
        &self,
        message: &Received,
        stop: &CancellationToken,
    ) -> impl Future<Output = Outcome> + Send;

    /// Resolves when something a held message waits on may have come back (a sink that was
    /// failing accepted again), so held messages are tried at once rather than at the end
    /// of their backoff. Never, by default.
    fn recovered(&self) -> impl Future<Output = ()> + Send {
        std::future::pending()
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Concurrent receivers per queue.
    pub receivers_per_queue: usize,
    /// Messages worked on at once, over all queues.
    pub max_in_flight: usize,
    /// How long a received message stays invisible; renewed every half of it.
    pub visibility: Duration,
    /// Long-poll wait of a receive.
    pub wait: Duration,
    /// How long in-flight messages may take to finish after shutdown begins.
    pub grace: Duration,
    /// Held messages that do not count against `max_in_flight`; past it a held message
    /// keeps its place, and receiving slows down until deliveries succeed again.
    pub max_held: usize,
    /// The longest wait between two attempts at a held message (the first waits
    /// [`FIRST_HOLD`], each next one twice as long).
    pub hold_backoff_max: Duration,
}

impl Settings {
    pub fn of(cfg: &Config) -> Settings {
        Settings {
            receivers_per_queue: cfg.sqs.receivers_per_queue.max(1),
            max_in_flight: cfg.sqs.max_in_flight.max(1),
            visibility: Duration::from_secs(cfg.sqs.visibility_timeout_secs),
            wait: Duration::from_secs(cfg.sqs.wait_time_secs.max(0) as u64),
            grace: cfg.grace(),
            max_held: cfg.sqs.max_held_messages,
            hold_backoff_max: Duration::from_secs(cfg.sqs.hold_backoff_max_secs.max(1)),
        }
    }
}

/// Finished messages waiting to be deleted, at most, per queue. A message whose alerts were
/// delivered but that is not deleted yet is re-sent after a crash (the sinks' memory of
/// delivered ids goes with the state file, saved periodically), so the backlog is kept small:
/// a full backlog holds up the message tasks, which hold up receiving.
const DELETE_BACKLOG: usize = 100;

/// The wait before the second attempt at a held message.
pub const FIRST_HOLD: Duration = Duration::from_secs(10);

/// How long handlers get to end once told to stop (a sink call in flight finishing): past
/// it the drain gives up on them.
const STOP_LIMIT: Duration = Duration::from_secs(60);

struct Run<H> {
    handler: Arc<H>,
    settings: Settings,
    metrics: Metrics,
    health: Arc<Health>,
    capacity: Arc<Semaphore>,
    /// Room for held messages that gave their in-flight place back.
    held_capacity: Arc<Semaphore>,
    /// Attempts at held messages (that gave their place back) running at once: as many as
    /// `max_in_flight`, apart from it, so that a sink coming back is not a thundering herd
    /// and held messages never wait behind a receive.
    retrying: Arc<Semaphore>,
    stop_receiving: CancellationToken,
    abandon: CancellationToken,
    tracker: TaskTracker,
}

/// Consumes `queues` until `shutdown` is cancelled, then drains: returns when every message
/// in flight is finished (and deleted) or, after the grace period, stopped and released.
pub async fn consume<Q: Queue, H: Handler>(
    queues: Vec<Arc<Q>>,
    handler: Arc<H>,
    settings: Settings,
    metrics: Metrics,
    health: Arc<Health>,
    shutdown: CancellationToken,
) {
    let run = Arc::new(Run {
        handler,
        capacity: Arc::new(Semaphore::new(settings.max_in_flight)),
        held_capacity: Arc::new(Semaphore::new(settings.max_held)),
        retrying: Arc::new(Semaphore::new(settings.max_in_flight)),
        settings,
        metrics,
        health,
        stop_receiving: shutdown,
        abandon: CancellationToken::new(),
        tracker: TaskTracker::new(),
    });
    let mut receivers = Vec::new();
    let mut deleters = Vec::new();
    for queue in queues {
        let (deleter, task) = spawn_deleter(queue.clone(), run.metrics.clone());
        deleters.push(task);
        for _ in 0..run.settings.receivers_per_queue {
            receivers.push(tokio::spawn(receive_loop(
                run.clone(),
                queue.clone(),
                deleter.clone(),
            )));
        }
    }

    run.stop_receiving.cancelled().await;
    run.health.mark_draining();
    for r in receivers {
        let _ = r.await;
    }
    run.tracker.close();
    let grace = run.settings.grace;
    if tokio::time::timeout(grace, run.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            messages = run.metrics.in_flight_messages.get(),
            ?grace,
            "grace period over: releasing unfinished messages"
        );
        run.abandon.cancel();
        if tokio::time::timeout(STOP_LIMIT, run.tracker.wait())
            .await
            .is_err()
        {
            tracing::error!(
                messages = run.metrics.in_flight_messages.get(),
                limit = ?STOP_LIMIT,
                "messages still in flight after being told to stop; they return when their visibility timeout runs out"
            );
            return;
        }
    }
    // Every receiver and message task is done and dropped its deleter handle: the deleters
    // delete what they were given and end.
    for d in deleters {
        let _ = d.await;
    }
}

async fn receive_loop<Q: Queue, H: Handler>(
    run: Arc<Run<H>>,
    queue: Arc<Q>,
    deleter: mpsc::Sender<Receipt>,
) {
    let mut failures = 0u32;
    // Until the queue has answered once, receives do not wait for messages: readiness
    // (/readyz) comes from the first answer, and an empty queue's long poll would hold it
    // back for the whole wait (20 s by default) at every start and rollout.
    let mut wait = Duration::ZERO;
    loop {
        // Only ask for as many messages as there is room to work on.
        let first = tokio::select! {
            _ = run.stop_receiving.cancelled() => return,
            p = run.capacity.clone().acquire_owned() => p.expect("semaphore never closes"),
        };
        let mut permits = vec![first];
        while permits.len() < 10 {
            match run.capacity.clone().try_acquire_owned() {
                Ok(p) => permits.push(p),
                Err(_) => break,
            }
        }
        let received = tokio::select! {
            _ = run.stop_receiving.cancelled() => return,
            r = queue.receive(permits.len(), wait, run.settings.visibility) => r,
        };
        let messages = match received {
            Ok(m) => {
                failures = 0;
                wait = run.settings.wait;
                run.health.mark_received();
                m
            }
            Err(e) => {
                failures += 1;
                let wait = Duration::from_millis((250u64 << failures.min(6)).min(15_000));
                ReceiveFailed {
                    queue: queue.name(),
                    error: &e,
                    wait,
                }
                .emit(&run.metrics);
                tokio::select! {
                    _ = run.stop_receiving.cancelled() => return,
                    _ = tokio::time::sleep(wait) => continue,
                }
            }
        };
        MessagesReceived {
            count: messages.len(),
        }
        .emit(&run.metrics);
        for (message, permit) in messages.into_iter().zip(permits) {
            let (run2, queue, deleter) = (run.clone(), queue.clone(), deleter.clone());
            run.tracker.spawn(async move {
                process(&run2, queue, message, deleter, permit).await;
            });
        }
    }
}

/// A message being held: since when, how often, how long the next wait is, and the place
/// it keeps.
struct Held {
    since: Instant,
    holds: u32,
    backoff: Duration,
    /// Its place among held messages, when it gave its in-flight place back.
    place: Option<OwnedSemaphorePermit>,
}

async fn process<Q: Queue, H: Handler>(
    run: &Run<H>,
    queue: Arc<Q>,
    message: Received,
    deleter: mpsc::Sender<Receipt>,
    permit: OwnedSemaphorePermit,
) {
    let metrics = &run.metrics;
    let received_at = Instant::now();
    metrics.in_flight_messages.inc();
    if message.receive_count > 1 {
        MessageRedelivered {
            message_id: &message.receipt.message_id,
            receive_count: message.receive_count,
        }
        .emit(metrics);
    }
    let mut permit = Some(permit);
    let mut held: Option<Held> = None;
    let outcome = loop {
        let done = CancellationToken::new();
        keep_invisible(
            queue.clone(),
            message.receipt.clone(),
            run.settings.visibility,
            done.clone(),
            metrics.clone(),
        );
        let outcome = run.handler.handle(&message, &run.abandon).await;
        done.cancel();
        let Outcome::Hold(reason) = outcome else {
            break outcome;
        };
        if run.stop_receiving.is_cancelled() {
            break Outcome::Stopped;
        }
        // SQS keeps a message invisible for at most 12 hours after it was received: the
        // last wait ends with time left for one more attempt, after which the message goes
        // back to the queue (and is received again, counting once towards the DLQ).
        let room = MAX_INVISIBLE
            .saturating_sub(received_at.elapsed())
            .saturating_sub(run.settings.visibility * 2);
        let h = held.get_or_insert_with(|| Held {
            since: Instant::now(),
            holds: 0,
            backoff: FIRST_HOLD,
            place: None,
        });
        if room.is_zero() {
            let _ = queue.set_visibility(&message.receipt, Duration::ZERO).await;
            break Outcome::Retry(reason);
        }
        let wait = h.backoff.min(room);
        MessageHeld {
            message_id: &message.receipt.message_id,
            reason,
            first: h.holds == 0,
            wait,
        }
        .emit(metrics);
        h.holds += 1;
        h.backoff = (h.backoff * 2).min(run.settings.hold_backoff_max);
        // Invisible through the wait and the next attempt's start (renewed from then on).
        if let Err(e) = queue
            .set_visibility(&message.receipt, wait + run.settings.visibility)
            .await
        {
            VisibilityNotExtended {
                message_id: &message.receipt.message_id,
                error: &e,
            }
            .emit(metrics);
            break Outcome::Retry(reason);
        }
        // While held it gives its in-flight place to new messages, as long as there is
        // room among held ones; its next attempts then run on a slot for held messages.
        if h.place.is_none() {
            h.place = run.held_capacity.clone().try_acquire_owned().ok();
        }
        if h.place.is_some() {
            permit = None;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = run.handler.recovered() => {}
            _ = run.stop_receiving.cancelled() => break Outcome::Stopped,
        }
        if permit.is_none() {
            permit = tokio::select! {
                p = run.retrying.clone().acquire_owned() => Some(p.expect("semaphore never closes")),
                _ = run.stop_receiving.cancelled() => break Outcome::Stopped,
            };
        }
    };
    if let Some(h) = held {
        MessageUnheld {
            message_id: &message.receipt.message_id,
            held_for: h.since.elapsed(),
            delivered: outcome == Outcome::Done,
        }
        .emit(metrics);
    }
    match outcome {
        // Waits while the delete backlog is full (see DELETE_BACKLOG).
        Outcome::Done => {
            let _ = deleter.send(message.receipt).await;
        }
        Outcome::Retry(reason) | Outcome::Hold(reason) => MessageKept { reason }.emit(metrics),
        Outcome::Stopped => {
            let released = queue.set_visibility(&message.receipt, Duration::ZERO).await;
            MessageReleased {
                message_id: &message.receipt.message_id,
                error: released.as_ref().err().map(|e| e as _),
            }
            .emit(metrics);
        }
    }
    metrics.in_flight_messages.dec();
    drop(permit);
}

/// Renews the message's visibility every half period until `done` is cancelled, so work that
/// outlives the visibility timeout is not handed to another consumer.
fn keep_invisible<Q: Queue>(
    queue: Arc<Q>,
    receipt: Receipt,
    visibility: Duration,
    done: CancellationToken,
    metrics: Metrics,
) {
    tokio::spawn(async move {
        let period = (visibility / 2).max(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = done.cancelled() => return,
                _ = tokio::time::sleep(period) => {}
            }
            if done.is_cancelled() {
                return;
            }
            if let Err(e) = queue.set_visibility(&receipt, visibility).await {
                VisibilityNotExtended {
                    message_id: &receipt.message_id,
                    error: &e,
                }
                .emit(&metrics);
            }
        }
    });
}

/// Deletes finished messages in batches of up to ten, off the receive path, the batches of a
/// round in parallel. Ends when every sender is dropped, after deleting what it was given.
fn spawn_deleter<Q: Queue>(
    queue: Arc<Q>,
    metrics: Metrics,
) -> (mpsc::Sender<Receipt>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Receipt>(DELETE_BACKLOG);
    let task = tokio::spawn(async move {
        let mut pending: Vec<Receipt> = Vec::new();
        loop {
            let first = rx.recv().await;
            let closed = first.is_none();
            if let Some(r) = first {
                pending.push(r);
                // Gather what arrives in the next moment into the same batches.
                let deadline = tokio::time::Instant::now() + Duration::from_millis(50);
                while let Ok(Some(r)) = tokio::time::timeout_at(deadline, rx.recv()).await {
                    pending.push(r);
                    if pending.len() >= DELETE_BACKLOG {
                        break;
                    }
                }
            }
            let batches = pending
                .chunks(DELETE_BATCH)
                .map(|batch| delete_batch(&*queue, &metrics, batch));
            futures_util::future::join_all(batches).await;
            pending.clear();
            if closed {
                return;
            }
        }
    });
    (tx, task)
}

async fn delete_batch<Q: Queue>(queue: &Q, metrics: &Metrics, batch: &[Receipt]) {
    match queue.delete(batch).await {
        Ok(failed) => {
            MessagesDeleted {
                count: batch.len() - failed.len(),
            }
            .emit(metrics);
            for f in &failed {
                let error = format!("{}: {}", f.code, f.message);
                DeleteFailed {
                    queue: queue.name(),
                    message_id: Some(&f.message_id),
                    count: 1,
                    error: &error,
                }
                .emit(metrics);
            }
        }
        Err(e) => DeleteFailed {
            queue: queue.name(),
            message_id: None,
            count: batch.len(),
            error: &e,
        }
        .emit(metrics),
    }
}
