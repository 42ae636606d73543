//! What a policy change read on the trail makes of the principals it touches, judged the
//! moment the event is read: the last audit's policies with the change applied. An attached
//! AdministratorAccess, a group's new inline `*`, a policy version that grants
//! `iam:AttachUserPolicy`: the change's own alert says at once that its target is now an
//! admin or can make itself one. The re-audit that follows reads the account again and has
//! the last word.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::escalation::Analysis;
use super::{Kind, Principals};
use crate::audit::inventory::{Authorization, Group, InlinePolicy, Role, User};

/// The events whose change [`touched`] applies.
pub const EVENTS: &[&str] = &[
    "AttachUserPolicy",
    "DetachUserPolicy",
    "PutUserPolicy",
    "DeleteUserPolicy",
    "AttachGroupPolicy",
    "DetachGroupPolicy",
    "PutGroupPolicy",
    "DeleteGroupPolicy",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "PutRolePolicy",
    "DeleteRolePolicy",
    "AddUserToGroup",
    "RemoveUserFromGroup",
    "CreatePolicyVersion",
    "PutUserPermissionsBoundary",
    "DeleteUserPermissionsBoundary",
    "PutRolePermissionsBoundary",
    "DeleteRolePermissionsBoundary",
];

/// A principal a change touched, as the change leaves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Touched {
    pub arn: String,
    /// Full administrative rights after the change; None when a policy it holds is one the
    /// last audit did not read (an AWS managed policy attached nowhere then).
    pub admin: Option<bool>,
    /// How it could now make itself an admin (escalation method ids), when it is not one.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub escalation: Vec<String>,
    /// Why it could not be judged in full.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub undecided: Option<String>,
}

/// The principals `record`'s change touches (for a group, the group and its members; for a
/// new default policy version, every holder), judged on `auth` with the change applied.
/// Empty for a record that is no such change, or a refused one.
pub fn touched(auth: &Authorization, account: &str, record: &Value) -> Vec<Touched> {
    if record.get("errorCode").is_some_and(|c| !c.is_null()) {
        return Vec::new();
    }
    let (Some(event), Some(params)) = (
        record.get("eventName").and_then(Value::as_str),
        record.get("requestParameters"),
    ) else {
        return Vec::new();
    };
    let mut changed = auth.clone();
    let Some(target) = apply(&mut changed, account, event, params) else {
        return Vec::new();
    };
    let principals = Principals::of(&changed, account);
    let analysis = Analysis::of(&principals);
    let touched = |p: &super::Principal| match target {
        Target::Principal(kind, ref name) => p.kind == kind && p.name == *name,
        Target::Policy(ref arn) => p.kind != Kind::Group && p.customer_policies.contains(arn),
    };
    let members: Vec<&str> = match &target {
        Target::Principal(Kind::Group, group) => changed
            .users
            .iter()
            .filter(|u| u.groups.contains(group))
            .map(|u| u.name.as_str())
            .collect(),
        _ => Vec::new(),
    };
    principals
        .all
        .iter()
        .filter(|p| touched(p) || (p.kind == Kind::User && members.contains(&p.name.as_str())))
        .map(|p| {
            let admin = analysis.is_admin(&p.arn);
            let escalation = match (admin, p.kind) {
                (false, Kind::User | Kind::Role) => analysis
                    .escalations(p)
                    .into_iter()
                    .filter(|e| !e.conditional)
                    .map(|e| e.method.to_string())
                    .collect(),
                _ => Vec::new(),
            };
            Touched {
                arn: p.arn.clone(),
                admin: match (&p.unreadable, admin) {
                    (Some(_), false) => None,
                    _ => Some(admin),
                },
                escalation,
                undecided: p.unreadable.clone(),
            }
        })
        .collect()
}

/// Whose permissions a change moves.
enum Target {
    Principal(Kind, String),
    /// A customer managed policy: every principal holding it.
    Policy(String),
}

