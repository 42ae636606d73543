//! Findings of the security services on the daemon's queue (EventBridge events of Security
//! Hub, GuardDuty and Access Analyzer) against moto: the open ones at or above
//! `[findings] min_severity` reach the sinks once each, with the posture of the principal
//! they name; trailwatch's own findings, closed ones and those below the threshold do not; a
//! finding event that cannot be read stays for the dead-letter queue.

use crate::common;

use std::time::Duration;

use common::daemon::{start, wait_for};
use common::moto::{aws, provision, Moto};

const ACCOUNT: &str = "111122223333";

fn sample(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/data/findings/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn open_findings_above_the_threshold_reach_the_sinks_once_with_the_principals_posture() {
    let moto = Moto::start_with_managed_policies();
    let aws = aws(&moto.url).await;
    let setup = provision(&aws).await;
    // The role GuardDuty's finding names, an admin: its posture rides on the finding.
    let iam = aws_sdk_iam::Client::new(&aws.sdk);
    iam.create_role()
        .role_name("web-server")
        .assume_role_policy_document(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .unwrap();
    iam.attach_role_policy()
        .role_name("web-server")
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[audit]\nenabled = true\nregions = [\"us-east-1\"]\nstate_file = \"{}\"\n\n[findings]\nmin_severity = \"high\"\n[[findings.exclude]]\nname = \"guardduty:Recon:*\"\nreason = \"scanner\"\n",
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
    wait_for("first audit", Duration::from_secs(60), || {
        daemon.metric("trailwatch_posture_last_run_timestamp_seconds") > 0.0
    });
    aws.drain(&setup.alerts_queue).await;

    // moto's account is not the samples' account: the role's posture is looked up by the
    // ARN the finding names, so the GuardDuty finding names moto's.
    let moto_account = "123456789012";
    let mut guardduty = sample("guardduty.json");
    guardduty["account"] = moto_account.into();
    guardduty["detail"]["accountId"] = moto_account.into();
    let mut low = guardduty.clone();
    low["detail"]["id"] = "low-one".into();
    low["detail"]["severity"] = 2.0.into();
    let mut excluded = guardduty.clone();
    excluded["detail"]["id"] = "recon-one".into();
    excluded["detail"]["type"] = "Recon:EC2/PortProbeUnprotectedPort".into();
    let mut unreadable = guardduty.clone();
    unreadable["detail"]
        .as_object_mut()
        .unwrap()
        .remove("severity");
    let bodies = [
        guardduty.clone(),
        guardduty, // the same update again: delivered once
        low,
        excluded,
        sample("security-hub.json"),
        sample("access-analyzer.json"),
        // The same finding again, through SNS (EventBridge → SNS → SQS): delivered once.
        serde_json::json!({
            "Type": "Notification",
            "MessageId": "0f1c2b7e-6d1a-5c55-9b1e-3d7e8c2a4f10",
            "TopicArn": "arn:aws:sns:eu-west-1:111122223333:findings",
            "Message": sample("access-analyzer.json").to_string(),
        }),
        unreadable,
    ];
    for body in &bodies {
        aws.sqs
            .send_message()
            .queue_url(&setup.events_queue)
            .message_body(body.to_string())
            .send()
            .await
            .unwrap();
    }
    let mut got: Vec<serde_json::Value> = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while got.len() < 3 && std::time::Instant::now() < deadline {
        for body in aws.drain(&setup.alerts_queue).await {
            got.push(serde_json::from_str(&body).unwrap());
        }
    }
    // A moment more, for anything that should not come.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for body in aws.drain(&setup.alerts_queue).await {
        got.push(serde_json::from_str(&body).unwrap());
    }
    let mut summary: Vec<(String, String, String)> = got
        .iter()
        .map(|m| {
            assert_eq!(m["kind"], "finding", "{m:#}");
            (
                m["name"].as_str().unwrap().to_string(),
                m["severity"].as_str().unwrap().to_string(),
                m["resource"]["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    summary.sort();
    assert_eq!(
        summary,
        vec![
            (
                "access-analyzer:public-access".to_string(),
                "high".to_string(),
                "arn:aws:s3:::exports-2026".to_string()
            ),
            (
                "guardduty:UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"
                    .to_string(),
                "high".to_string(),
                format!("arn:aws:iam::{moto_account}:role/web-server")
            ),
            (
                "securityhub:Software and Configuration Checks/Vulnerabilities/CVE".to_string(),
                "critical".to_string(),
                format!("arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-0b2c3d4e5f6a7b8c9")
            ),
        ],
        "{got:#?}"
    );
    let gd = got.iter().find(|m| m["service"] == "guardduty").unwrap();
    assert_eq!(
        gd["posture"]["arn"],
        format!("arn:aws:iam::{moto_account}:role/web-server")
    );
    assert_eq!(gd["posture"]["admin"], true);
    assert_eq!(
        gd["console_url"],
        "https://console.aws.amazon.com/guardduty/home?region=eu-west-1#/findings?macros=current&fId=16afba5c5c43e07c9e3e5e2e544e95df"
    );
    let count = |service: &str, outcome: &str| {
        daemon.metric(&format!(
            "trailwatch_findings_total{{outcome=\"{outcome}\",service=\"{service}\"}}"
        ))
    };
    wait_for("the counts", Duration::from_secs(10), || {
        count("guardduty", "sent") == 2.0
    });
    assert_eq!(count("guardduty", "below_threshold"), 1.0);
    assert_eq!(count("guardduty", "excluded"), 1.0);
    assert_eq!(count("securityhub", "sent"), 1.0);
    assert_eq!(count("securityhub", "below_threshold"), 1.0);
    assert_eq!(count("securityhub", "own"), 1.0);
    assert_eq!(count("securityhub", "closed"), 1.0);
    assert_eq!(
        count("access-analyzer", "sent"),
        2.0,
        "read twice, delivered once"
    );
    // The unreadable event is not deleted: it is counted and left for the dead-letter queue.
    wait_for("the unreadable event", Duration::from_secs(20), || {
        daemon.metric("trailwatch_sqs_messages_failed_total{reason=\"unrecognized\"}") >= 1.0
    });
    let log = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap();
    assert!(
        log.contains("GuardDuty finding has no numeric severity"),
        "{log}"
    );
}
