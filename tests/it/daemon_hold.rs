//! What the daemon does with messages it cannot finish, against moto server: a message whose
//! alerts a sink refuses is held (kept invisible, retried) through an outage far longer than
//! the queue's redrive policy allows; one that is not a notification goes to the dead-letter
//! queue, is counted there, and `trailwatch redrive` brings it back. `check-config --probe`
//! asks every party the configuration names.

use crate::common;

use std::time::Duration;

use common::daemon::{expected_alert_ids, sample_log, start, wait_for};
use common::moto::{aws, provision, Moto, Webhook};

/// A webhook down for longer than maxReceiveCount (2) × visibility (2 s), three times over:
/// the message stays invisible and held, nothing reaches the dead-letter queue, and when the
/// webhook is back every alert arrives exactly once and the message is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_outage_longer_than_the_redrive_policy_loses_nothing() {
    let moto = Moto::start();
    let aws = aws(&moto.url).await;
    let setup = provision(&aws).await;
    let (hook, hook_url) = Webhook::start(0).await;
    hook.set_down(true);
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("daemon.log");
    let config = format!(
        "[sqs]\nvisibility_timeout_secs = 2\nwait_time_secs = 1\nhold_backoff_max_secs = 2\n\
         [[sinks.webhook]]\nname = \"pager\"\nurl = \"{hook_url}\"\nmax_retries = 0\n"
    );
    let mut daemon = tokio::task::block_in_place(|| {
        start(
            &moto,
            &config,
            &["--queue-url", &setup.events_queue],
            &log_path,
        )
    });
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let file = sample_log();
    let expected = expected_alert_ids(&file);
    aws.put_file(
        "trail",
        &format!(
            "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/{}",
            file.file_name().unwrap().to_str().unwrap()
        ),
        &file,
    )
    .await;
    tokio::task::block_in_place(|| {
        wait_for("the message held", Duration::from_secs(60), || {
            daemon.metric("trailwatch_held_messages") == 1.0
                && daemon.metric("trailwatch_sink_up{sink=\"pager\"}") == 0.0
        });
        // 3 × maxReceiveCount × visibility: without the hold the message would have been
        // handed out twice and moved to the dead-letter queue well before this.
        std::thread::sleep(Duration::from_secs(12));
    });
    assert_eq!(
        aws.depth(&setup.dlq).await,
        0,
        "nothing in the DLQ\n{}",
        log()
    );
    assert_eq!(aws.depth(&setup.events_queue).await, 1, "still in flight");
    assert!(hook.alert_ids().is_empty());
    assert_eq!(
        daemon.metric("trailwatch_sqs_messages_redelivered_total"),
        0.0,
        "never handed out again\n{}",
        log()
    );
    assert!(log().contains("message held"), "{}", log());

    hook.set_down(false);
    tokio::task::block_in_place(|| {
        // The S3 test event moto sent when the notification was set up is the first.
        wait_for("the message delivered", Duration::from_secs(30), || {
            hook.alert_ids().len() >= expected.len()
                && daemon.metric("trailwatch_sqs_messages_deleted_total") == 2.0
        })
    });
    let mut got = hook.alert_ids();
    got.sort();
    assert_eq!(got, expected, "each alert once\n{}", log());
    assert_eq!(daemon.metric("trailwatch_held_messages"), 0.0);
    assert_eq!(daemon.metric("trailwatch_sink_up{sink=\"pager\"}"), 1.0);
    assert_eq!(aws.depth(&setup.dlq).await, 0);
    assert_eq!(aws.depth(&setup.events_queue).await, 0);
    let status = tokio::task::block_in_place(|| daemon.stop());
    assert!(status.success());
    assert!(!log().contains("panicked"), "{}", log());
}

