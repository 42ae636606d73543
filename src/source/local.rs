//! Local files and directories, as given to `trailwatch replay`.

use std::path::PathBuf;

use super::{Input, Listing};
use crate::trail::is_digest_name;

/// Expands paths: directories are walked recursively (sorted, following links); digest files
/// are skipped by name.
pub fn list(paths: &[PathBuf]) -> Listing {
    let mut listing = Listing::default();
    for path in paths {
        let mut found = Vec::new();
        for entry in walkdir::WalkDir::new(path)
            .follow_links(true)
            .sort_by_file_name()
        {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let at = e.path().unwrap_or(path).display().to_string();
                    let why = e
                        .io_error()
                        .map(|io| io.to_string())
                        .unwrap_or_else(|| e.to_string());
                    listing.errors.push(format!("{at}: cannot read: {why}"));
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy();
            if is_digest_name(&name) {
                listing.digests += 1;
                continue;
            }
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            found.push(Input::Local {
                path: entry.into_path(),
                size,
            });
        }
        listing.inputs.extend(found);
    }
    listing
}
