//! Users, groups, roles and customer policies from GetAccountAuthorizationDetails: who holds
//! full administrative rights, where permissions come from, unused roles, empty groups, and
//! services allowed but never used.

use crate::audit::catalog::CheckId;
use std::collections::HashMap;

use super::{ago, Eval};
use crate::audit::finding::Status;
use crate::audit::inventory::{Authorization, Inventory, ServiceActivity};
use crate::audit::permissions::escalation::Analysis;
use crate::audit::permissions::Kind;
use crate::audit::policy::{allows_everything, CLOUDSHELL_FULL_ACCESS, SUPPORT_ACCESS};

/// The checks of this family (a re-audit after an event replaces their findings).
pub const CHECKS: &[CheckId] = &[
    CheckId::AdminsMinimum,
    CheckId::AdminsMaximum,
    CheckId::UserInlinePolicies,
    CheckId::RoleUnused,
    CheckId::RoleInlinePolicies,
    CheckId::GroupEmpty,
    CheckId::FullAdminPolicies,
    CheckId::SupportRole,
    CheckId::CloudshellFullAccess,
];

pub fn evaluate(ev: &mut Eval, inv: &Inventory, analysis: Option<&Analysis>) {
    match &inv.authorization {
        None => {}
        Some(Err(e)) => ev.error(CHECKS, &ev.root_arn(), e),
        Some(Ok(auth)) => {
            if let Some(analysis) = analysis {
                admins(ev, analysis);
            }
            users(ev, auth);
            roles(ev, auth);
            groups(ev, auth);
            policies(ev, auth);
        }
    }
    match &inv.service_activity {
        None => {}
        Some(Err(e)) => ev.error(
            &[
                CheckId::UserServiceInactivity,
                CheckId::RoleServiceInactivity,
            ],
            &ev.root_arn(),
            e,
        ),
        Some(Ok(activity)) => service_inactivity(ev, activity),
    }
}

/// Names of the IAM users with full administrative rights (unconditional `*` on `*`, from
/// any source: AdministratorAccess, a customer or inline policy, a group), as the permissions
/// evaluator decides it; sorted.
fn admin_users(analysis: &Analysis) -> Vec<String> {
    let mut names: Vec<String> = analysis
        .principals
        .all
        .iter()
        .filter(|p| p.kind == Kind::User && analysis.is_admin(&p.arn))
        .map(|p| p.name.clone())
        .collect();
    names.sort();
    names
}

fn admins(ev: &mut Eval, analysis: &Analysis) {
    let admins = admin_users(analysis);
    let (min, max) = (ev.settings.min_admins, ev.settings.max_admins);
    let who = if admins.is_empty() {
        "none".to_string()
    } else {
        admins.join(", ")
    };
    let arn = ev.root_arn();
    ev.verdict(
        CheckId::AdminsMinimum,
        admins.len() < min,
        &arn,
        format!(
            "{} IAM user(s) with full administrative rights (minimum {min}): {who}",
            admins.len()
        ),
    );
    ev.verdict(
        CheckId::AdminsMaximum,
        admins.len() > max,
        &arn,
        format!(
            "{} IAM user(s) with full administrative rights (maximum {max}): {who}",
            admins.len()
        ),
    );
}

fn users(ev: &mut Eval, auth: &Authorization) {
    for u in &auth.users {
        let mut direct: Vec<String> = u
            .inline
            .iter()
            .map(|p| format!("inline {}", p.name))
            .collect();
        direct.extend(
            u.attached
                .iter()
                .map(|a| format!("attached {}", a.rsplit('/').next().unwrap_or(a))),
        );
        let reason = if direct.is_empty() {
            "no inline or directly attached policy".to_string()
        } else {
            direct.join(", ")
        };
        ev.verdict(
            CheckId::UserInlinePolicies,
            !direct.is_empty(),
            &u.arn,
            reason,
        );
    }
}

