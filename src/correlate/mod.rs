//! The correlation stage: an [`Engine`] keeps per-group windows on event time over the
//! observations detection gives, and raises correlation alerts (Sigma `event_count`,
//! `value_count`, `temporal`, `temporal_ordered`). Its open windows can be taken out as a
//! [`snapshot::Snapshot`] (state files, rule reloads) and a group can be counted outside it
//! ([`stored`]: groups kept in the shared table).

mod engine;
pub mod snapshot;
pub mod stored;
mod window;

pub use engine::{Engine, Limits};

/// Event times further ahead of this machine's clock than this are not trusted to move state
/// forward: one bad timestamp would otherwise make every other event look late (correlation)
/// or expire every suppression key.
const FUTURE_TOLERANCE_MS: i64 = 3_600_000;

/// The latest event time the daemon's state takes as real (now plus an hour).
pub fn horizon_ms() -> i64 {
    chrono::Utc::now().timestamp_millis() + FUTURE_TOLERANCE_MS
}
