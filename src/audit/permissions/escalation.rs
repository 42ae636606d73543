//! Who is an admin, and how a principal that is not could make itself one: the escalation
//! methods Rhino Security Labs catalogued and PMapper models as edges, each as data — what the
//! principal must be allowed to do, and on what — so a narrowed grant (a key for its own user
//! only, an explicit deny, a condition) removes the method.

use std::cell::RefCell;
use std::collections::HashMap;

use super::principals::{Kind, Principal, Principals};
use crate::policy::document::Effect;
use crate::policy::evaluate::{Deciding, Decision};
use crate::policy::exposure::{trusts_principal, trusts_service};
use crate::policy::pattern::Pattern;

/// What a method acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The principal itself (its own user or role).
    Itself,
    /// A group the user is in.
    OwnGroup,
    /// A customer managed policy the principal holds (directly or through a group).
    OwnPolicy,
    /// Another user with admin rights.
    AdminUser,
    /// A group with admin rights.
    AdminGroup,
    /// A role with admin rights.
    AdminRole,
    /// A role with admin rights that this service may assume (`ec2.amazonaws.com`).
    AdminRoleFor(&'static str),
}

/// Where a needed action must be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    Target,
    Anything,
}

pub struct Method {
    pub id: &'static str,
    pub description: &'static str,
    /// Who can use it.
    pub kinds: &'static [Kind],
    pub target: Target,
    pub needs: &'static [(&'static str, On)],
}

const USER: &[Kind] = &[Kind::User];
const ROLE: &[Kind] = &[Kind::Role];
const BOTH: &[Kind] = &[Kind::User, Kind::Role];

