//! What each principal actually used: per IAM user (and per role, for its sessions), each
//! action it called with success, when first and last, how often, and on which resources the
//! record names. The daemon keeps it as it reads the trail, `replay --usage` builds it from
//! archives, and the audit compares it with what is granted (`unused-permissions`,
//! `--suggest-policy`). Bounded: past the caps below, new principals, actions and resources
//! are counted in `dropped`, not kept.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Principals kept.
pub const MAX_PRINCIPALS: usize = 20_000;
/// Actions kept per principal.
pub const MAX_ACTIONS: usize = 5_000;
/// Resource ARNs kept per action.
pub const MAX_RESOURCES: usize = 20;
/// Actions kept over all principals (about 100 bytes each in memory).
pub const MAX_TOTAL_ACTIONS: usize = 500_000;

pub const VERSION: u32 = 1;

/// The usage record (the file `replay --usage` writes and `audit --usage` reads).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Stored")]
pub struct Usage {
    pub version: u32,
    /// Event times of the oldest and newest event recorded (`eventTime` as CloudTrail writes
    /// it): the stretch of trail the record covers.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub until: Option<String>,
    /// By principal ARN: a user's ARN, or for an assumed-role session the role's
    /// (`arn:aws:iam::ACCOUNT:role/NAME`, without the role's path).
    pub principals: BTreeMap<String, Actions>,
    /// Actions kept over all principals.
    #[serde(skip)]
    total: usize,
    /// Uses not kept because a cap was reached.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub dropped: u64,
}

/// A record as stored: [`Usage`] counts its actions when read.
#[derive(Deserialize)]
struct Stored {
    version: u32,
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    until: Option<String>,
    principals: BTreeMap<String, Actions>,
    #[serde(default)]
    dropped: u64,
}

impl From<Stored> for Usage {
    fn from(s: Stored) -> Usage {
        Usage {
            total: s.principals.values().map(|a| a.actions.len()).sum(),
            version: s.version,
            since: s.since,
            until: s.until,
            principals: s.principals,
            dropped: s.dropped,
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actions {
    /// By action (`s3:GetObject`).
    pub actions: BTreeMap<String, ActionUse>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionUse {
    pub first: String,
    pub last: String,
    pub count: u64,
    /// The resources the records named (`resources[].ARN`), at most [`MAX_RESOURCES`].
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub resources: Vec<String>,
}

/// One use: who, which action, when, on what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    pub principal: String,
    pub action: String,
    pub time: String,
    pub resources: Vec<String>,
}

/// Error codes that mean the call was refused: no permission was used.
const REFUSED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "Client.UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthFailure",
    "Client.AuthFailure",
];

/// The record's fields a use is made of.
pub struct Event<'a> {
    pub actor_type: Option<&'a str>,
    pub actor_arn: Option<&'a str>,
    pub actor_account: Option<&'a str>,
    /// The role's name for an assumed-role session.
    pub issuer_name: Option<&'a str>,
    pub event_source: Option<&'a str>,
    pub event_name: Option<&'a str>,
    pub event_time: Option<&'a str>,
    pub error_code: Option<&'a str>,
}

impl Use {
    /// The use an event is, or None: refused calls, the root user, federated and AWS service
    /// callers, and events that are no use of a permission.
    pub fn of(e: &Event, resources: Vec<String>) -> Option<Use> {
        if e.error_code.is_some_and(|c| REFUSED.contains(&c)) {
            return None;
        }
        let principal = match e.actor_type? {
            "IAMUser" => e.actor_arn?.to_string(),
            "AssumedRole" => {
                let account = e
                    .actor_account
                    .or_else(|| crate::policy::exposure::account_of(e.actor_arn?))?;
                format!("arn:aws:iam::{account}:role/{}", e.issuer_name?)
            }
            _ => return None,
        };
        Some(Use {
            principal,
            action: super::actions::from_event(e.event_source?, e.event_name?)?,
            time: e.event_time?.to_string(),
            resources,
        })
    }
}

/// A usage file that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a trailwatch usage record: {source}", path.display())]
    Decode {
        path: std::path::PathBuf,
        source: serde_json::Error,
    },
}

