//! `trailwatch audit --security-hub` against moto: FAILs imported active, MUTED ones
//! suppressed, regional findings into their region's hub and account-wide ones into the first
//! region's; the next audit updates what still fails (keeping when it was first imported) and
//! archives, as passed and resolved, what passes now or is gone. `--format asff` prints the
//! documents the import sends.

use crate::common;

use std::collections::BTreeMap;

use aws_sdk_securityhub::types::AwsSecurityFinding;
use common::moto::{aws, Moto};
use common::{stderr, stdout};
use trailwatch::audit::security_hub::asff;
use trailwatch::audit::{Finding, Status};

const ACCOUNT: &str = "123456789012";

/// trailwatch's findings held in a region's hub, by id.
async fn held(sdk: &aws_config::SdkConfig, region: &str) -> BTreeMap<String, AwsSecurityFinding> {
    let hub = aws_sdk_securityhub::Client::new(
        &sdk.to_builder()
            .region(aws_config::Region::new(region.to_string()))
            .build(),
    );
    let mut out = BTreeMap::new();
    let mut pages = hub.get_findings().into_paginator().send();
    while let Some(page) = pages.next().await {
        for f in page.unwrap().findings() {
            let id = f.id().unwrap().to_string();
            if id.starts_with(asff::ID_PREFIX) {
                out.insert(id, f.clone());
            }
        }
    }
    out
}

fn states(f: &AwsSecurityFinding) -> (String, String, String) {
    (
        f.compliance()
            .unwrap()
            .status()
            .unwrap()
            .as_str()
            .to_string(),
        f.workflow().unwrap().status().unwrap().as_str().to_string(),
        f.record_state().unwrap().as_str().to_string(),
    )
}

