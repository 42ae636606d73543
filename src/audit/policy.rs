//! Reading IAM policy documents: which ones grant everything.

use serde_json::Value;

pub const ADMINISTRATOR_ACCESS: &str = "arn:aws:iam::aws:policy/AdministratorAccess";
pub const SUPPORT_ACCESS: &str = "arn:aws:iam::aws:policy/AWSSupportAccess";
pub const CLOUDSHELL_FULL_ACCESS: &str = "arn:aws:iam::aws:policy/AWSCloudShellFullAccess";

/// IAM returns documents URL-encoded; moto and the CLI sometimes do not.
pub fn decode_document(doc: &str) -> String {
    if doc.trim_start().starts_with('{') {
        return doc.to_string();
    }
    percent_encoding::percent_decode_str(doc)
        .decode_utf8_lossy()
        .into_owned()
}

/// The document has a statement that allows every action on every resource (`"Action": "*"`
/// or `"*:*"`, `"Resource": "*"`, Effect Allow), as CIS 1.16 defines full administrative
/// privileges. Conditions do not make it less: they are usually MFA or network conditions.
pub fn allows_everything(document: &str) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(document) else {
        return false;
    };
    let statements = match v.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect::<Vec<_>>(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => return false,
    };
    let has_star = |v: Option<&Value>, stars: &[&str]| match v {
        Some(Value::String(s)) => stars.contains(&s.as_str()),
        Some(Value::Array(a)) => a
            .iter()
            .any(|x| x.as_str().is_some_and(|s| stars.contains(&s))),
        _ => false,
    };
    statements.into_iter().any(|s| {
        s.get("Effect").and_then(Value::as_str) == Some("Allow")
            && has_star(s.get("Action"), &["*", "*:*"])
            && has_star(s.get("Resource"), &["*"])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_admin_statements() {
        assert!(allows_everything(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#
        ));
        assert!(allows_everything(
            r#"{"Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"},{"Effect":"Allow","Action":["ec2:*","*:*"],"Resource":["*"]}]}"#
        ));
        assert!(!allows_everything(
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#
        ));
        assert!(!allows_everything(
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::b/*"}]}"#
        ));
        assert!(!allows_everything(
            r#"{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#
        ));
        assert!(!allows_everything("not json"));
    }

    #[test]
    fn url_encoded_documents_decode() {
        let enc = "%7B%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22%2A%22%2C%22Resource%22%3A%22%2A%22%7D%7D";
        assert!(allows_everything(&decode_document(enc)));
    }
}
