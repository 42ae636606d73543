//! A benchmark's view of an audit: for each requirement trailwatch's checks decide, PASS,
//! FAIL, MANUAL or ERROR, in that version's numbering (`trailwatch audit --compliance`).
//!
//! The catalogue names CIS AWS Foundations Benchmark 3.0.0 sections. 4.0.0 numbers the
//! requirements trailwatch checks the same way; 5.0.0 dropped the security questions item
//! (1.3), so every later item of section 1 moved up by one, and kept sections 3 and 4.

use serde::Serialize;

use super::catalog::CheckId;
use super::finding::{Finding, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Benchmark {
    #[value(name = "cis-3.0")]
    Cis30,
    #[value(name = "cis-4.0")]
    Cis40,
    #[value(name = "cis-5.0")]
    Cis50,
}

impl Benchmark {
    pub fn title(self) -> &'static str {
        match self {
            Benchmark::Cis30 => "CIS AWS Foundations Benchmark v3.0.0",
            Benchmark::Cis40 => "CIS AWS Foundations Benchmark v4.0.0",
            Benchmark::Cis50 => "CIS AWS Foundations Benchmark v5.0.0",
        }
    }

    /// A 3.0.0 section in this version's numbering; None when the version has no such item.
    pub fn requirement(self, cis3: &str) -> Option<String> {
        match self {
            Benchmark::Cis30 | Benchmark::Cis40 => Some(cis3.to_string()),
            Benchmark::Cis50 => match cis3.strip_prefix("1.").map(str::parse::<u32>) {
                Some(Ok(3)) => None,
                Some(Ok(n)) if n > 3 => Some(format!("1.{}", n - 1)),
                _ => Some(cis3.to_string()),
            },
        }
    }
}

/// One requirement's verdict and the findings behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Requirement {
    pub benchmark: &'static str,
    pub requirement: String,
    /// FAIL when an unmuted finding fails; else ERROR when a read failed; else MANUAL when
    /// only a person can decide; else PASS (muted failures included, counted).
    pub status: Status,
    pub checks: Vec<&'static str>,
    pub fail: usize,
    pub muted: usize,
    pub pass: usize,
    pub error: usize,
    pub manual: usize,
}

/// The requirements of `benchmark` the findings speak to, in the benchmark's order.
pub fn summarize(findings: &[Finding], benchmark: Benchmark) -> Vec<Requirement> {
    let mut out: Vec<Requirement> = Vec::new();
    for f in findings {
        for cis in &f.cis {
            let Some(id) = benchmark.requirement(cis) else {
                continue;
            };
            let r = match out.iter_mut().position(|r| r.requirement == id) {
                Some(i) => &mut out[i],
                None => {
                    out.push(Requirement {
                        benchmark: benchmark.title(),
                        requirement: id,
                        status: Status::Pass,
                        checks: Vec::new(),
                        fail: 0,
                        muted: 0,
                        pass: 0,
                        error: 0,
                        manual: 0,
                    });
                    out.last_mut().expect("just pushed")
                }
            };
            if !r.checks.contains(&f.check.as_str()) {
                r.checks.push(f.check.as_str());
            }
            match f.status {
                Status::Fail => r.fail += 1,
                Status::Muted => r.muted += 1,
                Status::Pass => r.pass += 1,
                Status::Error => r.error += 1,
                Status::Manual => r.manual += 1,
            }
        }
    }
    for r in &mut out {
        r.checks.sort_unstable();
        r.status = if r.fail > 0 {
            Status::Fail
        } else if r.error > 0 {
            Status::Error
        } else if r.manual > 0 && r.pass + r.muted == 0 {
            Status::Manual
        } else {
            Status::Pass
        };
    }
    out.sort_by_key(|r| order(&r.requirement));
    out
}

/// "1.10" after "1.9".
fn order(id: &str) -> Vec<u32> {
    id.split('.')
        .map(|p| p.parse().unwrap_or(u32::MAX))
        .collect()
}

/// The checks of the catalogue a requirement is decided by (for documentation and tests).
pub fn checks_of(benchmark: Benchmark, requirement: &str) -> Vec<CheckId> {
    CheckId::ALL
        .iter()
        .copied()
        .filter(|c| {
            c.check()
                .cis
                .iter()
                .any(|s| benchmark.requirement(s).as_deref() == Some(requirement))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::finding::Severity;

    fn finding(check: CheckId, status: Status) -> Finding {
        let c = check.check();
        Finding {
            check,
            title: c.title.into(),
            status,
            severity: Severity::High,
            resource: "arn:aws:iam::1:root".into(),
            requirement: None,
            account: "1".into(),
            region: None,
            reason: String::new(),
            remediation: String::new(),
            cis: c.cis.iter().map(|s| s.to_string()).collect(),
            muted: None,
        }
    }

    #[test]
    fn versions_number_the_same_requirements_their_own_way() {
        assert_eq!(checks_of(Benchmark::Cis30, "1.10"), vec![CheckId::UserMfa]);
        assert_eq!(checks_of(Benchmark::Cis40, "1.10"), vec![CheckId::UserMfa]);
        assert_eq!(checks_of(Benchmark::Cis50, "1.9"), vec![CheckId::UserMfa]);
        assert_eq!(
            checks_of(Benchmark::Cis50, "1.3"),
            vec![CheckId::RootAccessKeys]
        );
        assert_eq!(
            checks_of(Benchmark::Cis30, "1.3"),
            vec![CheckId::SecurityQuestions]
        );
        assert_eq!(
            checks_of(Benchmark::Cis50, "1.21"),
            vec![CheckId::CloudshellFullAccess]
        );
        assert_eq!(checks_of(Benchmark::Cis50, "1.22"), Vec::<CheckId>::new());
        assert_eq!(
            checks_of(Benchmark::Cis50, "4.16"),
            vec![CheckId::SecurityHubEnabled]
        );
        assert_eq!(
            checks_of(Benchmark::Cis50, "3.3"),
            vec![CheckId::ConfigRecorderEnabled]
        );
    }

    #[test]
    fn a_requirement_fails_on_an_unmuted_failure_and_is_manual_only_without_verdicts() {
        let findings = vec![
            finding(CheckId::UserMfa, Status::Pass),
            finding(CheckId::UserMfa, Status::Fail),
            finding(CheckId::RootMfa, Status::Muted),
            finding(CheckId::RootAccessKeys, Status::Error),
            finding(CheckId::SecurityQuestions, Status::Manual),
            finding(CheckId::AccessKeyRotation, Status::Pass),
        ];
        let got: Vec<(String, Status, usize, usize)> = summarize(&findings, Benchmark::Cis50)
            .into_iter()
            .map(|r| (r.requirement, r.status, r.fail, r.muted))
            .collect();
        assert_eq!(
            got,
            vec![
                ("1.3".to_string(), Status::Error, 0, 0),
                ("1.4".to_string(), Status::Pass, 0, 1),
                ("1.9".to_string(), Status::Fail, 1, 0),
                ("1.13".to_string(), Status::Pass, 0, 0),
            ],
            "5.0 has no security questions item"
        );
        let v3: Vec<(String, Status)> = summarize(&findings, Benchmark::Cis30)
            .into_iter()
            .map(|r| (r.requirement, r.status))
            .collect();
        assert_eq!(
            v3,
            vec![
                ("1.3".to_string(), Status::Manual),
                ("1.4".to_string(), Status::Error),
                ("1.5".to_string(), Status::Pass),
                ("1.10".to_string(), Status::Fail),
                ("1.14".to_string(), Status::Pass),
            ]
        );
    }
}
