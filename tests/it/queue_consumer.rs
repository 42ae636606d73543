//! The daemon's queue discipline against the in-memory queue, on a paused clock: what is
//! deleted, what is left for redelivery and when it comes back, visibility renewal, how many
//! messages are worked on at once, and shutdown. (The SQS implementation of the same seam is
//! exercised end to end against moto server in tests/daemon.rs.)

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use trailwatch::daemon::consumer::{consume, Handler, Outcome, Settings};
use trailwatch::metrics::http::Health;
use trailwatch::metrics::{reason, Metrics};
use trailwatch::source::queue::memory::MemoryQueue;
use trailwatch::source::queue::{Queue, Received};

const VISIBILITY: Duration = Duration::from_secs(30);
const GRACE: Duration = Duration::from_secs(10);

fn settings(max_in_flight: usize) -> Settings {
    Settings {
        receivers_per_queue: 1,
        max_in_flight,
        visibility: VISIBILITY,
        wait: Duration::from_secs(20),
        grace: GRACE,
    }
}

/// A handler from a closure, recording every call: body, receive count, and when.
struct Recording<F> {
    work: F,
    calls: Mutex<Vec<(String, u32, Instant)>>,
    running: AtomicUsize,
    most_running: AtomicUsize,
}

impl<F, Fut> Handler for Recording<F>
where
    F: Fn(Received) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    async fn handle(&self, m: &Received) -> Outcome {
        self.calls
            .lock()
            .unwrap()
            .push((m.body.clone(), m.receive_count, Instant::now()));
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_running.fetch_max(now, Ordering::SeqCst);
        let outcome = (self.work)(m.clone()).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        outcome
    }
}

impl<F> Recording<F> {
    fn calls(&self) -> Vec<(String, u32, Instant)> {
        self.calls.lock().unwrap().clone()
    }
}

struct Running<F> {
    queue: Arc<MemoryQueue>,
    handler: Arc<Recording<F>>,
    metrics: Metrics,
    health: Arc<Health>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn start<F, Fut>(queue: Arc<MemoryQueue>, max_in_flight: usize, work: F) -> Running<F>
where
    F: Fn(Received) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    let handler = Arc::new(Recording {
        work,
        calls: Mutex::default(),
        running: AtomicUsize::new(0),
        most_running: AtomicUsize::new(0),
    });
    let (metrics, health, shutdown) = (
        Metrics::new(),
        Arc::new(Health::default()),
        CancellationToken::new(),
    );
    let task = tokio::spawn(consume(
        vec![queue.clone()],
        handler.clone(),
        settings(max_in_flight),
        metrics.clone(),
        health.clone(),
        shutdown.clone(),
    ));
    Running {
        queue,
        handler,
        metrics,
        health,
        shutdown,
        task,
    }
}

impl<F> Running<F> {
    async fn stop(self) -> (Arc<MemoryQueue>, Arc<Recording<F>>, Metrics) {
        self.shutdown.cancel();
        self.task.await.unwrap();
        (self.queue, self.handler, self.metrics)
    }
}

