//! What the audit says about one resource for one check.

use serde::{Deserialize, Serialize};

pub use crate::rules::Level as Severity;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// The resource breaks the check.
    Fail,
    /// An API call the check needs failed: the reason names the call and the permission.
    Error,
    /// A CIS item that no API can decide, listed so the report is complete.
    Manual,
    /// A failure the configuration mutes, with its reason.
    Muted,
    Pass,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Fail => "FAIL",
            Status::Error => "ERROR",
            Status::Manual => "MANUAL",
            Status::Muted => "MUTED",
            Status::Pass => "PASS",
        })
    }
}

/// One finding: a check's verdict on one resource. Serialized as one JSON line (`--format
/// json`, and the `finding` of a posture message in the daemon's sinks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub check: super::catalog::CheckId,
    pub title: String,
    pub status: Status,
    pub severity: Severity,
    /// The ARN of the user, role, group, policy, certificate or listener; account-wide checks
    /// use the account's root ARN.
    pub resource: String,
    /// For checks with several findings per resource (`password-policy`): which requirement.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub requirement: Option<String>,
    pub account: String,
    /// Regional checks only.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub region: Option<String>,
    /// What decided, with the values (ages in days, counts, the failed call).
    pub reason: String,
    pub remediation: String,
    /// CIS AWS Foundations Benchmark 3.0.0 sections.
    pub cis: Vec<String>,
    /// Why a failure is muted (status MUTED), from the configuration.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub muted: Option<String>,
}

impl Finding {
    /// What identifies the finding from one audit to the next.
    pub fn key(&self) -> String {
        let mut k = format!("{}\n{}", self.check, self.resource);
        for part in [&self.requirement, &self.region].into_iter().flatten() {
            k.push('\n');
            k.push_str(part);
        }
        k
    }

    /// The order of a report: failures first, the most severe first, then by check and
    /// resource, so two runs over the same account print the same lines in the same order.
    pub fn report_order(a: &Finding, b: &Finding) -> std::cmp::Ordering {
        (
            a.status,
            std::cmp::Reverse(a.severity),
            &a.check,
            &a.resource,
            &a.requirement,
            &a.region,
        )
            .cmp(&(
                b.status,
                std::cmp::Reverse(b.severity),
                &b.check,
                &b.resource,
                &b.requirement,
                &b.region,
            ))
    }
}
