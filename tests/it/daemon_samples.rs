//! The daemon on the sample trails, delivered as CloudTrail delivers them: one file after the
//! other in delivery-time order. It must raise exactly the alerts `replay` raises on the same
//! files — the correlation across files included — call no event late, and record what each
//! principal used as `replay --usage` does.

use crate::common;

use std::time::Duration;

use common::daemon::{start, wait_for};
use common::moto::{aws, provision, Moto};
use common::{alerts, samples, trailwatch};
use trailwatch::source::notification::delivery_stamp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_delivered_in_order_give_the_alerts_replay_gives() {
    let moto = Moto::start();
    let aws = aws(&moto.url).await;
    let setup = provision(&aws).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("daemon.log");
    let state = dir.path().join("state.json");
    let config = format!(
        "[sqs]\nwait_time_secs = 1\n[state]\nfile = \"{}\"\n",
        state.display()
    );
    let mut daemon = tokio::task::block_in_place(|| {
        start(
            &moto,
            &config,
            &[
                "--queue-url",
                &setup.events_queue,
                "--sns-topic-arn",
                &setup.topic_arn,
            ],
            &log,
        )
    });
    let root = samples().join("AWSLogs");
    let replayed = trailwatch(&["replay", root.to_str().unwrap()]);
    let mut expected: Vec<String> = alerts(&replayed)
        .iter()
        .map(|a| a["alert_id"].as_str().unwrap().to_string())
        .collect();
    expected.sort();
    assert!(
        alerts(&replayed)
            .iter()
            .any(|a| a["rule"]["name"] == "login-without-mfa-then-access-key"),
        "the samples hold a correlation across files"
    );

    // The S3 test event the bucket sent when its notification was set up.
    tokio::task::block_in_place(|| {
        wait_for("test event deleted", Duration::from_secs(30), || {
            daemon.metric("trailwatch_sqs_messages_deleted_total") >= 1.0
        })
    });
    let mut files = common::files_under(&root);
    files.sort_by_key(|f| {
        let name = f.file_name().unwrap().to_str().unwrap();
        (delivery_stamp(name).map(str::to_string), name.to_string())
    });
    for (n, file) in files.iter().enumerate() {
        let key = file
            .strip_prefix(samples())
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        aws.put_file("trail", &key, file).await;
        tokio::task::block_in_place(|| {
            wait_for(&format!("{key} handled"), Duration::from_secs(30), || {
                daemon.metric("trailwatch_sqs_messages_deleted_total") >= (n + 2) as f64
            })
        });
    }
    let mut got = Vec::new();
    for _ in 0..20 {
        got.extend(aws.alert_ids(&setup.alerts_queue).await);
        if got.len() >= expected.len() {
            break;
        }
    }
    got.sort();
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(got, expected, "{text}");
    assert!(!text.contains("older than correlation.lateness"), "{text}");

    // What each principal used, in the state file once the daemon stops: the record replay
    // builds from the same files.
    assert!(tokio::task::block_in_place(|| daemon.stop()).success());
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let usage = dir.path().join("usage.json");
    let out = trailwatch(&[
        "replay",
        "--usage",
        usage.to_str().unwrap(),
        root.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let replayed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&usage).unwrap()).unwrap();
    assert_eq!(replayed["principals"].as_object().unwrap().len(), 5);
    assert_eq!(saved["usage"], replayed);
    // The audit reads the record from the state file as well as from replay's.
    let arn = "arn:aws:iam::111122223333:role/Admin";
    let from_state = trailwatch(&[
        "audit",
        "--suggest-policy",
        arn,
        "--usage",
        state.to_str().unwrap(),
    ]);
    let from_replay = trailwatch(&[
        "audit",
        "--suggest-policy",
        arn,
        "--usage",
        usage.to_str().unwrap(),
    ]);
    assert!(
        from_state.status.success(),
        "{}",
        common::stderr(&from_state)
    );
    assert_eq!(from_state.stdout, from_replay.stdout);
}
