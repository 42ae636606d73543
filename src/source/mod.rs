//! The source stage: where units of work come from. Each unit is read by the trail stage.

pub mod enqueue;
pub mod listing;
pub mod local;
pub mod notification;
pub mod queue;
pub mod s3;
pub mod window;

use std::path::PathBuf;

use crate::alert::Origin;

/// One file or object for a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Local { path: PathBuf, size: u64 },
    S3(listing::S3Object),
}

impl Input {
    /// Bytes as stored (compressed size for gzip).
    pub fn size(&self) -> u64 {
        match self {
            Input::Local { size, .. } => *size,
            Input::S3(o) => o.size,
        }
    }

    /// The name used in error messages: a path or an `s3://` URL.
    pub fn name(&self) -> String {
        match self {
            Input::Local { path, .. } => path.display().to_string(),
            Input::S3(o) => format!("s3://{}/{}", o.bucket, o.key),
        }
    }

    pub fn origin(&self) -> Origin {
        match self {
            Input::Local { path, .. } => Origin::File {
                file: path.display().to_string(),
            },
            Input::S3(o) => Origin::S3 {
                bucket: o.bucket.clone(),
                key: o.key.clone(),
            },
        }
    }
}

/// The inputs of a replay, in a stable order, and what was set aside while listing them.
#[derive(Debug, Default)]
pub struct Listing {
    pub inputs: Vec<Input>,
    /// Digest files recognised by name and skipped.
    pub digests: u64,
    /// Paths or prefixes that could not be listed, as one-line messages naming them.
    pub errors: Vec<String>,
}
