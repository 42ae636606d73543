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

use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::metrics::events::{
    DeleteFailed, InternalEvent, MessageKept, MessageRedelivered, MessageReleased, MessagesDeleted,
    MessagesReceived, ReceiveFailed, VisibilityNotExtended,
};
use crate::metrics::http::Health;
use crate::metrics::Metrics;
use crate::source::queue::{Queue, Receipt, Received, DELETE_BATCH};

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything the message caused is done: delete it.
    Done,
    /// Leave it for redelivery (and, in the end, the dead-letter queue); the reason is a
    /// `reason` label of `sqs_messages_failed_total`.
    Keep(&'static str),
}

/// Works on one message.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, message: &Received) -> impl Future<Output = Outcome> + Send;
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
}

impl Settings {
    pub fn of(cfg: &Config) -> Settings {
        Settings {
            receivers_per_queue: cfg.sqs.receivers_per_queue.max(1),
            max_in_flight: cfg.sqs.max_in_flight.max(1),
            visibility: Duration::from_secs(cfg.sqs.visibility_timeout_secs),
            wait: Duration::from_secs(cfg.sqs.wait_time_secs.max(0) as u64),
            grace: cfg.grace(),
        }
    }
}

/// Finished messages waiting to be deleted, at most, per queue. A message whose alerts were
/// delivered but that is not deleted yet is re-sent after a crash (the sinks' memory of
/// delivered ids goes with the state file, saved periodically), so the backlog is kept small:
/// a full backlog holds up the message tasks, which hold up receiving.
const DELETE_BACKLOG: usize = 100;

struct Run<H> {
    handler: Arc<H>,
    settings: Settings,
    metrics: Metrics,
    health: Arc<Health>,
    capacity: Arc<Semaphore>,
    stop_receiving: CancellationToken,
    abandon: CancellationToken,
    tracker: TaskTracker,
}

/// Consumes `queues` until `shutdown` is cancelled, then drains: returns when every message
/// in flight is finished (and deleted) or, after the grace period, released.
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
        run.tracker.wait().await;
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
            r = queue.receive(permits.len(), run.settings.wait, run.settings.visibility) => r,
        };
        let messages = match received {
            Ok(m) => {
                failures = 0;
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
                let _permit = permit;
                process(&run2, queue, message, deleter).await;
            });
        }
    }
}

async fn process<Q: Queue, H: Handler>(
    run: &Run<H>,
    queue: Arc<Q>,
    message: Received,
    deleter: mpsc::Sender<Receipt>,
) {
    let metrics = &run.metrics;
    metrics.in_flight_messages.inc();
    if message.receive_count > 1 {
        MessageRedelivered {
            message_id: &message.receipt.message_id,
            receive_count: message.receive_count,
        }
        .emit(metrics);
    }
    let done = CancellationToken::new();
    keep_invisible(
        queue.clone(),
        message.receipt.clone(),
        run.settings.visibility,
        done.clone(),
        metrics.clone(),
    );
    let outcome = tokio::select! {
        o = run.handler.handle(&message) => Some(o),
        _ = run.abandon.cancelled() => None,
    };
    done.cancel();
    match outcome {
        // Waits while the delete backlog is full (see DELETE_BACKLOG).
        Some(Outcome::Done) => {
            let _ = deleter.send(message.receipt).await;
        }
        Some(Outcome::Keep(reason)) => MessageKept { reason }.emit(metrics),
        None => {
            let released = queue.set_visibility(&message.receipt, Duration::ZERO).await;
            MessageReleased {
                message_id: &message.receipt.message_id,
                error: released.as_ref().err().map(|e| e as _),
            }
            .emit(metrics);
        }
    }
    metrics.in_flight_messages.dec();
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
