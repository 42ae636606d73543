//! Each check's PASS and FAIL on inventories built by hand, for the cases neither a
//! credential report file nor moto can produce (root hardware MFA, service last accessed
//! data, analyzers, admins out of bounds, roles last used long ago, trails and recorders
//! that are half set up).

use chrono::{DateTime, TimeZone, Utc};

use super::evaluate;
use crate::audit::credential_report::{CredentialReport, UserRow};
use crate::audit::finding::{Finding, Status};
use crate::audit::inventory::*;
use crate::audit::policy::ADMINISTRATOR_ACCESS;
use crate::audit::settings::AuditConfig;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

fn days_ago(d: i64) -> Option<DateTime<Utc>> {
    Some(now() - chrono::Duration::days(d))
}

fn inventory() -> Inventory {
    Inventory {
        account: "111122223333".into(),
        ..Default::default()
    }
}

fn statuses(findings: &[Finding], check: &str) -> Vec<(String, Status)> {
    findings
        .iter()
        .filter(|f| f.check == check)
        .map(|f| {
            (
                f.resource.rsplit([':', '/']).next().unwrap().to_string(),
                f.status,
            )
        })
        .collect()
}

fn root_row(mfa: bool) -> UserRow {
    UserRow {
        user: "<root_account>".into(),
        arn: "arn:aws:iam::111122223333:root".into(),
        created: days_ago(2000),
        password_enabled: None,
        password_last_used: days_ago(400),
        password_last_changed: days_ago(30),
        mfa_active: mfa,
        keys: Default::default(),
        certs: Default::default(),
    }
}

#[test]
fn root_hardware_mfa_and_password_rotation() {
    let settings = AuditConfig::default();
    for (mfa, virtual_mfa, want) in [
        (true, false, Status::Pass),
        (true, true, Status::Fail),
        (false, false, Status::Fail),
    ] {
        let mut inv = inventory();
        inv.credential_report = Some(Ok(CredentialReport {
            root: Some(root_row(mfa)),
            users: vec![],
        }));
        inv.root_virtual_mfa = Some(Ok(virtual_mfa));
        let f = evaluate(&inv, &settings, now());
        assert_eq!(
            statuses(&f, "root-hardware-mfa"),
            vec![("root".into(), want)],
            "mfa {mfa} virtual {virtual_mfa}"
        );
        assert_eq!(
            statuses(&f, "root-password-rotation"),
            vec![("root".into(), Status::Pass)]
        );
        assert_eq!(
            statuses(&f, "root-recent-use"),
            vec![("root".into(), Status::Pass)]
        );
    }
    let mut inv = inventory();
    let mut old = root_row(true);
    old.password_last_changed = days_ago(91);
    inv.credential_report = Some(Ok(CredentialReport {
        root: Some(old),
        users: vec![],
    }));
    let f = evaluate(&inv, &settings, now());
    assert_eq!(
        statuses(&f, "root-password-rotation"),
        vec![("root".into(), Status::Fail)]
    );
}

fn user(name: &str, attached: &[&str], groups: &[&str]) -> User {
    User {
        name: name.into(),
        arn: format!("arn:aws:iam::111122223333:user/{name}"),
        attached: attached.iter().map(|s| s.to_string()).collect(),
        groups: groups.iter().map(|s| s.to_string()).collect(),
        ..User::default()
    }
}

#[test]
fn admins_below_the_minimum_and_above_the_maximum() {
    let mut settings = AuditConfig::default();
    let auth = |n: usize| Authorization {
        users: (0..n)
            .map(|i| user(&format!("a{i}"), &[ADMINISTRATOR_ACCESS], &[]))
            .chain([user("plain", &[], &[])])
            .collect(),
        ..Default::default()
    };
    for (n, min, max) in [
        (1, Status::Fail, Status::Pass),
        (2, Status::Pass, Status::Pass),
        (6, Status::Pass, Status::Fail),
    ] {
        let mut inv = inventory();
        inv.authorization = Some(Ok(auth(n)));
        let f = evaluate(&inv, &settings, now());
        assert_eq!(
            statuses(&f, "admins-minimum"),
            vec![("root".into(), min)],
            "{n} admins"
        );
        assert_eq!(
            statuses(&f, "admins-maximum"),
            vec![("root".into(), max)],
            "{n} admins"
        );
    }
    settings.max_admins = 6;
    let mut inv = inventory();
    inv.authorization = Some(Ok(auth(6)));
    let f = evaluate(&inv, &settings, now());
    assert_eq!(
        statuses(&f, "admins-maximum"),
        vec![("root".into(), Status::Pass)]
    );
}

