//! One group's events for one correlation, kept in event-time order, and the search for a
//! window that satisfies the correlation's condition.

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::alert::Alert;
use crate::detect::Base;
use crate::detect::EventKey;
use crate::rules::sigma::correlation::Kind;
use crate::rules::Correlation;

/// One event in a group. About 64 bytes plus the value's text.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Entry {
    pub time: i64,
    pub step: u16,
    pub id: EventKey,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Box<str>>,
    /// Already part of a correlation alert: it does not count again, and stays only to
    /// recognise a redelivery of the same event.
    #[serde(default)]
    pub used: bool,
    /// The correlation alert this event completed, sent again if the event is redelivered
    /// (its first delivery may have failed at a sink).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fired: Option<Box<Alert>>,
    /// For conditions decided when the window ends: this event's own alert, in case it turns
    /// out to be the last event of a window that matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<Box<Trigger>>,
}

/// What the last event of a window gives the alert decided when the window ends: its base
/// alert, and the correlation's suppression key (computed when the event was matched).
#[derive(Debug, Clone)]
pub(super) struct Trigger {
    pub base: Base,
    pub suppression_key: Option<Vec<String>>,
}

impl Trigger {
    /// The base alert under the correlation's suppression key.
    pub fn load(&self) -> Option<Alert> {
        let alert = self.base.load()?;
        Some(Alert {
            suppression_key: self.suppression_key.clone(),
            ..Arc::unwrap_or_clone(alert)
        })
    }
}

/// Written as that alert (what the daemon's state file has always held).
impl Serialize for Trigger {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.load().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Trigger {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Trigger, D::Error> {
        let alert = Alert::deserialize(d)?;
        Ok(Trigger {
            suppression_key: alert.suppression_key.clone(),
            base: Base::Alert(Arc::new(alert)),
        })
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Group {
    /// Sorted by (time, step, id): on equal times (CloudTrail has one-second resolution) the
    /// earlier step of a sequence comes first. A deque: a group at its cap drops its oldest
    /// event for each new one, which a vector pays for by moving every other event.
    pub entries: std::collections::VecDeque<Entry>,
    /// For conditions decided when the window ends: the start of the open window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_start: Option<i64>,
    /// The newest event time: groups idle the longest are evicted first.
    pub last_time: i64,
}

fn order(e: &Entry) -> (i64, u16, &EventKey) {
    (e.time, e.step, &e.id)
}

impl Group {
    /// The position of the same event (time and id) for the same step, if it is already
    /// here. By binary search on the group's order: the daemon looks for every event (a
    /// redelivery), and a scan cost 7 µs an event in a group at its cap.
    pub fn find(&self, time: i64, id: &EventKey, step: u16) -> Option<usize> {
        let at = self
            .entries
            .partition_point(|e| order(e) < (time, step, id));
        self.entries
            .get(at)
            .is_some_and(|e| order(e) == (time, step, id))
            .then_some(at)
    }

    /// Inserts in order and returns the entry's position.
    pub fn insert(&mut self, entry: Entry) -> usize {
        let at = self.entries.partition_point(|e| order(e) < order(&entry));
        self.last_time = self.last_time.max(entry.time);
        // Most groups never get a second event: room for one, not Vec's default four; and a
        // group that grows to thousands wastes at most a fifth, not half.
        if self.entries.len() == self.entries.capacity() {
            self.entries.reserve_exact(self.entries.len() / 4 + 1);
        }
        self.entries.insert(at, entry);
        at
    }

