//! Indexes rules by the literal `eventName` / `eventSource` values they require, so a record
//! is only tested against rules that could match it.
//!
//! A rule is anchored on a field when every way of satisfying its condition needs that field
//! to equal one of a known set of literals. Such rules are filed under each literal; rules
//! without an anchor are tested against every record.

use std::collections::{HashMap, HashSet};

use super::matcher::{Expr, Pred, Search, StrKind, Target};
use super::sigma::Rule;
use crate::trail::fields::well_known as wk;
use crate::trail::{FieldId, Fields};

#[derive(Debug, Default)]
pub struct Index {
    by_name: HashMap<String, Vec<u32>>,
    by_source: HashMap<String, Vec<u32>>,
    unanchored: Vec<u32>,
}

/// How a rule is filed, for `rules list` and the benchmarks.
#[derive(Debug, Clone, PartialEq)]
pub enum Anchor {
    EventName(Vec<String>),
    EventSource(Vec<String>),
    None,
}

pub fn anchor_of(rule: &Rule) -> Anchor {
    let d = &rule.detection;
    if let Some(names) = literals(&d.condition, &d.searches, wk::EVENT_NAME) {
        return Anchor::EventName(sorted(names));
    }
    if let Some(sources) = literals(&d.condition, &d.searches, wk::EVENT_SOURCE) {
        return Anchor::EventSource(sorted(sources));
    }
    Anchor::None
}

fn sorted(set: HashSet<String>) -> Vec<String> {
    let mut v: Vec<String> = set.into_iter().collect();
    v.sort();
    v
}

/// The set of lower-cased literals `field` must equal for `expr` to hold, if there is one.
fn literals(expr: &Expr, searches: &[Search], field: FieldId) -> Option<HashSet<String>> {
    match expr {
        Expr::Search(i) => {
            let mut all = HashSet::new();
            for alt in &searches[*i].alternatives {
                // An alternative (AND of tests) is anchored if any one of its tests is a
                // plain equality on the field.
                let found = alt.iter().find_map(|t| {
                    if t.target != Target::Field(field) || t.negate || t.all {
                        return None;
                    }
                    let mut vals = HashSet::new();
                    for alts in &t.values {
                        for p in alts {
                            match p {
                                Pred::Str(s) if s.kind == StrKind::Eq => {
                                    vals.insert(s.needle.to_lowercase());
                                }
                                _ => return None,
                            }
                        }
                    }
                    Some(vals)
                })?;
                all.extend(found);
            }
            Some(all)
        }
        Expr::And(items) => items
            .iter()
            .filter_map(|e| literals(e, searches, field))
            .min_by_key(HashSet::len),
        Expr::AtLeast(n, items) if *n >= items.len() => items
            .iter()
            .filter_map(|e| literals(e, searches, field))
            .min_by_key(HashSet::len),
        Expr::Or(items) | Expr::AtLeast(_, items) => {
            let mut all = HashSet::new();
            for e in items {
                all.extend(literals(e, searches, field)?);
            }
            Some(all)
        }
        Expr::Not(_) => None,
    }
}

impl Index {
    pub fn build(rules: &[Rule]) -> Self {
        let mut index = Index::default();
        for (i, rule) in rules.iter().enumerate() {
            let i = i as u32;
            match anchor_of(rule) {
                Anchor::EventName(names) => {
                    for n in names {
                        index.by_name.entry(n).or_default().push(i);
                    }
                }
                Anchor::EventSource(sources) => {
                    for s in sources {
                        index.by_source.entry(s).or_default().push(i);
                    }
                }
                Anchor::None => index.unanchored.push(i),
            }
        }
        index
    }

    /// Indices of the rules that could match a record, in rule order.
    pub fn candidates(&self, fields: &Fields, out: &mut Vec<u32>) {
        out.clear();
        let mut key = String::new();
        let mut lookup = |map: &HashMap<String, Vec<u32>>, id: FieldId, out: &mut Vec<u32>| {
            if map.is_empty() {
                return;
            }
            if let Some(v) = fields.str(id) {
                key.clear();
                key.push_str(v);
                key.make_ascii_lowercase();
                if !v.is_ascii() {
                    key = v.to_lowercase();
                }
                if let Some(rules) = map.get(key.as_str()) {
                    out.extend_from_slice(rules);
                }
            }
        };
        lookup(&self.by_name, wk::EVENT_NAME, out);
        lookup(&self.by_source, wk::EVENT_SOURCE, out);
        out.extend_from_slice(&self.unanchored);
        out.sort_unstable();
    }
}
