//! Documents that point at other rules: filters (attached as exclusions) and correlations
//! (compiled into [`Correlation`]s that the base rules feed).

use super::sigma::correlation::{Condition, CorrelationDoc, Kind};
use super::sigma::rule::{Exclusion, Filter};
use super::sigma::{Feed, Rule, RuleMeta};
use super::RuleError;
use crate::trail::FieldSet;

/// A compiled correlation rule. Its base rules carry a [`Feed`] pointing at it.
#[derive(Debug, Clone)]
pub struct Correlation {
    pub meta: RuleMeta,
    pub kind: Kind,
    pub condition: Condition,
    pub timespan_ms: i64,
    /// Group-by names as written (fields or aliases): the keys of an alert's `group`.
    pub group_by: Vec<String>,
    /// Names of the base rules in order: the steps of a temporal sequence.
    pub steps: Vec<String>,
    /// The value_count field, as written.
    pub field: Option<String>,
    pub generate: bool,
}

fn find<'r>(rules: &'r mut [Rule], target: &str) -> Option<&'r mut Rule> {
    rules
        .iter_mut()
        .find(|r| r.meta.info.name == target || r.meta.info.id == target)
}

/// Attaches each filter to the rules it names. Naming a rule that is not loaded is an error,
/// since the exclusion would silently do nothing.
pub fn attach_filters(rules: &mut [Rule], filters: Vec<Filter>, errors: &mut Vec<RuleError>) {
    for filter in filters {
        for target in &filter.rules {
            match find(rules, target) {
                Some(rule) => rule.exclusions.push(Exclusion {
                    filter: filter.title.clone(),
                    detection: filter.detection.clone(),
                }),
                None => errors.push(RuleError {
                    file: filter.file.clone(),
                    title: Some(filter.title.clone()),
                    key: Some("filter.rules".into()),
                    message: format!("no rule named {target:?} is loaded"),
                }),
            }
        }
    }
}

/// Resolves every correlation's rules and fields, giving the base rules their feeds. A
/// correlation that names another correlation is skipped with a note (chaining is not
/// supported); one naming a rule that is not loaded is an error.
pub fn link_correlations(
    rules: &mut [Rule],
    docs: Vec<CorrelationDoc>,
    fields: &mut FieldSet,
    errors: &mut Vec<RuleError>,
    notes: &mut Vec<String>,
) -> Vec<Correlation> {
    let correlation_names: Vec<String> = docs
        .iter()
        .flat_map(|d| [d.meta.info.name.clone(), d.meta.info.id.clone()])
        .collect();
    let mut out = Vec::new();
    for doc in docs {
        let err = |key: &str, message: String| RuleError {
            file: doc.meta.file.clone(),
            title: Some(doc.meta.info.title.clone()),
            key: Some(key.into()),
            message,
        };
        let mut steps = Vec::new();
        let mut problem = None;
        for target in &doc.rules {
            match rules
                .iter()
                .position(|r| r.meta.info.name == *target || r.meta.info.id == *target)
            {
                Some(i) => steps.push(i),
                None => {
                    problem = Some(target.clone());
                    break;
                }
            }
        }
        if let Some(target) = problem {
            if correlation_names.contains(&target) {
                notes.push(format!(
                    "{}: skipped rule {:?}: it correlates the correlation {target:?}; chaining correlations is not supported",
                    doc.meta.file, doc.meta.info.title
                ));
            } else {
                errors.push(err(
                    "correlation.rules",
                    format!("no rule named {target:?} is loaded"),
                ));
            }
            continue;
        }
        // A field for each rule: an alias resolves per rule, anything else is a field path.
        let resolve = |name: &str, rule: &Rule| -> Result<String, RuleError> {
            match doc.aliases.get(name) {
                None => Ok(name.to_string()),
                Some(per_rule) => per_rule
                    .get(&rule.meta.info.name)
                    .or_else(|| per_rule.get(&rule.meta.info.id))
                    .cloned()
                    .ok_or_else(|| {
                        err(
                            &format!("correlation.aliases.{name}"),
                            format!("no field given for rule {:?}", rule.meta.info.name),
                        )
                    }),
            }
        };
        let index = out.len() as u32;
        let mut feeds = Vec::new();
        for (step, &i) in steps.iter().enumerate() {
            let rule = &rules[i];
            let group: Result<Vec<_>, _> = doc
                .group_by
                .iter()
                .map(|g| resolve(g, rule).map(|f| fields.intern(&f)))
                .collect();
            let value = doc
                .field
                .as_deref()
                .map(|f| resolve(f, rule).map(|f| fields.intern(&f)))
                .transpose();
            match (group, value) {
                (Ok(group), Ok(value)) => feeds.push((
                    i,
                    Feed {
                        correlation: index,
                        step: step as u16,
                        group,
                        value,
                        suppress_key: None,
                    },
                )),
                (Err(e), _) | (_, Err(e)) => {
                    errors.push(e);
                    break;
                }
            }
        }
        if feeds.len() != steps.len() {
            continue;
        }
        for (i, feed) in feeds {
            rules[i].feeds.push(feed);
        }
        out.push(Correlation {
            steps: steps
                .iter()
                .map(|&i| rules[i].meta.info.name.clone())
                .collect(),
            meta: doc.meta,
            kind: doc.kind,
            condition: doc.condition,
            timespan_ms: doc.timespan_ms,
            group_by: doc.group_by,
            field: doc.field,
            generate: doc.generate,
        });
    }
    for rule in rules.iter_mut() {
        rule.generates = generates(rule, &out, false);
    }
    out
}

/// A rule alerts on its own unless correlations reference it and none of them says
/// `generate: true`; a rule selected by name always alerts.
pub fn generates(rule: &Rule, correlations: &[Correlation], selected: bool) -> bool {
    selected
        || rule.feeds.is_empty()
        || rule
            .feeds
            .iter()
            .any(|f| correlations[f.correlation as usize].generate)
}
