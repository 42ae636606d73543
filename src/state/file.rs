//! The state file: a process's correlation windows, suppression keys and each sink's accepted
//! alert ids, saved every 30 seconds and on shutdown, restored at start (also the posture
//! monitor's last findings, in a file of its own). Files are replaced whole: written beside,
//! then renamed over the old one, so a crash mid-write leaves the previous state, never half
//! of one.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Delivered, Saved, State};

/// A state file that could not be read or written; names the file.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a trailwatch {kind}: {source}", path.display())]
    Decode {
        path: PathBuf,
        kind: &'static str,
        source: serde_json::Error,
    },
    #[error("{}: state version {found} is not {expected}", path.display())]
    Version {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("encoding the state: {0}")]
    Encode(#[source] serde_json::Error),
}

/// What the daemon's state file holds.
#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    saved_at: String,
    #[serde(flatten)]
    saved: Saved,
    /// Per sink, the alert ids it accepted within the dedupe window, with when.
    #[serde(default)]
    delivered: Delivered,
}

const VERSION: u32 = 1;

/// Writes `state` to `path`; returns the open correlation groups written.
pub fn save(path: &Path, state: &dyn State) -> Result<usize, FileError> {
    let (saved, delivered) = state.save();
    let groups = state.open_groups();
    let file = StateFile {
        version: VERSION,
        saved_at: chrono::Utc::now().to_rfc3339(),
        saved,
        delivered,
    };
    let bytes = serde_json::to_vec(&file).map_err(FileError::Encode)?;
    write_atomic(path, &bytes)?;
    Ok(groups)
}

/// Restores what [`save`] wrote, if there is a file; returns the groups and the delivered
/// ids restored.
pub fn load(path: &Path, state: &dyn State) -> Result<(usize, usize), FileError> {
    match read::<StateFile>(path, "state file", VERSION, |f| f.version)? {
        None => Ok((0, 0)),
        Some(file) => Ok(state.restore(file.saved, file.delivered)),
    }
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| FileError::Io {
            path: path.to_path_buf(),
            source,
        })
}

/// A state file's contents, checked to be of `version`; None when there is none yet.
pub fn read<T: DeserializeOwned>(
    path: &Path,
    kind: &'static str,
    version: u32,
    version_of: impl Fn(&T) -> u32,
) -> Result<Option<T>, FileError> {
    let path_buf = || path.to_path_buf();
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(FileError::Io {
                path: path_buf(),
                source,
            })
        }
    };
    let file: T = serde_json::from_slice(&text).map_err(|source| FileError::Decode {
        path: path_buf(),
        kind,
        source,
    })?;
    let found = version_of(&file);
    if found != version {
        return Err(FileError::Version {
            path: path_buf(),
            found,
            expected: version,
        });
    }
    Ok(Some(file))
}
