//! The root user: keys, certificates, MFA, password age, recent use. The credential report's
//! `<root_account>` row answers most; GetAccountSummary stands in when the report has none.

use crate::audit::catalog::CheckId;
use chrono::{DateTime, Utc};

use super::{ago, Eval};
use crate::audit::credential_report::UserRow;
use crate::audit::finding::Status;
use crate::audit::inventory::Inventory;

const FROM_REPORT: &[CheckId] = &[
    CheckId::RootAccessKeys,
    CheckId::RootAccessKeyRotation,
    CheckId::RootSigningCertificates,
    CheckId::RootCertificateRotation,
    CheckId::RootMfa,
    CheckId::RootPasswordRotation,
    CheckId::RootRecentUse,
];

pub fn evaluate(ev: &mut Eval, inv: &Inventory) {
    let arn = ev.root_arn();
    match &inv.credential_report {
        None => {}
        Some(Err(e)) => ev.error(FROM_REPORT, &arn, e),
        Some(Ok(report)) => match &report.root {
            Some(root) => from_row(ev, root, &arn),
            None => from_summary(ev, inv, &arn),
        },
    }
    match &inv.root_virtual_mfa {
        None => {}
        Some(Err(e)) => ev.error(&[CheckId::RootHardwareMfa], &arn, e),
        Some(Ok(virtual_mfa)) => {
            let mfa = root_mfa(inv);
            let (failed, reason) = match (mfa, virtual_mfa) {
                (_, true) => (true, "the root user's MFA is a virtual device".to_string()),
                (Some(false), false) => (true, "the root user has no MFA device".into()),
                (Some(true), false) => (
                    false,
                    "MFA is on and no virtual device is assigned to root".into(),
                ),
                (None, false) => (false, "no virtual MFA device is assigned to root".into()),
            };
            ev.verdict(CheckId::RootHardwareMfa, failed, &arn, reason);
        }
    }
}

fn root_mfa(inv: &Inventory) -> Option<bool> {
    if let Some(Ok(report)) = &inv.credential_report {
        if let Some(root) = &report.root {
            return Some(root.mfa_active);
        }
    }
    match &inv.account_summary {
        Some(Ok(s)) => Some(s.mfa_enabled),
        _ => None,
    }
}

fn from_row(ev: &mut Eval, root: &UserRow, arn: &str) {
    let rotation = ev.settings.rotation_days;
    let active: Vec<_> = root.active_keys().collect();
    ev.verdict(
        CheckId::RootAccessKeys,
        !active.is_empty(),
        arn,
        match active.len() {
            0 => "the root user has no active access key".into(),
            n => format!("the root user has {n} active access key(s)"),
        },
    );
    let keys = active
        .iter()
        .map(|(n, k)| (format!("key {n}"), k.last_rotated));
    rotation_verdict(ev, CheckId::RootAccessKeyRotation, arn, "key", keys);
    let certs: Vec<_> = root
        .certs
        .iter()
        .enumerate()
        .filter(|(_, c)| c.active)
        .collect();
    ev.verdict(
        CheckId::RootSigningCertificates,
        !certs.is_empty(),
        arn,
        format!(
            "the root user has {} active signing certificate(s)",
            certs.len()
        ),
    );
    let certs = certs
        .iter()
        .map(|(i, c)| (format!("certificate {}", i + 1), c.last_rotated));
    rotation_verdict(
        ev,
        CheckId::RootCertificateRotation,
        arn,
        "certificate",
        certs,
    );
    ev.verdict(
        CheckId::RootMfa,
        !root.mfa_active,
        arn,
        format!("mfa_active is {}", root.mfa_active),
    );
    match root.password_last_changed {
        Some(t) => {
            let age = ev.days_since(t);
            ev.verdict(
                CheckId::RootPasswordRotation,
                age > rotation,
                arn,
                format!(
                    "password last changed {} (threshold {rotation} days)",
                    ago(ev, Some(t))
                ),
            );
        }
        None => {
            ev.push(
                CheckId::RootPasswordRotation,
                Status::Manual,
                arn,
                "the credential report does not say when the root password changed (not_supported): check it in the account's security credentials".into(),
            );
        }
    }
    let window = ev.settings.root_recent_use_days;
    let last = root.last_activity();
    let recent = last.is_some_and(|t| ev.days_since(t) < window);
    ev.verdict(
        CheckId::RootRecentUse,
        recent,
        arn,
        format!("root last used {} (window {window} days)", ago(ev, last)),
    );
}

/// A credential report without a root row (some emulators): the account summary still
/// answers keys, certificates and MFA; the age checks cannot be decided.
fn from_summary(ev: &mut Eval, inv: &Inventory, arn: &str) {
    let missing = "the credential report has no <root_account> row, so root key, certificate and password ages and root use are unknown";
    for check in [
        CheckId::RootAccessKeyRotation,
        CheckId::RootCertificateRotation,
        CheckId::RootPasswordRotation,
        CheckId::RootRecentUse,
    ] {
        ev.push(check, Status::Error, arn, missing.into());
    }
    match &inv.account_summary {
        None => {}
        Some(Err(e)) => ev.error(
            &[
                CheckId::RootAccessKeys,
                CheckId::RootSigningCertificates,
                CheckId::RootMfa,
            ],
            arn,
            e,
        ),
        Some(Ok(s)) => {
            let summary = "GetAccountSummary";
            ev.verdict(
                CheckId::RootAccessKeys,
                s.access_keys_present,
                arn,
                format!(
                    "{summary}: AccountAccessKeysPresent is {}",
                    s.access_keys_present as u8
                ),
            );
            ev.verdict(
                CheckId::RootSigningCertificates,
                s.signing_certificates_present,
                arn,
                format!(
                    "{summary}: AccountSigningCertificatesPresent is {}",
                    s.signing_certificates_present as u8
                ),
            );
            ev.verdict(
                CheckId::RootMfa,
                !s.mfa_enabled,
                arn,
                format!("{summary}: AccountMFAEnabled is {}", s.mfa_enabled as u8),
            );
        }
    }
}

/// FAIL when any of the root user's active credentials (named, with when each was last
/// rotated) was last rotated more than `audit.rotation_days` ago; one without a date is not
/// judged here.
fn rotation_verdict(
    ev: &mut Eval,
    check: CheckId,
    arn: &str,
    what: &str,
    credentials: impl Iterator<Item = (String, Option<DateTime<Utc>>)>,
) {
    let rotation = ev.settings.rotation_days;
    let old: Vec<String> = credentials
        .filter_map(|(name, t)| t.map(|t| (name, t)))
        .filter(|(_, t)| ev.days_since(*t) > rotation)
        .map(|(name, t)| format!("{name} rotated {}", ago(ev, Some(t))))
        .collect();
    ev.verdict(
        check,
        !old.is_empty(),
        arn,
        if old.is_empty() {
            format!("no active root {what} older than {rotation} days")
        } else {
            format!("{} (threshold {rotation} days)", old.join(", "))
        },
    );
}
