//! The integration tests, one binary: a module per subject (see tests/README.md). One binary
//! links the library and the AWS SDK once, where a binary per file linked them once each.

mod common;

mod audit_moto;
mod audit_offline;
mod config_errors;
mod correlation;
mod daemon;
mod daemon_findings;
mod daemon_hold;
mod daemon_posture;
mod daemon_samples;
mod deploy;
mod filters;
mod html_report;
mod layering;
mod memory;
mod monitoring;
mod organization;
mod queue_consumer;
mod reader_props;
mod replay_cli;
mod replay_enqueue;
mod replay_s3;
mod rule_event_names;
mod security_hub;
mod shared_state;
mod sigma_semantics;
mod sink_dedupe;
mod synth_density;
