//! `trailwatch run` and `trailwatch check-config`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::{exit, RuleArgs};
use trailwatch::config::{
    Config, JsonlSinkConfig, LogFormat, SinkFilter, SnsSinkConfig, WebhookSinkConfig,
};
use trailwatch::pipeline::{Pipeline, Use};

/// `check-config`: the daemon's settings, and whether to ask what they name.
#[derive(Args, Debug, Clone)]
pub struct CheckArgs {
    #[command(flatten)]
    daemon: DaemonArgs,
    /// Also ask every party the configuration names, sending nothing: the caller's identity
    /// (sts:GetCallerIdentity), each queue and its dead-letter queue (GetQueueAttributes),
    /// each SNS topic (GetTopicAttributes), each webhook (a HEAD request: any HTTP answer
    /// will do), the shared state table (DescribeTable). Exit 1 when any fails.
    #[arg(long)]
    probe: bool,
}

/// Settings shared by `run` and `check-config`: a config file and flags that override it.
#[derive(Args, Debug, Clone)]
pub struct DaemonArgs {
    /// Configuration file (TOML); see deploy/trailwatch.example.toml.
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
    /// SQS queue to consume (repeatable; replaces sqs.queue_urls).
    #[arg(long = "queue-url", value_name = "URL")]
    queue_urls: Vec<String>,
    /// Send alerts to this SNS topic (adds an SNS sink).
    #[arg(long = "sns-topic-arn", value_name = "ARN")]
    sns_topic_arns: Vec<String>,
    /// POST alerts as JSON to this URL (repeatable; adds generic webhook sinks).
    #[arg(long = "webhook-url", value_name = "URL")]
    webhook_urls: Vec<String>,
    /// Append alerts as JSON Lines to FILE, or "-" for stdout (adds a JSONL sink).
    #[arg(long = "jsonl", value_name = "FILE")]
    jsonl: Option<String>,
    /// Address of /metrics, /healthz and /readyz [default: 127.0.0.1:9464].
    #[arg(long = "metrics-addr", value_name = "HOST:PORT")]
    metrics_addr: Option<SocketAddr>,
    /// Audit the IAM posture at start, every audit.interval and after IAM events (sets
    /// audit.enabled).
    #[arg(long)]
    audit: bool,
    /// Log format (overrides log.format).
    #[arg(long = "log-format", value_enum)]
    log_format: Option<LogFormat>,
    #[command(flatten)]
    rules: RuleArgs,
}

impl DaemonArgs {
    /// The configuration file, read once, with the flags applied over it.
    pub fn config(&self) -> Result<Config, super::Error> {
        let mut cfg = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if !self.queue_urls.is_empty() {
            cfg.sqs.queue_urls = self.queue_urls.clone();
        }
        for (i, arn) in self.sns_topic_arns.iter().enumerate() {
            cfg.sinks.sns.push(SnsSinkConfig {
                name: Some(format!("sns-flag-{i}")),
                topic_arn: arn.clone(),
                filter: SinkFilter::default(),
            });
        }
        for (i, url) in self.webhook_urls.iter().enumerate() {
            cfg.sinks
                .webhook
                .push(WebhookSinkConfig::to_url(format!("webhook-flag-{i}"), url));
        }
        if let Some(path) = &self.jsonl {
            cfg.sinks.jsonl.push(JsonlSinkConfig {
                name: Some("jsonl-flag".into()),
                path: path.clone(),
                filter: SinkFilter::default(),
            });
        }
        if let Some(addr) = self.metrics_addr {
            cfg.metrics.addr = addr;
        }
        if let Some(f) = self.log_format {
            cfg.log.format = f;
        }
        if self.audit {
            cfg.audit.enabled = true;
        }
        self.rules.apply(&mut cfg.rules);
        Ok(cfg)
    }

    /// "FILE: " when the configuration came from a file, for the errors about it.
    fn file_prefix(&self) -> String {
        self.config
            .as_ref()
            .map(|p| format!("{}: ", p.display()))
            .unwrap_or_default()
    }

    /// The log format the flag asks for, for logging before the configuration is read.
    pub fn log_format_flag(&self) -> Option<LogFormat> {
        self.log_format
    }
}

