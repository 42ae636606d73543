//! The posture half of the daemon: a full audit at start and every `audit.interval`, and a
//! re-audit of what an event changed, seconds after it arrives (debounced, so a burst of
//! changes to one user is read once). Only changes reach the sinks — a new FAIL, or a FAIL
//! resolved — and the last findings are kept in `audit.state_file`, so a restart does not
//! send them again. Alerts about an audited user or role carry its posture.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::alert::Alert;
use crate::audit::change::{Posture, PostureChange};
use crate::audit::collect::Account;
use crate::audit::inventory::{ApiError, Authorization, Read};
use crate::audit::permissions::change;
use crate::audit::permissions::usage::Usage;
use crate::audit::trigger::{Scope, Trigger};
use crate::audit::{self, AuditConfig, PrincipalPosture, Status};
use crate::metrics::events::{InternalEvent, PostureAudited};
use crate::metrics::Metrics;
use crate::sink::SinkSet;
use crate::state::State;

const STATE_VERSION: u32 = 1;

/// What survives a restart: the last findings, and changes no sink has accepted yet.
#[derive(Default, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    posture: Posture,
    pending: Vec<PostureChange>,
    principals: BTreeMap<String, PrincipalPosture>,
}

pub struct PostureMonitor {
    /// The daemon's own AWS configuration: with `organization_role`, each full audit lists
    /// the organization's accounts again through it.
    base: aws_config::SdkConfig,
    accounts: RwLock<Vec<Account>>,
    settings: AuditConfig,
    state_file: Option<PathBuf>,
    state: Mutex<StateFile>,
    principals: RwLock<HashMap<String, PrincipalPosture>>,
    triggers: mpsc::UnboundedSender<Trigger>,
    /// Where the daemon records what principals use (`[usage] record`), for
    /// unused-permissions in the full audits.
    usage: Option<Arc<dyn State>>,
    /// Per account, the principals and policies the last audit read, with when: what a
    /// policy change's alert is judged against.
    authorizations: RwLock<HashMap<String, (Arc<Authorization>, String)>>,
    /// Per account, the regions the last full audit covered: events from others are not
    /// re-audited either.
    regions: RwLock<HashMap<String, Vec<String>>>,
}

/// The events a reader must keep for the posture monitor.
pub fn watch() -> super::handover::Watch {
    Arc::new(audit::trigger::event_names().collect())
}

impl PostureMonitor {
    /// The monitor and the receiving end of its trigger queue (for [`run`]).
    pub fn new(
        base: aws_config::SdkConfig,
        accounts: Vec<Account>,
        settings: AuditConfig,
        usage: Option<Arc<dyn State>>,
    ) -> (Arc<PostureMonitor>, mpsc::UnboundedReceiver<Trigger>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut state = StateFile::default();
        if let Some(path) = &settings.state_file {
            match crate::state::file::read(
                path,
                "posture state file",
                STATE_VERSION,
                |f: &StateFile| f.version,
            ) {
                Ok(Some(s)) => {
                    tracing::info!(path = %path.display(), findings = s.posture.count(), "posture state restored");
                    state = s;
                }
                Ok(None) => {}
                // A bad file must not stop monitoring: the first audit then sends every FAIL.
                Err(e) => tracing::error!(error = %e, "posture state not restored"),
            }
        }
        let principals = state
            .principals
            .values()
            .map(|p| (p.arn.clone(), p.clone()))
            .collect();
        let monitor = PostureMonitor {
            base,
            accounts: RwLock::new(accounts),
            state_file: settings.state_file.clone(),
            settings,
            state: Mutex::new(state),
            principals: RwLock::new(principals),
            triggers: tx,
            usage,
            authorizations: RwLock::default(),
            regions: RwLock::default(),
        };
        (Arc::new(monitor), rx)
    }

    /// Queues the re-audits a CloudTrail record calls for (cheap: most records are not
    /// IAM changes and were not kept by the reader).
    pub fn observe(&self, record: &str) {
        if let Some(t) = audit::trigger::of(record) {
            tracing::debug!(event = %t.info.event_name, scopes = ?t.scopes, "posture re-audit queued");
            let _ = self.triggers.send(t);
        }
    }

    /// Adds the actor's posture to alerts about an audited IAM user or role, and to the
    /// alert of a policy change what it makes of the principals it touches.
    pub fn enrich(&self, alerts: &mut [Alert]) {
        {
            let principals = self.principals.read().expect("principals lock");
            for a in alerts.iter_mut() {
                if let Some(arn) = a.event.actor.arn.as_deref().and_then(iam_arn) {
                    a.posture = principals.get(&arn).cloned();
                }
            }
        }
        for a in alerts {
            let change = a
                .event
                .name
                .as_deref()
                .is_some_and(|n| change::EVENTS.contains(&n));
            if change && a.event.error_code.is_none() {
                self.judge_change(a);
            }
        }
    }

