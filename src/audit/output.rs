//! Findings as a table for people, JSON lines, CSV, OCSF Compliance Findings, AWS Security
//! Finding Format documents or an HTML page; or a benchmark's summary by requirement.

use std::io::Write;

use serde_json::json;

use super::compliance::Requirement;
use super::finding::{Finding, Severity, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
    /// OCSF 1.1 Compliance Finding (class 2003), one JSON object per line.
    Ocsf,
    /// AWS Security Finding Format, one document per line: what `--security-hub` imports
    /// (FAIL and MUTED findings, and PASS as archived; MANUAL and ERROR have no document).
    Asff,
    /// One self-contained HTML page: counts, the benchmark summary, findings with filters.
    Html,
}

/// Writes findings (already in report order) in `format`.
/// `home` is the region account-wide findings are filed in (ASFF). With `compliance` (a
/// benchmark's summary), table, JSON and CSV print the summary instead of the findings, and
/// the HTML page carries both.
pub fn write(
    out: &mut dyn Write,
    findings: &[Finding],
    format: Format,
    now: chrono::DateTime<chrono::Utc>,
    home: &str,
    compliance: Option<&[Requirement]>,
) -> std::io::Result<()> {
    let now_ms = now.timestamp_millis();
    match (format, compliance) {
        (Format::Html, _) => return super::html::write(out, findings, compliance, now),
        (Format::Table, Some(reqs)) => return requirements_table(out, reqs),
        (Format::Json, Some(reqs)) => {
            for r in reqs {
                serde_json::to_writer(&mut *out, r)?;
                out.write_all(b"\n")?;
            }
            return Ok(());
        }
        (Format::Csv, Some(reqs)) => return requirements_csv(out, reqs),
        _ => {}
    }
    match format {
        Format::Html => unreachable!("written above"),
        Format::Table => table(out, findings),
        Format::Json => {
            for f in findings {
                serde_json::to_writer(&mut *out, f)?;
                out.write_all(b"\n")?;
            }
            Ok(())
        }
        Format::Csv => csv(out, findings),
        Format::Ocsf => {
            for f in findings {
                serde_json::to_writer(&mut *out, &ocsf(f, now_ms))?;
                out.write_all(b"\n")?;
            }
            Ok(())
        }
        Format::Asff => {
            let at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            for d in findings
                .iter()
                .filter_map(|f| super::security_hub::asff::document(f, home, &at, &at))
            {
                serde_json::to_writer(&mut *out, &d)?;
                out.write_all(b"\n")?;
            }
            Ok(())
        }
    }
}

/// A benchmark's requirements, one line each, then the counts per status.
fn requirements_table(out: &mut dyn Write, reqs: &[Requirement]) -> std::io::Result<()> {
    if let Some(r) = reqs.first() {
        writeln!(out, "{}", r.benchmark)?;
    }
    writeln!(
        out,
        "REQUIREMENT  STATUS  FAIL  MUTED  PASS  ERROR  MANUAL  CHECKS"
    )?;
    for r in reqs {
        writeln!(
            out,
            "{}{}{:>4}  {:>5}  {:>4}  {:>5}  {:>6}  {}",
            cell(&r.requirement, 12),
            cell(&r.status.to_string(), 7),
            r.fail,
            r.muted,
            r.pass,
            r.error,
            r.manual,
            r.checks.join(", ")
        )?;
    }
    let count = |s: Status| reqs.iter().filter(|r| r.status == s).count();
    writeln!(
        out,
        "\n{} requirements: {} FAIL, {} ERROR, {} MANUAL, {} PASS",
        reqs.len(),
        count(Status::Fail),
        count(Status::Error),
        count(Status::Manual),
        count(Status::Pass)
    )
}

fn requirements_csv(out: &mut dyn Write, reqs: &[Requirement]) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "benchmark",
        "requirement",
        "status",
        "checks",
        "fail",
        "muted",
        "pass",
        "error",
        "manual",
    ])?;
    for r in reqs {
        w.write_record([
            r.benchmark,
            &r.requirement,
            &r.status.to_string(),
            &r.checks.join(";"),
            &r.fail.to_string(),
            &r.muted.to_string(),
            &r.pass.to_string(),
            &r.error.to_string(),
            &r.manual.to_string(),
        ])?;
    }
    w.flush()
}

fn cell(s: &str, width: usize) -> String {
    if s.chars().count() > width {
        let cut: String = s.chars().take(width - 1).collect();
        format!("{cut}… ")
    } else {
        format!("{s:<width$} ")
    }
}

