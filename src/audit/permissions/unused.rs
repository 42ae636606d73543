//! Granted against used: which action patterns a principal's policies grant that the usage
//! record never saw it use within the window, and the least-privilege policy of what it did
//! use.

use std::collections::BTreeMap;

use serde_json::json;

use super::document::{Effect, Patterns};
use super::evaluate::PolicySet;
use super::pattern::Pattern;
use super::usage::Actions;

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
    let statements: Vec<serde_json::Value> = groups
        .into_iter()
        .enumerate()
        .map(|(i, ((service, resources), actions))| {
            let sid: String = service
                .split(['-', '.'])
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                        .unwrap_or_default()
                })
                .collect();
            json!({
                "Sid": format!("{sid}{}", i + 1),
                "Effect": "Allow",
                "Action": actions,
                "Resource": if resources.len() == 1 { json!(resources[0]) } else { json!(resources) },
            })
        })
        .collect();
    json!({"Version": "2012-10-17", "Statement": statements})
}