/// Waits (on the paused clock) until `done` holds; fails after an hour of queue time.
async fn until(what: &str, done: impl Fn() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(3600);
    while !done() {
        assert!(Instant::now() < give_up, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn failed(metrics: &Metrics, why: &str) -> u64 {
    metrics
        .sqs_messages_failed_total
        .with_label_values(&[why])
        .get()
}

fn queue_with(n: usize) -> (Arc<MemoryQueue>, Vec<String>) {
    let queue = Arc::new(MemoryQueue::new("memory://events"));
    let ids = (0..n).map(|i| queue.send(format!("body {i}"))).collect();
    (queue, ids)
}

#[tokio::test(start_paused = true)]
async fn finished_messages_are_deleted_and_nothing_else_happens() {
    let (queue, mut ids) = queue_with(25);
    let run = start(queue, 8, |_| async { Outcome::Done });
    until("all deleted", || run.queue.deleted().len() == 25).await;
    let (queue, handler, metrics) = run.stop().await;
    let mut deleted = queue.deleted();
    deleted.sort();
    ids.sort();
    assert_eq!(deleted, ids);
    assert!(queue.is_empty());
    assert_eq!(handler.calls().len(), 25, "each message handled once");
    assert_eq!(metrics.sqs_messages_received_total.get(), 25);
    assert_eq!(metrics.sqs_messages_deleted_total.get(), 25);
    assert_eq!(metrics.sqs_messages_redelivered_total.get(), 0);
    assert_eq!(metrics.in_flight_messages.get(), 0);
    assert!(
        queue.visibility_changes().is_empty(),
        "quick work needs no renewal"
    );
}

#[tokio::test(start_paused = true)]
async fn a_kept_message_comes_back_after_its_visibility_timeout_and_is_counted() {
    let (queue, ids) = queue_with(1);
    let run = start(queue, 4, |m: Received| async move {
        if m.receive_count == 1 {
            Outcome::Keep(reason::READ_ERROR)
        } else {
            Outcome::Done
        }
    });
    until("deleted on the second attempt", || {
        run.queue.deleted() == ids
    })
    .await;
    let (_, handler, metrics) = run.stop().await;
    let calls = handler.calls();
    assert_eq!(
        calls.iter().map(|c| c.1).collect::<Vec<_>>(),
        vec![1, 2],
        "receive counts"
    );
    let gap = calls[1].2 - calls[0].2;
    assert!(
        gap >= VISIBILITY && gap < VISIBILITY + Duration::from_secs(21),
        "redelivered when the visibility timeout ran out, not before: {gap:?}"
    );
    assert_eq!(failed(&metrics, reason::READ_ERROR), 1);
    assert_eq!(metrics.sqs_messages_redelivered_total.get(), 1);
    assert_eq!(metrics.sqs_messages_deleted_total.get(), 1);
}

#[tokio::test(start_paused = true)]
async fn long_work_keeps_its_message_invisible_and_renewal_stops_when_done() {
    let (queue, ids) = queue_with(1);
    let work = Duration::from_secs(100);
    let run = start(queue, 4, move |_| async move {
        tokio::time::sleep(work).await;
        Outcome::Done
    });
    until("deleted", || run.queue.deleted() == ids).await;
    let renewals = run.queue.visibility_changes();
    // Renewed every half timeout (15 s) while the 100 s of work lasted: at 15, 30, … 90 s.
    assert_eq!(
        renewals,
        vec![(ids[0].clone(), VISIBILITY); 6],
        "renewals while working"
    );
    tokio::time::sleep(VISIBILITY * 4).await;
    assert_eq!(
        run.queue.visibility_changes().len(),
        6,
        "no renewal after the message is done"
    );
    let (_, handler, metrics) = run.stop().await;
    assert_eq!(
        handler.calls().len(),
        1,
        "never handed to a second worker while the first still worked"
    );
    assert_eq!(metrics.sqs_messages_redelivered_total.get(), 0);
}

#[tokio::test(start_paused = true)]
async fn no_more_messages_are_taken_than_there_is_room_to_work_on() {
    let (queue, _) = queue_with(10);
    let run = start(queue, 3, |_| async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Outcome::Done
    });
    until("all deleted", || run.queue.deleted().len() == 10).await;
    let (_, handler, metrics) = run.stop().await;
    assert_eq!(handler.most_running.load(Ordering::SeqCst), 3);
    assert!(
        handler.calls().iter().all(|c| c.1 == 1),
        "a message waiting for room is not received (and so never times out)"
    );
    assert_eq!(metrics.sqs_messages_received_total.get(), 10);
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_work_finish_within_the_grace_period() {
    let (queue, ids) = queue_with(1);
    let run = start(queue, 4, |_| async {
        tokio::time::sleep(GRACE / 2).await;
        Outcome::Done
    });
    until("received", || run.handler.calls().len() == 1).await;
    let health = run.health.clone();
    let (queue, _, metrics) = run.stop().await;
    assert_eq!(
        queue.deleted(),
        ids,
        "finished and deleted during the drain"
    );
    assert_eq!(failed(&metrics, reason::RELEASED), 0);
    assert!(!health.is_ready(), "not ready while draining");
}

#[tokio::test(start_paused = true)]
async fn shutdown_releases_what_outlasts_the_grace_period() {
    let (queue, ids) = queue_with(2);
    let run = start(queue, 4, |_| std::future::pending::<Outcome>());
    until("both received", || run.handler.calls().len() == 2).await;
    let stopping = Instant::now();
    let (queue, _, metrics) = run.stop().await;
    let waited = Instant::now() - stopping;
    assert!(
        waited >= GRACE && waited < GRACE + Duration::from_secs(1),
        "waited the grace period: {waited:?}"
    );
    assert!(queue.deleted().is_empty());
    assert_eq!(
        queue.visible(),
        2,
        "released: visible to another consumer at once"
    );
    let zeroed: Vec<_> = queue
        .visibility_changes()
        .into_iter()
        .filter(|c| c.1.is_zero())
        .map(|c| c.0)
        .collect();
    assert_eq!(zeroed.len(), 2);
    assert!(ids.iter().all(|id| zeroed.contains(id)));
    assert_eq!(failed(&metrics, reason::RELEASED), 2);
    assert_eq!(metrics.in_flight_messages.get(), 0);
    let again = queue.receive(10, Duration::ZERO, VISIBILITY).await.unwrap();
    assert_eq!(
        again.iter().map(|m| m.receive_count).collect::<Vec<_>>(),
        vec![2, 2]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_delete_leaves_the_message_to_be_redelivered() {
    let (queue, ids) = queue_with(1);
    queue.fail_deletes(1);
    let run = start(queue, 4, |_| async { Outcome::Done });
    until("deleted on the second attempt", || {
        run.queue.deleted() == ids
    })
    .await;
    let (_, handler, metrics) = run.stop().await;
    assert_eq!(
        handler.calls().iter().map(|c| c.1).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(failed(&metrics, reason::DELETE_FAILED), 1);
    assert_eq!(metrics.sqs_messages_deleted_total.get(), 1);
}

#[tokio::test(start_paused = true)]
async fn receive_failures_are_retried_with_a_growing_wait() {
    let (queue, ids) = queue_with(1);
    queue.fail_receives(3);
    let started = Instant::now();
    let run = start(queue, 4, |_| async { Outcome::Done });
    until("deleted", || run.queue.deleted() == ids).await;
    let first_call = run.handler.calls()[0].2 - started;
    // 0.5 s, 1 s, 2 s after the three failures.
    assert!(
        first_call >= Duration::from_millis(3500) && first_call < Duration::from_secs(5),
        "{first_call:?}"
    );
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_stale_receipt_deletes_nothing() {
    let (queue, ids) = queue_with(1);
    let first = queue
        .receive(1, Duration::ZERO, Duration::from_secs(1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second = queue
        .receive(1, Duration::ZERO, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(second[0].receive_count, 2);
    let refused = queue.delete(&[first[0].receipt.clone()]).await.unwrap();
    assert_eq!(refused.len(), 1, "only the newest receipt deletes");
    assert!(queue
        .delete(&[second[0].receipt.clone()])
        .await
        .unwrap()
        .is_empty());
    assert_eq!(queue.deleted(), ids);
}
