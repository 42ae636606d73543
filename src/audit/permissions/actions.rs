//! The IAM actions of every service (`data/iam-actions.txt`, compiled in; its header says where
//! it comes from and `data/regenerate.py` rebuilds it), to say what a wildcard grants; and the
//! IAM action a CloudTrail event is the use of.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::policy::pattern::Pattern;

/// How AWS classes an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    List,
    Read,
    Write,
    Permissions,
    Tagging,
}

/// Every known action, by service prefix (lower case).
pub struct Catalog {
    services: HashMap<String, Vec<(String, Level)>>,
}

static CATALOG: OnceLock<Catalog> = OnceLock::new();

impl Catalog {
    pub fn get() -> &'static Catalog {
        CATALOG.get_or_init(|| Catalog::parse(include_str!("data/iam-actions.txt")))
    }

    fn parse(text: &str) -> Catalog {
        let mut services = HashMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let mut words = line.split(' ');
            let Some(prefix) = words.next() else { continue };
            let actions = words
                .filter_map(|w| {
                    let (name, level) = w.split_once('/')?;
                    let level = match level {
                        "L" => Level::List,
                        "R" => Level::Read,
                        "P" => Level::Permissions,
                        "T" => Level::Tagging,
                        _ => Level::Write,
                    };
                    Some((name.to_string(), level))
                })
                .collect();
            services.insert(prefix.to_ascii_lowercase(), actions);
        }
        Catalog { services }
    }

    pub fn services(&self) -> usize {
        self.services.len()
    }

    /// Every known action a pattern (`iam:Put*`, `*`) matches, as `prefix:Name`.
    pub fn expand(&self, pattern: &str) -> Vec<(String, Level)> {
        let p = Pattern::action(pattern);
        let (service, _) = pattern.split_once(':').unwrap_or((pattern, ""));
        let prefixes: Vec<&String> = if service.contains(['*', '?']) || !pattern.contains(':') {
            self.services.keys().collect()
        } else {
            self.services
                .keys()
                .filter(|k| k.eq_ignore_ascii_case(service))
                .collect()
        };
        let mut out = Vec::new();
        for prefix in prefixes {
            for (name, level) in &self.services[prefix] {
                let action = format!("{prefix}:{name}");
                if p.matches(&action) {
                    out.push((action, *level));
                }
            }
        }
        out.sort();
        out
    }

    /// The access level of an action, if the catalogue knows it.
    pub fn level(&self, action: &str) -> Option<Level> {
        let (prefix, name) = action.split_once(':')?;
        self.services
            .get(&prefix.to_ascii_lowercase())?
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, l)| *l)
    }
}

/// The IAM action a CloudTrail event used: the service prefix from `eventSource`
/// (`s3.amazonaws.com` → `s3`) and the action from `eventName`, with the documented
/// exceptions (services logged under another name, operations authorised as another action,
/// Lambda's dated API names). None for events that are no use of a permission (console
/// sign-ins, AWS's own service events).
pub fn from_event(event_source: &str, event_name: &str) -> Option<String> {
    let host = event_source.strip_suffix(".amazonaws.com")?;
    let prefix = match host {
        "signin" | "health" | "support" => return None,
        "monitoring" => "cloudwatch",
        "email" => "ses",
        "tagging" => "tag",
        "ce" => "ce",
        "s3-outposts" => "s3-outposts",
        "es" | "opensearch" => "es",
        "runtime.sagemaker" | "api.sagemaker" => "sagemaker",
        "bedrock-runtime" => "bedrock",
        "dynamodb" | "streams.dynamodb" => "dynamodb",
        "elasticloadbalancing" => "elasticloadbalancing",
        "lex" | "runtime.lex" | "models.lex" => "lex",
        "ec2messages" => "ec2messages",
        "ssmmessages" => "ssmmessages",
        other => other,
    };
    let name = match (prefix, event_name) {
        ("s3", "ListObjects" | "ListObjectsV2" | "HeadBucket") => "ListBucket",
        ("s3", "ListObjectVersions") => "ListBucketVersions",
        ("s3", "ListBuckets") => "ListAllMyBuckets",
        ("s3", "HeadObject") => "GetObject",
        ("s3", "DeleteObjects") => "DeleteObject",
        (
            "s3",
            "CreateMultipartUpload"
            | "UploadPart"
            | "CompleteMultipartUpload"
            | "CopyObject"
            | "UploadPartCopy",
        ) => "PutObject",
        ("s3", "ListMultipartUploads") => "ListBucketMultipartUploads",
        ("s3", "ListParts") => "ListMultipartUploadParts",
        ("lambda", "Invoke") => "InvokeFunction",
        ("lambda", name) => strip_api_date(name),
        ("kms", "ReEncrypt") => "ReEncryptFrom",
        (_, name) => name,
    };
    Some(format!("{prefix}:{name}"))
}

