//! What changed between audits: the last known finding per (check, resource), and the
//! messages a new audit gives — a new FAIL, or a FAIL that is resolved. Only changes are
//! sent, so a daily audit of an unchanged account sends nothing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::finding::{Finding, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// The finding is FAIL and was not before (new resource, PASS, ERROR or MUTED before).
    Failed,
    /// The finding was FAIL and is now PASS, or its resource is gone.
    Resolved,
}

/// The CloudTrail event that made the daemon re-audit, when it was one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerInfo {
    pub event_id: Option<String>,
    pub event_name: String,
    pub event_time: Option<String>,
    pub actor_arn: Option<String>,
}

/// One posture message: `kind` is always "posture", which tells it from an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostureChange {
    pub kind: String,
    /// Stable for this change of this finding: sinks deduplicate on it.
    pub change_id: String,
    pub change: ChangeKind,
    pub previous_status: Option<Status>,
    pub finding: Finding,
    /// When the audit that saw the change ran (RFC 3339).
    pub audited_at: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trigger: Option<TriggerInfo>,
}

const CHANGE_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x3c1d_52a4_6f0e_4b8e_a1d7_94c2_e85b_1f60);

impl PostureChange {
    fn new(
        change: ChangeKind,
        previous: Option<Status>,
        finding: Finding,
        audited_at: &str,
    ) -> Self {
        let id = uuid::Uuid::new_v5(
            &CHANGE_NAMESPACE,
            format!(
                "{}\n{}\n{change:?}\n{audited_at}",
                finding.account,
                finding.key()
            )
            .as_bytes(),
        );
        PostureChange {
            kind: "posture".into(),
            change_id: id.to_string(),
            change,
            previous_status: previous,
            finding,
            audited_at: audited_at.to_string(),
            trigger: None,
        }
    }
}

/// The last known findings, by [`Finding::key`] (and account).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posture {
    pub findings: BTreeMap<String, Finding>,
}

fn key(f: &Finding) -> String {
    format!("{}\n{}", f.account, f.key())
}

impl Posture {
    /// Replaces the findings `in_scope` selects with `new` (which must all be in scope) and
    /// returns the changes. A full audit passes a scope of its accounts. Old findings of a
    /// check whose read failed (an ERROR among `new`, or named in `failed`) that are missing
    /// from `new` are kept: a failed read proves nothing gone.
    pub fn apply(
        &mut self,
        new: Vec<Finding>,
        failed: &std::collections::BTreeSet<super::catalog::CheckId>,
        in_scope: impl Fn(&Finding) -> bool,
        audited_at: &str,
    ) -> Vec<PostureChange> {
        let mut failed = failed.clone();
        failed.extend(
            new.iter()
                .filter(|f| f.status == Status::Error)
                .map(|f| f.check),
        );
        let mut changes = Vec::new();
        let mut fresh: BTreeMap<String, Finding> = new.into_iter().map(|f| (key(&f), f)).collect();
        let old_keys: Vec<String> = self
            .findings
            .iter()
            .filter(|(_, f)| in_scope(f))
            .map(|(k, _)| k.clone())
            .collect();
        for k in old_keys {
            let old = self.findings.remove(&k).expect("listed above");
            match fresh.remove(&k) {
                Some(now) => {
                    if let Some(c) = change(Some(old.status), &now, audited_at) {
                        changes.push(c);
                    }
                    self.findings.insert(k, now);
                }
                None if failed.contains(&old.check) => {
                    self.findings.insert(k, old);
                }
                None if old.status == Status::Fail => {
                    let mut gone = old;
                    gone.reason = format!("the resource is gone (was: {})", gone.reason);
                    gone.status = Status::Pass;
                    changes.push(PostureChange::new(
                        ChangeKind::Resolved,
                        Some(Status::Fail),
                        gone,
                        audited_at,
                    ));
                }
                None => {}
            }
        }
        for (k, now) in fresh {
            if let Some(c) = change(None, &now, audited_at) {
                changes.push(c);
            }
            self.findings.insert(k, now);
        }
        changes
    }

