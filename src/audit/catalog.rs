//! Every check the audit knows: stable id, severity, CIS section and what to do about a
//! failure. Check ids are a type ([`CheckId`]), made here with the catalogue entry, so a
//! check that names an id the catalogue lacks does not compile. The posture documentation's
//! table lists the same ids (a test keeps them in step).

use super::finding::Severity;
use Severity::{Critical, High, Informational, Low, Medium};

pub struct Check {
    pub id: CheckId,
    pub title: &'static str,
    pub severity: Severity,
    /// CIS AWS Foundations Benchmark 3.0.0 sections (section 1 is numbered the same in 1.4.0).
    pub cis: &'static [&'static str],
    pub remediation: &'static str,
}

/// Writes [`CheckId`] and [`CHECKS`] from one list: variant = "id", severity, [CIS sections],
/// title, remediation.
macro_rules! catalogue {
    ($($(#[$doc:meta])* $variant:ident = $id:literal, $severity:ident, [$($cis:literal),*], $title:literal, $remediation:literal;)*) => {
        /// A check's id, as findings, mutes and `--checks` write it (kebab-case).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum CheckId {
            $($(#[$doc])* $variant,)*
        }

        impl CheckId {
            pub const ALL: &'static [CheckId] = &[$(CheckId::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(CheckId::$variant => $id,)*
                }
            }
        }

        pub const CHECKS: &[Check] = &[
            $(Check {
                id: CheckId::$variant,
                severity: $severity,
                cis: &[$($cis),*],
                title: $title,
                remediation: $remediation,
            },)*
        ];
    };
}

catalogue! {
    // The audit itself.
    AccountAudited = "account-audited", High, [], "Every account of the organization can be audited",
        "Deploy the audit role (audit.organization_role) in the account, trusting the account trailwatch runs in, with the AuditPosture permissions; or fix what the error names.";
    // Root user.
    RootAccessKeys = "root-access-keys", Critical, ["1.4"], "Root user has no active access key",
        "Delete the root user's access keys (Security credentials page, signed in as root); use IAM roles or users instead.";
    RootAccessKeyRotation = "root-access-key-rotation", High, [], "Root access keys are rotated",
        "Delete the root access key; if it must stay, rotate it now.";
    RootSigningCertificates = "root-signing-certificates", High, [], "Root user has no active signing certificate",
        "Delete the root user's X.509 signing certificates.";
    RootCertificateRotation = "root-certificate-rotation", Medium, [], "Root signing certificates are rotated",
        "Delete the root signing certificate, or replace it with a new one.";
    RootMfa = "root-mfa", Critical, ["1.5"], "Root user has MFA",
        "Enable MFA for the root user, preferably a hardware key.";
    RootHardwareMfa = "root-hardware-mfa", High, ["1.6"], "Root user has a hardware MFA device",
        "Replace the root user's virtual MFA with a hardware MFA device or security key.";
    RootPasswordRotation = "root-password-rotation", Low, [], "Root password is rotated",
        "Change the root user's password and store it in the break-glass vault.";
    RootRecentUse = "root-recent-use", High, ["1.7"], "Root user not used recently",
        "Find out who used the root user and why (CloudTrail: userIdentity.type Root); do daily work with IAM roles.";
    // IAM users.
    AdminsMinimum = "admins-minimum", Medium, [], "Enough administrators",
        "Give at least the minimum number of people full administrative rights, so the account never depends on one person.";
    AdminsMaximum = "admins-maximum", High, [], "Not too many administrators",
        "Remove full administrative rights from the users who do not need them.";
    UserUnused = "user-unused", Medium, ["1.12"], "IAM users are used",
        "Delete the user, or deactivate its password and keys, if nobody needs it.";
    UserMfa = "user-mfa", High, ["1.10"], "Console users have MFA",
        "Enable MFA for the user, or delete its console password if it does not sign in.";
    AccessKeyRotation = "access-key-rotation", Medium, ["1.14"], "Access keys are rotated",
        "Create a new access key, move its users to it, then deactivate and delete the old one.";
    AccessKeyUnused = "access-key-unused", Medium, ["1.12"], "Active access keys are used",
        "Deactivate the unused access key, then delete it.";
    AccessKeyInactive = "access-key-inactive", Low, [], "No deactivated access key left",
        "Delete deactivated access keys that are no longer needed.";
    AccessKeyMultiple = "access-key-multiple", Medium, ["1.13"], "One active access key per user",
        "Keep one active access key: deactivate and delete the other.";
    AccessKeyAtSetup = "access-key-at-setup", Low, ["1.11"], "No unused access key created with a console user",
        "Delete access keys that were created with the user and never used.";
    ConsoleUnused = "console-unused", Medium, ["1.12"], "Console passwords are used",
        "Delete the user's console password (login profile) if it does not sign in.";
    UserServiceInactivity = "user-service-inactivity", Low, [], "Users use the services they are allowed",
        "Remove permissions for services the user has not accessed within the threshold.";
    UserInlinePolicies = "user-inline-policies", Low, ["1.15"], "Users get permissions through groups only",
        "Move the user's inline and directly attached policies to a group and add the user to it.";
    UserSigningCertificateRotation = "user-signing-certificate-rotation", Low, [], "User signing certificates are rotated",
        "Replace the signing certificate with a new one and delete the old one.";
    // Roles and groups.
    RoleUnused = "role-unused", Low, [], "IAM roles are used",
        "Delete the role if nothing assumes it any more.";
    RoleServiceInactivity = "role-service-inactivity", Low, [], "Roles use the services they are allowed",
        "Remove permissions for services the role has not accessed within the threshold.";
    RoleInlinePolicies = "role-inline-policies", Low, [], "Roles have no inline policies",
        "Replace the role's inline policies with managed policies, which are versioned and reviewable.";
    GroupEmpty = "group-empty", Low, [], "IAM groups have members",
        "Delete the group if it is not needed.";
    // Certificates.
    ElbCertificateRotation = "elb-certificate-rotation", High, [], "Load balancer certificates are rotated before they expire",
        "Renew or import a new certificate and attach it to the listener before the old one expires.";
    ServerCertificateExpired = "server-certificate-expired", Medium, ["1.19"], "No expired IAM server certificate stored",
        "Delete the expired server certificate (aws iam delete-server-certificate).";
    // Resources anyone can reach.
    ResourcePolicyPublic = "resource-policy-public", High, [], "Resource policies do not let anyone in",
        "Remove the statement that allows Principal \"*\" (or narrow it with a condition on aws:PrincipalOrgID, aws:PrincipalAccount, aws:SourceArn or aws:SourceVpce); for a bucket, turn on Block Public Access (RestrictPublicBuckets).";
    S3BucketPublic = "s3-bucket-public", High, [], "S3 bucket ACLs grant nothing to everyone",
        "Remove the AllUsers and AuthenticatedUsers grants from the bucket ACL (or set Object Ownership to bucket owner enforced) and turn on Block Public Access (IgnorePublicAcls).";
    // Account settings.
    PasswordPolicy = "password-policy", Medium, ["1.8", "1.9"], "Password policy is strong",
        "Set the account password policy (IAM → Account settings) to the required values.";
    SecurityHubEnabled = "security-hub-enabled", Medium, ["4.16"], "Security Hub is enabled",
        "Enable AWS Security Hub in the region.";
    GuarddutyEnabled = "guardduty-enabled", Medium, [], "GuardDuty is enabled",
        "Enable Amazon GuardDuty in the region.";
    ConfigRecorderEnabled = "config-recorder-enabled", Medium, ["3.3"], "AWS Config records every resource",
        "Turn on an AWS Config recorder for all resource types, with a delivery channel, in the region.";
    AccessAnalyzerEnabled = "access-analyzer-enabled", Low, ["1.20"], "IAM Access Analyzer is enabled",
        "Create an IAM Access Analyzer (account or organization zone of trust) in the region.";
    AccessAnalyzerFindings = "access-analyzer-findings", High, [], "No resource is reachable from outside the zone of trust (IAM Access Analyzer)",
        "Remove or narrow the policy statement that grants the access the finding names; if the access is intended, archive the finding with an archive rule.";
    CloudtrailMultiRegion = "cloudtrail-multi-region", High, ["3.1", "3.2"], "A multi-region trail is logging with log file validation",
        "Create a multi-region trail with log file validation and make sure it is logging.";
    SupportRole = "support-role", Low, ["1.17"], "A support role exists",
        "Attach AWSSupportAccess to a role (or group) that handles incidents with AWS Support.";
    // Permissions: who can do what (src/audit/permissions).
    AdminAccess = "admin-access", High, ["1.16"], "Principals do not hold full administrative rights (mute the admins you count)",
        "Grant least privilege instead of * on *; keep full rights to the few admins you count (and mute them here), with MFA.";
    AdminWithoutMfa = "admin-without-mfa", High, [], "Admins have MFA",
        "Enable MFA for the user, or take its administrative rights away.";
    PrivilegeEscalation = "privilege-escalation", High, [], "Principals cannot make themselves admin",
        "Remove the permissions the reason names, or narrow them to the principal's own resources (e.g. arn:aws:iam::*:user/${aws:username}), or deny them explicitly.";
    PassroleAnyRole = "passrole-any-role", Medium, [], "iam:PassRole is granted on named roles only",
        "Grant iam:PassRole on the roles the principal must pass (Resource: the role ARNs), or add a condition on iam:PassedToService.";
    RoleTrustPublic = "role-trust-public", Critical, [], "No role can be assumed by anyone",
        "Name the principals in the trust policy, or add a condition that narrows it (aws:PrincipalOrgID, aws:PrincipalAccount, sts:ExternalId, aws:PrincipalArn).";
    RoleTrustCrossAccount = "role-trust-cross-account", Medium, [], "Other accounts assume roles only with an external id or MFA",
        "Add an sts:ExternalId (third parties) or aws:MultiFactorAuthPresent condition to the trust policy, or list the account in audit.trusted_accounts if it is yours.";
    GroupInlinePolicies = "group-inline-policies", Low, [], "Groups have no inline policies",
        "Replace the group's inline policies with managed policies, which are versioned and reviewable.";
    UsersAssumeRolesOnly = "users-assume-roles-only", Low, [], "Users hold nothing but sts:AssumeRole and their own credentials",
        "Move the user's permissions to roles it assumes; leave it sts:AssumeRole and the management of its own password, MFA and keys.";
    UnusedPermissions = "unused-permissions", Low, [], "Principals use the permissions they are granted",
        "Remove the actions the principal has not used (trailwatch audit --suggest-policy ARN --usage FILE prints a policy of what it used).";
    FullAdminPolicies = "full-admin-policies", High, ["1.16"], "No attached customer policy allows * on *",
        "Detach the policy and grant least privilege instead; keep full access to AdministratorAccess holders you count.";
    CloudshellFullAccess = "cloudshell-full-access", Low, ["1.22"], "AWSCloudShellFullAccess is not attached",
        "Detach AWSCloudShellFullAccess; grant CloudShell access without file transfer where needed.";
    // What no API decides.
    ContactDetails = "contact-details", Informational, ["1.1"], "Account contact details are current",
        "Check the contact details in the account settings (signed in as root or with account:GetContactInformation).";
    SecurityContact = "security-contact", Informational, ["1.2"], "A security contact is registered",
        "Register a security alternate contact in the account settings.";
    SecurityQuestions = "security-questions", Informational, ["1.3"], "Security questions are registered",
        "Register the root user's security challenge questions (older accounts only).";
    Ec2InstanceRoles = "ec2-instance-roles", Informational, ["1.18"], "Instances use IAM roles",
        "Give EC2 instances instance profiles instead of stored access keys.";
    CentralIdentity = "central-identity", Informational, ["1.21"], "IAM users are managed centrally",
        "Manage people through IAM Identity Center or a federated identity provider.";
}

impl CheckId {
    /// The id written `text`, if the catalogue has it.
    pub fn parse(text: &str) -> Option<CheckId> {
        CheckId::ALL.iter().copied().find(|c| c.as_str() == text)
    }

    /// The check's catalogue entry.
    pub fn check(self) -> &'static Check {
        // CHECKS lists the ids in the order the enum declares them.
        &CHECKS[self as usize]
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// For command-line flags that take check ids.
impl std::str::FromStr for CheckId {
    type Err = String;

    fn from_str(text: &str) -> Result<CheckId, String> {
        CheckId::parse(text)
            .ok_or_else(|| format!("no check is named {text:?} (see --list-checks)"))
    }
}

impl PartialEq<&str> for CheckId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl serde::Serialize for CheckId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for CheckId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<CheckId, D::Error> {
        let text = String::deserialize(d)?;
        CheckId::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("no check named {text:?}")))
    }
}

