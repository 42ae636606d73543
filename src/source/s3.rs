//! S3 objects: fetched with retries and handed out as streams (memory stays bounded whatever
//! the object's size), and listed for replays from S3.

use std::time::Duration;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use backon::{ExponentialBuilder, Retryable};
use tokio_util::io::SyncIoBridge;

use super::notification::ObjectRef;
use crate::metrics::Reason;
use crate::trail::TrailError;

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
    /// Why the message naming the object is not finished.
    pub fn reason(&self) -> Reason {
        match self {
            FetchError::Missing { .. } => Reason::ObjectMissing,
            FetchError::AccessDenied { .. } => Reason::AccessDenied,
            FetchError::Transient { .. } | FetchError::Content { .. } => Reason::ReadError,
        }
    }

    /// An object whose body failed part way: a dropped connection may pass on another
    /// try, content that is not CloudTrail will not.
    pub fn reading(obj: &ObjectRef, error: TrailError) -> FetchError {
        let (bucket, key) = (obj.bucket.clone(), obj.key.clone());
        if error.is_retryable() {
            FetchError::Transient {
                bucket,
                key,
                message: format!("reading the body: {error}"),
            }
        } else {
            FetchError::Content {
                bucket,
                key,
                source: error,
            }
        }
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, FetchError::Transient { .. })
    }
}

/// How failed S3 calls are retried.
pub fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_jitter()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(10))
        .with_max_times(4)
}

/// Starts a GetObject and returns its body as a blocking reader, for a blocking thread of
/// the current runtime. A failure in the middle of the body surfaces as a read error.
pub async fn open(
    client: &aws_sdk_s3::Client,
    obj: &ObjectRef,
) -> Result<impl std::io::Read + Send + 'static, FetchError> {
    let resp = client
        .get_object()
        .bucket(&obj.bucket)
        .key(&obj.key)
        .send()
        .await
        .map_err(|e| classify(e, &obj.bucket, &obj.key))?;
    Ok(SyncIoBridge::new(resp.body.into_async_read()))
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
