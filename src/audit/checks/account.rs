//! Account-wide settings: the password policy, the security services in each region, the
//! trail, and the CIS items only a person can check.

use super::Eval;
use crate::audit::catalog::CheckId;
use crate::audit::catalog::MANUAL;
use crate::audit::finding::Status;
use crate::audit::inventory::{ExternalAccess, Inventory, PasswordPolicy, RegionalInventory};

pub fn evaluate(ev: &mut Eval, inv: &Inventory) {
    let arn = ev.root_arn();
    match &inv.password_policy {
        None => {}
        Some(Err(e)) => ev.error(&[CheckId::PasswordPolicy], &arn, e),
        Some(Ok(policy)) => password_policy(ev, policy.as_ref(), &arn),
    }
    for region in &inv.regions {
        regional(ev, region, &arn);
    }
    if let Some(Err(e)) = &inv.enabled_regions {
        let audited: Vec<&str> = inv.regions.iter().map(|r| r.region.as_str()).collect();
        for &check in crate::audit::trigger::REGION_CHECKS {
            ev.push(
                check,
                Status::Error,
                &arn,
                format!(
                    "{e}: the other enabled regions are unknown, only {} was audited",
                    audited.join(", ")
                ),
            );
        }
    }
    match &inv.trails {
        None => {}
        Some(Err(e)) => ev.error(&[CheckId::CloudtrailMultiRegion], &arn, e),
        Some(Ok(trails)) => {
            let good: Vec<&str> = trails
                .iter()
                .filter(|t| t.multi_region && t.log_file_validation && t.logging == Ok(true))
                .map(|t| t.arn.as_str())
                .collect();
            let reason = if let Some(t) = good.first() {
                format!("{t} is multi-region, logging, with log file validation")
            } else if trails.is_empty() {
                "no trail".into()
            } else {
                let describe: Vec<String> = trails
                    .iter()
                    .map(|t| {
                        let logging = match &t.logging {
                            Ok(l) => l.to_string(),
                            Err(e) => format!("unknown ({e})"),
                        };
                        format!(
                            "{} (multi-region {}, log file validation {}, logging {logging})",
                            t.arn, t.multi_region, t.log_file_validation
                        )
                    })
                    .collect();
                describe.join("; ")
            };
            ev.verdict(
                CheckId::CloudtrailMultiRegion,
                good.is_empty(),
                &arn,
                reason,
            );
        }
    }
    if inv.authorization.is_some() {
        for &check in MANUAL {
            ev.push(
                check,
                Status::Manual,
                &arn,
                "no API decides this; check it by hand".into(),
            );
        }
    }
}

fn password_policy(ev: &mut Eval, policy: Option<&PasswordPolicy>, arn: &str) {
    let want = ev.settings.password_policy.clone();
    let mut requirement = |name: &str, ok: Option<bool>, have: String, wanted: String| {
        let (failed, reason) = match ok {
            None => (
                true,
                format!("the account has no password policy (wanted {wanted})"),
            ),
            Some(ok) => (!ok, format!("{have} (wanted {wanted})")),
        };
        ev.verdict(CheckId::PasswordPolicy, failed, arn, reason)
            .requirement = Some(name.to_string());
    };
    let num = |v: Option<i32>| v.map_or("not set".to_string(), |v| v.to_string());
    let p = policy;
    requirement(
        "minimum-length",
        p.map(|p| p.min_length.unwrap_or(0) >= want.min_length),
        format!("minimum length {}", num(p.and_then(|p| p.min_length))),
        format!("≥ {}", want.min_length),
    );
    requirement(
        "reuse-prevention",
        p.map(|p| p.reuse_prevention.unwrap_or(0) >= want.reuse_prevention),
        format!(
            "remembers {} passwords",
            num(p.and_then(|p| p.reuse_prevention))
        ),
        format!("≥ {}", want.reuse_prevention),
    );
    for (name, wanted, have) in [
        (
            "require-uppercase",
            want.require_uppercase,
            p.map(|p| p.require_uppercase),
        ),
        (
            "require-lowercase",
            want.require_lowercase,
            p.map(|p| p.require_lowercase),
        ),
        (
            "require-numbers",
            want.require_numbers,
            p.map(|p| p.require_numbers),
        ),
        (
            "require-symbols",
            want.require_symbols,
            p.map(|p| p.require_symbols),
        ),
    ] {
        if wanted {
            requirement(
                name,
                have,
                format!("{name} is {}", have.unwrap_or(false)),
                "true".into(),
            );
        }
    }
    if want.max_age_days > 0 {
        let age = p.and_then(|p| p.max_age_days).filter(|d| *d > 0);
        requirement(
            "max-age",
            p.map(|_| age.is_some_and(|d| d <= want.max_age_days)),
            format!("passwords expire after {} days", num(age)),
            format!("≤ {}", want.max_age_days),
        );
    }
}

