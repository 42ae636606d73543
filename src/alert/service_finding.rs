//! Findings of the AWS security services — Security Hub, GuardDuty, IAM Access Analyzer —
//! that reach the daemon's queue as EventBridge events, as messages for the same sinks as
//! alerts (`kind` "finding").
//!
//! One message per finding and `UpdatedAt`: a finding seen again unchanged (the same event
//! redelivered, Security Hub re-sending it) has the same id, so sinks deliver it once, and an
//! update (severity raised, more occurrences) is a new message.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::audit::security_hub::asff;
use crate::audit::PrincipalPosture;
use crate::rules::Level;

const FINDING_ID_NAMESPACE: Uuid = Uuid::from_u128(0x1e7b_44c0_93a5_4d61_8f0e_2b9c_d35a_7e18);

/// The service a finding comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Service {
    SecurityHub,
    Guardduty,
    AccessAnalyzer,
}

impl Service {
    pub fn as_str(self) -> &'static str {
        match self {
            Service::SecurityHub => "securityhub",
            Service::Guardduty => "guardduty",
            Service::AccessAnalyzer => "access-analyzer",
        }
    }
}

/// The resource a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingResource {
    /// As the service names it (`AwsIamUser`, `AccessKey`, `AWS::S3::Bucket`).
    pub r#type: String,
    /// Its ARN, or the service's id for it (an instance id, an access key id).
    pub id: String,
}

/// One finding, as the sinks deliver it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceFinding {
    /// Always "finding": tells it from an alert or a posture change.
    pub kind: String,
    /// Stable per finding and update: sinks deduplicate on it.
    pub message_id: String,
    pub service: Service,
    /// The product that raised it (Security Hub gathers GuardDuty, Inspector, Macie, …).
    pub product: String,
    pub finding_id: String,
    /// The service's type for it (`UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom`, an
    /// ASFF `Types` entry, `external-access` / `public-access`).
    pub finding_type: String,
    /// `service:type`: what `[findings] exclude` and the sinks' `include_rules` /
    /// `exclude_rules` match.
    pub name: String,
    pub title: String,
    pub description: String,
    pub severity: Level,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub resource: Option<FindingResource>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub updated_at: Option<String>,
    pub console_url: String,
    /// The IAM user or role the finding names, when it names one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub principal: Option<String>,
    /// What the last audit knows of that principal.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub posture: Option<PrincipalPosture>,
}

/// The findings an EventBridge event carries, and how many it carried that do not alert
/// (trailwatch's own imports, archived, resolved, suppressed or passed findings).
#[derive(Debug, Default)]
pub struct FromEvent {
    pub findings: Vec<ServiceFinding>,
    /// trailwatch's own posture findings, imported into Security Hub and echoed back.
    pub own: usize,
    /// Findings that are no longer open (archived, resolved, suppressed, passed).
    pub closed: usize,
}

/// Why an event is not a finding event trailwatch reads (names the field).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotAFinding(pub String);

/// The detail-types of the finding events trailwatch reads.
pub const DETAIL_TYPES: [&str; 3] = [
    "Security Hub Findings - Imported",
    "GuardDuty Finding",
    "Access Analyzer Finding",
];

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn required<'a>(v: &'a Value, pointer: &str, what: &str) -> Result<&'a str, NotAFinding> {
    text(v, pointer).ok_or_else(|| NotAFinding(format!("{what} has no {}", &pointer[1..])))
}