#[test]
fn roles_last_used_service_linked_and_inline() {
    let role = |name: &str, path: &str, created: i64, used: Option<i64>| Role {
        name: name.into(),
        arn: format!("arn:aws:iam::111122223333:role{path}{name}"),
        path: path.into(),
        created: days_ago(created),
        last_used: used.and_then(days_ago),
        ..Role::default()
    };
    let mut inv = inventory();
    inv.authorization = Some(Ok(Authorization {
        roles: vec![
            role("used-lately", "/", 500, Some(10)),
            role("used-long-ago", "/", 500, Some(91)),
            role("never-used-old", "/", 91, None),
            role("never-used-new", "/", 5, None),
            role(
                "AWSServiceRoleForSupport",
                "/aws-service-role/support.amazonaws.com/",
                900,
                None,
            ),
        ],
        ..Default::default()
    }));
    let f = evaluate(&inv, &AuditConfig::default(), now());
    assert_eq!(
        statuses(&f, "role-unused"),
        vec![
            ("used-lately".into(), Status::Pass),
            ("used-long-ago".into(), Status::Fail),
            ("never-used-old".into(), Status::Fail),
            ("never-used-new".into(), Status::Pass),
        ]
    );
}

#[test]
fn service_inactivity_per_principal() {
    let mut inv = inventory();
    inv.service_activity = Some(Ok(vec![
        ServiceActivity {
            arn: "arn:aws:iam::111122223333:user/busy".into(),
            is_role: false,
            services: vec![("s3".into(), days_ago(3)), ("ec2".into(), days_ago(80))],
        },
        ServiceActivity {
            arn: "arn:aws:iam::111122223333:role/broad".into(),
            is_role: true,
            services: vec![
                ("s3".into(), days_ago(3)),
                ("kms".into(), None),
                ("rds".into(), days_ago(200)),
            ],
        },
    ]));
    let f = evaluate(&inv, &AuditConfig::default(), now());
    assert_eq!(
        statuses(&f, "user-service-inactivity"),
        vec![("busy".into(), Status::Pass)]
    );
    assert_eq!(
        statuses(&f, "role-service-inactivity"),
        vec![("broad".into(), Status::Fail)]
    );
    let broad = f
        .iter()
        .find(|x| x.check == "role-service-inactivity")
        .unwrap();
    assert_eq!(
        broad.reason,
        "allowed but not used within 90 days: kms, rds"
    );
}

#[test]
fn regional_services_trails_and_analyzers() {
    let region = |name: &str, on: bool| RegionalInventory {
        region: name.into(),
        security_hub: Some(Ok(on)),
        guardduty: Some(Ok(if on {
            vec![("d1".into(), "ENABLED".into())]
        } else {
            vec![("d1".into(), "DISABLED".into())]
        })),
        config: Some(Ok(ConfigState {
            recorders: vec![Recorder {
                name: "default".into(),
                all_supported: true,
                recording: true,
            }],
            // A recorder without a delivery channel records nothing anyone can read.
            delivery_channels: usize::from(on),
        })),
        access_analyzers: Some(Ok(if on {
            vec![("a".into(), "ACCOUNT".into())]
        } else {
            vec![]
        })),
        external_access: None,
        listener_certificates: None,
        resource_policies: None,
    };
    let mut inv = inventory();
    inv.regions = vec![region("us-east-1", true), region("eu-west-1", false)];
    inv.trails = Some(Ok(vec![Trail {
        arn: "arn:aws:cloudtrail:us-east-1:111122223333:trail/t".into(),
        multi_region: true,
        log_file_validation: false,
        logging: Ok(true),
    }]));
    let f = evaluate(&inv, &AuditConfig::default(), now());
    for check in [
        "security-hub-enabled",
        "guardduty-enabled",
        "config-recorder-enabled",
        "access-analyzer-enabled",
    ] {
        let by_region: Vec<(Option<String>, Status)> = f
            .iter()
            .filter(|x| x.check == check)
            .map(|x| (x.region.clone(), x.status))
            .collect();
        assert_eq!(
            by_region,
            vec![
                (Some("us-east-1".into()), Status::Pass),
                (Some("eu-west-1".into()), Status::Fail)
            ],
            "{check}"
        );
    }
    let trail = f
        .iter()
        .find(|x| x.check == "cloudtrail-multi-region")
        .unwrap();
    assert_eq!(trail.status, Status::Fail);
    assert!(
        trail.reason.contains("log file validation false"),
        "{}",
        trail.reason
    );
}

