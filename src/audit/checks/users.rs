//! IAM users from the credential report: MFA, keys, passwords and certificates, and use.

use crate::audit::catalog::CheckId;
use chrono::{DateTime, Utc};

use super::{ago, Eval};
use crate::audit::credential_report::UserRow;
use crate::audit::inventory::Inventory;

/// The checks of this family (a re-audit after an event replaces their findings).
pub const CHECKS: &[CheckId] = &[
    CheckId::UserUnused,
    CheckId::UserMfa,
    CheckId::AccessKeyRotation,
    CheckId::AccessKeyUnused,
    CheckId::AccessKeyInactive,
    CheckId::AccessKeyMultiple,
    CheckId::AccessKeyAtSetup,
    CheckId::ConsoleUnused,
    CheckId::UserSigningCertificateRotation,
];

pub fn evaluate(ev: &mut Eval, inv: &Inventory) {
    match &inv.credential_report {
        None => {}
        Some(Err(e)) => ev.error(CHECKS, &ev.root_arn(), e),
        Some(Ok(report)) => {
            for user in &report.users {
                evaluate_user(ev, user);
            }
        }
    }
}

/// Every user check on one credential report row (also used for a single user re-read after
/// a change, where the row is built from per-user calls).
pub fn evaluate_user(ev: &mut Eval, u: &UserRow) {
    let arn = u.arn.as_str();
    let unused = ev.settings.unused_days;
    let rotation = ev.settings.rotation_days;
    // Not used within the threshold: last use older, or never used and created (rotated)
    // before it, so a key or user created yesterday is not "unused".
    let stale = |ev: &Eval, last: Option<DateTime<Utc>>, since: Option<DateTime<Utc>>| match last {
        Some(t) => ev.days_since(t) > unused,
        None => since.is_some_and(|t| ev.days_since(t) > unused),
    };
    let password = u.password_enabled == Some(true);

    let last = u.last_activity();
    ev.verdict(
        CheckId::UserUnused,
        stale(ev, last, u.created),
        arn,
        format!(
            "last used {} (password or key), created {} (threshold {unused} days)",
            ago(ev, last),
            ago(ev, u.created)
        ),
    );
    ev.verdict(
        CheckId::UserMfa,
        password && !u.mfa_active,
        arn,
        if password {
            format!("console password enabled, mfa_active {}", u.mfa_active)
        } else {
            "no console password".into()
        },
    );
    let since_password = u.password_last_changed.or(u.created);
    ev.verdict(
        CheckId::ConsoleUnused,
        password && stale(ev, u.password_last_used, since_password),
        arn,
        if password {
            format!(
                "console password last used {} (threshold {unused} days)",
                ago(ev, u.password_last_used)
            )
        } else {
            "no console password".into()
        },
    );

    let active: Vec<_> = u.active_keys().collect();
    let describe = |keys: &[String], none: String| {
        if keys.is_empty() {
            none
        } else {
            keys.join(", ")
        }
    };
    let old: Vec<String> = active
        .iter()
        .filter(|(_, k)| k.last_rotated.is_some_and(|t| ev.days_since(t) > rotation))
        .map(|(n, k)| format!("key {n} created {}", ago(ev, k.last_rotated)))
        .collect();
    let failed = !old.is_empty();
    ev.verdict(
        CheckId::AccessKeyRotation,
        failed,
        arn,
        describe(&old, format!("no active key older than {rotation} days"))
            + &format!(" (threshold {rotation} days)"),
    );
    let idle: Vec<String> = active
        .iter()
        .filter(|(_, k)| stale(ev, k.last_used, k.last_rotated))
        .map(|(n, k)| format!("key {n} last used {}", ago(ev, k.last_used)))
        .collect();
    let failed = !idle.is_empty();
    ev.verdict(
        CheckId::AccessKeyUnused,
        failed,
        arn,
        describe(&idle, format!("every active key used within {unused} days"))
            + &format!(" (threshold {unused} days)"),
    );
    let inactive: Vec<String> = u
        .keys
        .iter()
        .enumerate()
        .filter(|(_, k)| k.exists() && !k.active)
        .map(|(i, k)| {
            format!(
                "key {} deactivated, created {}",
                i + 1,
                ago(ev, k.last_rotated)
            )
        })
        .collect();
    let failed = !inactive.is_empty();
    ev.verdict(
        CheckId::AccessKeyInactive,
        failed,
        arn,
        describe(&inactive, "no deactivated key".into()),
    );
    ev.verdict(
        CheckId::AccessKeyMultiple,
        active.len() > 1,
        arn,
        format!("{} active access key(s)", active.len()),
    );
    // CIS 1.11: a console user with an active key that was never used was most likely given
    // one at creation "just in case".
    let at_setup: Vec<String> = active
        .iter()
        .filter(|(_, k)| password && k.last_used.is_none())
        .map(|(n, k)| format!("key {n} created {} and never used", ago(ev, k.last_rotated)))
        .collect();
    let failed = !at_setup.is_empty();
    ev.verdict(
        CheckId::AccessKeyAtSetup,
        failed,
        arn,
        describe(
            &at_setup,
            "no never-used active key on a console user".into(),
        ),
    );
    let old_certs: Vec<String> = u
        .certs
        .iter()
        .enumerate()
        .filter(|(_, c)| c.active && c.last_rotated.is_some_and(|t| ev.days_since(t) > rotation))
        .map(|(i, c)| format!("certificate {} rotated {}", i + 1, ago(ev, c.last_rotated)))
        .collect();
    let failed = !old_certs.is_empty();
    ev.verdict(
        CheckId::UserSigningCertificateRotation,
        failed,
        arn,
        describe(
            &old_certs,
            format!("no active certificate older than {rotation} days"),
        ),
    );
}
