//! What judging permissions costs, on an account like benches/posture-scale.sh seeds: 5,000
//! users and 2,000 roles with mixed policies (inline and managed, groups, wildcards,
//! `NotAction`, conditions, boundaries, variables, several trust shapes).
//!
//! - every policy parsed and the admins found (once per audit), then the permission checks
//!   (`admin-access` … `users-assume-roles-only`) over the whole account, and the
//!   per-principal facts (admin, escalation) alerts carry: what the audit adds to a run
//!   (posture-scale.sh measures the whole run);
//! - a policy change judged on its alert (the account with the change applied);
//! - the evaluator alone: decisions per second, on a user's effective policies.
//!
//! `cargo bench --bench permissions [-- USERS ROLES]`. Numbers are in docs/performance.md.

use std::time::{Duration, Instant};

use chrono::Utc;
use trailwatch::audit::checks::{self, permissions, Eval};
use trailwatch::audit::inventory::{
    Authorization, Group, InlinePolicy, Inventory, ManagedPolicy, Role, User,
};
use trailwatch::audit::permissions::change;
use trailwatch::audit::permissions::escalation::Analysis;
use trailwatch::audit::{principal, AuditConfig};

const ACCOUNT: &str = "123456789012";
const RUNS: usize = 5;

fn doc(statements: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
}

/// Statements of the kinds real accounts hold, by index.
fn user_policy(i: usize) -> Option<String> {
    Some(doc(match i % 11 {
        0 => r#"{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":"*"}"#,
        1 => {
            r#"{"Effect":"Allow","Action":["iam:CreateAccessKey","iam:DeleteAccessKey","iam:ListAccessKeys"],"Resource":"arn:aws:iam::*:user/${aws:username}"}"#
        }
        2 => r#"{"Effect":"Allow","Action":["iam:PassRole","ec2:RunInstances"],"Resource":"*"}"#,
        3 => {
            r#"{"Effect":"Allow","Action":"iam:Attach*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}"#
        }
        4 => r#"{"Effect":"Allow","NotAction":["iam:*","organizations:*"],"Resource":"*"}"#,
        5 => {
            r#"{"Effect":"Allow","Action":["dynamodb:*","sqs:SendMessage"],"Resource":["arn:aws:dynamodb:us-east-1:123456789012:table/app-*","arn:aws:sqs:us-east-1:123456789012:jobs"]},{"Effect":"Deny","Action":"dynamodb:DeleteTable","Resource":"*"}"#
        }
        6 => {
            r#"{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::${aws:PrincipalTag/team}-data/*"}"#
        }
        _ => return None,
    }))
}

fn role_trust(i: usize) -> String {
    doc(match i % 6 {
        0 | 1 => {
            r#"{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}"#
        }
        2 => {
            r#"{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}"#
        }
        3 => {
            r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"x"}}}"#
        }
        4 => {
            r#"{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abc"}}}"#
        }
        _ => {
            r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/user-00001"},"Action":"sts:AssumeRole"}"#
        }
    })
}

