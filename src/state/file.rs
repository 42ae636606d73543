//! State files are replaced whole: written beside, then renamed over the old one, so a crash
//! mid-write leaves the previous state, never half of one.

use std::path::Path;

use serde::de::DeserializeOwned;

use super::DaemonError;

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DaemonError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| DaemonError::StateIo {
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
) -> Result<Option<T>, DaemonError> {
    let path_buf = || path.to_path_buf();
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(DaemonError::StateIo {
                path: path_buf(),
                source,
            })
        }
    };
    let file: T = serde_json::from_slice(&text).map_err(|source| DaemonError::StateDecode {
        path: path_buf(),
        kind,
        source,
    })?;
    let found = version_of(&file);
    if found != version {
        return Err(DaemonError::StateVersion {
            path: path_buf(),
            found,
            expected: version,
        });
    }
    Ok(Some(file))
}
