//! Correlation state for a whole rule set: groups per correlation, the event-time watermark,
//! lateness, eviction, and the alerts it raises.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SecondsFormat};
use uuid::Uuid;

use super::window::{Entry, Group, Trigger};
use crate::alert::{Alert, CorrelationInfo, MAX_EVENT_IDS};
use crate::detect::Observation;
use crate::rules::sigma::correlation::Kind;
use crate::rules::Correlation;

/// Namespace of correlation alert ids: UUIDv5 of the correlation id, the group and the event
/// that completed it, so the same correlation over the same events always has the same id.
const CORRELATION_ID_NAMESPACE: Uuid = Uuid::from_u128(0x8e3b_51c2_07d4_4b7a_a6f1_2c9d_3e55_1f08);

/// Separates group-by values in a group's key.
pub(super) const KEY_SEP: char = '\u{1f}';

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How far behind the newest event seen an event may be and still count.
    pub lateness_ms: i64,
    /// Open groups over all correlations; beyond it the longest idle are evicted.
    pub max_groups: usize,
    /// Events kept per group; beyond it the oldest are dropped.
    pub max_events_per_group: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            lateness_ms: 30 * 60_000,
            max_groups: 1_000_000,
            max_events_per_group: 10_000,
        }
    }
}

/// Counters per correlation, since the last [`Engine::take_stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events older than the watermark allows, not counted.
    pub late: u64,
    /// Groups evicted because the cap on open groups was reached.
    pub evicted_groups: u64,
    /// Events dropped because a group reached its cap.
    pub dropped_events: u64,
}

pub struct Engine {
    pub(super) correlations: Vec<Correlation>,
    pub(super) groups: Vec<HashMap<Box<str>, Group>>,
    pub(super) max_time: i64,
    open: usize,
    limits: Limits,
    swept_at: i64,
    stats: Vec<Stats>,
    /// Drop events once they are part of an alert (replay); see [`Engine::seeing_each_event_once`].
    forget_used: bool,
}

impl Engine {
    pub fn new(correlations: &[Correlation], limits: Limits) -> Engine {
        Engine {
            correlations: correlations.to_vec(),
            groups: vec![HashMap::new(); correlations.len()],
            max_time: i64::MIN,
            open: 0,
            limits,
            swept_at: i64::MIN,
            stats: vec![Stats::default(); correlations.len()],
            forget_used: false,
        }
    }

