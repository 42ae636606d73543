//! The permission checks on an account built by hand: the four cases the audit used to pass
//! (an admin through a group's inline policy, a user who may attach policies to itself, a user
//! who may pass roles and run instances, a role anyone may assume), their narrowed forms, and
//! usage against grants.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

use super::evaluate;
use crate::audit::credential_report::{CredentialReport, UserRow};
use crate::audit::finding::{Finding, Status};
use crate::audit::inventory::*;
use crate::audit::permissions::usage::{Usage, Use};
use crate::audit::settings::AuditConfig;

const ACCOUNT: &str = "111122223333";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

fn arn(kind: &str, name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:{kind}/{name}")
}

fn policy(name: &str, document: &str) -> InlinePolicy {
    InlinePolicy {
        name: name.into(),
        document: document.into(),
    }
}

fn user(name: &str, inline: Vec<InlinePolicy>, groups: &[&str]) -> User {
    User {
        name: name.into(),
        arn: arn("user", name),
        inline,
        groups: groups.iter().map(|g| g.to_string()).collect(),
        ..User::default()
    }
}

fn role(name: &str, trust: &str, attached: &[&str]) -> Role {
    Role {
        name: name.into(),
        arn: arn("role", name),
        path: "/".into(),
        trust: Some(trust.into()),
        attached: attached.iter().map(|a| a.to_string()).collect(),
        ..Role::default()
    }
}

fn row(name: &str, mfa: bool) -> UserRow {
    UserRow {
        user: name.into(),
        arn: arn("user", name),
        created: None,
        password_enabled: Some(true),
        password_last_used: None,
        password_last_changed: None,
        mfa_active: mfa,
        keys: Default::default(),
        certs: Default::default(),
    }
}

const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";
const EC2_TRUST: &str = r#"{"Statement":{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}}"#;

fn account() -> Inventory {
    let star = r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#;
    let auth = Authorization {
        users: vec![
            user("ops-frank", vec![], &["ops"]),
            user(
                "self-attacher",
                vec![policy(
                    "attach",
                    r#"{"Statement":{"Effect":"Allow","Action":"iam:AttachUserPolicy","Resource":"*"}}"#,
                )],
                &[],
            ),
            user(
                "launcher",
                vec![policy(
                    "launch",
                    r#"{"Statement":{"Effect":"Allow","Action":["iam:PassRole","ec2:RunInstances"],"Resource":"*"}}"#,
                )],
                &[],
            ),
            user(
                "self-service",
                vec![policy(
                    "own-keys",
                    r#"{"Statement":{"Effect":"Allow","Action":["iam:CreateAccessKey","iam:DeleteAccessKey"],"Resource":"arn:aws:iam::*:user/${aws:username}"}}"#,
                )],
                &[],
            ),
            user(
                "denied-attacher",
                vec![policy(
                    "attach",
                    r#"{"Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*"},{"Effect":"Deny","Action":["iam:Attach*","iam:Put*","iam:Create*","iam:Update*","iam:AddUserToGroup","iam:SetDefaultPolicyVersion"],"Resource":"*"}]}"#,
                )],
                &[],
            ),
            user(
                "mfa-attacher",
                vec![policy(
                    "attach",
                    r#"{"Statement":{"Effect":"Allow","Action":"iam:AttachUserPolicy","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}}"#,
                )],
                &[],
            ),
        ],
        groups: vec![Group {
            name: "ops".into(),
            arn: arn("group", "ops"),
            inline: vec![policy("everything", star)],
            ..Group::default()
        }],
        roles: vec![
            role("ec2-admin", EC2_TRUST, &[ADMIN]),
            role(
                "open-role",
                r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}}"#,
                &[],
            ),
            role(
                "org-role",
                r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abc123"}}}}"#,
                &[],
            ),
            role(
                "partner-role",
                r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222233334444:root"},"Action":"sts:AssumeRole"}}"#,
                &[],
            ),
            role(
                "vendor-role",
                r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::555566667777:root"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"x"}}}}"#,
                &[],
            ),
            role(
                "sister-role",
                r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"sts:AssumeRole"}}"#,
                &[],
            ),
        ],
        ..Authorization::default()
    };
    Inventory {
        account: ACCOUNT.into(),
        authorization: Some(Ok(auth)),
        credential_report: Some(Ok(CredentialReport {
            root: None,
            users: vec![row("ops-frank", false), row("launcher", true)],
        })),
        ..Inventory::default()
    }
}

