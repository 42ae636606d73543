//! trailwatch: a real-time AWS CloudTrail monitor and replay engine with Sigma rules.
//!
//! The pipeline, one module per stage:
//! `source` (where work comes from) → `trail` (bytes → records) → `rules` (Sigma matcher)
//! → `alert` (what fired, as JSON) → `correlate` (windows over base-rule matches) →
//! `suppress` (one alert per key per window) → `sink` (SNS, webhooks, files). `replay` drives
//! it over local files or S3; `daemon` over SQS notifications, with `metrics` for Prometheus. Beside the chain,
//! `audit` reads the account's IAM posture and judges it against the CIS checks; `policy` is the
//! IAM policy language both the audit and the rules that read policies out of events use.

pub mod alert;
pub mod audit;
pub mod config;
pub mod correlate;
pub mod daemon;
pub mod detect;
pub mod metrics;
pub mod pipeline;
pub mod policy;
pub mod replay;
pub mod rules;
pub mod sink;
pub mod source;
pub mod state;
pub mod suppress;
pub mod synth;
pub mod trail;