/// Applies the change to `auth`; None when the record does not say enough.
fn apply(auth: &mut Authorization, account: &str, event: &str, params: &Value) -> Option<Target> {
    let text = |key: &str| params.get(key).and_then(Value::as_str).map(str::to_string);
    let arn = |kind: &str, name: &str| format!("arn:aws:iam::{account}:{kind}/{name}");
    let put = |list: &mut Vec<InlinePolicy>| -> Option<()> {
        let (name, document) = (text("policyName")?, text("policyDocument")?);
        list.retain(|p| p.name != name);
        list.push(InlinePolicy { name, document });
        Some(())
    };
    let delete = |list: &mut Vec<InlinePolicy>| -> Option<()> {
        let name = text("policyName")?;
        list.retain(|p| p.name != name);
        Some(())
    };
    let attach = |list: &mut Vec<String>| -> Option<()> {
        let policy = text("policyArn")?;
        if !list.contains(&policy) {
            list.push(policy);
        }
        Some(())
    };
    let detach = |list: &mut Vec<String>| -> Option<()> {
        let policy = text("policyArn")?;
        list.retain(|p| *p != policy);
        Some(())
    };
    if let Some(kind) = ["User", "Group", "Role"].into_iter().find(|k| {
        event.ends_with(&format!("{k}Policy"))
            || event.ends_with(&format!("{k}PermissionsBoundary"))
    }) {
        let verb = &event[..event.find(kind)?];
        let boundary = event.ends_with("PermissionsBoundary");
        let name = text(&format!("{}Name", kind.to_ascii_lowercase()))?;
        let new_boundary = match verb {
            "Put" if boundary => Some(Some(text("permissionsBoundary")?)),
            "Delete" if boundary => Some(None),
            _ => None,
        };
        let (inline, attached, bound, kind) = match kind {
            "User" => {
                let u = user(auth, &name, &arn("user", &name));
                (
                    &mut u.inline,
                    &mut u.attached,
                    Some(&mut u.boundary),
                    Kind::User,
                )
            }
            "Group" => {
                let g = group(auth, &name, &arn("group", &name));
                (&mut g.inline, &mut g.attached, None, Kind::Group)
            }
            _ => {
                let r = role(auth, &name, &arn("role", &name));
                (
                    &mut r.inline,
                    &mut r.attached,
                    Some(&mut r.boundary),
                    Kind::Role,
                )
            }
        };
        match (verb, new_boundary) {
            (_, Some(b)) => *bound? = b,
            ("Put", None) => put(inline)?,
            ("Delete", None) => delete(inline)?,
            ("Attach", None) => attach(attached)?,
            ("Detach", None) => detach(attached)?,
            _ => return None,
        }
        return Some(Target::Principal(kind, name));
    }
    match event {
        "AddUserToGroup" | "RemoveUserFromGroup" => {
            let (group, name) = (text("groupName")?, text("userName")?);
            let u = user(auth, &name, &arn("user", &name));
            u.groups.retain(|g| *g != group);
            if event == "AddUserToGroup" {
                u.groups.push(group);
            }
            Some(Target::Principal(Kind::User, name))
        }
        "CreatePolicyVersion" => {
            let policy = text("policyArn")?;
            if params.get("setAsDefault").and_then(Value::as_bool) != Some(true) {
                return None;
            }
            let document = text("policyDocument")?;
            let p = auth.policies.iter_mut().find(|p| p.arn == policy)?;
            p.default_document = Some(document);
            Some(Target::Policy(policy))
        }
        _ => None,
    }
}

/// The user named, added when the last audit did not know it (made since).
fn user<'a>(auth: &'a mut Authorization, name: &str, arn: &str) -> &'a mut User {
    if let Some(i) = auth.users.iter().position(|u| u.name == name) {
        return &mut auth.users[i];
    }
    auth.users.push(User {
        name: name.to_string(),
        arn: arn.to_string(),
        ..User::default()
    });
    auth.users.last_mut().expect("just pushed")
}

fn group<'a>(auth: &'a mut Authorization, name: &str, arn: &str) -> &'a mut Group {
    if let Some(i) = auth.groups.iter().position(|g| g.name == name) {
        return &mut auth.groups[i];
    }
    auth.groups.push(Group {
        name: name.to_string(),
        arn: arn.to_string(),
        ..Group::default()
    });
    auth.groups.last_mut().expect("just pushed")
}

