//! `trailwatch run`: the long-running consumer. SQS messages name S3 log objects (or carry
//! EventBridge events); each is read, matched and its alerts delivered to every sink before
//! the message is deleted; one whose sinks fail is held until they accept. See
//! docs/daemon.md for the guarantees.

pub mod consumer;
mod dead_letters;
mod error;
mod findings;
pub mod handover;
mod message;
mod posture;
pub mod probe;
mod read;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::metrics::http::Health;
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::source::queue::sqs::SqsQueue;
use crate::source::queue::Received;
use crate::state::{file as state_file, State};

use consumer::{Handler, Outcome};
pub use error::DaemonError;
use message::Context;

struct Shared {
    ctx: Context,
    pipeline: Pipeline,
    state_file: Option<std::path::PathBuf>,
}

impl Handler for Shared {
    async fn handle(&self, message: &Received, stop: &CancellationToken) -> Outcome {
        message::handle(&self.ctx, message, stop).await
    }

    async fn recovered(&self) {
        self.ctx.sinks.recovered().await
    }
}

pub async fn run(pipeline: Pipeline) -> Result<(), DaemonError> {
    let sdk = crate::config::aws::load().await?;
    let cfg = &pipeline.config;
    let metrics = Metrics::new();
    metrics.rules_loaded.set(pipeline.rules.len() as i64);
    let health = Arc::new(Health::default());
    let server = crate::metrics::http::serve(cfg.metrics.addr, metrics.clone(), health.clone())
        .await
        .map_err(|source| DaemonError::Bind {
            addr: cfg.metrics.addr,
            source,
        })?;
    let state = pipeline.state(Some(&sdk), &metrics, Some(health.clone()))?;
    let sinks = pipeline.sinks(Some(&sdk), metrics.clone(), state.clone())?;
    let shared_table = cfg.state.shared_table().ok().flatten();
    tracing::info!(
        queues = cfg.sqs.queue_urls.len(),
        rules = pipeline.rules.len(),
        sinks = ?sinks.names(),
        metrics = %cfg.metrics.addr,
        shared_state = shared_table,
        "trailwatch running"
    );
    let state_file = cfg.state_file();
    restore(&state_file, &*state, shared_table.is_some());
    let (posture, triggers) = match start_posture(&pipeline, &sdk, &state).await {
        Some((monitor, rx)) => (Some(monitor), Some(rx)),
        None => (None, None),
    };
    let watch = match posture {
        Some(_) => posture::watch(),
        None => Default::default(),
    };
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let shared = Arc::new(Shared {
        ctx: Context {
            s3: crate::source::s3::client(&sdk),
            rules: RwLock::new(pipeline.rules.clone()),
            sinks,
            metrics,
            filters: cfg.filters.clone(),
            exclusions: pipeline.exclusions.clone(),
            state,
            posture: posture.clone(),
            watch,
            record_usage: pipeline.record_usage,
            budget: Arc::new(Semaphore::new(PENDING_BUDGET)),
            unrecognized: message::unrecognized_memory(),
            findings: cfg.findings.clone(),
        },
        state_file,
        pipeline,
    });
    let cfg = &shared.pipeline.config;
    let queues: Vec<Arc<SqsQueue>> = cfg
        .sqs
        .queue_urls
        .iter()
        .map(|url| Arc::new(SqsQueue::new(sqs.clone(), url)))
        .collect();
    let background = CancellationToken::new();
    let dead_letters = tokio::spawn(dead_letters::watch(
        queues.clone(),
        sqs.clone(),
        shared.ctx.metrics.clone(),
        Duration::from_secs(cfg.sqs.dead_letter_check_secs),
        background.clone(),
    ));
    let shutdown = CancellationToken::new();
    let consuming = tokio::spawn(consumer::consume(
        queues,
        shared.clone(),
        consumer::Settings::of(cfg),
        shared.ctx.metrics.clone(),
        health,
        shutdown.clone(),
    ));
    let posture_task = match (posture, triggers) {
        (Some(monitor), Some(rx)) => {
            let (shared, stop) = (shared.clone(), background.clone());
            Some(tokio::spawn(async move {
                posture::run(monitor, rx, &shared.ctx.sinks, &shared.ctx.metrics, stop).await
            }))
        }
        _ => None,
    };
    let saver_stop = CancellationToken::new();
    let saver = tokio::spawn(save_periodically(shared.clone(), saver_stop.clone()));

    wait_for_shutdown(&shared).await;
    background.cancel();
    let _ = dead_letters.await;
    // Drain: stop receiving, give in-flight work the grace period, then stop it (a sink call
    // in flight finishes and what it delivered is remembered) and release it. Readers are
    // joined by then, so the state saved below holds every delivery made.
    shutdown.cancel();
    let _ = consuming.await;
    if let Some(task) = posture_task {
        let _ = task.await;
    }
    shared.ctx.sinks.flush().await;
    saver_stop.cancel();
    let _ = saver.await;
    flush_usage(&shared).await;
    match save_state(&shared) {
        Some(Ok(groups)) => tracing::info!(groups, "state saved"),
        Some(Err(e)) => tracing::error!(error = %e, "state not saved"),
        None => {}
    }
    server.abort();
    tracing::info!("trailwatch stopped");
    Ok(())
}

