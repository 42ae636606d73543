//! Reading what a message names: S3 objects, streamed through the scan on a blocking thread
//! while their matches are handed over in batches, and EventBridge events. A reader stops
//! between two reads once told to (a shutdown's grace is over) and is always joined before
//! the message's handling ends, so no reader outlives the runtime.

use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use backon::Retryable;
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use super::handover::{Batches, Reading, Watch};
use crate::alert::Origin;
use crate::audit::permissions::usage::UseReader;
use crate::detect::exclusions::Exclusions;
use crate::detect::{self, Detector};
use crate::rules::RuleSet;
use crate::source::notification::ObjectRef;
use crate::source::s3::{self, FetchError};
use crate::trail::StreamStats;

/// What reading one object gave, besides its batches.
#[derive(Debug, Default)]
pub struct ObjectRead {
    pub stats: StreamStats,
    /// The first unusable record, if any (the rest of the object was still read).
    pub first_bad_record: Option<String>,
    pub seconds: f64,
}

/// What a reader matches with.
#[derive(Clone)]
pub struct Matching {
    pub rules: Arc<RuleSet>,
    pub exclusions: Arc<Exclusions>,
    pub watch: Watch,
    /// Reads what each record used, when the daemon records usage.
    pub uses: Option<UseReader>,
}

/// Reads and matches one object, handing its matches to `batches` as it goes. Transient
/// failures (throttling, 5xx, timeouts, dropped connections, also in the middle of the body)
/// are retried from the start of the object; what a failed attempt handed over is handed over
/// again, which alert-id dedupe and correlation's event ids absorb. Not retried once `stop`
/// is cancelled.
pub async fn read_object(
    client: &aws_sdk_s3::Client,
    obj: &ObjectRef,
    matching: &Matching,
    batches: &Batches,
    stop: &CancellationToken,
) -> Result<ObjectRead, FetchError> {
    let started = Instant::now();
    let attempt = || read_once(client, obj, matching.clone(), batches.clone(), stop.clone());
    let wake = stop.clone();
    let mut read = attempt
        .retry(s3::backoff())
        .sleep(move |wait| {
            let stop = wake.clone();
            async move {
                stop.run_until_cancelled_owned(tokio::time::sleep(wait))
                    .await;
            }
        })
        .when(|e: &FetchError| e.is_transient() && !stop.is_cancelled())
        .notify(|e: &FetchError, wait| tracing::debug!(error = %e, ?wait, "retrying S3 object"))
        .await?;
    read.seconds = started.elapsed().as_secs_f64();
    Ok(read)
}

async fn read_once(
    client: &aws_sdk_s3::Client,
    obj: &ObjectRef,
    matching: Matching,
    batches: Batches,
    stop: CancellationToken,
) -> Result<ObjectRead, FetchError> {
    let body = Stoppable {
        inner: s3::open(client, obj).await?,
        stop,
    };
    let origin = Origin::S3 {
        bucket: obj.bucket.clone(),
        key: obj.key.clone(),
    };
    let runtime = Handle::current();
    let (read, error) = tokio::task::spawn_blocking(move || {
        let detector = Detector {
            rules: &matching.rules,
            origin: &origin,
            exclusions: &matching.exclusions,
        };
        let mut reading = Reading::handing_over(&matching.watch, matching.uses, &batches, &runtime);
        let (stats, error) = detect::scan(body, &detector, &mut reading);
        reading.finish();
        let read = ObjectRead {
            stats,
            first_bad_record: reading.first_bad,
            seconds: 0.0,
        };
        (read, error)
    })
    .await
    .map_err(|e| FetchError::Transient {
        bucket: obj.bucket.clone(),
        key: obj.key.clone(),
        message: format!("reader task failed: {e}"),
    })?;
    match error {
        None => Ok(read),
        Some(e) => Err(FetchError::reading(obj, e)),
    }
}

/// A body that ends with an error at the next read once `stop` is cancelled.
struct Stoppable<R> {
    inner: R,
    stop: CancellationToken,
}

impl<R: Read> Read for Stoppable<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.stop.is_cancelled() {
            return Err(std::io::Error::other("stopped: shutting down"));
        }
        self.inner.read(buf)
    }
}

/// An EventBridge event carrying one CloudTrail record: the body itself is the input, read
/// and matched here; its matches go to `batches`. With the scan's error, if the record could
/// not be read.
pub async fn read_event(
    body: &str,
    origin: &Origin,
    matching: &Matching,
    batches: &Batches,
) -> (ObjectRead, Option<crate::trail::TrailError>) {
    let started = Instant::now();
    let detector = Detector {
        rules: &matching.rules,
        origin,
        exclusions: &matching.exclusions,
    };
    let mut reading = Reading::new(&matching.watch, matching.uses);
    let (stats, err) = detect::scan(body.as_bytes(), &detector, &mut reading);
    batches.send(reading.found).await;
    let read = ObjectRead {
        stats,
        first_bad_record: reading.first_bad,
        seconds: started.elapsed().as_secs_f64(),
    };
    (read, err)
}