/// The methods, after Rhino Security Labs' "AWS IAM Privilege Escalation – Methods and
/// Mitigation" and PMapper's edges. Not covered: changing an existing Lambda function's code
/// or Glue endpoint that runs as an admin role (the account's functions and endpoints are not
/// read).
pub const METHODS: &[Method] = &[
    Method {
        id: "create-policy-version",
        description: "create a new default version of a policy it holds",
        kinds: BOTH,
        target: Target::OwnPolicy,
        needs: &[("iam:CreatePolicyVersion", On::Target)],
    },
    Method {
        id: "set-default-policy-version",
        description: "make another version of a policy it holds the default",
        kinds: BOTH,
        target: Target::OwnPolicy,
        needs: &[("iam:SetDefaultPolicyVersion", On::Target)],
    },
    Method {
        id: "attach-user-policy",
        description: "attach any managed policy (AdministratorAccess) to itself",
        kinds: USER,
        target: Target::Itself,
        needs: &[("iam:AttachUserPolicy", On::Target)],
    },
    Method {
        id: "put-user-policy",
        description: "write an inline policy on itself",
        kinds: USER,
        target: Target::Itself,
        needs: &[("iam:PutUserPolicy", On::Target)],
    },
    Method {
        id: "attach-group-policy",
        description: "attach any managed policy to a group it is in",
        kinds: USER,
        target: Target::OwnGroup,
        needs: &[("iam:AttachGroupPolicy", On::Target)],
    },
    Method {
        id: "put-group-policy",
        description: "write an inline policy on a group it is in",
        kinds: USER,
        target: Target::OwnGroup,
        needs: &[("iam:PutGroupPolicy", On::Target)],
    },
    Method {
        id: "attach-role-policy",
        description: "attach any managed policy to itself",
        kinds: ROLE,
        target: Target::Itself,
        needs: &[("iam:AttachRolePolicy", On::Target)],
    },
    Method {
        id: "put-role-policy",
        description: "write an inline policy on itself",
        kinds: ROLE,
        target: Target::Itself,
        needs: &[("iam:PutRolePolicy", On::Target)],
    },
    Method {
        id: "add-user-to-group",
        description: "add itself to an admin group",
        kinds: USER,
        target: Target::AdminGroup,
        needs: &[("iam:AddUserToGroup", On::Target)],
    },
    Method {
        id: "create-access-key",
        description: "create an access key for an admin user",
        kinds: BOTH,
        target: Target::AdminUser,
        needs: &[("iam:CreateAccessKey", On::Target)],
    },
    Method {
        id: "create-login-profile",
        description: "give an admin user a console password",
        kinds: BOTH,
        target: Target::AdminUser,
        needs: &[("iam:CreateLoginProfile", On::Target)],
    },
    Method {
        id: "update-login-profile",
        description: "change an admin user's console password",
        kinds: BOTH,
        target: Target::AdminUser,
        needs: &[("iam:UpdateLoginProfile", On::Target)],
    },
    Method {
        id: "assume-admin-role",
        description: "assume an admin role that trusts it",
        kinds: BOTH,
        target: Target::AdminRole,
        needs: &[("sts:AssumeRole", On::Target)],
    },
    Method {
        id: "update-assume-role-policy",
        description: "rewrite an admin role's trust policy and assume it",
        kinds: BOTH,
        target: Target::AdminRole,
        needs: &[
            ("iam:UpdateAssumeRolePolicy", On::Target),
            ("sts:AssumeRole", On::Target),
        ],
    },
    Method {
        id: "passrole-ec2",
        description: "launch an instance with an admin role (iam:PassRole, ec2:RunInstances)",
        kinds: BOTH,
        target: Target::AdminRoleFor("ec2.amazonaws.com"),
        needs: &[
            ("iam:PassRole", On::Target),
            ("ec2:RunInstances", On::Anything),
        ],
    },
    Method {
        id: "passrole-lambda-invoke",
        description: "create a Lambda function with an admin role and invoke it",
        kinds: BOTH,
        target: Target::AdminRoleFor("lambda.amazonaws.com"),
        needs: &[
            ("iam:PassRole", On::Target),
            ("lambda:CreateFunction", On::Anything),
            ("lambda:InvokeFunction", On::Anything),
        ],
    },
    Method {
        id: "passrole-lambda-event-source",
        description: "create a Lambda function with an admin role and an event source that runs it",
        kinds: BOTH,
        target: Target::AdminRoleFor("lambda.amazonaws.com"),
        needs: &[
            ("iam:PassRole", On::Target),
            ("lambda:CreateFunction", On::Anything),
            ("lambda:CreateEventSourceMapping", On::Anything),
        ],
    },
    Method {
        id: "passrole-cloudformation",
        description: "create a CloudFormation stack with an admin role",
        kinds: BOTH,
        target: Target::AdminRoleFor("cloudformation.amazonaws.com"),
        needs: &[
            ("iam:PassRole", On::Target),
            ("cloudformation:CreateStack", On::Anything),
        ],
    },
    Method {
        id: "passrole-glue",
        description: "create a Glue development endpoint with an admin role",
        kinds: BOTH,
        target: Target::AdminRoleFor("glue.amazonaws.com"),
        needs: &[
            ("iam:PassRole", On::Target),
            ("glue:CreateDevEndpoint", On::Anything),
        ],
    },
    Method {
        id: "passrole-sagemaker",
        description: "create a SageMaker notebook with an admin role and open it",
        kinds: BOTH,
        target: Target::AdminRoleFor("sagemaker.amazonaws.com"),
        needs: &[
            ("iam:PassRole", On::Target),
            ("sagemaker:CreateNotebookInstance", On::Anything),
            ("sagemaker:CreatePresignedNotebookInstanceUrl", On::Anything),
        ],
    },
    Method {
        id: "passrole-codebuild",
        description: "create and start a CodeBuild project with an admin role",
        kinds: BOTH,
        target: Target::AdminRoleFor("codebuild.amazonaws.com"),
        needs: &[
            ("iam:PassRole", On::Target),
            ("codebuild:CreateProject", On::Anything),
            ("codebuild:StartBuild", On::Anything),
        ],
    },
    Method {
        id: "passrole-ecs",
        description: "register an ECS task definition with an admin task role and run it",
        kinds: BOTH,
        target: Target::AdminRoleFor("ecs-tasks.amazonaws.com"),
        needs: &[
            ("iam:PassRole", On::Target),
            ("ecs:RegisterTaskDefinition", On::Anything),
            ("ecs:RunTask", On::Anything),
        ],
    },
    Method {
        id: "passrole-datapipeline",
        description: "create and activate a Data Pipeline with an admin role",
        kinds: BOTH,
        target: Target::AdminRoleFor("datapipeline.amazonaws.com"),
        needs: &[
            ("iam:PassRole", On::Target),
            ("datapipeline:CreatePipeline", On::Anything),
            ("datapipeline:PutPipelineDefinition", On::Anything),
            ("datapipeline:ActivatePipeline", On::Anything),
        ],
    },
];