    /// What the last audit knows of an IAM user or role (or the role of a session ARN).
    pub fn of_principal(&self, arn: &str) -> Option<PrincipalPosture> {
        let arn = iam_arn(arn)?;
        self.principals
            .read()
            .expect("principals lock")
            .get(&arn)
            .cloned()
    }

    /// The principals a policy change touched, judged on the last audit of its account.
    fn judge_change(&self, alert: &mut Alert) {
        let Some(account) = alert.event.account.as_deref() else {
            return;
        };
        let Some((auth, audited_at)) = self
            .authorizations
            .read()
            .expect("authorizations lock")
            .get(account)
            .cloned()
        else {
            return;
        };
        let Ok(record) = serde_json::from_str::<serde_json::Value>(alert.record.get()) else {
            return;
        };
        let targets = change::touched(&auth, account, &record);
        if targets.is_empty() {
            return;
        }
        let posture = alert.posture.get_or_insert_with(|| PrincipalPosture {
            arn: alert
                .event
                .actor
                .arn
                .as_deref()
                .unwrap_or_default()
                .to_string(),
            audited_at,
            ..PrincipalPosture::default()
        });
        posture.targets = targets;
    }

    fn keep_authorization(&self, account: &str, report: &audit::Report, at: &str) {
        if let Some(auth) = &report.authorization {
            self.authorizations
                .write()
                .expect("authorizations lock")
                .insert(account.to_string(), (auth.clone(), at.to_string()));
        }
    }

    fn account(&self, id: Option<&str>) -> Option<Account> {
        let accounts = self.accounts.read().expect("accounts lock");
        match id {
            Some(id) => accounts.iter().find(|a| a.id == id).cloned(),
            None => accounts.first().cloned(),
        }
    }

