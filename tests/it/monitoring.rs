//! The monitoring files against the daemon: every metric the Grafana dashboard and the
//! Prometheus alerting rules query is one trailwatch exports, and a real Prometheus scraping a
//! daemon fed by moto sees its alerts, loads the shipped rules and fires the critical one.

use crate::common;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::daemon::{expected_alert_ids, start, wait_for};
use common::moto::{aws, free_port, http_get, provision, Moto};
use common::samples;

const ALERT_RULES: &str = "deploy/prometheus/alerts.yml";
const DASHBOARD: &str = "deploy/grafana/trailwatch.json";

/// Every PromQL expression of the alerting rules.
fn rule_exprs() -> Vec<String> {
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(ALERT_RULES).unwrap()).unwrap();
    doc["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap())
        .map(|r| r["expr"].as_str().unwrap().to_string())
        .collect()
}

/// Every PromQL expression of the dashboard: panel targets and the job variable's query.
fn dashboard_exprs() -> Vec<String> {
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap()).unwrap();
    let mut out: Vec<String> = doc["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().unwrap().to_string())
        .collect();
    for var in doc["templating"]["list"].as_array().unwrap() {
        if let Some(q) = var["query"]["query"].as_str() {
            out.push(q.to_string());
        }
    }
    out
}

fn metric_names(exprs: &[String]) -> BTreeSet<String> {
    let re = regex::Regex::new(r"\btrailwatch_[a-z0-9_]+").unwrap();
    exprs
        .iter()
        .flat_map(|e| re.find_iter(e).map(|m| m.as_str().to_string()))
        .collect()
}

#[test]
fn every_metric_the_dashboard_and_alert_rules_query_is_exported() {
    let exported: BTreeSet<String> = trailwatch::metrics::Metrics::new()
        .names()
        .iter()
        .cloned()
        .collect();
    let rules = metric_names(&rule_exprs());
    let dashboard = metric_names(&dashboard_exprs());
    assert!(
        rules.len() >= 7 && dashboard.len() >= 15,
        "{rules:?} {dashboard:?}"
    );
    let unknown: Vec<_> = rules
        .union(&dashboard)
        .filter(|m| !exported.contains(*m))
        .collect();
    assert!(unknown.is_empty(), "queried but not exported: {unknown:?}");

    // And the other way: a metric the daemon exports but no dashboard panel shows is a metric
    // nobody looks at. A histogram is shown through its buckets.
    let histogram_parts = ["_bucket", "_sum", "_count"];
    let unshown: Vec<_> = exported
        .iter()
        .filter(|m| !histogram_parts.iter().any(|s| m.ends_with(s)))
        .filter(|m| !dashboard.contains(*m) && !dashboard.contains(&format!("{m}_bucket")))
        .collect();
    assert!(
        unshown.is_empty(),
        "exported but not on the dashboard: {unshown:?}"
    );
}

/// A Prometheus server on a free loopback port, stopped on drop.
struct Prometheus {
    child: Child,
    url: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Scrapes `target` as job "trailwatch" every second and evaluates the shipped rules.
    fn start(target: &str, dir: &std::path::Path) -> Prometheus {
        let rules = std::fs::canonicalize(ALERT_RULES).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 rule_files: [\"{}\"]\n\
                 scrape_configs:\n  - job_name: trailwatch\n    static_configs:\n      - targets: [\"{target}\"]\n",
                rules.display()
            ),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .expect("prometheus must be installed (Debian package prometheus; deploy/tools.sh)");
        let url = format!("http://127.0.0.1:{port}");
        wait_for("prometheus ready", Duration::from_secs(30), || {
            http_get(&format!("{url}/-/ready")).is_some()
        });
        Prometheus { child, url }
    }

