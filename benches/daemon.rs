//! The live daemon against moto server: end-to-end latency from an S3 put to the alert on
//! SNS (read back through a subscribed queue), sustained events per second, and the daemon's
//! CPU time per event next to replay's on the same files.
//!
//! With `shared-state`, only a comparison of the two state backends instead: an alert-dense
//! archive drained into a JSONL sink, once with `[state] backend = "memory"`, once with the
//! DynamoDB table (moto's).
//!
//! With `sinks`, what each kind of sink costs per alert: the same alert-dense archive drained
//! into a JSONL file on /dev/null (the baseline), an SNS topic (moto's), and a webhook (a
//! loopback receiver answering 200 at once). Per alert, the daemon's CPU and the wall time
//! beyond the baseline.
//!
//!   cargo bench --bench daemon            (needs moto_server on PATH)
//!   cargo bench --bench daemon -- shared-state
//!   cargo bench --bench daemon -- sinks

#[path = "../tests/it/common/moto.rs"]
#[allow(dead_code)]
mod moto;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;

use moto::{aws, free_port, http_get, provision, Moto};

const BIN: &str = env!("CARGO_BIN_EXE_trailwatch");
const LATENCY_SAMPLES: usize = 60;

/// User + system CPU seconds of a process so far (Linux /proc).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn metric(addr: &str, name: &str) -> f64 {
    http_get(&format!("{addr}/metrics"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

fn root_login(i: usize) -> Vec<u8> {
    format!(
        r#"{{"Records":[{{"eventVersion":"1.08","userIdentity":{{"type":"Root","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"}},"eventTime":"2026-11-20T10:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.9","userAgent":"Mozilla/5.0","requestParameters":null,"responseElements":{{"ConsoleLogin":"Success"}},"additionalEventData":{{"MFAUsed":"Yes"}},"eventID":"bench-{i}","eventType":"AwsConsoleSignIn","recipientAccountId":"111122223333"}}]}}"#
    )
    .into_bytes()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let moto = Moto::start();
    let aws = aws(&moto.url).await;
    if std::env::args().any(|a| a == "shared-state") {
        return shared_state(&moto, &aws).await;
    }
    if std::env::args().any(|a| a == "sinks") {
        return sinks(&moto, &aws).await;
    }
    let setup = provision(&aws).await;
    let (queue, topic, readback) = (&setup.events_queue, &setup.topic_arn, &setup.alerts_queue);

    let port = free_port();
    let addr = format!("http://127.0.0.1:{port}");
    // Short polls: moto holds a queue while a long poll waits on it, which would stall the
    // S3→SQS notifications of the puts (real SQS does not).
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bench.toml");
    std::fs::write(&config, "[sqs]\nwait_time_secs = 1\n").unwrap();
    let start_daemon = || {
        let metrics_addr = format!("127.0.0.1:{port}");
        let daemon = moto
            .command(&["run", "--config", config.to_str().unwrap()])
            .args(["--queue-url", queue, "--sns-topic-arn", topic])
            .args(["--metrics-addr", &metrics_addr])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        while http_get(&format!("{addr}/readyz")).is_none() {
            std::thread::sleep(Duration::from_millis(100));
        }
        daemon
    };
    let stop = |mut daemon: std::process::Child| {
        let _ = Command::new("kill")
            .args(["-TERM", &daemon.id().to_string()])
            .status();
        let _ = daemon.wait();
    };
    let daemon = start_daemon();

    // 1. Latency: one object at a time, put → alert read back from the topic's queue.
    let mut latencies = Vec::new();
    for i in 0..LATENCY_SAMPLES {
        let key = format!("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/lat-{i}.json");
        let started = Instant::now();
        aws.s3
            .put_object()
            .bucket("trail")
            .key(&key)
            .body(ByteStream::from(root_login(i)))
            .send()
            .await
            .unwrap();
        loop {
            let got = aws
                .sqs
                .receive_message()
                .queue_url(readback)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            let msgs = got.messages.unwrap_or_default();
            if let Some(m) = msgs.first() {
                latencies.push(started.elapsed());
                aws.sqs
                    .delete_message()
                    .queue_url(readback)
                    .receipt_handle(m.receipt_handle.clone().unwrap())
                    .send()
                    .await
                    .unwrap();
                break;
            }
        }
    }
    latencies.sort();
    println!(
        "latency S3 put -> SNS alert ({} samples): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        latencies.len(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );

    // 2. Throughput: a synthetic archive put at once; time until every message is deleted.
    let archive = dir.path().join("archive");
    let gen = Command::new(BIN)
        .args(["generate", "--out", archive.to_str().unwrap()])
        .args(["--size-mb", "200", "--records-per-file", "2000"])
        .output()
        .unwrap();
    assert!(gen.status.success());
    let files = walk(&archive);
    // The backlog is queued first, then a fresh daemon drains it: the rate is the daemon's
    // (receive, get, match, publish, delete), not how fast the emulator accepts puts.
    stop(daemon);
    let started = Instant::now();
    for f in &files {
        let key = f.strip_prefix(&archive).unwrap().to_str().unwrap();
        aws.s3
            .put_object()
            .bucket("trail")
            .key(key)
            .body(ByteStream::from(std::fs::read(f).unwrap()))
            .send()
            .await
            .unwrap();
    }
    let uploaded = started.elapsed();
    let daemon = start_daemon();
    let started = Instant::now();
    while metric(&addr, "trailwatch_sqs_messages_deleted_total") < files.len() as f64 {
        // Polled seldom: rendering /metrics costs the daemon CPU that would count as events'.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let elapsed = started.elapsed();
    let events = metric(&addr, "trailwatch_events_total");
    let cpu = cpu_seconds(daemon.id());
    println!(
        "throughput: {} objects, {events} events drained in {:.1} s: {:.0} events/s (queuing them took {:.1} s)",
        files.len(),
        elapsed.as_secs_f64(),
        events / elapsed.as_secs_f64(),
        uploaded.as_secs_f64(),
    );
    // The same files replayed on one thread; CPU time from /usr/bin/time (Debian `time`).
    let replay = Command::new("/usr/bin/time")
        .args(["-f", "cpu %U %S", BIN, "replay", "--threads", "1"])
        .arg(&archive)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&replay.stderr);
    let line = err.lines().find(|l| l.starts_with("cpu ")).unwrap();
    let replay_cpu: f64 = line[4..]
        .split(' ')
        .map(|v| v.parse::<f64>().unwrap())
        .sum();
    println!(
        "CPU per event: daemon {:.1} µs, replay {:.1} µs",
        cpu / events * 1e6,
        replay_cpu / events * 1e6,
    );
    stop(daemon);
}

/// Drains the same alert-dense objects with each state backend; prints events and alerts per
/// second.
async fn shared_state(moto: &Moto, aws: &moto::Aws) {
    let (dir, objects) = dense_bucket(aws, 20, 7).await;
    aws.state_table("trailwatch-state").await;
    for backend in ["memory", "dynamodb"] {
        let queue = aws.queue(&format!("dense-{backend}"), &[]).await;
        let enqueued = moto
            .command(&["replay", "s3://dense/", "--enqueue", &queue])
            .output()
            .unwrap();
        assert!(enqueued.status.success());
        let config = dir.path().join(format!("{backend}.toml"));
        std::fs::write(
            &config,
            format!(
                "[sqs]\nwait_time_secs = 1\n[state]\nbackend = \"{backend}\"\ntable = \"trailwatch-state\"\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let addr = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let mut daemon = moto
            .command(&["run", "--config", config.to_str().unwrap()])
            .args(["--queue-url", &queue, "--jsonl", "/dev/null"])
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        while metric(&addr, "trailwatch_sqs_messages_deleted_total") < objects as f64 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let text = http_get(&format!("{addr}/metrics")).unwrap_or_default();
        let sum = |prefix: &str| -> f64 {
            text.lines()
                .filter(|l| l.starts_with(prefix))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .fold(0.0, |a, b| a + b)
        };
        let events = sum("trailwatch_events_total ");
        let alerts = sum("trailwatch_alerts_total{");
        let errors = sum("trailwatch_state_errors_total{");
        println!(
            "state {backend}: {objects} objects, {events} events, {alerts} alerts in {elapsed:.1} s: {:.0} events/s, {:.0} alerts/s, {errors} state errors",
            events / elapsed,
            alerts / elapsed,
        );
        let _ = Command::new("kill")
            .args(["-TERM", &daemon.id().to_string()])
            .status();
        let _ = daemon.wait();
    }
}

/// Drains the same alert-dense objects into one sink of each kind; prints wall time and the
/// daemon's CPU per alert, and what each sink adds to the JSONL baseline.
async fn sinks(moto: &Moto, aws: &moto::Aws) {
    let (dir, objects) = dense_bucket(aws, 40, 11).await;
    let (_hook, hook_url) = moto::Webhook::start(0).await;
    let topic = aws
        .sns
        .create_topic()
        .name("bench-alerts")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let mut baseline: Option<(f64, f64)> = None;
    for (name, sink) in [
        (
            "jsonl",
            "[[sinks.jsonl]]\npath = \"/dev/null\"\n".to_string(),
        ),
        ("sns", format!("[[sinks.sns]]\ntopic_arn = \"{topic}\"\n")),
        (
            "webhook",
            format!("[[sinks.webhook]]\nurl = \"{hook_url}\"\n"),
        ),
    ] {
        let queue = aws.queue(&format!("sinks-{name}"), &[]).await;
        let enqueued = moto
            .command(&["replay", "s3://dense/", "--enqueue", &queue])
            .output()
            .unwrap();
        assert!(enqueued.status.success());
        let config = dir.path().join(format!("{name}.toml"));
        std::fs::write(&config, format!("[sqs]\nwait_time_secs = 1\n{sink}")).unwrap();
        let port = free_port();
        let addr = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let mut daemon = moto
            .command(&["run", "--config", config.to_str().unwrap()])
            .args(["--queue-url", &queue])
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        while metric(&addr, "trailwatch_sqs_messages_deleted_total") < objects as f64 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds(daemon.id());
        let text = http_get(&format!("{addr}/metrics")).unwrap_or_default();
        let alerts: f64 = text
            .lines()
            .filter(|l| l.starts_with("trailwatch_alerts_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        let events = metric(&addr, "trailwatch_events_total");
        let per_alert = |v: f64| v / alerts * 1e6;
        let extra = match baseline {
            None => String::new(),
            Some((base_wall, base_cpu)) => format!(
                "; beyond the JSONL baseline {:.0} µs wall, {:.0} µs CPU an alert",
                per_alert(elapsed - base_wall),
                per_alert(cpu - base_cpu)
            ),
        };
        println!(
            "sink {name}: {objects} objects, {events} events, {alerts} alerts in {elapsed:.1} s ({:.0} alerts/s); daemon CPU {cpu:.1} s = {:.0} µs an alert{extra}",
            alerts / elapsed,
            per_alert(cpu),
        );
        baseline.get_or_insert((elapsed, cpu));
        let _ = Command::new("kill")
            .args(["-TERM", &daemon.id().to_string()])
            .status();
        let _ = daemon.wait();
    }
}

/// An alert-dense synthetic archive of `size_mb` (a third of the records alert; objects of
/// 2,000 records) in the bucket `dense`; returns its scratch directory and the object count.
async fn dense_bucket(aws: &moto::Aws, size_mb: u32, seed: u32) -> (tempfile::TempDir, usize) {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let gen = Command::new(BIN)
        .args(["generate", "--out", archive.to_str().unwrap()])
        .args([
            "--size-mb",
            &size_mb.to_string(),
            "--records-per-file",
            "2000",
        ])
        .args(["--density", "0.3", "--seed", &seed.to_string()])
        .output()
        .unwrap();
    assert!(gen.status.success());
    aws.s3.create_bucket().bucket("dense").send().await.unwrap();
    let mut objects = 0;
    for f in walk(&archive) {
        let key = f.strip_prefix(&archive).unwrap().to_str().unwrap();
        aws.put_file("dense", key, &f).await;
        objects += 1;
    }
    (dir, objects)
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p)
            } else {
                files.push(p)
            }
        }
    }
    files
}