fn regional(ev: &mut Eval, r: &RegionalInventory, arn: &str) {
    let region = r.region.as_str();
    match &r.security_hub {
        None => {}
        Some(Err(e)) => ev.regional_error(CheckId::SecurityHubEnabled, arn, region, e),
        Some(Ok(on)) => {
            let reason = if *on {
                "Security Hub is enabled"
            } else {
                "Security Hub is not enabled"
            };
            ev.verdict(CheckId::SecurityHubEnabled, !on, arn, reason.into())
                .region = Some(region.into());
        }
    }
    match &r.guardduty {
        None => {}
        Some(Err(e)) => ev.regional_error(CheckId::GuarddutyEnabled, arn, region, e),
        Some(Ok(detectors)) => {
            let enabled = detectors.iter().any(|(_, s)| s == "ENABLED");
            let reason = if detectors.is_empty() {
                "no GuardDuty detector".to_string()
            } else {
                let d: Vec<String> = detectors
                    .iter()
                    .map(|(id, s)| format!("{id} {s}"))
                    .collect();
                format!("detectors: {}", d.join(", "))
            };
            ev.verdict(CheckId::GuarddutyEnabled, !enabled, arn, reason)
                .region = Some(region.into());
        }
    }
    match &r.config {
        None => {}
        Some(Err(e)) => ev.regional_error(CheckId::ConfigRecorderEnabled, arn, region, e),
        Some(Ok(c)) => {
            let good = c.recorders.iter().any(|r| r.all_supported && r.recording);
            let reason = if c.recorders.is_empty() {
                "no configuration recorder".to_string()
            } else {
                let d: Vec<String> = c
                    .recorders
                    .iter()
                    .map(|r| {
                        format!(
                            "{} (all resource types {}, recording {})",
                            r.name, r.all_supported, r.recording
                        )
                    })
                    .collect();
                format!(
                    "recorders: {}; {} delivery channel(s)",
                    d.join(", "),
                    c.delivery_channels
                )
            };
            ev.verdict(
                CheckId::ConfigRecorderEnabled,
                !good || c.delivery_channels == 0,
                arn,
                reason,
            )
            .region = Some(region.into());
        }
    }
    match &r.access_analyzers {
        None => {}
        Some(Err(e)) => ev.regional_error(CheckId::AccessAnalyzerEnabled, arn, region, e),
        Some(Ok(analyzers)) => {
            let reason = if analyzers.is_empty() {
                "no active analyzer".to_string()
            } else {
                let d: Vec<String> = analyzers
                    .iter()
                    .map(|(n, t)| format!("{n} ({t})"))
                    .collect();
                format!("active analyzers: {}", d.join(", "))
            };
            ev.verdict(
                CheckId::AccessAnalyzerEnabled,
                analyzers.is_empty(),
                arn,
                reason,
            )
            .region = Some(region.into());
        }
    }
    match &r.external_access {
        None => {}
        Some(Err(e)) => ev.regional_error(CheckId::AccessAnalyzerFindings, arn, region, e),
        Some(Ok(findings)) => external_access(ev, r, findings, arn, region),
    }
}

/// Each active external access finding fails on its resource; with an external access
/// analyzer and none, the region passes. Without such an analyzer there is nothing to judge
/// (access-analyzer-enabled fails instead).
fn external_access(
    ev: &mut Eval,
    r: &RegionalInventory,
    findings: &[ExternalAccess],
    arn: &str,
    region: &str,
) {
    let analyzers: Vec<&str> = match &r.access_analyzers {
        Some(Ok(a)) => a
            .iter()
            .filter(|(_, t)| t == "ACCOUNT" || t == "ORGANIZATION")
            .map(|(n, _)| n.as_str())
            .collect(),
        _ => Vec::new(),
    };
    if findings.is_empty() {
        if !analyzers.is_empty() {
            ev.push(
                CheckId::AccessAnalyzerFindings,
                Status::Pass,
                arn,
                format!(
                    "no active external access finding ({})",
                    analyzers.join(", ")
                ),
            )
            .region = Some(region.into());
        }
        return;
    }
    for f in findings {
        let who = if f.principals.is_empty() {
            "someone outside the zone of trust".to_string()
        } else {
            f.principals.join(", ")
        };
        let mut reason = format!(
            "{} {who} can {}",
            if f.public { "public:" } else { "external:" },
            if f.actions.is_empty() {
                "reach it".to_string()
            } else {
                f.actions.join(", ")
            }
        );
        if !f.conditions.is_empty() {
            reason.push_str(&format!(" when {}", f.conditions.join(", ")));
        }
        reason.push_str(&format!(
            " ({} finding {} of analyzer {})",
            f.resource_type, f.id, f.analyzer
        ));
        ev.push(
            CheckId::AccessAnalyzerFindings,
            Status::Fail,
            &f.resource,
            reason,
        )
        .region = Some(region.into());
    }
}