pub fn get(id: &str) -> Option<&'static Check> {
    CheckId::parse(id).map(CheckId::check)
}

/// The catalogue's sections (the report groups its counts by them), each named with its
/// first check: the checks follow in catalogue order.
const SECTIONS: &[(&str, CheckId)] = &[
    ("The audit", CheckId::AccountAudited),
    ("Root user", CheckId::RootAccessKeys),
    ("IAM users", CheckId::AdminsMinimum),
    ("Roles and groups", CheckId::RoleUnused),
    ("Certificates", CheckId::ElbCertificateRotation),
    ("Resources anyone can reach", CheckId::ResourcePolicyPublic),
    ("Account settings", CheckId::PasswordPolicy),
    ("Permissions", CheckId::AdminAccess),
    ("Decided by a person", CheckId::ContactDetails),
];

impl CheckId {
    /// The catalogue section the check is listed in.
    pub fn section(self) -> &'static str {
        SECTIONS
            .iter()
            .rev()
            .find(|(_, first)| *first <= self)
            .map_or(SECTIONS[0].0, |(name, _)| name)
    }
}

/// The checks only a person can decide (status MANUAL in every report).
pub const MANUAL: &[CheckId] = &[
    CheckId::ContactDetails,
    CheckId::SecurityContact,
    CheckId::SecurityQuestions,
    CheckId::Ec2InstanceRoles,
    CheckId::CentralIdentity,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_parses_back_and_names_its_own_entry() {
        assert_eq!(CHECKS.len(), CheckId::ALL.len());
        for &id in CheckId::ALL {
            assert_eq!(CheckId::parse(id.as_str()), Some(id));
            assert_eq!(id.check().id, id);
        }
        assert_eq!(CheckId::parse("no-such-check"), None);
    }
}
