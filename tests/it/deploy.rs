//! The deployment files proven against real parts: the CloudFormation template deployed to
//! moto server, and the daemon run against the queue and topic the stack created.
//!
//! moto's CloudFormation creates the queues (with their redrive policy), the topic, the role
//! and the bucket; it skips queue, bucket and topic policies, SNS subscriptions and the trail,
//! which cfn-lint checks statically (deploy/check.sh).

use crate::common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
    QueueConfiguration, S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;

use common::daemon::{expected_alert_ids, sample_log, start, wait_for};
use common::moto::{aws, Aws, Moto};

const TEMPLATE: &str = "deploy/cloudformation/trailwatch.yaml";
/// moto's account.
const ACCOUNT: &str = "123456789012";

/// Creates the stack with `params` and returns its outputs once it is complete.
async fn deploy(aws: &Aws, name: &str, params: &[(&str, &str)]) -> HashMap<String, String> {
    let cfn = aws_sdk_cloudformation::Client::new(&aws.sdk);
    let body = std::fs::read_to_string(TEMPLATE).unwrap();
    let mut req = cfn
        .create_stack()
        .stack_name(name)
        .template_body(body)
        .capabilities(Capability::CapabilityIam);
    for (k, v) in params {
        req = req.parameters(
            Parameter::builder()
                .parameter_key(*k)
                .parameter_value(*v)
                .build(),
        );
    }
    req.send().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stack = cfn
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .unwrap()
            .stacks
            .unwrap()
            .remove(0);
        match stack.stack_status.unwrap() {
            StackStatus::CreateInProgress => {
                assert!(Instant::now() < deadline, "stack still creating");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            StackStatus::CreateComplete => {
                return stack
                    .outputs
                    .unwrap_or_default()
                    .into_iter()
                    .map(|o| (o.output_key.unwrap(), o.output_value.unwrap()))
                    .collect();
            }
            other => panic!("stack {name}: {other:?} {:?}", stack.stack_status_reason),
        }
    }
}

