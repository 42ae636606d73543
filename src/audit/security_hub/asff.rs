//! A finding as an AWS Security Finding Format document: what `--format asff` prints and
//! what the import sends. Pure: the same finding gives the same document at the same time.

use serde::Serialize;

use crate::audit::finding::{Finding, Severity, Status};

/// The standard Security Hub files CIS-mapped checks under.
const CIS_TYPE: &str =
    "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark";
const BEST_PRACTICE_TYPE: &str = "Software and Configuration Checks/AWS Security Best Practices";
const CIS_STANDARD: &str = "CIS AWS Foundations Benchmark v3.0.0";
/// Every trailwatch finding's `Id` starts so: what tells ours from the rest of a hub.
pub const ID_PREFIX: &str = "trailwatch/";
/// Where account-wide findings (IAM has no region) are filed when none is given.
pub const GLOBAL: &str = "global";

/// The fields of an ASFF document trailwatch writes, named as Security Hub names them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Document {
    pub schema_version: &'static str,
    pub id: String,
    pub product_arn: String,
    pub generator_id: String,
    pub aws_account_id: String,
    pub region: String,
    pub types: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub severity: Label,
    pub title: String,
    pub description: String,
    pub remediation: Remediation,
    pub resources: Vec<Resource>,
    pub compliance: Compliance,
    pub workflow: Workflow,
    pub record_state: RecordState,
    pub product_fields: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Label {
    pub label: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Remediation {
    pub recommendation: Recommendation,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Recommendation {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resource {
    pub r#type: &'static str,
    pub id: String,
    pub partition: String,
    pub region: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Compliance {
    pub status: ComplianceStatus,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related_requirements: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ComplianceStatus {
    Passed,
    Failed,
    Warning,
    NotAvailable,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Workflow {
    pub status: WorkflowStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkflowStatus {
    New,
    Resolved,
    Suppressed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecordState {
    Active,
    Archived,
}

impl ComplianceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ComplianceStatus::Passed => "PASSED",
            ComplianceStatus::Failed => "FAILED",
            ComplianceStatus::Warning => "WARNING",
            ComplianceStatus::NotAvailable => "NOT_AVAILABLE",
        }
    }
}

impl WorkflowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowStatus::New => "NEW",
            WorkflowStatus::Resolved => "RESOLVED",
            WorkflowStatus::Suppressed => "SUPPRESSED",
        }
    }
}

impl RecordState {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordState::Active => "ACTIVE",
            RecordState::Archived => "ARCHIVED",
        }
    }
}

/// The default product of an account in a region: where an account's own findings go.
pub fn product_arn(partition: &str, region: &str, account: &str) -> String {
    format!("arn:{partition}:securityhub:{region}:{account}:product/{account}/default")
}

/// The region a finding is filed in: its own, or `home` for account-wide checks.
pub fn region_of<'a>(f: &'a Finding, home: &'a str) -> &'a str {
    f.region.as_deref().unwrap_or(home)
}

/// Stable per (account, region, check, resource, requirement): the next audit's document for
/// the same finding updates this one instead of adding another.
pub fn id(f: &Finding) -> String {
    let hash = uuid::Uuid::new_v5(&ID_NAMESPACE, f.key().as_bytes());
    format!(
        "{ID_PREFIX}{}/{}/{}/{hash}",
        f.account,
        f.region.as_deref().unwrap_or(GLOBAL),
        f.check.as_str()
    )
}

const ID_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x7a51_9e02_c4d8_4f3b_9b6e_11f0_5c2d_a843);

pub fn label(s: Severity) -> &'static str {
    match s {
        Severity::Informational => "INFORMATIONAL",
        Severity::Low => "LOW",
        Severity::Medium => "MEDIUM",
        Severity::High => "HIGH",
        Severity::Critical => "CRITICAL",
    }
}

/// The ASFF resource type of an ARN trailwatch reports on.
pub fn resource_type(arn: &str) -> &'static str {
    let mut parts = arn.splitn(6, ':');
    let service = parts.nth(2).unwrap_or("");
    let resource = parts.nth(2).unwrap_or("");
    let kind = resource.split(['/', ':']).next().unwrap_or("");
    match (service, kind) {
        ("iam", "user") => "AwsIamUser",
        ("iam", "role") => "AwsIamRole",
        ("iam", "group") => "AwsIamGroup",
        ("iam", "policy") => "AwsIamPolicy",
        ("iam", "root") => "AwsAccount",
        ("s3", _) => "AwsS3Bucket",
        ("sns", _) => "AwsSnsTopic",
        ("sqs", _) => "AwsSqsQueue",
        ("kms", "key") => "AwsKmsKey",
        ("acm", "certificate") => "AwsCertificateManagerCertificate",
        ("elasticloadbalancing", "loadbalancer") => "AwsElbv2LoadBalancer",
        ("secretsmanager", _) => "AwsSecretsManagerSecret",
        ("lambda", _) => "AwsLambdaFunction",
        _ => "Other",
    }
}

