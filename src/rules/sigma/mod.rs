//! Sigma, trailwatch's rule language: documents, detections, conditions and modifiers.

pub mod condition;
pub mod correlation;
pub mod detection;
pub mod modifiers;
pub mod rule;

pub use rule::{Feed, Parsed, Rule, RuleMeta, Suppress};
