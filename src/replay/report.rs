//! The end-of-replay summary printed on stderr.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::trail::StreamStats;

#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub files: u64,
    /// Inputs that could not be fully read (exit status 1 when non-zero).
    pub failed_inputs: u64,
    /// Alerts that `--to-sinks` could not deliver (exit status 1 when non-zero).
    pub undelivered: u64,
    pub records: u64,
    pub unusable_records: u64,
    pub outside_window: u64,
    pub digests: u64,
    /// Bytes on disk, and decompressed.
    pub bytes_in: u64,
    pub bytes_decoded: u64,
    pub alerts: BTreeMap<String, u64>,
    /// Matches that filter documents or config exclusions kept from alerting, by rule.
    pub excluded: BTreeMap<String, u64>,
    /// Alerts held back by suppression windows, by rule.
    pub suppressed: BTreeMap<String, u64>,
    /// Correlation events dropped or groups evicted by the state caps, by correlation.
    pub correlation_dropped: BTreeMap<String, u64>,
    /// Observations and held alerts written to temporary files (over the memory budget).
    pub spilled: u64,
    pub elapsed: Duration,
    /// Peak resident memory of the process, where the platform tells it.
    pub peak_rss: Option<u64>,
    /// What each principal used, when the replay recorded it.
    pub usage: Option<crate::audit::permissions::usage::Usage>,
}

/// The process's peak resident set size (Linux: `VmHWM` in /proc/self/status).
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

impl Summary {
    pub(super) fn add(
        &mut self,
        stats: &StreamStats,
        outside_window: u64,
        alerts: &BTreeMap<String, u64>,
        failed: bool,
    ) {
        self.records += stats.records;
        self.unusable_records += stats.record_errors;
        self.digests += stats.digests;
        self.bytes_decoded += stats.bytes;
        self.outside_window += outside_window;
        self.failed_inputs += failed as u64;
        for (rule, n) in alerts {
            *self.alerts.entry(rule.clone()).or_default() += n;
        }
    }

    pub fn total_alerts(&self) -> u64 {
        self.alerts.values().sum()
    }

    /// Decompressed megabytes per second.
    pub fn mb_per_sec(&self) -> f64 {
        self.bytes_decoded as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "replay: {} files, {} records, {} alerts, {} errors in {:.2} s ({:.1} MB read, {:.1} MB decompressed, {:.0} MB/s)",
            self.files,
            self.records,
            self.total_alerts(),
            self.failed_inputs,
            self.elapsed.as_secs_f64(),
            self.bytes_in as f64 / 1e6,
            self.bytes_decoded as f64 / 1e6,
            self.mb_per_sec(),
        )?;
        writeln!(
            f,
            "  skipped: {} digest files, {} records outside --since/--until, {} unusable records",
            self.digests, self.outside_window, self.unusable_records
        )?;
        let per_rule = |f: &mut fmt::Formatter<'_>, what: &str, map: &BTreeMap<String, u64>| {
            if map.is_empty() {
                return Ok(());
            }
            let list: Vec<String> = map.iter().map(|(r, n)| format!("{r} {n}")).collect();
            writeln!(f, "  {what}: {}", list.join(", "))
        };
        per_rule(f, "excluded (filters and exclusions)", &self.excluded)?;
        per_rule(f, "suppressed", &self.suppressed)?;
        per_rule(
            f,
            "correlation state over its caps (events dropped + groups evicted)",
            &self.correlation_dropped,
        )?;
        if self.undelivered > 0 {
            writeln!(
                f,
                "  not delivered to the sinks: {} alerts",
                self.undelivered
            )?;
        }
        if let Some(rss) = self.peak_rss {
            writeln!(f, "  peak memory: {:.1} MB", rss as f64 / 1e6)?;
        }
        if self.spilled > 0 {
            writeln!(
                f,
                "  over the memory budget: {} observations and held alerts sorted on disk",
                self.spilled
            )?;
        }
        if !self.alerts.is_empty() {
            writeln!(f, "  alerts by rule:")?;
            let width = self.alerts.keys().map(String::len).max().unwrap_or(0);
            for (rule, n) in &self.alerts {
                writeln!(f, "    {rule:<width$}  {n}")?;
            }
        }
        Ok(())
    }
}
