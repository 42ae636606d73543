//! The daemon's posture half against moto: the audit at start sends its FAILs once, an IAM
//! change on the trail brings the re-audited finding seconds after its alert (and the alert
//! carries the actor's posture), a fix resolves it, and a restart sends nothing again.

use crate::common;

use std::time::Duration;

use common::daemon::{start, wait_for, Daemon};
use common::gzip;
use common::moto::{aws, provision, Aws, Moto, Setup};

const ACCOUNT: &str = "123456789012";

fn config(dir: &std::path::Path) -> String {
    format!(
        "[audit]\nenabled = true\nregions = [\"us-east-1\"]\ndebounce = \"500ms\"\nstate_file = \"{}\"\n",
        dir.join("posture.json").display()
    )
}

fn run(moto: &Moto, setup: &Setup, dir: &std::path::Path, log: &str) -> Daemon {
    start(
        moto,
        &config(dir),
        &[
            "--queue-url",
            &setup.events_queue,
            "--sns-topic-arn",
            &setup.topic_arn,
        ],
        &dir.join(log),
    )
}

/// A CloudTrail log file with one IAM call by the user `ops`.
fn trail_file(event_id: &str, event_name: &str, request: &str) -> Vec<u8> {
    call_file("iam.amazonaws.com", event_id, event_name, request)
}

/// A CloudTrail log file with one call to `source` by the user `ops`.
fn call_file(source: &str, event_id: &str, event_name: &str, request: &str) -> Vec<u8> {
    gzip(format!(
        r#"{{"Records":[{{"eventVersion":"1.09","userIdentity":{{"type":"IAMUser","principalId":"AIDAOPS","arn":"arn:aws:iam::{ACCOUNT}:user/ops","accountId":"{ACCOUNT}","userName":"ops"}},"eventTime":"2026-11-25T10:00:00Z","eventSource":"{source}","eventName":"{event_name}","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.9","userAgent":"aws-cli/2.15","requestParameters":{request},"responseElements":null,"requestID":"r-{event_id}","eventID":"{event_id}","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"{ACCOUNT}"}}]}}"#
    ).as_bytes())
}

async fn upload(aws: &Aws, name: &str, body: Vec<u8>) {
    let key = format!("AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/11/25/{ACCOUNT}_CloudTrail_us-east-1_20261125T1000Z_{name}.json.gz");
    aws.s3
        .put_object()
        .bucket("trail")
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap();
}

/// Messages on the readback queue until `enough` says so (or the time is up).
async fn collect(
    aws: &Aws,
    queue: &str,
    limit: Duration,
    enough: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + limit;
    let mut got = Vec::new();
    while !enough(&got) && std::time::Instant::now() < deadline {
        for body in aws.drain(queue).await {
            got.push(serde_json::from_str(&body).unwrap());
        }
    }
    got
}