    pub fn count(&self) -> usize {
        self.findings.len()
    }
}

fn change(previous: Option<Status>, now: &Finding, audited_at: &str) -> Option<PostureChange> {
    let kind = match (previous, now.status) {
        (Some(Status::Fail), Status::Fail) => return None,
        (_, Status::Fail) => ChangeKind::Failed,
        (Some(Status::Fail), Status::Pass) => ChangeKind::Resolved,
        _ => return None,
    };
    Some(PostureChange::new(kind, previous, now.clone(), audited_at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::finding::Severity;

    fn f(check: &str, resource: &str, status: Status) -> Finding {
        Finding {
            check: crate::audit::catalog::CheckId::parse(check).expect("a catalogue id"),
            title: String::new(),
            status,
            severity: Severity::High,
            resource: resource.into(),
            requirement: None,
            account: "1".into(),
            region: None,
            reason: "r".into(),
            remediation: String::new(),
            cis: vec![],
            muted: None,
        }
    }

    fn none() -> std::collections::BTreeSet<crate::audit::catalog::CheckId> {
        Default::default()
    }

    fn kinds(changes: &[PostureChange]) -> Vec<(String, ChangeKind)> {
        changes
            .iter()
            .map(|c| (c.finding.resource.clone(), c.change))
            .collect()
    }

    #[test]
    fn only_new_failures_and_resolutions_are_sent() {
        let mut p = Posture::default();
        let all = |_: &Finding| true;
        let findings = || {
            vec![
                f("user-mfa", "a", Status::Fail),
                f("user-mfa", "b", Status::Pass),
                f("user-mfa", "c", Status::Error),
            ]
        };
        let first = p.apply(findings(), &none(), all, "t1");
        assert_eq!(kinds(&first), vec![("a".into(), ChangeKind::Failed)]);
        // The same audit again: nothing.
        let again = p.apply(findings(), &none(), all, "t2");
        assert!(again.is_empty());
        // a is fixed, b breaks, c's call works now and it fails, d is new and fine.
        let next = p.apply(
            vec![
                f("user-mfa", "a", Status::Pass),
                f("user-mfa", "b", Status::Fail),
                f("user-mfa", "c", Status::Fail),
                f("user-mfa", "d", Status::Pass),
            ],
            &none(),
            all,
            "t3",
        );
        assert_eq!(
            kinds(&next),
            vec![
                ("a".into(), ChangeKind::Resolved),
                ("b".into(), ChangeKind::Failed),
                ("c".into(), ChangeKind::Failed)
            ]
        );
        assert_eq!(next[0].previous_status, Some(Status::Fail));
        assert_ne!(next[0].change_id, first[0].change_id);
    }

    #[test]
    fn a_scoped_audit_replaces_only_its_scope_and_a_gone_failure_resolves() {
        let mut p = Posture::default();
        p.apply(
            vec![
                f("user-mfa", "a", Status::Fail),
                f("group-empty", "g", Status::Fail),
            ],
            &none(),
            |_| true,
            "t1",
        );
        // A failed read of the user keeps its finding.
        let failed = [crate::audit::catalog::CheckId::UserMfa]
            .into_iter()
            .collect();
        assert!(p
            .apply(vec![], &failed, |x| x.resource == "a", "t2")
            .is_empty());
        assert_eq!(p.count(), 2);
        // Re-audit of user a only, which was deleted: resolved; the group is untouched.
        let changes = p.apply(vec![], &none(), |x| x.resource == "a", "t2");
        assert_eq!(kinds(&changes), vec![("a".into(), ChangeKind::Resolved)]);
        assert!(changes[0]
            .finding
            .reason
            .starts_with("the resource is gone"));
        assert_eq!(p.count(), 1);
        let muted = p.apply(
            vec![f("group-empty", "g", Status::Muted)],
            &none(),
            |x| x.check == "group-empty",
            "t3",
        );
        assert!(muted.is_empty(), "muting a failure sends nothing");
    }
}
