//! `trailwatch audit --organization-role` against moto's Organizations and STS: every active
//! account audited through the role (the one trailwatch runs in with its own credentials),
//! each finding naming its account; an account that cannot be reached is an ERROR for that
//! account alone.

use crate::common;

use std::collections::BTreeMap;

use common::moto::{aws, Moto};
use common::{stderr, stdout};

const MANAGEMENT: &str = "123456789012";

/// An organization with two member accounts and a closed one; the members' ids, sorted.
pub async fn organization(moto: &Moto) -> Vec<String> {
    let aws = aws(&moto.url).await;
    let org = aws_sdk_organizations::Client::new(&aws.sdk);
    org.create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap();
    let mut ids = Vec::new();
    for name in ["prod", "dev", "closed"] {
        let created = org
            .create_account()
            .account_name(name)
            .email(format!("{name}@example.com"))
            .send()
            .await
            .unwrap();
        let id = created
            .create_account_status()
            .unwrap()
            .account_id()
            .unwrap()
            .to_string();
        if name == "closed" {
            org.close_account().account_id(&id).send().await.unwrap();
        } else {
            ids.push(id);
        }
    }
    ids.sort();
    ids
}

/// `trailwatch audit` of the organization, two checks, one region.
const ORGANIZATION_AUDIT: &[&str] = &[
    "audit",
    "--format",
    "json",
    "--region",
    "us-east-1",
    "--organization-role",
    "OrganizationAccountAccessRole",
    "--checks",
    "account-audited,password-policy",
];

fn by_account(out: &std::process::Output) -> BTreeMap<String, Vec<(String, String)>> {
    let mut map: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for line in stdout(out).lines() {
        let f: serde_json::Value = serde_json::from_str(line).unwrap();
        map.entry(f["account"].as_str().unwrap().to_string())
            .or_default()
            .push((
                f["check"].as_str().unwrap().to_string(),
                f["status"].as_str().unwrap().to_string(),
            ));
    }
    for v in map.values_mut() {
        v.sort();
        v.dedup();
    }
    map
}

#[tokio::test(flavor = "multi_thread")]
async fn every_active_account_is_audited_through_the_role() {
    let moto = Moto::start();
    let members = organization(&moto).await;
    let out = moto.trailwatch(ORGANIZATION_AUDIT);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let got = by_account(&out);
    let mut accounts: Vec<String> = members.clone();
    accounts.push(MANAGEMENT.into());
    accounts.sort();
    assert_eq!(
        got.keys().cloned().collect::<Vec<_>>(),
        accounts,
        "the closed account is left out"
    );
    for (account, findings) in &got {
        assert_eq!(
            findings,
            &vec![
                ("account-audited".to_string(), "PASS".to_string()),
                ("password-policy".to_string(), "FAIL".to_string()),
            ],
            "{account}"
        );
    }
    // Seven password-policy requirements fail in each account, each naming it.
    let lines = stdout(&out);
    for account in &accounts {
        let root = format!("\"resource\":\"arn:aws:iam::{account}:root\"");
        assert_eq!(
            lines
                .lines()
                .filter(|l| l.contains("\"check\":\"password-policy\"") && l.contains(&root))
                .count(),
            7,
            "{account}"
        );
    }
}

/// moto enforces IAM once its first requests are done: the caller may not assume roles, so
/// every member account is an ERROR naming the call, and the management account is audited.
#[tokio::test(flavor = "multi_thread")]
async fn an_account_that_cannot_be_reached_is_an_error_for_that_account_only() {
    let moto = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "8")]);
    let members = organization(&moto).await;
    let aws = aws(&moto.url).await;
    let (key_id, secret) = common::moto::user_with_policy(
        &aws.sdk,
        "auditor",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"sts:AssumeRole","Resource":"*"}]}"#,
    )
    .await;
    let out = moto
        .command(ORGANIZATION_AUDIT)
        .env("AWS_ACCESS_KEY_ID", &key_id)
        .env("AWS_SECRET_ACCESS_KEY", &secret)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let got = by_account(&out);
    assert_eq!(
        got[MANAGEMENT],
        vec![
            ("account-audited".to_string(), "PASS".to_string()),
            ("password-policy".to_string(), "FAIL".to_string()),
        ]
    );
    for member in &members {
        assert_eq!(
            got[member],
            vec![("account-audited".to_string(), "ERROR".to_string())],
            "{member}"
        );
        assert!(
            stderr(&out).contains(&format!("error: {member}: ")),
            "{}",
            stderr(&out)
        );
    }
    let line = stdout(&out)
        .lines()
        .find(|l| l.contains(&format!("\"account\":\"{}\"", members[0])))
        .unwrap()
        .to_string();
    let finding: serde_json::Value = serde_json::from_str(&line).unwrap();
    let reason = finding["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(&format!(
            "sts:AssumeRole of arn:aws:iam::{}:role/OrganizationAccountAccessRole failed (the caller needs sts:AssumeRole on it, and the role must trust the caller's account): ",
            members[0]
        )),
        "{reason}"
    );
}

