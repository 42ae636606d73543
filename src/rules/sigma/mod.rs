//! Sigma, trailwatch's rule language: documents, detections, conditions and modifiers.

pub mod condition;
pub mod correlation;
pub mod detection;
pub mod meta;
pub mod modifiers;
pub mod rule;
pub mod timespan;

pub use meta::{RuleInfo, RuleMeta, Suppress};
pub use rule::{Feed, Parsed, Rule};
