//! Who a trust policy (or a resource policy) lets in: anyone, other accounts, or only known
//! parties. One notion of "public" for the posture audit's trust checks and for the detections
//! that read resource policies out of CloudTrail events.

use serde_json::Value;

use super::document::{Document, Effect, Principals, Statement};

/// Condition keys that narrow "anyone" to known parties: an organization, an account, a
/// resource calling as a service, an external id, a principal ARN, or a known network path (a
/// VPC, a VPC endpoint, an address range). The same keys Amazon S3 names in "The meaning of
/// public" (Blocking public access, Amazon S3 User Guide).
pub const NARROWING_KEYS: &[&str] = &[
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceowner",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceip",
    "aws:userid",
    "sts:externalid",
];

/// Why a statement opens to anyone: its label and principal as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Public {
    pub statement: String,
    pub principal: String,
}

/// Accounts a statement lets in, and whether it asks them for an external id or MFA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossAccount {
    pub statement: String,
    pub accounts: Vec<String>,
    pub guarded: bool,
}

/// Whether a condition narrows the statement to known parties: a positive test (not
/// `…Not…`, not `Null`) on one of [`NARROWING_KEYS`] whose values are not a bare `*` (nor,
/// for an address, every address).
pub fn narrowed(statement: &Statement) -> bool {
    statement.condition.iter().any(|(operator, tests)| {
        let op = operator.to_ascii_lowercase();
        if op.contains("not") || op.starts_with("null") {
            return false;
        }
        tests.as_object().is_some_and(|tests| {
            tests.iter().any(|(key, values)| {
                NARROWING_KEYS.contains(&key.to_ascii_lowercase().as_str())
                    && !values_include_star(values)
            })
        })
    })
}

fn values_include_star(v: &Value) -> bool {
    match v {
        Value::String(s) => matches!(s.as_str(), "*" | "0.0.0.0/0" | "::/0"),
        Value::Array(list) => list.iter().any(values_include_star),
        _ => false,
    }
}

/// The account of an AWS principal (`123456789012`, `arn:aws:iam::123456789012:root`, a user,
/// role or session ARN); None for `*` and what is not an account's.
pub fn account_of(principal: &str) -> Option<&str> {
    let account = if principal.len() == 12 && principal.bytes().all(|b| b.is_ascii_digit()) {
        principal
    } else {
        principal.split(':').nth(4)?
    };
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}

