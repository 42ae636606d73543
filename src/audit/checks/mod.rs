//! The checks, one file per family. Each reads the [`Inventory`] and writes findings through
//! an [`Eval`], which fills in what the catalogue knows (title, severity, CIS, remediation).

mod account;
mod certificates;
pub mod permissions;
pub mod principals;
pub mod resources;
mod root;
pub mod users;

#[cfg(test)]
mod permissions_tests;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};

use super::catalog::CheckId;
use super::finding::{Finding, Status};
use super::inventory::{ApiError, Inventory};
use super::permissions::escalation::Analysis;
use super::permissions::Principals;
use super::settings::AuditConfig;

pub struct Eval<'a> {
    pub settings: &'a AuditConfig,
    pub now: DateTime<Utc>,
    pub account: &'a str,
    findings: Vec<Finding>,
}

impl<'a> Eval<'a> {
    pub fn new(settings: &'a AuditConfig, now: DateTime<Utc>, account: &'a str) -> Self {
        Eval {
            settings,
            now,
            account,
            findings: Vec::new(),
        }
    }

    pub fn root_arn(&self) -> String {
        format!("arn:aws:iam::{}:root", self.account)
    }

    /// Whole days from `t` to the evaluation time.
    pub fn days_since(&self, t: DateTime<Utc>) -> i64 {
        (self.now - t).num_days()
    }

    pub fn push(
        &mut self,
        check: CheckId,
        status: Status,
        resource: &str,
        reason: String,
    ) -> &mut Finding {
        let c = check.check();
        self.findings.push(Finding {
            check,
            title: c.title.to_string(),
            status,
            severity: c.severity,
            resource: resource.to_string(),
            requirement: None,
            account: self.account.to_string(),
            region: None,
            reason,
            remediation: c.remediation.to_string(),
            cis: c.cis.iter().map(|s| s.to_string()).collect(),
            muted: None,
        });
        self.findings.last_mut().expect("just pushed")
    }

    pub fn verdict(
        &mut self,
        check: CheckId,
        failed: bool,
        resource: &str,
        reason: String,
    ) -> &mut Finding {
        let status = if failed { Status::Fail } else { Status::Pass };
        self.push(check, status, resource, reason)
    }

    /// An ERROR finding for each check that needed the failed call.
    pub fn error(&mut self, checks: &[CheckId], resource: &str, e: &ApiError) {
        for &check in checks {
            self.push(check, Status::Error, resource, e.to_string());
        }
    }

    /// The findings so far.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    fn finish(self) -> Vec<Finding> {
        self.findings
    }
}

/// Every check over what was read; parts that were not read give no findings.
pub fn evaluate(inv: &Inventory, settings: &AuditConfig, now: DateTime<Utc>) -> Vec<Finding> {
    let principals = principals_of(inv);
    let analysis = principals.as_ref().map(Analysis::of);
    evaluate_with(inv, settings, now, analysis.as_ref())
}

/// The principals' effective permissions, when the authorization details were read. Built
/// once per audit: the checks and the principal facts share it (and the escalations it
/// finds) through [`Analysis`].
pub fn principals_of(inv: &Inventory) -> Option<Principals> {
    let auth = inv.authorization.as_ref()?.as_ref().ok()?;
    let account = match inv.account.as_str() {
        "" => auth
            .users
            .iter()
            .map(|u| u.arn.as_str())
            .chain(auth.roles.iter().map(|r| r.arn.as_str()))
            .find_map(crate::policy::exposure::account_of)
            .unwrap_or_default(),
        account => account,
    };
    Some(Principals::of(auth, account))
}

/// [`evaluate`] with the permissions analysis already built ([`principals_of`]).
pub fn evaluate_with(
    inv: &Inventory,
    settings: &AuditConfig,
    now: DateTime<Utc>,
    analysis: Option<&Analysis>,
) -> Vec<Finding> {
    let mut ev = Eval::new(settings, now, &inv.account);
    root::evaluate(&mut ev, inv);
    users::evaluate(&mut ev, inv);
    principals::evaluate(&mut ev, inv, analysis);
    permissions::evaluate(&mut ev, inv, analysis);
    certificates::evaluate(&mut ev, inv);
    resources::evaluate(&mut ev, inv);
    account::evaluate(&mut ev, inv);
    let mut findings = ev.finish();
    for f in &mut findings {
        if f.status == Status::Fail {
            if let Some(m) = settings.mute_for(f.check, &f.resource) {
                f.status = Status::Muted;
                f.muted = Some(m.reason.clone());
            }
        }
    }
    findings
}

/// "never" or "N days ago", for reasons.
pub fn ago(ev: &Eval, t: Option<DateTime<Utc>>) -> String {
    match t {
        Some(t) => format!("{} days ago ({})", ev.days_since(t), t.format("%Y-%m-%d")),
        None => "never".into(),
    }
}

impl Eval<'_> {
    /// An ERROR finding for a regional check whose read failed in `region`.
    pub fn regional_error(&mut self, check: CheckId, resource: &str, region: &str, e: &ApiError) {
        self.push(check, Status::Error, resource, e.to_string())
            .region = Some(region.to_string());
    }
}