/// Reads an EventBridge event of one of [`DETAIL_TYPES`].
pub fn from_event(event: &Value) -> Result<FromEvent, NotAFinding> {
    let kind = required(event, "/detail-type", "the event")?;
    let detail = event
        .get("detail")
        .filter(|d| d.is_object())
        .ok_or_else(|| NotAFinding(format!("{kind:?} event has no detail object")))?;
    let account = text(event, "/account");
    let region = text(event, "/region");
    let mut out = FromEvent::default();
    match kind {
        "Security Hub Findings - Imported" => {
            let list = detail
                .get("findings")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    NotAFinding("Security Hub event has no detail.findings list".into())
                })?;
            for (i, f) in list.iter().enumerate() {
                let what = format!("detail.findings[{i}]");
                let id = required(f, "/Id", &what)?;
                let product_arn = text(f, "/ProductArn").unwrap_or_default();
                if id.starts_with(asff::ID_PREFIX) && product_arn.ends_with("/default") {
                    out.own += 1;
                    continue;
                }
                if !security_hub_open(f) {
                    out.closed += 1;
                    continue;
                }
                out.findings
                    .push(security_hub(f, id, &what, account, region)?);
            }
        }
        "GuardDuty Finding" => {
            if detail.pointer("/service/archived").and_then(Value::as_bool) == Some(true) {
                out.closed += 1;
            } else {
                out.findings.push(guardduty(detail, account, region)?);
            }
        }
        "Access Analyzer Finding" => {
            if text(detail, "/status").is_some_and(|s| s != "ACTIVE") {
                out.closed += 1;
            } else {
                out.findings
                    .push(access_analyzer(event, detail, account, region)?);
            }
        }
        other => {
            return Err(NotAFinding(format!(
                "EventBridge event of type {other:?} is neither a CloudTrail nor a finding event"
            )))
        }
    }
    Ok(out)
}

fn security_hub_open(f: &Value) -> bool {
    text(f, "/RecordState") != Some("ARCHIVED")
        && !matches!(text(f, "/Workflow/Status"), Some("RESOLVED" | "SUPPRESSED"))
        && text(f, "/Compliance/Status") != Some("PASSED")
}

fn message_id(service: Service, id: &str, updated: Option<&str>) -> String {
    Uuid::new_v5(
        &FINDING_ID_NAMESPACE,
        format!("{}\n{id}\n{}", service.as_str(), updated.unwrap_or("")).as_bytes(),
    )
    .to_string()
}

