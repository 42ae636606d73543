//! Sigma, trailwatch's rule language: documents, detections, conditions and modifiers.

pub mod condition;
pub mod detection;
pub mod modifiers;
pub mod rule;

pub use rule::{Parsed, Rule, RuleMeta};