/// The template's `BucketNotification` output as the S3 API's notification configuration.
fn notification_from_output(json: &str) -> NotificationConfiguration {
    let v: serde_json::Value = serde_json::from_str(json).expect("BucketNotification is JSON");
    let q = &v["QueueConfigurations"][0];
    let rules = q["Filter"]["Key"]["FilterRules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            FilterRule::builder()
                .name(FilterRuleName::from(r["Name"].as_str().unwrap()))
                .value(r["Value"].as_str().unwrap())
                .build()
        })
        .collect::<Vec<_>>();
    NotificationConfiguration::builder()
        .queue_configurations(
            QueueConfiguration::builder()
                .queue_arn(q["QueueArn"].as_str().unwrap())
                .events(Event::from(q["Events"][0].as_str().unwrap()))
                .filter(
                    NotificationConfigurationFilter::builder()
                        .key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build())
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudformation_stack_feeds_the_daemon_and_alerts_reach_its_topic() {
    let moto = Moto::start();
    let aws = aws(&moto.url).await;
    let out = deploy(&aws, "trailwatch", &[("SharedState", "true")]).await;
    let (queue, dlq, topic, bucket) = (
        &out["QueueUrl"],
        &out["DeadLetterQueueUrl"],
        &out["AlertTopicArn"],
        &out["TrailBucketName"],
    );
    assert!(out["RoleArn"].starts_with(&format!("arn:aws:iam::{ACCOUNT}:role/")));
    assert_eq!(bucket, &format!("trailwatch-{ACCOUNT}-us-east-1"));

    // The queue redrives to the dead-letter queue after MaxReceiveCount (5) deliveries.
    let redrive = aws
        .attribute(queue, QueueAttributeName::RedrivePolicy)
        .await;
    let redrive: serde_json::Value = serde_json::from_str(&redrive).unwrap();
    assert_eq!(redrive["deadLetterTargetArn"], aws.arn(dlq).await);
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        "5"
    );

    // moto's CloudFormation creates the bucket but not its NotificationConfiguration; the
    // template's BucketNotification output (the step documented for an existing bucket) holds
    // the same filter, so it is applied through the S3 API.
    aws.s3
        .put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(notification_from_output(&out["BucketNotification"]))
        .send()
        .await
        .unwrap();
    let readback = aws.readback(topic).await;

    let dir = tempfile::tempdir().unwrap();
    // The replicas' shared state in the stack's table (check-config verifies its schema).
    let table = &out["StateTableName"];
    let config = format!(
        "[sqs]\nqueue_urls = [\"{queue}\"]\nvisibility_timeout_secs = 2\nwait_time_secs = 1\n\
         [state]\nbackend = \"dynamodb\"\ntable = \"{table}\"\n\
         [[sinks.sns]]\nname = \"stack-topic\"\ntopic_arn = \"{topic}\"\n"
    );
    let config_path = dir.path().join("check.toml");
    std::fs::write(&config_path, &config).unwrap();
    let check = moto.trailwatch(&["check-config", "--config", config_path.to_str().unwrap()]);
    assert!(check.status.success(), "{}", common::stderr(&check));
    let daemon =
        tokio::task::block_in_place(|| start(&moto, &config, &[], &dir.path().join("daemon.log")));
    let log = || std::fs::read_to_string(dir.path().join("daemon.log")).unwrap_or_default();

    // A digest first: the notification's filter must keep it away from the queue.
    let day = "us-east-1/2026/11/20";
    aws.s3
        .put_object()
        .bucket(bucket)
        .key(format!(
            "AWSLogs/{ACCOUNT}/CloudTrail-Digest/{day}/{ACCOUNT}_CloudTrail-Digest_us-east-1_trailwatch_us-east-1_20261120T100000Z.json.gz"
        ))
        .body(ByteStream::from(common::gzip(br#"{"awsAccountId":"123456789012"}"#)))
        .send()
        .await
        .unwrap();
    let file = sample_log();
    let expected = expected_alert_ids(&file);
    assert!(expected.len() >= 3, "the sample fires rules");
    let key = format!(
        "AWSLogs/{ACCOUNT}/CloudTrail/{day}/{}",
        file.file_name().unwrap().to_str().unwrap()
    );
    aws.put_file(bucket, &key, &file).await;

    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < expected.len() && Instant::now() < deadline {
        got.extend(aws.alert_ids(&readback).await);
    }
    got.sort();
    assert_eq!(got, expected, "every alert on the stack's topic\n{}", log());
    tokio::task::block_in_place(|| {
        wait_for("the queue emptied", Duration::from_secs(20), || {
            daemon.metric("trailwatch_in_flight_messages") == 0.0
        })
    });
    assert_eq!(aws.depth(queue).await, 0, "{}", log());
    assert_eq!(aws.depth(dlq).await, 0, "{}", log());
    assert_eq!(
        daemon.metric("trailwatch_s3_objects_total{result=\"ok\"}"),
        1.0,
        "{}",
        log()
    );
    assert_eq!(
        daemon.metric("trailwatch_s3_objects_total{result=\"skipped\"}"),
        0.0,
        "the digest never reached the queue\n{}",
        log()
    );
    assert_eq!(
        daemon.metric("trailwatch_state_errors_total{operation=\"PutItem\"}"),
        0.0
    );
}

fn yaml(path: &str) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// What kubernetes-validate cannot see: the manifests against the daemon they run. The
/// ConfigMap's configuration is one `trailwatch check-config` accepts (its shared state table
/// made in moto); ports, probes, the grace period and the ServiceMonitor's job name agree with
/// it and with the alert rules; more than one replica shares its state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_manifests_agree_with_the_daemon() {
    let dir = "deploy/kubernetes";
    let config_map = yaml(&format!("{dir}/configmap.yaml"));
    let toml_text = config_map["data"]["trailwatch.toml"].as_str().unwrap();
    let config: toml::Value = toml::from_str(toml_text).unwrap();
    let moto = Moto::start();
    if let Some(table) = config.get("state").and_then(|s| s.get("table")) {
        aws(&moto.url)
            .await
            .state_table(table.as_str().unwrap())
            .await;
    }
    let tmp = tempfile::tempdir().unwrap();
    let config_path = tmp.path().join("trailwatch.toml");
    std::fs::write(&config_path, toml_text).unwrap();
    let checked = moto.trailwatch(&["check-config", "--config", config_path.to_str().unwrap()]);
    assert!(checked.status.success(), "{}", common::stderr(&checked));
    let metrics_port: u64 = config["metrics"]["addr"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let grace = config["shutdown"]["grace_secs"].as_integer().unwrap() as u64;

    let deployment = yaml(&format!("{dir}/deployment.yaml"));
    if deployment["spec"]["replicas"].as_u64().unwrap() > 1 {
        assert_eq!(
            config["state"]["backend"].as_str(),
            Some("dynamodb"),
            "replicas on one queue share dedupe and suppression"
        );
    }
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(
        container["ports"][0]["containerPort"].as_u64(),
        Some(metrics_port)
    );
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    let termination = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        termination >= grace + 10,
        "drain ({grace}s) and flush fit in {termination}s"
    );
    let mount = |name: &str| {
        container["volumeMounts"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap()["mountPath"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(mount("config"), "/etc/trailwatch");
    let state_file = config["correlation"]["state_file"].as_str().unwrap();
    assert!(
        state_file.starts_with(&format!("{}/", mount("state"))),
        "state file on a writable volume"
    );
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);

    let service = yaml(&format!("{dir}/service.yaml"));
    let monitor = yaml(&format!("{dir}/servicemonitor.yaml"));
    assert_eq!(
        monitor["spec"]["endpoints"][0]["port"],
        service["spec"]["ports"][0]["name"]
    );
    assert_eq!(
        service["spec"]["ports"][0]["port"].as_u64(),
        Some(metrics_port)
    );
    for (k, v) in monitor["spec"]["selector"]["matchLabels"]
        .as_mapping()
        .unwrap()
    {
        assert_eq!(&service["metadata"]["labels"][k], v);
    }
    // The Prometheus Operator names the job after the Service; the alert rules expect it.
    let alerts = std::fs::read_to_string("deploy/prometheus/alerts.yml").unwrap();
    let job = service["metadata"]["name"].as_str().unwrap();
    assert!(alerts.contains(&format!("up{{job=\"{job}\"}}")));

    // The image runs as the pod's user and serves on the same port.
    let dockerfile = std::fs::read_to_string("deploy/docker/Dockerfile").unwrap();
    let uid = pod["securityContext"]["runAsUser"].as_u64().unwrap();
    assert!(dockerfile.contains(&format!("\nUSER {uid}:")));
    assert!(dockerfile.contains(&format!("0.0.0.0:{metrics_port}")));
    assert!(dockerfile.contains(&format!("http://127.0.0.1:{metrics_port}/healthz")));
}

/// An existing trail on EKS: nothing of the trail is created, the outputs describe the
/// existing bucket and prefix, and there is no instance profile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudformation_stack_for_an_existing_trail() {
    let moto = Moto::start();
    let aws = aws(&moto.url).await;
    let out = deploy(
        &aws,
        "trailwatch-eks",
        &[
            ("CreateTrail", "false"),
            ("TrailBucketName", "org-trail-logs"),
            ("TrailPrefix", "org"),
            ("NotificationSource", "EventBridge"),
            ("RoleTrust", "eks-irsa"),
            (
                "EksOidcIssuer",
                "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
            ),
        ],
    )
    .await;
    assert_eq!(out["TrailBucketName"], "org-trail-logs");
    assert!(!out.contains_key("InstanceProfileArn"), "{out:?}");
    assert!(
        out["BucketNotification"]
            .contains(&format!(r#""Value":"org/AWSLogs/{ACCOUNT}/CloudTrail/""#)),
        "{}",
        out["BucketNotification"]
    );
    let buckets = aws
        .s3
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets
        .unwrap_or_default();
    assert!(
        buckets.is_empty(),
        "the stack created no bucket: {buckets:?}"
    );
}
