//! The daemon's queue discipline against the in-memory queue, on a paused clock: what is
//! deleted, what is left for redelivery and when it comes back, what is held through a sink
//! outage, visibility renewal, how many messages are worked on at once, and shutdown. (The SQS implementation of the same seam is
//! exercised end to end against moto server in tests/daemon.rs.)

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use trailwatch::daemon::consumer::{consume, Handler, Outcome, Settings};
use trailwatch::metrics::http::Health;
use trailwatch::metrics::{Metrics, Reason};
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
        max_held: 1000,
        hold_backoff_max: Duration::from_secs(300),
    }
}

/// A handler from a closure, recording every call: body, receive count, and when. Held
/// messages are woken by `recovered`.
struct Recording<F> {
    work: F,
    calls: Mutex<Vec<(String, u32, Instant)>>,
    running: AtomicUsize,
    most_running: AtomicUsize,
    recovered: Arc<tokio::sync::Notify>,
}

impl<F, Fut> Handler for Recording<F>
where
    F: Fn(Received, CancellationToken) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    async fn handle(&self, m: &Received, stop: &CancellationToken) -> Outcome {
        self.calls
            .lock()
            .unwrap()
            .push((m.body.clone(), m.receive_count, Instant::now()));
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_running.fetch_max(now, Ordering::SeqCst);
        let outcome = (self.work)(m.clone(), stop.clone()).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        outcome
    }

    async fn recovered(&self) {
        self.recovered.notified().await
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
    F: Fn(Received, CancellationToken) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    start_with(queue, settings(max_in_flight), Default::default(), work)
}