/// A notification that is not well formed (an S3 record without eventName, bucket or key)
/// is logged once with its message id, counted, and left for the dead-letter queue; the
/// daemon counts what waits there; `trailwatch redrive` moves it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_notifications_reach_the_dead_letter_queue_and_redrive_brings_them_back() {
    let moto = Moto::start();
    let aws = aws(&moto.url).await;
    let setup = provision(&aws).await;
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("daemon.log");
    let config =
        "[sqs]\nvisibility_timeout_secs = 2\nwait_time_secs = 1\ndead_letter_check_secs = 1\n\
                  [[sinks.jsonl]]\npath = \"-\"\n";
    let mut daemon = tokio::task::block_in_place(|| {
        start(
            &moto,
            config,
            &["--queue-url", &setup.events_queue],
            &log_path,
        )
    });
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let body = r#"{"Records":[{"eventSource":"aws:s3","s3":{}}]}"#;
    let id = aws
        .sqs
        .send_message()
        .queue_url(&setup.events_queue)
        .message_body(body)
        .send()
        .await
        .unwrap()
        .message_id
        .unwrap();
    tokio::task::block_in_place(|| {
        wait_for("counted in the DLQ", Duration::from_secs(60), || {
            daemon.metric("trailwatch_dlq_messages{queue=\"trail-dlq\"}") == 1.0
        })
    });
    let text = log();
    let said: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("unrecognized message left for the dead-letter queue"))
        .collect();
    assert_eq!(said.len(), 1, "logged once, not once per receive:\n{text}");
    assert!(said[0].contains(&id) && said[0].contains("S3 record 0 has no eventName"));
    assert_eq!(
        daemon.metric("trailwatch_sqs_messages_failed_total{reason=\"unrecognized\"}"),
        2.0,
        "counted at each of its two receives"
    );
    assert_eq!(
        daemon.metric("trailwatch_sqs_messages_deleted_total"),
        1.0,
        "only moto's S3 test event"
    );
    tokio::task::block_in_place(|| daemon.stop());
    // A long poll the daemon had open (wait_time_secs = 1) outlives it in the server, and
    // would take the message sent back: let it lapse first.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let out = moto.trailwatch(&["redrive", "--queue-url", &setup.events_queue]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("trail-dlq: 1 message(s) moved back (receive, send, delete)"),
        "{err}"
    );
    assert_eq!(aws.depth(&setup.dlq).await, 0);
    let back = aws.drain(&setup.events_queue).await;
    assert_eq!(
        back,
        vec![body.to_string()],
        "redrive said:\n{err}\ndaemon:\n{}",
        log()
    );
    // A queue without a dead-letter queue is said, not guessed at.
    let out = moto.trailwatch(&["redrive", "--queue-url", &setup.dlq]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no dead-letter queue"));
}

/// `check-config --probe` asks each party once and names the configuration key of each that
/// does not answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_probe_names_what_does_not_answer() {
    let moto = Moto::start();
    let aws = aws(&moto.url).await;
    let setup = provision(&aws).await;
    let (_hook, hook_url) = Webhook::start(0).await;
    let dir = tempfile::tempdir().unwrap();
    let config = |topic: &str, hook: &str| {
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            format!(
                "[sqs]\nqueue_urls = [\"{}\"]\n[[sinks.sns]]\ntopic_arn = \"{topic}\"\n\
                 [[sinks.webhook]]\nname = \"pager\"\nurl = \"{hook}\"\n",
                setup.events_queue
            ),
        )
        .unwrap();
        path
    };
    let good = config(&setup.topic_arn, &hook_url);
    let out = moto.trailwatch(&["check-config", "--probe", "-c", good.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "ok    AWS credentials: sts:GetCallerIdentity: account 123456789012",
        "ok    sqs.queue_urls[0]: sqs:GetQueueAttributes: visibility timeout 30 s; dead-letter queue trail-dlq after 2 receives",
        "ok    sqs.queue_urls[0] (dead-letter queue trail-dlq): sqs:GetQueueAttributes: 0 message(s) waiting",
        "ok    sinks.sns[0] (sink sns-0): sns:GetTopicAttributes: arn:aws:sns:us-east-1:123456789012:trailwatch-alerts",
        "ok    sinks.webhook[0] (sink pager): HEAD http://127.0.0.1/…: HTTP 405",
        "probe OK: 5 answered",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    // A closed port and a topic that does not exist.
    let closed = format!("http://127.0.0.1:{}/hook", common::moto::free_port());
    let bad = config("arn:aws:sns:us-east-1:123456789012:nope", &closed);
    let out = moto.trailwatch(&["check-config", "--probe", "-c", bad.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let fails: Vec<&str> = text.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(fails.len(), 2, "{text}");
    assert!(fails[0].starts_with("FAIL  sinks.sns[0] (sink sns-0): sns:GetTopicAttributes: "));
    assert!(
        fails[1].starts_with("FAIL  sinks.webhook[0] (sink pager): HEAD http://127.0.0.1/…: ")
            && fails[1].contains("Connection refused"),
        "{}",
        fails[1]
    );
    assert!(
        !text.contains("/hook"),
        "the webhook's path is never shown: {text}"
    );
    assert!(
        text.contains("probe FAILED: 2 of 5 did not answer"),
        "{text}"
    );
}
