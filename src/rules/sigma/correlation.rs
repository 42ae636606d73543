//! Sigma correlation documents: `correlation:` with a type, the rules it counts, `group-by`,
//! `timespan`, `condition` and optional `aliases` and `generate`.

use std::collections::BTreeMap;

use serde_yaml_ng::Value as Yaml;

use super::super::error::DocError;
use super::meta::{meta, string, strings, RuleMeta};
use super::timespan::timespan_ms;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// At least (or at most) N matching events per group in the timespan.
    EventCount,
    /// N distinct values of a field per group in the timespan.
    ValueCount,
    /// Every referenced rule (or N of them) matched for the group within the timespan.
    Temporal,
    /// Like temporal, in the order the rules are listed.
    TemporalOrdered,
}

impl Kind {
    /// The name a document uses for the type.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::EventCount => "event_count",
            Kind::ValueCount => "value_count",
            Kind::Temporal => "temporal",
            Kind::TemporalOrdered => "temporal_ordered",
        }
    }
}

/// `condition:` — every bound given must hold (a map with `gt` and `lte` is a range).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Condition {
    pub gt: Option<u64>,
    pub gte: Option<u64>,
    pub lt: Option<u64>,
    pub lte: Option<u64>,
    pub eq: Option<u64>,
    pub neq: Option<u64>,
}

impl Condition {
    pub fn holds(&self, n: u64) -> bool {
        self.gt.is_none_or(|v| n > v)
            && self.gte.is_none_or(|v| n >= v)
            && self.lt.is_none_or(|v| n < v)
            && self.lte.is_none_or(|v| n <= v)
            && self.eq.is_none_or(|v| n == v)
            && self.neq.is_none_or(|v| n != v)
    }

    /// True when only lower bounds are given: adding events can only make the condition true,
    /// so it can be decided the moment it first holds. Other conditions ("fewer than 5") can
    /// only be decided once the window is over.
    pub fn is_threshold(&self) -> bool {
        self.lt.is_none() && self.lte.is_none() && self.eq.is_none() && self.neq.is_none()
    }
}

/// A correlation document as written, before its rule references are resolved.
#[derive(Debug, Clone)]
pub struct CorrelationDoc {
    pub meta: RuleMeta,
    pub kind: Kind,
    /// Names or ids of the base rules, in order.
    pub rules: Vec<String>,
    /// Field names or alias names.
    pub group_by: Vec<String>,
    /// alias → rule name → dotted field.
    pub aliases: BTreeMap<String, BTreeMap<String, String>>,
    pub timespan_ms: i64,
    pub condition: Condition,
    /// The value_count field (a field or alias name).
    pub field: Option<String>,
    pub generate: bool,
}

/// A correlation document, or why trailwatch skips it.
pub enum Parsed {
    Correlation(Box<CorrelationDoc>),
    Skipped(String),
}

pub fn parse(doc: &Yaml, c: &Yaml, file: &str) -> Result<Parsed, DocError> {
    let title = string(doc, "title")?.ok_or_else(|| DocError::at("title", "missing"))?;
    let meta = meta(doc, title, file)?;
    if !c.is_mapping() {
        return Err(DocError::at("correlation", "must be a map"));
    }
    let at = |k: &str| format!("correlation.{k}");
    let text = |k: &str| string(c, k).map_err(|e| DocError::at(at(k), e.message));
    let kind = match text("type")?.as_deref() {
        Some("event_count") => Kind::EventCount,
        Some("value_count") => Kind::ValueCount,
        Some("temporal") => Kind::Temporal,
        Some("temporal_ordered") => Kind::TemporalOrdered,
        Some(t @ ("value_sum" | "value_avg" | "value_percentile" | "value_median")) => {
            return Ok(Parsed::Skipped(format!(
                "correlation type {t} is not supported (event_count, value_count, temporal, temporal_ordered are)"
            )))
        }
        Some(t) => {
            return Err(DocError::at(
                at("type"),
                format!("{t:?} is not a correlation type (event_count, value_count, temporal, temporal_ordered)"),
            ))
        }
        None => return Err(DocError::at(at("type"), "missing")),
    };
    let rules = strings(c, "rules").map_err(|e| DocError::at(at("rules"), e.message))?;
    if rules.is_empty() {
        return Err(DocError::at(
            at("rules"),
            "missing: name the rules to correlate",
        ));
    }
    let group_by = strings(c, "group-by").map_err(|e| DocError::at(at("group-by"), e.message))?;
    let timespan = text("timespan")?.ok_or_else(|| DocError::at(at("timespan"), "missing"))?;
    let timespan_ms = timespan_ms(&timespan).map_err(|m| DocError::at(at("timespan"), m))?;
    let (condition, field) = condition(c.get("condition"), kind, rules.len())?;
    let aliases = aliases(c.get("aliases"))?;
    // The specification puts `generate` beside `level`; some writers nest it in `correlation`.
    let generate = match doc.get("generate").or_else(|| c.get("generate")) {
        None | Some(Yaml::Null) => false,
        Some(Yaml::Bool(b)) => *b,
        Some(_) => return Err(DocError::at("generate", "must be true or false")),
    };
    Ok(Parsed::Correlation(Box::new(CorrelationDoc {
        meta,
        kind,
        rules,
        group_by,
        aliases,
        timespan_ms,
        condition,
        field,
        generate,
    })))
}

