//! One Sigma rule document: metadata, log source check, and its compiled detection.

use serde_yaml_ng::Value as Yaml;

use super::super::error::DocError;
use super::correlation;
use super::detection::{self, Detection};
use super::meta::{meta, string, strings, RuleMeta};
use crate::trail::{FieldId, FieldSet};

#[derive(Debug)]
pub struct Rule {
    pub meta: RuleMeta,
    pub detection: Detection,
    /// Filter documents aimed at this rule: an event matching any of them does not alert.
    pub exclusions: Vec<Exclusion>,
    /// Correlations this rule's matches feed.
    pub feeds: Vec<Feed>,
    /// Whether a match alerts on its own: false when every correlation referencing the rule
    /// says `generate: false` (the Sigma default).
    pub generates: bool,
    /// The fields of this rule's suppression key, when a suppression policy applies to it
    /// (empty: one key for the rule). Resolved by [`crate::rules::RuleSet::key_suppression`].
    pub suppress_key: Option<Vec<FieldId>>,
}

/// How one base rule's matches feed one correlation.
#[derive(Debug, Clone)]
pub struct Feed {
    /// Index of the correlation in the rule set.
    pub correlation: u32,
    /// Position of the rule in the correlation's `rules` (the step of a temporal sequence).
    pub step: u16,
    /// The group-by fields, resolved through aliases for this rule.
    pub group: Vec<FieldId>,
    /// The value_count field, resolved the same way.
    pub value: Option<FieldId>,
    /// The fields of the correlation's suppression key, read from this rule's record (the
    /// record of the event that completes the correlation); empty means the group.
    pub suppress_key: Option<Vec<FieldId>>,
}

/// A Sigma filter document (`filter:` with `rules:`), before it is attached to its rules.
#[derive(Debug)]
pub struct Filter {
    pub title: String,
    pub file: String,
    /// Names or ids of the rules it applies to.
    pub rules: Vec<String>,
    pub detection: std::sync::Arc<Detection>,
}

/// One filter as attached to a rule.
#[derive(Debug, Clone)]
pub struct Exclusion {
    /// The filter's title, for `rules list` and logs.
    pub filter: String,
    pub detection: std::sync::Arc<Detection>,
}

/// The outcome of reading one YAML document.
#[derive(Debug)]
pub enum Parsed {
    Rule(Box<Rule>),
    Filter(Box<Filter>),
    Correlation(Box<correlation::CorrelationDoc>),
    /// A valid document trailwatch does not run, and why (shown as a note).
    Skipped(String),
}

/// The title, if the document has one: used to name the rule in errors.
pub fn title_of(doc: &Yaml) -> Option<&str> {
    doc.get("title").and_then(Yaml::as_str)
}

pub fn parse(doc: &Yaml, file: &str, fields: &mut FieldSet) -> Result<Parsed, DocError> {
    if !doc.is_mapping() {
        return Err(DocError::doc("a rule document must be a YAML map"));
    }
    if let Some(c) = doc.get("correlation") {
        return Ok(match correlation::parse(doc, c, file)? {
            correlation::Parsed::Correlation(c) => Parsed::Correlation(c),
            correlation::Parsed::Skipped(why) => Parsed::Skipped(why),
        });
    }
    if let Some(filter) = doc.get("filter") {
        return parse_filter(doc, filter, file, fields);
    }
    if let Some(action) = doc.get("action") {
        return Err(DocError::at(
            "action",
            format!(
                "rule collections (action: {}) are not supported: write each rule as a complete document",
                action.as_str().unwrap_or("?")
            ),
        ));
    }
    let title = string(doc, "title")?.ok_or_else(|| DocError::at("title", "missing"))?;
    if let Some(why) = foreign_logsource(doc)? {
        return Ok(Parsed::Skipped(why));
    }

    let meta = meta(doc, title, file)?;
    let detection = doc
        .get("detection")
        .ok_or_else(|| DocError::at("detection", "missing"))?;
    let detection = detection::compile(detection, fields)?;
    Ok(Parsed::Rule(Box::new(Rule {
        meta,
        detection,
        exclusions: Vec::new(),
        feeds: Vec::new(),
        generates: true,
        suppress_key: None,
    })))
}

/// Why a document's log source is not CloudTrail's, if it is not.
fn foreign_logsource(doc: &Yaml) -> Result<Option<String>, DocError> {
    let logsource = doc
        .get("logsource")
        .ok_or_else(|| DocError::at("logsource", "missing"))?;
    if !logsource.is_mapping() {
        return Err(DocError::at("logsource", "must be a map"));
    }
    let field = |k| logsource.get(k).and_then(Yaml::as_str).unwrap_or("");
    let (product, service) = (field("product"), field("service"));
    if product.eq_ignore_ascii_case("aws") && service.eq_ignore_ascii_case("cloudtrail") {
        Ok(None)
    } else {
        Ok(Some(format!(
            "log source is product {product:?}, service {service:?}, not aws/cloudtrail"
        )))
    }
}

/// A filter document: `filter:` holds `rules:` (names or ids) and a detection (searches and a
/// condition) describing the events those rules must not alert on.
fn parse_filter(
    doc: &Yaml,
    filter: &Yaml,
    file: &str,
    fields: &mut FieldSet,
) -> Result<Parsed, DocError> {
    let title = string(doc, "title")?.ok_or_else(|| DocError::at("title", "missing"))?;
    if let Some(why) = foreign_logsource(doc)? {
        return Ok(Parsed::Skipped(why));
    }
    let Yaml::Mapping(map) = filter else {
        return Err(DocError::at(
            "filter",
            "must be a map of rules, searches and a condition",
        ));
    };
    let rules = strings(filter, "rules").map_err(|_| {
        DocError::at(
            "filter.rules",
            "must be a rule name or id, or a list of them",
        )
    })?;
    if rules.is_empty() {
        return Err(DocError::at(
            "filter.rules",
            "missing: name the rules this filter applies to",
        ));
    }
    let mut detection = map.clone();
    detection.remove("rules");
    let detection = detection::compile(&Yaml::Mapping(detection), fields)?;
    Ok(Parsed::Filter(Box::new(Filter {
        title,
        file: file.to_string(),
        rules,
        detection: std::sync::Arc::new(detection),
    })))
}
