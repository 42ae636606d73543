//! Keeping Security Hub in step with an audit: each FAIL imported as an active finding, each
//! MUTED one as suppressed, and each finding trailwatch imported before that now passes or
//! is gone archived as passed and resolved, so none is left active by mistake.
//!
//! Security Hub takes a finding's `Workflow` from BatchImportFindings only when it creates
//! the finding; an existing finding's workflow is the customer's, changed with
//! BatchUpdateFindings, which the import calls for findings whose workflow must move (a
//! FAIL resolved, muted or unmuted).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_securityhub::types as sh;
use backon::BackoffBuilder;

use super::asff::{self, Document, WorkflowStatus};
use crate::audit::collect::describe;
use crate::audit::finding::{Finding, Status};

/// BatchImportFindings and BatchUpdateFindings take at most 100 findings a call.
const BATCH: usize = 100;

/// What an import did, for the report line and the daemon's log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Imported {
    /// Documents accepted (failures, mutes and archived passes).
    pub imported: usize,
    /// Of those, findings archived as passed or gone.
    pub archived: usize,
    /// Workflows moved with BatchUpdateFindings.
    pub workflows: usize,
    /// Each failure: the call, the finding or region, and Security Hub's answer.
    pub failures: Vec<String>,
    /// Workflows that could not be moved: the findings' compliance and record state are
    /// right (none is left active), only their triage status is stale.
    pub warnings: Vec<String>,
}

impl std::fmt::Display for Imported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} findings imported ({} archived), {} workflows updated, {} failed, {} warnings",
            self.imported,
            self.archived,
            self.workflows,
            self.failures.len(),
            self.warnings.len()
        )
    }
}

/// A finding trailwatch imported before, as the hub holds it.
struct Held {
    finding: sh::AwsSecurityFinding,
    workflow: Option<String>,
}

/// Imports one account's findings: account-wide ones into `home`'s hub, regional ones into
/// their region's. Findings held in the hub that `in_scope` leaves out are not touched (a
/// re-audit of one user says nothing of the others); a full audit passes `|_| true`.
pub async fn import(
    sdk: &aws_config::SdkConfig,
    account: &str,
    home: &str,
    findings: &[Finding],
    in_scope: &(dyn Fn(&Finding) -> bool + Sync),
    now: chrono::DateTime<chrono::Utc>,
) -> Imported {
    let now = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut by_region: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    by_region.entry(home).or_default();
    for f in findings.iter().filter(|f| f.account == account) {
        by_region
            .entry(asff::region_of(f, home))
            .or_default()
            .push(f);
    }
    let mut out = Imported::default();
    for (region, findings) in by_region {
        let client = aws_sdk_securityhub::Client::new(
            &sdk.to_builder()
                .region(aws_config::Region::new(region.to_string()))
                .build(),
        );
        let target = Target {
            client: &client,
            account,
            region,
            home,
            in_scope,
        };
        target.import(&findings, &now, &mut out).await;
    }
    out
}

/// One region's hub of one account.
struct Target<'a> {
    client: &'a aws_sdk_securityhub::Client,
    account: &'a str,
    region: &'a str,
    home: &'a str,
    in_scope: &'a (dyn Fn(&Finding) -> bool + Sync),
}

impl Target<'_> {
    async fn import(&self, findings: &[&Finding], now: &str, out: &mut Imported) {
        let (client, account, region, home) = (self.client, self.account, self.region, self.home);
        let product = asff::product_arn(crate::audit::collect::partition(region), region, account);
        let held = match held(client, account, &product).await {
            Ok(h) => h,
            Err(e) => {
                // Without the hub's copy nothing can be archived or dated: import nothing rather
                // than leave stale findings active beside new ones.
                out.failures
                    .push(format!("securityhub:GetFindings in {region}: {e}"));
                return;
            }
        };
        // Checks that could not read in this audit: their findings in the hub stand.
        let unreadable: BTreeSet<(&str, &str)> = findings
            .iter()
            .filter(|f| f.status == Status::Error)
            .map(|f| {
                (
                    f.check.as_str(),
                    f.region.as_deref().unwrap_or(asff::GLOBAL),
                )
            })
            .collect();
        let mut documents: Vec<sh::AwsSecurityFinding> = Vec::new();
        let mut workflows: BTreeMap<WorkflowStatus, Vec<String>> = BTreeMap::new();
        let mut covered = BTreeSet::new();
        for f in findings {
            let id = asff::id(f);
            let before = held.get(&id);
            // A pass is sent only to close what was open.
            if f.status == Status::Pass && before.is_none() {
                continue;
            }
            let created = before
                .and_then(|h| h.finding.created_at.clone())
                .unwrap_or_else(|| now.to_string());
            let Some(doc) = asff::document(f, home, &created, now) else {
                continue;
            };
            covered.insert(id.clone());
            if let Some(h) = before {
                if h.workflow.as_deref() != Some(doc.workflow.status.as_str()) {
                    workflows.entry(doc.workflow.status).or_default().push(id);
                }
            }
            if f.status == Status::Pass {
                out.archived += 1;
            }
            documents.push(to_sdk(&doc));
        }
        for (id, h) in &held {
            if covered.contains(id) {
                continue;
            }
            let (finding_region, check) = parts(id);
            if unreadable.contains(&(check, finding_region)) {
                continue;
            }
            if !as_finding(&h.finding, id).is_some_and(|f| (self.in_scope)(&f)) {
                continue;
            }
            documents.push(archived(h.finding.clone(), now));
            out.archived += 1;
            if h.workflow.as_deref() != Some("RESOLVED") {
                workflows
                    .entry(WorkflowStatus::Resolved)
                    .or_default()
                    .push(id.clone());
            }
        }
        let failed = send(client, documents, region, out).await;
        for (status, mut ids) in workflows {
            ids.retain(|id| !failed.contains(id));
            update_workflows(client, &product, status, ids, region, out).await;
        }
    }
}

