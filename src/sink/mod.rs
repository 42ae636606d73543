//! The sink stage: fan alerts out to SNS, webhooks and JSONL files, each with its own filter.
//! What each sink accepted is kept by the state stage ([`State::claim`], [`State::settle`]),
//! so redelivered messages never alert twice, in this process or any replica.

mod jsonl;
mod message;
mod sns;
mod webhook;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, SinkFilter};
use crate::metrics::Metrics;
use crate::state::State;

use jsonl::JsonlSink;
use message::Message;
use sns::SnsSink;
use webhook::WebhookSink;

/// A sink gave up on some alerts after its retries. Names the sink, never its secrets.
#[derive(Debug, Clone, thiserror::Error)]
#[error("sink {sink}: {message}")]
pub struct SinkError {
    pub sink: String,
    pub message: String,
}

/// Whether a sink answered [`SinkSet::probe`]: what it said, or why it could not be asked.
#[derive(Debug, Clone)]
pub struct SinkProbe {
    pub sink: String,
    /// The configuration key that describes the sink.
    pub key: String,
    pub call: String,
    pub answer: Result<String, String>,
}

/// The error for alerts a shutdown kept from being sent.
fn stopped(sink: &Entry) -> SinkError {
    SinkError {
        sink: sink.name.clone(),
        message: "not sent: shutting down".into(),
    }
}

/// A sink the configuration describes but that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum SinkSetupError {
    #[error("sink {sink}: an SNS sink needs an SNS client")]
    NoSnsClient { sink: String },
    #[error("sink {sink}: header {header:?}: {message}")]
    Header {
        sink: String,
        header: String,
        message: &'static str,
    },
    #[error("sink {sink}: HTTP client: {source}")]
    Client {
        sink: String,
        source: reqwest::Error,
    },
    #[error("sink {sink}: {path}: {source}")]
    Open {
        sink: String,
        path: String,
        source: std::io::Error,
    },
    #[error("two sinks are named {0:?}")]
    DuplicateName(String),
}

/// What a delivery attempt achieved: the indices (into the slice given) of accepted alerts,
/// and why the others failed.
pub struct Partial {
    pub accepted: Vec<usize>,
    pub error: String,
}

enum Kind {
    Sns(SnsSink),
    Webhook(WebhookSink),
    Jsonl(JsonlSink),
}

struct Entry {
    name: String,
    /// Where the configuration describes it (`sinks.webhook[1]`).
    key: String,
    filter: SinkFilter,
    /// False since a delivery this sink did not accept, until one it accepts.
    up: AtomicBool,
    kind: Kind,
}

impl Entry {
    fn new(name: String, key: String, filter: SinkFilter, kind: Kind) -> Entry {
        Entry {
            name,
            key,
            filter,
            up: AtomicBool::new(true),
            kind,
        }
    }
}

pub struct SinkSet {
    sinks: Vec<Entry>,
    /// Woken when a sink that was failing accepts again (see [`SinkSet::recovered`]).
    recovered: Notify,
    metrics: Metrics,
    /// What each sink accepted, and what is being sent now.
    state: Arc<dyn State>,
}

/// How long a delivery waits for alerts another replica is sending before it leaves them to
/// the message's redelivery.
const WAIT_FOR_OTHER_REPLICA: Duration = Duration::from_secs(20);

impl SinkFilter {
    /// By level, and by rule name (alerts) or check id (posture changes).
    pub fn accepts(&self, m: &impl Message) -> bool {
        let name = m.name();
        self.min_level.is_none_or(|l| m.level() >= l)
            && (self.include_rules.is_empty() || self.include_rules.iter().any(|r| r == name))
            && !self.exclude_rules.iter().any(|r| r == name)
    }
}

