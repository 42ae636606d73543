//! `trailwatch audit`: the IAM posture of one or more accounts, now.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use clap::Args;
use futures_util::StreamExt;

use super::exit;
use trailwatch::audit::catalog::{self, CheckId};
use trailwatch::audit::compliance::Benchmark;
use trailwatch::audit::output::{self, Format};
use trailwatch::audit::permissions::{unused, usage::Usage};
use trailwatch::audit::{self, collect, AuditConfig, Finding, Severity, Status};
use trailwatch::config::Config;

/// Exit status when an unmuted failure at or above --fail-on was found.
const FAILED_CHECKS: u8 = 3;

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Configuration file (TOML): its [audit] table sets thresholds, regions, accounts and
    /// mutes; the rest of the file is not needed.
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Output format [default: table on a terminal, json otherwise]; html writes one
    /// self-contained page.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Print, instead of the findings, the benchmark's requirements trailwatch decides with
    /// PASS, FAIL, MANUAL or ERROR, in that version's numbering (table, json, csv; html adds
    /// it to the page).
    #[arg(long, value_enum, value_name = "BENCHMARK")]
    compliance: Option<Benchmark>,
    /// Run only these checks (comma-separated ids; see --list-checks).
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    checks: Vec<CheckId>,
    /// Leave out these checks (comma-separated ids).
    #[arg(long = "exclude-checks", value_delimiter = ',', value_name = "IDS")]
    exclude_checks: Vec<CheckId>,
    /// Exit 3 when an unmuted FAIL has at least this severity.
    #[arg(long = "fail-on", value_name = "SEVERITY", default_value = "low")]
    fail_on: Severity,
    /// Evaluate the credential-report checks on this report offline (the CSV, its base64,
    /// or the JSON `aws iam get-credential-report` prints), without calling AWS.
    #[arg(long = "credential-report", value_name = "FILE")]
    credential_report: Option<PathBuf>,
    /// Evaluate as of this time (RFC 3339), so age-based checks are reproducible.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    now: Option<DateTime<Utc>>,
    /// Audit the account of this role, assumed with the default credentials (repeatable;
    /// replaces [[audit.accounts]]).
    #[arg(long = "role-arn", value_name = "ARN")]
    role_arns: Vec<String>,
    /// Audit every active account of the organization through this role (the name, assumed
    /// in each; replaces audit.organization_role). Run from the management account or a
    /// delegated administrator.
    #[arg(long = "organization-role", value_name = "NAME")]
    organization_role: Option<String>,
    /// Regions for the regional checks (repeatable; replaces audit.regions).
    #[arg(long = "region", value_name = "REGION")]
    regions: Vec<String>,
    /// Import the findings into Security Hub (BatchImportFindings): failures active, muted
    /// ones suppressed, and trailwatch's earlier findings that now pass or are gone archived.
    /// Also `[audit] security_hub = true`.
    #[arg(long = "security-hub")]
    security_hub: bool,
    /// Print every check id with its severity and CIS section, and exit.
    #[arg(long = "list-checks")]
    list_checks: bool,
    /// What each principal used (written by `trailwatch replay --usage FILE`, or the
    /// daemon's state file): the unused-permissions check compares it with what is granted
    /// (not with --credential-report, which holds no policies).
    #[arg(long, value_name = "FILE")]
    usage: Option<PathBuf>,
    /// Print a least-privilege policy for this user or role ARN, made of what --usage FILE
    /// records it using, and exit (AWS is not called).
    #[arg(long = "suggest-policy", value_name = "ARN", requires = "usage")]
    suggest_policy: Option<String>,
}

impl AuditArgs {
    /// `--checks` and `--exclude-checks`: what is reported and imported.
    fn selects(&self, f: &Finding) -> bool {
        (self.checks.is_empty() || self.checks.contains(&f.check))
            && !self.exclude_checks.contains(&f.check)
    }
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{s:?} is not an RFC 3339 time such as 2026-11-25T12:00:00Z ({e})"))
}