/// The daemon with `organization_role`: its scheduled audit covers every active account, and
/// an event in a member account re-audits that account.
#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_audits_the_organization_and_reaudits_the_account_an_event_names() {
    use common::daemon::{start, wait_for};
    use std::time::Duration;
    let moto = Moto::start();
    let members = organization(&moto).await;
    let aws = aws(&moto.url).await;
    let setup = common::moto::provision(&aws).await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[audit]\nenabled = true\nregions = [\"us-east-1\"]\ndebounce = \"500ms\"\norganization_role = \"OrganizationAccountAccessRole\"\nsecurity_hub = true\nstate_file = \"{}\"\n",
        dir.path().join("posture.json").display()
    );
    let daemon = start(
        &moto,
        &config,
        &[
            "--queue-url",
            &setup.events_queue,
            "--sns-topic-arn",
            &setup.topic_arn,
        ],
        &dir.path().join("daemon.log"),
    );
    wait_for("first audit", Duration::from_secs(90), || {
        daemon.metric("trailwatch_posture_audits_total{kind=\"full\",result=\"error\"}")
            + daemon.metric("trailwatch_posture_audits_total{kind=\"full\",result=\"ok\"}")
            >= 3.0
    });
    let read = |got: &mut Vec<serde_json::Value>, bodies: Vec<String>| {
        got.extend(
            bodies
                .iter()
                .map(|b| serde_json::from_str::<serde_json::Value>(b).unwrap()),
        )
    };
    let mut first = Vec::new();
    read(&mut first, aws.drain(&setup.alerts_queue).await);
    let password = |messages: &[serde_json::Value], account: &str, change: &str| {
        messages
            .iter()
            .filter(|m| {
                m["kind"] == "posture"
                    && m["change"] == change
                    && m["finding"]["check"] == "password-policy"
                    && m["finding"]["account"] == account
            })
            .count()
    };
    for account in members.iter().map(String::as_str).chain([MANAGEMENT]) {
        assert_eq!(password(&first, account, "failed"), 7, "{account}");
    }

    // The member `members[0]` gets a password policy; its trail says so.
    let sts = aws_sdk_sts::Client::new(&aws.sdk);
    let creds = sts
        .assume_role()
        .role_arn(format!(
            "arn:aws:iam::{}:role/OrganizationAccountAccessRole",
            members[0]
        ))
        .role_session_name("test")
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let member_sdk = aws
        .sdk
        .to_builder()
        .credentials_provider(aws_sdk_iam::config::SharedCredentialsProvider::new(
            aws_sdk_iam::config::Credentials::new(
                creds.access_key_id(),
                creds.secret_access_key(),
                Some(creds.session_token().to_string()),
                None,
                "member",
            ),
        ))
        .build();
    aws_sdk_iam::Client::new(&member_sdk)
        .update_account_password_policy()
        .minimum_password_length(14)
        .password_reuse_prevention(24)
        .max_password_age(90)
        .require_uppercase_characters(true)
        .require_lowercase_characters(true)
        .require_numbers(true)
        .require_symbols(true)
        .send()
        .await
        .unwrap();
    let member = &members[0];
    let record = format!(
        r#"{{"Records":[{{"eventVersion":"1.09","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::{member}:user/ops","accountId":"{member}","userName":"ops"}},"eventTime":"2026-11-25T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"UpdateAccountPasswordPolicy","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.9","userAgent":"aws-cli/2.15","requestParameters":{{"minimumPasswordLength":14}},"responseElements":null,"eventID":"ev-policy","eventType":"AwsApiCall","recipientAccountId":"{member}"}}]}}"#
    );
    aws.s3
        .put_object()
        .bucket("trail")
        .key(format!("AWSLogs/{member}/CloudTrail/us-east-1/2026/11/25/{member}_CloudTrail_us-east-1_20261125T1000Z_policy.json.gz"))
        .body(common::gzip(record.as_bytes()).into())
        .send()
        .await
        .unwrap();
    let mut got = Vec::new();
    // Generous: a bound for a loaded machine, not a measurement.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while password(&got, member, "resolved") < 7 && std::time::Instant::now() < deadline {
        read(&mut got, aws.drain(&setup.alerts_queue).await);
    }
    assert_eq!(password(&got, member, "resolved"), 7, "{got:#?}");
    // Only that account changed.
    for account in members[1..].iter().map(String::as_str).chain([MANAGEMENT]) {
        assert_eq!(password(&got, account, "resolved"), 0, "{account}");
    }
    // Each account's findings went to its own Security Hub; the re-audit archived the
    // member's password-policy findings there. The sinks hear of a change before Security
    // Hub is brought in step, so the import may still be under way.
    let states = |hub: Vec<aws_sdk_securityhub::types::AwsSecurityFinding>| {
        let mut v: Vec<String> = hub
            .iter()
            .filter(|f| f.generator_id() == Some("password-policy"))
            .map(|f| f.record_state().unwrap().as_str().to_string())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let mut member_states = states(hub_findings(&member_sdk).await);
    while member_states != ["ARCHIVED"] && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        member_states = states(hub_findings(&member_sdk).await);
    }
    assert_eq!(member_states, vec!["ARCHIVED"]);
    assert_eq!(states(hub_findings(&aws.sdk).await), vec!["ACTIVE"]);
}

/// Every finding of the account's Security Hub in us-east-1.
async fn hub_findings(
    sdk: &aws_config::SdkConfig,
) -> Vec<aws_sdk_securityhub::types::AwsSecurityFinding> {
    let hub = aws_sdk_securityhub::Client::new(sdk);
    let mut out = Vec::new();
    let mut pages = hub.get_findings().into_paginator().send();
    while let Some(page) = pages.next().await {
        out.extend(page.unwrap().findings().iter().cloned());
    }
    out
}
