//! Permissions: who holds `*` on `*`, who could make itself an admin, who may pass any role,
//! whose roles anyone (or another account) may assume, groups with inline policies, users
//! that hold more than sts:AssumeRole (opt-in), and granted permissions never used.

use super::Eval;
use crate::audit::catalog::CheckId;
use crate::audit::finding::Status;
use crate::audit::inventory::{Authorization, Inventory};
use crate::audit::permissions::escalation::Analysis;
use crate::audit::permissions::unused::{grants, unused};
use crate::audit::permissions::{Kind, Principal, Principals};
use crate::policy::exposure::{cross_account, public};

/// The checks of this family (a re-audit of the principals replaces their findings).
pub const CHECKS: &[CheckId] = &[
    CheckId::AdminAccess,
    CheckId::AdminWithoutMfa,
    CheckId::PrivilegeEscalation,
    CheckId::PassroleAnyRole,
    CheckId::RoleTrustPublic,
    CheckId::RoleTrustCrossAccount,
    CheckId::GroupInlinePolicies,
    CheckId::UsersAssumeRolesOnly,
    CheckId::UnusedPermissions,
];

/// What a user may do with `sts:AssumeRole` alone besides: manage its own password, MFA
/// devices and access keys.
const SELF_SERVICE: &[&str] = &[
    "sts:AssumeRole",
    "sts:TagSession",
    "sts:GetCallerIdentity",
    "iam:ChangePassword",
    "iam:GetAccountPasswordPolicy",
    "iam:GetUser",
    "iam:GetLoginProfile",
    "iam:UpdateLoginProfile",
    "iam:CreateAccessKey",
    "iam:UpdateAccessKey",
    "iam:DeleteAccessKey",
    "iam:ListAccessKeys",
    "iam:GetAccessKeyLastUsed",
    "iam:CreateVirtualMFADevice",
    "iam:DeleteVirtualMFADevice",
    "iam:EnableMFADevice",
    "iam:DeactivateMFADevice",
    "iam:ResyncMFADevice",
    "iam:ListMFADevices",
    "iam:ListVirtualMFADevices",
    "iam:GetMFADevice",
    "iam:TagMFADevice",
    "iam:UntagMFADevice",
    "iam:ListMFADeviceTags",
];

/// The self-service actions that act on a user (its own, for a user that only assumes roles).
const ON_A_USER: &[&str] = &[
    "iam:ChangePassword",
    "iam:GetUser",
    "iam:GetLoginProfile",
    "iam:UpdateLoginProfile",
    "iam:CreateAccessKey",
    "iam:UpdateAccessKey",
    "iam:DeleteAccessKey",
    "iam:ListAccessKeys",
    "iam:EnableMFADevice",
    "iam:DeactivateMFADevice",
    "iam:ResyncMFADevice",
    "iam:ListMFADevices",
];

pub fn evaluate(ev: &mut Eval, inv: &Inventory, analysis: Option<&Analysis>) {
    let auth = match &inv.authorization {
        None => return,
        Some(Err(e)) => {
            let arn = ev.root_arn();
            let opt_in = ev.settings.users_assume_roles_only;
            let checks: Vec<CheckId> = CHECKS
                .iter()
                .copied()
                .filter(|c| opt_in || *c != CheckId::UsersAssumeRolesOnly)
                .collect();
            return ev.error(&checks, &arn, e);
        }
        Some(Ok(auth)) => auth,
    };
    let Some(analysis) = analysis else { return };
    let principals = analysis.principals;
    for p in &principals.all {
        if let Some(why) = &p.unreadable {
            let error = crate::audit::inventory::ApiError {
                call: "iam:GetPolicyVersion",
                message: why.clone(),
            };
            let checks: &[CheckId] = match p.kind {
                Kind::Group => &[CheckId::AdminAccess, CheckId::PassroleAnyRole],
                _ => &[
                    CheckId::AdminAccess,
                    CheckId::PrivilegeEscalation,
                    CheckId::PassroleAnyRole,
                ],
            };
            ev.error(checks, &p.arn, &error);
            continue;
        }
        admin(ev, analysis, p);
        if p.kind != Kind::Group {
            escalation(ev, analysis, p);
        }
        pass_role(ev, analysis, p);
    }
    mfa(ev, inv, analysis, principals);
    trusts(ev, auth, principals);
    for g in &auth.groups {
        let names: Vec<&str> = g.inline.iter().map(|p| p.name.as_str()).collect();
        ev.verdict(
            CheckId::GroupInlinePolicies,
            !names.is_empty(),
            &g.arn,
            if names.is_empty() {
                "no inline policy".into()
            } else {
                format!("inline policies: {}", names.join(", "))
            },
        );
    }
    if ev.settings.users_assume_roles_only {
        assume_roles_only(ev, principals);
    }
    usage(ev, inv, principals);
}

