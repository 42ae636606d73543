//! What the audit read from the account: plain data, so the checks are pure functions of it
//! (and testable without AWS). Each part is `None` when it was not read (`--credential-report`
//! audits offline) or the failed call when reading it failed.

use chrono::{DateTime, Utc};

use super::credential_report::CredentialReport;

/// An API call the audit could not make.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{call} failed: {message} (the audit needs {call})")]
pub struct ApiError {
    /// The call, as `service:Operation`: also the IAM permission it needs.
    pub call: &'static str,
    /// The error code and message AWS gave.
    pub message: String,
}

pub type Read<T> = Option<Result<T, ApiError>>;

#[derive(Debug, Default)]
pub struct Inventory {
    pub account: String,
    pub credential_report: Read<CredentialReport>,
    pub authorization: Read<Authorization>,
    /// Whether a virtual MFA device is assigned to the root user (ListVirtualMFADevices).
    pub root_virtual_mfa: Read<bool>,
    /// GetAccountSummary: root MFA, keys and certificates, for reports without a root row.
    pub account_summary: Read<AccountSummary>,
    /// None inside: the account has no password policy.
    pub password_policy: Read<Option<PasswordPolicy>>,
    pub server_certificates: Read<Vec<ServerCertificate>>,
    pub service_activity: Read<Vec<ServiceActivity>>,
    pub trails: Read<Vec<Trail>>,
    /// S3 buckets with their policies, ACLs and Block Public Access settings.
    pub buckets: Read<Vec<Bucket>>,
    pub regions: Vec<RegionalInventory>,
    /// What each principal used, from the trail (`--usage FILE`, or the daemon's record);
    /// None when there is no record.
    pub usage: Read<std::sync::Arc<super::permissions::usage::Usage>>,
    /// The regions the account has enabled, when the audit listed them (no `audit.regions`).
    pub enabled_regions: Read<Vec<String>>,
}

#[derive(Debug, Default)]
pub struct RegionalInventory {
    pub region: String,
    /// DescribeHub answered (Security Hub is on).
    pub security_hub: Read<bool>,
    /// Detector ids with their status (ENABLED, DISABLED).
    pub guardduty: Read<Vec<(String, String)>>,
    pub config: Read<ConfigState>,
    /// Active analyzers (name, type).
    pub access_analyzers: Read<Vec<(String, String)>>,
    /// The active findings of the external access analyzers (type ACCOUNT or ORGANIZATION).
    pub external_access: Read<Vec<ExternalAccess>>,
    pub listener_certificates: Read<Vec<ListenerCertificate>>,
    /// SNS topics and SQS queues with their access policies.
    pub resource_policies: Read<Vec<ResourcePolicy>>,
}

/// An active IAM Access Analyzer finding: a resource reachable from outside the zone of
/// trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalAccess {
    pub id: String,
    pub analyzer: String,
    pub resource: String,
    pub resource_type: String,
    /// Who can reach it, as the analyzer names them (`AWS: 444455556666`, `AWS: *`).
    pub principals: Vec<String>,
    pub actions: Vec<String>,
    pub public: bool,
    /// The conditions the access depends on (`aws:SourceIp: 203.0.113.0/24`).
    pub conditions: Vec<String>,
}

/// One S3 bucket: each part read on its own, so one refused call is an error for that
/// bucket and check only.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub name: String,
    /// None: the bucket has no policy.
    pub policy: Result<Option<String>, ApiError>,
    /// The ACL's grants to predefined groups: (group URI, permission).
    pub group_grants: Result<Vec<(String, String)>, ApiError>,
    /// The bucket's Block Public Access settings (all off when it has none).
    pub block: Result<PublicAccessBlock, ApiError>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

