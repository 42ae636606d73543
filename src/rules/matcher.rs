//! Compiled detections and their evaluation against one record's extracted fields.

use std::cell::OnceCell;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use ipnet::IpNet;
use memchr::memmem;
use regex::Regex;

use super::aws_ranges::AwsRanges;
use crate::policy::{exposure, Document};
use crate::trail::{FieldId, Fields, Value};

/// A detection's condition, over search identifiers by index.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Search(usize),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// `N of pattern` for N > 1.
    AtLeast(usize, Vec<Expr>),
}

/// One search identifier: OR over alternatives, each an AND of field tests.
#[derive(Debug)]
pub struct Search {
    pub alternatives: Vec<Vec<FieldTest>>,
}

/// What a test looks at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    Field(FieldId),
    /// A keyword search over the whole record text.
    Keywords,
}

/// `field|modifiers: values`.
#[derive(Debug)]
pub struct FieldTest {
    pub target: Target,
    /// One entry per value in the rule; each entry may expand to several alternatives
    /// (for example the three shifts of `base64offset`).
    pub values: Vec<Vec<Pred>>,
    /// `all` modifier: every value must match instead of any.
    pub all: bool,
    /// `neq` modifier: the field must differ from every listed value.
    pub negate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cmp {
    Lt,
    Lte,
    Gt,
    Gte,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StrKind {
    Eq,
    Prefix,
    Suffix,
    Contains,
}

/// A literal string comparison; `needle` is lower-cased unless `cased`.
#[derive(Debug)]
pub struct StrPred {
    pub kind: StrKind,
    pub needle: String,
    pub cased: bool,
    finder: memmem::Finder<'static>,
}

impl StrPred {
    pub fn new(kind: StrKind, needle: String, cased: bool) -> Self {
        let needle = if cased { needle } else { needle.to_lowercase() };
        let finder = memmem::Finder::new(needle.as_bytes()).into_owned();
        StrPred {
            kind,
            needle,
            cased,
            finder,
        }
    }

    fn matches_text(&self, text: &str, lower: impl FnOnce() -> String) -> bool {
        // ASCII on both sides (the common case) compares without allocating.
        if !self.cased
            && self.kind != StrKind::Contains
            && text.is_ascii()
            && self.needle.is_ascii()
        {
            let (h, n) = (text.as_bytes(), self.needle.as_bytes());
            return match self.kind {
                StrKind::Eq => h.eq_ignore_ascii_case(n),
                StrKind::Prefix => h.len() >= n.len() && h[..n.len()].eq_ignore_ascii_case(n),
                StrKind::Suffix => {
                    h.len() >= n.len() && h[h.len() - n.len()..].eq_ignore_ascii_case(n)
                }
                StrKind::Contains => unreachable!(),
            };
        }
        let owned;
        let hay = if self.cased {
            text
        } else {
            owned = lower();
            &owned
        };
        match self.kind {
            StrKind::Eq => hay == self.needle,
            StrKind::Prefix => hay.starts_with(&self.needle),
            StrKind::Suffix => hay.ends_with(&self.needle),
            StrKind::Contains => self.finder.find(hay.as_bytes()).is_some(),
        }
    }

    fn matches(&self, v: &Value) -> bool {
        match v {
            Value::Str(t) if !self.cased && self.kind == StrKind::Contains => {
                self.finder.find(t.lower().as_bytes()).is_some()
            }
            Value::Null => false,
            v => match v.text() {
                Some(text) => self.matches_text(text, || text.to_lowercase()),
                None => false,
            },
        }
    }
}

#[derive(Debug)]
pub enum Pred {
    /// `null`: the field is missing or null.
    Null,
    /// `exists: true|false`.
    Exists(bool),
    Str(Box<StrPred>),
    /// Wildcard patterns and `re`: matched against the field's text.
    Regex(Regex),
    Cidr(IpNet),
    Number(Cmp, f64),
    /// trailwatch's `public_policy: true|false`: the field holds an IAM policy document (JSON
    /// text, or an object) that lets anyone in, or one that does not. Text that is not a
    /// policy matches neither.
    PublicPolicy(bool),
    /// trailwatch's `aws_ip_range: true|false`: the field is an IP address in AWS's published
    /// ranges, or one outside them. Text that is not an address matches neither.
    AwsIpRange(bool),
    /// `fieldref`: compare with another field of the same record.
    FieldRef {
        other: FieldId,
        kind: StrKind,
        cased: bool,
    },
}

/// What one evaluation needs: the record's fields, and its text for keyword searches.
pub struct EvalCtx<'r, 'a> {
    pub fields: &'r Fields<'a>,
    pub raw: &'r str,
    /// AWS's address ranges, read on first use when none were given.
    aws: &'r OnceLock<Arc<AwsRanges>>,
    /// Every scalar value of the record, decoded, as written and lower-cased; read from `raw`
    /// the first time a keyword search needs it.
    leaves: OnceCell<Vec<(String, String)>>,
}

impl<'r, 'a> EvalCtx<'r, 'a> {
    pub fn new(fields: &'r Fields<'a>, raw: &'r str, aws: &'r OnceLock<Arc<AwsRanges>>) -> Self {
        EvalCtx {
            fields,
            raw,
            aws,
            leaves: OnceCell::new(),
        }
    }

    /// Keyword searches look at values, not at the JSON text: key names do not match, and
    /// escaped text (`S\u00e9bastien`, `a\"b`) matches as it reads.
    fn leaves(&self) -> &[(String, String)] {
        self.leaves.get_or_init(|| {
            fn walk(v: &serde_json::Value, out: &mut Vec<(String, String)>) {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Bool(b) => b.to_string(),
                    serde_json::Value::Null => return,
                    serde_json::Value::Array(items) => {
                        return items.iter().for_each(|i| walk(i, out))
                    }
                    serde_json::Value::Object(map) => {
                        return map.values().for_each(|i| walk(i, out))
                    }
                };
                let lower = text.to_lowercase();
                out.push((text, lower));
            }
            let mut out = Vec::new();
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(self.raw) {
                walk(&v, &mut out);
            }
            out
        })
    }
}

impl Pred {
    fn matches(&self, ctx: &EvalCtx, target: Target) -> bool {
        let values: &[Value] = match target {
            Target::Field(id) => ctx.fields.get(id),
            Target::Keywords => {
                let leaves = ctx.leaves();
                return match self {
                    Pred::Str(s) => leaves.iter().any(|(text, lower)| {
                        let hay = if s.cased { text } else { lower };
                        s.finder.find(hay.as_bytes()).is_some()
                    }),
                    Pred::Regex(re) => leaves.iter().any(|(text, _)| re.is_match(text)),
                    _ => false,
                };
            }
        };
        match self {
            Pred::Null => values.iter().all(|v| matches!(v, Value::Null)),
            // Presence only: a field that is there with null or [] exists (Sigma).
            Pred::Exists(want) => values.is_empty() != *want,
            Pred::Str(s) => values.iter().any(|v| s.matches(v)),
            Pred::Regex(re) => values
                .iter()
                .filter_map(Value::text)
                .any(|t| re.is_match(t)),
            Pred::Cidr(net) => values
                .iter()
                .filter_map(Value::text)
                .filter_map(|t| t.trim().parse::<IpAddr>().ok())
                .any(|ip| net.contains(&ip)),
            Pred::Number(cmp, bound) => {
                values.iter().filter_map(Value::as_f64).any(|x| match cmp {
                    Cmp::Lt => x < *bound,
                    Cmp::Lte => x <= *bound,
                    Cmp::Gt => x > *bound,
                    Cmp::Gte => x >= *bound,
                })
            }
            Pred::PublicPolicy(want) => values
                .iter()
                .filter_map(Value::text)
                .filter_map(|t| Document::parse(t).ok())
                .any(|d| exposure::public(&d).is_empty() != *want),
            Pred::AwsIpRange(want) => values
                .iter()
                .filter_map(Value::text)
                .filter_map(|t| t.trim().parse::<IpAddr>().ok())
                .any(|ip| ctx.aws.get_or_init(AwsRanges::shipped).contains(ip) == *want),
            Pred::FieldRef { other, kind, cased } => {
                let others = ctx.fields.get(*other);
                values.iter().filter_map(Value::text).any(|t| {
                    others.iter().filter_map(Value::text).any(|o| {
                        let (t, o) = if *cased {
                            (t.to_string(), o.to_string())
                        } else {
                            (t.to_lowercase(), o.to_lowercase())
                        };
                        match kind {
                            StrKind::Eq => t == o,
                            StrKind::Prefix => t.starts_with(&o),
                            StrKind::Suffix => t.ends_with(&o),
                            StrKind::Contains => t.contains(&o),
                        }
                    })
                })
            }
        }
    }
}

impl FieldTest {
    /// A rough rank of how expensive the test is to evaluate, cheapest first.
    pub fn cost(&self) -> u8 {
        let pred_cost = |p: &Pred| match p {
            Pred::Null | Pred::Exists(_) => 0,
            Pred::Str(s) if s.kind != StrKind::Contains => 1,
            Pred::Number(..) | Pred::Cidr(_) | Pred::FieldRef { .. } | Pred::AwsIpRange(_) => 2,
            Pred::Str(_) => 3,
            Pred::Regex(_) => 4,
            Pred::PublicPolicy(_) => 5,
        };
        let worst = self
            .values
            .iter()
            .flatten()
            .map(pred_cost)
            .max()
            .unwrap_or(0);
        match self.target {
            Target::Keywords => 5 + worst,
            Target::Field(_) => worst,
        }
    }