fn role<'a>(auth: &'a mut Authorization, name: &str, arn: &str) -> &'a mut Role {
    if let Some(i) = auth.roles.iter().position(|r| r.name == name) {
        return &mut auth.roles[i];
    }
    auth.roles.push(Role {
        name: name.to_string(),
        arn: arn.to_string(),
        path: "/".into(),
        ..Role::default()
    });
    auth.roles.last_mut().expect("just pushed")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::audit::inventory::ManagedPolicy;

    const ACCOUNT: &str = "111122223333";
    const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

    fn account() -> Authorization {
        let user = |name: &str, groups: &[&str]| User {
            name: name.into(),
            arn: format!("arn:aws:iam::{ACCOUNT}:user/{name}"),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..User::default()
        };
        Authorization {
            users: vec![user("bob", &[]), user("frank", &["ops"]), user("gina", &["ops"])],
            groups: vec![Group {
                name: "ops".into(),
                arn: format!("arn:aws:iam::{ACCOUNT}:group/ops"),
                ..Group::default()
            }],
            roles: vec![Role {
                name: "ec2-admin".into(),
                arn: format!("arn:aws:iam::{ACCOUNT}:role/ec2-admin"),
                path: "/".into(),
                trust: Some(r#"{"Statement":{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}}"#.into()),
                attached: vec![ADMIN.into()],
                ..Role::default()
            }],
            policies: vec![ManagedPolicy {
                name: "deploy".into(),
                arn: format!("arn:aws:iam::{ACCOUNT}:policy/deploy"),
                attachment_count: 1,
                default_document: Some(
                    r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#
                        .into(),
                ),
            }],
            aws_policies: Ok(vec![]),
        }
    }

    fn record(event: &str, params: Value) -> Value {
        json!({"eventName": event, "requestParameters": params})
    }

    fn short(t: &[Touched]) -> Vec<(String, Option<bool>, Vec<String>)> {
        t.iter()
            .map(|t| {
                let name = t.arn.rsplit('/').next().unwrap().to_string();
                (name, t.admin, t.escalation.clone())
            })
            .collect()
    }

    #[test]
    fn attaching_administrator_access_makes_the_user_an_admin() {
        let t = touched(
            &account(),
            ACCOUNT,
            &record(
                "AttachUserPolicy",
                json!({"userName": "bob", "policyArn": ADMIN}),
            ),
        );
        assert_eq!(short(&t), [("bob".to_string(), Some(true), vec![])]);
    }

    #[test]
    fn a_group_change_touches_the_group_and_its_members() {
        let star = r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#;
        let t = touched(
            &account(),
            ACCOUNT,
            &record(
                "PutGroupPolicy",
                json!({"groupName": "ops", "policyName": "all", "policyDocument": star}),
            ),
        );
        let mut got = short(&t);
        got.sort();
        assert_eq!(
            got,
            [
                ("frank".to_string(), Some(true), vec![]),
                ("gina".to_string(), Some(true), vec![]),
                ("ops".to_string(), Some(true), vec![]),
            ]
        );
    }

    #[test]
    fn an_inline_grant_of_pass_role_and_run_instances_is_an_escalation() {
        let launch = r#"{"Statement":{"Effect":"Allow","Action":["iam:PassRole","ec2:RunInstances"],"Resource":"*"}}"#;
        let t = touched(
            &account(),
            ACCOUNT,
            &record(
                "PutUserPolicy",
                json!({"userName": "bob", "policyName": "launch", "policyDocument": launch}),
            ),
        );
        assert_eq!(
            short(&t),
            [(
                "bob".to_string(),
                Some(false),
                vec!["passrole-ec2".to_string()]
            )]
        );
    }

    #[test]
    fn a_new_default_version_touches_every_holder() {
        let mut auth = account();
        auth.users[0]
            .attached
            .push(format!("arn:aws:iam::{ACCOUNT}:policy/deploy"));
        let attach =
            r#"{"Statement":{"Effect":"Allow","Action":"iam:AttachUserPolicy","Resource":"*"}}"#;
        let version = |default: bool| {
            record(
                "CreatePolicyVersion",
                json!({"policyArn": format!("arn:aws:iam::{ACCOUNT}:policy/deploy"),
                       "policyDocument": attach, "setAsDefault": default}),
            )
        };
        assert_eq!(
            short(&touched(&auth, ACCOUNT, &version(true))),
            [(
                "bob".to_string(),
                Some(false),
                vec!["attach-user-policy".to_string()]
            )]
        );
        assert!(
            touched(&auth, ACCOUNT, &version(false)).is_empty(),
            "not the default: nothing changes"
        );
    }

    #[test]
    fn a_refused_change_or_an_unread_policy_is_not_judged_as_made() {
        let mut refused = record(
            "AttachUserPolicy",
            json!({"userName": "bob", "policyArn": ADMIN}),
        );
        refused["errorCode"] = json!("AccessDenied");
        assert!(touched(&account(), ACCOUNT, &refused).is_empty());
        // An AWS managed policy the last audit did not read: undecided, not "not admin".
        let t = touched(
            &account(),
            ACCOUNT,
            &record(
                "AttachUserPolicy",
                json!({"userName": "bob", "policyArn": "arn:aws:iam::aws:policy/PowerUserAccess"}),
            ),
        );
        assert_eq!(t[0].admin, None);
        assert_eq!(
            t[0].undecided.as_deref(),
            Some("arn:aws:iam::aws:policy/PowerUserAccess: not read")
        );
        // Removing a user from a group takes its rights away.
        let mut auth = account();
        auth.groups[0].attached.push(ADMIN.into());
        let t = touched(
            &auth,
            ACCOUNT,
            &record(
                "RemoveUserFromGroup",
                json!({"userName": "frank", "groupName": "ops"}),
            ),
        );
        assert_eq!(short(&t), [("frank".to_string(), Some(false), vec![])]);
    }
}
