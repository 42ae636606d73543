//! `trailwatch replay s3://… --enqueue QUEUE_URL` against moto server: one S3 event
//! notification per listed object lands on the queue, and a daemon consuming it raises
//! exactly the alerts a replay of the same prefix raises.

use crate::common;

use std::time::Duration;

use common::daemon::{start, wait_for};
use common::moto::{aws, Moto};
use common::{alerts, sorted_ids, stderr};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueued_backfill_gives_the_alerts_replay_gives() {
    let moto = Moto::start();
    let aws = aws(&moto.url).await;
    aws.s3.create_bucket().bucket("trail").send().await.unwrap();
    assert_eq!(
        aws.upload_samples("trail").await,
        27,
        "26 logs and a digest"
    );
    let queue = aws.queue("backfill", &[]).await;

    let bad = moto
        .command(&[
            "replay",
            "s3://trail/",
            "--enqueue",
            "https://example.com/nope",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("--enqueue: "), "{}", stderr(&bad));

    let enqueued = moto
        .command(&["replay", "s3://trail/", "--enqueue", &queue])
        .output()
        .unwrap();
    assert_eq!(enqueued.status.code(), Some(0), "{}", stderr(&enqueued));
    assert!(
        stderr(&enqueued).contains("enqueued 26 of 26 objects"),
        "{}",
        stderr(&enqueued)
    );
    assert!(enqueued.stdout.is_empty(), "no alert is raised here");
    assert_eq!(
        aws.depth(&queue).await,
        26,
        "one message per log, none for the digest"
    );

    // The batches go out in parallel and SQS does not keep order, so the objects arrive
    // roughly, not exactly, in delivery order: a lateness that covers the samples' span lets
    // the correlations across files count every event whatever the order. One message at a
    // time (replicas sharing correlation state is another matter).
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("alerts.jsonl");
    let mut daemon = tokio::task::block_in_place(|| {
        start(
            &moto,
            "[sqs]\nwait_time_secs = 1\nmax_in_flight = 1\n[correlation]\nlateness = \"1d\"\n",
            &["--queue-url", &queue, "--jsonl", jsonl.to_str().unwrap()],
            &dir.path().join("daemon.log"),
        )
    });
    tokio::task::block_in_place(|| {
        wait_for("every message deleted", Duration::from_secs(120), || {
            daemon.metric("trailwatch_sqs_messages_deleted_total") >= 26.0
        })
    });
    assert!(daemon.stop().success());
    let consumed: Vec<serde_json::Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let replayed = moto.command(&["replay", "s3://trail/"]).output().unwrap();
    assert_eq!(replayed.status.code(), Some(0), "{}", stderr(&replayed));
    let expected = sorted_ids(&alerts(&replayed));
    assert!(expected.len() > 50, "{}", expected.len());
    assert_eq!(sorted_ids(&consumed), expected);
    assert_eq!(aws.depth(&queue).await, 0);
}