/// Lambda logs its API version in the name: `CreateFunction20150331`,
/// `UpdateFunctionCode20150331v2`.
fn strip_api_date(name: &str) -> &str {
    let trimmed = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == 'v');
    // Only a full date (eight digits, an optional vN) is a version suffix.
    let suffix = &name[trimmed.len()..];
    let digits = suffix.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 8 {
        trimmed
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_knows_the_services_and_their_levels() {
        let c = Catalog::get();
        assert!(c.services() > 400, "{}", c.services());
        assert_eq!(c.level("iam:AttachUserPolicy"), Some(Level::Permissions));
        assert_eq!(c.level("IAM:attachuserpolicy"), Some(Level::Permissions));
        assert_eq!(c.level("s3:GetObject"), Some(Level::Read));
        assert_eq!(c.level("s3:ListAllMyBuckets"), Some(Level::List));
        assert_eq!(c.level("nope:Nothing"), None);
        let puts = c.expand("iam:Put*");
        assert!(puts.iter().any(|(a, _)| a == "iam:PutUserPolicy"));
        assert!(puts.iter().all(|(a, _)| a.starts_with("iam:Put")));
        assert!(c.expand("*").len() > 15_000);
        assert!(c.expand("iam:*").len() > 150);
    }

    #[test]
    fn cloudtrail_events_name_the_action_they_used() {
        for (source, name, action) in [
            ("iam.amazonaws.com", "CreateUser", Some("iam:CreateUser")),
            ("s3.amazonaws.com", "ListObjectsV2", Some("s3:ListBucket")),
            ("s3.amazonaws.com", "ListObjects", Some("s3:ListBucket")),
            ("s3.amazonaws.com", "HeadObject", Some("s3:GetObject")),
            (
                "s3.amazonaws.com",
                "CompleteMultipartUpload",
                Some("s3:PutObject"),
            ),
            (
                "s3.amazonaws.com",
                "ListBuckets",
                Some("s3:ListAllMyBuckets"),
            ),
            (
                "lambda.amazonaws.com",
                "CreateFunction20150331",
                Some("lambda:CreateFunction"),
            ),
            (
                "lambda.amazonaws.com",
                "UpdateFunctionCode20150331v2",
                Some("lambda:UpdateFunctionCode"),
            ),
            (
                "lambda.amazonaws.com",
                "Invoke",
                Some("lambda:InvokeFunction"),
            ),
            (
                "monitoring.amazonaws.com",
                "PutMetricData",
                Some("cloudwatch:PutMetricData"),
            ),
            ("email.amazonaws.com", "SendEmail", Some("ses:SendEmail")),
            ("sts.amazonaws.com", "AssumeRole", Some("sts:AssumeRole")),
            ("signin.amazonaws.com", "ConsoleLogin", None),
            ("not-aws", "X", None),
        ] {
            assert_eq!(
                from_event(source, name).as_deref(),
                action,
                "{source} {name}"
            );
        }
        // Every mapped action of the table is one the catalogue knows.
        let c = Catalog::get();
        for a in [
            "s3:ListBucket",
            "s3:ListBucketVersions",
            "s3:ListBucketMultipartUploads",
            "s3:ListMultipartUploadParts",
            "lambda:InvokeFunction",
            "kms:ReEncryptFrom",
            "cloudwatch:PutMetricData",
            "ses:SendEmail",
            "tag:GetResources",
        ] {
            assert!(c.level(a).is_some(), "{a}");
        }
    }
}
