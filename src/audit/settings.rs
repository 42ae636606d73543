//! `[audit]` in the daemon's TOML configuration: thresholds, regions, accounts and mutes,
//! typed when the configuration is loaded.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// The daemon audits at start, every `interval`, and after events that change the
    /// posture (`trailwatch run --audit` sets it too). Off by default: the daemon's role
    /// needs the audit's read-only permissions first.
    pub enabled: bool,
    /// How often the daemon audits the whole account.
    #[serde(deserialize_with = "duration")]
    pub interval: Duration,
    /// Regions for the regional checks; empty: every region the account has enabled (EC2
    /// DescribeRegions), read side by side. The first is where account-wide findings are
    /// filed in Security Hub (empty: the SDK's region).
    pub regions: Vec<String>,
    /// Access keys, signing certificates and the root password are rotated within this.
    pub rotation_days: i64,
    /// Users, console passwords and access keys are used within this (CIS 1.12: 45).
    pub unused_days: i64,
    pub role_unused_days: i64,
    /// Root password or keys used within this many days fail `root-recent-use`.
    pub root_recent_use_days: i64,
    /// Load balancer certificates expiring within this fail `elb-certificate-rotation`.
    pub certificate_expiry_days: i64,
    /// Services allowed but not accessed within this fail `*-service-inactivity`.
    pub service_inactivity_days: i64,
    pub min_admins: usize,
    pub max_admins: usize,
    /// Accounts whose principals may assume roles here without an external id or MFA
    /// condition (`role-trust-cross-account`): the organization's own accounts.
    pub trusted_accounts: Vec<String>,
    /// Opt-in `users-assume-roles-only`: users hold nothing but sts:AssumeRole and the
    /// management of their own password, MFA and keys.
    pub users_assume_roles_only: bool,
    /// Granted actions not used within this many days fail `unused-permissions`.
    pub usage_days: i64,
    pub password_policy: PasswordPolicyConfig,
    /// How long to wait for IAM to generate the credential report.
    #[serde(deserialize_with = "duration")]
    pub credential_report_timeout: Duration,
    /// API calls in flight at once.
    pub concurrency: usize,
    /// How long the daemon waits after an event before re-auditing what it changed, so a
    /// burst of changes to one principal gives one re-audit.
    #[serde(deserialize_with = "duration")]
    pub debounce: Duration,
    /// Import the findings into Security Hub after each audit (`trailwatch audit
    /// --security-hub` does it once): account-wide findings into the first audited region's
    /// hub, regional ones into their region's.
    pub security_hub: bool,
    /// Where the daemon keeps the last audit's findings, so a restart does not resend them.
    pub state_file: Option<std::path::PathBuf>,
    pub accounts: Vec<AccountConfig>,
    /// Audit every active account of the organization through this role, assumed in each
    /// (the account trailwatch runs in with its own credentials); run from the management
    /// account or a delegated administrator. `accounts` wins when both are set.
    pub organization_role: Option<String>,
    pub mute: Vec<MuteConfig>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            enabled: false,
            interval: Duration::from_secs(24 * 3600),
            regions: vec![],
            rotation_days: 90,
            unused_days: 45,
            role_unused_days: 90,
            root_recent_use_days: 7,
            certificate_expiry_days: 30,
            service_inactivity_days: 90,
            min_admins: 2,
            max_admins: 5,
            trusted_accounts: vec![],
            users_assume_roles_only: false,
            usage_days: 90,
            password_policy: PasswordPolicyConfig::default(),
            credential_report_timeout: Duration::from_secs(120),
            concurrency: 8,
            debounce: Duration::from_secs(3),
            security_hub: false,
            state_file: None,
            accounts: vec![],
            organization_role: None,
            mute: vec![],
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordPolicyConfig {
    pub min_length: i32,
    pub reuse_prevention: i32,
    /// Passwords expire within this many days (0: the requirement is not checked).
    pub max_age_days: i32,
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    pub require_numbers: bool,
    pub require_symbols: bool,
}