fn start_with<F, Fut>(
    queue: Arc<MemoryQueue>,
    settings: Settings,
    recovered: Arc<tokio::sync::Notify>,
    work: F,
) -> Running<F>
where
    F: Fn(Received, CancellationToken) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    let handler = Arc::new(Recording {
        work,
        calls: Mutex::default(),
        running: AtomicUsize::new(0),
        most_running: AtomicUsize::new(0),
        recovered,
    });
    let (metrics, health, shutdown) = (
        Metrics::new(),
        Arc::new(Health::default()),
        CancellationToken::new(),
    );
    let task = tokio::spawn(consume(
        vec![queue.clone()],
        handler.clone(),
        settings,
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
    until_within(what, Duration::from_secs(3600), done).await
}

async fn until_within(what: &str, limit: Duration, done: impl Fn() -> bool) {
    let give_up = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < give_up, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn failed(metrics: &Metrics, why: Reason) -> u64 {
    metrics
        .sqs_messages_failed_total
        .with_label_values(&[why.as_str()])
        .get()
}

fn queue_with(n: usize) -> (Arc<MemoryQueue>, Vec<String>) {
    let queue = Arc::new(MemoryQueue::new("memory://events"));
    let ids = (0..n).map(|i| queue.send(format!("body {i}"))).collect();
    (queue, ids)
}

/// An empty queue's first answer makes the daemon ready at once, not after a whole long poll
/// (20 s here); the receives after it wait for messages, and one sent later is worked on as
/// it arrives.
#[tokio::test(start_paused = true)]
async fn an_empty_queue_is_ready_at_once_and_then_long_polled() {
    let (queue, _) = queue_with(0);
    let run = start(queue, 4, |_, _| async { Outcome::Done });
    let started = Instant::now();
    until_within("ready", Duration::from_secs(1), || run.health.is_ready()).await;
    assert!(started.elapsed() < Duration::from_secs(1));

    tokio::time::sleep(Duration::from_secs(60)).await;
    let id = run.queue.send("late");
    let sent = Instant::now();
    until("deleted", || run.queue.deleted() == [id.clone()]).await;
    let calls = run.handler.calls();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].2 - sent < Duration::from_secs(1), "{calls:?}");
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn finished_messages_are_deleted_and_nothing_else_happens() {
    let (queue, mut ids) = queue_with(25);
    let run = start(queue, 8, |_, _| async { Outcome::Done });
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
    let run = start(queue, 4, |m: Received, _| async move {
        if m.receive_count == 1 {
            Outcome::Retry(Reason::ReadError)
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
    assert_eq!(failed(&metrics, Reason::ReadError), 1);
    assert_eq!(metrics.sqs_messages_redelivered_total.get(), 1);
    assert_eq!(metrics.sqs_messages_deleted_total.get(), 1);
}

#[tokio::test(start_paused = true)]
async fn long_work_keeps_its_message_invisible_and_renewal_stops_when_done() {
    let (queue, ids) = queue_with(1);
    let work = Duration::from_secs(100);
    let run = start(queue, 4, move |_, _| async move {
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
    let run = start(queue, 3, |_, _| async {
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
    let run = start(queue, 4, |_, _| async {
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
    assert_eq!(failed(&metrics, Reason::Released), 0);
    assert!(!health.is_ready(), "not ready while draining");
}

#[tokio::test(start_paused = true)]
async fn shutdown_releases_what_outlasts_the_grace_period() {
    let (queue, ids) = queue_with(2);
    // Work that only ends when told to stop, and then takes a moment (a sink call in
    // flight finishing).
    let run = start(queue, 4, |_, stop: CancellationToken| async move {
        stop.cancelled().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        Outcome::Stopped
    });
    until("both received", || run.handler.calls().len() == 2).await;
    let stopping = Instant::now();
    let (queue, _, metrics) = run.stop().await;
    let waited = Instant::now() - stopping;
    assert!(
        waited >= GRACE + Duration::from_millis(300) && waited < GRACE + Duration::from_secs(1),
        "waited the grace period, then for the handlers to stop: {waited:?}"
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
    assert_eq!(failed(&metrics, Reason::Released), 2);
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
    let run = start(queue, 4, |_, _| async { Outcome::Done });
    until("deleted on the second attempt", || {
        run.queue.deleted() == ids
    })
    .await;
    let (_, handler, metrics) = run.stop().await;
    assert_eq!(
        handler.calls().iter().map(|c| c.1).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(failed(&metrics, Reason::DeleteFailed), 1);
    assert_eq!(metrics.sqs_messages_deleted_total.get(), 1);
}

#[tokio::test(start_paused = true)]
async fn receive_failures_are_retried_with_a_growing_wait() {
    let (queue, ids) = queue_with(1);
    queue.fail_receives(3);
    let started = Instant::now();
    let run = start(queue, 4, |_, _| async { Outcome::Done });
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

/// A sink for the hold tests: down or up; it remembers what it accepted (each alert id
/// once, as the real sinks' dedupe does) and wakes held messages when it comes back.
#[derive(Default)]
struct Sink {
    up: std::sync::atomic::AtomicBool,
    accepted: Mutex<Vec<String>>,
    recovered: Arc<tokio::sync::Notify>,
}

impl Sink {
    /// Each message carries 16 alerts; all go out, or none while the sink is down.
    fn deliver(&self, body: &str) -> Outcome {
        if !self.up.load(Ordering::SeqCst) {
            return Outcome::Hold(Reason::SinkFailed);
        }
        let mut accepted = self.accepted.lock().unwrap();
        for i in 0..16 {
            let id = format!("{body}/alert-{i}");
            if !accepted.contains(&id) {
                accepted.push(id);
            }
        }
        Outcome::Done
    }

    fn come_back(&self) {
        self.up.store(true, Ordering::SeqCst);
        self.recovered.notify_waiters();
    }
}

fn holding(max_in_flight: usize, max_held: usize) -> Settings {
    Settings {
        max_held,
        ..settings(max_in_flight)
    }
}

/// The outage the issue describes, ten times over: longer than maxReceiveCount × the
/// visibility timeout. Every message is held (received once, never again), nothing reaches
/// the dead-letter queue, and every alert is delivered once, as soon as the sink is back.
#[tokio::test(start_paused = true)]
async fn a_sink_outage_far_longer_than_the_queue_allows_loses_nothing() {
    const MAX_RECEIVES: u32 = 3;
    let outage = VISIBILITY * MAX_RECEIVES * 10;
    let queue = Arc::new(MemoryQueue::with_dead_letter(
        "memory://events",
        MAX_RECEIVES,
    ));
    let ids: Vec<String> = (0..10).map(|i| queue.send(format!("object-{i}"))).collect();
    let sink = Arc::new(Sink::default());
    let s = sink.clone();
    let run = start_with(
        queue,
        holding(4, 1000),
        sink.recovered.clone(),
        move |m: Received, _| {
            let s = s.clone();
            async move { s.deliver(&m.body) }
        },
    );
    let started = Instant::now();
    until("all ten held", || run.metrics.held_messages.get() == 10).await;
    tokio::time::sleep_until(started + outage).await;
    assert!(run.queue.dead_letters().is_empty());
    assert!(run.queue.deleted().is_empty());
    assert_eq!(run.queue.visible(), 0, "every message stayed invisible");
    sink.come_back();
    until("all deleted", || run.queue.deleted().len() == 10).await;
    assert!(
        Instant::now() - started < outage + Duration::from_secs(1),
        "delivered as soon as the sink came back, not at the end of a backoff"
    );
    let (queue, handler, metrics) = run.stop().await;
    assert!(queue.dead_letters().is_empty(), "nothing reached the DLQ");
    let mut deleted = queue.deleted();
    deleted.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(deleted, want);
    let accepted = sink.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), 160, "each alert delivered once");
    assert!(
        handler.calls().iter().all(|c| c.1 == 1),
        "held, never handed out again"
    );
    assert_eq!(metrics.sqs_messages_redelivered_total.get(), 0);
    assert_eq!(metrics.held_messages.get(), 0);
    assert_eq!(failed(&metrics, Reason::SinkFailed), 0);
    // Kept invisible through the outage with extensions that grow with the backoff: 10 s,
    // 20 s, … up to 300 s (plus the visibility timeout each).
    let extensions: Vec<Duration> = queue
        .visibility_changes()
        .into_iter()
        .filter(|c| c.0 == ids[0])
        .map(|c| c.1)
        .collect();
    assert_eq!(
        extensions[..6],
        [10, 20, 40, 80, 160, 300].map(|s| Duration::from_secs(s) + VISIBILITY)
    );
}

/// SQS keeps a message invisible for at most 12 hours after it was received: a message held
/// that long goes back to the queue and is received again, counting once towards the DLQ.
#[tokio::test(start_paused = true)]
async fn a_message_held_for_twelve_hours_goes_back_to_the_queue() {
    let queue = Arc::new(MemoryQueue::with_dead_letter("memory://events", 2));
    let id = queue.send("object");
    let sink = Arc::new(Sink::default());
    let s = sink.clone();
    let run = start_with(
        queue,
        holding(4, 1000),
        sink.recovered.clone(),
        move |m: Received, _| {
            let s = s.clone();
            async move { s.deliver(&m.body) }
        },
    );
    let started = Instant::now();
    until_within("received again", Duration::from_secs(13 * 3600), || {
        run.handler.calls().iter().any(|c| c.1 == 2)
    })
    .await;
    let back = Instant::now() - started;
    let twelve_hours = Duration::from_secs(12 * 3600);
    assert!(
        back > twelve_hours - VISIBILITY * 3 && back <= twelve_hours,
        "given back shortly before the 12-hour limit: {back:?}"
    );
    assert_eq!(failed(&run.metrics, Reason::SinkFailed), 1);
    sink.come_back();
    until("deleted", || run.queue.deleted() == [id.clone()]).await;
    let (queue, _, metrics) = run.stop().await;
    assert!(queue.dead_letters().is_empty());
    assert_eq!(metrics.held_messages.get(), 0);
    assert_eq!(sink.accepted.lock().unwrap().len(), 16);
}

/// Only delivery failures are held: a message whose object cannot be read comes back after
/// its visibility timeout and reaches the dead-letter queue after maxReceiveCount receives.
#[tokio::test(start_paused = true)]
async fn read_failures_still_reach_the_dead_letter_queue() {
    let queue = Arc::new(MemoryQueue::with_dead_letter("memory://events", 3));
    let id = queue.send("unreadable");
    let run = start(queue, 4, |_, _| async { Outcome::Retry(Reason::ReadError) });
    until("in the DLQ", || run.queue.dead_letters() == [id.clone()]).await;
    let (queue, handler, metrics) = run.stop().await;
    assert!(queue.is_empty());
    assert_eq!(
        handler.calls().iter().map(|c| c.1).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(failed(&metrics, Reason::ReadError), 3);
    assert_eq!(metrics.held_messages.get(), 0);
}

/// Held messages give their in-flight place to new ones, up to `max_held`; past it they keep
/// it, and receiving stops (the rest wait in the queue, never received, so never closer to
/// the DLQ).
#[tokio::test(start_paused = true)]
async fn held_messages_make_room_up_to_max_held() {
    let queue = Arc::new(MemoryQueue::with_dead_letter("memory://events", 2));
    for i in 0..10 {
        queue.send(format!("object-{i}"));
    }
    let sink = Arc::new(Sink::default());
    let s = sink.clone();
    let run = start_with(
        queue,
        holding(2, 3),
        sink.recovered.clone(),
        move |m: Received, _| {
            let s = s.clone();
            async move { s.deliver(&m.body) }
        },
    );
    until("five held", || run.metrics.held_messages.get() == 5).await;
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(
        run.metrics.held_messages.get(),
        5,
        "3 with room of their own, 2 in flight"
    );
    let received: std::collections::BTreeSet<String> =
        run.handler.calls().into_iter().map(|c| c.0).collect();
    assert_eq!(received.len(), 5);
    assert_eq!(run.queue.visible(), 5, "the rest were never received");
    sink.come_back();
    until("all deleted", || run.queue.deleted().len() == 10).await;
    let (queue, handler, _) = run.stop().await;
    assert!(queue.dead_letters().is_empty());
    assert!(handler.calls().iter().all(|c| c.1 == 1));
    assert_eq!(sink.accepted.lock().unwrap().len(), 160);
}

/// A shutdown does not wait out a held message's backoff: it is released at once.
#[tokio::test(start_paused = true)]
async fn shutdown_releases_held_messages_at_once() {
    let (queue, ids) = queue_with(1);
    let sink = Arc::new(Sink::default());
    let s = sink.clone();
    let run = start_with(
        queue,
        holding(4, 1000),
        sink.recovered.clone(),
        move |m: Received, _| {
            let s = s.clone();
            async move { s.deliver(&m.body) }
        },
    );
    until("held", || run.metrics.held_messages.get() == 1).await;
    let stopping = Instant::now();
    let (queue, _, metrics) = run.stop().await;
    assert!(Instant::now() - stopping < Duration::from_secs(1));
    assert_eq!(queue.visible(), 1, "released for another consumer");
    assert_eq!(
        queue.visibility_changes().last(),
        Some(&(ids[0].clone(), Duration::ZERO))
    );
    assert_eq!(failed(&metrics, Reason::Released), 1);
    assert_eq!(metrics.held_messages.get(), 0);
}

/// A handler that does not stop when told to does not keep the daemon from exiting.
#[tokio::test(start_paused = true)]
async fn a_handler_that_ignores_stop_is_left_behind_after_a_limit() {
    let (queue, _) = queue_with(1);
    let run = start(queue, 4, |_, _| std::future::pending::<Outcome>());
    until("received", || run.handler.calls().len() == 1).await;
    let stopping = Instant::now();
    let (queue, _, _) = run.stop().await;
    let waited = Instant::now() - stopping;
    assert!(
        waited >= GRACE + Duration::from_secs(60) && waited < GRACE + Duration::from_secs(61),
        "{waited:?}"
    );
    assert!(queue.deleted().is_empty());
}
