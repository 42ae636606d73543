//! The daemon's one error type: what stops it from starting.

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("metrics address {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
    #[error(transparent)]
    Aws(#[from] crate::config::aws::AwsSetupError),
}