fn findings(out: &std::process::Output) -> Vec<Finding> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn state(c: &str, w: &str, r: &str) -> (String, String, String) {
    (c.to_string(), w.to_string(), r.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn findings_go_to_security_hub_and_are_archived_when_they_pass() {
    let moto = Moto::start_with_managed_policies();
    let aws = aws(&moto.url).await;
    let iam = aws_sdk_iam::Client::new(&aws.sdk);
    // alice and dave sign in without MFA (user-mfa fails for both); break-glass too, muted.
    for user in ["alice", "dave", "break-glass"] {
        iam.create_user().user_name(user).send().await.unwrap();
        iam.create_login_profile()
            .user_name(user)
            .password("Tr0ub4dor&3-long")
            .send()
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("audit.toml");
    std::fs::write(
        &config,
        "[audit]\nsecurity_hub = true\n[[audit.mute]]\ncheck = \"user-mfa\"\nresource = \"*:user/break-glass\"\nreason = \"MFA device in the safe\"\n",
    )
    .unwrap();
    let audit = |format: &str, extra: &[&str]| {
        let mut args = vec![
            "audit",
            "--config",
            config.to_str().unwrap(),
            "--format",
            format,
            "--region",
            "us-east-1",
            "--region",
            "eu-west-1",
            "--checks",
            "user-mfa,security-hub-enabled,guardduty-enabled",
        ];
        args.extend_from_slice(extra);
        moto.trailwatch(&args)
    };

    let first = audit("json", &[]);
    assert_eq!(first.status.code(), Some(3), "{}", stderr(&first));
    let reported = findings(&first);
    let east = held(&aws.sdk, "us-east-1").await;
    let west = held(&aws.sdk, "eu-west-1").await;
    // Every FAIL and MUTED finding of the checks run, in its region's hub; account-wide ones
    // in the first region's.
    for f in reported
        .iter()
        .filter(|f| matches!(f.status, Status::Fail | Status::Muted))
    {
        let hub = if f.region.as_deref() == Some("eu-west-1") {
            &west
        } else {
            &east
        };
        let held = hub
            .get(&asff::id(f))
            .unwrap_or_else(|| panic!("{} {} not imported", f.check.as_str(), f.resource));
        let want = if f.status == Status::Muted {
            state("FAILED", "SUPPRESSED", "ACTIVE")
        } else {
            state("FAILED", "NEW", "ACTIVE")
        };
        assert_eq!(states(held), want, "{}", f.resource);
        assert_eq!(held.generator_id(), Some(f.check.as_str()));
        assert_eq!(
            held.product_arn(),
            Some(
                format!(
                    "arn:aws:securityhub:{}:{ACCOUNT}:product/{ACCOUNT}/default",
                    f.region.as_deref().unwrap_or("us-east-1")
                )
                .as_str()
            )
        );
        assert_eq!(held.resources()[0].id(), Some(f.resource.as_str()));
    }
    let user_mfa: Vec<(&str, Status)> = reported
        .iter()
        .filter(|f| f.check.as_str() == "user-mfa")
        .map(|f| (f.resource.rsplit('/').next().unwrap(), f.status))
        .collect();
    assert_eq!(
        user_mfa,
        vec![
            ("alice", Status::Fail),
            ("dave", Status::Fail),
            ("break-glass", Status::Muted)
        ]
    );
    // moto has neither Security Hub nor GuardDuty on: a FAIL per region, each in its hub.
    let regional = |hub: &BTreeMap<String, AwsSecurityFinding>| {
        let mut v: Vec<String> = hub
            .values()
            .filter(|f| f.generator_id() != Some("user-mfa"))
            .map(|f| format!("{} {}", f.generator_id().unwrap(), f.region().unwrap()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        regional(&west),
        vec![
            "guardduty-enabled eu-west-1",
            "security-hub-enabled eu-west-1"
        ]
    );
    assert_eq!(
        regional(&east),
        vec![
            "guardduty-enabled us-east-1",
            "security-hub-enabled us-east-1"
        ],
        "only the checks run are imported"
    );
    assert!(
        stderr(&first).contains(&format!("security hub: account {ACCOUNT}: ")),
        "{}",
        stderr(&first)
    );
    let alice_id = asff::id(
        reported
            .iter()
            .find(|f| f.resource.ends_with("user/alice"))
            .unwrap(),
    );
    let dave_id = asff::id(
        reported
            .iter()
            .find(|f| f.resource.ends_with("user/dave"))
            .unwrap(),
    );
    let break_glass_created = east[&asff::id(
        reported
            .iter()
            .find(|f| f.resource.ends_with("user/break-glass"))
            .unwrap(),
    )]
        .created_at()
        .unwrap()
        .to_string();

    // alice stops signing in with a password; dave is deleted.
    iam.delete_login_profile()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    iam.delete_login_profile()
        .user_name("dave")
        .send()
        .await
        .unwrap();
    iam.delete_user().user_name("dave").send().await.unwrap();
    let second = audit("json", &["--now", "2030-01-01T00:00:00Z"]);
    let err = stderr(&second);
    let east = held(&aws.sdk, "us-east-1").await;
    assert_eq!(
        states(&east[&alice_id]),
        state("PASSED", "RESOLVED", "ARCHIVED"),
        "a pass closes the finding"
    );
    assert_eq!(
        states(&east[&dave_id]),
        state("PASSED", "RESOLVED", "ARCHIVED"),
        "a finding whose resource is gone is closed too"
    );
    assert_eq!(
        east[&dave_id].updated_at(),
        Some("2030-01-01T00:00:00.000Z")
    );
    // Still failing: updated, first import date kept.
    let bg = east
        .values()
        .find(|f| f.resources()[0].id().unwrap().ends_with("user/break-glass"))
        .unwrap();
    assert_eq!(states(bg), state("FAILED", "SUPPRESSED", "ACTIVE"));
    assert_eq!(bg.created_at(), Some(break_glass_created.as_str()));
    assert_eq!(bg.updated_at(), Some("2030-01-01T00:00:00.000Z"));
    // The workflow of existing findings moves with BatchUpdateFindings, which moto does not
    // implement: a warning, not a failure (the findings are archived all the same).
    assert!(
        err.contains("(2 archived)") && err.contains("0 failed, 1 warnings"),
        "{err}"
    );
    assert!(
        err.contains(
            "warning: securityhub:BatchUpdateFindings in us-east-1 (2 findings to RESOLVED): "
        ),
        "{err}"
    );

    // --format asff prints the documents of the findings, the same ids the hub holds.
    let printed = audit("asff", &["--now", "2030-01-01T00:00:00Z"]);
    let docs: Vec<serde_json::Value> = stdout(&printed)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let doc = docs
        .iter()
        .find(|d| {
            d["Resources"][0]["Id"]
                .as_str()
                .unwrap()
                .ends_with("user/break-glass")
        })
        .unwrap();
    assert_eq!(doc["Id"], bg.id().unwrap());
    assert_eq!(doc["Workflow"]["Status"], "SUPPRESSED");
    assert_eq!(
        doc["Compliance"]["RelatedRequirements"][0],
        "CIS AWS Foundations Benchmark v3.0.0/1.10"
    );
}
