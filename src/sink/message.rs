//! What sinks deliver: alerts, posture changes and the security services' findings, each rendered for SNS, webhooks (generic,
//! Slack, PagerDuty) and JSON Lines through one trait, so every sink carries both.

use serde::Serialize;
use serde_json::{json, Value};

use crate::alert::service_finding::ServiceFinding;
use crate::alert::Alert;
use crate::audit::change::{ChangeKind, PostureChange};
use crate::rules::Level;

pub trait Message: Serialize + Send + Sync {
    /// What sinks remember to never deliver the same message twice.
    fn id(&self) -> &str;
    fn level(&self) -> Level;
    /// The rule name or check id, as sink filters (`include_rules`, `exclude_rules`) name it.
    fn name(&self) -> &str;
    /// `alert`, `posture` or `finding` (SNS message attribute `kind`, for subscription
    /// filters).
    fn kind(&self) -> &'static str;
    fn account(&self) -> Option<&str>;
    /// One line for people: the SNS subject, the Slack header.
    fn headline(&self) -> String;
    /// The document without its bulkiest part, for SNS's 256 KB limit.
    fn trimmed(&self) -> Value {
        serde_json::to_value(self).expect("messages serialize")
    }
    fn slack(&self) -> Value;
    fn pagerduty(&self, routing_key: &str) -> Value;
}

fn pd_severity(level: Level) -> &'static str {
    match level {
        Level::Critical => "critical",
        Level::High => "error",
        Level::Medium => "warning",
        Level::Low | Level::Informational => "info",
    }
}

fn mrkdwn(label: &str, v: Option<&str>) -> Value {
    json!({"type": "mrkdwn", "text": format!("*{label}*\n{}", v.unwrap_or("-"))})
}

impl Message for Alert {
    fn id(&self) -> &str {
        &self.alert_id
    }
    fn level(&self) -> Level {
        self.rule.level
    }
    fn name(&self) -> &str {
        &self.rule.name
    }
    fn kind(&self) -> &'static str {
        "alert"
    }
    fn account(&self) -> Option<&str> {
        self.event.account.as_deref()
    }
    fn headline(&self) -> String {
        let account = self.account().unwrap_or("unknown account");
        format!("[{}] {} ({account})", self.rule.level, self.rule.title)
    }
    fn trimmed(&self) -> Value {
        let mut v = serde_json::to_value(self).expect("alerts serialize");
        if let Some(obj) = v.as_object_mut() {
            obj.remove("record");
            obj.insert(
                "record_dropped".into(),
                "the CloudTrail record made the alert larger than SNS's 256 KB limit; look it up by event.id".into(),
            );
        }
        v
    }
    fn slack(&self) -> Value {
        let e = &self.event;
        json!({
            "text": format!("[{}] {}", self.rule.level, self.summary),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": format!("{} ({})", self.rule.title, self.rule.level)}},
                {"type": "section", "text": {"type": "mrkdwn", "text": self.summary}},
                {"type": "section", "fields": [
                    mrkdwn("Actor", e.actor.arn.as_deref().or(e.actor.name.as_deref())),
                    mrkdwn("Account / region", Some(&format!("{} / {}", e.account.as_deref().unwrap_or("-"), e.region.as_deref().unwrap_or("-")))),
                    mrkdwn("Source IP", e.source_ip.as_deref()),
                    mrkdwn("Event", Some(&format!("{} at {}", e.name.as_deref().unwrap_or("-"), e.time.as_deref().unwrap_or("-")))),
                ]},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": format!("rule `{}` · alert `{}`", self.rule.name, self.alert_id)}]}
            ]
        })
    }
    fn pagerduty(&self, routing_key: &str) -> Value {
        let summary: String = self.summary.chars().take(1024).collect();
        json!({
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": self.alert_id,
            "payload": {
                "summary": summary,
                "source": self.event.account.as_deref().unwrap_or("aws"),
                "severity": pd_severity(self.rule.level),
                "timestamp": self.event.time,
                "component": self.event.source,
                "group": self.event.region,
                "class": self.rule.name,
                "custom_details": self,
            }
        })
    }
}

impl PostureChange {
    fn verb(&self) -> &'static str {
        match self.change {
            ChangeKind::Failed => "FAIL",
            ChangeKind::Resolved => "resolved",
        }
    }
}

