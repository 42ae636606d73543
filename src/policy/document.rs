//! IAM policy documents as statements: `Effect`, `Action`/`NotAction`,
//! `Resource`/`NotResource`, `Principal`/`NotPrincipal` (trust and resource policies) and
//! `Condition`, each field a string or a list of them, as IAM writes them.

use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    Allow,
    Deny,
}

/// A list of patterns, or everything but them (`NotAction`, `NotResource`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Patterns {
    Only(Vec<String>),
    AllBut(Vec<String>),
}

/// Who a trust or resource policy statement names: `*`, or principals by kind (`AWS`,
/// `Service`, `Federated`, `CanonicalUser`); `NotPrincipal` is everyone but them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principals {
    Anyone,
    Named(Vec<(String, String)>),
    AllBut(Vec<(String, String)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: Option<String>,
    /// Position in the document, for naming statements without a Sid.
    pub index: usize,
    pub effect: Effect,
    pub actions: Patterns,
    /// Absent in trust policies (the role is the resource).
    pub resources: Option<Patterns>,
    pub principals: Option<Principals>,
    /// `{"Operator": {"key": value or [values]}}`, as written; empty when none.
    pub condition: Map<String, Value>,
}

impl Statement {
    pub fn is_conditional(&self) -> bool {
        !self.condition.is_empty()
    }

    /// The condition keys the statement tests, lower-cased (IAM's keys are
    /// case-insensitive).
    pub fn condition_keys(&self) -> impl Iterator<Item = String> + '_ {
        self.condition
            .values()
            .filter_map(Value::as_object)
            .flat_map(|m| m.keys().map(|k| k.to_ascii_lowercase()))
    }

    /// How the finding names it: its Sid, or its position.
    pub fn label(&self) -> String {
        match &self.sid {
            Some(sid) if !sid.is_empty() => format!("statement {sid}"),
            _ => format!("statement {}", self.index + 1),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document {
    pub statements: Vec<Statement>,
}

/// A document that is not an IAM policy: says what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an IAM policy document: {0}")]
pub struct DocumentError(pub String);

impl Document {
    /// Parses a document (already URL-decoded).
    pub fn parse(text: &str) -> Result<Document, DocumentError> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| DocumentError(format!("not JSON ({e})")))?;
        Document::from_value(&v)
    }

    pub fn from_value(v: &Value) -> Result<Document, DocumentError> {
        let statements = match v.get("Statement") {
            Some(Value::Array(list)) => list.iter().collect::<Vec<_>>(),
            Some(s @ Value::Object(_)) => vec![s],
            _ => return Err(DocumentError("no Statement".into())),
        };
        let statements = statements
            .into_iter()
            .enumerate()
            .map(|(i, s)| statement(i, s))
            .collect::<Result<_, _>>()?;
        Ok(Document { statements })
    }
}

fn strings(v: &Value, what: &str) -> Result<Vec<String>, DocumentError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(list) => list
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| DocumentError(format!("{what} holds a non-string")))
            })
            .collect(),
        _ => Err(DocumentError(format!(
            "{what} is neither a string nor a list"
        ))),
    }
}

fn patterns(
    s: &Map<String, Value>,
    yes: &str,
    no: &str,
) -> Result<Option<Patterns>, DocumentError> {
    match (s.get(yes), s.get(no)) {
        (Some(v), None) => Ok(Some(Patterns::Only(strings(v, yes)?))),
        (None, Some(v)) => Ok(Some(Patterns::AllBut(strings(v, no)?))),
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(DocumentError(format!(
            "a statement has both {yes} and {no}"
        ))),
    }
}

fn principals(v: &Value) -> Result<Vec<(String, String)>, DocumentError> {
    match v {
        Value::String(s) if s == "*" => Ok(vec![("AWS".into(), "*".into())]),
        Value::Object(m) => {
            let mut out = Vec::new();
            for (kind, names) in m {
                for name in strings(names, "Principal")? {
                    out.push((kind.clone(), name));
                }
            }
            Ok(out)
        }
        _ => Err(DocumentError(
            "Principal is neither \"*\" nor an object".into(),
        )),
    }
}

