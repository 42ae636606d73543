//! Every user, group and role of an account with the policies that decide its permissions:
//! its own inline and managed policies, a user's groups' policies ("via group ops"), and its
//! permissions boundary; with its policy variables.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::audit::inventory::{Authorization, InlinePolicy};
use crate::policy::document::Document;
use crate::policy::evaluate::{PolicySet, Sourced};
use crate::policy::pattern::Vars;

/// AdministratorAccess's document, which AWS has kept as it is since it began: a principal
/// holding it is known to be an admin even when its document could not be read.
const ADMINISTRATOR_ACCESS_DOCUMENT: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// `arn:aws:iam::aws:policy/…` (in any partition): a policy AWS manages.
pub fn is_aws_managed(arn: &str) -> bool {
    arn.split(':').nth(4) == Some("aws")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    User,
    Group,
    Role,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Group => "group",
            Kind::Role => "role",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Principal {
    pub kind: Kind,
    pub name: String,
    pub arn: String,
    pub policies: PolicySet,
    /// Users: the groups they are in.
    pub groups: Vec<String>,
    /// The customer managed policies it holds (directly or through a group): what
    /// CreatePolicyVersion would change.
    pub customer_policies: Vec<String>,
    /// Roles: the trust policy.
    pub trust: Option<Document>,
    /// Why its permissions cannot be judged in full (a policy that could not be read or
    /// parsed): the permission checks are then ERROR for it.
    pub unreadable: Option<String>,
    /// Users and roles: when it was made.
    pub created: Option<chrono::DateTime<chrono::Utc>>,
}

/// The account's principals.
#[derive(Debug, Clone, Default)]
pub struct Principals {
    pub account: String,
    pub all: Vec<Principal>,
    /// Index in `all` by ARN.
    by_arn: HashMap<String, usize>,
}

impl Principals {
    pub fn of(auth: &Authorization, account: &str) -> Principals {
        let mut managed: HashMap<&str, Result<Document, String>> = HashMap::new();
        for p in auth
            .policies
            .iter()
            .chain(auth.aws_policies.iter().flatten())
        {
            let doc = match &p.default_document {
                Some(text) => Document::parse(text).map_err(|e| format!("{}: {e}", p.arn)),
                None => Err(format!("{}: no default version document", p.arn)),
            };
            managed.insert(p.arn.as_str(), doc);
        }
        let unread_aws = auth.aws_policies.as_ref().err().map(|e| e.to_string());
        let lookup = |arn: &str| -> Result<Document, String> {
            if let Some(d) = managed.get(arn) {
                return d.clone();
            }
            if arn.ends_with(":policy/AdministratorAccess") {
                return Ok(Document::parse(ADMINISTRATOR_ACCESS_DOCUMENT).expect("a document"));
            }
            Err(match &unread_aws {
                Some(e) if is_aws_managed(arn) => e.clone(),
                _ => format!("{arn}: not read"),
            })
        };
        // A principal's own inline and attached policies, and the first one that could not
        // be read.
        let docs = |inline: &[InlinePolicy], attached: &[String]| {
            let (mut out, mut unreadable) = (Vec::new(), None);
            for p in inline {
                match Document::parse(&p.document) {
                    Ok(document) => out.push(Arc::new(Sourced {
                        source: format!("inline policy {}", p.name),
                        document,
                    })),
                    Err(e) => {
                        unreadable.get_or_insert(format!("inline policy {}: {e}", p.name));
                    }
                }
            }
            for arn in attached {
                match lookup(arn) {
                    Ok(document) => out.push(Arc::new(Sourced {
                        source: format!("managed policy {arn}"),
                        document,
                    })),
                    Err(e) => {
                        unreadable.get_or_insert(e);
                    }
                }
            }
            (out, unreadable)
        };
        let customer = |attached: &[String]| -> Vec<String> {
            attached
                .iter()
                .filter(|a| !is_aws_managed(a))
                .cloned()
                .collect()
        };
        let mut all: Vec<Principal> = Vec::new();
        for g in &auth.groups {
            let (own, bad) = docs(&g.inline, &g.attached);
            all.push(Principal {
                kind: Kind::Group,
                name: g.name.clone(),
                arn: g.arn.clone(),
                policies: PolicySet {
                    identity: own,
                    boundary: None,
                    vars: Vars {
                        account: Some(account.to_string()),
                        ..Vars::default()
                    },
                },
                groups: Vec::new(),
                customer_policies: customer(&g.attached),
                trust: None,
                unreadable: bad,
                created: None,
            });
        }
        let groups: HashMap<String, Principal> =
            all.iter().map(|g| (g.name.clone(), g.clone())).collect();
        let boundary_of = |arn: &Option<String>, bad: &mut Option<String>| {
            let arn = arn.as_ref()?;
            match lookup(arn) {
                Ok(document) => Some(Arc::new(Sourced {
                    source: format!("boundary {arn}"),
                    document,
                })),
                Err(e) => {
                    bad.get_or_insert(e);
                    None
                }
            }
        };
        for u in &auth.users {
            let (mut set, mut bad) = docs(&u.inline, &u.attached);
            let mut customer = customer(&u.attached);
            for g in &u.groups {
                if let Some(group) = groups.get(g) {
                    set.extend(group.policies.identity.iter().map(|d| {
                        Arc::new(Sourced {
                            source: format!("via group {g}: {}", d.source),
                            document: d.document.clone(),
                        })
                    }));
                    if let Some(b) = &group.unreadable {
                        bad.get_or_insert(format!("via group {g}: {b}"));
                    }
                    customer.extend(group.customer_policies.iter().cloned());
                }
            }
            let boundary = boundary_of(&u.boundary, &mut bad);
            all.push(Principal {
                kind: Kind::User,
                name: u.name.clone(),
                arn: u.arn.clone(),
                policies: PolicySet {
                    identity: set,
                    boundary,
                    vars: Vars {
                        username: Some(u.name.clone()),
                        userid: Some(u.id.clone()).filter(|i| !i.is_empty()),
                        account: Some(account.to_string()),
                        principal_arn: Some(u.arn.clone()),
                        tags: tags(&u.tags),
                    },
                },
                groups: u.groups.clone(),
                customer_policies: customer,
                trust: None,
                unreadable: bad,
                created: u.created,
            });
        }
        for r in &auth.roles {
            let (set, mut bad) = docs(&r.inline, &r.attached);
            let boundary = boundary_of(&r.boundary, &mut bad);
            let trust = match r.trust.as_deref().map(Document::parse) {
                Some(Ok(d)) => Some(d),
                Some(Err(e)) => {
                    bad.get_or_insert(format!("trust policy: {e}"));
                    None
                }
                None => None,
            };
            all.push(Principal {
                kind: Kind::Role,
                name: r.name.clone(),
                arn: r.arn.clone(),
                policies: PolicySet {
                    identity: set,
                    boundary,
                    vars: Vars {
                        account: Some(account.to_string()),
                        principal_arn: Some(r.arn.clone()),
                        tags: tags(&r.tags),
                        ..Vars::default()
                    },
                },
                groups: Vec::new(),
                customer_policies: customer(&r.attached),
                trust,
                unreadable: bad,
                created: r.created,
            });
        }
        let by_arn = all
            .iter()
            .enumerate()
            .map(|(i, p)| (p.arn.clone(), i))
            .collect();
        Principals {
            account: account.to_string(),
            all,
            by_arn,
        }
    }

    pub fn get(&self, arn: &str) -> Option<&Principal> {
        self.by_arn.get(arn).map(|&i| &self.all[i])
    }
}

fn tags(list: &[(String, String)]) -> BTreeMap<String, String> {
    list.iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect()
}