#[test]
fn each_active_external_access_finding_fails_on_its_resource() {
    use crate::audit::inventory::ExternalAccess;
    let analyzers = |list: &[(&str, &str)]| {
        Some(Ok(list
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect()))
    };
    let mut inv = inventory();
    inv.regions = vec![
        RegionalInventory {
            region: "eu-west-1".into(),
            access_analyzers: analyzers(&[
                ("org", "ORGANIZATION"),
                ("unused", "ACCOUNT_UNUSED_ACCESS"),
            ]),
            external_access: Some(Ok(vec![
                ExternalAccess {
                    id: "f-1".into(),
                    analyzer: "org".into(),
                    resource: "arn:aws:s3:::exports".into(),
                    resource_type: "AWS::S3::Bucket".into(),
                    principals: vec!["AWS: *".into()],
                    actions: vec!["s3:GetObject".into(), "s3:ListBucket".into()],
                    public: true,
                    conditions: vec![],
                },
                ExternalAccess {
                    id: "f-2".into(),
                    analyzer: "org".into(),
                    resource: "arn:aws:iam::111122223333:role/partner".into(),
                    resource_type: "AWS::IAM::Role".into(),
                    principals: vec!["AWS: 444455556666".into()],
                    actions: vec!["sts:AssumeRole".into()],
                    public: false,
                    conditions: vec!["sts:ExternalId: abc".into()],
                },
            ])),
            ..Default::default()
        },
        // An analyzer and nothing found: the region passes.
        RegionalInventory {
            region: "us-east-1".into(),
            access_analyzers: analyzers(&[("account", "ACCOUNT")]),
            external_access: Some(Ok(vec![])),
            ..Default::default()
        },
        // Only an unused-access analyzer: nothing judged here (access-analyzer-enabled is
        // where a missing analyzer fails).
        RegionalInventory {
            region: "ap-south-1".into(),
            access_analyzers: analyzers(&[("unused", "ACCOUNT_UNUSED_ACCESS")]),
            external_access: Some(Ok(vec![])),
            ..Default::default()
        },
        RegionalInventory {
            region: "sa-east-1".into(),
            external_access: Some(Err(ApiError {
                call: "access-analyzer:ListFindings",
                message: "AccessDeniedException: no".into(),
            })),
            ..Default::default()
        },
    ];
    let f: Vec<(Status, String, Option<String>, String)> =
        evaluate(&inv, &AuditConfig::default(), now())
            .into_iter()
            .filter(|x| x.check == "access-analyzer-findings")
            .map(|x| (x.status, x.resource, x.region, x.reason))
            .collect();
    let region = |r: &str| Some(r.to_string());
    assert_eq!(
        f,
        vec![
            (
                Status::Fail,
                "arn:aws:s3:::exports".into(),
                region("eu-west-1"),
                "public: AWS: * can s3:GetObject, s3:ListBucket (AWS::S3::Bucket finding f-1 of analyzer org)".into()
            ),
            (
                Status::Fail,
                "arn:aws:iam::111122223333:role/partner".into(),
                region("eu-west-1"),
                "external: AWS: 444455556666 can sts:AssumeRole when sts:ExternalId: abc (AWS::IAM::Role finding f-2 of analyzer org)".into()
            ),
            (
                Status::Pass,
                "arn:aws:iam::111122223333:root".into(),
                region("us-east-1"),
                "no active external access finding (account)".into()
            ),
            (
                Status::Error,
                "arn:aws:iam::111122223333:root".into(),
                region("sa-east-1"),
                "access-analyzer:ListFindings failed: AccessDeniedException: no (the audit needs access-analyzer:ListFindings)".into()
            ),
        ]
    );
}

