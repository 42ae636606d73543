//! State files are replaced whole: written beside, then renamed over the old one, so a crash
//! mid-write leaves the previous state, never half of one.

use std::path::Path;

use serde::de::DeserializeOwned;

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// A state file's contents, checked to be of `version`; None when there is none yet.
pub fn read<T: DeserializeOwned>(
    path: &Path,
    kind: &str,
    version: u32,
    version_of: impl Fn(&T) -> u32,
) -> Result<Option<T>, String> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let file: T = serde_json::from_slice(&text)
        .map_err(|e| format!("{}: not a trailwatch {kind}: {e}", path.display()))?;
    let found = version_of(&file);
    if found != version {
        return Err(format!(
            "{}: state version {found} is not {version}",
            path.display()
        ));
    }
    Ok(Some(file))
}
