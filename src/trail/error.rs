//! Errors of the trail layer: turning bytes into CloudTrail records.

use std::fmt;

/// Where in an input an error happened, as precisely as it is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// Offset in the decompressed byte stream.
    pub offset: Option<u64>,
    /// Index of the record (0-based) in the file.
    pub record: Option<u64>,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.record, self.offset) {
            (Some(r), Some(o)) => write!(f, " (record {r}, byte {o})"),
            (Some(r), None) => write!(f, " (record {r})"),
            (None, Some(o)) => write!(f, " (byte {o})"),
            (None, None) => Ok(()),
        }
    }
}

/// Why an input could not be read, or a record could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TrailError {
    #[error("cannot read: {source}{at}")]
    Io {
        source: std::io::Error,
        at: Position,
    },
    #[error("corrupt gzip data: {message}{at}")]
    Gzip { message: String, at: Position },
    #[error("invalid JSON: {message}{at}")]
    Json { message: String, at: Position },
    #[error("truncated JSON: input ended inside a value{at}")]
    Truncated { at: Position },
    #[error("not CloudTrail: {message}{at}")]
    NotCloudTrail { message: String, at: Position },
}

impl TrailError {
    /// True when retrying the same read may succeed (network or I/O trouble, not bad content).
    pub fn is_retryable(&self) -> bool {
        match self {
            TrailError::Io { source, .. } => !matches!(
                source.kind(),
                std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::PermissionDenied
                    | std::io::ErrorKind::InvalidData
            ),
            _ => false,
        }
    }

    /// The same error with its record index counted `base` records further (an index
    /// counted from the start of a part of the stream, made the stream's).
    pub fn with_record_base(mut self, base: u64) -> Self {
        let at = match &mut self {
            TrailError::Io { at, .. }
            | TrailError::Gzip { at, .. }
            | TrailError::Json { at, .. }
            | TrailError::Truncated { at }
            | TrailError::NotCloudTrail { at, .. } => at,
        };
        if let Some(record) = &mut at.record {
            *record += base;
        }
        self
    }

    /// Classifies an I/O error coming out of the (possibly decompressing) reader.
    pub(crate) fn from_read(err: std::io::Error, gzip: bool, offset: u64) -> Self {
        let at = Position {
            offset: Some(offset),
            record: None,
        };
        // flate2 reports bad compressed data as InvalidInput/InvalidData.
        if gzip
            && matches!(
                err.kind(),
                std::io::ErrorKind::InvalidInput
                    | std::io::ErrorKind::InvalidData
                    | std::io::ErrorKind::UnexpectedEof
            )
        {
            return TrailError::Gzip {
                message: err.to_string(),
                at,
            };
        }
        TrailError::Io { source: err, at }
    }
}
