//! `trailwatch run` end to end against real parts: moto server (SQS, SNS, S3 with S3→SQS
//! notifications) on loopback, a loopback webhook receiver, and the real daemon binary.

use crate::common;

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;

use common::daemon::{expected_alert_ids, sample_log, start, start_with_env, wait_for, Daemon};
use common::moto::{aws, provision, Moto, Setup, Webhook};
use common::{samples, trailwatch};

/// The daemon of the main test: SNS topic and webhook sinks, short visibility and polls.
fn start_daemon(moto: &Moto, setup: &Setup, webhook_url: &str, dir: &std::path::Path) -> Daemon {
    start(
        moto,
        "[sqs]\nvisibility_timeout_secs = 2\nwait_time_secs = 1\n[shutdown]\ngrace_secs = 5\n",
        &[
            "--queue-url",
            &setup.events_queue,
            "--sns-topic-arn",
            &setup.topic_arn,
            "--webhook-url",
            webhook_url,
        ],
        &dir.join("daemon.log"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_daemon_against_moto() {
    let moto = Moto::start();
    let aws = aws(&moto.url).await;
    let setup = provision(&aws).await;
    // The webhook fails its first three requests, then recovers.
    let (hook, hook_url) = Webhook::start(3).await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = {
        let (moto_ref, setup_ref, dir_path) = (&moto, &setup, dir.path().to_path_buf());
        tokio::task::block_in_place(|| start_daemon(moto_ref, setup_ref, &hook_url, &dir_path))
    };
    let mut daemon = daemon;
    let log =
        |dir: &std::path::Path| std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default();

    // 1. A log file put into the bucket: S3 → SQS → daemon → SNS and webhook, message deleted.
    let file = sample_log();
    let expected = expected_alert_ids(&file);
    assert!(expected.len() >= 3, "the sample fires rules");
    let key = format!(
        "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/{}",
        file.file_name().unwrap().to_str().unwrap()
    );
    aws.put_file("trail", &key, &file).await;
    tokio::task::block_in_place(|| {
        wait_for("webhook alerts", Duration::from_secs(60), || {
            hook.alert_ids().len() >= expected.len()
        })
    });
    let mut got = hook.alert_ids();
    got.sort();
    assert_eq!(
        got,
        expected,
        "each alert reached the webhook exactly once\n{}",
        log(dir.path())
    );
    assert!(
        *hook.requests.lock().unwrap() >= expected.len() + 3,
        "the 500s were retried"
    );
    let mut sns_ids = aws.alert_ids(&setup.alerts_queue).await;
    sns_ids.sort();
    assert_eq!(sns_ids, expected, "each alert reached SNS exactly once");
    tokio::task::block_in_place(|| {
        wait_for("message deleted", Duration::from_secs(20), || {
            daemon.metric("trailwatch_sqs_messages_deleted_total") >= 1.0
        })
    });
    assert_eq!(
        aws.depth(&setup.events_queue).await,
        0,
        "{}",
        log(dir.path())
    );
    let metrics = daemon.metrics();
    assert!(
        metrics.contains("trailwatch_alerts_total{level=\"high\",rule=\"root-console-login\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("trailwatch_s3_objects_total{result=\"ok\"} 1"),
        "{metrics}"
    );

    // 2. The same notification delivered again: read again, but no duplicate alert.
    let notification = serde_json::json!({"s3Bucket": "trail", "s3ObjectKey": [key]}).to_string();
    let envelope = serde_json::json!({"Type": "Notification", "MessageId": "m-1",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:cloudtrail", "Message": notification})
    .to_string();
    aws.sqs
        .send_message()
        .queue_url(&setup.events_queue)
        .message_body(&envelope)
        .send()
        .await
        .unwrap();
    tokio::task::block_in_place(|| {
        wait_for("redelivery processed", Duration::from_secs(30), || {
            daemon.metric("trailwatch_sqs_messages_deleted_total") >= 2.0
        })
    });
    assert_eq!(
        hook.alert_ids().len(),
        expected.len(),
        "no duplicate at the webhook"
    );
    assert!(
        aws.drain(&setup.alerts_queue).await.is_empty(),
        "no duplicate on SNS"
    );

    // 3. EventBridge: the event in the message is matched directly.
    let deleted_so_far = daemon.metric("trailwatch_sqs_messages_deleted_total");
    let eb =
        std::fs::read_to_string(samples().join("eventbridge/root-console-login.json")).unwrap();
    aws.sqs
        .send_message()
        .queue_url(&setup.events_queue)
        .message_body(&eb)
        .send()
        .await
        .unwrap();
    tokio::task::block_in_place(|| {
        wait_for("EventBridge alert", Duration::from_secs(30), || {
            hook.bodies
                .lock()
                .unwrap()
                .iter()
                .any(|b| b["origin"]["message_id"].is_string())
                && daemon.metric("trailwatch_sqs_messages_deleted_total") > deleted_so_far
        })
    });

    // 4. An object deleted before it is fetched: the message is not deleted.
    let deleted_before = daemon.metric("trailwatch_sqs_messages_deleted_total");
    let gone = serde_json::json!({"s3Bucket": "trail", "s3ObjectKey": ["AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/gone.json.gz"]}).to_string();
    aws.sqs
        .send_message()
        .queue_url(&setup.events_queue)
        .message_body(&gone)
        .send()
        .await
        .unwrap();
    // 5. A garbage message ends in the dead-letter queue.
    aws.sqs
        .send_message()
        .queue_url(&setup.events_queue)
        .message_body("definitely not JSON")
        .send()
        .await
        .unwrap();
    tokio::task::block_in_place(|| {
        wait_for("both in the DLQ", Duration::from_secs(60), || {
            daemon.metric("trailwatch_sqs_messages_failed_total{reason=\"object_missing\"}") >= 1.0
                && daemon.metric("trailwatch_sqs_messages_failed_total{reason=\"unrecognized\"}")
                    >= 1.0
        })
    });
    let mut dead = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while dead.len() < 2 && Instant::now() < deadline {
        dead.extend(aws.drain(&setup.dlq).await);
    }
    dead.sort();
    assert_eq!(
        dead,
        vec!["definitely not JSON".to_string(), gone],
        "{}",
        log(dir.path())
    );
    assert_eq!(
        daemon.metric("trailwatch_sqs_messages_deleted_total"),
        deleted_before,
        "neither message was deleted"
    );
    // Both were received more than once on their way there, and each time it was said.
    assert!(
        daemon.metric("trailwatch_sqs_messages_redelivered_total") >= 2.0,
        "{}",
        daemon.metrics()
    );
    assert!(
        log(dir.path()).contains("message received again"),
        "{}",
        log(dir.path())
    );

    // 6. SIGTERM: drains and exits 0.
    let status = tokio::task::block_in_place(|| daemon.stop());
    assert!(status.success(), "{}", log(dir.path()));
}

/// A daemon on `queue` with one webhook sink, only the `cloudtrail-stopped` rule, the given
/// grace period, and its state directory (as systemd's StateDirectory= gives it).
fn start_webhook_daemon(
    moto: &Moto,
    queue: &str,
    hook_url: &str,
    grace_secs: u64,
    state_dir: &std::path::Path,
    log: &std::path::Path,
) -> Daemon {
    let config = format!(
        "[sqs]\nvisibility_timeout_secs = 2\nwait_time_secs = 1\n[shutdown]\ngrace_secs = {grace_secs}\n"
    );
    let args = [
        "--queue-url",
        queue,
        "--webhook-url",
        hook_url,
        "--rule",
        "cloudtrail-stopped",
    ];
    let env = [("STATE_DIRECTORY", state_dir.to_str().unwrap())];
    start_with_env(moto, &config, &args, log, &env)
}

/// SIGTERM while a large object is being read and its alerts delivered (a webhook taking
/// 10 ms an alert). The first daemon's grace period runs out: it stops between two alerts,
/// remembers every alert the webhook accepted in its state file (the default one, under
/// $STATE_DIRECTORY), releases the message and exits without a panic. The next daemon
/// reads the object again and sends only what the first did not: every alert arrives
/// exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_in_the_middle_of_a_large_object_sends_nothing_twice() {
    let moto = Moto::start();
    let aws = aws(&moto.url).await;
    let setup = provision(&aws).await;
    let (hook, hook_url) = Webhook::slow(Duration::from_millis(10)).await;
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    std::fs::create_dir(&state_dir).unwrap();
    let archive = dir.path().join("archive");
    let gen = trailwatch(&[
        "generate",
        "--out",
        archive.to_str().unwrap(),
        "--size-mb",
        "400",
        "--records-per-file",
        "100000000",
    ]);
    assert!(gen.status.success());
    let file = common::files_under(&archive).pop().unwrap();
    let replayed = trailwatch(&[
        "replay",
        "--rule",
        "cloudtrail-stopped",
        file.to_str().unwrap(),
    ]);
    let mut expected: Vec<String> = common::alerts(&replayed)
        .iter()
        .map(|a| a["alert_id"].as_str().unwrap().to_string())
        .collect();
    expected.sort();
    assert!(
        expected.len() > 200,
        "the archive fires the rule often: {}",
        expected.len()
    );
    let key = file.strip_prefix(&archive).unwrap().to_str().unwrap();
    aws.put_file("trail", key, &file).await;
    let log = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();

    // First daemon: SIGTERM once the webhook has some of the alerts; a second of grace.
    let log_a = dir.path().join("a.log");
    let status = tokio::task::block_in_place(|| {
        let mut a =
            start_webhook_daemon(&moto, &setup.events_queue, &hook_url, 1, &state_dir, &log_a);
        wait_for("alerts arriving", Duration::from_secs(120), || {
            hook.alert_ids().len() >= 50
        });
        a.stop()
    });
    let first = hook.alert_ids().len();
    let a = log(&log_a);
    assert!(status.success(), "{a}");
    assert!(
        a.contains(&format!(
            "state: {}",
            state_dir.join("state.json").display()
        )),
        "says where its state is: {a}"
    );
    assert!(a.contains("releasing unfinished messages"), "{a}");
    assert!(!a.contains("panicked"), "{a}");
    assert!(
        first < expected.len(),
        "stopped mid-delivery: {first} of {}",
        expected.len()
    );
    assert!(state_dir.join("state.json").exists());
    assert_eq!(
        aws.depth(&setup.events_queue).await,
        1,
        "the message is back in the queue"
    );

    // Second daemon, same state directory: it finishes, and sends only the rest.
    let log_b = dir.path().join("b.log");
    let status = tokio::task::block_in_place(|| {
        let mut b = start_webhook_daemon(
            &moto,
            &setup.events_queue,
            &hook_url,
            60,
            &state_dir,
            &log_b,
        );
        wait_for("all alerts", Duration::from_secs(180), || {
            hook.alert_ids().len() >= expected.len()
        });
        wait_for("message deleted", Duration::from_secs(30), || {
            b.metric("trailwatch_sqs_messages_deleted_total") >= 1.0
        });
        b.stop()
    });
    let b = log(&log_b);
    assert!(status.success(), "{b}");
    assert!(!b.contains("panicked"), "{b}");
    let mut got = hook.alert_ids();
    got.sort();
    let twice = got.windows(2).filter(|w| w[0] == w[1]).count();
    assert_eq!(
        twice, 0,
        "no alert sent twice ({} before the restart)",
        first
    );
    assert_eq!(got, expected, "no alert lost");
    assert_eq!(aws.depth(&setup.events_queue).await, 0, "{b}");
}

/// A gzipped CloudTrail log of `n` failed console sign-ins for alice, 10 s apart from
/// `first_secs` past 09:00, with eventIDs numbered from `first_id`.
fn failures_log(first_id: u32, n: u32, first_secs: i64) -> Vec<u8> {
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-20T09:00:00Z").unwrap();
    let records: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let t = start + chrono::Duration::seconds(first_secs + 10 * i as i64);
            common::failed_login(
                "alice",
                &t.to_utc()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                first_id + i,
            )
        })
        .collect();
    common::gzip(
        serde_json::json!({ "Records": records })
            .to_string()
            .as_bytes(),
    )
}

/// A rolling restart does not blind a brute-force rule: daemon A sees six failures and saves
/// its open window on SIGTERM; daemon B restores it, sees four more and raises the alert.
/// Suppression keys survive too: the failures after the first are held back by both daemons
/// and counted in `trailwatch_alerts_suppressed_total`. And so does the webhook's memory of
/// what it accepted: the same object notified again after the restart sends nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correlation_windows_and_suppression_survive_a_restart() {
    let moto = Moto::start();
    let aws = aws(&moto.url).await;
    let setup = provision(&aws).await;
    let (hook, hook_url) = Webhook::start(0).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let config = format!(
        "[sqs]\nvisibility_timeout_secs = 5\nwait_time_secs = 1\n[correlation]\nstate_file = {:?}\n[[suppress]]\nrules = [\"console-login-failure\"]\nwindow = \"1h\"\nby = [\"userIdentity.userName\"]\n",
        state.to_str().unwrap()
    );
    let args = [
        "--queue-url",
        setup.events_queue.as_str(),
        "--webhook-url",
        hook_url.as_str(),
        "--rule",
        "console-login-brute-force",
    ];
    let put = |key: &'static str, body: Vec<u8>| {
        let s3 = aws.s3.clone();
        async move {
            s3.put_object()
                .bucket("trail")
                .key(format!(
                    "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/{key}"
                ))
                .body(ByteStream::from(body))
                .send()
                .await
                .unwrap();
        }
    };
    let log = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();

    let log_a = dir.path().join("a.log");
    let mut a = tokio::task::block_in_place(|| start(&moto, &config, &args, &log_a));
    put("a.json.gz", failures_log(0, 6, 0)).await;
    tokio::task::block_in_place(|| {
        // The first failure alert goes out after the whole object was correlated.
        wait_for("daemon A's first alert", Duration::from_secs(60), || {
            !hook.alert_ids().is_empty()
        })
    });
    assert_eq!(a.metric("trailwatch_correlation_groups"), 1.0);
    assert_eq!(
        a.metric("trailwatch_alerts_suppressed_total{rule=\"console-login-failure\"}"),
        5.0
    );
    let status = tokio::task::block_in_place(|| a.stop());
    assert!(status.success(), "{}", log(&log_a));
    assert!(log(&log_a).contains("state saved"), "{}", log(&log_a));
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(
        saved["correlation"]["groups"]["6b0f8a2e-91c4-5d7e-8a4b-3c2d1e0f9a71"][0][1]["entries"]
            .as_array()
            .map(Vec::len),
        Some(6),
        "six failures are waiting in the saved window"
    );
    assert_eq!(
        hook.alert_ids().len(),
        1,
        "one failure alert, five suppressed"
    );

    assert_eq!(
        saved["delivered"]["webhook-flag-0"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "the accepted alert id is saved"
    );

    let log_b = dir.path().join("b.log");
    let b = tokio::task::block_in_place(|| start(&moto, &config, &args, &log_b));
    assert!(log(&log_b).contains("state restored"), "{}", log(&log_b));
    // The first object again (a second notification for it): its alert was accepted before
    // the restart and is not sent again.
    put("a.json.gz", failures_log(0, 6, 0)).await;
    tokio::task::block_in_place(|| {
        wait_for(
            "daemon B handled the repeated object",
            Duration::from_secs(60),
            || b.metric("trailwatch_sqs_messages_deleted_total") >= 1.0,
        )
    });
    assert_eq!(hook.alert_ids().len(), 1, "{}", log(&log_b));
    // A failure dated far in the future first: it alerts, but it must not move the event-time
    // watermark, or every failure after it would be "late" for correlation.
    let future = common::failed_login("mallory", "2099-01-01T00:00:00Z", 999);
    put(
        "future.json.gz",
        common::gzip(
            serde_json::json!({ "Records": [future] })
                .to_string()
                .as_bytes(),
        ),
    )
    .await;
    tokio::task::block_in_place(|| {
        wait_for("mallory's failure alert", Duration::from_secs(60), || {
            hook.bodies
                .lock()
                .unwrap()
                .iter()
                .any(|a| a["event"]["actor"]["name"] == "mallory")
        })
    });
    assert!(
        log(&log_b).contains("ahead of the clock"),
        "{}",
        log(&log_b)
    );
    put("b.json.gz", failures_log(6, 4, 60)).await;
    tokio::task::block_in_place(|| {
        wait_for("brute-force alert", Duration::from_secs(60), || {
            hook.bodies
                .lock()
                .unwrap()
                .iter()
                .any(|a| a["rule"]["name"] == "console-login-brute-force")
        })
    });
    tokio::task::block_in_place(|| {
        wait_for(
            "daemon B deleted the messages",
            Duration::from_secs(30),
            || b.metric("trailwatch_sqs_messages_deleted_total") >= 3.0,
        )
    });
    let bodies = hook.bodies.lock().unwrap().clone();
    let brute: Vec<&serde_json::Value> = bodies
        .iter()
        .filter(|a| a["rule"]["name"] == "console-login-brute-force")
        .collect();
    assert_eq!(brute.len(), 1, "{}", log(&log_b));
    assert_eq!(brute[0]["correlation"]["count"], 10);
    assert_eq!(
        bodies
            .iter()
            .filter(|a| a["rule"]["name"] == "console-login-failure")
            .count(),
        2,
        "alice's first failure and mallory's: the restored suppression key holds back B's"
    );
    assert_eq!(
        b.metric("trailwatch_alerts_suppressed_total{rule=\"console-login-failure\"}"),
        4.0
    );
}