#[test]
fn regions_that_cannot_be_listed_are_an_error_per_regional_check() {
    let mut inv = inventory();
    inv.regions = vec![RegionalInventory {
        region: "us-east-1".into(),
        guardduty: Some(Ok(vec![])),
        ..Default::default()
    }];
    inv.enabled_regions = Some(Err(ApiError {
        call: "ec2:DescribeRegions",
        message: "UnauthorizedOperation: no".into(),
    }));
    let f = evaluate(&inv, &AuditConfig::default(), now());
    let errors: Vec<(&str, Option<&str>, &str)> = f
        .iter()
        .filter(|x| x.status == Status::Error)
        .map(|x| (x.check.as_str(), x.region.as_deref(), x.reason.as_str()))
        .collect();
    let reason = "ec2:DescribeRegions failed: UnauthorizedOperation: no (the audit needs ec2:DescribeRegions): the other enabled regions are unknown, only us-east-1 was audited";
    assert_eq!(
        errors,
        crate::audit::trigger::REGION_CHECKS
            .iter()
            .map(|c| (c.as_str(), None, reason))
            .collect::<Vec<_>>()
    );
    // The region that was read is judged as ever.
    assert!(f.iter().any(|x| x.check == "guardduty-enabled"
        && x.region.as_deref() == Some("us-east-1")
        && x.status == Status::Fail));
}

#[test]
fn buckets_topics_and_queues_anyone_can_reach() {
    use crate::audit::inventory::{Bucket, PublicAccessBlock, ResourcePolicy};
    let open = r#"{"Statement":[{"Sid":"Public","Effect":"Allow","Principal":"*","Action":"s3:GetObject"}]}"#;
    let org = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}}]}"#;
    let all_users = || {
        Ok(vec![(
            "http://acs.amazonaws.com/groups/global/AllUsers".to_string(),
            "READ".to_string(),
        )])
    };
    let bucket = |name: &str, policy: Option<&str>, grants, block| Bucket {
        name: name.into(),
        policy: Ok(policy.map(str::to_string)),
        group_grants: grants,
        block: Ok(block),
    };
    let restricted = PublicAccessBlock {
        ignore_public_acls: true,
        restrict_public_buckets: true,
        ..Default::default()
    };
    let mut inv = inventory();
    inv.buckets = Some(Ok(vec![
        bucket(
            "open",
            Some(open),
            all_users(),
            PublicAccessBlock::default(),
        ),
        bucket("blocked", Some(open), all_users(), restricted),
        bucket("private", None, Ok(vec![]), PublicAccessBlock::default()),
        Bucket {
            name: "refused".into(),
            policy: Err(ApiError {
                call: "s3:GetBucketPolicy",
                message: "AccessDenied: no".into(),
            }),
            group_grants: Ok(vec![]),
            block: Ok(PublicAccessBlock::default()),
        },
    ]));
    inv.regions = vec![RegionalInventory {
        region: "eu-west-1".into(),
        resource_policies: Some(Ok(vec![
            ResourcePolicy {
                arn: "arn:aws:sns:eu-west-1:111122223333:alerts".into(),
                policy: Some(open.replace("s3:GetObject", "SNS:Subscribe")),
            },
            ResourcePolicy {
                arn: "arn:aws:sqs:eu-west-1:111122223333:orders".into(),
                policy: Some(org.into()),
            },
            ResourcePolicy {
                arn: "arn:aws:sqs:eu-west-1:111122223333:plain".into(),
                policy: None,
            },
        ])),
        ..Default::default()
    }];
    let f = evaluate(&inv, &AuditConfig::default(), now());
    let got: Vec<(&str, &str, Status, &str)> = f
        .iter()
        .filter(|x| {
            matches!(
                x.check.as_str(),
                "resource-policy-public" | "s3-bucket-public"
            )
        })
        .map(|x| {
            (
                x.check.as_str(),
                x.resource.as_str(),
                x.status,
                x.reason.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("resource-policy-public", "arn:aws:s3:::open", Status::Fail, "bucket policy: statement Public allows *"),
            ("s3-bucket-public", "arn:aws:s3:::open", Status::Fail, "the ACL grants READ to AllUsers"),
            ("resource-policy-public", "arn:aws:s3:::blocked", Status::Pass, "the bucket policy is public (statement Public allows *), but Block Public Access (RestrictPublicBuckets) limits it to AWS services and the account"),
            ("s3-bucket-public", "arn:aws:s3:::blocked", Status::Pass, "the ACL grants READ to AllUsers, but Block Public Access (IgnorePublicAcls) ignores it"),
            ("resource-policy-public", "arn:aws:s3:::private", Status::Pass, "no bucket policy"),
            ("s3-bucket-public", "arn:aws:s3:::private", Status::Pass, "the ACL grants nothing to everyone"),
            ("resource-policy-public", "arn:aws:s3:::refused", Status::Error, "s3:GetBucketPolicy failed: AccessDenied: no (the audit needs s3:GetBucketPolicy)"),
            ("s3-bucket-public", "arn:aws:s3:::refused", Status::Pass, "the ACL grants nothing to everyone"),
            ("resource-policy-public", "arn:aws:sns:eu-west-1:111122223333:alerts", Status::Fail, "access policy: statement Public allows *"),
            ("resource-policy-public", "arn:aws:sqs:eu-west-1:111122223333:orders", Status::Pass, "the access policy names who may use it"),
            ("resource-policy-public", "arn:aws:sqs:eu-west-1:111122223333:plain", Status::Pass, "no access policy"),
        ]
    );
    let regions: Vec<Option<&str>> = f
        .iter()
        .filter(|x| x.resource.starts_with("arn:aws:sns") || x.resource.starts_with("arn:aws:sqs"))
        .map(|x| x.region.as_deref())
        .collect();
    assert_eq!(regions, [Some("eu-west-1"); 3]);
}

