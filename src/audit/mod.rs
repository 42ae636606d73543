//! The posture stage: reads the account's IAM and security settings and says, for every
//! check and resource, PASS, FAIL, ERROR (a call failed: which, and which permission) or
//! MANUAL. It stands beside the detection chain: it imports nothing to its right, and the
//! daemon and the CLI wire it to the same sinks as alerts.
//!
//! `collect` reads (async, AWS SDK) into an `inventory`; `checks` judge it (pure functions,
//! so every check is testable offline with exact dates); `output` renders findings.

pub mod catalog;
pub mod change;
pub mod checks;
pub mod collect;
pub mod compliance;
pub mod credential_report;
pub mod finding;
pub mod html;
pub mod inventory;
pub mod output;
pub mod permissions;
pub mod policy;
pub mod principal;
pub mod security_hub;
pub mod settings;
pub mod trigger;

use chrono::{DateTime, Utc};

pub use finding::{Finding, Severity, Status};
pub use settings::AuditConfig;

pub use principal::PrincipalPosture;

/// An audit's findings, and what it learned of each principal.
pub struct Report {
    pub findings: Vec<Finding>,
    pub principals: std::collections::BTreeMap<String, PrincipalPosture>,
    /// The principals and policies read, when they were: what a policy change on the trail
    /// is judged against until the next audit.
    pub authorization: Option<std::sync::Arc<inventory::Authorization>>,
    /// The regions whose regional checks ran.
    pub regions: Vec<String>,
}

impl Report {
    fn of(inventory: &inventory::Inventory, settings: &AuditConfig, now: DateTime<Utc>) -> Report {
        let principals = checks::principals_of(inventory);
        let analysis = principals
            .as_ref()
            .map(permissions::escalation::Analysis::of);
        let findings = checks::evaluate_with(inventory, settings, now, analysis.as_ref());
        let mut principals = principal::facts(inventory, analysis.as_ref(), now);
        let all: Vec<&Finding> = findings.iter().collect();
        principal::with_failing(principals.values_mut(), &all);
        Report {
            findings,
            principals,
            authorization: None,
            regions: inventory.regions.iter().map(|r| r.region.clone()).collect(),
        }
    }

    /// Keeps the principals and policies the inventory read.
    fn keeping_authorization(mut self, inventory: inventory::Inventory) -> Report {
        self.authorization = inventory
            .authorization
            .and_then(Result::ok)
            .map(std::sync::Arc::new);
        self
    }
}

/// A whole audit of one account.
pub async fn audit(
    account: &collect::Account,
    settings: &AuditConfig,
    usage: inventory::Read<std::sync::Arc<permissions::usage::Usage>>,
    now: DateTime<Utc>,
) -> Report {
    let mut inventory = collect::inventory(account, settings).await;
    inventory.usage = usage;
    Report::of(&inventory, settings, now).keeping_authorization(inventory)
}

/// Whether one account of the organization could be audited (`account-audited`): PASS, or
/// ERROR with why it could not (the rest of the organization is audited all the same).
pub fn account_reached(
    account: &str,
    error: Option<&str>,
    settings: &AuditConfig,
    now: DateTime<Utc>,
) -> Finding {
    let mut ev = checks::Eval::new(settings, now, account);
    let root = ev.root_arn();
    let (status, reason) = match error {
        None => (Status::Pass, "audited".to_string()),
        Some(e) => (Status::Error, e.to_string()),
    };
    ev.push(catalog::CheckId::AccountAudited, status, &root, reason)
        .clone()
}

/// The credential-report checks alone, on a report read from a file.
pub fn audit_report(
    report: credential_report::CredentialReport,
    settings: &AuditConfig,
    now: DateTime<Utc>,
) -> Vec<Finding> {
    let inventory = inventory::Inventory {
        account: report.account().unwrap_or_else(|| "unknown".into()),
        credential_report: Some(Ok(report)),
        ..Default::default()
    };
    checks::evaluate(&inventory, settings, now)
}

/// The findings of one scope again, after an event changed it, and the checks whose reads
/// failed (their old findings stand: a failed read proves nothing gone).
pub async fn reaudit(
    account: &collect::Account,
    settings: &AuditConfig,
    scope: &trigger::Scope,
    now: DateTime<Utc>,
) -> (Report, std::collections::BTreeSet<catalog::CheckId>) {
    let inventory = collect::scoped_inventory(account, settings, scope).await;
    let mut report = Report::of(&inventory, settings, now).keeping_authorization(inventory);
    let failed = report
        .findings
        .iter()
        .filter(|f| f.status == Status::Error)
        .map(|f| f.check)
        .collect();
    report.findings.retain(|f| scope.covers(f));
    (report, failed)
}