/// The statements that let anyone in: Allow to `*` (or `{"AWS":"*"}`, or everyone but some
/// with `NotPrincipal`) without a condition that narrows it.
pub fn public(document: &Document) -> Vec<Public> {
    document
        .statements
        .iter()
        .filter(|s| s.effect == Effect::Allow && !narrowed(s))
        .filter_map(|s| {
            let principal = match s.principals.as_ref()? {
                Principals::Anyone => "*".to_string(),
                Principals::AllBut(_) => "everyone but the NotPrincipal".to_string(),
                Principals::Named(list) => list
                    .iter()
                    .find(|(kind, name)| kind == "AWS" && name == "*")
                    .map(|_| r#"{"AWS":"*"}"#.to_string())?,
            };
            Some(Public {
                statement: s.label(),
                principal,
            })
        })
        .collect()
}

/// The statements that let other accounts' principals in (other than `own` and `trusted`),
/// and whether each asks for an external id or MFA.
pub fn cross_account(document: &Document, own: &str, trusted: &[String]) -> Vec<CrossAccount> {
    document
        .statements
        .iter()
        .filter(|s| s.effect == Effect::Allow)
        .filter_map(|s| {
            let Some(Principals::Named(list)) = &s.principals else {
                return None;
            };
            let mut accounts: Vec<String> = list
                .iter()
                .filter(|(kind, _)| kind == "AWS")
                .filter_map(|(_, name)| account_of(name))
                .filter(|a| *a != own && !trusted.iter().any(|t| t == a))
                .map(str::to_string)
                .collect();
            accounts.sort();
            accounts.dedup();
            if accounts.is_empty() {
                return None;
            }
            let keys: Vec<String> = s.condition_keys().collect();
            let guarded = keys
                .iter()
                .any(|k| k == "sts:externalid" || k == "aws:multifactorauthpresent");
            Some(CrossAccount {
                statement: s.label(),
                accounts,
                guarded,
            })
        })
        .collect()
}

/// Whether the trust policy lets a service assume the role (`ec2.amazonaws.com`).
pub fn trusts_service(trust: &Document, service: &str) -> bool {
    trust.statements.iter().any(|s| {
        s.effect == Effect::Allow
            && match &s.principals {
                Some(Principals::Anyone) => true,
                Some(Principals::Named(list)) => list
                    .iter()
                    .any(|(kind, name)| kind == "Service" && name.eq_ignore_ascii_case(service)),
                _ => false,
            }
    })
}

/// Whether the trust policy names this principal (its ARN, its account, or anyone) for
/// sts:AssumeRole, unconditionally.
pub fn trusts_principal(trust: &Document, arn: &str) -> bool {
    let account = account_of(arn);
    trust.statements.iter().any(|s| {
        s.effect == Effect::Allow
            && !s.is_conditional()
            && super::evaluate::action_allows(s, "sts:AssumeRole")
            && match &s.principals {
                Some(Principals::Anyone) => true,
                Some(Principals::Named(list)) => list.iter().any(|(kind, name)| {
                    kind == "AWS"
                        && (name == "*"
                            || name == arn
                            || (name.ends_with(":root") && account_of(name) == account)
                            || Some(name.as_str()) == account)
                }),
                _ => false,
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(statement: &str) -> Document {
        Document::parse(&format!(r#"{{"Statement":[{statement}]}}"#)).unwrap()
    }

    #[test]
    fn anyone_without_a_narrowing_condition_is_public() {
        for (statement, public_) in [
            (
                r#"{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}"#,
                true,
            ),
            (
                r#"{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}"#,
                true,
            ),
            (
                r#"{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":"sts:AssumeRole","Condition":{"Bool":{"aws:SecureTransport":"true"}}}"#,
                true,
            ),
            (
                r#"{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abc123"}}}"#,
                false,
            ),
            (
                r#"{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"x"}}}"#,
                false,
            ),
            (
                r#"{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/ci-*"}}}"#,
                false,
            ),
            (
                r#"{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringLike":{"aws:PrincipalOrgID":"*"}}}"#,
                true,
            ),
            (
                r#"{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringNotEquals":{"aws:PrincipalAccount":"111122223333"}}}"#,
                true,
            ),
            (
                r#"{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole"}"#,
                false,
            ),
            (
                r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Condition":{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}}"#,
                false,
            ),
            (
                r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Condition":{"IpAddress":{"aws:SourceIp":["203.0.113.0/24","0.0.0.0/0"]}}}"#,
                true,
            ),
            (
                r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Condition":{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}}"#,
                true,
            ),
            (
                r#"{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}"#,
                false,
            ),
        ] {
            assert_eq!(!public(&doc(statement)).is_empty(), public_, "{statement}");
        }
    }

    #[test]
    fn other_accounts_without_external_id_or_mfa() {
        let trusted = vec!["999988887777".to_string()];
        let d = doc(
            r#"{"Sid":"X","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::222233334444:root","111122223333","arn:aws:iam::999988887777:role/ci"]},"Action":"sts:AssumeRole"}"#,
        );
        let found = cross_account(&d, "111122223333", &trusted);
        assert_eq!(
            found,
            vec![CrossAccount {
                statement: "statement X".into(),
                accounts: vec!["222233334444".into()],
                guarded: false
            }]
        );
        let guarded = doc(
            r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222233334444:root"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"abc"}}}"#,
        );
        assert!(cross_account(&guarded, "111122223333", &[])[0].guarded);
        assert_eq!(
            account_of("arn:aws:sts::222233334444:assumed-role/r/s"),
            Some("222233334444")
        );
        assert_eq!(account_of("*"), None);
    }

    #[test]
    fn services_and_principals_a_trust_names() {
        let t = doc(
            r#"{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com","AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}"#,
        );
        assert!(trusts_service(&t, "ec2.amazonaws.com"));
        assert!(!trusts_service(&t, "lambda.amazonaws.com"));
        assert!(trusts_principal(&t, "arn:aws:iam::111122223333:user/alice"));
        assert!(!trusts_principal(&t, "arn:aws:iam::222233334444:user/eve"));
    }
}