    /// For a caller that never gives the same event twice (replay drops duplicate records
    /// before they get here): an event that is part of an alert cannot count again, and is
    /// kept otherwise only to recognise a redelivery, so it is dropped at once. A burst
    /// then holds no more than one window's worth of uncounted events per group.
    pub fn seeing_each_event_once(mut self) -> Engine {
        self.forget_used = true;
        self
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The correlation observations name by index.
    pub fn correlation(&self, index: u32) -> Option<&Correlation> {
        self.correlations.get(index as usize)
    }

    /// Open groups over all correlations.
    pub fn open_groups(&self) -> usize {
        self.open
    }

    /// Counters per correlation name since the last call.
    pub fn take_stats(&mut self) -> Vec<(String, Stats)> {
        self.correlations
            .iter()
            .zip(self.stats.iter_mut())
            .map(|(c, s)| (c.meta.info.name.clone(), std::mem::take(s)))
            .filter(|(_, s)| *s != Stats::default())
            .collect()
    }

    fn watermark(&self) -> i64 {
        self.max_time.saturating_sub(self.limits.lateness_ms)
    }

    /// Counts one observation; any correlation alert it completes (or completed before, for a
    /// redelivered event) is pushed to `out`.
    pub fn observe(&mut self, obs: Observation, out: &mut Vec<Alert>) {
        let ci = obs.correlation as usize;
        if obs.time_ms < self.watermark() {
            self.stats[ci].late += 1;
            return;
        }
        if obs.time_ms > self.max_time {
            self.max_time = obs.time_ms;
            self.sweep_if_due(out);
        }
        let corr = &self.correlations[ci];
        let key: Box<str> = obs.group.join(&KEY_SEP.to_string()).into();
        let groups = &mut self.groups[ci];
        if !groups.contains_key(&key) {
            self.open += 1;
        }
        let group = groups.entry(key).or_default();
        let max_events = self.limits.max_events_per_group;
        let (alert, dropped) = count(corr, group, &obs, max_events, self.forget_used);
        self.stats[ci].dropped_events += u64::from(dropped);
        out.extend(alert);
        if self.open > self.limits.max_groups {
            self.evict();
        }
    }

    /// Counts a batch of observations in event-time order (with a fixed tie-break), so the
    /// result does not depend on the order they were found in.
    pub fn observe_all(&mut self, mut observations: Vec<Observation>, out: &mut Vec<Alert>) {
        observations.sort_unstable_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        for o in observations {
            self.observe(o, out);
        }
    }

    /// End of input (replay): decides every open window.
    pub fn flush(&mut self, out: &mut Vec<Alert>) {
        self.sweep(i64::MAX, out);
    }

    /// Sweeps when the watermark has moved by a quarter of the shortest timespan (at least a
    /// second) since the last sweep, which keeps sweeping cheap per event.
    fn sweep_if_due(&mut self, out: &mut Vec<Alert>) {
        let every = self
            .correlations
            .iter()
            .map(|c| c.timespan_ms / 4)
            .min()
            .unwrap_or(0)
            .max(1000);
        let watermark = self.watermark();
        if watermark.saturating_sub(self.swept_at) >= every {
            self.sweep(watermark, out);
        }
    }

    /// Decides windows that ended before `watermark` and drops what no window can use.
    fn sweep(&mut self, watermark: i64, out: &mut Vec<Alert>) {
        self.swept_at = watermark;
        let forget_used = self.forget_used;
        for (corr, groups) in self.correlations.iter().zip(self.groups.iter_mut()) {
            groups.retain(|key, group| {
                if !corr.condition.is_threshold() {
                    while let Some((members, trigger)) = group.close_window(corr, watermark) {
                        if let Some(trigger) = trigger.and_then(|t| t.load()) {
                            out.push(closed_window_alert(corr, key, group, &members, &trigger));
                        }
                    }
                    if forget_used {
                        group.entries.retain(|e| !e.used);
                    }
                }
                !group.prune(watermark.saturating_sub(corr.timespan_ms))
            });
        }
        self.recount();
    }

    pub(super) fn recount(&mut self) {
        self.open = self.groups.iter().map(HashMap::len).sum();
    }

    /// Evicts the longest-idle tenth of the groups (ties broken by correlation and key, so the
    /// choice is deterministic).
    fn evict(&mut self) {
        let target = self.limits.max_groups - self.limits.max_groups / 10;
        let mut all: Vec<(i64, usize, Box<str>)> = self
            .groups
            .iter()
            .enumerate()
            .flat_map(|(ci, g)| g.iter().map(move |(k, v)| (v.last_time, ci, k.clone())))
            .collect();
        let n = all.len().saturating_sub(target);
        if n == 0 {
            return;
        }
        all.select_nth_unstable(n - 1);
        for (_, ci, key) in all.into_iter().take(n) {
            self.groups[ci].remove(&key);
            self.stats[ci].evicted_groups += 1;
        }
        self.recount();
    }
}

/// Counts one observation in its group: the correlation alert it completes (or completed
/// before, for a redelivered event), and whether the group's oldest event was dropped for the
/// cap. Windows of non-threshold conditions are decided later, by the sweep. With
/// `forget_used` (the caller gives each event once) the events of the alert are dropped from
/// the group instead of kept to recognise a redelivery.
pub(super) fn count(
    corr: &Correlation,
    group: &mut Group,
    obs: &Observation,
    max_events: usize,
    forget_used: bool,
) -> (Option<Alert>, bool) {
    // A caller that forgets used events gives each event once: nothing to look for.
    if !forget_used {
        if let Some(i) = group.find(obs.time_ms, &obs.event, obs.step) {
            return (group.entries[i].fired.as_deref().cloned(), false);
        }
    }
    let dropped = group.entries.len() >= max_events;
    if dropped {
        group.entries.pop_front();
    }
    let threshold = corr.condition.is_threshold();
    let p = group.insert(Entry {
        time: obs.time_ms,
        step: obs.step,
        id: obs.event.clone(),
        value: obs.value.as_deref().map(Into::into),
        used: false,
        fired: None,
        // Kept as the trigger of a window decided later, so it carries the correlation's
        // suppression key rather than its own rule's.
        alert: (!threshold).then(|| {
            Box::new(Trigger {
                base: obs.base.clone(),
                suppression_key: obs.suppression_key.clone(),
            })
        }),
    });
    if !threshold {
        if group.window_start.is_none_or(|s| obs.time_ms < s) {
            group.window_start = Some(obs.time_ms);
        }
        return (None, dropped);
    }
    let Some(members) = group.threshold_window(p, corr) else {
        return (None, dropped);
    };
    // Only a store that cannot read back leaves no base alert; the store reports it.
    let Some(base) = obs.base.load() else {
        return (None, dropped);
    };
    let key = obs.suppression_key.clone();
    let alert = correlation_alert(corr, &base, key, &obs.group, group, &members);
    if forget_used {
        let mut members = members.iter().peekable();
        let mut i = 0;
        group.entries.retain(|_| {
            let member = members.next_if_eq(&&i).is_some();
            i += 1;
            !member
        });
    } else {
        for &m in &members {
            let e = &mut group.entries[m];
            e.used = true;
            // A used event is never measured again.
            e.value = None;
        }
        group.entries[p].fired = Some(Box::new(alert.clone()));
    }
    (Some(alert), dropped)
}

/// The alert for a window decided at its end: the last event in it completed it.
fn closed_window_alert(
    corr: &Correlation,
    key: &str,
    group: &Group,
    members: &[usize],
    trigger: &Alert,
) -> Alert {
    let values: Vec<String> = if corr.group_by.is_empty() {
        Vec::new()
    } else {
        key.split(KEY_SEP).map(str::to_string).collect()
    };
    let key = trigger.suppression_key.clone();
    correlation_alert(corr, trigger, key, &values, group, members)
}

/// `suppression_key` is the correlation's own (computed when the trigger event was matched).
pub(super) fn correlation_alert(
    corr: &Correlation,
    trigger: &Alert,
    suppression_key: Option<Vec<String>>,
    group_values: &[String],
    group: &Group,
    members: &[usize],
) -> Alert {
    let entries: Vec<&Entry> = members.iter().map(|&i| &group.entries[i]).collect();
    let time = |ms: i64| {
        DateTime::from_timestamp_millis(ms)
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
            .unwrap_or_default()
    };
    let first = entries.first().map_or(0, |e| e.time);
    let last = entries.last().map_or(0, |e| e.time);
    let group_map: BTreeMap<String, String> = corr
        .group_by
        .iter()
        .cloned()
        .zip(group_values.iter().cloned())
        .collect();
    let count = entries.len() as u64;
    let distinct = corr
        .field
        .as_ref()
        .map(|_| group.measure(corr, members.iter().copied()));
    let sequence = match corr.kind {
        Kind::Temporal | Kind::TemporalOrdered => entries
            .iter()
            .map(|e| corr.steps[e.step as usize].clone())
            .collect(),
        _ => Vec::new(),
    };
    let trigger_id = entries
        .iter()
        .rev()
        .find(|e| trigger.event.id.as_deref() == Some(e.id.to_string().as_str()))
        .map_or_else(|| trigger.alert_id.clone(), |e| e.id.to_string());
    let key = group_values.join(&KEY_SEP.to_string());
    let alert_id = Uuid::new_v5(
        &CORRELATION_ID_NAMESPACE,
        format!("{}\n{key}\n{trigger_id}", corr.meta.info.id).as_bytes(),
    );
    let span =
        humantime::format_duration(std::time::Duration::from_millis(corr.timespan_ms as u64))
            .to_string();
    let what = match (&corr.field, distinct) {
        (Some(f), Some(d)) => format!("{d} distinct {f} in {count} events"),
        _ if !sequence.is_empty() => format!("{} in sequence", sequence.join(" → ")),
        _ => format!("{count} events"),
    };
    let who = if group_map.is_empty() {
        String::new()
    } else {
        let parts: Vec<String> = group_map.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!(" for {}", parts.join(", "))
    };
    let ids: Vec<String> = entries.iter().map(|e| e.id.to_string()).collect();
    let omitted = ids.len().saturating_sub(MAX_EVENT_IDS) as u64;
    let m = &corr.meta;
    Alert {
        alert_id: alert_id.to_string(),
        rule: m.info.clone(),
        event: trigger.event.clone(),
        summary: format!(
            "{}: {what}{who} between {} and {} (window {span})",
            m.info.title,
            time(first),
            time(last)
        ),
        origin: trigger.origin.clone(),
        detected_at: crate::alert::detected_now(),
        record: trigger.record.clone(),
        correlation: Some(CorrelationInfo {
            kind: corr.kind,
            group: group_map,
            count,
            field: corr.field.clone(),
            distinct_values: distinct,
            sequence,
            first_event_time: time(first),
            last_event_time: time(last),
            timespan: span,
            event_ids: ids.into_iter().take(MAX_EVENT_IDS).collect(),
            event_ids_omitted: omitted,
        }),
        suppressed: None,
        suppression_key,
        posture: None,
        time_ms: trigger.time_ms.clone(),
    }
}
