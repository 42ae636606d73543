//! What the last audit knows of each IAM user and role, for the alerts about it: the person
//! paged sees at once that the actor who just created a key is an admin without MFA.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::finding::{Finding, Status};
use super::inventory::Inventory;
use super::permissions::escalation::Analysis;
use super::permissions::Kind;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalPosture {
    pub arn: String,
    /// Full administrative rights (AdministratorAccess or * on *, direct, inline or by group).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub admin: Option<bool>,
    /// Users: MFA device active.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mfa: Option<bool>,
    /// How it could make itself an admin (escalation method ids), when it can.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub escalation: Vec<String>,
    /// Users: the age in days of each active access key.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub access_key_ages_days: Vec<i64>,
    /// The checks this principal fails.
    pub failing: Vec<String>,
    /// When what this says was read.
    pub audited_at: String,
    /// On the alert of a policy change: the principals the change touched, as it leaves
    /// them (judged on the last audit's policies with the change applied).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub targets: Vec<super::permissions::change::Touched>,
}

/// Facts per principal ARN from what an audit read (`failing` is filled by [`with_failing`]).
/// `analysis` is the audit's permissions analysis (`checks::principals_of`), built once.
pub fn facts(
    inv: &Inventory,
    analysis: Option<&Analysis>,
    now: DateTime<Utc>,
) -> BTreeMap<String, PrincipalPosture> {
    let at = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut out: BTreeMap<String, PrincipalPosture> = BTreeMap::new();
    fn entry<'m>(
        out: &'m mut BTreeMap<String, PrincipalPosture>,
        arn: &str,
        at: &str,
    ) -> &'m mut PrincipalPosture {
        out.entry(arn.to_string())
            .or_insert_with(|| PrincipalPosture {
                arn: arn.to_string(),
                audited_at: at.to_string(),
                ..Default::default()
            })
    }
    if let Some(Ok(report)) = &inv.credential_report {
        for u in &report.users {
            let p = entry(&mut out, &u.arn, &at);
            p.mfa = Some(u.mfa_active);
            p.access_key_ages_days = u
                .active_keys()
                .filter_map(|(_, k)| k.last_rotated)
                .map(|t| (now - t).num_days())
                .collect();
        }
    }
    if let Some(analysis) = analysis {
        for p in analysis
            .principals
            .all
            .iter()
            .filter(|p| p.kind != Kind::Group)
        {
            let e = entry(&mut out, &p.arn, &at);
            e.admin = Some(analysis.is_admin(&p.arn));
            e.escalation = analysis
                .escalations(p)
                .into_iter()
                .filter(|x| !x.conditional)
                .map(|x| x.method.to_string())
                .collect();
        }
    }
    out
}

/// Sets `failing` from the findings (FAIL, by resource ARN).
pub fn with_failing<'a>(
    principals: impl Iterator<Item = &'a mut PrincipalPosture>,
    findings: &[&Finding],
) {
    let mut failing: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for f in findings.iter().filter(|f| f.status == Status::Fail) {
        failing
            .entry(f.resource.as_str())
            .or_default()
            .push(f.check.to_string());
    }
    for p in principals {
        p.failing = failing.get(p.arn.as_str()).cloned().unwrap_or_default();
    }
}
