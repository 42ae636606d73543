//! The rules stage: Sigma documents → one compiled matcher for the whole rule set.

pub mod aws_ranges;
mod error;
mod index;
pub mod link;
pub mod loader;
pub mod matcher;
pub mod sigma;
pub mod testing;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde_yaml_ng::Value as Yaml;

pub use error::{RuleError, UnknownRule};
pub use index::{anchor_of, Anchor};
pub use link::Correlation;
use sigma::Rule;
pub use sigma::{RuleInfo, RuleMeta, Suppress};

use aws_ranges::AwsRanges;
use index::Index;
use matcher::EvalCtx;
use sigma::Parsed;

use crate::trail::{FieldSet, Record};

/// Sigma severity levels, in increasing order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize, Hash,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "informational" => Level::Informational,
            "low" => Level::Low,
            "medium" => Level::Medium,
            "high" => Level::High,
            "critical" => Level::Critical,
            _ => {
                return Err(format!(
                    "{s:?} is not a level (informational, low, medium, high, critical)"
                ))
            }
        })
    }
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A compiled, indexed set of rules. Cheap to share between threads.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Rule>,
    correlations: Vec<Correlation>,
    fields: FieldSet,
    index: Index,
    /// AWS's address ranges for `aws_ip_range`: a file's, or the shipped ones on first use.
    aws: OnceLock<Arc<AwsRanges>>,
    /// Documents skipped on purpose, with the reason, for the user to see.
    pub notes: Vec<String>,
}

impl RuleSet {
    /// The fields records must be read with for this rule set.
    pub fn fields(&self) -> &FieldSet {
        &self.fields
    }