fn roles(ev: &mut Eval, auth: &Authorization) {
    let threshold = ev.settings.role_unused_days;
    for r in &auth.roles {
        if r.is_service_linked() {
            continue;
        }
        let unused = match r.last_used {
            Some(t) => ev.days_since(t) > threshold,
            None => r.created.is_some_and(|t| ev.days_since(t) > threshold),
        };
        ev.verdict(
            CheckId::RoleUnused,
            unused,
            &r.arn,
            format!(
                "last used {}, created {} (threshold {threshold} days)",
                ago(ev, r.last_used),
                ago(ev, r.created)
            ),
        );
        let names: Vec<&str> = r.inline.iter().map(|p| p.name.as_str()).collect();
        ev.verdict(
            CheckId::RoleInlinePolicies,
            !names.is_empty(),
            &r.arn,
            if names.is_empty() {
                "no inline policy".into()
            } else {
                format!("inline policies: {}", names.join(", "))
            },
        );
    }
}

fn groups(ev: &mut Eval, auth: &Authorization) {
    let mut members: HashMap<&str, usize> = HashMap::new();
    for u in &auth.users {
        for g in &u.groups {
            *members.entry(g.as_str()).or_default() += 1;
        }
    }
    for g in &auth.groups {
        let n = members.get(g.name.as_str()).copied().unwrap_or(0);
        ev.verdict(
            CheckId::GroupEmpty,
            n == 0,
            &g.arn,
            format!("{n} member(s)"),
        );
    }
}

fn policies(ev: &mut Eval, auth: &Authorization) {
    for p in &auth.policies {
        let everything = p.default_document.as_deref().is_some_and(allows_everything);
        ev.verdict(
            CheckId::FullAdminPolicies,
            everything && p.attachment_count > 0,
            &p.arn,
            format!(
                "{} * on *, attached {} time(s)",
                if everything {
                    "allows"
                } else {
                    "does not allow"
                },
                p.attachment_count
            ),
        );
    }
    let holders = |arn: &str| -> Vec<String> {
        let users = auth
            .users
            .iter()
            .filter(|u| u.attached.iter().any(|a| a == arn))
            .map(|u| u.arn.clone());
        let groups = auth
            .groups
            .iter()
            .filter(|g| g.attached.iter().any(|a| a == arn))
            .map(|g| g.arn.clone());
        let roles = auth
            .roles
            .iter()
            .filter(|r| r.attached.iter().any(|a| a == arn))
            .map(|r| r.arn.clone());
        users.chain(groups).chain(roles).collect()
    };
    let arn = ev.root_arn();
    let support = holders(SUPPORT_ACCESS);
    ev.verdict(
        CheckId::SupportRole,
        support.is_empty(),
        &arn,
        if support.is_empty() {
            "AWSSupportAccess is attached to no user, group or role".into()
        } else {
            format!("AWSSupportAccess attached to {}", support.join(", "))
        },
    );
    let shell = holders(CLOUDSHELL_FULL_ACCESS);
    ev.verdict(
        CheckId::CloudshellFullAccess,
        !shell.is_empty(),
        &arn,
        if shell.is_empty() {
            "AWSCloudShellFullAccess is attached to no user, group or role".into()
        } else {
            format!("AWSCloudShellFullAccess attached to {}", shell.join(", "))
        },
    );
}

fn service_inactivity(ev: &mut Eval, activity: &[ServiceActivity]) {
    let threshold = ev.settings.service_inactivity_days;
    for a in activity {
        let idle: Vec<&str> = a
            .services
            .iter()
            .filter(|(_, last)| last.is_none_or(|t| ev.days_since(t) > threshold))
            .map(|(s, _)| s.as_str())
            .collect();
        let check = if a.is_role {
            CheckId::RoleServiceInactivity
        } else {
            CheckId::UserServiceInactivity
        };
        let reason = if idle.is_empty() {
            format!("every allowed service used within {threshold} days")
        } else {
            format!(
                "allowed but not used within {threshold} days: {}",
                idle.join(", ")
            )
        };
        ev.push(
            check,
            if idle.is_empty() {
                Status::Pass
            } else {
                Status::Fail
            },
            &a.arn,
            reason,
        );
    }
}
