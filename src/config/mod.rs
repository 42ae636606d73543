//! Daemon configuration: a TOML file (unknown keys refused) with command-line overrides.
//! Every key is documented in `deploy/trailwatch.example.toml`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::rules::Level;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub sqs: SqsConfig,
    pub filters: Filters,
    pub rules: RulesConfig,
    pub dedupe: DedupeConfig,
    pub metrics: MetricsConfig,
    pub shutdown: ShutdownConfig,
    pub log: LogConfig,
    pub sinks: Sinks,
    /// Trusted accounts, principals, networks and user agents that never alert.
    pub exclusions: Vec<crate::rules::allowlist::ExclusionConfig>,
    pub correlation: CorrelationConfig,
    /// Suppression windows per rule (or for every rule).
    pub suppress: Vec<crate::suppress::SuppressConfig>,
    /// The posture audit: thresholds, regions, accounts, mutes, and the daemon's schedule.
    pub audit: crate::audit::AuditConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorrelationConfig {
    /// How far behind the newest event seen an event may arrive and still count (`30m`).
    pub lateness: String,
    /// Open groups over all correlations; beyond it the longest idle are evicted.
    pub max_groups: usize,
    /// Events kept per group; beyond it the oldest are dropped.
    pub max_events_per_group: usize,
    /// Where open windows are saved on shutdown and restored on start; none when unset.
    pub state_file: Option<PathBuf>,
}

impl Default for CorrelationConfig {
    fn default() -> Self {
        let d = crate::correlate::Limits::default();
        CorrelationConfig {
            lateness: "30m".into(),
            max_groups: d.max_groups,
            max_events_per_group: d.max_events_per_group,
            state_file: None,
        }
    }
}