fn condition(
    c: Option<&Yaml>,
    kind: Kind,
    rules: usize,
) -> Result<(Condition, Option<String>), DocError> {
    let key = "correlation.condition";
    let Some(c) = c.filter(|c| !c.is_null()) else {
        return match kind {
            // A temporal correlation without a condition needs every rule.
            Kind::Temporal | Kind::TemporalOrdered => Ok((
                Condition {
                    gte: Some(rules as u64),
                    ..Condition::default()
                },
                None,
            )),
            _ => Err(DocError::at(key, "missing (e.g. gte: 10)")),
        };
    };
    let Yaml::Mapping(map) = c else {
        return Err(DocError::at(key, "must be a map such as {gte: 10}"));
    };
    let mut cond = Condition::default();
    let mut field = None;
    for (k, v) in map {
        let name = k.as_str().unwrap_or("?");
        if name == "field" {
            field = Some(
                v.as_str()
                    .ok_or_else(|| DocError::at(format!("{key}.field"), "must be a field name"))?
                    .to_string(),
            );
            continue;
        }
        let n = v
            .as_u64()
            .ok_or_else(|| DocError::at(format!("{key}.{name}"), "must be a whole number"))?;
        let slot = match name {
            "gt" => &mut cond.gt,
            "gte" => &mut cond.gte,
            "lt" => &mut cond.lt,
            "lte" => &mut cond.lte,
            "eq" => &mut cond.eq,
            "neq" => &mut cond.neq,
            _ => {
                return Err(DocError::at(
                    format!("{key}.{name}"),
                    "unknown (gt, gte, lt, lte, eq, neq, field)",
                ))
            }
        };
        *slot = Some(n);
    }
    if cond == Condition::default() {
        return Err(DocError::at(
            key,
            "give at least one of gt, gte, lt, lte, eq, neq",
        ));
    }
    match (kind, &field) {
        (Kind::ValueCount, None) => Err(DocError::at(
            format!("{key}.field"),
            "missing: value_count counts distinct values of this field",
        )),
        (Kind::ValueCount, Some(_)) => Ok((cond, field)),
        (_, Some(_)) => Err(DocError::at(
            format!("{key}.field"),
            "only value_count correlations take a field",
        )),
        (_, None) => Ok((cond, None)),
    }
}

fn aliases(a: Option<&Yaml>) -> Result<BTreeMap<String, BTreeMap<String, String>>, DocError> {
    let key = "correlation.aliases";
    let mut out = BTreeMap::new();
    let Some(a) = a.filter(|a| !a.is_null()) else {
        return Ok(out);
    };
    let Yaml::Mapping(map) = a else {
        return Err(DocError::at(key, "must map alias names to {rule: field}"));
    };
    for (alias, per_rule) in map {
        let alias = alias
            .as_str()
            .ok_or_else(|| DocError::at(key, "alias names must be strings"))?;
        let Yaml::Mapping(per_rule) = per_rule else {
            return Err(DocError::at(
                format!("{key}.{alias}"),
                "must map rule names to fields",
            ));
        };
        let mut fields = BTreeMap::new();
        for (rule, field) in per_rule {
            match (rule.as_str(), field.as_str()) {
                (Some(r), Some(f)) => {
                    fields.insert(r.to_string(), f.to_string());
                }
                _ => {
                    return Err(DocError::at(
                        format!("{key}.{alias}"),
                        "must map rule names to field names",
                    ))
                }
            }
        }
        out.insert(alias.to_string(), fields);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans() {
        assert_eq!(timespan_ms("90s"), Ok(90_000));
        assert_eq!(timespan_ms("5m"), Ok(300_000));
        assert_eq!(timespan_ms("1h"), Ok(3_600_000));
        assert_eq!(timespan_ms("2d"), Ok(172_800_000));
        assert!(timespan_ms("5").is_err());
        assert!(timespan_ms("0m").is_err());
        assert!(timespan_ms("m").is_err());
        assert!(timespan_ms("").is_err());
    }

    #[test]
    fn conditions() {
        let c = Condition {
            gt: Some(100),
            lte: Some(200),
            ..Condition::default()
        };
        assert!(!c.holds(100) && c.holds(101) && c.holds(200) && !c.holds(201));
        assert!(!c.is_threshold());
        let t = Condition {
            gte: Some(10),
            ..Condition::default()
        };
        assert!(t.is_threshold() && t.holds(10) && !t.holds(9));
    }
}
