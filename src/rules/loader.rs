//! Where rules come from: the pack built into the binary, and files or directories.

use std::path::{Path, PathBuf};

use include_dir::{include_dir, Dir};

use super::aws_ranges::AwsRanges;

use super::{RuleError, RuleSet, RuleSetBuilder};

/// trailwatch's own rule pack (`rules/` in the source tree), compiled into the binary.
pub static BUILT_IN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/rules");

/// Prefix that names built-in files in messages.
pub const BUILT_IN_PREFIX: &str = "<built-in>/";

/// Rule files end in `.yml`/`.yaml`; their tests sit beside them as `NAME.tests.yml`.
pub fn is_rule_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    (name.ends_with(".yml") || name.ends_with(".yaml")) && !is_test_file(path)
}

pub fn is_test_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".tests.yml") || name.ends_with(".tests.yaml")
}

/// Every file of the built-in pack that passes `keep`, as (display name, contents), sorted.
pub fn built_in_files(keep: fn(&Path) -> bool) -> Vec<(String, &'static str)> {
    fn walk(
        dir: &'static Dir<'static>,
        keep: fn(&Path) -> bool,
        out: &mut Vec<(String, &'static str)>,
    ) {
        for f in dir.files() {
            if keep(f.path()) {
                if let Some(text) = f.contents_utf8() {
                    out.push((format!("{BUILT_IN_PREFIX}{}", f.path().display()), text));
                }
            }
        }
        for d in dir.dirs() {
            walk(d, keep, out);
        }
    }
    let mut out = Vec::new();
    walk(&BUILT_IN, keep, &mut out);
    out.sort();
    out
}

/// Files under the given paths (directories walked recursively) that pass `keep`, sorted.
/// A path named explicitly is kept whatever its name.
pub fn files_under(paths: &[PathBuf], keep: fn(&Path) -> bool) -> Result<Vec<PathBuf>, RuleError> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = Vec::new();
            for entry in walkdir::WalkDir::new(path).follow_links(true) {
                let entry = entry.map_err(|e| RuleError {
                    file: path.display().to_string(),
                    title: None,
                    key: None,
                    message: format!("cannot list directory: {e}"),
                })?;
                if entry.file_type().is_file() && keep(entry.path()) {
                    found.push(entry.into_path());
                }
            }
            found.sort();
            out.extend(found);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

/// Which rules to load.
#[derive(Debug, Clone, Default)]
pub struct RuleSources {
    /// Replace the built-in pack with these files/directories (`--rules`).
    pub replace: Vec<PathBuf>,
    /// Add these to the pack (`--add-rules`).
    pub add: Vec<PathBuf>,
    /// AWS's `ip-ranges.json` to use instead of the shipped one (`--aws-ip-ranges`).
    pub aws_ip_ranges: Option<PathBuf>,
}

/// Loads and compiles rules. Notes (skipped documents) are returned beside the set.
pub fn load(sources: &RuleSources) -> Result<(RuleSet, Vec<String>), Vec<RuleError>> {
    let mut builder = RuleSetBuilder::new();
    if let Some(path) = &sources.aws_ip_ranges {
        match AwsRanges::read(path) {
            Ok(ranges) => builder.aws_ranges(std::sync::Arc::new(ranges)),
            Err(message) => builder.add_error(RuleError {
                file: path.display().to_string(),
                title: None,
                key: None,
                message: format!("AWS IP ranges: {message}"),
            }),
        }
    }
    if sources.replace.is_empty() {
        for (name, text) in built_in_files(is_rule_file) {
            builder.add_yaml(&name, text);
        }
    }
    for path in files_under(&sources.replace, is_rule_file)
        .and_then(|mut v| {
            v.extend(files_under(&sources.add, is_rule_file)?);
            Ok(v)
        })
        .map_err(|e| vec![e])?
    {
        add_file(&mut builder, &path);
    }
    builder.build().map(|mut set| {
        let notes = std::mem::take(&mut set.notes);
        (set, notes)
    })
}

pub fn add_file(builder: &mut RuleSetBuilder, path: &Path) {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => builder.add_yaml(&name, &text),
        Err(e) => builder.add_error(RuleError {
            file: name,
            title: None,
            key: None,
            message: format!("cannot read rule file: {e}"),
        }),
    }
}
