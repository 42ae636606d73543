//! Local files and directories, as given to `trailwatch replay`.

use std::path::PathBuf;

use crate::trail::is_digest_name;

#[derive(Debug, Clone)]
pub struct LocalFile {
    pub path: PathBuf,
    /// Size on disk (compressed size for gzip files).
    pub size: u64,
}

/// The files to read, in a stable order, and what was set aside while listing them.
#[derive(Debug, Default)]
pub struct Listing {
    pub files: Vec<LocalFile>,
    /// Digest files recognised by name and skipped.
    pub digests: u64,
    /// Paths that could not be listed, as one-line messages naming the path.
    pub errors: Vec<String>,
}

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
            found.push(LocalFile {
                path: entry.into_path(),
                size,
            });
        }
        listing.files.extend(found);
    }
    listing
}