#[test]
fn a_strong_password_policy_passes_every_requirement_and_none_fails_all() {
    let strong = PasswordPolicy {
        min_length: Some(16),
        reuse_prevention: Some(24),
        max_age_days: Some(60),
        require_uppercase: true,
        require_lowercase: true,
        require_numbers: true,
        require_symbols: true,
    };
    for (policy, want) in [(Some(strong), Status::Pass), (None, Status::Fail)] {
        let mut inv = inventory();
        inv.password_policy = Some(Ok(policy));
        let f = evaluate(&inv, &AuditConfig::default(), now());
        let got: Vec<_> = f
            .iter()
            .filter(|x| x.check == "password-policy")
            .map(|x| (x.requirement.clone().unwrap(), x.status))
            .collect();
        assert_eq!(got.len(), 7);
        assert!(got.iter().all(|(_, s)| *s == want), "{got:?}");
    }
}

#[test]
fn a_failed_call_is_an_error_for_each_check_that_needed_it() {
    let mut inv = inventory();
    let denied = ApiError {
        call: "iam:GetAccountAuthorizationDetails",
        message: "AccessDenied: User: arn:aws:iam::111122223333:user/auditor is not authorized"
            .into(),
    };
    inv.authorization = Some(Err(denied));
    inv.password_policy = Some(Ok(None));
    let f = evaluate(&inv, &AuditConfig::default(), now());
    let errors: Vec<&str> = f
        .iter()
        .filter(|x| x.status == Status::Error)
        .map(|x| x.check.as_str())
        .collect();
    assert_eq!(
        errors,
        vec![
            "admins-minimum",
            "admins-maximum",
            "user-inline-policies",
            "role-unused",
            "role-inline-policies",
            "group-empty",
            "full-admin-policies",
            "support-role",
            "cloudshell-full-access",
            "admin-access",
            "admin-without-mfa",
            "privilege-escalation",
            "passrole-any-role",
            "role-trust-public",
            "role-trust-cross-account",
            "group-inline-policies",
            "unused-permissions"
        ]
    );
    assert_eq!(
        f[0].reason,
        "iam:GetAccountAuthorizationDetails failed: AccessDenied: User: arn:aws:iam::111122223333:user/auditor is not authorized (the audit needs iam:GetAccountAuthorizationDetails)"
    );
    // The password policy was still judged.
    assert_eq!(
        f.iter()
            .filter(|x| x.check == "password-policy" && x.status == Status::Fail)
            .count(),
        7
    );
}