/// A way a principal could make itself an admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    pub method: &'static str,
    pub description: &'static str,
    /// What it acts on (a user, group, role or policy ARN).
    pub target: String,
    /// The statements that allow it.
    pub statements: Vec<Deciding>,
    /// It depends on the request (a condition or an unresolved variable).
    pub conditional: bool,
}

impl std::fmt::Display for Escalation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let by: Vec<String> = self.statements.iter().map(|s| s.to_string()).collect();
        write!(
            f,
            "{} ({}; target {}; allowed by {})",
            self.method,
            self.description,
            self.target,
            by.join(", ")
        )
    }
}

/// The admins of an account, with how each got there, and what the others could do.
pub struct Analysis<'a> {
    pub principals: &'a Principals,
    /// Per ARN: the routes to `*` on `*` (sources with their statements).
    pub admins: HashMap<&'a str, Vec<String>>,
    /// The admins by kind (users, groups, roles), in account order: the targets of the
    /// methods that take over an admin, found once rather than per principal and method.
    admins_by_kind: [Vec<&'a Principal>; 3],
    /// Groups by name.
    groups: HashMap<&'a str, &'a Principal>,
    /// Each principal's escalations, found once: the checks and the principal facts both ask.
    found: RefCell<HashMap<String, Vec<Escalation>>>,
}

fn kind_index(kind: Kind) -> usize {
    match kind {
        Kind::User => 0,
        Kind::Group => 1,
        Kind::Role => 2,
    }
}

/// Whether an action pattern grants every action (`*`, `*:*`).
fn everything(pattern: &str) -> bool {
    pattern == "*:*" || Pattern::action(pattern).is_everything()
}

/// How the principal holds `*` on `*` unconditionally, or None: an unconditional Allow of
/// every action on every resource, with no Deny anywhere in its policies, and a boundary (if
/// any) that grants the same.
pub fn admin_routes(p: &Principal) -> Option<Vec<String>> {
    use crate::policy::document::Patterns;
    let full = |s: &crate::policy::document::Statement| {
        s.effect == Effect::Allow
            && !s.is_conditional()
            && matches!(&s.actions, Patterns::Only(a) if a.iter().any(|x| everything(x)))
            && matches!(&s.resources, Some(Patterns::Only(r)) if r.iter().any(|x| x == "*"))
    };
    let mut routes = Vec::new();
    for doc in &p.policies.identity {
        for s in &doc.document.statements {
            if s.effect == Effect::Deny {
                return None;
            }
            if full(s) {
                routes.push(format!("{} ({})", doc.source, s.label()));
            }
        }
    }
    if let Some(b) = &p.policies.boundary {
        let bounded = b.document.statements.iter().any(full)
            && b.document
                .statements
                .iter()
                .all(|s| s.effect == Effect::Allow);
        if !bounded {
            return None;
        }
    }
    (!routes.is_empty()).then_some(routes)
}