fn admin(ev: &mut Eval, analysis: &Analysis, p: &Principal) {
    let reason = match analysis.admins.get(p.arn.as_str()) {
        Some(routes) => format!("* on * through {}", routes.join("; ")),
        None => "no unconditional * on *".to_string(),
    };
    ev.verdict(
        CheckId::AdminAccess,
        analysis.is_admin(&p.arn),
        &p.arn,
        reason,
    );
}

fn escalation(ev: &mut Eval, analysis: &Analysis, p: &Principal) {
    if analysis.is_admin(&p.arn) {
        return;
    }
    let found = analysis.escalations(p);
    let (sure, conditional): (Vec<_>, Vec<_>) = found.iter().partition(|e| !e.conditional);
    let list = |v: &[&crate::audit::permissions::escalation::Escalation]| {
        v.iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let reason = match (sure.is_empty(), conditional.is_empty()) {
        (false, true) => format!("can make itself admin: {}", list(&sure)),
        (false, false) => format!(
            "can make itself admin: {}; conditionally also: {}",
            list(&sure),
            list(&conditional)
        ),
        (true, false) => format!(
            "no unconditional way to admin; conditionally (a condition or a variable decides): {}",
            list(&conditional)
        ),
        (true, true) => "no known way to make itself admin".into(),
    };
    ev.verdict(
        CheckId::PrivilegeEscalation,
        !sure.is_empty(),
        &p.arn,
        reason,
    );
}

/// Admins pass any role by holding everything: `admin-access` reports them.
fn pass_role(ev: &mut Eval, analysis: &Analysis, p: &Principal) {
    if analysis.is_admin(&p.arn) {
        return;
    }
    let reason = match analysis.passes_any_role(p) {
        Some(by) => format!(
            "iam:PassRole on every role, unconditionally, through {}",
            by.iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => "no unconditional iam:PassRole on every role".into(),
    };
    let any = reason.starts_with("iam:PassRole on every role");
    ev.verdict(CheckId::PassroleAnyRole, any, &p.arn, reason);
}

fn mfa(ev: &mut Eval, inv: &Inventory, analysis: &Analysis, principals: &Principals) {
    let admins: Vec<&Principal> = principals
        .all
        .iter()
        .filter(|p| p.kind == Kind::User && analysis.is_admin(&p.arn))
        .collect();
    match &inv.credential_report {
        None => {}
        Some(Err(e)) => {
            for p in admins {
                ev.push(
                    CheckId::AdminWithoutMfa,
                    Status::Error,
                    &p.arn,
                    e.to_string(),
                );
            }
        }
        Some(Ok(report)) => {
            for p in admins {
                let row = report.users.iter().find(|u| u.arn == p.arn);
                match row {
                    Some(u) => {
                        ev.verdict(
                            CheckId::AdminWithoutMfa,
                            !u.mfa_active,
                            &p.arn,
                            format!("admin, mfa_active {}", u.mfa_active),
                        );
                    }
                    None => {
                        ev.push(
                            CheckId::AdminWithoutMfa,
                            Status::Error,
                            &p.arn,
                            "the user is not in the credential report (created since it was generated)".into(),
                        );
                    }
                }
            }
        }
    }
}

fn trusts(ev: &mut Eval, auth: &Authorization, principals: &Principals) {
    for r in &auth.roles {
        // A service-linked role's trust is AWS's.
        if r.is_service_linked() {
            continue;
        }
        let Some(trust) = principals.get(&r.arn).and_then(|p| p.trust.as_ref()) else {
            continue;
        };
        let open = public(trust);
        ev.verdict(
            CheckId::RoleTrustPublic,
            !open.is_empty(),
            &r.arn,
            if open.is_empty() {
                "the trust policy names its principals, or narrows them by condition".into()
            } else {
                open.iter()
                    .map(|p| {
                        format!(
                            "{} lets {} assume it without a narrowing condition",
                            p.statement, p.principal
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            },
        );
        let others = cross_account(trust, &principals.account, &ev.settings.trusted_accounts);
        let unguarded: Vec<_> = others.iter().filter(|c| !c.guarded).collect();
        let reason = if unguarded.is_empty() {
            match others.is_empty() {
                true => "no other account".to_string(),
                false => format!(
                    "accounts {} must give an external id or MFA",
                    others
                        .iter()
                        .flat_map(|c| c.accounts.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        } else {
            unguarded
                .iter()
                .map(|c| {
                    format!(
                        "{} lets account(s) {} assume it without sts:ExternalId or MFA",
                        c.statement,
                        c.accounts.join(", ")
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        ev.verdict(
            CheckId::RoleTrustCrossAccount,
            !unguarded.is_empty(),
            &r.arn,
            reason,
        );
    }
}

fn assume_roles_only(ev: &mut Eval, principals: &Principals) {
    use crate::audit::permissions::actions::Catalog;
    let catalog = Catalog::get();
    for p in principals.all.iter().filter(|p| p.kind == Kind::User) {
        let mut beyond: Vec<String> = Vec::new();
        for g in grants(&p.policies) {
            let expanded = if g.pattern.starts_with("NotAction") {
                vec![]
            } else {
                catalog.expand(&g.pattern)
            };
            let only_self = !g.pattern.starts_with("NotAction")
                && !expanded.is_empty()
                && expanded
                    .iter()
                    .all(|(a, _)| SELF_SERVICE.iter().any(|s| s.eq_ignore_ascii_case(a)));
            if !only_self {
                beyond.push(format!("{} ({})", g.pattern, g.source));
            }
        }
        // Its own credentials only: the actions on a user are not allowed on another.
        let other = format!(
            "arn:aws:iam::{}:user/trailwatch-another-user",
            principals.account
        );
        let on_others: Vec<&str> = ON_A_USER
            .iter()
            .copied()
            .filter(|a| {
                p.policies.evaluate(a, &other).decision >= crate::policy::Decision::Conditional
            })
            .collect();
        if !on_others.is_empty() {
            beyond.push(format!(
                "{} of the {} credential actions on other users ({})",
                on_others.len(),
                ON_A_USER.len(),
                on_others.join(", ")
            ));
        }
        ev.verdict(
            CheckId::UsersAssumeRolesOnly,
            !beyond.is_empty(),
            &p.arn,
            if beyond.is_empty() {
                "sts:AssumeRole and its own credentials only".into()
            } else {
                format!("also holds {}", beyond.join(", "))
            },
        );
    }
}

/// A usage record that ended more than this many days before the audit is stale: what was
/// used since is unknown, and judging on it would report as unused what is in use.
const USAGE_STALE_DAYS: i64 = 2;

fn usage(ev: &mut Eval, inv: &Inventory, principals: &Principals) {
    let days = ev.settings.usage_days;
    let arn = ev.root_arn();
    let usage = match &inv.usage {
        Some(Ok(usage)) => usage,
        Some(Err(e)) => return ev.error(&[CheckId::UnusedPermissions], &arn, e),
        None => {
            ev.push(
                CheckId::UnusedPermissions,
                Status::Manual,
                &arn,
                "no usage record: give one with --usage FILE (trailwatch replay --usage FILE builds it from archives), or run the audit in the daemon with [usage] record on".into(),
            );
            return;
        }
    };
    let time = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| ev.days_since(t.to_utc()))
    };
    let (covered, ended) = (time(&usage.since), time(&usage.until));
    let span = format!(
        "since {}, until {}",
        usage.since.as_deref().unwrap_or("-"),
        usage.until.as_deref().unwrap_or("-")
    );
    if covered.is_none_or(|c| c < days) {
        let have = covered.map_or("none".to_string(), |c| format!("{c} days"));
        let reason = format!("the usage record covers {have} of the {days} days needed ({span})");
        ev.push(CheckId::UnusedPermissions, Status::Manual, &arn, reason);
        return;
    }
    if let Some(ended) = ended.filter(|e| *e > USAGE_STALE_DAYS) {
        let reason = format!(
            "the usage record ends {ended} days before this audit ({span}): what was used since is unknown"
        );
        ev.push(CheckId::UnusedPermissions, Status::Manual, &arn, reason);
        return;
    }
    let since =
        (ev.now - chrono::Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for p in principals.all.iter().filter(|p| p.kind != Kind::Group) {
        let granted = grants(&p.policies);
        if granted.is_empty() || p.unreadable.is_some() {
            continue;
        }
        if let Some(age) = p.created.map(|c| ev.days_since(c)).filter(|a| *a < days) {
            let reason = format!(
                "made {age} days ago: judged once it has had the {days} days to use what it holds"
            );
            ev.push(CheckId::UnusedPermissions, Status::Manual, &p.arn, reason);
            continue;
        }
        let used = usage.of_principal(&p.arn);
        let idle = unused(&granted, used, &since);
        let used_list: Vec<&str> = used
            .map(|u| {
                u.actions
                    .iter()
                    .filter(|(_, a)| a.last.as_str() >= since.as_str())
                    .map(|(action, _)| action.as_str())
                    .collect()
            })
            .unwrap_or_default();
        let used_text = match used_list.len() {
            0 => "nothing".to_string(),
            n if n > 20 => format!("{} and {} more", used_list[..20].join(", "), n - 20),
            _ => used_list.join(", "),
        };
        let reason = if idle.is_empty() {
            format!("every granted action pattern used within {days} days; used: {used_text}")
        } else {
            let idle_text: Vec<String> = idle
                .iter()
                .map(|g| format!("{} ({})", g.pattern, g.source))
                .collect();
            format!(
                "granted but not used within {days} days: {}; used: {used_text}",
                idle_text.join(", ")
            )
        };
        ev.verdict(CheckId::UnusedPermissions, !idle.is_empty(), &p.arn, reason);
    }
}