/// What the scope of a re-audit needs of a held finding: its check, resource and region.
fn as_finding(h: &sh::AwsSecurityFinding, id: &str) -> Option<Finding> {
    let (region, check) = parts(id);
    let check: crate::audit::catalog::CheckId = check.parse().ok()?;
    Some(Finding {
        check,
        title: String::new(),
        status: Status::Fail,
        severity: check.check().severity,
        resource: h.resources().first()?.id()?.to_string(),
        requirement: None,
        account: h.aws_account_id()?.to_string(),
        region: (region != asff::GLOBAL).then(|| region.to_string()),
        reason: String::new(),
        remediation: String::new(),
        cis: Vec::new(),
        muted: None,
    })
}

/// The region and check an id names (`trailwatch/ACCOUNT/REGION/CHECK/HASH`).
fn parts(id: &str) -> (&str, &str) {
    let mut p = id.split('/').skip(2);
    (p.next().unwrap_or(""), p.next().unwrap_or(""))
}

/// The active findings trailwatch imported into this product, by id. The filter is applied
/// here too: not every implementation of the API applies it.
async fn held(
    client: &aws_sdk_securityhub::Client,
    account: &str,
    product: &str,
) -> Result<BTreeMap<String, Held>, String> {
    let filter = |value: &str, comparison: sh::StringFilterComparison| {
        sh::StringFilter::builder()
            .value(value)
            .comparison(comparison)
            .build()
    };
    let prefix = format!("{}{account}/", asff::ID_PREFIX);
    let filters = sh::AwsSecurityFindingFilters::builder()
        .product_arn(filter(product, sh::StringFilterComparison::Equals))
        .aws_account_id(filter(account, sh::StringFilterComparison::Equals))
        .id(filter(&prefix, sh::StringFilterComparison::Prefix))
        .record_state(filter("ACTIVE", sh::StringFilterComparison::Equals))
        .build();
    let mut pages = client
        .get_findings()
        .filters(filters)
        .max_results(100)
        .into_paginator()
        .send();
    let mut out = BTreeMap::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| describe(&e))?;
        for f in page.findings() {
            let ours = f.id().is_some_and(|id| id.starts_with(&prefix))
                && f.product_arn() == Some(product)
                && f.record_state() != Some(&sh::RecordState::Archived);
            if ours {
                out.insert(
                    f.id().unwrap_or_default().to_string(),
                    Held {
                        workflow: f
                            .workflow()
                            .and_then(|w| w.status())
                            .map(|s| s.as_str().to_string()),
                        finding: f.clone(),
                    },
                );
            }
        }
    }
    Ok(out)
}

/// A finding of the hub closed: its resource passes the check now, or is gone.
fn archived(mut f: sh::AwsSecurityFinding, now: &str) -> sh::AwsSecurityFinding {
    let requirements = f
        .compliance
        .as_ref()
        .map(|c| c.related_requirements().to_vec());
    f.compliance = Some(
        sh::Compliance::builder()
            .status(sh::ComplianceStatus::Passed)
            .set_related_requirements(requirements)
            .build(),
    );
    f.workflow = Some(
        sh::Workflow::builder()
            .status(sh::WorkflowStatus::Resolved)
            .build(),
    );
    f.record_state = Some(sh::RecordState::Archived);
    f.updated_at = Some(now.to_string());
    // Fields the hub adds and an import may not carry.
    f.product_name = None;
    f.company_name = None;
    f.workflow_state = None;
    f.processed_at = None;
    f.finding_provider_fields = None;
    f
}