/// The access policy of a topic or queue (None: it has none).
#[derive(Debug, Clone)]
pub struct ResourcePolicy {
    pub arn: String,
    pub policy: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountSummary {
    pub mfa_enabled: bool,
    pub access_keys_present: bool,
    pub signing_certificates_present: bool,
}

/// GetAccountAuthorizationDetails: every user, group and role with its policies, and the
/// customer managed policies with their default versions; and the AWS managed policies they
/// use (GetPolicy, GetPolicyVersion), read only when attached or used as a boundary.
#[derive(Debug, Clone)]
pub struct Authorization {
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub roles: Vec<Role>,
    pub policies: Vec<ManagedPolicy>,
    /// The AWS managed policies attached anywhere or used as a boundary, with their default
    /// document; the failed call when one could not be read (the permission checks of the
    /// principals that use it are then ERROR).
    pub aws_policies: Result<Vec<ManagedPolicy>, ApiError>,
}

impl Default for Authorization {
    fn default() -> Self {
        Authorization {
            users: Vec::new(),
            groups: Vec::new(),
            roles: Vec::new(),
            policies: Vec::new(),
            aws_policies: Ok(Vec::new()),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct InlinePolicy {
    pub name: String,
    /// The policy document as JSON (URL-decoded).
    pub document: String,
}

#[derive(Debug, Clone, Default)]
pub struct User {
    pub name: String,
    pub arn: String,
    /// The unique id (`aws:userid`).
    pub id: String,
    pub inline: Vec<InlinePolicy>,
    /// ARNs of the managed policies attached to the user itself.
    pub attached: Vec<String>,
    /// Names of the groups the user is in.
    pub groups: Vec<String>,
    /// The managed policy that bounds its permissions.
    pub boundary: Option<String>,
    pub tags: Vec<(String, String)>,
    pub created: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default)]
pub struct Group {
    pub name: String,
    pub arn: String,
    pub inline: Vec<InlinePolicy>,
    pub attached: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Role {
    pub name: String,
    pub arn: String,
    pub id: String,
    pub path: String,
    /// The trust policy (who may assume it), URL-decoded.
    pub trust: Option<String>,
    pub boundary: Option<String>,
    pub tags: Vec<(String, String)>,
    pub created: Option<DateTime<Utc>>,
    pub last_used: Option<DateTime<Utc>>,
    pub inline: Vec<InlinePolicy>,
    pub attached: Vec<String>,
}

impl Role {
    /// Service-linked roles belong to AWS services; their use is not the account's to judge.
    pub fn is_service_linked(&self) -> bool {
        self.path.starts_with("/aws-service-role/")
    }
}

/// A customer managed policy.
#[derive(Debug, Clone, Default)]
pub struct ManagedPolicy {
    pub name: String,
    pub arn: String,
    pub attachment_count: i32,
    pub default_document: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_length: Option<i32>,
    pub reuse_prevention: Option<i32>,
    pub max_age_days: Option<i32>,
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    pub require_numbers: bool,
    pub require_symbols: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCertificate {
    pub name: String,
    pub arn: String,
    pub expiration: Option<DateTime<Utc>>,
}

/// Services a principal may use and when it last did (IAM's service last accessed data).
#[derive(Debug, Clone, Default)]
pub struct ServiceActivity {
    pub arn: String,
    pub is_role: bool,
    /// (service namespace, last authenticated) for every service its policies allow.
    pub services: Vec<(String, Option<DateTime<Utc>>)>,
}

#[derive(Debug, Clone)]
pub struct Trail {
    pub arn: String,
    pub multi_region: bool,
    pub log_file_validation: bool,
    pub logging: Result<bool, ApiError>,
}

#[derive(Debug, Clone, Default)]
pub struct ConfigState {
    pub recorders: Vec<Recorder>,
    pub delivery_channels: usize,
}

#[derive(Debug, Clone, Default)]
pub struct Recorder {
    pub name: String,
    pub all_supported: bool,
    pub recording: bool,
}

#[derive(Debug, Clone)]
pub struct ListenerCertificate {
    pub listener_arn: String,
    pub protocol: String,
    pub certificate_arn: String,
    /// When the certificate expires (ACM DescribeCertificate or IAM's server certificate).
    pub expires: Result<Option<DateTime<Utc>>, ApiError>,
}