fn settings(args: &AuditArgs) -> Result<AuditConfig, super::Error> {
    let mut settings = match &args.config {
        Some(path) => Config::load(path)?.audit,
        None => AuditConfig::default(),
    };
    if !args.regions.is_empty() {
        settings.regions = args.regions.clone();
    }
    settings.security_hub |= args.security_hub;
    if args.organization_role.is_some() {
        settings
            .organization_role
            .clone_from(&args.organization_role);
    }
    settings.validate()?;
    Ok(settings)
}

pub fn run(args: AuditArgs) -> u8 {
    if args.list_checks {
        for c in catalog::CHECKS {
            println!(
                "{:<36} {:<14} {:<10} {}",
                c.id,
                c.severity,
                c.cis.join(","),
                c.title
            );
        }
        return exit::OK;
    }
    let usage = match args.usage.as_deref().map(Usage::read).transpose() {
        Ok(u) => u.map(Arc::new),
        Err(e) => {
            say!("error: --usage {e}");
            return exit::USAGE;
        }
    };
    if let (Some(arn), Some(usage)) = (&args.suggest_policy, &usage) {
        return suggest_policy(arn, usage, args.usage.as_deref().unwrap_or(Path::new("-")));
    }
    let settings = match settings(&args) {
        Ok(s) => s,
        Err(e) => {
            say!("error: {e}");
            return exit::USAGE;
        }
    };
    let now = args.now.unwrap_or_else(Utc::now);
    if settings.security_hub && args.credential_report.is_some() {
        say!("error: --security-hub imports an account's audit; a --credential-report file is judged offline");
        return exit::USAGE;
    }
    let (mut findings, failed, home) = match &args.credential_report {
        Some(path) => match std::fs::read(path) {
            Err(e) => {
                say!("error: {}: cannot read: {e}", path.display());
                return exit::USAGE;
            }
            Ok(bytes) => match audit::credential_report::CredentialReport::parse_any(&bytes) {
                Ok(report) => (
                    audit::audit_report(report, &settings, now),
                    false,
                    settings
                        .regions
                        .first()
                        .cloned()
                        .unwrap_or_else(|| "us-east-1".into()),
                ),
                Err(e) => {
                    say!("error: {}: {e}", path.display());
                    return exit::USAGE;
                }
            },
        },
        None => online(&args, &settings, usage, now),
    };
    findings.retain(|f| args.selects(f));
    findings.sort_by(Finding::report_order);
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Json
    });
    if args.compliance.is_some() && matches!(format, Format::Ocsf | Format::Asff) {
        say!("error: --compliance prints a summary as table, json, csv or html, not {format:?}");
        return exit::USAGE;
    }
    let compliance = args
        .compliance
        .map(|b| audit::compliance::summarize(&findings, b));
    let mut out = std::io::stdout().lock();
    if let Err(e) = output::write(
        &mut out,
        &findings,
        format,
        now,
        &home,
        compliance.as_deref(),
    ) {
        say!("error: writing the report: {e}");
        return exit::INPUT_FAILED;
    }
    if failed {
        exit::INPUT_FAILED
    } else if findings
        .iter()
        .any(|f| f.status == Status::Fail && f.severity >= args.fail_on)
    {
        FAILED_CHECKS
    } else {
        exit::OK
    }
}

/// `--suggest-policy`: the policy of what `arn` used, on stdout.
fn suggest_policy(arn: &str, usage: &Usage, file: &Path) -> u8 {
    let Some(used) = usage.of_principal(arn) else {
        say!(
            "error: {}: no use by {arn} recorded (the record holds {} principals, {} to {})",
            file.display(),
            usage.principals.len(),
            usage.since.as_deref().unwrap_or("-"),
            usage.until.as_deref().unwrap_or("-")
        );
        return exit::USAGE;
    };
    let policy = unused::suggest(used);
    println!(
        "{}",
        serde_json::to_string_pretty(&policy).expect("a policy serializes")
    );
    say!(
        "{} actions {arn} used from {} to {}",
        used.actions.len(),
        usage.since.as_deref().unwrap_or("-"),
        usage.until.as_deref().unwrap_or("-")
    );
    exit::OK
}

