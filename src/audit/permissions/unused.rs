//! Granted against used: which action patterns a principal's policies grant that the usage
//! record never saw it use within the window, and the least-privilege policy of what it did
//! use.

use std::collections::BTreeMap;

use serde_json::json;

use super::usage::Actions;
use crate::policy::document::{Effect, Patterns};
use crate::policy::evaluate::PolicySet;
use crate::policy::pattern::Pattern;

/// One pattern a principal is granted, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// `s3:GetObject`, `iam:*`, or `NotAction [iam:*]`.
    pub pattern: String,
    pub source: String,
    inverted: Option<Vec<String>>,
}

impl Grant {
    pub fn covers(&self, action: &str) -> bool {
        match &self.inverted {
            Some(list) => !list.iter().any(|p| Pattern::action(p).matches(action)),
            None => Pattern::action(&self.pattern).matches(action),
        }
    }
}

/// Every action pattern the principal's Allow statements grant (conditional ones included:
/// a grant kept for a condition still grants).
pub fn grants(policies: &PolicySet) -> Vec<Grant> {
    let mut out: Vec<Grant> = Vec::new();
    for doc in &policies.identity {
        for s in doc
            .document
            .statements
            .iter()
            .filter(|s| s.effect == Effect::Allow)
        {
            match &s.actions {
                Patterns::Only(list) => {
                    for p in list {
                        if !out.iter().any(|g| g.pattern.eq_ignore_ascii_case(p)) {
                            out.push(Grant {
                                pattern: p.clone(),
                                source: doc.source.clone(),
                                inverted: None,
                            });
                        }
                    }
                }
                Patterns::AllBut(list) => out.push(Grant {
                    pattern: format!("NotAction [{}]", list.join(", ")),
                    source: doc.source.clone(),
                    inverted: Some(list.clone()),
                }),
            }
        }
    }
    out
}

/// The grants not used since `since` (RFC 3339, compared as CloudTrail writes times).
pub fn unused<'g>(grants: &'g [Grant], used: Option<&Actions>, since: &str) -> Vec<&'g Grant> {
    grants
        .iter()
        .filter(|g| {
            !used.is_some_and(|u| {
                u.actions
                    .iter()
                    .any(|(action, a)| a.last.as_str() >= since && g.covers(action))
            })
        })
        .collect()
}

/// A least-privilege policy of what was used: the actions, grouped by service, on the
/// resources the records named where they all did, else on `*`.
pub fn suggest(used: &Actions) -> serde_json::Value {
    // (service, resources) -> actions
    let mut groups: BTreeMap<(String, Vec<String>), Vec<String>> = BTreeMap::new();
    for (action, u) in &used.actions {
        let service = action.split(':').next().unwrap_or(action).to_string();
        let mut resources = u.resources.clone();
        resources.sort();
        if resources.is_empty() {
            resources.push("*".into());
        }
        groups
            .entry((service, resources))
            .or_default()
            .push(action.clone());
    }
    // Sids by service: `S3Used`, then `S3Used2` for the same service on other resources.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let statements: Vec<serde_json::Value> = groups
        .into_iter()
        .map(|((service, resources), actions)| {
            let name: String = service
                .split(['-', '.'])
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                        .unwrap_or_default()
                })
                .collect();
            let n = seen.entry(name.clone()).or_default();
            *n += 1;
            let sid = match *n {
                1 => format!("{name}Used"),
                n => format!("{name}Used{n}"),
            };
            json!({
                "Sid": sid,
                "Effect": "Allow",
                "Action": actions,
                "Resource": if resources.len() == 1 { json!(resources[0]) } else { json!(resources) },
            })
        })
        .collect();
    json!({"Version": "2012-10-17", "Statement": statements})
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::audit::permissions::actions::Catalog;
    use crate::audit::permissions::usage::{Usage, Use};
    use crate::policy::document::Document;
    use crate::policy::evaluate::{Decision, Sourced};

    const BUCKETS: [&str; 3] = [
        "arn:aws:s3:::logs/a",
        "arn:aws:s3:::logs/b",
        "arn:aws:s3:::backups/c",
    ];

    /// The suggestion as the evaluator reads it.
    fn as_policy(suggestion: &serde_json::Value) -> PolicySet {
        let document = Document::parse(&suggestion.to_string()).expect("valid IAM JSON");
        PolicySet {
            identity: vec![Arc::new(Sourced {
                source: "suggested".into(),
                document,
            })],
            ..PolicySet::default()
        }
    }

    proptest! {
        /// Whatever was used, the suggested policy allows each use (on each resource the
        /// records named) and no action that was not used.
        #[test]
        fn the_suggestion_allows_what_was_used_and_nothing_else(
            picks in prop::collection::vec((0usize..400, prop::option::of(0usize..3)), 1..30)
        ) {
            let known: Vec<String> = ["s3:*", "iam:*", "ec2:Describe*"]
                .iter()
                .flat_map(|p| Catalog::get().expand(p))
                .map(|(a, _)| a)
                .collect();
            let mut usage = Usage::new();
            for (i, bucket) in &picks {
                usage.record(&Use {
                    principal: "p".into(),
                    action: known[i % known.len()].clone(),
                    time: "2026-11-20T09:00:00Z".into(),
                    resources: bucket.map(|b| BUCKETS[b].to_string()).into_iter().collect(),
                });
            }
            let used = &usage.principals["p"];
            let policy = as_policy(&suggest(used));
            for (action, u) in &used.actions {
                let on: Vec<&str> = if u.resources.is_empty() {
                    vec!["arn:aws:iam::111122223333:user/anyone"]
                } else {
                    u.resources.iter().map(String::as_str).collect()
                };
                for r in on {
                    prop_assert_eq!(policy.evaluate(action, r).decision, Decision::Allowed, "{} on {}", action, r);
                }
            }
            for action in known.iter().filter(|a| !used.actions.contains_key(*a)) {
                for r in BUCKETS.iter().chain(["*"].iter()) {
                    prop_assert_eq!(policy.evaluate(action, r).decision, Decision::ImplicitDeny, "{} on {}", action, r);
                }
            }
        }
    }

    #[test]
    fn grants_not_used_since_the_window_began() {
        let doc = Document::parse(
            r#"{"Statement":[{"Effect":"Allow","Action":["s3:Get*","iam:PassRole"],"Resource":"*"},
                {"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]}"#,
        )
        .unwrap();
        let policies = PolicySet {
            identity: vec![Arc::new(Sourced {
                source: "inline policy p".into(),
                document: doc,
            })],
            ..PolicySet::default()
        };
        let granted = grants(&policies);
        let patterns: Vec<&str> = granted.iter().map(|g| g.pattern.as_str()).collect();
        assert_eq!(patterns, ["s3:Get*", "iam:PassRole", "NotAction [iam:*]"]);
        let mut usage = Usage::new();
        let at = |action: &str, time: &str| Use {
            principal: "p".into(),
            action: action.into(),
            time: time.into(),
            resources: vec![],
        };
        usage.record(&at("s3:GetObject", "2026-11-20T09:00:00Z"));
        usage.record(&at("iam:PassRole", "2026-01-01T00:00:00Z"));
        let idle: Vec<&str> = unused(&granted, usage.of_principal("p"), "2026-09-01T00:00:00Z")
            .iter()
            .map(|g| g.pattern.as_str())
            .collect();
        // s3:GetObject is outside iam:*, so it counts as a use of the NotAction grant too.
        assert_eq!(idle, ["iam:PassRole"]);
    }
}
