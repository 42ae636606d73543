//! Which CloudTrail events change the posture, and what the daemon re-audits for each: the
//! user the event names, the IAM principals and policies, the password policy, one region's
//! security services, load balancers, topics and queues, one S3 bucket, the trails, or the IAM
//! server certificates.

use crate::audit::catalog::CheckId;
use serde_json::Value;

use super::change::TriggerInfo;
use super::checks::permissions::CHECKS as PERMISSION_CHECKS;
use super::checks::principals::CHECKS as PRINCIPAL_CHECKS;
use super::checks::resources::CHECKS as RESOURCE_CHECKS;
use super::checks::users::CHECKS as USER_CHECKS;
use super::finding::Finding;

/// What a re-audit reads and which findings it replaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// One IAM user's credentials (read per user: the credential report is cached for up
    /// to four hours), and the principals, since group and policy changes move admins.
    User(String),
    /// Users', groups', roles' and customer policies' permissions.
    Principals,
    PasswordPolicy,
    /// Security Hub, GuardDuty, Config, Access Analyzer, listener certificates, SNS topic and
    /// SQS queue policies there.
    Region(String),
    /// One S3 bucket's policy, ACL and Block Public Access settings, read in the region the
    /// event came from (the bucket's: S3 answers a bucket's calls only there).
    Bucket {
        name: String,
        region: String,
    },
    Trails,
    ServerCertificates,
}

const USER_EVENTS: &[&str] = &[
    "CreateAccessKey",
    "UpdateAccessKey",
    "DeleteAccessKey",
    "CreateLoginProfile",
    "UpdateLoginProfile",
    "DeleteLoginProfile",
    "EnableMFADevice",
    "DeactivateMFADevice",
    "UploadSigningCertificate",
    "UpdateSigningCertificate",
    "DeleteSigningCertificate",
    "CreateUser",
    "DeleteUser",
    "AttachUserPolicy",
    "DetachUserPolicy",
    "PutUserPolicy",
    "DeleteUserPolicy",
    "AddUserToGroup",
    "RemoveUserFromGroup",
];
const PRINCIPAL_EVENTS: &[&str] = &[
    "CreateGroup",
    "DeleteGroup",
    "AttachGroupPolicy",
    "DetachGroupPolicy",
    "PutGroupPolicy",
    "DeleteGroupPolicy",
    "CreateRole",
    "DeleteRole",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "PutRolePolicy",
    "DeleteRolePolicy",
    "CreatePolicy",
    "DeletePolicy",
    "CreatePolicyVersion",
    "DeletePolicyVersion",
    "SetDefaultPolicyVersion",
    "UpdateAssumeRolePolicy",
    "PutRolePermissionsBoundary",
    "DeleteRolePermissionsBoundary",
    "PutUserPermissionsBoundary",
    "DeleteUserPermissionsBoundary",
];
const PASSWORD_EVENTS: &[&str] = &["UpdateAccountPasswordPolicy", "DeleteAccountPasswordPolicy"];
const REGION_EVENTS: &[&str] = &[
    "EnableSecurityHub",
    "DisableSecurityHub",
    "CreateDetector",
    "DeleteDetector",
    "UpdateDetector",
    "PutConfigurationRecorder",
    "StartConfigurationRecorder",
    "StopConfigurationRecorder",
    "DeleteConfigurationRecorder",
    "PutDeliveryChannel",
    "DeleteDeliveryChannel",
    "CreateAnalyzer",
    "DeleteAnalyzer",
    "CreateListener",
    "ModifyListener",
    "DeleteListener",
    "AddListenerCertificates",
    "RemoveListenerCertificates",
    "ImportCertificate",
    "DeleteCertificate",
    // SNS and SQS name their permission calls alike (Lambda's carry a version suffix).
    "CreateTopic",
    "DeleteTopic",
    "SetTopicAttributes",
    "CreateQueue",
    "DeleteQueue",
    "SetQueueAttributes",
    "AddPermission",
    "RemovePermission",
];
const BUCKET_EVENTS: &[&str] = &[
    "CreateBucket",
    "DeleteBucket",
    "PutBucketPolicy",
    "DeleteBucketPolicy",
    "PutBucketAcl",
    "PutBucketPublicAccessBlock",
    "DeleteBucketPublicAccessBlock",
];
const TRAIL_EVENTS: &[&str] = &[
    "CreateTrail",
    "UpdateTrail",
    "DeleteTrail",
    "StartLogging",
    "StopLogging",
];
const CERTIFICATE_EVENTS: &[&str] = &["UploadServerCertificate", "DeleteServerCertificate"];

