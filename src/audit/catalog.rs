//! Every check the audit knows: stable id, severity, CIS section and what to do about a
//! failure. The README's posture table lists the same ids (a test keeps them in step).

use super::finding::Severity;
use Severity::{Critical, High, Informational, Low, Medium};

pub struct Check {
    pub id: &'static str,
    pub title: &'static str,
    pub severity: Severity,
    /// CIS AWS Foundations Benchmark 3.0.0 sections (section 1 is numbered the same in 1.4.0).
    pub cis: &'static [&'static str],
    pub remediation: &'static str,
}

const fn c(
    id: &'static str,
    severity: Severity,
    cis: &'static [&'static str],
    title: &'static str,
    remediation: &'static str,
) -> Check {
    Check {
        id,
        title,
        severity,
        cis,
        remediation,
    }
}

pub const CHECKS: &[Check] = &[
    // Root user.
    c("root-access-keys", Critical, &["1.4"], "Root user has no active access key",
        "Delete the root user's access keys (Security credentials page, signed in as root); use IAM roles or users instead."),
    c("root-access-key-rotation", High, &[], "Root access keys are rotated",
        "Delete the root access key; if it must stay, rotate it now."),
    c("root-signing-certificates", High, &[], "Root user has no active signing certificate",
        "Delete the root user's X.509 signing certificates."),
    c("root-certificate-rotation", Medium, &[], "Root signing certificates are rotated",
        "Delete the root signing certificate, or replace it with a new one."),
    c("root-mfa", Critical, &["1.5"], "Root user has MFA",
        "Enable MFA for the root user, preferably a hardware key."),
    c("root-hardware-mfa", High, &["1.6"], "Root user has a hardware MFA device",
        "Replace the root user's virtual MFA with a hardware MFA device or security key."),
    c("root-password-rotation", Low, &[], "Root password is rotated",
        "Change the root user's password and store it in the break-glass vault."),
    c("root-recent-use", High, &["1.7"], "Root user not used recently",
        "Find out who used the root user and why (CloudTrail: userIdentity.type Root); do daily work with IAM roles."),
    // IAM users.
    c("admins-minimum", Medium, &[], "Enough administrators",
        "Give at least the minimum number of people full administrative rights, so the account never depends on one person."),
    c("admins-maximum", High, &[], "Not too many administrators",
        "Remove full administrative rights from the users who do not need them."),
    c("user-unused", Medium, &["1.12"], "IAM users are used",
        "Delete the user, or deactivate its password and keys, if nobody needs it."),
    c("user-mfa", High, &["1.10"], "Console users have MFA",
        "Enable MFA for the user, or delete its console password if it does not sign in."),
    c("access-key-rotation", Medium, &["1.14"], "Access keys are rotated",
        "Create a new access key, move its users to it, then deactivate and delete the old one."),
    c("access-key-unused", Medium, &["1.12"], "Active access keys are used",
        "Deactivate the unused access key, then delete it."),
    c("access-key-inactive", Low, &[], "No deactivated access key left",
        "Delete deactivated access keys that are no longer needed."),
    c("access-key-multiple", Medium, &["1.13"], "One active access key per user",
        "Keep one active access key: deactivate and delete the other."),
    c("access-key-at-setup", Low, &["1.11"], "No unused access key created with a console user",
        "Delete access keys that were created with the user and never used."),
    c("console-unused", Medium, &["1.12"], "Console passwords are used",
        "Delete the user's console password (login profile) if it does not sign in."),
    c("user-service-inactivity", Low, &[], "Users use the services they are allowed",
        "Remove permissions for services the user has not accessed within the threshold."),
    c("user-inline-policies", Low, &["1.15"], "Users get permissions through groups only",
        "Move the user's inline and directly attached policies to a group and add the user to it."),
    c("user-signing-certificate-rotation", Low, &[], "User signing certificates are rotated",
        "Replace the signing certificate with a new one and delete the old one."),
    // Roles and groups.
    c("role-unused", Low, &[], "IAM roles are used",
        "Delete the role if nothing assumes it any more."),
    c("role-service-inactivity", Low, &[], "Roles use the services they are allowed",
        "Remove permissions for services the role has not accessed within the threshold."),
    c("role-inline-policies", Low, &[], "Roles have no inline policies",
        "Replace the role's inline policies with managed policies, which are versioned and reviewable."),
    c("group-empty", Low, &[], "IAM groups have members",
        "Delete the group if it is not needed."),
    // Certificates.
    c("elb-certificate-rotation", High, &[], "Load balancer certificates are rotated before they expire",
        "Renew or import a new certificate and attach it to the listener before the old one expires."),
    c("server-certificate-expired", Medium, &["1.19"], "No expired IAM server certificate stored",
        "Delete the expired server certificate (aws iam delete-server-certificate)."),
    // Account settings.
    c("password-policy", Medium, &["1.8", "1.9"], "Password policy is strong",
        "Set the account password policy (IAM → Account settings) to the required values."),
    c("security-hub-enabled", Medium, &["4.16"], "Security Hub is enabled",
        "Enable AWS Security Hub in the region."),
    c("guardduty-enabled", Medium, &[], "GuardDuty is enabled",
        "Enable Amazon GuardDuty in the region."),
    c("config-recorder-enabled", Medium, &["3.3"], "AWS Config records every resource",
        "Turn on an AWS Config recorder for all resource types, with a delivery channel, in the region."),
    c("access-analyzer-enabled", Low, &["1.20"], "IAM Access Analyzer is enabled",
        "Create an IAM Access Analyzer (account or organization zone of trust) in the region."),
    c("cloudtrail-multi-region", High, &["3.1", "3.2"], "A multi-region trail is logging with log file validation",
        "Create a multi-region trail with log file validation and make sure it is logging."),
    c("support-role", Low, &["1.17"], "A support role exists",
        "Attach AWSSupportAccess to a role (or group) that handles incidents with AWS Support."),
    c("full-admin-policies", High, &["1.16"], "No attached customer policy allows * on *",
        "Detach the policy and grant least privilege instead; keep full access to AdministratorAccess holders you count."),
    c("cloudshell-full-access", Low, &["1.22"], "AWSCloudShellFullAccess is not attached",
        "Detach AWSCloudShellFullAccess; grant CloudShell access without file transfer where needed."),
    // What no API decides.
    c("contact-details", Informational, &["1.1"], "Account contact details are current",
        "Check the contact details in the account settings (signed in as root or with account:GetContactInformation)."),
    c("security-contact", Informational, &["1.2"], "A security contact is registered",
        "Register a security alternate contact in the account settings."),
    c("security-questions", Informational, &["1.3"], "Security questions are registered",
        "Register the root user's security challenge questions (older accounts only)."),
    c("ec2-instance-roles", Informational, &["1.18"], "Instances use IAM roles",
        "Give EC2 instances instance profiles instead of stored access keys."),
    c("central-identity", Informational, &["1.21"], "IAM users are managed centrally",
        "Manage people through IAM Identity Center or a federated identity provider."),
];

pub fn get(id: &str) -> Option<&'static Check> {
    CHECKS.iter().find(|c| c.id == id)
}

/// The checks only a person can decide (status MANUAL in every report).
pub const MANUAL: &[&str] = &[
    "contact-details",
    "security-contact",
    "security-questions",
    "ec2-instance-roles",
    "central-identity",
];