/// The field that names the resources an event used; readers that record usage have the
/// rules extract it.
pub const RESOURCES_FIELD: &str = "resources.ARN";

/// Reads uses from records extracted with a rule set's fields.
#[derive(Debug, Clone, Copy)]
pub struct UseReader {
    /// [`RESOURCES_FIELD`], when the rules extract it.
    resources: Option<crate::trail::FieldId>,
}

impl UseReader {
    pub fn new(fields: &crate::trail::FieldSet) -> UseReader {
        UseReader {
            resources: fields.find(RESOURCES_FIELD),
        }
    }

    /// The use a record is, if it is one.
    pub fn read(&self, record: &crate::trail::Record) -> Option<Use> {
        use crate::trail::fields::well_known as wk;
        let f = &record.fields;
        let event = Event {
            actor_type: f.str(wk::ACTOR_TYPE),
            actor_arn: f.str(wk::ACTOR_ARN),
            actor_account: f.str(wk::ACTOR_ACCOUNT_ID),
            issuer_name: f.str(wk::ACTOR_ISSUER_USER_NAME),
            event_source: f.str(wk::EVENT_SOURCE),
            event_name: f.str(wk::EVENT_NAME),
            event_time: f.str(wk::EVENT_TIME),
            error_code: f.str(wk::ERROR_CODE),
        };
        let resources = self
            .resources
            .map(|id| {
                f.get(id)
                    .iter()
                    .filter_map(|v| v.text())
                    .filter(|r| r.starts_with("arn:"))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Use::of(&event, resources)
    }
}

impl Usage {
    /// The record in `path`; an empty one when there is no such file.
    pub fn load(path: &std::path::Path) -> Result<Usage, UsageError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| UsageError::Decode {
                path: path.to_path_buf(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Usage::new()),
            Err(source) => Err(UsageError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// The record in `path` for the audit: one `replay --usage` wrote, or the one in the
    /// daemon's state file (its `usage` member).
    pub fn read(path: &std::path::Path) -> Result<Usage, UsageError> {
        /// The daemon's state file, as far as the record goes.
        #[derive(Deserialize)]
        struct StateFile {
            usage: Usage,
        }
        let bytes = std::fs::read(path).map_err(|source| UsageError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_slice::<Usage>(&bytes).or_else(|e| {
            serde_json::from_slice::<StateFile>(&bytes)
                .map(|f| f.usage)
                .map_err(|_| UsageError::Decode {
                    path: path.to_path_buf(),
                    source: e,
                })
        })
    }

    /// Writes the record to `path`, replacing it whole (written beside, then renamed).
    pub fn save(&self, path: &std::path::Path) -> Result<(), UsageError> {
        let io = |source| UsageError::Io {
            path: path.to_path_buf(),
            source,
        };
        let text = serde_json::to_vec_pretty(self).expect("a usage record serializes");
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    pub fn is_empty(&self) -> bool {
        self.principals.is_empty()
    }

    pub fn new() -> Usage {
        Usage {
            version: VERSION,
            ..Usage::default()
        }
    }

    /// A record of one principal's actions (as the shared table keeps them).
    pub fn single(principal: String, actions: BTreeMap<String, ActionUse>) -> Usage {
        let mut usage = Usage::new();
        for u in actions.values() {
            usage.widen(&u.first);
            usage.widen(&u.last);
        }
        usage.total = actions.len();
        usage.principals.insert(principal, Actions { actions });
        usage
    }

    /// Stretches the span the record covers to take in `time`.
    fn widen(&mut self, time: &str) {
        if self.since.as_deref().is_none_or(|s| time < s) {
            self.since = Some(time.to_string());
        }
        if self.until.as_deref().is_none_or(|s| time > s) {
            self.until = Some(time.to_string());
        }
    }

    pub fn record(&mut self, u: &Use) {
        self.widen(&u.time);
        if !self.principals.contains_key(&u.principal) && self.principals.len() >= MAX_PRINCIPALS {
            self.dropped += 1;
            return;
        }
        let actions = &mut self
            .principals
            .entry(u.principal.clone())
            .or_default()
            .actions;
        if !actions.contains_key(&u.action) {
            if actions.len() >= MAX_ACTIONS || self.total >= MAX_TOTAL_ACTIONS {
                self.dropped += 1;
                return;
            }
            self.total += 1;
        }
        let a = actions
            .entry(u.action.clone())
            .or_insert_with(|| ActionUse {
                first: u.time.clone(),
                last: u.time.clone(),
                ..ActionUse::default()
            });
        a.count += 1;
        if u.time < a.first {
            a.first = u.time.clone();
        }
        if u.time > a.last {
            a.last = u.time.clone();
        }
        for r in &u.resources {
            if a.resources.len() < MAX_RESOURCES && !a.resources.contains(r) {
                a.resources.push(r.clone());
            }
        }
    }

    /// Takes in another record (another replica's, an earlier file): the same principal's
    /// actions combine, first and last uses widen, counts add up.
    pub fn merge(&mut self, other: Usage) {
        for t in other.since.iter().chain(&other.until) {
            self.widen(t);
        }
        self.dropped += other.dropped;
        for (principal, actions) in other.principals {
            if !self.principals.contains_key(&principal) && self.principals.len() >= MAX_PRINCIPALS
            {
                self.dropped += actions.actions.values().map(|u| u.count).sum::<u64>();
                continue;
            }
            let mine = &mut self.principals.entry(principal).or_default().actions;
            for (action, u) in actions.actions {
                let full = mine.len() >= MAX_ACTIONS || self.total >= MAX_TOTAL_ACTIONS;
                match mine.get_mut(&action) {
                    Some(a) => {
                        a.count += u.count;
                        if u.first < a.first {
                            a.first = u.first;
                        }
                        if u.last > a.last {
                            a.last = u.last;
                        }
                        for r in u.resources {
                            if a.resources.len() < MAX_RESOURCES && !a.resources.contains(&r) {
                                a.resources.push(r);
                            }
                        }
                    }
                    None if full => self.dropped += u.count,
                    None => {
                        self.total += 1;
                        mine.insert(action, u);
                    }
                }
            }
        }
    }

    /// The days of trail the record covers.
    pub fn coverage_days(&self) -> Option<i64> {
        let parse = |t: &String| chrono::DateTime::parse_from_rfc3339(t).ok();
        let since = parse(self.since.as_ref()?)?;
        let until = parse(self.until.as_ref()?)?;
        Some((until - since).num_days())
    }

    /// The uses of a principal: by its ARN, or for a role (whose record drops the path) by its
    /// account and name.
    pub fn of_principal(&self, arn: &str) -> Option<&Actions> {
        self.principals.get(arn).or_else(|| {
            let (head, name) = arn.split_once(":role/")?;
            let name = name.rsplit('/').next()?;
            self.principals.get(&format!("{head}:role/{name}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event<'a>(
        kind: &'a str,
        arn: &'a str,
        source: &'a str,
        name: &'a str,
        time: &'a str,
    ) -> Event<'a> {
        Event {
            actor_type: Some(kind),
            actor_arn: Some(arn),
            actor_account: Some("111122223333"),
            issuer_name: Some("deploy"),
            event_source: Some(source),
            event_name: Some(name),
            event_time: Some(time),
            error_code: None,
        }
    }

    #[test]
    fn uses_of_users_and_role_sessions_not_of_refused_calls() {
        let alice = "arn:aws:iam::111122223333:user/alice";
        let u = Use::of(
            &event(
                "IAMUser",
                alice,
                "s3.amazonaws.com",
                "ListObjects",
                "2026-11-20T09:00:00Z",
            ),
            vec![],
        )
        .unwrap();
        assert_eq!(
            (u.principal.as_str(), u.action.as_str()),
            (alice, "s3:ListBucket")
        );
        let session = event(
            "AssumedRole",
            "arn:aws:sts::111122223333:assumed-role/deploy/i-0abc",
            "ec2.amazonaws.com",
            "RunInstances",
            "2026-11-20T09:00:00Z",
        );
        assert_eq!(
            Use::of(&session, vec![]).unwrap().principal,
            "arn:aws:iam::111122223333:role/deploy"
        );
        let mut refused = event(
            "IAMUser",
            alice,
            "iam.amazonaws.com",
            "CreateUser",
            "2026-11-20T09:00:00Z",
        );
        refused.error_code = Some("AccessDenied");
        assert_eq!(Use::of(&refused, vec![]), None);
        let mut failed_otherwise = event(
            "IAMUser",
            alice,
            "iam.amazonaws.com",
            "GetUser",
            "2026-11-20T09:00:00Z",
        );
        failed_otherwise.error_code = Some("NoSuchEntity");
        assert!(
            Use::of(&failed_otherwise, vec![]).is_some(),
            "authorised, then failed"
        );
        assert_eq!(
            Use::of(
                &event(
                    "Root",
                    "arn:aws:iam::111122223333:root",
                    "iam.amazonaws.com",
                    "CreateUser",
                    "t"
                ),
                vec![]
            ),
            None
        );
    }

    #[test]
    fn records_merge_and_stay_bounded() {
        let mut a = Usage::new();
        let one = |action: &str, time: &str, r: &[&str]| Use {
            principal: "p".into(),
            action: action.into(),
            time: time.into(),
            resources: r.iter().map(|s| s.to_string()).collect(),
        };
        a.record(&one(
            "s3:GetObject",
            "2026-11-20T09:00:00Z",
            &["arn:aws:s3:::b/k"],
        ));
        a.record(&one(
            "s3:GetObject",
            "2026-11-10T09:00:00Z",
            &["arn:aws:s3:::b/k"],
        ));
        let mut b = Usage::new();
        b.record(&one(
            "s3:GetObject",
            "2026-12-01T09:00:00Z",
            &["arn:aws:s3:::c/k"],
        ));
        b.record(&one("iam:GetUser", "2026-12-01T09:00:00Z", &[]));
        a.merge(b);
        let get = &a.principals["p"].actions["s3:GetObject"];
        assert_eq!(
            (get.first.as_str(), get.last.as_str(), get.count),
            ("2026-11-10T09:00:00Z", "2026-12-01T09:00:00Z", 3)
        );
        assert_eq!(get.resources, ["arn:aws:s3:::b/k", "arn:aws:s3:::c/k"]);
        assert_eq!(a.principals["p"].actions["iam:GetUser"].count, 1);
        assert_eq!(a.since.as_deref(), Some("2026-11-10T09:00:00Z"));
        assert_eq!(a.until.as_deref(), Some("2026-12-01T09:00:00Z"));
        assert_eq!(a.coverage_days(), Some(21));
        // Caps: the action past the cap is counted, not kept.
        let mut full = Usage::new();
        for i in 0..MAX_ACTIONS + 3 {
            full.record(&one(&format!("svc:A{i}"), "2026-11-20T09:00:00Z", &[]));
        }
        assert_eq!(full.principals["p"].actions.len(), MAX_ACTIONS);
        assert_eq!(full.dropped, 3);
        // A role's record is found from its ARN with a path.
        let mut r = Usage::new();
        r.record(&Use {
            principal: "arn:aws:iam::1:role/deploy".into(),
            ..one("x:Y", "t", &[])
        });
        assert!(r.of_principal("arn:aws:iam::1:role/ci/deploy").is_some());
    }
}