impl SinkSet {
    /// Builds every configured sink. `sns` is only needed when SNS sinks are configured;
    /// `state` keeps what each sink accepted.
    pub fn from_config(
        cfg: &Config,
        sns: Option<aws_sdk_sns::Client>,
        metrics: Metrics,
        state: Arc<dyn State>,
    ) -> Result<SinkSet, SinkSetupError> {
        let mut sinks = Vec::new();
        for (i, s) in cfg.sinks.sns.iter().enumerate() {
            let name = s.name.clone().unwrap_or_else(|| format!("sns-{i}"));
            let client = sns
                .clone()
                .ok_or_else(|| SinkSetupError::NoSnsClient { sink: name.clone() })?;
            let kind = Kind::Sns(SnsSink::new(client, s.topic_arn.clone()));
            let key = format!("sinks.sns[{i}]");
            sinks.push(Entry::new(name, key, s.filter.clone(), kind));
        }
        for (i, w) in cfg.sinks.webhook.iter().enumerate() {
            let name = w.name.clone().unwrap_or_else(|| format!("webhook-{i}"));
            let kind = Kind::Webhook(WebhookSink::new(&name, w)?);
            let key = format!("sinks.webhook[{i}]");
            sinks.push(Entry::new(name, key, w.filter.clone(), kind));
        }
        for (i, j) in cfg.sinks.jsonl.iter().enumerate() {
            let name = j.name.clone().unwrap_or_else(|| format!("jsonl-{i}"));
            let sink = JsonlSink::open(&j.path).map_err(|source| SinkSetupError::Open {
                sink: name.clone(),
                path: j.path.clone(),
                source,
            })?;
            let key = format!("sinks.jsonl[{i}]");
            sinks.push(Entry::new(name, key, j.filter.clone(), Kind::Jsonl(sink)));
        }
        let mut names: Vec<&str> = sinks.iter().map(|s| s.name.as_str()).collect();
        names.sort();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(SinkSetupError::DuplicateName(w[0].to_string()));
        }
        for sink in &sinks {
            metrics.sink_up.with_label_values(&[&sink.name]).set(1);
        }
        Ok(SinkSet {
            sinks,
            recovered: Notify::new(),
            metrics,
            state,
        })
    }

    pub fn names(&self) -> Vec<&str> {
        self.sinks.iter().map(|s| s.name.as_str()).collect()
    }

    /// Delivers alerts (or posture changes) to every sink that wants them and has not
    /// accepted them before. Ok only when every sink accepted every message meant for it.
    /// Deliveries running at the same time never send one alert twice to a sink, in this
    /// process or (with the shared state) in any replica.
    pub async fn deliver<M: Message>(&self, alerts: &[Arc<M>]) -> Result<(), Vec<SinkError>> {
        self.deliver_until(alerts, &CancellationToken::new()).await
    }

    /// [`SinkSet::deliver`], ending early once `stop` is cancelled: no new sink call is
    /// started, but one already made finishes, so whatever a sink accepted is remembered
    /// as accepted (a restart then sends nothing twice). The alerts not sent are errors.
    pub async fn deliver_until<M: Message>(
        &self,
        alerts: &[Arc<M>],
        stop: &CancellationToken,
    ) -> Result<(), Vec<SinkError>> {
        let mut errors = Vec::new();
        for sink in &self.sinks {
            if stop.is_cancelled() {
                errors.push(stopped(sink));
                continue;
            }
            let mut todo: Vec<&M> = alerts
                .iter()
                .map(|a| &**a)
                .filter(|a| sink.filter.accepts(*a))
                .collect();
            let mut waited = Duration::ZERO;
            while !todo.is_empty() {
                if stop.is_cancelled() {
                    errors.push(stopped(sink));
                    break;
                }
                let ids: Vec<&str> = todo.iter().map(|m| m.id()).collect();
                let claims = self.state.claim(&sink.name, &ids).await;
                if let Some(e) = claims.failure {
                    errors.push(SinkError {
                        sink: sink.name.clone(),
                        message: e.to_string(),
                    });
                }
                if !claims.mine.is_empty() {
                    let mine: Vec<&M> = claims.mine.iter().map(|&i| todo[i]).collect();
                    if let Err(e) = self.send(sink, &mine, stop).await {
                        errors.push(e);
                    }
                }
                // Alerts another delivery was sending: once it is done, whatever it did not
                // get accepted is this delivery's to send.
                self.state.wait(&sink.name, &claims.busy, &ids).await;
                let mut next: Vec<&M> = claims.busy.iter().map(|(i, _)| todo[*i]).collect();
                if !claims.elsewhere.is_empty() {
                    // Another replica is sending these: ask again shortly, and after a while
                    // leave them to the message's redelivery rather than hold it.
                    if waited >= WAIT_FOR_OTHER_REPLICA {
                        errors.push(SinkError {
                            sink: sink.name.clone(),
                            message: format!(
                                "{} alert(s) still being sent by another replica after {}s",
                                claims.elsewhere.len(),
                                waited.as_secs()
                            ),
                        });
                    } else {
                        let pause = Duration::from_millis(250).max(waited / 2);
                        tokio::time::sleep(pause).await;
                        waited += pause;
                        next.extend(claims.elsewhere.iter().map(|&i| todo[i]));
                    }
                }
                todo = next;
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// One attempt at the alerts reserved for a sink; every reservation ends.
    async fn send<M: Message>(
        &self,
        sink: &Entry,
        pending: &[&M],
        stop: &CancellationToken,
    ) -> Result<(), SinkError> {
        let result = match &sink.kind {
            Kind::Sns(s) => s.send(pending, stop).await,
            Kind::Webhook(w) => w.send(pending, stop).await,
            Kind::Jsonl(j) => j.send(pending).await,
        };
        // Cut short by a shutdown says nothing about the sink.
        if !stop.is_cancelled() {
            self.mark(sink, result.is_ok());
        }
        let accepted: Vec<usize> = match &result {
            Ok(()) => (0..pending.len()).collect(),
            Err(p) => p.accepted.clone(),
        };
        let mut ok = vec![false; pending.len()];
        accepted.iter().for_each(|&i| ok[i] = true);
        let sent: Vec<(&str, bool)> = pending.iter().map(|m| m.id()).zip(ok).collect();
        let unrecorded = self.state.settle(&sink.name, &sent).await.err();
        let counter = |result: &str, n: usize| {
            self.metrics
                .sink_deliveries_total
                .with_label_values(&[sink.name.as_str(), result])
                .inc_by(n as u64)
        };
        counter("ok", accepted.len());
        match result {
            // Accepted, but other replicas do not know it yet: the message stays until the
            // next delivery to this sink has recorded it.
            Ok(()) if unrecorded.is_some() => Err(SinkError {
                sink: sink.name.clone(),
                message: format!(
                    "accepted, but not recorded in the shared state: {}",
                    unrecorded.expect("checked")
                ),
            }),
            Ok(()) => Ok(()),
            Err(p) => {
                counter("error", pending.len() - accepted.len());
                tracing::warn!(sink = %sink.name, failed = pending.len() - accepted.len(), error = %p.error, "sink did not accept alerts");
                Err(SinkError {
                    sink: sink.name.clone(),
                    message: p.error,
                })
            }
        }
    }

    /// Records whether the sink accepted a whole delivery; a sink that accepts again after
    /// failing wakes what waits in [`SinkSet::recovered`].
    fn mark(&self, sink: &Entry, accepted: bool) {
        let was = sink.up.swap(accepted, Ordering::Relaxed);
        if was == accepted {
            return;
        }
        self.metrics
            .sink_up
            .with_label_values(&[&sink.name])
            .set(i64::from(accepted));
        if accepted {
            tracing::info!(sink = %sink.name, "sink accepts alerts again");
            self.recovered.notify_waiters();
        } else {
            tracing::warn!(sink = %sink.name, "sink down: alerts for it are held until it accepts again");
        }
    }

    /// Resolves the next time a sink that was failing accepts a delivery.
    pub async fn recovered(&self) {
        self.recovered.notified().await
    }

    /// Asks every sink whether it can be reached, sending no alert: GetTopicAttributes for
    /// SNS, a HEAD request for webhooks (any HTTP answer will do), nothing for files (opened
    /// already).
    pub async fn probe(&self) -> Vec<SinkProbe> {
        let mut out = Vec::new();
        for sink in &self.sinks {
            let (call, answer) = match &sink.kind {
                Kind::Sns(s) => ("sns:GetTopicAttributes".to_string(), s.probe().await),
                Kind::Webhook(w) => (w.probe_call(), w.probe().await),
                Kind::Jsonl(_) => continue,
            };
            out.push(SinkProbe {
                sink: sink.name.clone(),
                key: sink.key.clone(),
                call,
                answer,
            });
        }
        out
    }

    /// Makes sure everything accepted is written out (files are flushed).
    pub async fn flush(&self) {
        for sink in &self.sinks {
            if let Kind::Jsonl(j) = &sink.kind {
                j.flush().await;
            }
        }
    }
}