fn settings() -> AuditConfig {
    AuditConfig {
        trusted_accounts: vec!["999988887777".into()],
        ..AuditConfig::default()
    }
}

fn of<'f>(findings: &'f [Finding], check: &str) -> Vec<(String, Status, &'f str)> {
    findings
        .iter()
        .filter(|f| f.check == check)
        .map(|f| {
            (
                f.resource.rsplit('/').next().unwrap().to_string(),
                f.status,
                f.reason.as_str(),
            )
        })
        .collect()
}

fn failing(findings: &[Finding], check: &str) -> Vec<String> {
    of(findings, check)
        .into_iter()
        .filter(|f| f.1 == Status::Fail)
        .map(|f| f.0)
        .collect()
}

#[test]
fn the_cases_the_audit_used_to_pass() {
    let f = evaluate(&account(), &settings(), now());
    // An admin through a group's inline policy: the group and its member, the route named.
    assert_eq!(
        failing(&f, "admin-access"),
        ["ops", "ops-frank", "ec2-admin"]
    );
    let frank = of(&f, "admin-access")
        .into_iter()
        .find(|x| x.0 == "ops-frank")
        .unwrap();
    assert_eq!(
        frank.2,
        "* on * through via group ops: inline policy everything (statement 1)"
    );
    assert_eq!(failing(&f, "admin-without-mfa"), ["ops-frank"]);
    // Attaching policies to itself; passing a role to EC2.
    assert_eq!(
        failing(&f, "privilege-escalation"),
        ["self-attacher", "launcher"]
    );
    let reasons: Vec<&str> = of(&f, "privilege-escalation")
        .into_iter()
        .filter(|x| x.1 == Status::Fail)
        .map(|x| x.2)
        .collect();
    assert_eq!(
        reasons[0],
        "can make itself admin: attach-user-policy (attach any managed policy (AdministratorAccess) to itself; target arn:aws:iam::111122223333:user/self-attacher; allowed by inline policy attach (statement 1))"
    );
    assert!(reasons[1].starts_with("can make itself admin: passrole-ec2 (launch an instance with an admin role (iam:PassRole, ec2:RunInstances); target arn:aws:iam::111122223333:role/ec2-admin;"), "{}", reasons[1]);
    // Narrowed: its own user only, an explicit deny, a condition.
    let pass = |name: &str| {
        of(&f, "privilege-escalation")
            .into_iter()
            .find(|x| x.0 == name)
            .unwrap()
    };
    assert_eq!(pass("self-service").1, Status::Pass);
    assert_eq!(pass("denied-attacher").1, Status::Pass);
    let mfa = pass("mfa-attacher");
    assert_eq!(mfa.1, Status::Pass);
    assert!(mfa.2.starts_with("no unconditional way to admin; conditionally (a condition or a variable decides): attach-user-policy"), "{}", mfa.2);
    // iam:* less a few denied writes still passes any role.
    assert_eq!(
        failing(&f, "passrole-any-role"),
        ["launcher", "denied-attacher"]
    );
    // A role anyone may assume; one narrowed to the organization is not.
    assert_eq!(failing(&f, "role-trust-public"), ["open-role"]);
    assert_eq!(
        of(&f, "role-trust-public")
            .into_iter()
            .find(|x| x.0 == "open-role")
            .unwrap()
            .2,
        r#"statement 1 lets {"AWS":"*"} assume it without a narrowing condition"#
    );
    // Another account without an external id; the trusted account and the vendor with one
    // pass.
    assert_eq!(failing(&f, "role-trust-cross-account"), ["partner-role"]);
    assert_eq!(failing(&f, "group-inline-policies"), ["ops"]);
    // Opt-in only.
    assert!(of(&f, "users-assume-roles-only").is_empty());
    // No usage record: one MANUAL saying how to give one.
    assert_eq!(of(&f, "unused-permissions").len(), 1);
    assert_eq!(of(&f, "unused-permissions")[0].1, Status::Manual);
}

