//! Permissions: who can do what. A policy evaluator (pure functions, no AWS calls) over the
//! documents the audit read, the checks' view of every principal's effective permissions,
//! the known ways to escalate to admin, what "public" means for a trust or resource policy,
//! what a policy change on the trail makes of the principals it touches, and the record of
//! which actions each principal actually used.

pub mod actions;
pub mod change;
pub mod document;
pub mod escalation;
pub mod evaluate;
pub mod exposure;
pub mod pattern;
pub mod principals;
pub mod unused;
pub mod usage;

pub use document::{Document, Effect, Statement};
pub use evaluate::{Answer, Deciding, Decision, PolicySet, Sourced};
pub use pattern::Vars;
pub use principals::{is_aws_managed, Kind, Principal, Principals};