impl Default for PasswordPolicyConfig {
    fn default() -> Self {
        PasswordPolicyConfig {
            min_length: 14,
            reuse_prevention: 24,
            max_age_days: 90,
            require_uppercase: true,
            require_lowercase: true,
            require_numbers: true,
            require_symbols: true,
        }
    }
}

/// Another account to audit, through a role assumed in it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    pub role_arn: String,
    #[serde(default)]
    pub external_id: Option<String>,
}

/// A failure that is known and accepted: reported as MUTED with the reason.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MuteConfig {
    /// A check id.
    pub check: String,
    /// Resource ARN, `*` as a wildcard; every resource when absent.
    #[serde(default)]
    pub resource: Option<String>,
    pub reason: String,
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(|e| {
        serde::de::Error::custom(format!(
            "{s:?} is not a duration ({e}); e.g. \"24h\", \"90s\""
        ))
    })
}

/// An `[audit]` value out of range or naming what does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SettingError {
    /// The setting, as written in the file (`audit.mute[2].check`).
    pub key: String,
    pub message: String,
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> Result<(), SettingError> {
    Err(SettingError {
        key: key.into(),
        message: message.into(),
    })
}

impl AuditConfig {
    /// What serde cannot check: ranges, known check ids, role ARNs.
    pub fn validate(&self) -> Result<(), SettingError> {
        let days = [
            ("rotation_days", self.rotation_days),
            ("unused_days", self.unused_days),
            ("role_unused_days", self.role_unused_days),
            ("root_recent_use_days", self.root_recent_use_days),
            ("certificate_expiry_days", self.certificate_expiry_days),
            ("service_inactivity_days", self.service_inactivity_days),
            ("usage_days", self.usage_days),
        ];
        for (key, v) in days {
            if !(1..=3650).contains(&v) {
                return invalid(
                    format!("audit.{key}"),
                    format!("must be 1 to 3650 days (is {v})"),
                );
            }
        }
        if self.min_admins > self.max_admins {
            return invalid(
                "audit.min_admins",
                format!(
                    "is {}, above audit.max_admins ({})",
                    self.min_admins, self.max_admins
                ),
            );
        }
        if self.interval < Duration::from_secs(60) {
            return invalid(
                "audit.interval",
                format!("must be at least 1m (is {:?})", self.interval),
            );
        }
        if self.concurrency == 0 {
            return invalid("audit.concurrency", "must be at least 1");
        }
        for (i, m) in self.mute.iter().enumerate() {
            if super::catalog::get(&m.check).is_none() {
                return invalid(
                    format!("audit.mute[{i}].check"),
                    format!(
                        "no check is named {:?} (see `trailwatch audit --list-checks`)",
                        m.check
                    ),
                );
            }
        }
        for (i, a) in self.trusted_accounts.iter().enumerate() {
            if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
                return invalid(
                    format!("audit.trusted_accounts[{i}]"),
                    format!("{a:?} is not an account id (12 digits)"),
                );
            }
        }
        if let Some(role) = &self.organization_role {
            let name_ok = !role.is_empty()
                && role.len() <= 64
                && role
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
            if !name_ok {
                return invalid(
                    "audit.organization_role",
                    format!("{role:?} is not a role name (the name alone, as OrganizationAccountAccessRole, not an ARN)"),
                );
            }
        }
        for (i, a) in self.accounts.iter().enumerate() {
            if !a.role_arn.starts_with("arn:") || !a.role_arn.contains(":role/") {
                return invalid(
                    format!("audit.accounts[{i}].role_arn"),
                    format!(
                        "{:?} is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
                        a.role_arn
                    ),
                );
            }
        }
        Ok(())
    }

    /// The mute entry that covers a finding, if any.
    pub fn mute_for(&self, check: super::catalog::CheckId, resource: &str) -> Option<&MuteConfig> {
        self.mute.iter().find(|m| {
            m.check == check.as_str()
                && m.resource
                    .as_deref()
                    .is_none_or(|p| crate::rules::sigma::condition::glob_match(p, resource))
        })
    }
}