    fn matches(&self, ctx: &EvalCtx) -> bool {
        let one =
            |alts: &Vec<Pred>| alts.iter().any(|p| p.matches(ctx, self.target)) != self.negate;
        // `neq: [a, b]` is "neither a nor b" (Sigma), so every negated value must hold.
        if self.all || self.negate {
            self.values.iter().all(one)
        } else {
            self.values.iter().any(one)
        }
    }
}

impl Search {
    pub fn matches(&self, ctx: &EvalCtx) -> bool {
        self.alternatives
            .iter()
            .any(|tests| tests.iter().all(|t| t.matches(ctx)))
    }
}

impl Expr {
    pub fn eval(&self, searches: &[Search], ctx: &EvalCtx) -> bool {
        match self {
            Expr::Search(i) => searches[*i].matches(ctx),
            Expr::And(items) => items.iter().all(|e| e.eval(searches, ctx)),
            Expr::Or(items) => items.iter().any(|e| e.eval(searches, ctx)),
            Expr::Not(e) => !e.eval(searches, ctx),
            Expr::AtLeast(n, items) => {
                let mut hits = 0;
                items.iter().any(|e| {
                    if e.eval(searches, ctx) {
                        hits += 1;
                    }
                    hits >= *n
                })
            }
        }
    }
}
