//! trailwatch: a real-time AWS CloudTrail monitor and replay engine with Sigma rules.
//!
//! The pipeline, one module per stage:
//! `source` (where work comes from) → `trail` (bytes → records) → `rules` (Sigma matcher)
//! → `alert` (what fired, as JSON) → output. `replay` drives it over local files.

pub mod alert;
pub mod replay;
pub mod rules;
pub mod source;
pub mod synth;
pub mod trail;