    /// For threshold conditions (only lower bounds): a window of the correlation's timespan
    /// that contains entry `p` and whose unused entries meet the condition. Windows start at
    /// each unused entry from `p.time - timespan` on; the first that matches wins. Returns the
    /// positions of its unused entries.
    pub fn threshold_window(&self, p: usize, corr: &Correlation) -> Option<Vec<usize>> {
        let span = corr.timespan_ms;
        let t = self.entries[p].time;
        let lo = self.entries.partition_point(|e| e.time < t - span);
        if corr.kind == Kind::TemporalOrdered && p + 1 == self.entries.len() {
            // Every window that held was found when its newest event came, so a window can
            // hold now only thanks to `p`. The newest event of a window extends the rules
            // seen in order by one only if it is the next rule, so it completes a sequence
            // only if it is the rule the condition needs last. This keeps a group of
            // thousands of sign-ins waiting for a key creation from being scanned per event.
            let needed = (1..=corr.steps.len() as u64).find(|&m| corr.condition.holds(m));
            if needed != Some(u64::from(self.entries[p].step) + 1) {
                return None;
            }
            // Two rules to see in order, `p`'s the second: a window holds only with an
            // event of the first rule before `p`, and there is none before the newest
            // earlier event of `p`'s rule (it would have completed the sequence). So the
            // search stops there: a burst of the second rule alone (a script creating keys,
            // no sign-in before) is not scanned whole for each of its events.
            if needed == Some(2) {
                let first = (lo..p)
                    .rev()
                    .map(|i| &self.entries[i])
                    .find(|e| !e.used && e.step <= 1);
                if first.is_none_or(|e| e.step == 1) {
                    return None;
                }
            }
        }
        // Windows that hold a twin of `p` (see `twin`) measure the same without `p`, and no
        // window held before `p` came (each was decided when its newest event came): only
        // windows starting after the twin can hold now. Without this a burst of one value
        // (failed sign-ins for one user from one address) measured the whole group per
        // event: 0.1 ms an event at the cap, where it now finds the twin next to it.
        let first = match corr.kind {
            Kind::ValueCount if self.entries[p].value.is_none() => return None,
            Kind::ValueCount | Kind::Temporal => self.twin(p, lo, corr.kind).map_or(lo, |j| j + 1),
            _ => lo,
        };
        for s in first..=p {
            if self.entries[s].used {
                continue;
            }
            let end = self.entries[s].time + span;
            let hi = self.entries.partition_point(|e| e.time <= end);
            // Measured before it is collected: a group of thousands of events is measured
            // once per event, and almost always falls short.
            let members = (s..hi).filter(|&i| !self.entries[i].used);
            if corr.condition.holds(self.measure(corr, members.clone())) {
                return Some(members.collect());
            }
            if hi == self.entries.len() {
                // Windows starting later hold a subset of this one: none can match either.
                break;
            }
        }
        None
    }

    /// The newest unused entry between `lo` and `p` that counts as `p` does: the same value
    /// (value_count) or the same rule (temporal). A window holding `p` and starting at or
    /// before it holds it too, as it reaches at least as far as `p`.
    fn twin(&self, p: usize, lo: usize, kind: Kind) -> Option<usize> {
        let e = &self.entries[p];
        (lo..p).rev().find(|&i| {
            let o = &self.entries[i];
            !o.used
                && match kind {
                    Kind::ValueCount => o.value == e.value,
                    _ => o.step == e.step,
                }
        })
    }

    /// For other conditions: closes the open window if it ended before `watermark`, and moves
    /// it past its events. Returns the window's unused entries and, when they meet the
    /// condition, the alert of its last event. None while the window is still open.
    pub fn close_window(
        &mut self,
        corr: &Correlation,
        watermark: i64,
    ) -> Option<(Vec<usize>, Option<Box<Trigger>>)> {
        let start = self.window_start?;
        let end = start + corr.timespan_ms;
        if end >= watermark {
            return None;
        }
        let members: Vec<usize> = (0..self.entries.len())
            .filter(|&i| {
                let e = &self.entries[i];
                !e.used && e.time >= start && e.time <= end
            })
            .collect();
        let matched = !members.is_empty()
            && corr
                .condition
                .holds(self.measure(corr, members.iter().copied()));
        let trigger = match members.last() {
            Some(&last) if matched => self.entries[last].alert.take(),
            _ => None,
        };
        for &i in &members {
            self.entries[i].used = true;
            self.entries[i].alert = None;
        }
        self.window_start = self
            .entries
            .iter()
            .find(|e| !e.used && e.time > end)
            .map(|e| e.time);
        Some((members, trigger))
    }