/// Text cut to Security Hub's limit for the field, on a character boundary.
fn limit(s: &str, max: usize) -> String {
    match s.char_indices().nth(max - 1) {
        Some((cut, _)) if s.len() > max => format!("{}…", &s[..cut]),
        _ => s.to_string(),
    }
}

/// The document for `f`: FAIL active and new, MUTED active and suppressed, PASS passed,
/// resolved and archived. `created_at` is when the finding was first imported (the import
/// keeps it from the hub's copy); `now` is its update time. MANUAL and ERROR findings have
/// no document (`None`): a manual item judges no resource, and a failed read proves nothing.
pub fn document(f: &Finding, home: &str, created_at: &str, now: &str) -> Option<Document> {
    let (compliance, workflow, record_state) = match f.status {
        Status::Fail => (
            ComplianceStatus::Failed,
            WorkflowStatus::New,
            RecordState::Active,
        ),
        Status::Muted => (
            ComplianceStatus::Failed,
            WorkflowStatus::Suppressed,
            RecordState::Active,
        ),
        Status::Pass => (
            ComplianceStatus::Passed,
            WorkflowStatus::Resolved,
            RecordState::Archived,
        ),
        Status::Manual | Status::Error => return None,
    };
    let partition = f.resource.split(':').nth(1).unwrap_or("aws").to_string();
    let region = region_of(f, home).to_string();
    let mut description = f.reason.clone();
    if let Some(why) = &f.muted {
        description = format!("{description} (muted: {why})");
    }
    let mut fields = std::collections::BTreeMap::new();
    fields.insert("trailwatch/check".to_string(), f.check.as_str().to_string());
    fields.insert("trailwatch/status".to_string(), f.status.to_string());
    if let Some(r) = &f.requirement {
        fields.insert("trailwatch/requirement".to_string(), r.clone());
    }
    Some(Document {
        schema_version: "2018-10-08",
        id: id(f),
        product_arn: product_arn(&partition, &region, &f.account),
        generator_id: f.check.as_str().to_string(),
        aws_account_id: f.account.clone(),
        types: vec![if f.cis.is_empty() {
            BEST_PRACTICE_TYPE
        } else {
            CIS_TYPE
        }
        .to_string()],
        created_at: created_at.to_string(),
        updated_at: now.to_string(),
        severity: Label {
            label: label(f.severity),
        },
        title: limit(&f.title, 256),
        description: limit(&description, 1024),
        remediation: Remediation {
            recommendation: Recommendation {
                text: limit(&f.remediation, 512),
            },
        },
        resources: vec![Resource {
            r#type: resource_type(&f.resource),
            id: f.resource.clone(),
            partition,
            region: region.clone(),
        }],
        compliance: Compliance {
            status: compliance,
            related_requirements: f
                .cis
                .iter()
                .map(|s| format!("{CIS_STANDARD}/{s}"))
                .collect(),
        },
        workflow: Workflow { status: workflow },
        record_state,
        region,
        product_fields: fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::catalog::CheckId;

    fn finding(status: Status) -> Finding {
        Finding {
            check: CheckId::UserMfa,
            title: "Console users have MFA".into(),
            status,
            severity: Severity::High,
            resource: "arn:aws:iam::123456789012:user/alice".into(),
            requirement: None,
            account: "123456789012".into(),
            region: None,
            reason: "console password, no MFA device".into(),
            remediation: "Enable MFA for the user.".into(),
            cis: vec!["1.10".into()],
            muted: None,
        }
    }

    #[test]
    fn a_failure_is_an_active_new_failed_finding() {
        let d = document(
            &finding(Status::Fail),
            "eu-west-1",
            "2026-12-01T00:00:00.000Z",
            "2026-12-06T10:00:00.000Z",
        )
        .unwrap();
        let v = serde_json::to_value(&d).unwrap();
        assert!(d.id.starts_with("trailwatch/123456789012/global/user-mfa/"));
        assert_eq!(
            v["ProductArn"],
            "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default"
        );
        assert_eq!(v["GeneratorId"], "user-mfa");
        assert_eq!(v["Region"], "eu-west-1");
        assert_eq!(v["Severity"]["Label"], "HIGH");
        assert_eq!(v["Compliance"]["Status"], "FAILED");
        assert_eq!(
            v["Compliance"]["RelatedRequirements"][0],
            "CIS AWS Foundations Benchmark v3.0.0/1.10"
        );
        assert_eq!(v["Workflow"]["Status"], "NEW");
        assert_eq!(v["RecordState"], "ACTIVE");
        assert_eq!(v["Resources"][0]["Type"], "AwsIamUser");
        assert_eq!(
            v["Resources"][0]["Id"],
            "arn:aws:iam::123456789012:user/alice"
        );
        assert_eq!(v["CreatedAt"], "2026-12-01T00:00:00.000Z");
        assert_eq!(v["UpdatedAt"], "2026-12-06T10:00:00.000Z");
        assert_eq!(v["Types"][0], CIS_TYPE);
        assert_eq!(
            v["Remediation"]["Recommendation"]["Text"],
            "Enable MFA for the user."
        );
    }

    #[test]
    fn muted_is_suppressed_pass_is_resolved_and_archived_manual_and_error_are_left_out() {
        let mut muted = finding(Status::Muted);
        muted.muted = Some("break-glass user".into());
        let d = document(&muted, "us-east-1", "t", "t").unwrap();
        assert_eq!(
            (d.compliance.status, d.workflow.status, d.record_state),
            (
                ComplianceStatus::Failed,
                WorkflowStatus::Suppressed,
                RecordState::Active
            )
        );
        assert!(d.description.ends_with("(muted: break-glass user)"));
        let d = document(&finding(Status::Pass), "us-east-1", "t", "t").unwrap();
        assert_eq!(
            (d.compliance.status, d.workflow.status, d.record_state),
            (
                ComplianceStatus::Passed,
                WorkflowStatus::Resolved,
                RecordState::Archived
            )
        );
        assert_eq!(
            document(&finding(Status::Manual), "us-east-1", "t", "t"),
            None
        );
        assert_eq!(
            document(&finding(Status::Error), "us-east-1", "t", "t"),
            None
        );
    }

    #[test]
    fn the_id_is_stable_per_account_region_check_resource_and_requirement() {
        let a = finding(Status::Fail);
        let mut b = finding(Status::Pass);
        b.reason = "another reason".into();
        assert_eq!(id(&a), id(&b), "status and reason do not change the id");
        let mut other = finding(Status::Fail);
        other.resource = "arn:aws:iam::123456789012:user/bob".into();
        assert_ne!(id(&a), id(&other));
        let mut regional = finding(Status::Fail);
        regional.region = Some("eu-west-1".into());
        assert_ne!(id(&a), id(&regional));
        let mut requirement = finding(Status::Fail);
        requirement.requirement = Some("min_length".into());
        assert_ne!(id(&a), id(&requirement));
        assert!(id(&a).len() < 512, "Security Hub's limit on Id");
    }

    #[test]
    fn resource_types_from_arns() {
        for (arn, t) in [
            ("arn:aws:iam::1:user/a", "AwsIamUser"),
            ("arn:aws:iam::1:role/service-role/r", "AwsIamRole"),
            ("arn:aws:iam::1:group/g", "AwsIamGroup"),
            ("arn:aws:iam::1:policy/p", "AwsIamPolicy"),
            ("arn:aws:iam::1:root", "AwsAccount"),
            ("arn:aws:s3:::bucket", "AwsS3Bucket"),
            ("arn:aws:sns:eu-west-1:1:topic", "AwsSnsTopic"),
            ("arn:aws:sqs:eu-west-1:1:queue", "AwsSqsQueue"),
            (
                "arn:aws:acm:eu-west-1:1:certificate/x",
                "AwsCertificateManagerCertificate",
            ),
            ("arn:aws:iam::1:server-certificate/c", "Other"),
        ] {
            assert_eq!(resource_type(arn), t, "{arn}");
        }
    }

    #[test]
    fn long_text_is_cut_to_the_field_limits() {
        let mut f = finding(Status::Fail);
        f.reason = "é".repeat(2000);
        let d = document(&f, "us-east-1", "t", "t").unwrap();
        assert_eq!(d.description.chars().count(), 1024);
        assert!(d.description.ends_with('…'));
    }
}
