//! The IAM policy language, without AWS calls: documents as AWS writes them, action and
//! resource patterns with policy variables, the evaluation of a set of policies (may P do A on
//! R: yes, conditionally, no), and what "public" means for a trust or resource policy. The
//! permissions audit and the detections that read policies out of events share it.

pub mod document;
pub mod evaluate;
pub mod exposure;
pub mod pattern;

pub use document::{Document, Effect, Statement};
pub use evaluate::{Answer, Deciding, Decision, PolicySet, Sourced};
pub use pattern::Vars;