/// Every eventName that can change a finding (the daemon looks only at these records).
pub fn event_names() -> impl Iterator<Item = &'static str> {
    [
        USER_EVENTS,
        PRINCIPAL_EVENTS,
        PASSWORD_EVENTS,
        REGION_EVENTS,
        BUCKET_EVENTS,
        TRAIL_EVENTS,
        CERTIFICATE_EVENTS,
    ]
    .into_iter()
    .flatten()
    .copied()
}

/// A change that calls for a re-audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// The account the event happened in (recipientAccountId).
    pub account: Option<String>,
    pub scopes: Vec<Scope>,
    pub info: TriggerInfo,
}

/// The re-audit a CloudTrail record calls for: None for other events, for calls that failed
/// (nothing changed), and for user events on the root user (its credentials are in the
/// credential report, which the daily audit reads).
pub fn of(record: &str) -> Option<Trigger> {
    let v: Value = serde_json::from_str(record).ok()?;
    let s = |path: &[&str]| {
        let mut cur = &v;
        for p in path {
            cur = cur.get(p)?;
        }
        cur.as_str().map(str::to_string)
    };
    let name = s(&["eventName"])?;
    if v.get("errorCode").is_some_and(|e| !e.is_null()) {
        return None;
    }
    let scopes = if USER_EVENTS.contains(&name.as_str()) {
        // Without userName the call is about the caller's own user.
        let user = s(&["requestParameters", "userName"]).or_else(|| {
            (s(&["userIdentity", "type"]).as_deref() == Some("IAMUser"))
                .then(|| s(&["userIdentity", "userName"]))
                .flatten()
        })?;
        vec![Scope::User(user), Scope::Principals]
    } else if PRINCIPAL_EVENTS.contains(&name.as_str()) {
        vec![Scope::Principals]
    } else if PASSWORD_EVENTS.contains(&name.as_str()) {
        vec![Scope::PasswordPolicy]
    } else if REGION_EVENTS.contains(&name.as_str()) {
        vec![Scope::Region(s(&["awsRegion"])?)]
    } else if BUCKET_EVENTS.contains(&name.as_str()) {
        vec![Scope::Bucket {
            name: s(&["requestParameters", "bucketName"])?,
            region: s(&["awsRegion"])?,
        }]
    } else if TRAIL_EVENTS.contains(&name.as_str()) {
        vec![Scope::Trails]
    } else if CERTIFICATE_EVENTS.contains(&name.as_str()) {
        vec![Scope::ServerCertificates]
    } else {
        return None;
    };
    Some(Trigger {
        account: s(&["recipientAccountId"]),
        scopes,
        info: TriggerInfo {
            event_id: s(&["eventID"]),
            event_name: name,
            event_time: s(&["eventTime"]),
            actor_arn: s(&["userIdentity", "arn"]),
        },
    })
}

/// The checks judged per region.
pub const REGION_CHECKS: &[CheckId] = &[
    CheckId::SecurityHubEnabled,
    CheckId::GuarddutyEnabled,
    CheckId::ConfigRecorderEnabled,
    CheckId::AccessAnalyzerEnabled,
    CheckId::AccessAnalyzerFindings,
    CheckId::ElbCertificateRotation,
    // Topics' and queues' (a bucket's finding has no region).
    CheckId::ResourcePolicyPublic,
];