/// Imports one account's findings of the selected checks into Security Hub (the others'
/// findings in the hub stand); false when some could not be imported.
async fn security_hub(
    args: &AuditArgs,
    account: &collect::Account,
    settings: &AuditConfig,
    findings: &[Finding],
    now: DateTime<Utc>,
) -> bool {
    let home = collect::Account::home(&account.sdk, settings);
    let selected: Vec<Finding> = findings
        .iter()
        .filter(|f| args.selects(f))
        .cloned()
        .collect();
    let imported = audit::security_hub::import::import(
        &account.sdk,
        &account.id,
        &home,
        &selected,
        &|f| args.selects(f),
        now,
    )
    .await;
    say!("security hub: account {}: {imported}", account.id);
    for failure in &imported.failures {
        say!("error: {failure}");
    }
    for warning in &imported.warnings {
        say!("warning: {warning}");
    }
    imported.failures.is_empty()
}

/// Audits every account (and imports its findings into Security Hub when asked); the bool
/// says some account could not be reached or some import failed; the string is the home
/// region, where account-wide findings are filed.
fn online(
    args: &AuditArgs,
    settings: &AuditConfig,
    usage: Option<Arc<Usage>>,
    now: DateTime<Utc>,
) -> (Vec<Finding>, bool, String) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let sdk = match trailwatch::config::aws::load().await {
            Ok(sdk) => sdk,
            Err(e) => {
                say!("error: {e}");
                return (Vec::new(), true, String::new());
            }
        };
        let roles: Vec<(String, Option<String>)> =
            args.role_arns.iter().map(|r| (r.clone(), None)).collect();
        let mut settings = settings.clone();
        let targets = match collect::organization::targets(&sdk, &settings, &roles).await {
            Ok(t) => t,
            Err(e) => {
                say!("error: {e}");
                return (Vec::new(), true, String::new());
            }
        };
        // The organization's own accounts are trusted by role-trust-cross-account.
        if let Some(ids) = &targets.organization {
            settings.trusted_accounts.extend(ids.iter().cloned());
        }
        let settings = &settings;
        let in_organization = targets.organization.is_some();
        // `audit.concurrency` accounts at a time.
        let results: Vec<(Vec<Finding>, bool)> = futures_util::stream::iter(targets.targets)
            .map(|target| {
                let usage = usage.clone();
                async move {
                    let mut findings = Vec::new();
                    let account = match target.account {
                        Ok(a) => a,
                        Err(e) => {
                            say!("error: {}: {e}", target.label);
                            if let (true, Some(id)) = (in_organization, &target.id) {
                                let why = e.to_string();
                                findings.push(audit::account_reached(
                                    id,
                                    Some(&why),
                                    settings,
                                    now,
                                ));
                            }
                            return (findings, true);
                        }
                    };
                    if in_organization {
                        findings.push(audit::account_reached(&account.id, None, settings, now));
                    }
                    let report = audit::audit(&account, settings, usage.map(Ok), now).await;
                    let mut failed = false;
                    if settings.security_hub {
                        failed =
                            !security_hub(args, &account, settings, &report.findings, now).await;
                    }
                    findings.extend(report.findings);
                    (findings, failed)
                }
            })
            .buffer_unordered(settings.concurrency)
            .collect()
            .await;
        let mut findings = Vec::new();
        let mut failed = false;
        for (f, account_failed) in results {
            findings.extend(f);
            failed |= account_failed;
        }
        let home = collect::Account::home(&sdk, settings);
        (findings, failed, home)
    })
}