impl<'a> Analysis<'a> {
    pub fn of(principals: &'a Principals) -> Analysis<'a> {
        let mut admins = HashMap::new();
        let mut admins_by_kind: [Vec<&Principal>; 3] = Default::default();
        for p in &principals.all {
            if let Some(routes) = admin_routes(p) {
                admins.insert(p.arn.as_str(), routes);
                admins_by_kind[kind_index(p.kind)].push(p);
            }
        }
        let groups = principals
            .all
            .iter()
            .filter(|p| p.kind == Kind::Group)
            .map(|p| (p.name.as_str(), p))
            .collect();
        Analysis {
            principals,
            admins,
            admins_by_kind,
            groups,
            found: RefCell::default(),
        }
    }

    pub fn is_admin(&self, arn: &str) -> bool {
        self.admins.contains_key(arn)
    }

    fn targets(&self, p: &Principal, target: Target) -> Vec<String> {
        let admins_of = |kind: Kind| {
            self.admins_by_kind[kind_index(kind)]
                .iter()
                .filter(move |q| q.arn != p.arn)
        };
        match target {
            Target::Itself => vec![p.arn.clone()],
            Target::OwnGroup => p
                .groups
                .iter()
                .filter_map(|g| self.groups.get(g.as_str()).map(|q| q.arn.clone()))
                .collect(),
            Target::OwnPolicy => p.customer_policies.clone(),
            Target::AdminUser => admins_of(Kind::User).map(|q| q.arn.clone()).collect(),
            Target::AdminGroup => admins_of(Kind::Group).map(|q| q.arn.clone()).collect(),
            Target::AdminRole => admins_of(Kind::Role).map(|q| q.arn.clone()).collect(),
            Target::AdminRoleFor(service) => admins_of(Kind::Role)
                .filter(|q| q.trust.as_ref().is_some_and(|t| trusts_service(t, service)))
                .map(|q| q.arn.clone())
                .collect(),
        }
    }

    /// The methods by which `p` could make itself an admin; none for an admin.
    pub fn escalations(&self, p: &Principal) -> Vec<Escalation> {
        if let Some(found) = self.found.borrow().get(&p.arn) {
            return found.clone();
        }
        let found = self.find_escalations(p);
        self.found.borrow_mut().insert(p.arn.clone(), found.clone());
        found
    }

    fn find_escalations(&self, p: &Principal) -> Vec<Escalation> {
        if self.is_admin(&p.arn) {
            return Vec::new();
        }
        let mut found = Vec::new();
        for m in METHODS.iter().filter(|m| m.kinds.contains(&p.kind)) {
            // Most principals are allowed none of a method's actions on anything: skip the
            // method before evaluating it once per target.
            if !m
                .needs
                .iter()
                .all(|(action, _)| p.policies.may_allow(action))
            {
                continue;
            }
            let mut best: Option<Escalation> = None;
            for target in self.targets(p, m.target) {
                // Assuming a role also needs the role's trust to name the principal (a rewritten
                // trust does, by construction).
                if m.id == "assume-admin-role" {
                    let trusted = self
                        .principals
                        .get(&target)
                        .and_then(|r| r.trust.as_ref())
                        .is_some_and(|t| trusts_principal(t, &p.arn));
                    if !trusted {
                        continue;
                    }
                }
                let mut statements = Vec::new();
                let mut weakest = Decision::Allowed;
                for (action, on) in m.needs {
                    let resource = match on {
                        On::Target => target.as_str(),
                        On::Anything => "*",
                    };
                    let answer = p.policies.evaluate(action, resource);
                    weakest = weakest.min(answer.decision);
                    statements.extend(answer.statements);
                }
                if weakest < Decision::Conditional {
                    continue;
                }
                let e = Escalation {
                    method: m.id,
                    description: m.description,
                    target,
                    statements,
                    conditional: weakest == Decision::Conditional,
                };
                let better = best
                    .as_ref()
                    .is_none_or(|b| b.conditional && !e.conditional);
                if better {
                    best = Some(e);
                }
                if best.as_ref().is_some_and(|b| !b.conditional) {
                    break;
                }
            }
            found.extend(best);
        }
        found
    }

    /// Whether `p` may pass any role at all to a service (iam:PassRole on every role,
    /// unconditionally): two unrelated role ARNs, one with a path, stand for "any".
    pub fn passes_any_role(&self, p: &Principal) -> Option<Vec<Deciding>> {
        let account = &self.principals.account;
        let mut statements = Vec::new();
        for role in [
            format!("arn:aws:iam::{account}:role/trailwatch-any-role"),
            format!("arn:aws:iam::{account}:role/service-role/x/Any0ther"),
        ] {
            let a = p.policies.evaluate("iam:PassRole", &role);
            if a.decision != Decision::Allowed {
                return None;
            }
            statements = a.statements;
        }
        Some(statements)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::inventory::{Authorization, Group, InlinePolicy, ManagedPolicy, Role, User};

    const ACCOUNT: &str = "111122223333";
    const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

    fn arn(kind: &str, name: &str) -> String {
        format!("arn:aws:iam::{ACCOUNT}:{kind}/{name}")
    }

    fn inline(document: &str) -> Vec<InlinePolicy> {
        vec![InlinePolicy {
            name: "grant".into(),
            document: document.into(),
        }]
    }

    /// An account with an admin user, an admin group and an admin role every service (and
    /// the account) may assume, and an attacker (a user in group devs holding the customer
    /// policy dev-policy, or a role) whose inline policy is `document`.
    fn account(attacker: Kind, document: &str) -> Authorization {
        let trust = r#"{"Statement":{"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com","lambda.amazonaws.com","cloudformation.amazonaws.com","glue.amazonaws.com","sagemaker.amazonaws.com","codebuild.amazonaws.com","ecs-tasks.amazonaws.com","datapipeline.amazonaws.com"],"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}}"#;
        let mut auth = Authorization {
            users: vec![User {
                name: "boss".into(),
                arn: arn("user", "boss"),
                attached: vec![ADMIN.into()],
                ..User::default()
            }],
            groups: vec![
                Group {
                    name: "admins".into(),
                    arn: arn("group", "admins"),
                    attached: vec![ADMIN.into()],
                    ..Group::default()
                },
                Group {
                    name: "devs".into(),
                    arn: arn("group", "devs"),
                    attached: vec![arn("policy", "dev-policy")],
                    ..Group::default()
                },
            ],
            roles: vec![Role {
                name: "deploy-admin".into(),
                arn: arn("role", "deploy-admin"),
                trust: Some(trust.into()),
                attached: vec![ADMIN.into()],
                ..Role::default()
            }],
            policies: vec![ManagedPolicy {
                name: "dev-policy".into(),
                arn: arn("policy", "dev-policy"),
                attachment_count: 1,
                default_document: Some(
                    r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#
                        .into(),
                ),
            }],
            aws_policies: Ok(Vec::new()),
        };
        match attacker {
            Kind::User => auth.users.push(User {
                name: "mallory".into(),
                arn: arn("user", "mallory"),
                inline: inline(document),
                groups: vec!["devs".into()],
                ..User::default()
            }),
            _ => auth.roles.push(Role {
                name: "mallory".into(),
                arn: arn("role", "mallory"),
                inline: inline(document),
                attached: vec![arn("policy", "dev-policy")],
                ..Role::default()
            }),
        }
        auth
    }

    fn found(attacker: Kind, document: &str) -> Vec<(String, bool)> {
        let auth = account(attacker, document);
        let principals = Principals::of(&auth, ACCOUNT);
        let analysis = Analysis::of(&principals);
        let p = principals.all.iter().find(|p| p.name == "mallory").unwrap();
        analysis
            .escalations(p)
            .into_iter()
            .map(|e| (e.method.to_string(), e.conditional))
            .collect()
    }

    fn grant(actions: &[&str], extra: &str) -> String {
        format!(
            r#"{{"Statement":[{{"Effect":"Allow","Action":{},"Resource":"*"{extra}}}]}}"#,
            serde_json::to_string(actions).unwrap()
        )
    }

    #[test]
    fn each_method_is_found_and_each_narrowing_removes_it() {
        for m in METHODS {
            let kind = m.kinds[0];
            let actions: Vec<&str> = m.needs.iter().map(|(a, _)| *a).collect();
            let plain = found(kind, &grant(&actions, ""));
            assert!(
                plain.contains(&(m.id.to_string(), false)),
                "{}: {plain:?}",
                m.id
            );
            // An explicit deny of one needed action removes it.
            let denied = format!(
                r#"{{"Statement":[{{"Effect":"Allow","Action":{},"Resource":"*"}},{{"Effect":"Deny","Action":"{}","Resource":"*"}}]}}"#,
                serde_json::to_string(&actions).unwrap(),
                actions[0]
            );
            assert!(
                !found(kind, &denied).iter().any(|(id, _)| id == m.id),
                "{}: denied",
                m.id
            );
            // A condition leaves it only conditional.
            let conditional = found(
                kind,
                &grant(
                    &actions,
                    r#","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}"#,
                ),
            );
            assert!(
                conditional.contains(&(m.id.to_string(), true)),
                "{}: {conditional:?}",
                m.id
            );
            // Nothing at all: nothing found.
            assert!(
                found(kind, &grant(&["s3:GetObject"], "")).is_empty(),
                "{}",
                m.id
            );
        }
    }

    #[test]
    fn self_service_on_its_own_user_is_not_escalation() {
        let own = r#"{"Statement":{"Effect":"Allow","Action":["iam:CreateAccessKey","iam:UpdateLoginProfile","iam:CreateLoginProfile"],"Resource":"arn:aws:iam::*:user/${aws:username}"}}"#;
        assert_eq!(found(Kind::User, own), vec![]);
        // The same on any user is.
        let any = own.replace("user/${aws:username}", "user/*");
        let methods: Vec<String> = found(Kind::User, &any).into_iter().map(|m| m.0).collect();
        assert_eq!(
            methods,
            [
                "create-access-key",
                "create-login-profile",
                "update-login-profile"
            ]
        );
    }

    #[test]
    fn broad_iam_writes_and_not_action_grants_escalate() {
        let iam_star = found(Kind::User, &grant(&["iam:*"], ""));
        assert!(iam_star.iter().any(|m| m.0 == "attach-user-policy"));
        let puts = found(Kind::User, &grant(&["iam:Put*"], ""));
        assert!(
            puts.iter().any(|m| m.0 == "put-user-policy")
                && puts.iter().any(|m| m.0 == "put-group-policy")
        );
        let not_s3 = r#"{"Statement":{"Effect":"Allow","NotAction":"s3:*","Resource":"*"}}"#;
        assert!(found(Kind::User, not_s3)
            .iter()
            .any(|m| m.0 == "attach-user-policy"));
        // NotAction that leaves IAM out leaves no IAM method (sts:AssumeRole stays in).
        let not_iam =
            r#"{"Statement":{"Effect":"Allow","NotAction":["iam:*","sts:*"],"Resource":"*"}}"#;
        assert_eq!(found(Kind::User, not_iam), vec![]);
    }

    #[test]
    fn admins_by_any_route_and_boundaries_that_limit_them() {
        let mut auth = account(
            Kind::User,
            r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
        );
        auth.users.push(User {
            name: "bounded".into(),
            arn: arn("user", "bounded"),
            attached: vec![ADMIN.into()],
            boundary: Some(arn("policy", "dev-policy")),
            ..User::default()
        });
        auth.users.push(User {
            name: "via-group".into(),
            arn: arn("user", "via-group"),
            groups: vec!["admins".into()],
            ..User::default()
        });
        let principals = Principals::of(&auth, ACCOUNT);
        let routes =
            |name: &str| admin_routes(principals.all.iter().find(|p| p.name == name).unwrap());
        assert_eq!(
            routes("mallory"),
            Some(vec!["inline policy grant (statement 1)".to_string()])
        );
        assert_eq!(
            routes("boss"),
            Some(vec![format!("managed policy {ADMIN} (statement 1)")])
        );
        assert_eq!(
            routes("via-group"),
            Some(vec![format!(
                "via group admins: managed policy {ADMIN} (statement 1)"
            )])
        );
        assert_eq!(
            routes("bounded"),
            None,
            "the boundary grants s3:GetObject only"
        );
        assert_eq!(routes("devs"), None);
    }

    #[test]
    fn passing_any_role() {
        let auth = account(Kind::User, &grant(&["iam:PassRole"], ""));
        let principals = Principals::of(&auth, ACCOUNT);
        let analysis = Analysis::of(&principals);
        let mallory = principals.all.iter().find(|p| p.name == "mallory").unwrap();
        assert!(analysis.passes_any_role(mallory).is_some());
        let narrow = r#"{"Statement":{"Effect":"Allow","Action":"iam:PassRole","Resource":"arn:aws:iam::111122223333:role/app-*"}}"#;
        let auth = account(Kind::User, narrow);
        let principals = Principals::of(&auth, ACCOUNT);
        let analysis = Analysis::of(&principals);
        let mallory = principals.all.iter().find(|p| p.name == "mallory").unwrap();
        assert!(analysis.passes_any_role(mallory).is_none());
    }
}