impl CorrelationConfig {
    pub fn limits(&self) -> Result<crate::correlate::Limits, String> {
        let lateness_ms = crate::rules::sigma::correlation::timespan_ms(&self.lateness)
            .map_err(|m| format!("correlation.lateness: {m}"))?;
        if self.max_groups == 0 || self.max_events_per_group == 0 {
            return Err(
                "correlation.max_groups and correlation.max_events_per_group must be at least 1"
                    .into(),
            );
        }
        Ok(crate::correlate::Limits {
            lateness_ms,
            max_groups: self.max_groups,
            max_events_per_group: self.max_events_per_group,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqsConfig {
    /// Queues to consume; several queues are consumed side by side.
    pub queue_urls: Vec<String>,
    /// Concurrent long-polling receivers per queue.
    pub receivers_per_queue: usize,
    /// Messages processed at once, over all queues.
    pub max_in_flight: usize,
    /// Visibility timeout applied (and renewed) while a message is processed, in seconds.
    pub visibility_timeout_secs: u64,
    /// Long-poll wait, 0–20 seconds.
    pub wait_time_secs: i32,
}

impl Default for SqsConfig {
    fn default() -> Self {
        SqsConfig {
            queue_urls: vec![],
            receivers_per_queue: 2,
            max_in_flight: 32,
            visibility_timeout_secs: 120,
            wait_time_secs: 20,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Filters {
    /// Only objects whose key starts with this prefix.
    pub key_prefix: Option<String>,
    /// Only these accounts (from the `AWSLogs/<account>/` part of the key); empty: all.
    pub accounts: Vec<String>,
    /// Only these regions (from `CloudTrail/<region>/`); empty: all.
    pub regions: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Files or directories replacing the built-in pack.
    pub paths: Vec<PathBuf>,
    /// Files or directories added to the rules in use.
    pub add: Vec<PathBuf>,
    /// Only these rules (names or ids); empty: all.
    pub only: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupeConfig {
    /// Alert ids remembered per sink.
    pub capacity: u64,
    /// How long an alert id is remembered, in seconds.
    pub ttl_secs: u64,
}

impl Default for DedupeConfig {
    fn default() -> Self {
        DedupeConfig {
            capacity: 100_000,
            ttl_secs: 24 * 3600,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address of the /metrics, /healthz and /readyz endpoints.
    pub addr: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            addr: "127.0.0.1:9464".parse().unwrap(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// Time in-flight messages get to finish after SIGTERM, in seconds.
    pub grace_secs: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig { grace_secs: 30 }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Sinks {
    pub sns: Vec<SnsSinkConfig>,
    pub webhook: Vec<WebhookSinkConfig>,
    pub jsonl: Vec<JsonlSinkConfig>,
}

/// Which alerts a sink receives.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SinkFilter {
    pub min_level: Option<Level>,
    pub include_rules: Vec<String>,
    pub exclude_rules: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnsSinkConfig {
    #[serde(default)]
    pub name: Option<String>,
    pub topic_arn: String,
    #[serde(default, flatten)]
    pub filter: SinkFilter,
}

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    #[default]
    Generic,
    Slack,
    Pagerduty,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSinkConfig {
    #[serde(default)]
    pub name: Option<String>,
    pub url: String,
    #[serde(default)]
    pub format: WebhookFormat,
    /// Shared secret for the HMAC-SHA256 signature headers.
    #[serde(default)]
    pub secret: Option<String>,
    /// PagerDuty Events API v2 routing key (format = "pagerduty").
    #[serde(default)]
    pub routing_key: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    #[serde(default = "default_retries")]
    pub max_retries: usize,
    #[serde(default, flatten)]
    pub filter: SinkFilter,
}

fn default_timeout() -> u64 {
    10
}
fn default_retries() -> usize {
    5
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonlSinkConfig {
    #[serde(default)]
    pub name: Option<String>,
    /// A file to append to, or "-" for stdout.
    pub path: String,
    #[serde(default, flatten)]
    pub filter: SinkFilter,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: p.clone(),
            source,
        })?;
        Self::parse(&p, &text)
    }

    pub fn parse(name: &str, text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: name.to_string(),
            message: e.to_string().trim_end().replace('\n', " "),
        })
    }

    /// Checks what serde cannot: values in range and at least one queue and sink.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.sqs.queue_urls.is_empty() {
            return bad("no queue to consume: set sqs.queue_urls or --queue-url".into());
        }
        if !(0..=20).contains(&self.sqs.wait_time_secs) {
            return bad("sqs.wait_time_secs must be 0 to 20".into());
        }
        if self.sqs.visibility_timeout_secs < 2 || self.sqs.visibility_timeout_secs > 43_200 {
            return bad("sqs.visibility_timeout_secs must be 2 to 43200".into());
        }
        if self.sqs.receivers_per_queue == 0 || self.sqs.max_in_flight == 0 {
            return bad("sqs.receivers_per_queue and sqs.max_in_flight must be at least 1".into());
        }
        self.validate_exclusions()?;
        self.audit.validate().map_err(ConfigError::Invalid)?;
        self.correlation.limits().map_err(ConfigError::Invalid)?;
        self.validate_sinks()
    }

    /// The `[[exclusions]]` entries compile (CIDRs parse, each has a criterion).
    pub fn validate_exclusions(&self) -> Result<(), ConfigError> {
        crate::rules::allowlist::Allowlist::new(&self.exclusions)
            .map(|_| ())
            .map_err(ConfigError::Invalid)
    }

    /// Every rule an exclusion or a suppression entry names is loaded, and suppression windows
    /// parse: otherwise they would silently do nothing.
    pub fn check_rule_references(&self, set: &crate::rules::RuleSet) -> Result<(), String> {
        crate::suppress::Suppressor::new(set, &self.suppress)?;
        for (i, e) in self.exclusions.iter().enumerate() {
            for name in &e.rules {
                if !set.rules().iter().any(|r| r.meta.name == *name) {
                    return Err(format!(
                        "exclusions[{i}].rules: no rule named {name:?} is loaded"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The checks that matter when only the sinks are used (`replay --to-sinks`).
    pub fn validate_sinks(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.sinks.sns.is_empty() && self.sinks.webhook.is_empty() && self.sinks.jsonl.is_empty()
        {
            return bad("no sink: alerts would go nowhere (add [[sinks.sns]], [[sinks.webhook]] or [[sinks.jsonl]])".into());
        }
        for w in &self.sinks.webhook {
            if !(w.url.starts_with("https://") || w.url.starts_with("http://")) {
                return bad(format!(
                    "webhook url must start with https:// or http:// (sink {})",
                    w.name.as_deref().unwrap_or("webhook")
                ));
            }
            if w.format == WebhookFormat::Pagerduty && w.routing_key.is_none() {
                return bad("a pagerduty webhook needs routing_key".into());
            }
        }
        Ok(())
    }

    pub fn grace(&self) -> Duration {
        Duration::from_secs(self.shutdown.grace_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_and_validates() {
        let text = include_str!("../../deploy/trailwatch.example.toml");
        let c = Config::parse("example", text).unwrap();
        c.validate().unwrap();
        assert_eq!(c.sinks.webhook.len(), 3);
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let e = Config::parse("c.toml", "[sqs]\nqueue_url = \"x\"\n").unwrap_err();
        let m = e.to_string();
        assert!(m.starts_with("c.toml: ") && m.contains("queue_url"), "{m}");
    }

    #[test]
    fn validation_says_what_is_missing() {
        let c = Config::parse("c", "").unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("no queue"));
        let c = Config::parse("c", "[sqs]\nqueue_urls=[\"q\"]\n").unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("no sink"));
    }
}