/// `run`: the configuration is read before logging starts, so its log.format applies to
/// every line.
pub fn run(args: DaemonArgs) -> u8 {
    let cfg = args.config();
    let format = match &cfg {
        Ok(c) => c.log.format,
        Err(_) => args.log_format_flag().unwrap_or_default(),
    };
    super::init_logging(format, "info");
    let pipeline = match cfg.map(|cfg| Pipeline::build(cfg, Use::Daemon)) {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            tracing::error!("{}{e}", args.file_prefix());
            return exit::USAGE;
        }
        Err(e) => {
            tracing::error!("configuration: {e}");
            return exit::USAGE;
        }
    };
    for note in &pipeline.notes {
        tracing::info!(note = %note, "rules");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("trailwatch")
        .build()
        .expect("tokio runtime");
    match runtime.block_on(trailwatch::daemon::run(pipeline)) {
        Ok(()) => exit::OK,
        Err(e) => {
            tracing::error!("{e}");
            exit::INPUT_FAILED
        }
    }
}

pub fn check(args: CheckArgs) -> u8 {
    let CheckArgs {
        daemon: args,
        probe,
    } = args;
    let pipeline = match args.config() {
        Ok(cfg) => match Pipeline::build(cfg, Use::Daemon) {
            Ok(p) => p,
            Err(e) => {
                say!("error: {}{e}", args.file_prefix());
                return exit::USAGE;
            }
        },
        Err(e) => {
            say!("error: configuration: {e}");
            return exit::USAGE;
        }
    };
    let cfg = &pipeline.config;
    let state = match cfg.state.shared_table() {
        // --probe asks the table with everything else.
        Ok(Some(table)) if probe => format!("DynamoDB table {table}"),
        Ok(None) => match cfg.state_file() {
            Some(path) => format!("in memory, saved to {}", path.display()),
            None => "in memory only (a restart may resend alerts)".to_string(),
        },
        Ok(Some(table)) => match check_table(&pipeline) {
            Ok(warnings) => {
                warnings.iter().for_each(|w| say!("warning: {w}"));
                format!("DynamoDB table {table}")
            }
            Err(e) => {
                say!("error: state: {e}");
                return exit::INPUT_FAILED;
            }
        },
        Err(e) => {
            say!("error: configuration: {e}");
            return exit::USAGE;
        }
    };
    let audit = if cfg.audit.enabled {
        format!(
            "on, every {}, {} account(s) by role, {} mute(s)",
            humantime::format_duration(cfg.audit.interval),
            cfg.audit.accounts.len(),
            cfg.audit.mute.len()
        )
    } else {
        "off".into()
    };
    println!(
        "configuration OK: {} queue(s), {} rules, {} correlations, sinks: {} SNS, {} webhook, {} JSONL; posture audit {audit}; shared state {state}; metrics on {}",
        cfg.sqs.queue_urls.len(),
        pipeline.rules.len(),
        pipeline.rules.correlations().len(),
        cfg.sinks.sns.len(),
        cfg.sinks.webhook.len(),
        cfg.sinks.jsonl.len(),
        cfg.metrics.addr
    );
    if probe {
        return probe_all(&pipeline);
    }
    exit::OK
}

fn runtime() -> Result<tokio::runtime::Runtime, super::Error> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Asks every party the configuration names; one line each, exit 1 when any failed.
fn probe_all(pipeline: &Pipeline) -> u8 {
    let probes = runtime().and_then(|rt| {
        rt.block_on(async {
            let sdk = trailwatch::config::aws::load().await?;
            Ok(trailwatch::daemon::probe::probe(pipeline, &sdk).await)
        })
    });
    let probes = match probes {
        Ok(p) => p,
        Err(e) => {
            say!("FAIL  {e}");
            return exit::INPUT_FAILED;
        }
    };
    let mut failed = 0;
    for p in &probes {
        match &p.answer {
            Ok(said) => println!("ok    {}: {}: {said}", p.key, p.call),
            Err(why) => {
                failed += 1;
                println!("FAIL  {}: {}: {why}", p.key, p.call);
            }
        }
    }
    if failed == 0 {
        println!("probe OK: {} answered", probes.len());
        exit::OK
    } else {
        println!("probe FAILED: {failed} of {} did not answer", probes.len());
        exit::INPUT_FAILED
    }
}

/// Whether the shared state table exists with the key schema trailwatch needs; warnings
/// for what only costs (TTL off).
fn check_table(pipeline: &Pipeline) -> Result<Vec<String>, super::Error> {
    runtime()?.block_on(async {
        let sdk = trailwatch::config::aws::load().await?;
        let name = pipeline.config.state.shared_table()?.unwrap_or_default();
        let table = trailwatch::state::Table::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            name,
            trailwatch::metrics::Metrics::new(),
            None,
        );
        Ok(table.check().await?)
    })
}
