//! S3 objects: fetched with retries, streamed through the trail reader on a blocking thread
//! (memory stays bounded whatever the object's size), and listed for replays from S3.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use backon::{ExponentialBuilder, Retryable};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::io::SyncIoBridge;

use super::notification::ObjectRef;
use crate::alert::{Alert, Origin};
use crate::correlate::allowlist::Allowlist;
use crate::correlate::{self, Detector, Observation, Outcomes, Scan};
use crate::rules::RuleSet;
use crate::trail::{self, Record, StreamStats, TrailError};

/// Why an object could not be fully read.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("s3://{bucket}/{key}: object does not exist (NoSuchKey): deleted by a lifecycle rule, or an old message")]
    Missing { bucket: String, key: String },
    #[error("s3://{bucket}/{key}: access denied: the daemon's role needs s3:GetObject on arn:aws:s3:::{bucket}/{key} (and kms:Decrypt on the trail's key for SSE-KMS)")]
    AccessDenied { bucket: String, key: String },
    #[error("s3://{bucket}/{key}: {message} (after retries)")]
    Transient {
        bucket: String,
        key: String,
        message: String,
    },
    #[error("s3://{bucket}/{key}: {source}")]
    Content {
        bucket: String,
        key: String,
        source: TrailError,
    },
}

impl FetchError {
    /// The `reason` label for `sqs_messages_failed_total`.
    pub fn reason(&self) -> &'static str {
        use crate::metrics::reason;
        match self {
            FetchError::Missing { .. } => reason::OBJECT_MISSING,
            FetchError::AccessDenied { .. } => reason::ACCESS_DENIED,
            FetchError::Transient { .. } | FetchError::Content { .. } => reason::READ_ERROR,
        }
    }
}

/// Matches of one stretch of input, handed to the daemon in batches while objects are read.
#[derive(Debug, Default)]
pub struct Found {
    pub alerts: Vec<Alert>,
    /// Matches that feed correlations.
    pub observations: Vec<Observation>,
    /// Names of the rules whose match a filter document or exclusion kept from counting, once
    /// per excluded match.
    pub excluded: Vec<String>,
    /// Records whose eventName is in the reader's watch list, as read (the daemon re-audits
    /// the posture they change).
    pub watched: Vec<String>,
}

impl Found {
    /// Alerts and observations held: what the pending-alert budget counts.
    pub fn size(&self) -> usize {
        self.alerts.len() + self.observations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.size() == 0 && self.excluded.is_empty() && self.watched.is_empty()
    }
}

/// What a reader collects as it scans: matches and watched records (handed over in
/// batches when it has a hand-over), and the first unusable record.
pub struct Reading<'a> {
    pub found: Found,
    pub first_bad: Option<String>,
    watch: &'a Watch,
    hand_over: Option<HandOver<'a>>,
}

/// Where a reader on a blocking thread hands full batches, and the budget share it holds for
/// the batch it is filling.
struct HandOver<'a> {
    batches: &'a Batches,
    runtime: &'a Handle,
    permit: Option<OwnedSemaphorePermit>,
}

impl<'a> Reading<'a> {
    /// A reading that keeps everything until the caller takes it.
    pub fn new(watch: &'a Watch) -> Reading<'a> {
        Reading {
            found: Found::default(),
            first_bad: None,
            watch,
            hand_over: None,
        }
    }
}

impl Outcomes for Reading<'_> {
    fn alert(&mut self, alert: Alert) {
        self.found.alerts.push(alert);
    }
    fn observation(&mut self, observation: Observation) {
        self.found.observations.push(observation);
    }
    fn excluded(&mut self, rule: &str) {
        self.found.excluded.push(rule.to_string());
    }
}

impl Scan for Reading<'_> {
    fn record(&mut self, record: &Record) -> bool {
        if let Some(h) = &mut self.hand_over {
            if self.found.size() >= BATCH {
                if let Some(p) = h.permit.take() {
                    h.batches.send_blocking(std::mem::take(&mut self.found), p);
                }
                h.permit = h.batches.reserve_blocking(h.runtime);
            }
        }
        let name = record.fields.str(trail::fields::well_known::EVENT_NAME);
        if name.is_some_and(|n| self.watch.contains(n)) {
            self.found.watched.push(record.raw.to_string());
        }
        true
    }
    fn unusable(&mut self, error: TrailError) {
        self.first_bad.get_or_insert_with(|| error.to_string());
    }
}

/// Matches per batch: an alert-dense object is delivered in pieces of this size while it is
/// read, instead of collected whole.
pub const BATCH: usize = 500;

/// A batch and its share of the pending-alert budget, given back when the batch is dropped
/// (delivered, or given up on).
pub type Batch = (Found, OwnedSemaphorePermit);

/// Where readers hand their batches: one bounded channel per message, and one budget of
/// pending alerts and observations shared by every message. A reader waits (and stops
/// reading) while the budget is spent, so memory stays bounded whatever the density and the
/// number of messages in flight.
#[derive(Clone)]
pub struct Batches {
    tx: mpsc::Sender<Batch>,
    budget: Arc<Semaphore>,
}

impl Batches {
    pub fn new(budget: Arc<Semaphore>) -> (Batches, mpsc::Receiver<Batch>) {
        let (tx, rx) = mpsc::channel(1);
        (Batches { tx, budget }, rx)
    }

    /// A batch's share of the budget, taken before the batch is filled: what a reader holds
    /// while it reads is always counted. Waits (on a blocking thread) while the budget is
    /// spent; None when the budget is gone.
    fn reserve_blocking(&self, runtime: &Handle) -> Option<OwnedSemaphorePermit> {
        runtime
            .block_on(self.budget.clone().acquire_many_owned(BATCH as u32))
            .ok()
    }