    /// With `organization_role`, the organization's accounts as they are now: accounts that
    /// joined are audited from this audit on. A failed listing keeps the last ones.
    async fn refresh_accounts(&self) {
        if self.settings.organization_role.is_none() {
            return;
        }
        match reachable(&self.base, &self.settings).await {
            Ok((accounts, _)) if !accounts.is_empty() => {
                *self.accounts.write().expect("accounts lock") = accounts;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "organization not listed; auditing the accounts of the last listing")
            }
        }
    }

    /// The usage record, read once for every account's audit.
    async fn usage(&self) -> Read<Arc<Usage>> {
        let state = self.usage.as_ref()?;
        Some(state.usage().await.map(Arc::new).map_err(|e| ApiError {
            call: "dynamodb:Query",
            message: e.to_string(),
        }))
    }

    async fn full_audit(&self, sinks: &SinkSet, metrics: &Metrics) {
        self.refresh_accounts().await;
        let usage = self.usage().await;
        let accounts = self.accounts.read().expect("accounts lock").clone();
        for account in &accounts {
            let started = Instant::now();
            let now = chrono::Utc::now();
            let report = audit::audit(account, &self.settings, usage.clone(), now).await;
            let errors = report
                .findings
                .iter()
                .filter(|f| f.status == Status::Error)
                .count();
            let at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            self.keep_authorization(&account.id, &report, &at);
            self.regions
                .write()
                .expect("regions lock")
                .insert(account.id.clone(), report.regions.clone());
            // Security Hub is brought in step after the sinks have the changes: people hear
            // first.
            let for_hub = self.settings.security_hub.then(|| report.findings.clone());
            let changes = {
                let mut state = self.state.lock().expect("posture lock");
                let changes = state.posture.apply(
                    report.findings,
                    &BTreeSet::new(),
                    |f| f.account == account.id,
                    &at,
                );
                state
                    .principals
                    .retain(|_, p| !p.arn.contains(&format!("::{}:", account.id)));
                state.principals.extend(report.principals);
                changes
            };
            PostureAudited {
                kind: "full",
                account: &account.id,
                scope: None,
                event: None,
                changes: changes.len(),
                errors,
                seconds: started.elapsed().as_secs_f64(),
            }
            .emit(metrics);
            metrics
                .posture_last_run_timestamp_seconds
                .set(now.timestamp());
            self.after_audit(metrics);
            self.send(changes, sinks, metrics).await;
            if let Some(findings) = for_hub {
                self.security_hub(account, &findings, &|_| true, now).await;
            }
        }
    }

    /// Re-audits the scopes a burst of events touched, each once.
    async fn reaudit(&self, triggers: Vec<Trigger>, sinks: &SinkSet, metrics: &Metrics) {
        let mut scopes: BTreeMap<(String, Scope), audit::change::TriggerInfo> = BTreeMap::new();
        for t in triggers {
            let Some(account) = self.account(t.account.as_deref()) else {
                tracing::debug!(account = ?t.account, "event in an account that is not audited");
                continue;
            };
            let regions = self.regions.read().expect("regions lock");
            let regions = regions.get(&account.id);
            for scope in t.scopes {
                // Regions the full audit does not cover stay out of the event-driven one too.
                if matches!(&scope, Scope::Region(r) if !regions.is_some_and(|list| list.contains(r)))
                {
                    continue;
                }
                scopes
                    .entry((account.id.clone(), scope))
                    .or_insert_with(|| t.info.clone());
            }
        }
        for ((account_id, scope), info) in scopes {
            let Some(account) = self.account(Some(&account_id)) else {
                continue;
            };
            let account = &account;
            let started = Instant::now();
            let now = chrono::Utc::now();
            let (report, failed) = audit::reaudit(account, &self.settings, &scope, now).await;
            let at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            self.keep_authorization(&account_id, &report, &at);
            let for_hub = self.settings.security_hub.then(|| report.findings.clone());
            let mut changes = {
                let mut state = self.state.lock().expect("posture lock");
                let changes = state.posture.apply(
                    report.findings,
                    &failed,
                    |f| f.account == account_id && scope.covers(f),
                    &at,
                );
                for (arn, p) in report.principals {
                    let entry = state.principals.entry(arn).or_insert_with(|| p.clone());
                    if p.mfa.is_some() {
                        entry.mfa = p.mfa;
                        entry.access_key_ages_days = p.access_key_ages_days;
                    }
                    if p.admin.is_some() {
                        entry.admin = p.admin;
                        entry.escalation = p.escalation;
                    }
                    entry.audited_at = p.audited_at;
                }
                changes
            };
            for c in &mut changes {
                c.trigger = Some(info.clone());
            }
            PostureAudited {
                kind: "event",
                account: &account_id,
                scope: Some(&scope),
                event: Some(&info.event_name),
                changes: changes.len(),
                errors: failed.len(),
                seconds: started.elapsed().as_secs_f64(),
            }
            .emit(metrics);
            self.after_audit(metrics);
            self.send(changes, sinks, metrics).await;
            if let Some(findings) = for_hub {
                self.security_hub(account, &findings, &|f| scope.covers(f), now)
                    .await;
            }
        }
    }

    /// Brings Security Hub in step with an audit's findings (`[audit] security_hub`).
    async fn security_hub(
        &self,
        account: &Account,
        findings: &[audit::Finding],
        in_scope: &(dyn Fn(&audit::Finding) -> bool + Sync),
        now: chrono::DateTime<chrono::Utc>,
    ) {
        let home = Account::home(&account.sdk, &self.settings);
        let imported = audit::security_hub::import::import(
            &account.sdk,
            &account.id,
            &home,
            findings,
            in_scope,
            now,
        )
        .await;
        if imported.imported > 0 || !imported.failures.is_empty() {
            tracing::info!(account = %account.id, imported = imported.imported, archived = imported.archived, workflows = imported.workflows, failed = imported.failures.len(), "security hub updated");
        }
        for failure in &imported.failures {
            tracing::error!(account = %account.id, error = %failure, "security hub import failed");
        }
        for warning in &imported.warnings {
            tracing::warn!(account = %account.id, error = %warning, "security hub workflow not updated");
        }
    }

    /// The principals' failing checks and the findings gauge, from the findings as they now
    /// stand.
    fn after_audit(&self, metrics: &Metrics) {
        let mut state = self.state.lock().expect("posture lock");
        let state = &mut *state;
        // Failing checks per principal, from the findings as they now stand.
        let findings: Vec<&audit::Finding> = state.posture.findings.values().collect();
        audit::principal::with_failing(state.principals.values_mut(), &findings);
        *self.principals.write().expect("principals lock") = state
            .principals
            .values()
            .map(|p| (p.arn.clone(), p.clone()))
            .collect();
        metrics.posture_findings.reset();
        for f in &findings {
            metrics
                .posture_findings
                .with_label_values(&[
                    f.check.as_str(),
                    &f.severity.to_string(),
                    &f.status.to_string(),
                ])
                .inc();
        }
    }

    /// Delivers the changes (and any left from before); those not accepted by every sink stay
    /// pending, in the state file too, and go with the next delivery.
    async fn send(&self, changes: Vec<PostureChange>, sinks: &SinkSet, metrics: &Metrics) {
        let batch: Vec<Arc<PostureChange>> = {
            let mut state = self.state.lock().expect("posture lock");
            state.pending.extend(changes);
            state.pending.iter().cloned().map(Arc::new).collect()
        };
        if !batch.is_empty() {
            match sinks.deliver(&batch).await {
                Ok(()) => {
                    for c in &batch {
                        let kind = match c.change {
                            audit::change::ChangeKind::Failed => "failed",
                            audit::change::ChangeKind::Resolved => "resolved",
                        };
                        metrics
                            .posture_changes_total
                            .with_label_values(&[kind])
                            .inc();
                    }
                    let sent: BTreeSet<&str> = batch.iter().map(|c| c.change_id.as_str()).collect();
                    self.state
                        .lock()
                        .expect("posture lock")
                        .pending
                        .retain(|c| !sent.contains(c.change_id.as_str()));
                }
                Err(errors) => {
                    tracing::warn!(changes = batch.len(), first_error = %errors[0], "posture changes not delivered; retried with the next audit or in 30 s")
                }
            }
        }
        self.save();
    }

    fn save(&self) {
        let Some(path) = &self.state_file else { return };
        let text = {
            let mut state = self.state.lock().expect("posture lock");
            state.version = STATE_VERSION;
            serde_json::to_vec(&*state).expect("posture state serializes")
        };
        if let Err(e) = crate::state::file::write_atomic(path, &text) {
            tracing::error!(error = %e, "posture state not saved");
        }
    }

    fn has_pending(&self) -> bool {
        !self.state.lock().expect("posture lock").pending.is_empty()
    }
}