#[test]
fn root_keys_and_certificates_both_ways() {
    use crate::audit::credential_report::Credential;
    let mut root = root_row(true);
    // A key created a week ago (rotated: PASS), and two certificates, one of them stale.
    root.keys[0] = Credential {
        active: true,
        last_rotated: days_ago(7),
        last_used: days_ago(30),
    };
    root.certs[0] = Credential {
        active: true,
        last_rotated: days_ago(200),
        last_used: None,
    };
    root.certs[1] = Credential {
        active: true,
        last_rotated: days_ago(10),
        last_used: None,
    };
    let mut inv = inventory();
    inv.credential_report = Some(Ok(CredentialReport {
        root: Some(root),
        users: vec![],
    }));
    let f = evaluate(&inv, &AuditConfig::default(), now());
    let root = |check: &str| statuses(&f, check)[0].1;
    assert_eq!(root("root-access-keys"), Status::Fail);
    assert_eq!(root("root-access-key-rotation"), Status::Pass);
    assert_eq!(root("root-signing-certificates"), Status::Fail);
    assert_eq!(root("root-certificate-rotation"), Status::Fail);
    let rotation = f
        .iter()
        .find(|x| x.check == "root-certificate-rotation")
        .unwrap();
    assert_eq!(
        rotation.reason,
        "certificate 1 rotated 200 days ago (2026-05-09) (threshold 90 days)"
    );
}

#[test]
fn support_cloudshell_and_server_certificates_both_ways() {
    let cloudshell = crate::audit::policy::CLOUDSHELL_FULL_ACCESS;
    let support = crate::audit::policy::SUPPORT_ACCESS;
    for (attached, support_status, shell_status) in [
        (vec![], Status::Fail, Status::Pass),
        (vec![support, cloudshell], Status::Pass, Status::Fail),
    ] {
        let mut inv = inventory();
        inv.authorization = Some(Ok(Authorization {
            users: vec![user("u", &attached, &[])],
            ..Default::default()
        }));
        let f = evaluate(&inv, &AuditConfig::default(), now());
        assert_eq!(
            statuses(&f, "support-role"),
            vec![("root".into(), support_status)]
        );
        assert_eq!(
            statuses(&f, "cloudshell-full-access"),
            vec![("root".into(), shell_status)]
        );
    }
    let mut inv = inventory();
    let cert = |name: &str, expires: DateTime<Utc>| ServerCertificate {
        name: name.into(),
        arn: format!("arn:aws:iam::111122223333:server-certificate/{name}"),
        expiration: Some(expires),
    };
    inv.server_certificates = Some(Ok(vec![
        cert("current", now() + chrono::Duration::days(100)),
        cert("old", now() - chrono::Duration::days(3)),
    ]));
    let f = evaluate(&inv, &AuditConfig::default(), now());
    assert_eq!(
        statuses(&f, "server-certificate-expired"),
        vec![
            ("current".into(), Status::Pass),
            ("old".into(), Status::Fail)
        ]
    );
}

#[test]
fn service_inactivity_fails_users_and_passes_roles_too() {
    let mut inv = inventory();
    inv.service_activity = Some(Ok(vec![
        ServiceActivity {
            arn: "arn:aws:iam::111122223333:user/idle".into(),
            is_role: false,
            services: vec![("iam".into(), None)],
        },
        ServiceActivity {
            arn: "arn:aws:iam::111122223333:role/busy".into(),
            is_role: true,
            services: vec![("sqs".into(), days_ago(1))],
        },
    ]));
    let f = evaluate(&inv, &AuditConfig::default(), now());
    assert_eq!(
        statuses(&f, "user-service-inactivity"),
        vec![("idle".into(), Status::Fail)]
    );
    assert_eq!(
        statuses(&f, "role-service-inactivity"),
        vec![("busy".into(), Status::Pass)]
    );
}
