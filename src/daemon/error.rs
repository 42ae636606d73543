//! The daemon's one error type: what stops it from starting, and what goes wrong with its
//! state files (which is logged, never fatal once running).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("metrics address {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("sinks: {0}")]
    Sinks(#[from] crate::sink::SinkSetupError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Aws(#[from] crate::config::aws::AwsSetupError),
    #[error(transparent)]
    Suppress(#[from] crate::suppress::SuppressError),
    #[error("{}: {source}", path.display())]
    StateIo {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a trailwatch {kind}: {source}", path.display())]
    StateDecode {
        path: PathBuf,
        kind: &'static str,
        source: serde_json::Error,
    },
    #[error("{}: state version {found} is not {expected}", path.display())]
    StateVersion {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("encoding the state: {0}")]
    StateEncode(#[source] serde_json::Error),
}
