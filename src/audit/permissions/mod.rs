//! Permissions: who can do what. The policy evaluator (`crate::policy`) over the documents the
//! audit read: the checks' view of every principal's effective permissions, the known ways to
//! escalate to admin, what a policy change on the trail makes of the principals it touches, and the record of
//! which actions each principal actually used.

pub mod actions;
pub mod change;
pub mod escalation;
pub mod principals;
pub mod unused;
pub mod usage;

pub use principals::{is_aws_managed, Kind, Principal, Principals};