impl Message for PostureChange {
    fn id(&self) -> &str {
        &self.change_id
    }
    fn level(&self) -> Level {
        self.finding.severity
    }
    fn name(&self) -> &str {
        self.finding.check.as_str()
    }
    fn kind(&self) -> &'static str {
        "posture"
    }
    fn account(&self) -> Option<&str> {
        Some(&self.finding.account)
    }
    fn headline(&self) -> String {
        let f = &self.finding;
        let who = f.resource.rsplit([':', '/']).next().unwrap_or(&f.resource);
        format!(
            "[{}] posture {}: {} {who} ({})",
            f.severity,
            self.verb(),
            f.check,
            f.account
        )
    }
    fn slack(&self) -> Value {
        let f = &self.finding;
        json!({
            "text": format!("[{}] posture {}: {} — {}", f.severity, self.verb(), f.title, f.resource),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": format!("Posture {}: {} ({})", self.verb(), f.title, f.severity)}},
                {"type": "section", "text": {"type": "mrkdwn", "text": f.reason}},
                {"type": "section", "fields": [
                    mrkdwn("Resource", Some(&f.resource)),
                    mrkdwn("Account / region", Some(&format!("{} / {}", f.account, f.region.as_deref().unwrap_or("-")))),
                    mrkdwn("Remediation", Some(&f.remediation)),
                    mrkdwn("Trigger", self.trigger.as_ref().map(|t| t.event_name.as_str()).or(Some("scheduled audit"))),
                ]},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": format!("check `{}` · CIS {}", f.check, if f.cis.is_empty() { "-".into() } else { f.cis.join(", ") })}]}
            ]
        })
    }
    fn pagerduty(&self, routing_key: &str) -> Value {
        let f = &self.finding;
        // One incident per finding: a resolution resolves the incident its failure opened.
        let dedup = format!(
            "trailwatch-posture:{}:{}",
            f.account,
            f.key().replace('\n', ":")
        );
        let action = match self.change {
            ChangeKind::Failed => "trigger",
            ChangeKind::Resolved => "resolve",
        };
        let summary: String = format!("{}: {} — {}", f.title, f.resource, f.reason)
            .chars()
            .take(1024)
            .collect();
        json!({
            "routing_key": routing_key,
            "event_action": action,
            "dedup_key": dedup,
            "payload": {
                "summary": summary,
                "source": f.account,
                "severity": pd_severity(f.severity),
                "timestamp": self.audited_at,
                "component": "iam",
                "group": f.region,
                "class": f.check,
                "custom_details": self,
            }
        })
    }
}

impl Message for ServiceFinding {
    fn id(&self) -> &str {
        &self.message_id
    }
    fn level(&self) -> Level {
        self.severity
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> &'static str {
        "finding"
    }
    fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }
    fn headline(&self) -> String {
        format!(
            "[{}] {}: {} ({})",
            self.severity,
            self.product,
            self.title,
            self.account.as_deref().unwrap_or("unknown account")
        )
    }
    fn slack(&self) -> Value {
        let resource = self
            .resource
            .as_ref()
            .map(|r| format!("{} ({})", r.id, r.r#type));
        let posture = self.posture.as_ref().map(|p| {
            let mut facts = Vec::new();
            if p.admin == Some(true) {
                facts.push("admin".to_string());
            }
            if p.mfa == Some(false) {
                facts.push("no MFA".to_string());
            }
            if !p.failing.is_empty() {
                facts.push(format!("fails {}", p.failing.join(", ")));
            }
            if facts.is_empty() {
                "no failing check".to_string()
            } else {
                facts.join("; ")
            }
        });
        json!({
            "text": format!("[{}] {}: {}", self.severity, self.product, self.title),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": format!("{}: {} ({})", self.product, self.title, self.severity)}},
                {"type": "section", "text": {"type": "mrkdwn", "text": format!("{}\n<{}|Open in the console>", self.description, self.console_url)}},
                {"type": "section", "fields": [
                    mrkdwn("Resource", resource.as_deref()),
                    mrkdwn("Account / region", Some(&format!("{} / {}", self.account.as_deref().unwrap_or("-"), self.region.as_deref().unwrap_or("-")))),
                    mrkdwn("Principal", self.principal.as_deref()),
                    mrkdwn("Posture", posture.as_deref()),
                ]},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": format!("`{}` · finding `{}`", self.name, self.finding_id)}]}
            ]
        })
    }
    fn pagerduty(&self, routing_key: &str) -> Value {
        let summary: String = format!("{}: {}", self.product, self.title)
            .chars()
            .take(1024)
            .collect();
        // One incident per finding: its updates add to the incident they opened.
        json!({
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": format!("trailwatch-finding:{}:{}", self.service.as_str(), self.finding_id),
            "payload": {
                "summary": summary,
                "source": self.account.as_deref().unwrap_or("aws"),
                "severity": pd_severity(self.severity),
                "timestamp": self.updated_at,
                "component": self.service.as_str(),
                "group": self.region,
                "class": self.finding_type,
                "custom_details": self,
            },
            "links": [{"href": self.console_url, "text": "Open in the console"}],
        })
    }
}