#[test]
fn users_that_only_assume_roles() {
    let mut inv = account();
    if let Some(Ok(auth)) = &mut inv.authorization {
        auth.users.push(user(
            "gina",
            vec![policy(
                "assume",
                r#"{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::*:role/*"},
                    {"Effect":"Allow","Action":["iam:*AccessKey*","iam:ChangePassword","iam:*MFADevice*"],"Resource":"arn:aws:iam::*:user/${aws:username}"}]}"#,
            )],
            &[],
        ));
    }
    let settings = AuditConfig {
        users_assume_roles_only: true,
        ..settings()
    };
    let f = evaluate(&inv, &settings, now());
    let pass: Vec<String> = of(&f, "users-assume-roles-only")
        .into_iter()
        .filter(|x| x.1 == Status::Pass)
        .map(|x| x.0)
        .collect();
    assert_eq!(pass, ["self-service", "gina"]);
    let frank = of(&f, "users-assume-roles-only")
        .into_iter()
        .find(|x| x.0 == "ops-frank")
        .unwrap();
    assert_eq!(frank.2, "also holds * (via group ops: inline policy everything), 12 of the 12 credential actions on other users (iam:ChangePassword, iam:GetUser, iam:GetLoginProfile, iam:UpdateLoginProfile, iam:CreateAccessKey, iam:UpdateAccessKey, iam:DeleteAccessKey, iam:ListAccessKeys, iam:EnableMFADevice, iam:DeactivateMFADevice, iam:ResyncMFADevice, iam:ListMFADevices)");
}

fn used(principal: &str, action: &str, time: &str) -> Use {
    Use {
        principal: arn("user", principal),
        action: action.into(),
        time: time.into(),
        resources: vec![],
    }
}

#[test]
fn unused_permissions_from_the_usage_record() {
    let mut inv = account();
    let mut usage = Usage::new();
    usage.record(&used(
        "launcher",
        "ec2:RunInstances",
        "2026-11-20T09:00:00Z",
    ));
    // Too little trail: MANUAL with the coverage.
    inv.usage = Some(Ok(Arc::new(usage.clone())));
    let f = evaluate(&inv, &settings(), now());
    let manual = of(&f, "unused-permissions");
    assert_eq!(manual.len(), 1);
    assert_eq!(manual[0].1, Status::Manual);
    assert_eq!(manual[0].2, "the usage record covers 5 days of the 90 days needed (since 2026-11-20T09:00:00Z, until 2026-11-20T09:00:00Z)");
    // A hundred days of trail, but ending five days before the audit: what was used since is
    // unknown, so MANUAL again.
    usage.record(&used(
        "self-attacher",
        "iam:AttachUserPolicy",
        "2026-08-01T09:00:00Z",
    ));
    inv.usage = Some(Ok(Arc::new(usage.clone())));
    let f = evaluate(&inv, &settings(), now());
    let manual = of(&f, "unused-permissions");
    assert_eq!(manual.len(), 1);
    assert_eq!(manual[0].2, "the usage record ends 5 days before this audit (since 2026-08-01T09:00:00Z, until 2026-11-20T09:00:00Z): what was used since is unknown");
    // Up to date: judged per principal, except one made within the window.
    usage.record(&used("ops-frank", "s3:ListBucket", "2026-11-25T11:00:00Z"));
    if let Some(Ok(auth)) = &mut inv.authorization {
        let new = auth
            .users
            .iter_mut()
            .find(|u| u.name == "self-service")
            .unwrap();
        new.created = Some(Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap());
    }
    inv.usage = Some(Ok(Arc::new(usage)));
    let f = evaluate(&inv, &settings(), now());
    let young = of(&f, "unused-permissions")
        .into_iter()
        .find(|x| x.0 == "self-service")
        .unwrap();
    assert_eq!(
        (young.1, young.2),
        (
            Status::Manual,
            "made 24 days ago: judged once it has had the 90 days to use what it holds"
        )
    );
    let launcher = of(&f, "unused-permissions")
        .into_iter()
        .find(|x| x.0 == "launcher")
        .unwrap();
    assert_eq!(launcher.1, Status::Fail);
    assert_eq!(launcher.2, "granted but not used within 90 days: iam:PassRole (inline policy launch); used: ec2:RunInstances");
    // Used, but longer ago than the window: unused.
    let attacher = of(&f, "unused-permissions")
        .into_iter()
        .find(|x| x.0 == "self-attacher")
        .unwrap();
    assert_eq!(attacher.1, Status::Fail);
    assert!(attacher.2.ends_with("; used: nothing"), "{}", attacher.2);
    // A principal that used all it holds passes; groups are judged through their members.
    assert!(of(&f, "unused-permissions").iter().all(|x| x.0 != "ops"));
}