/// Everything but PASS, one line each, then the counts per status.
fn table(out: &mut dyn Write, findings: &[Finding]) -> std::io::Result<()> {
    writeln!(out, "STATUS  SEVERITY       CHECK                              RESOURCE                                         REASON")?;
    for f in findings.iter().filter(|f| f.status != Status::Pass) {
        let mut resource = f.resource.clone();
        if let Some(r) = &f.requirement {
            resource = format!("{resource} ({r})");
        }
        if let Some(r) = &f.region {
            resource = format!("{resource} [{r}]");
        }
        let mut reason = f.reason.clone();
        if let Some(m) = &f.muted {
            reason = format!("{reason} — muted: {m}");
        }
        writeln!(
            out,
            "{}{}{}{}{}",
            cell(&f.status.to_string(), 7),
            cell(&f.severity.to_string(), 14),
            cell(f.check.as_str(), 34),
            cell(&resource, 48),
            reason
        )?;
    }
    let count = |s: Status| findings.iter().filter(|f| f.status == s).count();
    writeln!(
        out,
        "\n{} findings: {} FAIL, {} ERROR, {} MANUAL, {} MUTED, {} PASS (PASS lines: --format json or csv)",
        findings.len(),
        count(Status::Fail),
        count(Status::Error),
        count(Status::Manual),
        count(Status::Muted),
        count(Status::Pass)
    )
}

fn csv(out: &mut dyn Write, findings: &[Finding]) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "check",
        "status",
        "severity",
        "resource",
        "requirement",
        "account",
        "region",
        "reason",
        "remediation",
        "cis",
        "muted",
    ])?;
    for f in findings {
        w.write_record([
            f.check.as_str(),
            &f.status.to_string(),
            &f.severity.to_string(),
            &f.resource,
            f.requirement.as_deref().unwrap_or(""),
            &f.account,
            f.region.as_deref().unwrap_or(""),
            &f.reason,
            &f.remediation,
            &f.cis.join(";"),
            f.muted.as_deref().unwrap_or(""),
        ])?;
    }
    w.flush()
}

fn severity_id(s: Severity) -> u8 {
    match s {
        Severity::Informational => 1,
        Severity::Low => 2,
        Severity::Medium => 3,
        Severity::High => 4,
        Severity::Critical => 5,
    }
}

/// The resource type from an ARN (`user`, `role`, `root`, `listener`, ...).
fn resource_type(arn: &str) -> &str {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or("");
    resource.split('/').next().unwrap_or(resource)
}

/// One finding as an OCSF 1.1 Compliance Finding (class_uid 2003).
pub fn ocsf(f: &Finding, now_ms: i64) -> serde_json::Value {
    let (compliance_status, compliance_status_id) = match f.status {
        Status::Pass => ("Pass", 1),
        Status::Fail | Status::Muted => ("Fail", 3),
        Status::Manual => ("Manual", 99),
        Status::Error => ("Unknown", 0),
    };
    let (status, status_id) = match f.status {
        Status::Muted => ("Suppressed", 3),
        _ => ("New", 1),
    };
    let uid = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("trailwatch-posture\n{}\n{}", f.account, f.key()).as_bytes(),
    );
    let severity = f.severity.to_string();
    let mut severity_name = severity.clone();
    severity_name[..1].make_ascii_uppercase();
    json!({
        "class_uid": 2003,
        "class_name": "Compliance Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": 1,
        "activity_name": "Create",
        "type_uid": 200301,
        "type_name": "Compliance Finding: Create",
        "time": now_ms,
        "severity_id": severity_id(f.severity),
        "severity": severity_name,
        "status_id": status_id,
        "status": status,
        "status_detail": f.muted,
        "message": f.reason,
        "metadata": {
            "version": "1.1.0",
            "product": {"name": "trailwatch", "vendor_name": "trailwatch", "version": env!("CARGO_PKG_VERSION")},
        },
        "finding_info": {"uid": uid.to_string(), "title": f.title, "desc": f.reason, "types": [f.check]},
        "compliance": {
            "control": f.check,
            "standards": if f.cis.is_empty() { vec![] } else { vec!["CIS AWS Foundations Benchmark v3.0.0"] },
            "requirements": f.cis,
            "status": compliance_status,
            "status_id": compliance_status_id,
        },
        "resources": [{
            "uid": f.resource,
            "type": resource_type(&f.resource),
            "region": f.region,
            "cloud_partition": f.resource.split(':').nth(1).unwrap_or("aws"),
        }],
        "cloud": {"provider": "AWS", "account": {"uid": f.account, "type": "AWS Account", "type_id": 10}, "region": f.region},
        "remediation": {"desc": f.remediation},
        "unmapped": {"requirement": f.requirement, "trailwatch_status": f.status},
    })
}
