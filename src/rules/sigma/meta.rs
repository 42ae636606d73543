//! What every alerting document (rule or correlation) says about itself, and the YAML
//! helpers both kinds of document read it with.

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_yaml_ng::Value as Yaml;

use super::super::error::DocError;
use super::super::Level;
use super::timespan::timespan_ms;

/// What a rule says about itself: what its alerts carry ([`RuleInfo`]), and the rest.
#[derive(Debug, Clone)]
pub struct RuleMeta {
    /// Id, name, title, level, tags and description, shared by the rule's alerts.
    pub info: Arc<RuleInfo>,
    pub status: Option<String>,
    pub references: Vec<String>,
    pub falsepositives: Vec<String>,
    /// Where the rule was loaded from.
    pub file: String,
    /// `trailwatch.suppress`: at most one alert per key per window.
    pub suppress: Option<Suppress>,
}

/// What an alert says of its rule. Every alert of a rule shares one, and its JSON is made
/// once ([`RuleInfo::json`]): copying and escaping the title, description and tags for every
/// alert showed in profiles of replays where a third of the records alert.
#[derive(Debug, Serialize, Deserialize)]
pub struct RuleInfo {
    pub id: String,
    pub name: String,
    pub title: String,
    pub level: Level,
    pub tags: Vec<String>,
    pub description: String,
    #[serde(skip)]
    json: OnceLock<Box<RawValue>>,
}

impl RuleInfo {
    /// The document as an alert writes it, serialized on first use.
    pub fn json(&self) -> &RawValue {
        self.json.get_or_init(|| {
            serde_json::value::to_raw_value(self).expect("rule metadata serializes")
        })
    }
}

/// A rule's own suppression policy, from the trailwatch-specific key of its document:
///
/// ```yaml
/// trailwatch:
///   suppress:
///     window: 1h
///     by: [userIdentity.arn, sourceIPAddress]
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppress {
    pub window_ms: i64,
    /// Dotted event fields making up the key; empty means one key for the whole rule (or, for
    /// a correlation, its group).
    pub by: Vec<String>,
}

/// The metadata every alerting document (rule or correlation) carries.
pub(super) fn meta(doc: &Yaml, title: String, file: &str) -> Result<RuleMeta, DocError> {
    let name = match string(doc, "name")? {
        Some(n) if is_slug(&n) => n,
        Some(n) => {
            return Err(DocError::at(
                "name",
                format!("{n:?} must be lower-case letters, digits, '-' and '_'"),
            ))
        }
        None => slug(&title),
    };
    let id = string(doc, "id")?.unwrap_or_else(|| name.clone());
    let level = match string(doc, "level")? {
        Some(l) => l.parse().map_err(|m: String| DocError::at("level", m))?,
        None => Level::Medium,
    };
    let description = string(doc, "description")?.unwrap_or_default();
    let tags = strings(doc, "tags")?;
    let info = Arc::new(RuleInfo {
        id,
        name,
        title,
        level,
        tags,
        description,
        json: OnceLock::new(),
    });
    Ok(RuleMeta {
        info,
        status: string(doc, "status")?,
        references: strings(doc, "references")?,
        falsepositives: strings(doc, "falsepositives")?,
        file: file.to_string(),
        suppress: suppress(doc)?,
    })
}

/// `trailwatch.suppress`, if the document has it. Other keys under `trailwatch` are refused so
/// a misspelling does not silently turn suppression off.
fn suppress(doc: &Yaml) -> Result<Option<Suppress>, DocError> {
    let Some(tw) = doc.get("trailwatch") else {
        return Ok(None);
    };
    let Yaml::Mapping(map) = tw else {
        return Err(DocError::at("trailwatch", "must be a map"));
    };
    if let Some(k) = map.keys().find(|k| k.as_str() != Some("suppress")) {
        return Err(DocError::at(
            "trailwatch",
            format!("unknown key {k:?} (trailwatch knows: suppress)"),
        ));
    }
    let Some(s) = tw.get("suppress") else {
        return Ok(None);
    };
    let Yaml::Mapping(m) = s else {
        return Err(DocError::at(
            "trailwatch.suppress",
            "must be a map with window and by",
        ));
    };
    if let Some(k) = m
        .keys()
        .find(|k| !matches!(k.as_str(), Some("window" | "by")))
    {
        return Err(DocError::at(
            "trailwatch.suppress",
            format!("unknown key {k:?} (expected window, by)"),
        ));
    }
    let window = string(s, "window")
        .map_err(|e| DocError::at("trailwatch.suppress.window", e.message))?
        .ok_or_else(|| DocError::at("trailwatch.suppress.window", "missing"))?;
    let window_ms =
        timespan_ms(&window).map_err(|m| DocError::at("trailwatch.suppress.window", m))?;
    let by = strings(s, "by").map_err(|e| DocError::at("trailwatch.suppress.by", e.message))?;
    Ok(Some(Suppress { window_ms, by }))
}

pub(super) fn string(doc: &Yaml, key: &str) -> Result<Option<String>, DocError> {
    match doc.get(key) {
        None | Some(Yaml::Null) => Ok(None),
        Some(Yaml::String(s)) => Ok(Some(s.trim().to_string())),
        Some(Yaml::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(DocError::at(key, "must be a string")),
    }
}

/// A list of strings; a single string is accepted as a list of one.
pub(super) fn strings(doc: &Yaml, key: &str) -> Result<Vec<String>, DocError> {
    match doc.get(key) {
        None | Some(Yaml::Null) => Ok(vec![]),
        Some(Yaml::String(s)) => Ok(vec![s.clone()]),
        Some(Yaml::Sequence(items)) => items
            .iter()
            .map(|i| match i {
                Yaml::String(s) => Ok(s.clone()),
                Yaml::Number(n) => Ok(n.to_string()),
                _ => Err(DocError::at(key, "must be a list of strings")),
            })
            .collect(),
        Some(_) => Err(DocError::at(key, "must be a list of strings")),
    }
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// A name for rules that have none: the title, lower-cased, with runs of other characters as '-'.
pub fn slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        out.push_str("rule");
    }
    out
}