/// Percent-encodes a value for a console URL fragment.
fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn security_hub(
    f: &Value,
    id: &str,
    what: &str,
    account: Option<&str>,
    region: Option<&str>,
) -> Result<ServiceFinding, NotAFinding> {
    let label = text(f, "/Severity/Label")
        .ok_or_else(|| NotAFinding(format!("{what} has no Severity.Label")))?;
    let severity: Level = label.parse().map_err(|_| {
        NotAFinding(format!(
            "{what}: Severity.Label {label:?} is not a severity"
        ))
    })?;
    let account = text(f, "/AwsAccountId").or(account);
    let region = text(f, "/Region").or(region);
    let resource = f.pointer("/Resources/0").map(|r| FindingResource {
        r#type: text(r, "/Type").unwrap_or("Other").to_string(),
        id: text(r, "/Id").unwrap_or_default().to_string(),
    });
    let principal = resource
        .as_ref()
        .filter(|r| r.r#type == "AwsIamUser" || r.r#type == "AwsIamRole")
        .map(|r| r.id.clone());
    let finding_type = text(f, "/Types/0")
        .or_else(|| text(f, "/GeneratorId"))
        .unwrap_or("finding")
        .to_string();
    let updated = text(f, "/UpdatedAt");
    let r = region.unwrap_or("us-east-1");
    // Security Hub's own link form: the filter value is encoded twice.
    let search = encode(&format!("Id=\\operator\\:EQUALS\\:{id}"));
    Ok(ServiceFinding {
        kind: "finding".into(),
        message_id: message_id(Service::SecurityHub, id, updated),
        service: Service::SecurityHub,
        product: text(f, "/ProductName")
            .or_else(|| text(f, "/ProductFields/aws~1securityhub~1ProductName"))
            .unwrap_or("Security Hub")
            .to_string(),
        finding_id: id.to_string(),
        name: format!("securityhub:{finding_type}"),
        finding_type,
        title: text(f, "/Title").unwrap_or(id).to_string(),
        description: text(f, "/Description").unwrap_or_default().to_string(),
        severity,
        resource,
        account: account.map(str::to_string),
        region: region.map(str::to_string),
        updated_at: updated.map(str::to_string),
        console_url: format!(
            "https://console.aws.amazon.com/securityhub/home?region={r}#/findings?search={}",
            encode(&search)
        ),
        principal,
        posture: None,
    })
}

/// GuardDuty's numeric severity in its own bands: 9–10 critical, 7–8.9 high, 4–6.9 medium,
/// below low.
fn guardduty_level(n: f64) -> Level {
    if n >= 9.0 {
        Level::Critical
    } else if n >= 7.0 {
        Level::High
    } else if n >= 4.0 {
        Level::Medium
    } else {
        Level::Low
    }
}

fn guardduty(
    d: &Value,
    account: Option<&str>,
    region: Option<&str>,
) -> Result<ServiceFinding, NotAFinding> {
    let id = required(d, "/id", "GuardDuty finding")?;
    let finding_type = required(d, "/type", "GuardDuty finding")?;
    let severity = d
        .get("severity")
        .and_then(Value::as_f64)
        .ok_or_else(|| NotAFinding("GuardDuty finding has no numeric severity".into()))?;
    let account = text(d, "/accountId").or(account);
    let region = text(d, "/region").or(region);
    let kind = text(d, "/resource/resourceType").unwrap_or("Unknown");
    let key = d.pointer("/resource/accessKeyDetails");
    let principal = key.and_then(|k| {
        let name = text(k, "/userName")?;
        let partition = text(d, "/partition").unwrap_or("aws");
        match (text(k, "/userType")?, account) {
            ("IAMUser", Some(a)) => Some(format!("arn:{partition}:iam::{a}:user/{name}")),
            ("AssumedRole", Some(a)) => Some(format!("arn:{partition}:iam::{a}:role/{name}")),
            _ => None,
        }
    });
    let resource_id = principal
        .clone()
        .or_else(|| {
            key.and_then(|k| text(k, "/accessKeyId"))
                .map(str::to_string)
        })
        .or_else(|| text(d, "/resource/instanceDetails/instanceId").map(str::to_string))
        .or_else(|| text(d, "/resource/s3BucketDetails/0/arn").map(str::to_string))
        .or_else(|| text(d, "/resource/eksClusterDetails/arn").map(str::to_string))
        .unwrap_or_else(|| kind.to_string());
    let updated = text(d, "/updatedAt");
    let r = region.unwrap_or("us-east-1");
    Ok(ServiceFinding {
        kind: "finding".into(),
        message_id: message_id(Service::Guardduty, id, updated),
        service: Service::Guardduty,
        product: "GuardDuty".into(),
        finding_id: id.to_string(),
        name: format!("guardduty:{finding_type}"),
        finding_type: finding_type.to_string(),
        title: text(d, "/title").unwrap_or(finding_type).to_string(),
        description: text(d, "/description").unwrap_or_default().to_string(),
        severity: guardduty_level(severity),
        resource: Some(FindingResource {
            r#type: kind.to_string(),
            id: resource_id,
        }),
        account: account.map(str::to_string),
        region: region.map(str::to_string),
        updated_at: updated.map(str::to_string),
        console_url: format!(
            "https://console.aws.amazon.com/guardduty/home?region={r}#/findings?macros=current&fId={}",
            encode(id)
        ),
        principal,
        posture: None,
    })
}

/// Access Analyzer gives no severity: access anyone has is high, access another account
/// has is medium.
fn access_analyzer(
    event: &Value,
    d: &Value,
    account: Option<&str>,
    region: Option<&str>,
) -> Result<ServiceFinding, NotAFinding> {
    let id = required(d, "/id", "Access Analyzer finding")?;
    let resource = required(d, "/resource", "Access Analyzer finding")?;
    let resource_type = text(d, "/resourceType").unwrap_or("Unknown");
    let public = d.get("isPublic").and_then(Value::as_bool).unwrap_or(false);
    let mut who: Vec<String> = d
        .get("principal")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or("?")))
        .collect();
    who.sort();
    let actions: Vec<&str> = d
        .get("action")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let account = text(d, "/accountId").or(account);
    let region = text(d, "/region").or(region);
    let updated = text(d, "/updatedAt");
    let finding_type = if public {
        "public-access"
    } else {
        "external-access"
    };
    let reach = if public {
        "anyone".to_string()
    } else if who.is_empty() {
        "another account".to_string()
    } else {
        who.join(", ")
    };
    // The analyzer is the event's resource: its name completes the console link.
    let analyzer = event
        .pointer("/resources/0")
        .and_then(Value::as_str)
        .and_then(|arn| arn.rsplit_once("analyzer/"))
        .map(|(_, name)| name);
    let r = region.unwrap_or("us-east-1");
    let console_url = match analyzer {
        Some(name) => format!(
            "https://console.aws.amazon.com/access-analyzer/home?region={r}#/findings/details/{}/{}",
            encode(name),
            encode(id)
        ),
        None => format!("https://console.aws.amazon.com/access-analyzer/home?region={r}#/findings"),
    };
    Ok(ServiceFinding {
        kind: "finding".into(),
        message_id: message_id(Service::AccessAnalyzer, id, updated),
        service: Service::AccessAnalyzer,
        product: "IAM Access Analyzer".into(),
        finding_id: id.to_string(),
        name: format!("access-analyzer:{finding_type}"),
        finding_type: finding_type.to_string(),
        title: format!("{resource_type} {resource} is reachable by {reach}"),
        description: if actions.is_empty() {
            format!("{reach} can reach {resource}")
        } else {
            format!("{reach} can {} on {resource}", actions.join(", "))
        },
        severity: if public { Level::High } else { Level::Medium },
        resource: Some(FindingResource {
            r#type: resource_type.to_string(),
            id: resource.to_string(),
        }),
        account: account.map(str::to_string),
        region: region.map(str::to_string),
        updated_at: updated.map(str::to_string),
        console_url,
        principal: (resource_type == "AWS::IAM::Role").then(|| resource.to_string()),
        posture: None,
    })
}

