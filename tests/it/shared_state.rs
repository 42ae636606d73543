//! `[state] backend = "dynamodb"` against moto server's DynamoDB and SQS: replicas sharing one
//! queue send each alert to a sink once and hold back a rule's repeats once across the fleet;
//! a replica killed mid-delivery leaves nothing to be sent twice; while the table is
//! unreachable messages stay in the queue and are delivered once when it returns.

use crate::common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::daemon::{start, wait_for, Daemon};
use common::moto::{aws, http_get, Aws, Moto, Webhook};
use common::{alerts, stderr};

const TABLE: &str = "trailwatch-state";

/// The samples in a bucket, and one S3 notification per log object on a new queue
/// (`replay --enqueue`), `times` over.
async fn samples_enqueued(moto: &Moto, aws: &Aws, prefix: &str, times: usize) -> String {
    aws.s3.create_bucket().bucket("trail").send().await.unwrap();
    aws.upload_samples("trail").await;
    let queue = aws.queue("trail-events", &[]).await;
    for _ in 0..times {
        let out = moto
            .command(&[
                "replay",
                &format!("s3://trail/{prefix}"),
                "--enqueue",
                &queue,
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    queue
}

/// The samples' us-east-1 day: 13 objects.
const DAY: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/";

/// moto with the state table, the samples in its bucket, and one notification per object of
/// [`DAY`] on a queue.
async fn one_day_enqueued() -> (Moto, Aws, String) {
    let moto = Moto::start();
    let aws = aws(&moto.url).await;
    aws.state_table(TABLE).await;
    let queue = samples_enqueued(&moto, &aws, DAY, 1).await;
    (moto, aws, queue)
}

fn state_config(extra: &str) -> String {
    format!(
        "[sqs]\nwait_time_secs = 1\nvisibility_timeout_secs = 5\n\
         [state]\nbackend = \"dynamodb\"\ntable = \"{TABLE}\"\nclaim_lease_secs = 3\n\
         [correlation]\nlateness = \"1d\"\n{extra}"
    )
}

/// Not a correlation alert. Correlation windows are per replica (and lost with a killed one),
/// so which correlation alerts fire depends on how objects are spread over replicas.
fn single(alert: &serde_json::Value) -> bool {
    alert.get("correlation").is_none_or(|c| c.is_null())
}

fn ids_of_single(alerts: &[serde_json::Value]) -> Vec<String> {
    let single: Vec<serde_json::Value> = alerts.iter().filter(|a| single(a)).cloned().collect();
    common::sorted_ids(&single)
}

fn counts(ids: &[String]) -> BTreeMap<&str, usize> {
    let mut c = BTreeMap::new();
    ids.iter()
        .for_each(|id| *c.entry(id.as_str()).or_default() += 1);
    c
}

fn rule_counts(alerts: &[serde_json::Value]) -> BTreeMap<String, usize> {
    let mut c = BTreeMap::new();
    for a in alerts {
        *c.entry(a["rule"]["name"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    c
}

/// Two daemons on one queue, logging to `a.log` and `b.log` in `dir`.
fn two_replicas(moto: &Moto, config: &str, args: &[&str], dir: &std::path::Path) -> Vec<Daemon> {
    ["a", "b"]
        .iter()
        .map(|name| start(moto, config, args, &dir.join(format!("{name}.log"))))
        .collect()
}

/// Waits until the replicas deleted `messages` between them.
fn all_deleted(replicas: &[Daemon], messages: usize) {
    wait_for("every message deleted", Duration::from_secs(180), || {
        replicas
            .iter()
            .map(|d| d.metric("trailwatch_sqs_messages_deleted_total"))
            .sum::<f64>()
            >= messages as f64
    })
}

/// The warnings and errors the daemons of a test logged, for failure messages.
fn logged_problems(dir: &std::path::Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            text.lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                .for_each(|l| out.push_str(&format!("{}: {l}\n", path.display())));
        }
    }
    out
}

fn in_block<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_verifies_the_table() {
    let moto = Moto::start();
    let aws = aws(&moto.url).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("trailwatch.toml");
    std::fs::write(&config, state_config("")).unwrap();
    let check = || {
        moto.command(&[
            "check-config",
            "--config",
            config.to_str().unwrap(),
            "--queue-url",
            "https://sqs.us-east-1.amazonaws.com/123456789012/q",
            "--jsonl",
            "-",
        ])
        .output()
        .unwrap()
    };
    let missing = check();
    assert_eq!(missing.status.code(), Some(1), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("DescribeTable on table trailwatch-state"),
        "{}",
        stderr(&missing)
    );
    aws.state_table(TABLE).await;
    let ok = check();
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert!(
        common::stdout(&ok).contains("shared state DynamoDB table trailwatch-state"),
        "{}",
        common::stdout(&ok)
    );

    std::fs::write(&config, "[state]\nbackend = \"dynamodb\"\n").unwrap();
    let no_table = check();
    assert_eq!(no_table.status.code(), Some(2));
    assert!(
        stderr(&no_table).contains("state.table: backend = \"dynamodb\" needs the table's name"),
        "{}",
        stderr(&no_table)
    );
}

/// Two replicas on one queue carrying every object twice: each alert reaches the webhook
/// once, and the suppressed rules send one alert each across both replicas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_delivered_alerts_and_suppression_windows() {
    let moto = Moto::start();
    let aws = aws(&moto.url).await;
    aws.state_table(TABLE).await;
    let queue = samples_enqueued(&moto, &aws, "", 2).await;
    assert_eq!(aws.depth(&queue).await, 52, "26 objects, each twice");
    let (hook, hook_url) = Webhook::start(0).await;
    let dir = tempfile::tempdir().unwrap();
    let config = state_config(
        "[[suppress]]\nrules = [\"unauthorized-api-call\", \"root-activity\", \"iam-policy-change\"]\nwindow = \"3650d\"\n",
    );
    let args = ["--queue-url", &queue, "--webhook-url", &hook_url];
    let mut replicas = in_block(|| two_replicas(&moto, &config, &args, dir.path()));
    in_block(|| all_deleted(&replicas, 52));
    let suppressed: f64 = replicas
        .iter()
        .map(|d| {
            d.metrics()
                .lines()
                .filter(|l| l.starts_with("trailwatch_alerts_suppressed_total{"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>()
        })
        .sum();
    for d in &mut replicas {
        assert!(d.stop().success());
    }
    assert_eq!(aws.depth(&queue).await, 0);

    // What one process replaying the prefix with the same suppression raises.
    let config_path = dir.path().join("a.toml");
    let replayed = moto
        .command(&[
            "replay",
            "s3://trail/",
            "--config",
            config_path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(replayed.status.success(), "{}", stderr(&replayed));
    // Correlations are still counted per replica: compare the single-event rules.
    let expected: Vec<serde_json::Value> = alerts(&replayed).into_iter().filter(single).collect();
    let received: Vec<serde_json::Value> = hook
        .bodies
        .lock()
        .unwrap()
        .iter()
        .filter(|a| single(a))
        .cloned()
        .collect();

    let ids = hook.alert_ids();
    let twice: Vec<_> = counts(&ids).into_iter().filter(|(_, n)| *n > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    let by_rule = rule_counts(&received);
    assert_eq!(by_rule, rule_counts(&expected));
    for rule in [
        "unauthorized-api-call",
        "root-activity",
        "iam-policy-change",
    ] {
        assert_eq!(
            by_rule[rule], 1,
            "{rule}: one alert per window across the fleet"
        );
    }
    // The correlation across files fires as often as in the replay, from shared groups.
    let correlations = |a: &[serde_json::Value]| a.iter().filter(|a| !single(a)).count();
    let all_received = hook.bodies.lock().unwrap().clone();
    assert_eq!(
        correlations(&all_received),
        correlations(&alerts(&replayed))
    );
    // Every distinct alert of those rules but the one sent is held back, and counted once
    // over both replicas (the samples repeat some events, as CloudTrail does).
    let unsuppressed = moto.command(&["replay", "s3://trail/"]).output().unwrap();
    let mut distinct: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for a in alerts(&unsuppressed) {
        distinct
            .entry(a["rule"]["name"].as_str().unwrap().to_string())
            .or_default()
            .insert(a["alert_id"].as_str().unwrap().to_string());
    }
    let held: usize = [
        "unauthorized-api-call",
        "root-activity",
        "iam-policy-change",
    ]
    .iter()
    .map(|r| distinct[*r].len() - 1)
    .sum();
    assert_eq!(held, 46);
    assert_eq!(suppressed, held as f64, "{}", logged_problems(dir.path()));
}

/// A receiver that hangs (answering nothing) while `hang` is set, and records what it
/// accepts otherwise.
async fn hanging_webhook(hang: Arc<AtomicBool>) -> (Arc<Mutex<Vec<serde_json::Value>>>, String) {
    use axum::{http::StatusCode, routing::post, Router};
    let ids = Arc::new(Mutex::new(Vec::new()));
    let recorded = ids.clone();
    let app = Router::new().route(
        "/hook",
        post(move |body: String| {
            let (ids, hang) = (recorded.clone(), hang.clone());
            async move {
                if hang.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_secs(600)).await;
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                ids.lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).unwrap());
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (ids, url)
}

/// A replica SIGKILLed after one sink accepted an object's alerts and while another was still
/// sending them: the replica that gets the message next sends to the second sink only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_delivery_leaves_nothing_to_send_twice() {
    let (moto, aws, queue) = one_day_enqueued().await;
    let objects = aws.depth(&queue).await;
    let (fast, fast_url) = Webhook::start(0).await;
    let hang = Arc::new(AtomicBool::new(true));
    let (slow, slow_url) = hanging_webhook(hang.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = state_config("").replace("[sqs]\n", "[sqs]\nmax_in_flight = 4\n");
    let config = format!(
        "{config}\n[[sinks.webhook]]\nname = \"fast\"\nurl = \"{fast_url}\"\n\
         [[sinks.webhook]]\nname = \"slow\"\nurl = \"{slow_url}\"\ntimeout_secs = 60\nmax_retries = 0\n"
    );
    let expected = {
        let out = moto
            .command(&["replay", &format!("s3://trail/{DAY}")])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        ids_of_single(&alerts(&out))
    };
    assert!(expected.len() >= 10, "{}", expected.len());

    let args = ["--queue-url", queue.as_str()];
    let mut first = in_block(|| start(&moto, &config, &args, &dir.path().join("first.log")));
    // Four messages at a time: the first four objects' alerts reach the fast sink, and their
    // deliveries hang on the slow one.
    in_block(|| {
        wait_for("four deliveries hanging", Duration::from_secs(60), || {
            first.metric("trailwatch_in_flight_messages") >= 4.0 && !fast.alert_ids().is_empty()
        });
        std::thread::sleep(Duration::from_secs(1));
    });
    let before = fast.alert_ids().len();
    assert!(before > 0 && before < expected.len(), "{before}");
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    assert!(slow.lock().unwrap().is_empty());
    assert_eq!(aws.depth(&queue).await, objects, "nothing was deleted");

    hang.store(false, Ordering::SeqCst);
    let mut second = in_block(|| start(&moto, &config, &args, &dir.path().join("second.log")));
    in_block(|| {
        wait_for("every message deleted", Duration::from_secs(90), || {
            second.metric("trailwatch_sqs_messages_deleted_total") >= objects as f64
        })
    });
    assert!(second.stop().success());
    let problems = logged_problems(dir.path());
    for (name, got) in [
        ("fast", fast.bodies.lock().unwrap().clone()),
        ("slow", slow.lock().unwrap().clone()),
    ] {
        let twice: Vec<_> = counts(&common::sorted_ids(&got))
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(id, _)| id.to_string())
            .collect();
        assert!(
            twice.is_empty(),
            "{name}: sent twice: {twice:?}; {problems}"
        );
        assert_eq!(ids_of_single(&got), expected, "{name}; {problems}");
    }
}

/// A TCP forwarder to `target` that, while down, accepts and drops every connection.
async fn switchable_proxy(target: SocketAddr, up: Arc<AtomicBool>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (mut client, _) = listener.accept().await.unwrap();
            if !up.load(Ordering::SeqCst) {
                continue;
            }
            tokio::spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_table_is_unreachable_messages_stay_and_are_delivered_once_it_returns() {
    let (moto, aws, queue) = one_day_enqueued().await;
    let objects = aws.depth(&queue).await;
    let (hook, hook_url) = Webhook::start(0).await;
    let up = Arc::new(AtomicBool::new(false));
    let moto_addr: SocketAddr = moto.url.trim_start_matches("http://").parse().unwrap();
    let dynamodb = switchable_proxy(moto_addr, up.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("daemon.toml");
    std::fs::write(&config_path, state_config("")).unwrap();
    let metrics_port = common::moto::free_port();
    let metrics = format!("http://127.0.0.1:{metrics_port}");
    let child = moto
        .command(&[
            "run",
            "--config",
            config_path.to_str().unwrap(),
            "--queue-url",
            &queue,
            "--webhook-url",
            &hook_url,
            "--metrics-addr",
            &format!("127.0.0.1:{metrics_port}"),
        ])
        .env("AWS_ENDPOINT_URL_DYNAMODB", &dynamodb)
        .env("TRAILWATCH_LOG", "info")
        .stderr(std::fs::File::create(dir.path().join("daemon.log")).unwrap())
        .spawn()
        .unwrap();
    let mut daemon = Daemon { child, metrics };
    in_block(|| {
        wait_for("a failed state call", Duration::from_secs(60), || {
            daemon.metric("trailwatch_state_errors_total{operation=\"PutItem\"}") >= 1.0
        })
    });
    in_block(|| {
        assert_eq!(
            http_get(&format!("{}/readyz", daemon.metrics)),
            None,
            "not ready"
        );
    });
    assert!(hook.alert_ids().is_empty(), "nothing sent without a claim");
    assert_eq!(daemon.metric("trailwatch_sqs_messages_deleted_total"), 0.0);
    assert_eq!(aws.depth(&queue).await, objects, "every message stays");

    up.store(true, Ordering::SeqCst);
    in_block(|| {
        wait_for("every message deleted", Duration::from_secs(90), || {
            daemon.metric("trailwatch_sqs_messages_deleted_total") >= objects as f64
        })
    });
    in_block(|| {
        assert!(
            http_get(&format!("{}/readyz", daemon.metrics)).is_some(),
            "ready again"
        );
    });
    assert!(daemon.stop().success());
    let replayed = moto
        .command(&["replay", &format!("s3://trail/{DAY}")])
        .output()
        .unwrap();
    let got = hook.bodies.lock().unwrap().clone();
    let expected = alerts(&replayed);
    let twice: Vec<_> = counts(&common::sorted_ids(&got))
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(id, _)| id.to_string())
        .collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    assert_eq!(ids_of_single(&got), ids_of_single(&expected));
    // Redelivery reorders the objects: a correlation fires as often, but which event
    // completed it (and so its id) can differ from an in-order replay.
    let correlations = |a: &[serde_json::Value]| a.iter().filter(|a| !single(a)).count();
    assert_eq!(correlations(&got), correlations(&expected));
}

/// Twelve failed sign-ins, one per object, spread over two replicas: without shared groups
/// neither sees the ten of the brute-force threshold; with them exactly one alert fires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_split_over_replicas_is_counted_once() {
    let moto = Moto::start();
    let aws = aws(&moto.url).await;
    aws.state_table(TABLE).await;
    aws.s3.create_bucket().bucket("trail").send().await.unwrap();
    let day = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20";
    for i in 0..12 {
        // One failed sign-in for alice per object, ten seconds apart.
        let time = format!("2026-11-20T09:3{}:{:02}Z", i * 10 / 60, i * 10 % 60);
        let record = serde_json::json!({"Records": [common::failed_login("alice", &time, i)]});
        let key =
            format!("{day}/111122223333_CloudTrail_us-east-1_20261120T0935Z_burst{i:02}.json.gz");
        aws.s3
            .put_object()
            .bucket("trail")
            .key(key)
            .body(common::gzip(record.to_string().as_bytes()).into())
            .send()
            .await
            .unwrap();
    }
    let queue = aws.queue("trail-events", &[]).await;
    let replayed = moto.command(&["replay", "s3://trail/"]).output().unwrap();
    let expected = alerts(&replayed);
    let brute = |alerts: &[serde_json::Value]| -> Vec<serde_json::Value> {
        alerts
            .iter()
            .filter(|a| a["rule"]["name"] == "console-login-brute-force")
            .cloned()
            .collect()
    };
    assert_eq!(brute(&expected).len(), 1, "one replay raises one");

    let (hook, hook_url) = Webhook::start(0).await;
    let dir = tempfile::tempdir().unwrap();
    // One message at a time each, and the queue filled once both run: both get a share.
    let config = state_config("").replace("[sqs]\n", "[sqs]\nmax_in_flight = 1\n");
    let args = ["--queue-url", &queue, "--webhook-url", &hook_url];
    let mut replicas = in_block(|| two_replicas(&moto, &config, &args, dir.path()));
    let enqueued = moto
        .command(&["replay", "s3://trail/", "--enqueue", &queue])
        .output()
        .unwrap();
    assert!(enqueued.status.success(), "{}", stderr(&enqueued));
    in_block(|| all_deleted(&replicas, 12));
    let handled: Vec<f64> = replicas
        .iter()
        .map(|d| d.metric("trailwatch_sqs_messages_deleted_total"))
        .collect();
    for d in &mut replicas {
        assert!(d.stop().success());
    }
    let got = hook.bodies.lock().unwrap().clone();
    let problems = logged_problems(dir.path());
    let fired = brute(&got);
    assert_eq!(fired.len(), 1, "{handled:?} {problems}");
    assert_eq!(fired[0]["correlation"]["count"], 10);
    assert_eq!(
        ids_of_single(&got),
        ids_of_single(&expected),
        "the twelve failures themselves"
    );
    assert!(
        handled.iter().all(|&n| n > 0.0),
        "both replicas took messages: {handled:?}"
    );
}

/// `replay --to-sinks` with the shared table: a second backfill of the same prefix sends
/// nothing the first one sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_to_sinks_shares_the_record_of_deliveries() {
    let (moto, _aws, _queue) = one_day_enqueued().await;
    let (hook, hook_url) = Webhook::start(0).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("replay.toml");
    std::fs::write(
        &config,
        state_config(&format!(
            "[[sinks.webhook]]\nname = \"siem\"\nurl = \"{hook_url}\"\n"
        )),
    )
    .unwrap();
    let replay = || {
        let prefix = format!("s3://trail/{DAY}");
        let out = moto
            .command(&["replay", &prefix, "--to-sinks", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        alerts(&out)
    };
    let first = in_block(replay);
    assert!(first.len() >= 10, "{}", first.len());
    let mut sent = hook.alert_ids();
    sent.sort();
    assert_eq!(sent, common::sorted_ids(&first));
    let second = in_block(replay);
    assert_eq!(common::sorted_ids(&second), common::sorted_ids(&first));
    assert_eq!(hook.alert_ids().len(), first.len(), "nothing sent again");
}

/// Two replicas record what principals used and write it to the table at once: the table
/// holds the merge (counts added, first and last use widened, resources joined), and a
/// record the table does not take stays with its replica for the next attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_merge_what_principals_used_in_the_table() {
    use trailwatch::audit::permissions::usage::{Usage, Use};
    use trailwatch::config::Config;
    use trailwatch::metrics::Metrics;
    use trailwatch::pipeline::{Pipeline, Use as Purpose};

    let moto = Moto::start();
    let aws = aws(&moto.url).await;
    aws.state_table(TABLE).await;
    let replica = |table: &str| {
        let text = format!("[state]\nbackend = \"dynamodb\"\ntable = \"{table}\"\n");
        let config = Config::parse("trailwatch.toml", &text).unwrap();
        let pipeline = Pipeline::build(config, Purpose::Replay).unwrap();
        pipeline
            .state(Some(&aws.sdk), &Metrics::new(), None)
            .unwrap()
    };
    let (a, b) = (replica(TABLE), replica(TABLE));
    let alice = "arn:aws:iam::111122223333:user/alice";
    let used = |who: &str, action: &str, time: &str, resources: &[&str]| {
        let mut u = Usage::new();
        u.record(&Use {
            principal: who.into(),
            action: action.into(),
            time: time.into(),
            resources: resources.iter().map(|r| r.to_string()).collect(),
        });
        u
    };
    a.record_usage(used(
        alice,
        "s3:GetObject",
        "2026-11-20T09:00:00Z",
        &["arn:aws:s3:::a/1"],
    ));
    a.record_usage(used(alice, "iam:GetUser", "2026-11-21T09:00:00Z", &[]));
    b.record_usage(used(
        alice,
        "s3:GetObject",
        "2026-11-25T09:00:00Z",
        &["arn:aws:s3:::b/2"],
    ));
    b.record_usage(used(
        "arn:aws:iam::111122223333:role/deploy",
        "ec2:RunInstances",
        "2026-11-22T09:00:00Z",
        &[],
    ));
    let (fa, fb) = tokio::join!(a.flush_usage(), b.flush_usage());
    fa.unwrap();
    fb.unwrap();
    assert!(a.recorded().lock().unwrap().is_empty(), "written, not kept");

    let shared = b.usage().await.unwrap();
    assert_eq!(
        (shared.since.as_deref(), shared.until.as_deref()),
        (Some("2026-11-20T09:00:00Z"), Some("2026-11-25T09:00:00Z"))
    );
    assert_eq!(shared.principals.len(), 2);
    let get = &shared.principals[alice].actions["s3:GetObject"];
    let mut resources = get.resources.clone();
    resources.sort();
    assert_eq!(
        (get.first.as_str(), get.last.as_str(), get.count, resources),
        (
            "2026-11-20T09:00:00Z",
            "2026-11-25T09:00:00Z",
            2,
            vec![
                "arn:aws:s3:::a/1".to_string(),
                "arn:aws:s3:::b/2".to_string()
            ]
        )
    );
    assert_eq!(shared.principals[alice].actions["iam:GetUser"].count, 1);
    assert_eq!(
        a.usage().await.unwrap(),
        shared,
        "every replica reads the same record"
    );

    // A table that is not there: the record stays with the replica.
    let lost = replica("no-such-table");
    lost.record_usage(used(alice, "s3:PutObject", "2026-11-26T09:00:00Z", &[]));
    let e = lost.flush_usage().await.unwrap_err().to_string();
    assert!(e.contains("on table no-such-table"), "{e}");
    let kept = lost.recorded().lock().unwrap().clone();
    assert_eq!(kept.principals[alice].actions["s3:PutObject"].count, 1);
}
