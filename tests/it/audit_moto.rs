//! `trailwatch audit` against moto server, on an account seeded by
//! deploy/local/seed-posture.py: the exact findings of every check it can decide there, and
//! an ERROR naming the call for what moto does not implement, with the rest still audited.

use crate::common;

use std::collections::BTreeSet;

use common::moto::Moto;
use common::{stderr, stdout};

fn seed(moto: &Moto) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/local/seed-posture.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", common::moto::REGION)
        .output()
        .expect("python3 runs the seed script");
    assert!(out.status.success(), "seed failed: {}", stderr(&out));
    serde_json::from_str(stdout(&out).trim()).unwrap()
}

fn short(resource: &str) -> String {
    resource.rsplit([':', '/']).next().unwrap().to_string()
}

#[test]
fn seeded_account_gives_exact_findings() {
    let moto = Moto::start_with_managed_policies();
    let seeded = seed(&moto);
    // The opt-in check is on, so every check of the catalogue reports.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("audit.toml");
    std::fs::write(&config, "[audit]\nusers_assume_roles_only = true\n").unwrap();
    let out = moto.trailwatch(&[
        "audit",
        "--config",
        config.to_str().unwrap(),
        "--format",
        "json",
        "--region",
        "us-east-1",
        "--region",
        "eu-west-1",
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "failures exit 3: {}",
        stderr(&out)
    );
    let findings: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();

    // Every check of the catalogue reports on this account, but account-audited, which is
    // for organizations (tests/it/organization.rs).
    let listed = common::trailwatch(&["audit", "--list-checks"]);
    let ids: BTreeSet<String> = stdout(&listed)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .filter(|id| id != "account-audited")
        .collect();
    let seen: BTreeSet<String> = findings
        .iter()
        .map(|f| f["check"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, ids);

    let listener = |name: &str| short(seeded["listeners"][name].as_str().unwrap());
    let mut got: Vec<(String, String, String, String)> = findings
        .iter()
        .filter(|f| f["status"] != "PASS")
        .map(|f| {
            let mut who = short(f["resource"].as_str().unwrap());
            if let Some(r) = f["requirement"].as_str() {
                who = format!("{who}#{r}");
            }
            (
                f["check"].as_str().unwrap().to_string(),
                who,
                f["region"].as_str().unwrap_or("").to_string(),
                f["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let f = |check: &str, who: &str, region: &str, status: &str| {
        (
            check.to_string(),
            who.to_string(),
            region.to_string(),
            status.to_string(),
        )
    };
    let mut want = vec![
        // moto's credential report has no root row: the summary answers MFA, keys and
        // certificates; ages and use are unknown.
        f("root-mfa", "root", "", "FAIL"),
        f("root-hardware-mfa", "root", "", "FAIL"),
        f("root-access-key-rotation", "root", "", "ERROR"),
        f("root-certificate-rotation", "root", "", "ERROR"),
        f("root-password-rotation", "root", "", "ERROR"),
        f("root-recent-use", "root", "", "ERROR"),
        f("user-mfa", "dev-carol", "", "FAIL"),
        f("access-key-multiple", "ci-dave", "", "FAIL"),
        f("access-key-inactive", "old-erin", "", "FAIL"),
        f("user-inline-policies", "admin-alice", "", "FAIL"),
        f("user-inline-policies", "dev-carol", "", "FAIL"),
        f("role-inline-policies", "app-role", "", "FAIL"),
        f("group-empty", "empty-group", "", "FAIL"),
        f("full-admin-policies", "full-star", "", "FAIL"),
        f("user-inline-policies", "launcher", "", "FAIL"),
        f("user-inline-policies", "self-attacher", "", "FAIL"),
        f("user-inline-policies", "self-service", "", "FAIL"),
        // Permissions: admins by every route, groups included; escalation; wide trust.
        f("admin-access", "admin-alice", "", "FAIL"),
        f("admin-access", "admin-bob", "", "FAIL"),
        f("admin-access", "ops-frank", "", "FAIL"),
        f("admin-access", "ops", "", "FAIL"),
        f("admin-access", "ops-admins", "", "FAIL"),
        f("admin-access", "ec2-admin", "", "FAIL"),
        f("admin-without-mfa", "admin-alice", "", "FAIL"),
        f("admin-without-mfa", "admin-bob", "", "FAIL"),
        f("admin-without-mfa", "ops-frank", "", "FAIL"),
        f("group-inline-policies", "ops", "", "FAIL"),
        f("privilege-escalation", "self-attacher", "", "FAIL"),
        f("privilege-escalation", "launcher", "", "FAIL"),
        f("passrole-any-role", "launcher", "", "FAIL"),
        f("role-trust-public", "open-role", "", "FAIL"),
        f("role-trust-cross-account", "partner-role", "", "FAIL"),
        f("users-assume-roles-only", "admin-alice", "", "FAIL"),
        f("users-assume-roles-only", "admin-bob", "", "FAIL"),
        f("users-assume-roles-only", "ops-frank", "", "FAIL"),
        f("users-assume-roles-only", "dev-carol", "", "FAIL"),
        f("users-assume-roles-only", "launcher", "", "FAIL"),
        f("users-assume-roles-only", "self-attacher", "", "FAIL"),
        // No usage record was given.
        f("unused-permissions", "root", "", "MANUAL"),
        // moto does not implement service last accessed data or IAM Access Analyzer.
        f("user-service-inactivity", "root", "", "ERROR"),
        f("role-service-inactivity", "root", "", "ERROR"),
        f("access-analyzer-enabled", "root", "us-east-1", "ERROR"),
        f("access-analyzer-enabled", "root", "eu-west-1", "ERROR"),
        f("access-analyzer-findings", "root", "us-east-1", "ERROR"),
        f("access-analyzer-findings", "root", "eu-west-1", "ERROR"),
        f("server-certificate-expired", "legacy", "", "FAIL"),
        f(
            "elb-certificate-rotation",
            &listener("web-soon"),
            "us-east-1",
            "FAIL",
        ),
        f(
            "elb-certificate-rotation",
            &listener("tls-legacy"),
            "us-east-1",
            "FAIL",
        ),
        f("password-policy", "root#minimum-length", "", "FAIL"),
        f("password-policy", "root#reuse-prevention", "", "FAIL"),
        f("password-policy", "root#require-lowercase", "", "FAIL"),
        f("password-policy", "root#require-numbers", "", "FAIL"),
        f("password-policy", "root#require-symbols", "", "FAIL"),
        f("password-policy", "root#max-age", "", "FAIL"),
        // Resources anyone can reach (fenced-reports is public by its policy, but Block Public
        // Access restricts it; org-queue only lets the organization in).
        f("resource-policy-public", "public-reports", "", "FAIL"),
        f("s3-bucket-public", "public-acl", "", "FAIL"),
        f(
            "resource-policy-public",
            "public-alerts",
            "us-east-1",
            "FAIL",
        ),
        f("security-hub-enabled", "root", "eu-west-1", "FAIL"),
        f("guardduty-enabled", "root", "eu-west-1", "FAIL"),
        f("config-recorder-enabled", "root", "eu-west-1", "FAIL"),
    ];
    for manual in [
        "contact-details",
        "security-contact",
        "security-questions",
        "ec2-instance-roles",
        "central-identity",
    ] {
        want.push(f(manual, "root", "", "MANUAL"));
    }
    want.sort();
    assert_eq!(got, want);

    let find = |check: &str, who: &str| {
        findings
            .iter()
            .find(|x| x["check"] == check && x["resource"].as_str().unwrap().ends_with(who))
            .unwrap_or_else(|| panic!("no {check} finding for {who}"))
    };
    // Who the administrators are, and where their rights come from.
    assert_eq!(
        find("admins-minimum", ":root")["reason"],
        "3 IAM user(s) with full administrative rights (minimum 2): admin-alice, admin-bob, ops-frank"
    );
    assert_eq!(find("admins-maximum", ":root")["status"], "PASS");
    // Resource policies, judged as the detection resource-policy-public judges them.
    assert_eq!(
        find("resource-policy-public", ":::public-reports")["reason"],
        "bucket policy: statement PublicRead allows *"
    );
    assert_eq!(
        find("s3-bucket-public", ":::public-acl")["reason"],
        "the ACL grants READ to AllUsers"
    );
    let fenced = find("resource-policy-public", ":::fenced-reports");
    assert_eq!(fenced["status"], "PASS");
    assert!(
        fenced["reason"]
            .as_str()
            .unwrap()
            .contains("Block Public Access (RestrictPublicBuckets)"),
        "{fenced}"
    );
    assert_eq!(
        find("resource-policy-public", ":org-queue")["reason"],
        "the access policy names who may use it"
    );
    // Each permission finding names its route, method or statement.
    assert_eq!(
        find("admin-access", "user/ops-frank")["reason"],
        "* on * through via group ops: inline policy everything (statement 1)"
    );
    assert_eq!(
        find("privilege-escalation", "user/self-attacher")["reason"],
        "can make itself admin: attach-user-policy (attach any managed policy (AdministratorAccess) to itself; target arn:aws:iam::123456789012:user/self-attacher; allowed by inline policy attach (statement 1))"
    );
    let launcher = find("privilege-escalation", "user/launcher")["reason"]
        .as_str()
        .unwrap();
    assert!(
        launcher.starts_with("can make itself admin: passrole-ec2 (launch an instance with an admin role (iam:PassRole, ec2:RunInstances); target arn:aws:iam::123456789012:role/ec2-admin;"),
        "{launcher}"
    );
    assert_eq!(
        find("privilege-escalation", "user/self-service")["status"],
        "PASS",
        "its own keys only"
    );
    assert_eq!(
        find("role-trust-public", "role/open-role")["reason"],
        r#"statement 1 lets {"AWS":"*"} assume it without a narrowing condition"#
    );
    assert_eq!(
        find("role-trust-cross-account", "role/partner-role")["reason"],
        "statement 1 lets account(s) 999988887777 assume it without sts:ExternalId or MFA"
    );
    assert_eq!(
        find("role-trust-cross-account", "role/vendor-role")["status"],
        "PASS"
    );
    assert_eq!(
        find("full-admin-policies", "/unused-star")["status"],
        "PASS"
    );
    assert_eq!(find("support-role", ":root")["status"], "PASS");
    assert_eq!(find("password-policy", ":root")["account"], "123456789012");
    let soon = find("elb-certificate-rotation", &listener("web-soon"));
    let reason = soon["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "HTTPS listener certificate arn:aws:acm:us-east-1:123456789012:certificate/"
        ),
        "{reason}"
    );
    assert!(
        reason.contains("expires in 9 days") && reason.ends_with("threshold 30 days)"),
        "{reason}"
    );
    assert_eq!(
        find("elb-certificate-rotation", &listener("web-later"))["status"],
        "PASS"
    );
    // The ERROR names the call and the permission; the other regional checks still ran.
    let analyzer = find("access-analyzer-enabled", ":root");
    let reason = analyzer["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("access-analyzer:ListAnalyzers failed: "),
        "{reason}"
    );
    assert!(
        reason.ends_with("(the audit needs access-analyzer:ListAnalyzers)"),
        "{reason}"
    );
    let inactivity = find("user-service-inactivity", ":root")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        inactivity.starts_with("iam:GenerateServiceLastAccessedDetails failed: "),
        "{inactivity}"
    );
    assert!(findings.iter().any(|x| x["check"] == "security-hub-enabled"
        && x["region"] == "us-east-1"
        && x["status"] == "PASS"));
    assert!(findings
        .iter()
        .any(|x| x["check"] == "cloudtrail-multi-region" && x["status"] == "PASS"));
}

#[test]
fn an_unreachable_account_exits_1_naming_it() {
    let moto = Moto::start();
    let out = moto
        .command(&["audit", "--format", "json"])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sts:GetCallerIdentity failed, so no account can be audited"),
        "{}",
        stderr(&out)
    );
}

/// moto enforces IAM policies once its first requests are done: the auditor's role is denied
/// two calls, which become ERROR findings naming them; every other check still runs.
#[tokio::test(flavor = "multi_thread")]
async fn a_denied_call_is_an_error_naming_the_permission_and_the_rest_goes_on() {
    let moto = Moto::start_with(&[
        ("MOTO_IAM_LOAD_MANAGED_POLICIES", "true"),
        ("INITIAL_NO_AUTH_ACTION_COUNT", "3"),
    ]);
    let aws = common::moto::aws(&moto.url).await;
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":["iam:*","sts:GetCallerIdentity","securityhub:*","guardduty:*","config:*","elasticloadbalancing:*","acm:*","cloudtrail:*","access-analyzer:*"],"Resource":"*"},
        {"Effect":"Deny","Action":["iam:GetAccountPasswordPolicy","iam:GetAccountAuthorizationDetails"],"Resource":"*"}]}"#;
    let (key_id, secret) = common::moto::user_with_policy(&aws.sdk, "auditor", policy).await;
    let out = moto
        .command(&["audit", "--format", "json", "--region", "us-east-1"])
        .env("AWS_ACCESS_KEY_ID", &key_id)
        .env("AWS_SECRET_ACCESS_KEY", &secret)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let findings: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let errors = |check: &str| -> Vec<String> {
        findings
            .iter()
            .filter(|f| f["check"] == check && f["status"] == "ERROR")
            .map(|f| f["reason"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        errors("password-policy"),
        ["iam:GetAccountPasswordPolicy failed: AccessDenied: User: arn:aws:iam::123456789012:user/auditor is not authorized to perform: iam:GetAccountPasswordPolicy (HTTP 403) (the audit needs iam:GetAccountPasswordPolicy)"]
    );
    for check in [
        "admins-minimum",
        "group-empty",
        "full-admin-policies",
        "support-role",
    ] {
        let e = errors(check);
        assert_eq!(e.len(), 1, "{check}");
        assert!(
            e[0].starts_with("iam:GetAccountAuthorizationDetails failed: AccessDenied: "),
            "{}",
            e[0]
        );
        assert!(
            e[0].ends_with("(the audit needs iam:GetAccountAuthorizationDetails)"),
            "{}",
            e[0]
        );
    }
    // The credential report and the account summary were still read.
    let user_mfa: Vec<_> = findings
        .iter()
        .filter(|f| f["check"] == "user-mfa")
        .collect();
    assert_eq!(user_mfa.len(), 1);
    assert_eq!(
        user_mfa[0]["resource"],
        "arn:aws:iam::123456789012:user/auditor"
    );
    assert_eq!(user_mfa[0]["status"], "PASS");
    let root_mfa: Vec<_> = findings
        .iter()
        .filter(|f| f["check"] == "root-mfa")
        .collect();
    assert_eq!(root_mfa.len(), 1);
    assert_eq!(root_mfa[0]["status"], "FAIL", "{}", root_mfa[0]);
}

/// --role-arn audits the account of an assumed role (moto's STS answers for any role ARN).
#[test]
fn role_arn_audits_the_assumed_account() {
    let moto = Moto::start();
    let out = moto.trailwatch(&[
        "audit",
        "--format",
        "json",
        "--checks",
        "password-policy",
        "--role-arn",
        "arn:aws:iam::444455556666:role/trailwatch-audit",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let findings: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(findings.len(), 7);
    assert!(
        findings.iter().all(|f| f["account"] == "444455556666"),
        "{findings:?}"
    );
    assert!(findings
        .iter()
        .all(|f| f["resource"] == "arn:aws:iam::444455556666:root"));
}

/// One CloudTrail record of `who` (a user, or `role:NAME` for a session of the role).
fn call(
    who: &str,
    source: &str,
    name: &str,
    time: &str,
    extra: serde_json::Value,
) -> serde_json::Value {
    let account = "123456789012";
    let identity = match who.strip_prefix("role:") {
        Some(role) => serde_json::json!({
            "type": "AssumedRole", "accountId": account,
            "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/i-0abc"),
            "sessionContext": {"sessionIssuer": {"type": "Role", "userName": role,
                "arn": format!("arn:aws:iam::{account}:role/{role}")}}
        }),
        None => serde_json::json!({
            "type": "IAMUser", "accountId": account, "userName": who,
            "arn": format!("arn:aws:iam::{account}:user/{who}")
        }),
    };
    let mut r = serde_json::json!({
        "eventVersion": "1.09", "userIdentity": identity, "eventTime": time,
        "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
        "eventID": format!("{who}-{name}-{time}"), "recipientAccountId": account
    });
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    r
}

#[test]
fn usage_replayed_from_the_trail_against_what_is_granted() {
    let moto = Moto::start_with_managed_policies();
    seed(&moto);
    let dir = tempfile::tempdir().unwrap();
    let none = serde_json::json!({});
    // The audit runs as of 2027-06-01, months after the seed made every principal.
    let records = vec![
        call(
            "dev-carol",
            "s3.amazonaws.com",
            "GetObject",
            "2027-02-20T08:00:00Z",
            none.clone(),
        ),
        call(
            "dev-carol",
            "s3.amazonaws.com",
            "ListObjects",
            "2027-05-30T08:00:00Z",
            none.clone(),
        ),
        call(
            "launcher",
            "ec2.amazonaws.com",
            "RunInstances",
            "2027-05-31T08:00:00Z",
            serde_json::json!({"resources": [{"ARN": "arn:aws:ec2:us-east-1:123456789012:instance/i-1"}]}),
        ),
        call(
            "role:app-role",
            "s3.amazonaws.com",
            "GetObject",
            "2027-05-29T08:00:00Z",
            none.clone(),
        ),
        // Refused: no permission was used.
        call(
            "self-attacher",
            "iam.amazonaws.com",
            "AttachUserPolicy",
            "2027-05-31T09:00:00Z",
            serde_json::json!({"errorCode": "AccessDenied"}),
        ),
    ];
    let trail = dir.path().join("trail.json");
    std::fs::write(
        &trail,
        serde_json::json!({ "Records": records }).to_string(),
    )
    .unwrap();
    let usage = dir.path().join("usage.json");
    let usage_arg = usage.to_str().unwrap();

    let out = common::trailwatch(&["replay", "--usage", usage_arg, trail.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("usage: 3 principals, 4 actions, trail from 2027-02-20T08:00:00Z to 2027-05-31T08:00:00Z"),
        "{}",
        stderr(&out)
    );
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&usage).unwrap()).unwrap();
    assert_eq!(
        record["principals"]["arn:aws:iam::123456789012:user/launcher"]["actions"]
            ["ec2:RunInstances"],
        serde_json::json!({"first": "2027-05-31T08:00:00Z", "last": "2027-05-31T08:00:00Z", "count": 1,
            "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-1"]})
    );
    // Replaying more merges into the file: counts add up, first and last widen.
    let more = dir.path().join("more.json");
    let again = call(
        "dev-carol",
        "s3.amazonaws.com",
        "ListObjects",
        "2027-05-31T10:00:00Z",
        none,
    );
    std::fs::write(&more, serde_json::json!({ "Records": [again] }).to_string()).unwrap();
    let out = common::trailwatch(&["replay", "--usage", usage_arg, more.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&usage).unwrap()).unwrap();
    assert_eq!(
        record["principals"]["arn:aws:iam::123456789012:user/dev-carol"]["actions"]
            ["s3:ListBucket"],
        serde_json::json!({"first": "2027-05-30T08:00:00Z", "last": "2027-05-31T10:00:00Z", "count": 2})
    );

    let out = moto.trailwatch(&[
        "audit",
        "--format",
        "json",
        "--region",
        "us-east-1",
        "--checks",
        "unused-permissions",
        "--now",
        "2027-06-01T00:00:00Z",
        "--usage",
        usage_arg,
    ]);
    let findings: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |who: &str| {
        let f = findings
            .iter()
            .find(|f| f["resource"].as_str().unwrap().ends_with(who))
            .unwrap_or_else(|| panic!("no finding for {who}: {findings:#?}"));
        (
            f["status"].as_str().unwrap().to_string(),
            f["reason"].as_str().unwrap().to_string(),
        )
    };
    let fail = |reason: &str| ("FAIL".to_string(), reason.to_string());
    assert_eq!(
        of("user/launcher"),
        fail("granted but not used within 90 days: iam:PassRole (inline policy launch); used: ec2:RunInstances")
    );
    // Used, but longer ago than the 90 days.
    assert_eq!(
        of("user/dev-carol"),
        fail("granted but not used within 90 days: s3:GetObject (inline policy s3-read); used: s3:ListBucket")
    );
    // A role's sessions count for the role.
    assert_eq!(
        of("role/app-role"),
        fail("granted but not used within 90 days: s3:ListBucket (inline policy inline-s3); used: s3:GetObject")
    );
    assert!(of("user/self-attacher").1.ends_with("; used: nothing"));
    // Principals granted nothing are not judged.
    assert!(findings
        .iter()
        .all(|f| !f["resource"].as_str().unwrap().ends_with("user/ci-dave")));

    // The least-privilege policy of what dev-carol used: valid IAM JSON, no AWS call.
    let out = common::trailwatch(&[
        "audit",
        "--suggest-policy",
        "arn:aws:iam::123456789012:user/dev-carol",
        "--usage",
        usage_arg,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let policy: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        policy,
        serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "S3Used", "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}
        ]})
    );
    let out = common::trailwatch(&[
        "audit",
        "--suggest-policy",
        "arn:aws:iam::123456789012:user/nobody",
        "--usage",
        usage_arg,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("usage.json: no use by arn:aws:iam::123456789012:user/nobody recorded (the record holds 3 principals, 2027-02-20T08:00:00Z to 2027-05-31T10:00:00Z)"),
        "{}",
        stderr(&out)
    );
    // A file that is missing, or not a record, is named before anything is audited.
    let missing = dir.path().join("missing.json");
    let out = moto.trailwatch(&["audit", "--usage", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("error: --usage ")
            && stderr(&out).contains("missing.json: No such file"),
        "{}",
        stderr(&out)
    );
    let out = moto.trailwatch(&["audit", "--usage", trail.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("trail.json: not a trailwatch usage record: missing field `version`"),
        "{}",
        stderr(&out)
    );
}

/// Without `audit.regions` the regional checks run in every region the account has enabled,
/// as EC2 DescribeRegions lists them (moto lists every region it knows as enabled).
#[test]
fn every_enabled_region_is_audited() {
    let moto = Moto::start();
    let listed = std::process::Command::new("python3")
        .args([
            "-c",
            "import boto3; print(' '.join(sorted(r['RegionName'] for r in boto3.client('ec2').describe_regions()['Regions'])))",
        ])
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", common::moto::REGION)
        .output()
        .unwrap();
    assert!(listed.status.success(), "{}", stderr(&listed));
    let expected: Vec<String> = stdout(&listed)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert!(expected.len() > 10, "{expected:?}");
    let out = moto.trailwatch(&["audit", "--format", "json", "--checks", "guardduty-enabled"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let findings: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut regions: Vec<String> = findings
        .iter()
        .map(|f| {
            assert_eq!(f["status"], "FAIL", "{f}");
            assert_eq!(f["reason"], "no GuardDuty detector");
            f["region"].as_str().unwrap().to_string()
        })
        .collect();
    regions.sort();
    assert_eq!(regions, expected);
}
