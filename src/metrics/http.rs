//! `/metrics`, `/healthz` (alive) and `/readyz` (ready: received from SQS, not draining, the
//! shared state table answering).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;

use super::Metrics;

/// Readiness as a latch: set after the first successful receive, cleared when draining; and
/// not ready while the shared state table is failing (messages then stay in the queue).
#[derive(Default)]
pub struct Health {
    received: AtomicBool,
    draining: AtomicBool,
    state_failing: AtomicBool,
}

impl Health {
    pub fn mark_received(&self) {
        self.received.store(true, Ordering::Relaxed);
    }
    pub fn mark_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }
    /// The last call to the shared state table failed (false) or succeeded (true).
    pub fn mark_state_available(&self, available: bool) {
        self.state_failing.store(!available, Ordering::Relaxed);
    }
    pub fn is_ready(&self) -> bool {
        self.received.load(Ordering::Relaxed)
            && !self.draining.load(Ordering::Relaxed)
            && !self.state_failing.load(Ordering::Relaxed)
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Metrics,
    health: Arc<Health>,
}

/// Binds the address and serves until the task is dropped.
pub async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    health: Arc<Health>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready_handler))
        .with_state(AppState { metrics, health });
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    }))
}

async fn metrics_handler(State(s): State<AppState>) -> ([(&'static str, &'static str); 1], String) {
    // Alerting rules cannot probe /readyz; the same answer as a gauge lets them see it.
    s.metrics.ready.set(i64::from(s.health.is_ready()));
    (
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        s.metrics.render(),
    )
}

async fn ready_handler(State(s): State<AppState>) -> (StatusCode, &'static str) {
    if s.health.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}