    /// What the correlation counts over these entries.
    pub fn measure(&self, corr: &Correlation, members: impl Iterator<Item = usize>) -> u64 {
        let entries = members.map(|i| &self.entries[i]);
        match corr.kind {
            Kind::EventCount => entries.count() as u64,
            Kind::ValueCount => entries
                .filter_map(|e| e.value.as_deref())
                .collect::<HashSet<_>>()
                .len() as u64,
            Kind::Temporal => entries.map(|e| e.step).collect::<HashSet<_>>().len() as u64,
            // How many of the rules appear in order: a greedy scan finds the longest prefix.
            Kind::TemporalOrdered => {
                let mut next = 0u16;
                for e in entries {
                    if e.step == next {
                        next += 1;
                    }
                }
                next as u64
            }
        }
    }

    /// Drops entries no future window can include (older than `before`), except those of a
    /// window still open. True when nothing is left.
    pub fn prune(&mut self, before: i64) -> bool {
        let keep_from = self.window_start.unwrap_or(i64::MAX).min(before);
        self.entries.retain(|e| e.time >= keep_from);
        self.entries.is_empty() && self.window_start.is_none()
    }
}

#[cfg(test)]
mod tests {
    //! The window search against its definition: after each event, the first window (by
    //! start) of unused events containing it that meets the condition, searched in full.

    use proptest::prelude::*;

    use super::*;
    use crate::alert::test_alert;
    use crate::correlate::engine::count;
    use crate::detect::Observation;
    use crate::rules::RuleSetBuilder;

    const SPAN_MS: i64 = 10_000;

    /// A correlation of `kind` over rules a, b and c, within ten seconds: three distinct
    /// values (value_count), two of the rules (temporal), the first two in order
    /// (temporal_ordered), or with `two_rules` the two rules a and b in order.
    fn correlation(kind: &str, two_rules: bool) -> Correlation {
        let mut b = RuleSetBuilder::new();
        for name in ["a", "b", "c"] {
            b.add_yaml(
                &format!("{name}.yml"),
                &format!("title: {name}\nname: {name}\nlogsource: {{product: aws, service: cloudtrail}}\ndetection:\n  sel:\n    eventName: {name}\n  condition: sel\n"),
            );
        }
        let (rules, condition) = match kind {
            "value_count" => ("[a]", "{field: userIdentity.userName, gte: 3}"),
            _ if two_rules => ("[a, b]", "{gte: 2}"),
            _ => ("[a, b, c]", "{gte: 2}"),
        };
        b.add_yaml(
            "corr.yml",
            &format!("title: corr\nname: corr\ncorrelation:\n  type: {kind}\n  rules: {rules}\n  group-by: []\n  timespan: 10s\n  condition: {condition}\n"),
        );
        b.build().unwrap().correlations()[0].clone()
    }

    /// Event `i`: its time, rule and value.
    #[derive(Debug, Clone)]
    struct Event {
        time: i64,
        step: u16,
        value: Option<u8>,
    }

    fn events(steps: u16) -> impl Strategy<Value = Vec<Event>> {
        let event = (0..5_000i64, 0..steps, prop::option::weighted(0.9, 0..4u8));
        prop::collection::vec(event, 1..60).prop_map(|v| {
            let mut time = 0;
            v.into_iter()
                .map(|(gap, step, value)| {
                    // Mostly forward, sometimes back (the daemon counts late events).
                    time += gap - 2_000;
                    Event { time, step, value }
                })
                .collect()
        })
    }

    fn id(i: usize) -> EventKey {
        EventKey::from(format!("e{i:04}").as_str())
    }