    /// Has records read with one more field (a reader that needs a field no rule asks for),
    /// and returns its id.
    pub fn extract(&mut self, path: &str) -> crate::trail::FieldId {
        self.fields.intern(path)
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn correlations(&self) -> &[Correlation] {
        &self.correlations
    }

    /// Whether a rule or correlation with this name or id is loaded.
    pub fn has(&self, name: &str) -> bool {
        self.rules
            .iter()
            .map(|r| &r.meta)
            .chain(self.correlations.iter().map(|c| &c.meta))
            .any(|m| m.info.name == name || m.info.id == name)
    }

    /// The metadata of every rule and correlation, for places that only need names and levels.
    pub fn metas(&self) -> impl Iterator<Item = &RuleMeta> {
        self.rules
            .iter()
            .map(|r| &r.meta)
            .chain(self.correlations.iter().map(|c| &c.meta))
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Calls `hit` for every rule that matches the record, in rule order. `scratch` is reused
    /// between calls to avoid allocating per record.
    pub fn for_each_match<'s>(
        &'s self,
        record: &Record,
        scratch: &mut Vec<u32>,
        mut hit: impl FnMut(&'s Rule),
    ) {
        self.for_each_outcome(record, scratch, |rule, filtered| {
            if !filtered {
                hit(rule)
            }
        });
    }

    /// Like [`RuleSet::for_each_match`], and also reports rules that matched but whose filter
    /// documents exclude the record (`filtered` is true for those).
    pub fn for_each_outcome<'s>(
        &'s self,
        record: &Record,
        scratch: &mut Vec<u32>,
        mut each: impl FnMut(&'s Rule, bool),
    ) {
        self.index.candidates(&record.fields, scratch);
        let ctx = EvalCtx::new(&record.fields, record.raw, &self.aws);
        for &i in scratch.iter() {
            if !self.index.passes_guard(i, &record.fields) {
                continue;
            }
            let rule = &self.rules[i as usize];
            let d = &rule.detection;
            if !d.condition.eval(&d.searches, &ctx) {
                continue;
            }
            let filtered = rule.exclusions.iter().any(|x| {
                let f = &x.detection;
                f.condition.eval(&f.searches, &ctx)
            });
            each(rule, filtered);
        }
    }

    /// Resolves the suppression key fields of every rule and correlation that has a policy
    /// (`policies`, by rule name), so detection computes keys from the fields it extracts, with
    /// the same resolution as matching, instead of reading the record again. A rule without
    /// an entry gets no key. `build` calls it with the rules' own policies; a configuration
    /// that adds or overrides policies calls it again.
    pub fn key_suppression(&mut self, policies: &HashMap<String, Suppress>) {
        let mut key = |name: &str| {
            policies
                .get(name)
                .map(|p| p.by.iter().map(|path| self.fields.intern(path)).collect())
        };
        let correlation_keys: Vec<Option<Vec<_>>> = self
            .correlations
            .iter()
            .map(|c| key(&c.meta.info.name))
            .collect();
        let rule_keys: Vec<_> = self.rules.iter().map(|r| key(&r.meta.info.name)).collect();
        for (rule, own) in self.rules.iter_mut().zip(rule_keys) {
            rule.suppress_key = own;
            for feed in &mut rule.feeds {
                feed.suppress_key = correlation_keys[feed.correlation as usize].clone();
            }
        }
    }

    /// Keeps only the named rules and correlations (by `name` or `id`), plus the base rules
    /// the kept correlations need; unknown names are an error.
    pub fn retain_named(self, names: &[String]) -> Result<RuleSet, UnknownRule> {
        if names.is_empty() {
            return Ok(self);
        }
        if let Some(n) = names.iter().find(|n| !self.has(n)) {
            return Err(UnknownRule(n.clone()));
        }
        let named = |m: &RuleMeta| names.iter().any(|n| m.info.name == *n || m.info.id == *n);
        // Old correlation index → new one, for the correlations kept.
        let mut renumber = vec![None; self.correlations.len()];
        let mut correlations = Vec::new();
        for (i, c) in self.correlations.into_iter().enumerate() {
            if named(&c.meta) {
                renumber[i] = Some(correlations.len() as u32);
                correlations.push(c);
            }
        }
        let mut rules = Vec::new();
        for mut rule in self.rules {
            rule.feeds
                .retain_mut(|f| match renumber[f.correlation as usize] {
                    Some(n) => {
                        f.correlation = n;
                        true
                    }
                    None => false,
                });
            let selected = named(&rule.meta);
            if selected || !rule.feeds.is_empty() {
                rule.generates = link::generates(&rule, &correlations, selected);
                rules.push(rule);
            }
        }
        let index = Index::build(&rules);
        Ok(RuleSet {
            rules,
            correlations,
            fields: self.fields,
            index,
            aws: self.aws,
            notes: self.notes,
        })
    }
}

/// Collects rule documents from any number of files, then compiles them into a [`RuleSet`].
#[derive(Default)]
pub struct RuleSetBuilder {
    fields: FieldSet,
    rules: Vec<Rule>,
    filters: Vec<sigma::rule::Filter>,
    correlations: Vec<sigma::correlation::CorrelationDoc>,
    errors: Vec<RuleError>,
    aws: Option<Arc<AwsRanges>>,
    /// Documents skipped on purpose, with the reason, for the user to see.
    pub notes: Vec<String>,
}

impl RuleSetBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds every document of one YAML file. `file` names it in errors and notes.
    pub fn add_yaml(&mut self, file: &str, text: &str) {
        use serde::Deserialize;
        for (n, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
            let doc = match Yaml::deserialize(doc) {
                Ok(d) => d,
                Err(e) => {
                    self.errors.push(RuleError {
                        file: file.to_string(),
                        title: None,
                        key: None,
                        message: format!("invalid YAML in document {}: {e}", n + 1),
                    });
                    // The YAML stream cannot be resumed after a syntax error.
                    return;
                }
            };
            if doc.is_null() {
                continue; // an empty document, e.g. after a trailing `---`
            }
            let title = sigma::rule::title_of(&doc).map(str::to_string);
            match sigma::rule::parse(&doc, file, &mut self.fields) {
                Ok(Parsed::Rule(rule)) => self.rules.push(*rule),
                Ok(Parsed::Filter(filter)) => self.filters.push(*filter),
                Ok(Parsed::Correlation(c)) => self.correlations.push(*c),
                Ok(Parsed::Skipped(why)) => self.notes.push(format!(
                    "{file}: skipped {}: {why}",
                    title.map_or_else(|| format!("document {}", n + 1), |t| format!("rule {t:?}"))
                )),
                Err(e) => self.errors.push(e.into_rule_error(file, title.as_deref())),
            }
        }
    }

    /// AWS's address ranges to use instead of the shipped ones.
    pub fn aws_ranges(&mut self, ranges: Arc<AwsRanges>) {
        self.aws = Some(ranges);
    }

    pub fn add_error(&mut self, error: RuleError) {
        self.errors.push(error);
    }

    /// Compiles the rules, refusing duplicate names or ids. All problems are reported at once.
    pub fn build(mut self) -> Result<RuleSet, Vec<RuleError>> {
        // Rules and correlations share one namespace: either can be referenced by name or id.
        let mut seen: HashMap<String, String> = HashMap::new();
        let metas = self
            .rules
            .iter()
            .map(|r| &r.meta)
            .chain(self.correlations.iter().map(|c| &c.meta));
        for meta in metas {
            let mut keys = vec![("name", &meta.info.name)];
            if meta.info.id != meta.info.name {
                keys.push(("id", &meta.info.id));
            }
            for (what, key) in keys {
                if let Some(first) = seen.insert(key.clone(), meta.file.clone()) {
                    self.errors.push(RuleError {
                        file: meta.file.clone(),
                        title: Some(meta.info.title.clone()),
                        key: Some(what.into()),
                        message: format!("{key:?} is already used by a rule in {first}"),
                    });
                }
            }
        }
        link::attach_filters(
            &mut self.rules,
            std::mem::take(&mut self.filters),
            &mut self.errors,
        );
        let correlations = link::link_correlations(
            &mut self.rules,
            std::mem::take(&mut self.correlations),
            &mut self.fields,
            &mut self.errors,
            &mut self.notes,
        );
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        let index = Index::build(&self.rules);
        let mut set = RuleSet {
            rules: self.rules,
            correlations,
            fields: self.fields,
            index,
            aws: self.aws.map(OnceLock::from).unwrap_or_default(),
            notes: self.notes,
        };
        let own: HashMap<String, Suppress> = set
            .metas()
            .filter_map(|m| Some((m.info.name.clone(), m.suppress.clone()?)))
            .collect();
        set.key_suppression(&own);
        Ok(set)
    }
}
