//! Indexes rules by the literal `eventName` / `eventSource` (or, failing those,
//! `userIdentity.type`) values they require, so a record is only tested against rules that
//! could match it.
//!
//! A rule is anchored on a field when every way of satisfying its condition needs that field
//! to equal one of a known set of literals. Such rules are filed under each literal; rules
//! without an anchor are tested against every record.

use std::collections::{HashMap, HashSet};

use super::matcher::{Expr, Pred, Search, StrKind, Target};
use super::sigma::Rule;
use crate::trail::fields::well_known as wk;
use crate::trail::{FieldId, Fields, Value};

#[derive(Debug, Default)]
pub struct Index {
    by_name: HashMap<String, Vec<u32>>,
    by_source: HashMap<String, Vec<u32>>,
    /// Rules on every call of one kind of identity (a root session, an instance's role
    /// session), which name no eventName or eventSource.
    by_actor_type: HashMap<String, Vec<u32>>,
    /// Rules without a literal anchor that still need some field to be present (most often
    /// `errorCode`): skipped together when the record lacks it.
    by_present_field: Vec<(FieldId, Vec<u32>)>,
    unanchored: Vec<u32>,
    /// Per rule: a field the rule needs, checked before its condition is evaluated.
    guards: Vec<Option<FieldId>>,
}

/// How a rule is filed, for `rules list` and the benchmarks.
#[derive(Debug, Clone, PartialEq)]
pub enum Anchor {
    EventName(Vec<String>),
    EventSource(Vec<String>),
    ActorType(Vec<String>),
    /// Tested only on records that have this field (its dotted path).
    Present(String),
    None,
}

pub fn anchor_of(rule: &Rule, fields: &crate::trail::FieldSet) -> Anchor {
    match anchor_id(rule) {
        AnchorId::EventName(n) => Anchor::EventName(n),
        AnchorId::EventSource(s) => Anchor::EventSource(s),
        AnchorId::ActorType(t) => Anchor::ActorType(t),
        AnchorId::Present(id) => Anchor::Present(fields.path(id).to_string()),
        AnchorId::None => Anchor::None,
    }
}

enum AnchorId {
    EventName(Vec<String>),
    EventSource(Vec<String>),
    ActorType(Vec<String>),
    Present(FieldId),
    None,
}

fn anchor_id(rule: &Rule) -> AnchorId {
    let d = &rule.detection;
    if let Some(names) = literals(&d.condition, &d.searches, wk::EVENT_NAME) {
        return AnchorId::EventName(sorted(names));
    }
    if let Some(sources) = literals(&d.condition, &d.searches, wk::EVENT_SOURCE) {
        return AnchorId::EventSource(sorted(sources));
    }
    if let Some(types) = literals(&d.condition, &d.searches, wk::ACTOR_TYPE) {
        return AnchorId::ActorType(sorted(types));
    }
    match guard_of(rule) {
        Some(id) => AnchorId::Present(id),
        None => AnchorId::None,
    }
}

/// Fields every record carries make poor anchors; anything else is absent from most records.
const EVERYWHERE: [FieldId; 10] = [
    wk::EVENT_ID,
    wk::EVENT_TIME,
    wk::EVENT_NAME,
    wk::EVENT_SOURCE,
    wk::AWS_REGION,
    wk::RECIPIENT_ACCOUNT_ID,
    wk::ACTOR_TYPE,
    wk::SOURCE_IP,
    wk::USER_AGENT,
    wk::EVENT_TYPE,
];

/// A field the rule cannot match without, preferring the rarest kind: `errorCode`, then any
/// field that not every record carries.
fn guard_of(rule: &Rule) -> Option<FieldId> {
    let d = &rule.detection;
    let required = required_fields(&d.condition, &d.searches);
    if required.contains(&wk::ERROR_CODE) {
        return Some(wk::ERROR_CODE);
    }
    required
        .iter()
        .filter(|f| !EVERYWHERE.contains(f))
        .min()
        .copied()
}

/// Fields that must be present (and not null) for `expr` to hold.
fn required_fields(expr: &Expr, searches: &[Search]) -> HashSet<FieldId> {
    let intersect = |sets: &mut dyn Iterator<Item = HashSet<FieldId>>| {
        sets.reduce(|a, b| a.intersection(&b).copied().collect())
            .unwrap_or_default()
    };
    match expr {
        Expr::Search(i) => intersect(&mut searches[*i].alternatives.iter().map(|alt| {
            alt.iter()
                .filter(|t| !t.negate && !t.values.is_empty())
                .filter_map(|t| match t.target {
                    Target::Field(id) => t
                        .values
                        .iter()
                        .flatten()
                        // `exists: true` holds for a null value too, so it proves no non-null field.
                        .all(|p| !matches!(p, Pred::Null | Pred::Exists(_)))
                        .then_some(id),
                    Target::Keywords => None,
                })
                .collect()
        })),
        Expr::And(items) => items
            .iter()
            .flat_map(|e| required_fields(e, searches))
            .collect(),
        Expr::AtLeast(n, items) if *n >= items.len() => items
            .iter()
            .flat_map(|e| required_fields(e, searches))
            .collect(),
        Expr::Or(items) | Expr::AtLeast(_, items) => {
            intersect(&mut items.iter().map(|e| required_fields(e, searches)))
        }
        Expr::Not(_) => HashSet::new(),
    }
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
            index.guards.push(guard_of(rule));
            let i = i as u32;
            match anchor_id(rule) {
                AnchorId::EventName(names) => {
                    for n in names {
                        index.by_name.entry(n).or_default().push(i);
                    }
                }
                AnchorId::EventSource(sources) => {
                    for s in sources {
                        index.by_source.entry(s).or_default().push(i);
                    }
                }
                AnchorId::ActorType(types) => {
                    for t in types {
                        index.by_actor_type.entry(t).or_default().push(i);
                    }
                }
                AnchorId::Present(field) => {
                    match index.by_present_field.iter_mut().find(|(f, _)| *f == field) {
                        Some((_, rules)) => rules.push(i),
                        None => index.by_present_field.push((field, vec![i])),
                    }
                }
                AnchorId::None => index.unanchored.push(i),
            }
        }
        index
    }

    /// False when the record lacks a field rule `i` needs: its condition cannot hold.
    pub fn passes_guard(&self, i: u32, fields: &Fields) -> bool {
        match self.guards[i as usize] {
            Some(field) => fields.get(field).iter().any(|v| !matches!(v, Value::Null)),
            None => true,
        }
    }

    /// Indices of the rules that could match a record, in rule order.
    pub fn candidates(&self, fields: &Fields, out: &mut Vec<u32>) {
        out.clear();
        let mut key = String::with_capacity(64);
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
        lookup(&self.by_actor_type, wk::ACTOR_TYPE, out);
        for (field, rules) in &self.by_present_field {
            if fields.get(*field).iter().any(|v| !matches!(v, Value::Null)) {
                out.extend_from_slice(rules);
            }
        }
        out.extend_from_slice(&self.unanchored);
        out.sort_unstable();
    }
}