/// `[findings]` in the configuration: which findings of the security services become
/// messages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FindingsConfig {
    /// Findings below this severity are counted and not sent.
    pub min_severity: Level,
    /// Findings known and accepted: never sent.
    pub exclude: Vec<FindingExclusion>,
}

impl Default for FindingsConfig {
    fn default() -> Self {
        FindingsConfig {
            min_severity: Level::High,
            exclude: Vec::new(),
        }
    }
}

/// A finding to leave out: every field given must match (`*` as a wildcard).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingExclusion {
    /// The finding's `name`: `guardduty:Recon:EC2/*`, `securityhub:*`,
    /// `access-analyzer:external-access`.
    pub name: String,
    /// The resource's ARN or id.
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(default)]
    pub account: Option<String>,
    /// Why: logged with the finding left out.
    pub reason: String,
}

/// What becomes of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Send,
    BelowThreshold,
    Excluded,
}

impl Verdict {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Send => "sent",
            Verdict::BelowThreshold => "below_threshold",
            Verdict::Excluded => "excluded",
        }
    }
}

impl FindingsConfig {
    pub fn judge(&self, f: &ServiceFinding) -> Verdict {
        use crate::rules::sigma::condition::glob_match;
        let matches = |pattern: &Option<String>, value: Option<&str>| {
            pattern
                .as_deref()
                .is_none_or(|p| value.is_some_and(|v| glob_match(p, v)))
        };
        let excluded = self.exclude.iter().any(|x| {
            glob_match(&x.name, &f.name)
                && matches(&x.resource, f.resource.as_ref().map(|r| r.id.as_str()))
                && matches(&x.account, f.account.as_deref())
        });
        if excluded {
            Verdict::Excluded
        } else if f.severity < self.min_severity {
            Verdict::BelowThreshold
        } else {
            Verdict::Send
        }
    }
}

#[cfg(test)]
#[path = "service_finding_tests.rs"]
mod tests;
