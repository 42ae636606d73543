//! `trailwatch replay s3://…` against moto server: the listing follows the CloudTrail layout
//! (and narrows to the days asked for), the output equals a local replay of the same files,
//! a corrupt object does not stop the rest, and `--to-sinks` delivers through configured sinks.

use crate::common;

use aws_sdk_s3::primitives::ByteStream;

use common::moto::{aws, Moto, Webhook};
use common::{alerts, samples, sorted_ids, stderr, trailwatch};

const DAY: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/";

async fn put(s3: &aws_sdk_s3::Client, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket("trail")
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap();
}

fn files_read(err: &str) -> u64 {
    let line = err.lines().find(|l| l.starts_with("replay: ")).unwrap();
    line["replay: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_from_s3_follows_the_layout() {
    let moto = Moto::start();
    let aws = aws(&moto.url).await;
    aws.s3.create_bucket().bucket("trail").send().await.unwrap();
    let uploaded = aws.upload_samples("trail").await;
    assert_eq!(uploaded, 27, "26 logs and a digest");
    let one = std::fs::read(
        common::files_under(&samples().join(DAY))
            .into_iter()
            .min()
            .unwrap(),
    )
    .unwrap();
    // Another day, another account of an organization trail, and a file that is not gzip.
    put(
        &aws.s3,
        "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/25/late.json.gz",
        one.clone(),
    )
    .await;
    put(
        &aws.s3,
        "AWSLogs/o-abc123/444455556666/CloudTrail/us-east-1/2026/11/20/org.json.gz",
        one.clone(),
    )
    .await;

    let local = trailwatch(&["replay", samples().join("AWSLogs").to_str().unwrap()]);
    assert!(local.status.success(), "{}", stderr(&local));
    let expected = sorted_ids(&alerts(&local));

    // The sample account's day: the same alerts as the local replay, 26 objects read.
    let out = tokio::task::block_in_place(|| {
        moto.trailwatch(&[
            "replay",
            "--account",
            "111122223333",
            "--since",
            "2026-11-20T00:00:00Z",
            "--until",
            "2026-11-21T00:00:00Z",
            "s3://trail/",
        ])
    });
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(sorted_ids(&alerts(&out)), expected);
    assert_eq!(
        files_read(&stderr(&out)),
        26,
        "the late one is outside the days listed\n{}",
        stderr(&out)
    );
    assert!(
        alerts(&out)[0]["origin"]["bucket"] == "trail",
        "origin names the object"
    );

    // No window and no account filter: every log object, the org account's too.
    let out = tokio::task::block_in_place(|| moto.trailwatch(&["replay", "s3://trail"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(files_read(&stderr(&out)), 28, "{}", stderr(&out));

    // Region filter and a prefix below AWSLogs.
    let out = tokio::task::block_in_place(|| {
        moto.trailwatch(&[
            "replay",
            "--region",
            "eu-west-1",
            "s3://trail/AWSLogs/111122223333/",
        ])
    });
    assert_eq!(files_read(&stderr(&out)), 13, "{}", stderr(&out));

    // A corrupt object is reported by its URL; the others are still read; exit status 1.
    put(
        &aws.s3,
        &format!("{DAY}broken.json.gz"),
        b"\x1f\x8b\x08\x00garbage".to_vec(),
    )
    .await;
    let out =
        tokio::task::block_in_place(|| moto.trailwatch(&["replay", &format!("s3://trail/{DAY}")]));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("s3://trail/{DAY}broken.json.gz")),
        "{err}"
    );
    assert_eq!(files_read(&err), 14, "{err}");
    assert!(!alerts(&out).is_empty());

    // A bucket that does not exist: a clear error, exit 1.
    let out = tokio::task::block_in_place(|| moto.trailwatch(&["replay", "s3://no-such-bucket/"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("listing s3://no-such-bucket/"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_to_sinks_delivers_every_alert_once() {
    let moto = Moto::start();
    let (hook, url) = Webhook::start(2).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sinks.toml");
    std::fs::write(
        &config,
        format!("[[sinks.webhook]]\nname = \"soc\"\nurl = \"{url}\"\nminimum = \"high\"\n"),
    )
    .unwrap();
    let replay_to_sinks = || {
        let args = ["replay", "--to-sinks", "--config", config.to_str().unwrap()];
        let samples = samples();
        let all = [&args[..], &[samples.to_str().unwrap()]].concat();
        tokio::task::block_in_place(|| moto.trailwatch(&all))
    };
    // An unknown key: the config is refused, naming the file and the key.
    let out = replay_to_sinks();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("sinks.toml"), "{}", stderr(&out));
    assert!(stderr(&out).contains("minimum"), "{}", stderr(&out));

    std::fs::write(&config, format!("[[sinks.webhook]]\nname = \"soc\"\nurl = \"{url}\"\nmin_level = \"high\"\nsecret = \"s3cr3t\"\n")).unwrap();
    let out = replay_to_sinks();
    assert!(out.status.success(), "{}", stderr(&out));
    let high: Vec<serde_json::Value> = alerts(&out)
        .into_iter()
        .filter(|a| matches!(a["rule"]["level"].as_str(), Some("high" | "critical")))
        .collect();
    assert!(!high.is_empty());
    let mut got = hook.alert_ids();
    got.sort();
    // samples/ holds some events twice (exports of the same trail): one alert per alert_id.
    let mut want = sorted_ids(&high);
    want.dedup();
    assert!(want.len() < high.len());
    assert_eq!(got, want, "each high/critical alert once, after two 500s");
    // Every request is signed: HMAC-SHA256 over "timestamp.body" with the shared secret.
    use hmac::{KeyInit, Mac};
    for (headers, body) in hook.raw.lock().unwrap().iter() {
        let ts = headers["x-trailwatch-timestamp"].to_str().unwrap();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"s3cr3t").unwrap();
        mac.update(format!("{ts}.{body}").as_bytes());
        let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(headers["x-trailwatch-signature"].to_str().unwrap(), want);
    }
}