    /// Hands over a batch filled under `permit`, waiting for room. False when the receiving
    /// side is gone.
    fn send_blocking(&self, found: Found, permit: OwnedSemaphorePermit) -> bool {
        self.tx.blocking_send((found, permit)).is_ok()
    }

    /// Hands over a batch from async code.
    pub async fn send(&self, found: Found) -> bool {
        let n = found.size().clamp(1, BATCH) as u32;
        let Ok(permit) = self.budget.clone().acquire_many_owned(n).await else {
            return false;
        };
        self.tx.send((found, permit)).await.is_ok()
    }
}

/// What reading one object gave, besides its batches.
#[derive(Debug, Default)]
pub struct ObjectRead {
    pub stats: StreamStats,
    /// The first unusable record, if any (the rest of the object was still read).
    pub first_bad_record: Option<String>,
}

fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_jitter()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(10))
        .with_max_times(4)
}

/// Event names whose records a reader keeps (see [`Found::watched`]).
pub type Watch = Arc<std::collections::HashSet<&'static str>>;

/// Reads and matches one object, handing its matches to `batches` as it goes. Transient
/// failures (throttling, 5xx, timeouts, dropped connections, also in the middle of the body)
/// are retried from the start of the object; what a failed attempt handed over is handed over
/// again, which alert-id dedupe and correlation's event ids absorb.
pub async fn read_object(
    client: &aws_sdk_s3::Client,
    obj: &ObjectRef,
    rules: Arc<RuleSet>,
    allowlist: Arc<Allowlist>,
    watch: Watch,
    batches: &Batches,
) -> Result<ObjectRead, FetchError> {
    let attempt = || {
        read_once(
            client,
            obj,
            rules.clone(),
            allowlist.clone(),
            watch.clone(),
            batches.clone(),
        )
    };
    attempt
        .retry(backoff())
        .when(|e: &FetchError| matches!(e, FetchError::Transient { .. }))
        .notify(|e: &FetchError, wait| tracing::debug!(error = %e, ?wait, "retrying S3 object"))
        .await
}

async fn read_once(
    client: &aws_sdk_s3::Client,
    obj: &ObjectRef,
    rules: Arc<RuleSet>,
    allowlist: Arc<Allowlist>,
    watch: Watch,
    batches: Batches,
) -> Result<ObjectRead, FetchError> {
    let (bucket, key) = (obj.bucket.clone(), obj.key.clone());
    let resp = client
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .map_err(|e| classify(e, &bucket, &key))?;
    let bridge = SyncIoBridge::new(resp.body.into_async_read());
    let origin = Origin::S3 {
        bucket: bucket.clone(),
        key: key.clone(),
    };
    let runtime = Handle::current();
    let (read, error) = tokio::task::spawn_blocking(move || {
        let detector = Detector {
            rules: &rules,
            origin: &origin,
            allowlist: &allowlist,
        };
        let mut reading = Reading::new(&watch);
        reading.hand_over = Some(HandOver {
            permit: batches.reserve_blocking(&runtime),
            batches: &batches,
            runtime: &runtime,
        });
        let (stats, error) = correlate::scan(bridge, &detector, &mut reading);
        // What the readable part of a broken object gave still goes out (a redelivery
        // deduplicates it).
        if let Some(HandOver {
            permit: Some(p), ..
        }) = reading.hand_over.take()
        {
            if !reading.found.is_empty() {
                batches.send_blocking(std::mem::take(&mut reading.found), p);
            }
        }
        let read = ObjectRead {
            stats,
            first_bad_record: reading.first_bad,
        };
        (read, error)
    })
    .await
    .map_err(|e| FetchError::Transient {
        bucket: bucket.clone(),
        key: key.clone(),
        message: format!("reader task failed: {e}"),
    })?;
    match error {
        None => Ok(read),
        Some(e) if e.is_retryable() => Err(FetchError::Transient {
            bucket,
            key,
            message: format!("reading the body: {e}"),
        }),
        Some(source) => Err(FetchError::Content {
            bucket,
            key,
            source,
        }),
    }
}

/// The S3 client for an SDK configuration. With a custom endpoint (an emulator such as moto,
/// or a VPC endpoint), S3 is addressed path-style.
pub fn client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Opens objects as blocking readers, for replay's worker threads (which are not async).
#[derive(Clone)]
pub struct BlockingOpener {
    pub client: aws_sdk_s3::Client,
    pub runtime: tokio::runtime::Handle,
}

impl BlockingOpener {
    /// Starts a GetObject (retried while the failure is transient) and returns its body as a
    /// stream. A failure in the middle of the body surfaces as a read error.
    pub fn open(&self, bucket: &str, key: &str) -> Result<impl std::io::Read + Send, FetchError> {
        let get = || async {
            self.client
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| classify(e, bucket, key))
        };
        let resp = self.runtime.block_on(
            get.retry(backoff())
                .when(|e: &FetchError| matches!(e, FetchError::Transient { .. })),
        )?;
        Ok(SyncIoBridge::new_with_handle(
            resp.body.into_async_read(),
            self.runtime.clone(),
        ))
    }
}

fn classify<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    e: SdkError<E>,
    bucket: &str,
    key: &str,
) -> FetchError {
    let (bucket, key) = (bucket.to_string(), key.to_string());
    let status = e.raw_response().map(|r| r.status().as_u16());
    match (e.code(), status) {
        (Some("NoSuchKey"), _) | (_, Some(404)) => FetchError::Missing { bucket, key },
        (Some("AccessDenied"), _) | (_, Some(403)) => FetchError::AccessDenied { bucket, key },
        _ => FetchError::Transient {
            bucket,
            key,
            message: aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
        },
    }
}
