use super::*;

fn sample(name: &str) -> Value {
    let path = format!("{}/tests/data/findings/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_guardduty_finding_with_its_role_and_severity_band() {
    let out = from_event(&sample("guardduty.json")).unwrap();
    assert_eq!((out.own, out.closed), (0, 0));
    let f = &out.findings[0];
    assert_eq!(f.kind, "finding");
    assert_eq!(f.service, Service::Guardduty);
    assert_eq!(
        f.name,
        "guardduty:UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"
    );
    assert_eq!(f.severity, Level::High, "8 is in GuardDuty's high band");
    assert_eq!(
        f.principal.as_deref(),
        Some("arn:aws:iam::111122223333:role/web-server")
    );
    assert_eq!(
        f.resource,
        Some(FindingResource {
            r#type: "AccessKey".into(),
            id: "arn:aws:iam::111122223333:role/web-server".into()
        })
    );
    assert_eq!(
        (f.account.as_deref(), f.region.as_deref()),
        (Some("111122223333"), Some("eu-west-1"))
    );
    assert_eq!(
        f.console_url,
        "https://console.aws.amazon.com/guardduty/home?region=eu-west-1#/findings?macros=current&fId=16afba5c5c43e07c9e3e5e2e544e95df"
    );
}

#[test]
fn the_same_update_has_the_same_id_and_a_new_update_a_new_one() {
    let event = sample("guardduty.json");
    let a = from_event(&event).unwrap().findings.remove(0);
    let b = from_event(&event).unwrap().findings.remove(0);
    assert_eq!(a.message_id, b.message_id);
    let mut updated = event.clone();
    updated["detail"]["updatedAt"] = "2026-11-20T10:15:40.000Z".into();
    updated["detail"]["severity"] = 9.5.into();
    let c = from_event(&updated).unwrap().findings.remove(0);
    assert_ne!(a.message_id, c.message_id);
    assert_eq!(c.severity, Level::Critical);
    let mut archived = event;
    archived["detail"]["service"]["archived"] = true.into();
    let out = from_event(&archived).unwrap();
    assert_eq!((out.findings.len(), out.closed), (0, 1));
}

#[test]
fn security_hub_findings_leave_out_trailwatchs_own_and_closed_ones() {
    let out = from_event(&sample("security-hub.json")).unwrap();
    assert_eq!((out.own, out.closed), (1, 1));
    let summary: Vec<(&str, Level, &str, &str)> = out
        .findings
        .iter()
        .map(|f| {
            (
                f.product.as_str(),
                f.severity,
                f.name.as_str(),
                f.title.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "Inspector",
                Level::Critical,
                "securityhub:Software and Configuration Checks/Vulnerabilities/CVE",
                "CVE-2026-1234 - openssl"
            ),
            (
                "Security Hub",
                Level::Medium,
                "securityhub:Software and Configuration Checks/Industry and Regulatory Standards/AWS-Foundational-Security-Best-Practices",
                "IAM.4 IAM root user access key should not exist"
            ),
        ]
    );
    assert!(out.findings[0]
        .console_url
        .starts_with("https://console.aws.amazon.com/securityhub/home?region=eu-west-1#/findings?search=Id%253D%255Coperator%255C%253AEQUALS%255C%253Aarn%253Aaws%253Ainspector2"));
    assert_eq!(
        out.findings[0].principal, None,
        "an instance is no principal"
    );
}

#[test]
fn an_access_analyzer_finding_says_who_can_reach_what() {
    let out = from_event(&sample("access-analyzer.json")).unwrap();
    let f = &out.findings[0];
    assert_eq!(f.name, "access-analyzer:public-access");
    assert_eq!(f.severity, Level::High);
    assert_eq!(
        f.title,
        "AWS::S3::Bucket arn:aws:s3:::exports-2026 is reachable by anyone"
    );
    assert_eq!(
        f.description,
        "anyone can s3:GetObject, s3:ListBucket on arn:aws:s3:::exports-2026"
    );
    assert_eq!(
        f.console_url,
        "https://console.aws.amazon.com/access-analyzer/home?region=eu-west-1#/findings/details/organization/5c1f0e4a-8d2b-4f7e-9a61-3b0d2c9e7f55"
    );
    let mut external = sample("access-analyzer.json");
    external["detail"]["isPublic"] = false.into();
    external["detail"]["principal"] = serde_json::json!({"AWS": "444455556666"});
    external["detail"]["resourceType"] = "AWS::IAM::Role".into();
    external["detail"]["resource"] = "arn:aws:iam::111122223333:role/partner".into();
    let f = from_event(&external).unwrap().findings.remove(0);
    assert_eq!(
        (f.name.as_str(), f.severity, f.principal.as_deref()),
        (
            "access-analyzer:external-access",
            Level::Medium,
            Some("arn:aws:iam::111122223333:role/partner")
        )
    );
    let mut resolved = sample("access-analyzer.json");
    resolved["detail"]["status"] = "RESOLVED".into();
    assert_eq!(from_event(&resolved).unwrap().closed, 1);
}

#[test]
fn malformed_finding_events_say_what_is_missing() {
    let mut no_detail = sample("guardduty.json");
    no_detail.as_object_mut().unwrap().remove("detail");
    assert_eq!(
        from_event(&no_detail).unwrap_err().0,
        "\"GuardDuty Finding\" event has no detail object"
    );
    let mut no_severity = sample("guardduty.json");
    no_severity["detail"]["severity"] = "high".into();
    assert_eq!(
        from_event(&no_severity).unwrap_err().0,
        "GuardDuty finding has no numeric severity"
    );
    let mut bad_label = sample("security-hub.json");
    bad_label["detail"]["findings"][0]["Severity"]["Label"] = "SEVERE".into();
    assert_eq!(
        from_event(&bad_label).unwrap_err().0,
        "detail.findings[0]: Severity.Label \"SEVERE\" is not a severity"
    );
    let mut no_id = sample("security-hub.json");
    no_id["detail"]["findings"][0]
        .as_object_mut()
        .unwrap()
        .remove("Id");
    assert_eq!(
        from_event(&no_id).unwrap_err().0,
        "detail.findings[0] has no Id"
    );
    let mut other = sample("guardduty.json");
    other["detail-type"] = "EC2 Instance State-change Notification".into();
    assert_eq!(
        from_event(&other).unwrap_err().0,
        "EventBridge event of type \"EC2 Instance State-change Notification\" is neither a CloudTrail nor a finding event"
    );
}

#[test]
fn the_threshold_and_exclusions_decide_what_is_sent() {
    let config: FindingsConfig = toml::from_str(
        r#"
min_severity = "high"
[[exclude]]
name = "guardduty:UnauthorizedAccess:*"
resource = "arn:aws:iam::111122223333:role/web-*"
reason = "the web tier's egress goes through a partner proxy"
"#,
    )
    .unwrap();
    let gd = from_event(&sample("guardduty.json"))
        .unwrap()
        .findings
        .remove(0);
    assert_eq!(config.judge(&gd), Verdict::Excluded);
    let hub = from_event(&sample("security-hub.json")).unwrap().findings;
    assert_eq!(config.judge(&hub[0]), Verdict::Send, "critical");
    assert_eq!(config.judge(&hub[1]), Verdict::BelowThreshold, "medium");
    assert_eq!(
        FindingsConfig::default().judge(&gd),
        Verdict::Send,
        "high by default"
    );
}
