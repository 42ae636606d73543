//! Daemon configuration: a TOML file (unknown keys refused) with command-line overrides.
//! Every key is documented in `deploy/trailwatch.example.toml`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::rules::Level;

pub mod aws;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    /// A value serde accepted but that cannot work.
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    #[error(transparent)]
    Audit(#[from] crate::audit::settings::SettingError),
    #[error(transparent)]
    Exclusion(#[from] crate::detect::exclusions::ExclusionError),
    #[error(transparent)]
    Suppress(#[from] crate::suppress::SuppressError),
    /// An exclusion naming a rule that is not loaded would silently do nothing.
    #[error("exclusions[{entry}].rules: no rule named {rule:?} is loaded")]
    UnknownExcludedRule { entry: usize, rule: String },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
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
    pub exclusions: Vec<crate::detect::exclusions::ExclusionConfig>,
    pub correlation: CorrelationConfig,
    /// Suppression windows per rule (or for every rule).
    pub suppress: Vec<crate::suppress::SuppressConfig>,
    /// The posture audit: thresholds, regions, accounts, mutes, and the daemon's schedule.
    pub audit: crate::audit::AuditConfig,
    /// Where delivered alert ids and suppression windows live: this process, or a DynamoDB
    /// table every replica shares.
    pub state: StateConfig,
    /// What each principal uses, recorded from the trail for the audit.
    pub usage: UsageConfig,
    /// Findings of Security Hub, GuardDuty and Access Analyzer arriving on the queue.
    pub findings: crate::alert::service_finding::FindingsConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UsageConfig {
    /// Record, per IAM user and role, each action it used with success, from every event
    /// read: kept in the state (the state file, or the shared table) for the posture audit's
    /// `unused-permissions`.
    pub record: bool,
}

impl Default for UsageConfig {
    fn default() -> Self {
        UsageConfig { record: true }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    pub backend: StateBackend,
    /// The DynamoDB table (`backend = "dynamodb"`): string keys `pk` and `sk`, TTL on `expires`.
    pub table: Option<String>,
    /// How long a replica's claim on sending an alert to a sink keeps other replicas from
    /// sending it: longer than a sink's retries can take; a replica that dies mid-send delays
    /// that alert by at most this.
    pub claim_lease_secs: u64,
    /// The state file: correlation windows, suppression keys and the alert ids each sink
    /// accepted, saved every 30 s and on shutdown, restored at start. Unset: under
    /// `$STATE_DIRECTORY` (systemd's StateDirectory=, the Docker image's volume) when set,
    /// else none. (`correlation.state_file` is the older name of this key.)
    pub file: Option<PathBuf>,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            backend: StateBackend::Memory,
            table: None,
            claim_lease_secs: 180,
            file: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StateBackend {
    /// In memory (and the state file): one replica.
    #[default]
    Memory,
    /// Shared by replicas and restarts.
    Dynamodb,
}

impl StateConfig {
    pub fn claim_lease(&self) -> Duration {
        Duration::from_secs(self.claim_lease_secs)
    }

    /// The shared table, when the backend is DynamoDB.
    pub fn shared_table(&self) -> Result<Option<&str>, ConfigError> {
        if self.claim_lease_secs == 0 {
            return Err(invalid("state.claim_lease_secs", "must be at least 1"));
        }
        match (self.backend, self.table.as_deref()) {
            (StateBackend::Memory, _) => Ok(None),
            (StateBackend::Dynamodb, Some(t)) if !t.trim().is_empty() => Ok(Some(t)),
            (StateBackend::Dynamodb, _) => Err(invalid(
                "state.table",
                "backend = \"dynamodb\" needs the table's name",
            )),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorrelationConfig {
    /// How far behind the newest event seen an event may arrive and still count (`30m`).
    pub lateness: crate::rules::sigma::timespan::Timespan,
    /// Open groups over all correlations; beyond it the longest idle are evicted.
    pub max_groups: usize,
    /// Events kept per group; beyond it the oldest are dropped.
    pub max_events_per_group: usize,
    /// The older name of `state.file`.
    pub state_file: Option<PathBuf>,
}

impl Default for CorrelationConfig {
    fn default() -> Self {
        let d = crate::correlate::Limits::default();
        CorrelationConfig {
            lateness: crate::rules::sigma::timespan::Timespan::minutes(30),
            max_groups: d.max_groups,
            max_events_per_group: d.max_events_per_group,
            state_file: None,
        }
    }
}

impl CorrelationConfig {
    pub fn limits(&self) -> Result<crate::correlate::Limits, ConfigError> {
        if self.max_groups == 0 || self.max_events_per_group == 0 {
            return Err(invalid(
                "correlation.max_groups, correlation.max_events_per_group",
                "must be at least 1",
            ));
        }
        Ok(crate::correlate::Limits {
            lateness_ms: self.lateness.ms,
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
    /// Messages read in full whose delivery failed (a sink or the shared state down) are
    /// held: kept invisible and retried here, not left to reach the dead-letter queue. This
    /// many give their `max_in_flight` place to new messages while held; past it receiving
    /// slows down until deliveries succeed again.
    pub max_held_messages: usize,
    /// The longest wait between two attempts at a held message, in seconds (the first
    /// waits 10 s, each next one twice as long). A sink that accepts again wakes every
    /// held message at once.
    pub hold_backoff_max_secs: u64,
    /// How often the messages waiting in each queue's dead-letter queue are counted
    /// (`trailwatch_dlq_messages`), in seconds.
    pub dead_letter_check_secs: u64,
}

impl Default for SqsConfig {
    fn default() -> Self {
        SqsConfig {
            queue_urls: vec![],
            receivers_per_queue: 2,
            max_in_flight: 32,
            visibility_timeout_secs: 120,
            wait_time_secs: 20,
            max_held_messages: 1_000,
            hold_backoff_max_secs: 300,
            dead_letter_check_secs: 60,
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
    /// A newer AWS `ip-ranges.json` (gzipped or not) instead of the one shipped.
    pub aws_ip_ranges: Option<PathBuf>,
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

impl WebhookSinkConfig {
    /// A generic webhook to `url` with every other setting at its default.
    pub fn to_url(name: impl Into<String>, url: impl Into<String>) -> WebhookSinkConfig {
        WebhookSinkConfig {
            name: Some(name.into()),
            url: url.into(),
            format: WebhookFormat::default(),
            secret: None,
            routing_key: None,
            headers: BTreeMap::new(),
            timeout_secs: default_timeout(),
            max_retries: default_retries(),
            filter: SinkFilter::default(),
        }
    }
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

/// The directory systemd gives a service with `StateDirectory=` (the first, when it names
/// several), also set by the Docker image.
fn state_directory() -> Option<PathBuf> {
    let dirs = std::env::var_os("STATE_DIRECTORY")?;
    let first = dirs.to_str()?.split(':').next()?.trim();
    (!first.is_empty()).then(|| PathBuf::from(first))
}

impl Config {
    /// Where the daemon's state file is: `state.file` (or `correlation.state_file`), else
    /// `state.json` under `$STATE_DIRECTORY`; None when there is no place for it.
    pub fn state_file(&self) -> Option<PathBuf> {
        self.state_file_in(state_directory())
    }

    fn state_file_in(&self, dir: Option<PathBuf>) -> Option<PathBuf> {
        self.state
            .file
            .clone()
            .or_else(|| self.correlation.state_file.clone())
            .or_else(|| dir.map(|d| d.join("state.json")))
    }

    /// Where the posture monitor keeps its last findings: `audit.state_file`, else
    /// `posture.json` under `$STATE_DIRECTORY`.
    pub fn posture_state_file(&self) -> Option<PathBuf> {
        self.audit
            .state_file
            .clone()
            .or_else(|| state_directory().map(|d| d.join("posture.json")))
    }

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
            message: parse_error(text, &e),
        })
    }

    /// Checks what serde cannot: values in range and at least one queue and sink.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.sqs.queue_urls.is_empty() {
            return Err(invalid(
                "sqs.queue_urls",
                "no queue to consume (set it, or give --queue-url)",
            ));
        }
        for (i, u) in self.sqs.queue_urls.iter().enumerate() {
            check_queue_url(u).map_err(|m| invalid(format!("sqs.queue_urls[{i}]"), m))?;
        }
        if !(0..=20).contains(&self.sqs.wait_time_secs) {
            return Err(invalid("sqs.wait_time_secs", "must be 0 to 20"));
        }
        if self.sqs.visibility_timeout_secs < 2 || self.sqs.visibility_timeout_secs > 43_200 {
            return Err(invalid("sqs.visibility_timeout_secs", "must be 2 to 43200"));
        }
        if self.sqs.hold_backoff_max_secs == 0 || self.sqs.hold_backoff_max_secs > 43_200 {
            return Err(invalid("sqs.hold_backoff_max_secs", "must be 1 to 43200"));
        }
        if self.sqs.dead_letter_check_secs == 0 {
            return Err(invalid("sqs.dead_letter_check_secs", "must be at least 1"));
        }
        if self.sqs.receivers_per_queue == 0 || self.sqs.max_in_flight == 0 {
            return Err(invalid(
                "sqs.receivers_per_queue, sqs.max_in_flight",
                "must be at least 1",
            ));
        }
        if let (Some(a), Some(b)) = (&self.state.file, &self.correlation.state_file) {
            if a != b {
                return Err(invalid(
                    "state.file, correlation.state_file",
                    "two names of one key with different paths: keep state.file",
                ));
            }
        }
        self.validate_detection()?;
        self.audit.validate()?;
        self.state.shared_table()?;
        self.validate_sinks()
    }

    /// The checks for what detection alone uses (a replay): the `[[exclusions]]` entries
    /// compile (CIDRs parse, each has a criterion) and the correlation limits hold.
    pub fn validate_detection(&self) -> Result<(), ConfigError> {
        crate::detect::exclusions::Exclusions::new(&self.exclusions)?;
        self.correlation.limits()?;
        Ok(())
    }

    /// Every rule an exclusion or a suppression entry names is loaded, and suppression windows
    /// parse: otherwise they would silently do nothing.
    pub fn check_rule_references(&self, set: &crate::rules::RuleSet) -> Result<(), ConfigError> {
        crate::suppress::Suppressor::new(set, &self.suppress)?;
        for (i, e) in self.exclusions.iter().enumerate() {
            for name in &e.rules {
                if !set.rules().iter().any(|r| r.meta.info.name == *name) {
                    return Err(ConfigError::UnknownExcludedRule {
                        entry: i,
                        rule: name.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// The checks that matter when only the sinks are used (`replay --to-sinks`).
    pub fn validate_sinks(&self) -> Result<(), ConfigError> {
        let bad = |key: String, m: String| Err(invalid(key, m));
        if self.sinks.sns.is_empty() && self.sinks.webhook.is_empty() && self.sinks.jsonl.is_empty()
        {
            return bad("sinks".into(), "no sink, so alerts would go nowhere (add [[sinks.sns]], [[sinks.webhook]] or [[sinks.jsonl]])".into());
        }
        for (i, w) in self.sinks.webhook.iter().enumerate() {
            // Webhook URLs often carry their token (Slack, Teams): the error never shows it.
            let sink = w.name.as_deref().unwrap_or("webhook");
            match url::Url::parse(&w.url) {
                Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => {}
                Ok(_) => {
                    return bad(
                        format!("sinks.webhook[{i}].url (sink {sink})"),
                        "must be an http:// or https:// URL with a host".into(),
                    )
                }
                Err(e) => {
                    return bad(
                        format!("sinks.webhook[{i}].url (sink {sink})"),
                        format!("not a URL ({e})"),
                    )
                }
            }
            if w.format == WebhookFormat::Pagerduty && w.routing_key.is_none() {
                return bad(
                    format!("sinks.webhook[{i}].routing_key (sink {sink})"),
                    "a pagerduty webhook needs one".into(),
                );
            }
        }
        Ok(())
    }

    pub fn grace(&self) -> Duration {
        Duration::from_secs(self.shutdown.grace_secs)
    }
}

/// An SQS queue URL: http(s), a host, and the path `/ACCOUNT/QUEUE` (12-digit account, a queue
/// name of letters, digits, `-` and `_`, `.fifo` allowed). Any host is allowed, so VPC
/// endpoints and local emulators work.
pub fn check_queue_url(text: &str) -> Result<(), String> {
    let u = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL ({e})"))?;
    if !matches!(u.scheme(), "https" | "http") || u.host().is_none() {
        return Err(format!(
            "{text:?} must be an http:// or https:// URL with a host"
        ));
    }
    let segments: Vec<&str> = u.path().trim_matches('/').split('/').collect();
    let shaped = match segments.as_slice() {
        [account, queue] => {
            let name = queue.strip_suffix(".fifo").unwrap_or(queue);
            account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && (1..=80).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }
        _ => false,
    };
    if !shaped {
        return Err(format!(
            "{text:?} is not an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE)"
        ));
    }
    Ok(())
}

/// A TOML error as line, column and key, without the offending text: a typo on a line that
/// holds a token or a webhook URL must not put the secret into the startup log. The line's
/// value is also taken out of the parser's message, which may quote it ("invalid type:
/// string ...").
fn parse_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end().replace('\n', " ");
    let Some(span) = e.span() else {
        return message;
    };
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line = text[..start].matches('\n').count() + 1;
    let column = text[line_start..start].chars().count() + 1;
    let line_text = text[line_start..].lines().next().unwrap_or("");
    let (key, message) = match line_text.split_once('=') {
        Some((k, v)) => {
            let value = v.trim().trim_matches(|c| c == '"' || c == '\'');
            let message = match value.is_empty() {
                true => message,
                false => message.replace(value, "…"),
            };
            (format!(" (key {})", k.trim()), message)
        }
        None if line_text.trim_start().starts_with('[') => {
            (format!(" (table {})", line_text.trim()), message)
        }
        None => (String::new(), message),
    };
    format!("line {line}, column {column}{key}: {message}")
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
        let c = Config::parse(
            "c",
            "[sqs]\nqueue_urls=[\"https://sqs.eu-west-1.amazonaws.com/111122223333/q\"]\n",
        )
        .unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("no sink"));
    }

    #[test]
    fn queue_urls_are_checked_at_load() {
        for bad_url in [
            "not a url",
            "ftp://x/123456789012/q",
            "https://sqs.eu-west-1.amazonaws.com/q",
            "https://sqs.eu-west-1.amazonaws.com/12345/q",
        ] {
            let c = Config::parse(
                "c",
                &format!("[sqs]\nqueue_urls=[\"https://sqs.eu-west-1.amazonaws.com/111122223333/ok\", {bad_url:?}]\n[[sinks.jsonl]]\npath=\"-\"\n"),
            )
            .unwrap();
            let m = c.validate().unwrap_err().to_string();
            assert!(m.starts_with("sqs.queue_urls[1]: "), "{bad_url}: {m}");
        }
        for good in [
            "https://sqs.eu-west-1.amazonaws.com/111122223333/trail-events",
            "http://127.0.0.1:5000/123456789012/q.fifo",
            "https://vpce-1.sqs.eu-west-1.vpce.amazonaws.com/111122223333/a_b",
        ] {
            assert_eq!(check_queue_url(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn webhook_urls_are_checked_without_showing_them() {
        let c = Config::parse(
            "c",
            "[sqs]\nqueue_urls=[\"https://sqs.eu-west-1.amazonaws.com/111122223333/q\"]\n[[sinks.webhook]]\nname=\"slack\"\nurl=\"hooks.slack.com/services/T0/B0/s3cr3tt0ken\"\n",
        )
        .unwrap();
        let m = c.validate().unwrap_err().to_string();
        assert!(
            m.starts_with("sinks.webhook[0].url (sink slack): not a URL"),
            "{m}"
        );
        assert!(!m.contains("s3cr3t"), "{m}");
    }

    #[test]
    fn syntax_errors_name_line_column_and_key_but_never_the_value() {
        let text = "[sqs]\nqueue_urls = [\"https://sqs.eu-west-1.amazonaws.com/111122223333/q\"]\n\n[[sinks.webhook]]\nurl = \"https://hooks.slack.com/services/T0/B0/s3cr3tt0ken\nformat = \"slack\"\n";
        let m = Config::parse("c.toml", text).unwrap_err().to_string();
        assert!(m.starts_with("c.toml: line 5, column "), "{m}");
        assert!(m.contains("(key url)"), "{m}");
        assert!(!m.contains("s3cr3t"), "{m}");
        // A value of the wrong type: the value is elided from the parser's message too.
        let m = Config::parse(
            "c.toml",
            "[[sinks.webhook]]\nurl = \"https://x\"\ntimeout_secs = \"t0ken-as-number\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            m.contains("line 3") && m.contains("(key timeout_secs)"),
            "{m}"
        );
        assert!(!m.contains("t0ken"), "{m}");
    }

    #[test]
    fn durations_are_parsed_at_load() {
        let c = Config::parse("c.toml", "[correlation]\nlateness = \"2h\"\n").unwrap();
        assert_eq!(c.correlation.lateness.ms, 7_200_000);
        for (text, line, key) in [
            ("[correlation]\nlateness = \"soon\"\n", 2, "lateness"),
            (
                "[[suppress]]\nrules = []\nwindow = \"5 minutes\"\n",
                3,
                "window",
            ),
        ] {
            let m = Config::parse("c.toml", text).unwrap_err().to_string();
            assert!(
                m.contains(&format!("line {line}, column"))
                    && m.contains(&format!("(key {key})"))
                    && m.contains("is not a timespan"),
                "{m}"
            );
        }
    }

    #[test]
    fn the_state_file_defaults_to_the_service_state_directory() {
        let dir = Some(PathBuf::from("/var/lib/trailwatch"));
        let c = Config::parse("c", "").unwrap();
        assert_eq!(c.state_file_in(None), None, "no place for it: memory only");
        assert_eq!(
            c.state_file_in(dir.clone()),
            Some(PathBuf::from("/var/lib/trailwatch/state.json"))
        );
        for text in [
            "[state]\nfile = \"/srv/tw.json\"\n",
            "[correlation]\nstate_file = \"/srv/tw.json\"\n",
        ] {
            let c = Config::parse("c", text).unwrap();
            assert_eq!(
                c.state_file_in(dir.clone()),
                Some(PathBuf::from("/srv/tw.json")),
                "{text}"
            );
        }
        let both = "[sqs]\nqueue_urls=[\"https://sqs.eu-west-1.amazonaws.com/111122223333/q\"]\n[[sinks.jsonl]]\npath=\"-\"\n[state]\nfile = \"/a\"\n[correlation]\nstate_file = \"/b\"\n";
        let m = Config::parse("c", both)
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(m.starts_with("state.file, correlation.state_file: "), "{m}");
    }
}
