//! A sink never receives one alert twice, even from deliveries running at the same time: a
//! queue fed by both S3 notifications and CloudTrail's SNS topic names each object twice, and
//! the daemon processes both messages at once.

use crate::common;

use std::sync::Arc;

use common::moto::Webhook;
use common::{alerts, samples, stderr, trailwatch};
use trailwatch::alert::Alert;
use trailwatch::config::Config;
use trailwatch::metrics::Metrics;
use trailwatch::pipeline::{Pipeline, Use};
use trailwatch::sink::SinkSet;

/// The sinks of `cfg`, over the state in memory, as a replay to sinks builds them.
fn sinks_of(cfg: Config) -> SinkSet {
    let pipeline = Pipeline::build(cfg, Use::ReplayToSinks).unwrap();
    let state = pipeline.state(None, &Metrics::new(), None).unwrap();
    pipeline.sinks(None, Metrics::new(), state).unwrap()
}

/// The alerts of one sample log file, as the daemon would deliver them.
fn sample_alerts() -> Vec<Arc<Alert>> {
    let out = trailwatch(&["replay", samples().join("AWSLogs").to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    alerts(&out)
        .into_iter()
        .map(|a| Arc::new(serde_json::from_value(a).unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_concurrent_deliveries_of_the_same_alerts_send_each_once() {
    let (hook, url) = Webhook::start(0).await;
    let cfg = Config::parse("c", &format!("[[sinks.webhook]]\nurl = {url:?}\n")).unwrap();
    let sinks = Arc::new(sinks_of(cfg));
    let batch = sample_alerts();
    assert!(batch.len() > 50, "{} alerts", batch.len());
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let (sinks, batch) = (sinks.clone(), batch.clone());
            tokio::spawn(async move { sinks.deliver(&batch).await })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap().is_ok());
    }
    let mut got = hook.alert_ids();
    got.sort();
    let mut want: Vec<String> = batch.iter().map(|a| a.alert_id.clone()).collect();
    want.sort();
    assert_eq!(got, want, "each alert exactly once");
}

/// When the first delivery's attempt fails, a delivery that waited for it sends what it did
/// not get accepted: nothing is lost to the reservation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_attempt_leaves_the_alerts_to_the_delivery_that_waited() {
    // The first request fails (after the sink's own retries are spent: max_retries = 0).
    let (hook, url) = Webhook::start(1).await;
    let cfg = Config::parse(
        "c",
        &format!("[[sinks.webhook]]\nurl = {url:?}\nmax_retries = 0\n"),
    )
    .unwrap();
    let sinks = Arc::new(sinks_of(cfg));
    let batch: Vec<Arc<Alert>> = sample_alerts().into_iter().take(5).collect();
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let (sinks, batch) = (sinks.clone(), batch.clone());
            tokio::spawn(async move { sinks.deliver(&batch).await.is_ok() })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    results.sort();
    // One delivery saw the failure; the other delivered all five.
    assert_eq!(results, [false, true]);
    let mut got = hook.alert_ids();
    got.sort();
    let mut want: Vec<String> = batch.iter().map(|a| a.alert_id.clone()).collect();
    want.sort();
    assert_eq!(got, want);
}