fn posture<'a>(
    messages: &'a [serde_json::Value],
    check: &str,
    resource_end: &str,
) -> Vec<&'a serde_json::Value> {
    messages
        .iter()
        .filter(|m| {
            m["kind"] == "posture"
                && m["finding"]["check"] == check
                && m["finding"]["resource"]
                    .as_str()
                    .unwrap()
                    .ends_with(resource_end)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn iam_change_on_the_trail_gives_the_changed_finding_within_seconds() {
    let moto = Moto::start_with_managed_policies();
    let aws = aws(&moto.url).await;
    let setup = provision(&aws).await;
    let iam = aws_sdk_iam::Client::new(&aws.sdk);
    for user in ["ops", "carol"] {
        iam.create_user().user_name(user).send().await.unwrap();
    }
    iam.attach_user_policy()
        .user_name("ops")
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = run(&moto, &setup, dir.path(), "a.log");

    // The audit at start: every FAIL once, as posture messages; carol has no password yet.
    wait_for("first audit", Duration::from_secs(60), || {
        daemon.metric("trailwatch_posture_last_run_timestamp_seconds") > 0.0
    });
    let first = collect(&aws, &setup.alerts_queue, Duration::from_secs(5), |_| false).await;
    assert!(!first.is_empty());
    assert!(first.iter().all(|m| m["kind"] == "posture"
        && m["change"] == "failed"
        && m["finding"]["status"] == "FAIL"));
    assert_eq!(posture(&first, "user-inline-policies", "user/ops").len(), 1);
    assert!(posture(&first, "user-mfa", "user/carol").is_empty());
    assert_eq!(
        posture(&first, "password-policy", ":root").len(),
        7,
        "no password policy fails each requirement"
    );
    let sent_first = first.len() as f64;
    assert_eq!(
        daemon.metric("trailwatch_posture_changes_total{change=\"failed\"}"),
        sent_first
    );

    // ops gives carol a console password; the trail says so.
    iam.create_login_profile()
        .user_name("carol")
        .password("Tr0ub4dor&3-long")
        .send()
        .await
        .unwrap();
    let started = std::time::Instant::now();
    upload(
        &aws,
        "login",
        trail_file(
            "ev-login",
            "CreateLoginProfile",
            r#"{"userName":"carol","passwordResetRequired":false}"#,
        ),
    )
    .await;
    let got = collect(&aws, &setup.alerts_queue, Duration::from_secs(30), |m| {
        m.iter()
            .any(|x| x["rule"]["name"] == "login-profile-changed")
            && !posture(m, "user-mfa", "user/carol").is_empty()
    })
    .await;
    let took = started.elapsed();
    let alert = got
        .iter()
        .find(|x| x["rule"]["name"] == "login-profile-changed")
        .expect("the alert");
    // The actor's posture rides on the alert: an admin without MFA, failing the direct policy.
    assert_eq!(
        alert["posture"]["arn"],
        format!("arn:aws:iam::{ACCOUNT}:user/ops")
    );
    assert_eq!(alert["posture"]["admin"], true);
    assert_eq!(alert["posture"]["mfa"], false);
    assert!(alert["posture"]["failing"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "user-inline-policies"));
    let change = posture(&got, "user-mfa", "user/carol");
    assert_eq!(change.len(), 1, "{got:#?}");
    let change = change[0];
    assert_eq!(change["change"], "failed");
    assert_eq!(change["finding"]["status"], "FAIL");
    assert_eq!(
        change["finding"]["reason"],
        "console password enabled, mfa_active false"
    );
    assert_eq!(change["trigger"]["event_name"], "CreateLoginProfile");
    assert_eq!(change["trigger"]["event_id"], "ev-login");
    assert!(took < Duration::from_secs(30), "{took:?}");
    // Nothing else changed, so nothing else was sent.
    assert_eq!(got.len(), 2, "{got:#?}");

    // carol gets an MFA device: resolved.
    let device = iam
        .create_virtual_mfa_device()
        .virtual_mfa_device_name("carol")
        .send()
        .await
        .unwrap();
    let serial = device.virtual_mfa_device.unwrap().serial_number;
    iam.enable_mfa_device()
        .user_name("carol")
        .serial_number(&serial)
        .authentication_code1("123456")
        .authentication_code2("654321")
        .send()
        .await
        .unwrap();
    upload(
        &aws,
        "mfa",
        trail_file(
            "ev-mfa",
            "EnableMFADevice",
            &format!(r#"{{"userName":"carol","serialNumber":"{serial}"}}"#),
        ),
    )
    .await;
    let got = collect(&aws, &setup.alerts_queue, Duration::from_secs(30), |m| {
        !posture(m, "user-mfa", "user/carol").is_empty()
    })
    .await;
    let resolved = posture(&got, "user-mfa", "user/carol");
    assert_eq!(resolved.len(), 1, "{got:#?}");
    assert_eq!(resolved[0]["change"], "resolved");
    assert_eq!(resolved[0]["previous_status"], "FAIL");
    assert_eq!(resolved[0]["finding"]["status"], "PASS");
    assert_eq!(
        daemon.metric("trailwatch_posture_changes_total{change=\"resolved\"}"),
        1.0
    );
    assert!(daemon.metric("trailwatch_posture_audits_total{kind=\"event\",result=\"ok\"}") >= 2.0);

    // ops makes carol an admin: the change's own alert says so at once, and the re-audit
    // brings the admin-access FAIL seconds later.
    iam.attach_user_policy()
        .user_name("carol")
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await
        .unwrap();
    upload(
        &aws,
        "attach",
        trail_file(
            "ev-attach",
            "AttachUserPolicy",
            r#"{"userName":"carol","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"}"#,
        ),
    )
    .await;
    let got = collect(&aws, &setup.alerts_queue, Duration::from_secs(30), |m| {
        m.iter()
            .any(|x| x["rule"]["name"] == "admin-policy-attached")
            && !posture(m, "admin-access", "user/carol").is_empty()
    })
    .await;
    let alert = got
        .iter()
        .find(|x| x["rule"]["name"] == "admin-policy-attached")
        .expect("the alert");
    assert_eq!(
        alert["posture"]["targets"],
        serde_json::json!([{"arn": format!("arn:aws:iam::{ACCOUNT}:user/carol"), "admin": true}])
    );
    let admin = posture(&got, "admin-access", "user/carol");
    assert_eq!(admin.len(), 1, "{got:#?}");
    assert_eq!(admin[0]["change"], "failed");
    assert_eq!(admin[0]["trigger"]["event_name"], "AttachUserPolicy");
    assert_eq!(
        admin[0]["finding"]["reason"],
        "* on * through managed policy arn:aws:iam::aws:policy/AdministratorAccess (statement 1)"
    );
    assert_eq!(
        daemon.metric(
            "trailwatch_posture_findings{check=\"user-mfa\",severity=\"high\",status=\"PASS\"}"
        ),
        2.0
    );

    // ops opens a bucket to anyone: the detection fires on the event, and the re-audit of
    // that bucket alone brings its resource-policy-public FAIL.
    let s3 = &aws.s3;
    s3.create_bucket().bucket("exports").send().await.unwrap();
    let open = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Anyone","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::exports/*"}]}"#;
    s3.put_bucket_policy()
        .bucket("exports")
        .policy(open)
        .send()
        .await
        .unwrap();
    upload(
        &aws,
        "bucket",
        call_file(
            "s3.amazonaws.com",
            "ev-bucket",
            "PutBucketPolicy",
            &format!(r#"{{"bucketName":"exports","bucketPolicy":{open}}}"#),
        ),
    )
    .await;
    let got = collect(&aws, &setup.alerts_queue, Duration::from_secs(30), |m| {
        m.iter()
            .any(|x| x["rule"]["name"] == "resource-policy-public")
            && !posture(m, "resource-policy-public", ":::exports").is_empty()
    })
    .await;
    let public = posture(&got, "resource-policy-public", ":::exports");
    assert_eq!(public.len(), 1, "{got:#?}");
    assert_eq!(public[0]["change"], "failed");
    assert_eq!(public[0]["trigger"]["event_name"], "PutBucketPolicy");
    assert_eq!(
        public[0]["finding"]["reason"],
        "bucket policy: statement Anyone allows *"
    );
    assert!(daemon.stop().success());

    // A restart restores the findings: its own audit at start finds nothing new to send.
    let daemon = run(&moto, &setup, dir.path(), "b.log");
    wait_for("audit after restart", Duration::from_secs(60), || {
        daemon.metric("trailwatch_posture_last_run_timestamp_seconds") > 0.0
    });
    let again = collect(&aws, &setup.alerts_queue, Duration::from_secs(3), |_| false).await;
    assert!(again.is_empty(), "{again:#?}");
    assert_eq!(
        daemon.metric("trailwatch_posture_changes_total{change=\"failed\"}"),
        0.0
    );
}