/// Says where the state is kept, and restores the state file when there is one.
fn restore(path: &Option<std::path::PathBuf>, state: &dyn State, shared_table: bool) {
    match path {
        Some(path) => {
            tracing::info!("state: {}", path.display());
            match state_file::load(path, state) {
                Ok((groups, delivered)) => {
                    tracing::info!(path = %path.display(), groups, delivered, "state restored: correlation windows, suppression keys, delivered alert ids")
                }
                // Monitoring must not stop over a bad state file: start with empty windows.
                Err(e) => {
                    tracing::error!(error = %e, "state not restored; starting with empty windows")
                }
            }
        }
        None if shared_table => tracing::info!(
            "state: shared table; correlation windows not shared are in memory only (set state.file to keep them)"
        ),
        None => tracing::warn!(
            "state: memory only — a restart may resend alerts (set state.file, or run with $STATE_DIRECTORY)"
        ),
    }
}

/// Alerts and observations read but not yet delivered, over every message in flight: about
/// 3 KB each in memory (the record travels with its alert), so about 12 MB at most, however
/// dense the objects and however many are read at once.
const PENDING_BUDGET: usize = 4_000;

/// How often the state file is written while running, so a crash loses (and re-sends) at most
/// this much of the sinks' delivered ids and of the correlation windows (and the shared
/// table is given the usage recorded meanwhile).
const STATE_SAVE_EVERY: Duration = Duration::from_secs(30);

/// Writes the state file, when there is one. Returns the open correlation groups written.
fn save_state(shared: &Shared) -> Option<Result<usize, state_file::FileError>> {
    let path = shared.state_file.as_ref()?;
    Some(state_file::save(path, &*shared.ctx.state))
}

async fn save_periodically(shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(STATE_SAVE_EVERY) => {}
        }
        if let Some(Err(e)) = tokio::task::block_in_place(|| save_state(&shared)) {
            tracing::warn!(error = %e, "state not saved");
        }
        flush_usage(&shared).await;
    }
}

/// Writes the usage recorded since the last time to the shared table, if there is one.
async fn flush_usage(shared: &Shared) {
    if let Err(e) = shared.ctx.state.flush_usage().await {
        tracing::warn!(error = %e, "usage record not written; kept for the next attempt");
    }
}

/// The posture monitor for the accounts `[audit]` names (the daemon's own when none), or
/// None when the audit is off or no account can be identified (detection goes on).
async fn start_posture(
    pipeline: &Pipeline,
    sdk: &aws_config::SdkConfig,
    state: &Arc<dyn State>,
) -> Option<(
    Arc<posture::PostureMonitor>,
    tokio::sync::mpsc::UnboundedReceiver<crate::audit::trigger::Trigger>,
)> {
    let cfg = &pipeline.config;
    if !cfg.audit.enabled {
        return None;
    }
    let mut settings = cfg.audit.clone();
    let accounts = match posture::reachable(sdk, &settings).await {
        Ok((accounts, organization)) => {
            settings.trusted_accounts.extend(organization);
            accounts
        }
        Err(e) => {
            tracing::error!(error = %e, "posture audit off");
            return None;
        }
    };
    if accounts.is_empty() {
        return None;
    }
    tracing::info!(accounts = ?accounts.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), interval = ?cfg.audit.interval, "posture audit on");
    settings.state_file = cfg.posture_state_file();
    let usage = pipeline.record_usage.then(|| state.clone());
    Some(posture::PostureMonitor::new(
        sdk.clone(),
        accounts,
        settings,
        usage,
    ))
}

/// Returns on SIGTERM or SIGINT; reloads rules on SIGHUP.
async fn wait_for_shutdown(shared: &Shared) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    let mut hup = signal(SignalKind::hangup()).expect("SIGHUP handler");
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: draining"); return }
            _ = int.recv() => { tracing::info!("SIGINT: draining"); return }
            _ = hup.recv() => reload(shared),
        }
    }
}

/// SIGHUP: the rules again, with the configuration read at start; on failure the running
/// set stays.
fn reload(shared: &Shared) {
    let settings = shared.pipeline.state_settings();
    let reloaded = shared.pipeline.reload_rules().and_then(|rules| {
        shared.ctx.state.reload(&rules, &settings)?;
        Ok(rules)
    });
    match reloaded {
        Ok(rules) => {
            shared.ctx.metrics.rules_loaded.set(rules.len() as i64);
            tracing::info!(rules = rules.len(), "SIGHUP: rules reloaded");
            *shared.ctx.rules.write().expect("rules lock") = Arc::new(rules);
        }
        Err(e) => tracing::error!(error = %e, "SIGHUP: rules not reloaded, the running set stays"),
    }
}
