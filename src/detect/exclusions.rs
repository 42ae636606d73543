//! Config-level exclusions for the common cases (trusted accounts, principals, networks, user
//! agents), applied to alerts before they go anywhere. Sigma filter documents cover the rest.

use ipnet::IpNet;
use serde::Deserialize;

use crate::alert::Alert;
use crate::rules::sigma::condition::glob_match;

/// One `[[exclusions]]` entry of the configuration. Every criterion given must match (a list
/// matches when any of its items does); an entry with no criterion is refused.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ExclusionConfig {
    /// Why the exclusion exists; shown by `check-config`.
    pub reason: String,
    /// Rule names it applies to; empty means every rule.
    pub rules: Vec<String>,
    /// Account ids (`recipientAccountId`).
    pub accounts: Vec<String>,
    /// Principal ARNs; `*` matches any run of characters.
    pub principals: Vec<String>,
    /// Source networks in CIDR notation.
    pub source_cidrs: Vec<String>,
    /// User agents; `*` matches any run of characters.
    pub user_agents: Vec<String>,
}

#[derive(Debug, Clone)]
struct Entry {
    rules: Vec<String>,
    accounts: Vec<String>,
    principals: Vec<String>,
    cidrs: Vec<IpNet>,
    user_agents: Vec<String>,
}

/// The compiled exclusions.
#[derive(Debug, Clone, Default)]
pub struct Exclusions {
    entries: Vec<Entry>,
}

/// An `[[exclusions]]` entry that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExclusionError {
    #[error(
        "exclusions[{entry}]: give at least one of accounts, principals, source_cidrs, user_agents"
    )]
    NoCriterion { entry: usize },
    #[error("exclusions[{entry}].source_cidrs: {value:?} is not a network")]
    NotANetwork { entry: usize, value: String },
}

impl Exclusions {
    pub fn new(config: &[ExclusionConfig]) -> Result<Exclusions, ExclusionError> {
        let mut entries = Vec::new();
        for (i, c) in config.iter().enumerate() {
            if c.accounts.is_empty()
                && c.principals.is_empty()
                && c.source_cidrs.is_empty()
                && c.user_agents.is_empty()
            {
                return Err(ExclusionError::NoCriterion { entry: i });
            }
            let cidrs = c
                .source_cidrs
                .iter()
                .map(|n| {
                    n.parse::<IpNet>()
                        .or_else(|_| n.parse::<std::net::IpAddr>().map(IpNet::from))
                        .map_err(|_| ExclusionError::NotANetwork {
                            entry: i,
                            value: n.clone(),
                        })
                })
                .collect::<Result<_, _>>()?;
            entries.push(Entry {
                rules: c.rules.clone(),
                accounts: c.accounts.clone(),
                principals: c.principals.clone(),
                cidrs,
                user_agents: c.user_agents.clone(),
            });
        }
        Ok(Exclusions { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether some entry excludes this alert.
    pub fn excludes(&self, alert: &Alert) -> bool {
        let ev = &alert.event;
        self.entries.iter().any(|e| {
            let any = |list: &[String], v: &Option<crate::alert::Short>, glob: bool| {
                list.is_empty()
                    || v.as_deref().is_some_and(|v| {
                        list.iter()
                            .any(|p| if glob { glob_match(p, v) } else { p == v })
                    })
            };
            (e.rules.is_empty() || e.rules.contains(&alert.rule.name))
                && any(&e.accounts, &ev.account, false)
                && any(&e.principals, &ev.actor.arn, true)
                && any(&e.user_agents, &ev.user_agent, true)
                && (e.cidrs.is_empty()
                    || ev
                        .source_ip
                        .as_deref()
                        .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
                        .is_some_and(|ip| e.cidrs.iter().any(|n| n.contains(&ip))))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::test_alert;

    fn list(toml_text: &str) -> Result<Exclusions, ExclusionError> {
        #[derive(Deserialize)]
        struct Doc {
            exclusions: Vec<ExclusionConfig>,
        }
        let doc: Doc = toml::from_str(toml_text).unwrap();
        Exclusions::new(&doc.exclusions)
    }

    fn alert(arn: &str, ip: &str, agent: &str) -> Alert {
        let mut a = test_alert::alert(0);
        a.event.actor.arn = Some(arn.into());
        a.event.source_ip = Some(ip.into());
        a.event.user_agent = Some(agent.into());
        a.event.account = Some("111122223333".into());
        a
    }

    #[test]
    fn every_criterion_given_must_match() {
        let l = list(
            r#"[[exclusions]]
               principals = ["arn:aws:iam::*:role/provisioner*"]
               source_cidrs = ["10.0.0.0/8", "192.0.2.7"]"#,
        )
        .unwrap();
        let role = "arn:aws:iam::111122223333:role/provisioner-ci";
        assert!(l.excludes(&alert(role, "10.1.2.3", "terraform")));
        assert!(l.excludes(&alert(role, "192.0.2.7", "terraform")));
        assert!(!l.excludes(&alert(role, "203.0.113.1", "terraform")));
        assert!(!l.excludes(&alert("arn:aws:iam::1:user/bob", "10.1.2.3", "x")));
    }

    #[test]
    fn rules_accounts_and_user_agents() {
        let l = list(
            r#"[[exclusions]]
               rules = ["some-other-rule"]
               accounts = ["111122223333"]
               [[exclusions]]
               user_agents = ["*Terraform/*"]"#,
        )
        .unwrap();
        let a = alert("arn:x", "10.0.0.1", "APN/1.0 HashiCorp/1.0 Terraform/1.9.0");
        assert!(l.excludes(&a), "second entry, any rule");
        let b = alert("arn:x", "10.0.0.1", "aws-cli/2");
        assert!(!l.excludes(&b), "first entry names another rule");
    }

    #[test]
    fn bad_entries_are_refused_with_their_position() {
        let e = list("[[exclusions]]\nrules = [\"x\"]\n").unwrap_err();
        assert_eq!(e, ExclusionError::NoCriterion { entry: 0 });
        let e = list("[[exclusions]]\nsource_cidrs = [\"10.0.0/8x\"]\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "exclusions[0].source_cidrs: \"10.0.0/8x\" is not a network"
        );
    }
}
