use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::policy::document::Document;

fn sourced(source: &str, json: &str) -> Arc<Sourced> {
    Arc::new(Sourced {
        source: source.into(),
        document: Document::parse(json).unwrap(),
    })
}

fn set(docs: &[&str]) -> PolicySet {
    PolicySet {
        identity: docs
            .iter()
            .enumerate()
            .map(|(i, d)| sourced(&format!("policy {i}"), d))
            .collect(),
        ..PolicySet::default()
    }
}

fn decision(p: &PolicySet, action: &str, resource: &str) -> Decision {
    p.evaluate(action, resource).decision
}

// The examples of the IAM User Guide's "Policy evaluation logic" and "Permissions boundaries"
// pages, as requests and answers.

#[test]
fn an_explicit_deny_overrides_an_allow() {
    let p = set(&[
        r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::example-bucket/*"}}"#,
        r#"{"Statement":{"Sid":"NoDelete","Effect":"Deny","Action":"s3:DeleteObject","Resource":"*"}}"#,
    ]);
    assert_eq!(
        decision(&p, "s3:GetObject", "arn:aws:s3:::example-bucket/k"),
        Decision::Allowed
    );
    let a = p.evaluate("s3:DeleteObject", "arn:aws:s3:::example-bucket/k");
    assert_eq!(a.decision, Decision::ExplicitDeny);
    assert_eq!(a.statements.len(), 1);
    assert_eq!(a.statements[0].to_string(), "policy 1 (statement NoDelete)");
    assert_eq!(
        decision(&p, "s3:GetObject", "arn:aws:s3:::other/k"),
        Decision::ImplicitDeny
    );
}

#[test]
fn a_permissions_boundary_limits_what_the_identity_policy_allows() {
    let mut p = set(&[r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#]);
    p.boundary = Some(sourced(
        "boundary",
        r#"{"Statement":{"Effect":"Allow","Action":["s3:*","cloudwatch:*","ec2:*"],"Resource":"*"}}"#,
    ));
    assert_eq!(
        decision(&p, "s3:PutObject", "arn:aws:s3:::b/k"),
        Decision::Allowed
    );
    assert_eq!(decision(&p, "iam:CreateUser", "*"), Decision::ImplicitDeny);
    // And the boundary grants nothing on its own.
    let mut q =
        set(&[r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#]);
    q.boundary = p.boundary.clone();
    assert_eq!(
        decision(&q, "ec2:RunInstances", "*"),
        Decision::ImplicitDeny
    );
}

#[test]
fn not_action_allows_everything_but_what_it_lists() {
    let p = set(&[r#"{"Statement":{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}}"#]);
    assert_eq!(decision(&p, "ec2:RunInstances", "*"), Decision::Allowed);
    assert_eq!(decision(&p, "iam:CreateUser", "*"), Decision::ImplicitDeny);
    assert_eq!(
        decision(&p, "IAM:createuser", "*"),
        Decision::ImplicitDeny,
        "actions ignore case"
    );
}

#[test]
fn not_resource_denies_everywhere_else() {
    let p = set(&[
        r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},
            {"Effect":"Deny","Action":"s3:*","NotResource":["arn:aws:s3:::home","arn:aws:s3:::home/*"]}]}"#,
    ]);
    assert_eq!(
        decision(&p, "s3:GetObject", "arn:aws:s3:::home/k"),
        Decision::Allowed
    );
    assert_eq!(
        decision(&p, "s3:GetObject", "arn:aws:s3:::other/k"),
        Decision::ExplicitDeny
    );
}

#[test]
fn variables_are_the_principals_own() {
    let mut p = set(&[
        r#"{"Statement":{"Effect":"Allow","Action":["iam:*AccessKey*"],"Resource":"arn:aws:iam::*:user/${aws:username}"}}"#,
    ]);
    p.vars.username = Some("alice".into());
    assert_eq!(
        decision(
            &p,
            "iam:CreateAccessKey",
            "arn:aws:iam::111122223333:user/alice"
        ),
        Decision::Allowed
    );
    assert_eq!(
        decision(
            &p,
            "iam:CreateAccessKey",
            "arn:aws:iam::111122223333:user/bob"
        ),
        Decision::ImplicitDeny
    );
    // A role has no aws:username: its sessions' requests decide.
    p.vars.username = None;
    assert_eq!(
        decision(
            &p,
            "iam:CreateAccessKey",
            "arn:aws:iam::111122223333:user/bob"
        ),
        Decision::Conditional
    );
}

#[test]
fn conditions_make_grants_conditional() {
    let p = set(&[
        r#"{"Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}}"#,
    ]);
    let a = p.evaluate("ec2:RunInstances", "*");
    assert_eq!(a.decision, Decision::Conditional);
    assert!(a.statements[0].conditional);
    // An unconditional allow beside a conditional deny is only conditional.
    let q = set(&[
        r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},
            {"Effect":"Deny","Action":"*","Resource":"*","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}]}"#,
    ]);
    let a = q.evaluate("iam:CreateUser", "*");
    assert_eq!(a.decision, Decision::Conditional);
    assert_eq!(a.statements.len(), 2);
}

// Properties, over statements drawn from a small vocabulary so that they overlap often.

const ACTIONS: [&str; 5] = [
    "s3:GetObject",
    "s3:PutObject",
    "iam:CreateUser",
    "iam:PassRole",
    "ec2:RunInstances",
];
const ACTION_PATTERNS: [&str; 7] = [
    "*",
    "s3:*",
    "s3:Get*",
    "iam:Create*",
    "ec2:*",
    "*Object",
    "iam:?assRole",
];
const RESOURCES: [&str; 3] = ["arn:aws:s3:::b/k", "arn:aws:iam::1:role/r", "*"];
const RESOURCE_PATTERNS: [&str; 4] = [
    "*",
    "arn:aws:s3:::b/*",
    "arn:aws:iam::1:role/*",
    "arn:aws:s3:::c/*",
];

fn statement_json() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::sample::subsequence(ACTION_PATTERNS.to_vec(), 1..3),
        any::<bool>(),
        prop::sample::subsequence(RESOURCE_PATTERNS.to_vec(), 1..3),
        any::<bool>(),
    )
        .prop_map(
            |(deny, not_action, actions, not_resource, resources, conditional)| {
                let mut s = serde_json::json!({
                    "Effect": if deny { "Deny" } else { "Allow" },
                    (if not_action { "NotAction" } else { "Action" }): actions,
                    (if not_resource { "NotResource" } else { "Resource" }): resources,
                });
                if conditional {
                    s["Condition"] = serde_json::json!({"Bool": {"aws:SecureTransport": "true"}});
                }
                s.to_string()
            },
        )
}

fn document(statements: &[String]) -> String {
    format!(r#"{{"Statement":[{}]}}"#, statements.join(","))
}

fn rank(d: Decision) -> u8 {
    match d {
        Decision::ExplicitDeny => 0,
        Decision::ImplicitDeny => 1,
        Decision::Conditional => 2,
        Decision::Allowed => 3,
    }
}

proptest! {
    #[test]
    fn an_unconditional_deny_always_wins(
        statements in prop::collection::vec(statement_json(), 0..6),
        action in prop::sample::select(ACTIONS.to_vec()),
        resource in prop::sample::select(RESOURCES.to_vec()),
        boundary in prop::option::of(prop::collection::vec(statement_json(), 1..4)),
    ) {
        let deny = format!(r#"{{"Effect":"Deny","Action":"{action}","Resource":"*"}}"#);
        let mut all = statements.clone();
        all.push(deny);
        let mut p = set(&[&document(&all)]);
        p.boundary = boundary.map(|b| sourced("boundary", &document(&b)));
        prop_assert_eq!(decision(&p, action, resource), Decision::ExplicitDeny);
    }

    #[test]
    fn not_action_is_the_complement_of_action(
        patterns in prop::sample::subsequence(ACTION_PATTERNS.to_vec(), 1..4),
        action in prop::sample::select(ACTIONS.to_vec()),
    ) {
        let list = serde_json::to_string(&patterns).unwrap();
        let with = set(&[&format!(r#"{{"Statement":{{"Effect":"Allow","Action":{list},"Resource":"*"}}}}"#)]);
        let without = set(&[&format!(r#"{{"Statement":{{"Effect":"Allow","NotAction":{list},"Resource":"*"}}}}"#)]);
        prop_assert_ne!(
            decision(&with, action, "*") == Decision::Allowed,
            decision(&without, action, "*") == Decision::Allowed
        );
    }

    #[test]
    fn adding_a_statement_removes_a_permission_only_if_it_is_a_deny(
        statements in prop::collection::vec(statement_json(), 0..6),
        added in statement_json(),
        action in prop::sample::select(ACTIONS.to_vec()),
        resource in prop::sample::select(RESOURCES.to_vec()),
        boundary in prop::option::of(prop::collection::vec(statement_json(), 1..4)),
    ) {
        let boundary = boundary.map(|b| sourced("boundary", &document(&b)));
        let mut before = set(&[&document(&statements)]);
        before.boundary = boundary.clone();
        let mut more = statements.clone();
        more.push(added.clone());
        let mut after = set(&[&document(&more)]);
        after.boundary = boundary;
        let (b, a) = (decision(&before, action, resource), decision(&after, action, resource));
        if added.contains(r#""Effect":"Allow""#) {
            prop_assert!(rank(a) >= rank(b), "{b:?} -> {a:?} adding {added}");
        } else {
            prop_assert!(rank(a) <= rank(b), "{b:?} -> {a:?} adding {added}");
        }
    }
}