    /// The events (by index) of each alert, searched by the definition.
    fn by_definition(corr: &Correlation, events: &[Event]) -> Vec<Vec<usize>> {
        let order = |&i: &usize| (events[i].time, events[i].step, id(i));
        let mut unused: Vec<usize> = Vec::new();
        let mut fired = Vec::new();
        for p in 0..events.len() {
            unused.push(p);
            unused.sort_by_key(order);
            let t = events[p].time;
            let window = unused.iter().copied().filter(|&s| {
                let ts = events[s].time;
                ts >= t - SPAN_MS && order(&s) <= order(&p)
            });
            let found = window
                .map(|s| {
                    let ts = events[s].time;
                    let members: Vec<usize> = unused
                        .iter()
                        .copied()
                        .filter(|&m| order(&m) >= order(&s) && events[m].time <= ts + SPAN_MS)
                        .collect();
                    members
                })
                .find(|members| {
                    let measure = match corr.kind {
                        Kind::ValueCount => {
                            let values: HashSet<u8> =
                                members.iter().filter_map(|&m| events[m].value).collect();
                            values.len()
                        }
                        // The longest prefix of the rules seen in order.
                        Kind::TemporalOrdered => members.iter().fold(0, |seen, &m| {
                            seen + usize::from(usize::from(events[m].step) == seen)
                        }),
                        _ => {
                            let steps: HashSet<u16> =
                                members.iter().map(|&m| events[m].step).collect();
                            steps.len()
                        }
                    };
                    corr.condition.holds(measure as u64)
                });
            if let Some(members) = found {
                unused.retain(|m| !members.contains(m));
                fired.push(members);
            }
        }
        fired
    }

    /// The same, counted by the engine's step.
    fn counted(corr: &Correlation, events: &[Event], forget_used: bool) -> Vec<Vec<usize>> {
        let base = Base::Alert(Arc::new(test_alert::alert(0)));
        let mut group = Group::default();
        let mut fired = Vec::new();
        for (i, e) in events.iter().enumerate() {
            let obs = Observation {
                correlation: 0,
                step: e.step,
                time_ms: e.time,
                event: id(i),
                group: Vec::new(),
                value: e.value.map(|v| format!("user{v}")),
                suppression_key: None,
                base: base.clone(),
            };
            if let (Some(alert), _) = count(corr, &mut group, &obs, 10_000, forget_used) {
                let ids = alert.correlation.unwrap().event_ids;
                let mut members: Vec<usize> =
                    ids.iter().map(|id| id[1..].parse().unwrap()).collect();
                members.sort_by_key(|&m| (events[m].time, events[m].step, id(m)));
                fired.push(members);
            }
        }
        fired
    }

    proptest! {
        // Cheap cases, and a window that only an event counted late completes is rare.
        #![proptest_config(ProptestConfig::with_cases(4_000))]

        #[test]
        fn value_count_windows_are_found_as_defined(events in events(1), forget in any::<bool>()) {
            let corr = correlation("value_count", false);
            prop_assert_eq!(counted(&corr, &events, forget), by_definition(&corr, &events));
        }

        #[test]
        fn temporal_windows_are_found_as_defined(events in events(3), forget in any::<bool>()) {
            let corr = correlation("temporal", false);
            prop_assert_eq!(counted(&corr, &events, forget), by_definition(&corr, &events));
        }

        #[test]
        fn ordered_windows_are_found_as_defined(
            events in events(3),
            two_rules in any::<bool>(),
            forget in any::<bool>(),
        ) {
            let events: Vec<Event> = events
                .into_iter()
                .map(|e| Event { step: if two_rules { e.step % 2 } else { e.step }, ..e })
                .collect();
            let corr = correlation("temporal_ordered", two_rules);
            prop_assert_eq!(counted(&corr, &events, forget), by_definition(&corr, &events));
        }
    }
}