/// The accounts `[audit]` names that can be reached (each one that cannot is logged), and
/// the organization's account ids when it lists them.
pub async fn reachable(
    base: &aws_config::SdkConfig,
    settings: &AuditConfig,
) -> Result<(Vec<Account>, Vec<String>), crate::audit::collect::CollectError> {
    let targets = crate::audit::collect::organization::targets(base, settings, &[]).await?;
    let mut accounts = Vec::new();
    for t in targets.targets {
        match t.account {
            Ok(a) => accounts.push(a),
            Err(e) => tracing::error!(account = %t.label, error = %e, "account not audited"),
        }
    }
    Ok((accounts, targets.organization.unwrap_or_default()))
}

/// The IAM ARN of an actor: users as they are, assumed-role sessions as their role.
fn iam_arn(actor: &str) -> Option<String> {
    if actor.starts_with("arn:aws:iam::") && (actor.contains(":user/") || actor.contains(":role/"))
    {
        return Some(actor.to_string());
    }
    // arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
    let rest = actor.strip_prefix("arn:aws:sts::")?;
    let (account, rest) = rest.split_once(':')?;
    let role = rest.strip_prefix("assumed-role/")?.split('/').next()?;
    Some(format!("arn:aws:iam::{account}:role/{role}"))
}

/// Audits at start and every interval, re-audits on events, until `stop`.
pub async fn run(
    monitor: Arc<PostureMonitor>,
    mut triggers: mpsc::UnboundedReceiver<Trigger>,
    sinks: &SinkSet,
    metrics: &Metrics,
    stop: CancellationToken,
) {
    let interval = monitor.settings.interval;
    let debounce = monitor.settings.debounce;
    let mut next_full = tokio::time::Instant::now();
    enum Work {
        Full,
        Reaudit(Vec<Trigger>),
        Retry,
    }
    loop {
        let retry = async {
            if monitor.has_pending() {
                tokio::time::sleep(Duration::from_secs(30)).await
            } else {
                std::future::pending().await
            }
        };
        let work = tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until(next_full) => Work::Full,
            Some(first) = triggers.recv() => {
                let mut batch = vec![first];
                let until = tokio::time::Instant::now() + debounce;
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => break,
                        _ = stop.cancelled() => break,
                        Some(t) = triggers.recv() => batch.push(t),
                    }
                }
                Work::Reaudit(batch)
            }
            _ = retry => Work::Retry,
        };
        let job = async {
            match work {
                Work::Full => {
                    monitor.full_audit(sinks, metrics).await;
                    next_full = tokio::time::Instant::now() + interval;
                }
                Work::Reaudit(batch) => monitor.reaudit(batch, sinks, metrics).await,
                Work::Retry => monitor.send(vec![], sinks, metrics).await,
            }
        };
        // Shutdown does not wait for an audit of a large account: one cut short has written
        // nothing (findings are applied after the reads), and changes being delivered are
        // already pending, so they are saved and sent after the restart.
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = job => {}
        }
    }
    monitor.save();
}

#[cfg(test)]
mod tests {
    use super::iam_arn;

    #[test]
    fn actors_map_to_their_iam_principal() {
        assert_eq!(
            iam_arn("arn:aws:iam::1:user/alice").as_deref(),
            Some("arn:aws:iam::1:user/alice")
        );
        assert_eq!(
            iam_arn("arn:aws:sts::1:assumed-role/deploy/ci-42").as_deref(),
            Some("arn:aws:iam::1:role/deploy")
        );
        assert_eq!(iam_arn("arn:aws:iam::1:root"), None);
    }
}
