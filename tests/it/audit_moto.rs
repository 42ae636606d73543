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
    let out = moto.trailwatch(&[
        "audit",
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

    // Every check of the catalogue reports on this account.
    let listed = common::trailwatch(&["audit", "--list-checks"]);
    let ids: BTreeSet<String> = stdout(&listed)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
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
        // moto does not implement service last accessed data or IAM Access Analyzer.
        f("user-service-inactivity", "root", "", "ERROR"),
        f("role-service-inactivity", "root", "", "ERROR"),
        f("access-analyzer-enabled", "root", "us-east-1", "ERROR"),
        f("access-analyzer-enabled", "root", "eu-west-1", "ERROR"),
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
        "2 IAM user(s) with full administrative rights (minimum 2): admin-alice, admin-bob"
    );
    assert_eq!(find("admins-maximum", ":root")["status"], "PASS");
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
    let iam = aws_sdk_iam::Client::new(&aws.sdk);
    iam.create_user().user_name("auditor").send().await.unwrap();
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":["iam:*","sts:GetCallerIdentity","securityhub:*","guardduty:*","config:*","elasticloadbalancing:*","acm:*","cloudtrail:*","access-analyzer:*"],"Resource":"*"},
        {"Effect":"Deny","Action":["iam:GetAccountPasswordPolicy","iam:GetAccountAuthorizationDetails"],"Resource":"*"}]}"#;
    iam.put_user_policy()
        .user_name("auditor")
        .policy_name("audit")
        .policy_document(policy)
        .send()
        .await
        .unwrap();
    let key = iam
        .create_access_key()
        .user_name("auditor")
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    let out = moto
        .command(&["audit", "--format", "json", "--region", "us-east-1"])
        .env("AWS_ACCESS_KEY_ID", key.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", key.secret_access_key())
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