pub fn to_sdk(d: &Document) -> sh::AwsSecurityFinding {
    sh::AwsSecurityFinding::builder()
        .schema_version(d.schema_version)
        .id(&d.id)
        .product_arn(&d.product_arn)
        .generator_id(&d.generator_id)
        .aws_account_id(&d.aws_account_id)
        .region(&d.region)
        .set_types(Some(d.types.clone()))
        .created_at(&d.created_at)
        .updated_at(&d.updated_at)
        .severity(
            sh::Severity::builder()
                .label(sh::SeverityLabel::from(d.severity.label))
                .build(),
        )
        .title(&d.title)
        .description(&d.description)
        .remediation(
            sh::Remediation::builder()
                .recommendation(
                    sh::Recommendation::builder()
                        .text(&d.remediation.recommendation.text)
                        .build(),
                )
                .build(),
        )
        .set_resources(Some(
            d.resources
                .iter()
                .map(|r| {
                    sh::Resource::builder()
                        .r#type(r.r#type)
                        .id(&r.id)
                        .partition(sh::Partition::from(r.partition.as_str()))
                        .region(&r.region)
                        .build()
                })
                .collect(),
        ))
        .compliance(
            sh::Compliance::builder()
                .status(sh::ComplianceStatus::from(d.compliance.status.as_str()))
                .set_related_requirements(Some(d.compliance.related_requirements.clone()))
                .build(),
        )
        .workflow(
            sh::Workflow::builder()
                .status(sh::WorkflowStatus::from(d.workflow.status.as_str()))
                .build(),
        )
        .record_state(sh::RecordState::from(d.record_state.as_str()))
        .set_product_fields(Some(d.product_fields.clone().into_iter().collect()))
        .build()
}

/// Imports the documents 100 at a time; findings the hub refuses are sent again twice, after
/// a pause, then reported. Returns the ids that failed in the end.
async fn send(
    client: &aws_sdk_securityhub::Client,
    documents: Vec<sh::AwsSecurityFinding>,
    region: &str,
    out: &mut Imported,
) -> BTreeSet<String> {
    let mut failed_ids = BTreeSet::new();
    for chunk in documents.chunks(BATCH) {
        let mut pending: Vec<sh::AwsSecurityFinding> = chunk.to_vec();
        let mut pauses = backon::ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(500))
            .with_max_times(2)
            .build();
        loop {
            let answer = client
                .batch_import_findings()
                .set_findings(Some(pending.clone()))
                .send()
                .await;
            let refused: Vec<(String, String)> = match answer {
                Ok(a) => a
                    .failed_findings()
                    .iter()
                    .map(|e| {
                        (
                            e.id().unwrap_or_default().to_string(),
                            format!(
                                "{}: {}",
                                e.error_code().unwrap_or("?"),
                                e.error_message().unwrap_or("")
                            ),
                        )
                    })
                    .collect(),
                Err(e) => {
                    let why = describe(&e);
                    pending
                        .iter()
                        .map(|f| (f.id.clone().unwrap_or_default(), why.clone()))
                        .collect()
                }
            };
            out.imported += pending.len() - refused.len();
            let ids: BTreeSet<&str> = refused.iter().map(|(id, _)| id.as_str()).collect();
            pending.retain(|f| ids.contains(f.id.as_deref().unwrap_or_default()));
            match pauses.next() {
                Some(pause) if !pending.is_empty() => tokio::time::sleep(pause).await,
                _ => {
                    for (id, why) in refused {
                        out.failures.push(format!(
                            "securityhub:BatchImportFindings in {region}: {id}: {why}"
                        ));
                        failed_ids.insert(id);
                    }
                    break;
                }
            }
        }
    }
    failed_ids
}

/// Moves the workflow of existing findings (BatchImportFindings leaves it as it was).
async fn update_workflows(
    client: &aws_sdk_securityhub::Client,
    product: &str,
    status: WorkflowStatus,
    ids: Vec<String>,
    region: &str,
    out: &mut Imported,
) {
    for chunk in ids.chunks(BATCH) {
        let identifiers = chunk
            .iter()
            .map(|id| {
                sh::AwsSecurityFindingIdentifier::builder()
                    .id(id)
                    .product_arn(product)
                    .build()
            })
            .collect();
        let answer = client
            .batch_update_findings()
            .set_finding_identifiers(Some(identifiers))
            .workflow(
                sh::WorkflowUpdate::builder()
                    .status(sh::WorkflowStatus::from(status.as_str()))
                    .build(),
            )
            .send()
            .await;
        match answer {
            Ok(a) => {
                out.workflows += a.processed_findings().len();
                for u in a.unprocessed_findings() {
                    out.warnings.push(format!(
                        "securityhub:BatchUpdateFindings in {region}: {}: {}: {}",
                        u.finding_identifier().and_then(|i| i.id()).unwrap_or("?"),
                        u.error_code().unwrap_or("?"),
                        u.error_message().unwrap_or("")
                    ));
                }
            }
            Err(e) => out.warnings.push(format!(
                "securityhub:BatchUpdateFindings in {region} ({} findings to {}): {}",
                chunk.len(),
                status.as_str(),
                describe(&e)
            )),
        }
    }
}
