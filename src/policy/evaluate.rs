//! May a principal perform an action on a resource? IAM's identity-side evaluation within one
//! account: an explicit `Deny` in any policy wins; otherwise an `Allow` is needed in the
//! identity policies (the principal's own and, for a user, its groups') and, when a
//! permissions boundary is set, in the boundary too. A statement with a `Condition`, or whose
//! resource needs a variable the principal has no value for, depends on the request: it is
//! never an unconditional grant, and an unconditional grant beside a conditional `Deny` is
//! only conditional. Service control policies and session policies narrow further; they are
//! outside one account's view and are not evaluated.

use std::sync::Arc;

use super::document::{Document, Effect, Patterns, Statement};
use super::pattern::{Compiled, Pattern, Vars};

/// The answer, from least to most permissive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Decision {
    /// A `Deny` that applies whatever the request.
    ExplicitDeny,
    /// No `Allow` applies (or the boundary does not allow it).
    ImplicitDeny,
    /// Allowed for some requests: a condition, or a variable, decides.
    Conditional,
    Allowed,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::ExplicitDeny => "explicitly denied",
            Decision::ImplicitDeny => "not allowed",
            Decision::Conditional => "conditionally allowed",
            Decision::Allowed => "allowed",
        }
    }
}

/// A policy document and where the principal gets it from ("inline policy ops", "managed
/// policy arn:…", "via group admins: managed policy arn:…").
#[derive(Debug, Clone, PartialEq)]
pub struct Sourced {
    pub source: String,
    pub document: Document,
}

/// A statement that took part in a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deciding {
    pub source: String,
    pub statement: String,
    pub effect: Effect,
    /// It applies only to some requests.
    pub conditional: bool,
}

impl std::fmt::Display for Deciding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}", self.source, self.statement)?;
        if self.conditional {
            f.write_str(", conditional")?;
        }
        f.write_str(")")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub decision: Decision,
    /// The statements that decided: the denies for a deny, the allows (and any conditional
    /// deny) otherwise.
    pub statements: Vec<Deciding>,
}

/// Everything that decides a principal's permissions.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    pub identity: Vec<Arc<Sourced>>,
    pub boundary: Option<Arc<Sourced>>,
    pub vars: Vars,
}

/// How one statement bears on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applies {
    No,
    Always,
    /// Only for some requests (a condition or an unresolved variable).
    Sometimes,
}

/// Whether the statement's Action (or NotAction) covers `action`.
pub fn action_allows(statement: &Statement, action: &str) -> bool {
    action_matches(&statement.actions, action)
}

fn action_matches(patterns: &Patterns, action: &str) -> bool {
    match patterns {
        Patterns::Only(list) => list.iter().any(|p| Pattern::action(p).matches(action)),
        Patterns::AllBut(list) => !list.iter().any(|p| Pattern::action(p).matches(action)),
    }
}

fn resource_matches(patterns: &Option<Patterns>, resource: &str, vars: &Vars) -> Applies {
    let (list, inverted) = match patterns {
        None => return Applies::Always,
        Some(Patterns::Only(list)) => (list, false),
        Some(Patterns::AllBut(list)) => (list, true),
    };
    let mut undecidable = false;
    for p in list {
        match Pattern::resource(p, vars) {
            Compiled::Pattern(p) if p.matches(resource) => {
                return if inverted {
                    Applies::No
                } else {
                    Applies::Always
                }
            }
            Compiled::Pattern(_) => {}
            Compiled::Undecidable(_) => undecidable = true,
        }
    }
    match (undecidable, inverted) {
        (true, _) => Applies::Sometimes,
        (false, true) => Applies::Always,
        (false, false) => Applies::No,
    }
}

/// Whether `statement` bears on `action` on `resource` for a principal with `vars`.
fn applies(statement: &Statement, action: &str, resource: &str, vars: &Vars) -> Applies {
    if !action_matches(&statement.actions, action) {
        return Applies::No;
    }
    match resource_matches(&statement.resources, resource, vars) {
        Applies::Always if statement.is_conditional() => Applies::Sometimes,
        other => other,
    }
}

/// The decision of a set of documents on their own.
fn decide<'a>(
    documents: impl Iterator<Item = &'a Sourced>,
    action: &str,
    resource: &str,
    vars: &Vars,
) -> Answer {
    let (mut deny, mut maybe_deny, mut allow, mut maybe_allow) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for doc in documents {
        for s in &doc.document.statements {
            let how = applies(s, action, resource, vars);
            if how == Applies::No {
                continue;
            }
            let d = Deciding {
                source: doc.source.clone(),
                statement: s.label(),
                effect: s.effect,
                conditional: how == Applies::Sometimes,
            };
            match (s.effect, how) {
                (Effect::Deny, Applies::Always) => deny.push(d),
                (Effect::Deny, _) => maybe_deny.push(d),
                (Effect::Allow, Applies::Always) => allow.push(d),
                (Effect::Allow, _) => maybe_allow.push(d),
            }
        }
    }
    if !deny.is_empty() {
        return Answer {
            decision: Decision::ExplicitDeny,
            statements: deny,
        };
    }
    let decision = match (
        allow.is_empty(),
        maybe_allow.is_empty(),
        maybe_deny.is_empty(),
    ) {
        (false, _, true) => Decision::Allowed,
        (false, _, false) | (true, false, _) => Decision::Conditional,
        (true, true, _) => Decision::ImplicitDeny,
    };
    let statements = match decision {
        Decision::Allowed => allow,
        Decision::Conditional => allow
            .into_iter()
            .chain(maybe_allow)
            .chain(maybe_deny)
            .collect(),
        _ => Vec::new(),
    };
    Answer {
        decision,
        statements,
    }
}

impl PolicySet {
    /// May the principal perform `action` (`service:Operation`) on `resource` (an ARN, or
    /// `*`)?
    pub fn evaluate(&self, action: &str, resource: &str) -> Answer {
        let identity = decide(
            self.identity.iter().map(|d| &**d),
            action,
            resource,
            &self.vars,
        );
        let Some(boundary) = &self.boundary else {
            return identity;
        };
        let bounded = decide(std::iter::once(&**boundary), action, resource, &self.vars);
        match (identity.decision, bounded.decision) {
            (Decision::ExplicitDeny, _) => identity,
            (_, Decision::ExplicitDeny) => bounded,
            (Decision::ImplicitDeny, _) => identity,
            (_, Decision::ImplicitDeny) => Answer {
                decision: Decision::ImplicitDeny,
                statements: Vec::new(),
            },
            (a, b) => Answer {
                decision: a.min(b),
                statements: identity
                    .statements
                    .into_iter()
                    .chain(bounded.statements)
                    .collect(),
            },
        }
    }

    /// Whether some statement could allow `action` on some resource for some request: false
    /// means [`PolicySet::evaluate`] denies it whatever the resource (a quick test before
    /// evaluating it on many).
    pub fn may_allow(&self, action: &str) -> bool {
        let allows = |doc: &Sourced| {
            doc.document
                .statements
                .iter()
                .any(|s| s.effect == Effect::Allow && action_allows(s, action))
        };
        self.identity.iter().any(|d| allows(d)) && self.boundary.as_deref().is_none_or(allows)
    }

    pub fn is_allowed(&self, action: &str, resource: &str) -> bool {
        self.evaluate(action, resource).decision == Decision::Allowed
    }
}

#[cfg(test)]
mod tests;
