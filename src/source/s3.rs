//! S3 objects: fetched with retries, streamed through the trail reader on a blocking thread
//! (memory stays bounded whatever the object's size), and listed for replays from S3.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use backon::{ExponentialBuilder, Retryable};
use tokio_util::io::SyncIoBridge;

use super::notification::ObjectRef;
use crate::alert::{Alert, Origin};
use crate::correlate::{self, Observation, Outcomes};
use crate::rules::allowlist::Allowlist;
use crate::rules::RuleSet;
use crate::trail::{self, StreamStats, TrailError};

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

/// What one object gave.
#[derive(Debug, Default)]
pub struct ObjectRead {
    pub stats: StreamStats,
    pub alerts: Vec<Alert>,
    /// Matches that feed correlations.
    pub observations: Vec<Observation>,
    /// Names of the rules whose match a filter document or exclusion kept from counting, once
    /// per excluded match.
    pub excluded: Vec<String>,
    /// The first unusable record, if any (the rest of the object was still read).
    pub first_bad_record: Option<String>,
    /// Records whose eventName is in the watch list given to [`read_object`], as read (the
    /// daemon re-audits the posture they change).
    pub watched: Vec<String>,
}

impl ObjectRead {
    /// Adds another object's matches (the stats stay this object's).
    pub fn absorb(&mut self, other: ObjectRead) {
        self.alerts.extend(other.alerts);
        self.observations.extend(other.observations);
        self.excluded.extend(other.excluded);
        self.watched.extend(other.watched);
    }
}

impl Outcomes for ObjectRead {
    fn alert(&mut self, alert: Alert) {
        self.alerts.push(alert);
    }
    fn observation(&mut self, observation: Observation) {
        self.observations.push(observation);
    }
    fn excluded(&mut self, rule: &str) {
        self.excluded.push(rule.to_string());
    }
}

/// A failed read, with what the readable part gave (its alerts still go out; a redelivery
/// deduplicates them).
pub type Failed = (FetchError, ObjectRead);

fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_jitter()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(10))
        .with_max_times(4)
}

/// Event names whose records a reader keeps (see [`ObjectRead::watched`]).
pub type Watch = Arc<std::collections::HashSet<&'static str>>;

/// Reads and matches one object. Transient failures (throttling, 5xx, timeouts, dropped
/// connections, also in the middle of the body) are retried from the start of the object.
pub async fn read_object(
    client: &aws_sdk_s3::Client,
    obj: &ObjectRef,
    rules: Arc<RuleSet>,
    allowlist: Arc<Allowlist>,
    watch: Watch,
) -> Result<ObjectRead, Failed> {
    let attempt = || read_once(client, obj, rules.clone(), allowlist.clone(), watch.clone());
    attempt
        .retry(backoff())
        .when(|(e, _): &Failed| matches!(e, FetchError::Transient { .. }))
        .notify(|(e, _): &Failed, wait| tracing::debug!(error = %e, ?wait, "retrying S3 object"))
        .await
}

async fn read_once(
    client: &aws_sdk_s3::Client,
    obj: &ObjectRef,
    rules: Arc<RuleSet>,
    allowlist: Arc<Allowlist>,
    watch: Watch,
) -> Result<ObjectRead, Failed> {
    let (bucket, key) = (obj.bucket.clone(), obj.key.clone());
    let resp = client
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .map_err(|e| (classify(e, &bucket, &key), ObjectRead::default()))?;
    let bridge = SyncIoBridge::new(resp.body.into_async_read());
    let origin = Origin::S3 {
        bucket: bucket.clone(),
        key: key.clone(),
    };
    let (read, error) = tokio::task::spawn_blocking(move || {
        let mut out = ObjectRead::default();
        let mut scratch = Vec::new();
        let (stats, error) = trail::read_stream(bridge, rules.fields(), |rec| match rec {
            Ok(rec) => {
                correlate::detect(&rules, &rec, &mut scratch, &origin, &allowlist, &mut out);
                if rec
                    .fields
                    .str(trail::fields::well_known::EVENT_NAME)
                    .is_some_and(|n| watch.contains(n))
                {
                    out.watched.push(rec.raw.to_string());
                }
            }
            Err(e) => {
                out.first_bad_record.get_or_insert_with(|| e.to_string());
            }
        });
        out.stats = stats;
        (out, error)
    })
    .await
    .map_err(|e| {
        (
            FetchError::Transient {
                bucket: bucket.clone(),
                key: key.clone(),
                message: format!("reader task failed: {e}"),
            },
            ObjectRead::default(),
        )
    })?;
    match error {
        None => Ok(read),
        Some(e) if e.is_retryable() => Err((
            FetchError::Transient {
                bucket,
                key,
                message: format!("reading the body: {e}"),
            },
            read,
        )),
        Some(source) => Err((
            FetchError::Content {
                bucket,
                key,
                source,
            },
            read,
        )),
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