    /// The JSON answer of an instant query.
    fn query(&self, promql: &str) -> serde_json::Value {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/query", self.url),
            [("query", promql)],
        )
        .unwrap();
        let body = http_get(url.as_str()).unwrap_or_else(|| panic!("query failed: {promql}"));
        serde_json::from_str(&body).unwrap()
    }

    /// The single value of a query that should return one sample, if it does.
    fn scalar(&self, promql: &str) -> Option<f64> {
        let answer = self.query(promql);
        answer["data"]["result"].as_array()?.first()?.get("value")?[1]
            .as_str()?
            .parse()
            .ok()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_daemon_and_fires_the_shipped_rules() {
    let moto = Moto::start();
    let aws = aws(&moto.url).await;
    let setup = provision(&aws).await;
    let dir = tempfile::tempdir().unwrap();
    let config = "[sqs]\nvisibility_timeout_secs = 2\nwait_time_secs = 1\n";
    let daemon = tokio::task::block_in_place(|| {
        start(
            &moto,
            config,
            &[
                "--queue-url",
                &setup.events_queue,
                "--sns-topic-arn",
                &setup.topic_arn,
            ],
            &dir.path().join("daemon.log"),
        )
    });
    // The container health check's probe: 0 for a 2xx, 1 otherwise.
    let probe = |path: &str| {
        common::trailwatch(&["probe", &format!("{}{path}", daemon.metrics)])
            .status
            .code()
    };
    assert_eq!(
        (probe("/healthz"), probe("/readyz"), probe("/missing")),
        (Some(0), Some(0), Some(1))
    );
    let target = daemon.metrics.trim_start_matches("http://").to_string();
    let prometheus = tokio::task::block_in_place(|| Prometheus::start(&target, dir.path()));

    // The sample file with a critical alert (root-access-key-created).
    let key = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/111122223333_CloudTrail_us-east-1_20261120T0920Z_GeoZDMENcKHVmDGA.json.gz";
    let file = samples().join(key);
    let expected = expected_alert_ids(&file).len() as f64;
    assert!(expected >= 1.0);
    aws.put_file("trail", key, &file).await;

    tokio::task::block_in_place(|| {
        wait_for(
            "trailwatch_alerts_total in Prometheus",
            Duration::from_secs(60),
            || {
                prometheus.scalar(r#"sum(trailwatch_alerts_total{job="trailwatch"})"#)
                    == Some(expected)
            },
        );
        let firing = r#"ALERTS{alertname="TrailwatchCriticalDetection", alertstate="firing", rule="root-access-key-created"}"#;
        wait_for(
            "the critical-detection alert",
            Duration::from_secs(30),
            || prometheus.scalar(firing) == Some(1.0),
        );
    });
    assert_eq!(
        prometheus.scalar(r#"trailwatch_ready{job="trailwatch"}"#),
        Some(1.0)
    );

    // Every shipped rule loaded and evaluates without error.
    let rules: serde_json::Value =
        serde_json::from_str(&http_get(&format!("{}/api/v1/rules", prometheus.url)).unwrap())
            .unwrap();
    let loaded: Vec<(String, String)> = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["health"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(loaded.len(), rule_exprs().len());
    assert!(loaded.iter().all(|(_, h)| h == "ok"), "{loaded:?}");
    // The daemon is healthy: none of the health alerts fires.
    let others = prometheus.query(r#"ALERTS{alertname!="TrailwatchCriticalDetection"}"#);
    assert_eq!(others["data"]["result"], serde_json::json!([]), "{others}");

    // Every dashboard query runs on a real Prometheus (Grafana's variables filled in).
    for expr in dashboard_exprs() {
        if expr.starts_with("label_values(") {
            continue; // a Grafana function, not PromQL
        }
        let promql = expr
            .replace("$__rate_interval", "1m")
            .replace("$__range", "1h")
            .replace("$job", "trailwatch");
        let answer = prometheus.query(&promql);
        assert_eq!(answer["status"], "success", "{promql}: {answer}");
    }
    let events = prometheus.scalar(r#"sum(trailwatch_events_total{job=~"trailwatch"})"#);
    assert!(events.unwrap_or(0.0) > 0.0, "events were scraped");
}