fn statement(index: usize, v: &Value) -> Result<Statement, DocumentError> {
    let s = v
        .as_object()
        .ok_or_else(|| DocumentError("a statement is not an object".into()))?;
    let effect = match s.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        other => return Err(DocumentError(format!("Effect is {other:?}"))),
    };
    let actions = patterns(s, "Action", "NotAction")?
        .ok_or_else(|| DocumentError("a statement has no Action or NotAction".into()))?;
    let resources = patterns(s, "Resource", "NotResource")?;
    let principals = match (s.get("Principal"), s.get("NotPrincipal")) {
        (Some(Value::String(star)), None) if star == "*" => Some(Principals::Anyone),
        (Some(p), None) => Some(Principals::Named(principals(p)?)),
        (None, Some(p)) => Some(Principals::AllBut(principals(p)?)),
        (None, None) => None,
        (Some(_), Some(_)) => {
            return Err(DocumentError(
                "a statement has both Principal and NotPrincipal".into(),
            ))
        }
    };
    let condition = match s.get("Condition") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(DocumentError("Condition is not an object".into())),
    };
    Ok(Statement {
        sid: s.get("Sid").and_then(Value::as_str).map(str::to_string),
        index,
        effect,
        actions,
        resources,
        principals,
        condition,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_or_lists_one_statement_or_many() {
        let d = Document::parse(
            r#"{"Version":"2012-10-17","Statement":{"Sid":"A","Effect":"Allow","Action":"s3:GetObject","Resource":["arn:aws:s3:::b/*"]}}"#,
        )
        .unwrap();
        assert_eq!(d.statements.len(), 1);
        let s = &d.statements[0];
        assert_eq!(s.actions, Patterns::Only(vec!["s3:GetObject".into()]));
        assert_eq!(
            s.resources,
            Some(Patterns::Only(vec!["arn:aws:s3:::b/*".into()]))
        );
        assert_eq!(s.label(), "statement A");
        let d = Document::parse(
            r#"{"Statement":[{"Effect":"Deny","NotAction":["iam:*"],"NotResource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"false"}}}]}"#,
        )
        .unwrap();
        let s = &d.statements[0];
        assert_eq!(s.effect, Effect::Deny);
        assert_eq!(s.actions, Patterns::AllBut(vec!["iam:*".into()]));
        assert!(s.is_conditional());
        assert_eq!(
            s.condition_keys().collect::<Vec<_>>(),
            ["aws:multifactorauthpresent"]
        );
        assert_eq!(s.label(), "statement 1");
    }

    #[test]
    fn trust_principals() {
        let d = Document::parse(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},
               {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::222233334444:root","555566667777"],"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .unwrap();
        assert_eq!(d.statements[0].principals, Some(Principals::Anyone));
        assert_eq!(
            d.statements[1].principals,
            Some(Principals::Named(vec![
                ("AWS".into(), "arn:aws:iam::222233334444:root".into()),
                ("AWS".into(), "555566667777".into()),
                ("Service".into(), "ec2.amazonaws.com".into()),
            ]))
        );
    }

    #[test]
    fn what_is_not_a_policy_says_why() {
        for (text, why) in [
            ("nope", "not JSON"),
            ("{}", "no Statement"),
            (
                r#"{"Statement":[{"Effect":"Maybe","Action":"*"}]}"#,
                "Effect is",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Resource":"*"}]}"#,
                "no Action",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"*","NotAction":"s3:*"}]}"#,
                "both Action and NotAction",
            ),
        ] {
            let e = Document::parse(text).unwrap_err();
            assert!(e.0.contains(why), "{text}: {e}");
        }
    }
}