impl Scope {
    /// The findings a re-audit of this scope replaces.
    pub fn covers(&self, f: &Finding) -> bool {
        let check = f.check;
        match self {
            // By name: a deleted user's ARN (its path) can no longer be read.
            Scope::User(name) => {
                USER_CHECKS.contains(&check)
                    && f.resource.contains(":user/")
                    && f.resource.rsplit('/').next() == Some(name.as_str())
            }
            // Admins without MFA need the credential report, unused permissions the usage
            // record: the daily audit reads them.
            Scope::Principals => {
                PRINCIPAL_CHECKS.contains(&check)
                    || (PERMISSION_CHECKS.contains(&check)
                        && !matches!(check, CheckId::AdminWithoutMfa | CheckId::UnusedPermissions))
            }
            Scope::PasswordPolicy => check == CheckId::PasswordPolicy,
            Scope::Region(r) => {
                REGION_CHECKS.contains(&check) && f.region.as_deref() == Some(r.as_str())
            }
            Scope::Bucket { name, .. } => {
                RESOURCE_CHECKS.contains(&check)
                    && f.resource.strip_prefix("arn:aws:s3:::") == Some(name.as_str())
            }
            Scope::Trails => check == CheckId::CloudtrailMultiRegion,
            Scope::ServerCertificates => check == CheckId::ServerCertificateExpired,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, extra: &str) -> String {
        format!(
            r#"{{"eventVersion":"1.09","eventName":"{name}","eventID":"e1","awsRegion":"eu-west-1","recipientAccountId":"111122223333","userIdentity":{{"type":"IAMUser","userName":"ops","arn":"arn:aws:iam::111122223333:user/ops"}}{extra}}}"#
        )
    }

    #[test]
    fn scopes_of_events() {
        let t = of(&record(
            "CreateLoginProfile",
            r#","requestParameters":{"userName":"carol"}"#,
        ))
        .unwrap();
        assert_eq!(
            t.scopes,
            vec![Scope::User("carol".into()), Scope::Principals]
        );
        assert_eq!(t.account.as_deref(), Some("111122223333"));
        assert_eq!(t.info.event_name, "CreateLoginProfile");
        // CreateAccessKey without userName: the caller's own key.
        assert_eq!(
            of(&record("CreateAccessKey", "")).unwrap().scopes[0],
            Scope::User("ops".into())
        );
        assert_eq!(
            of(&record("DisableSecurityHub", "")).unwrap().scopes,
            vec![Scope::Region("eu-west-1".into())]
        );
        assert_eq!(
            of(&record("DeleteAccountPasswordPolicy", ""))
                .unwrap()
                .scopes,
            vec![Scope::PasswordPolicy]
        );
        assert_eq!(
            of(&record("StopLogging", "")).unwrap().scopes,
            vec![Scope::Trails]
        );
        assert_eq!(
            of(&record("PutGroupPolicy", "")).unwrap().scopes,
            vec![Scope::Principals]
        );
        assert_eq!(
            of(&record(
                "PutBucketAcl",
                r#","requestParameters":{"bucketName":"exports"}"#
            ))
            .unwrap()
            .scopes,
            vec![Scope::Bucket {
                name: "exports".into(),
                region: "eu-west-1".into()
            }]
        );
        assert_eq!(
            of(&record("SetQueueAttributes", "")).unwrap().scopes,
            vec![Scope::Region("eu-west-1".into())]
        );
    }

    #[test]
    fn a_bucket_re_audit_replaces_that_bucket_s_findings_only() {
        let finding = |check: CheckId, resource: &str, region: Option<&str>| Finding {
            check,
            title: String::new(),
            status: crate::audit::Status::Fail,
            severity: crate::audit::Severity::High,
            resource: resource.into(),
            requirement: None,
            account: "111122223333".into(),
            region: region.map(str::to_string),
            reason: String::new(),
            remediation: String::new(),
            cis: vec![],
            muted: None,
        };
        let bucket = Scope::Bucket {
            name: "exports".into(),
            region: "eu-west-1".into(),
        };
        assert!(bucket.covers(&finding(
            CheckId::S3BucketPublic,
            "arn:aws:s3:::exports",
            None
        )));
        assert!(bucket.covers(&finding(
            CheckId::ResourcePolicyPublic,
            "arn:aws:s3:::exports",
            None
        )));
        assert!(!bucket.covers(&finding(
            CheckId::S3BucketPublic,
            "arn:aws:s3:::exports-2",
            None
        )));
        let queue = "arn:aws:sqs:eu-west-1:111122223333:orders";
        let region = Scope::Region("eu-west-1".into());
        assert!(region.covers(&finding(
            CheckId::ResourcePolicyPublic,
            queue,
            Some("eu-west-1")
        )));
        assert!(!region.covers(&finding(
            CheckId::ResourcePolicyPublic,
            "arn:aws:s3:::exports",
            None
        )));
        assert!(!bucket.covers(&finding(
            CheckId::ResourcePolicyPublic,
            queue,
            Some("eu-west-1")
        )));
    }

    #[test]
    fn denied_calls_and_other_events_trigger_nothing() {
        assert!(of(&record(
            "CreateLoginProfile",
            r#","errorCode":"AccessDenied","requestParameters":{"userName":"carol"}"#
        ))
        .is_none());
        assert!(of(&record("GetObject", "")).is_none());
        assert!(of("not json").is_none());
        // Root creating its own key: no IAM user to re-read.
        let root = r#"{"eventName":"CreateAccessKey","userIdentity":{"type":"Root","arn":"arn:aws:iam::1:root"}}"#;
        assert!(of(root).is_none());
        assert!(event_names().any(|n| n == "DeleteDetector"));
    }
}