fn account(users: usize, roles: usize) -> Authorization {
    let arn = |kind: &str, name: &str| format!("arn:aws:iam::{ACCOUNT}:{kind}/{name}");
    let policies: Vec<ManagedPolicy> = (0..10)
        .map(|p| ManagedPolicy {
            name: format!("managed-{p}"),
            arn: arn("policy", &format!("managed-{p}")),
            attachment_count: 1,
            default_document: Some(match p {
                0 => doc(r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#),
                1 => doc(r#"{"Effect":"Allow","Action":["iam:Get*","iam:List*"],"Resource":"*"}"#),
                2 => doc(r#"{"Effect":"Allow","Action":["ec2:Describe*","cloudwatch:*","logs:*"],"Resource":"*"}"#),
                _ => doc(&format!(
                    r#"{{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::bucket-{p}/*"}}"#
                )),
            }),
        })
        .collect();
    let aws_admin = "arn:aws:iam::aws:policy/AdministratorAccess".to_string();
    let groups: Vec<Group> = (0..20)
        .map(|g| Group {
            name: format!("team-{g}"),
            arn: arn("group", &format!("team-{g}")),
            inline: user_policy(g + 3)
                .map(|d| InlinePolicy {
                    name: "team".into(),
                    document: d,
                })
                .into_iter()
                .collect(),
            attached: match g {
                0 => vec![aws_admin.clone()],
                _ => vec![policies[g % 10].arn.clone()],
            },
        })
        .collect();
    let users = (0..users)
        .map(|i| {
            let name = format!("user-{i:05}");
            User {
                arn: arn("user", &name),
                id: format!("AIDA{i:016}"),
                inline: user_policy(i)
                    .map(|d| InlinePolicy {
                        name: "direct".into(),
                        document: d,
                    })
                    .into_iter()
                    .collect(),
                attached: (i % 13 == 0)
                    .then(|| policies[i % 10].arn.clone())
                    .into_iter()
                    .collect(),
                groups: (i % 5 == 0)
                    .then(|| format!("team-{}", i % 20))
                    .into_iter()
                    .collect(),
                boundary: (i % 17 == 0).then(|| policies[2].arn.clone()),
                tags: vec![("team".into(), format!("t{}", i % 8))],
                name,
                created: None,
            }
        })
        .collect();
    let roles = (0..roles)
        .map(|i| {
            let name = format!("role-{i:05}");
            Role {
                arn: arn("role", &name),
                id: format!("AROA{i:016}"),
                path: "/".into(),
                trust: Some(role_trust(i)),
                inline: user_policy(i + 1)
                    .map(|d| InlinePolicy {
                        name: "inline".into(),
                        document: d,
                    })
                    .into_iter()
                    .collect(),
                attached: match i % 50 {
                    0 => vec![aws_admin.clone()],
                    n if n % 4 == 0 => vec![policies[n % 10].arn.clone()],
                    _ => vec![],
                },
                name,
                ..Role::default()
            }
        })
        .collect();
    Authorization {
        users,
        groups,
        roles,
        policies,
        aws_policies: Ok(vec![]),
    }
}

/// The fastest of [`RUNS`] runs of `f`.
fn best(mut f: impl FnMut()) -> Duration {
    (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .min()
        .expect("runs")
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (users, roles) = (
        args.first().copied().unwrap_or(5_000),
        args.get(1).copied().unwrap_or(2_000),
    );
    let auth = account(users, roles);
    let settings = AuditConfig::default();
    let now = Utc::now();
    let inventory = Inventory {
        account: ACCOUNT.into(),
        authorization: Some(Ok(auth.clone())),
        ..Inventory::default()
    };
    println!("{users} users, {roles} roles, 20 groups, 10 customer policies; best of {RUNS} runs");

    // Once per audit: every policy parsed, each principal's set built, the admins found.
    let analysed = best(|| {
        let principals = checks::principals_of(&inventory).expect("authorization was read");
        std::hint::black_box(Analysis::of(&principals).admins.len());
    });
    println!(
        "  policies parsed, admins found:   {:>8.1} ms",
        analysed.as_secs_f64() * 1e3
    );
    let principals = checks::principals_of(&inventory).expect("authorization was read");
    let mut findings = 0;
    let mut facts = Duration::MAX;
    // A fresh analysis each run, as each audit has: the escalations are found by the checks,
    // and the facts reuse them.
    let judged_all = best(|| {
        let analysis = Analysis::of(&principals);
        let mut ev = Eval::new(&settings, now, ACCOUNT);
        permissions::evaluate(&mut ev, &inventory, Some(&analysis));
        findings = ev.findings().len();
        let start = Instant::now();
        std::hint::black_box(principal::facts(&inventory, Some(&analysis), now));
        facts = facts.min(start.elapsed());
    });
    println!(
        "  permission checks (with the analysis): {:>3.1} ms ({findings} findings)",
        judged_all.as_secs_f64() * 1e3
    );
    println!(
        "  principal facts, after the checks:   {:>5.1} ms",
        facts.as_secs_f64() * 1e3
    );
    let change_record = serde_json::json!({
        "eventName": "AttachUserPolicy",
        "requestParameters": {"userName": "user-00002", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
    });
    let judged = best(|| {
        std::hint::black_box(change::touched(&auth, ACCOUNT, &change_record));
    });
    println!(
        "  one policy change judged:        {:>8.1} ms",
        judged.as_secs_f64() * 1e3
    );

    // The evaluator alone: a user with a group, an inline policy and a boundary.
    let subject = principals
        .all
        .iter()
        .find(|p| p.name == "user-00170")
        .expect("user-00170 is in a group, has an inline policy and a boundary");
    let actions = [
        "s3:GetObject",
        "iam:AttachUserPolicy",
        "ec2:RunInstances",
        "dynamodb:DeleteTable",
        "logs:PutLogEvents",
        "kms:Decrypt",
    ];
    let resources = [
        "*",
        "arn:aws:s3:::bucket-5/key",
        "arn:aws:iam::123456789012:user/user-00170",
        "arn:aws:dynamodb:us-east-1:123456789012:table/app-orders",
    ];
    let per_run = 200_000;
    let took = best(|| {
        for i in 0..per_run {
            let a = actions[i % actions.len()];
            let r = resources[(i / actions.len()) % resources.len()];
            std::hint::black_box(subject.policies.evaluate(a, r));
        }
    });
    println!(
        "  evaluator: {:.2} M decisions/s ({} statements in {} documents and a boundary)",
        per_run as f64 / took.as_secs_f64() / 1e6,
        subject
            .policies
            .identity
            .iter()
            .map(|d| d.document.statements.len())
            .sum::<usize>(),
        subject.policies.identity.len()
    );
}
