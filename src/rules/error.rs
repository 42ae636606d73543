//! Errors of the rules layer: loading, validating and testing rules.

use std::fmt;

/// A rule that could not be loaded, with enough context to find and fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// The file the rule came from (or `<built-in>/...` for the embedded pack).
    pub file: String,
    /// The rule's title, when the document got far enough to have one.
    pub title: Option<String>,
    /// The offending key, as a dotted path inside the document (e.g. `detection.sel.eventName|foo`).
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(title) = &self.title {
            write!(f, ": rule {title:?}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for RuleError {}

/// An error inside a document, before the file and title are attached.
#[derive(Debug, Clone)]
pub struct DocError {
    pub key: Option<String>,
    pub message: String,
}

impl DocError {
    pub fn at(key: impl Into<String>, message: impl Into<String>) -> Self {
        DocError {
            key: Some(key.into()),
            message: message.into(),
        }
    }

    pub fn doc(message: impl Into<String>) -> Self {
        DocError {
            key: None,
            message: message.into(),
        }
    }

    pub fn into_rule_error(self, file: &str, title: Option<&str>) -> RuleError {
        RuleError {
            file: file.to_string(),
            title: title.map(str::to_string),
            key: self.key,
            message: self.message,
        }
    }
}

/// `--only` / `rules.only` naming a rule or correlation that is not loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no rule named {0:?} is loaded")]
pub struct UnknownRule(pub String);
