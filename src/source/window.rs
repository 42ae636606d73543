//! `--since` / `--until`: which event times a replay keeps.

use chrono::{DateTime, NaiveDate, Utc};

use crate::trail::Record;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TimeWindow {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// A `--since` / `--until` value that is no time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("{0:?} reaches too far back")]
    TooFarBack(String),
    #[error("{0:?} is neither an RFC 3339 time (2026-11-20T09:00:00Z), a date (2026-11-20) nor a duration before now (36h, 7d)")]
    NotATime(String),
}

/// Parses an absolute time (RFC 3339, or a date meaning its midnight UTC) or a time relative
/// to now (`36h`, `7d`, `90m`, `1week`).
pub fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, TimeError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap().and_utc());
    }
    match humantime::parse_duration(text) {
        Ok(ago) => chrono::Duration::from_std(ago)
            .ok()
            .and_then(|ago| now.checked_sub_signed(ago))
            .ok_or_else(|| TimeError::TooFarBack(text.to_string())),
        Err(_) => Err(TimeError::NotATime(text.to_string())),
    }
}

impl TimeWindow {
    pub fn is_open(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }

    /// True when the record's `eventTime` is inside the window. With a window set, records
    /// without a readable `eventTime` are left out: they cannot be placed in time.
    pub fn admits(&self, record: &Record) -> bool {
        if self.is_open() {
            return true;
        }
        let Some(t) = record.time_ms() else {
            return false;
        };
        self.since.is_none_or(|s| t >= s.timestamp_millis())
            && self.until.is_none_or(|u| t < u.timestamp_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_absolute_and_relative_times() {
        let now = parse_time("2026-11-20T12:00:00Z", Utc::now()).unwrap();
        assert_eq!(
            parse_time("36h", now).unwrap(),
            parse_time("2026-11-19T00:00:00Z", now).unwrap()
        );
        assert_eq!(
            parse_time("2026-11-19", now).unwrap(),
            parse_time("2026-11-19T00:00:00+00:00", now).unwrap()
        );
        assert_eq!(
            parse_time("2026-11-19T02:00:00+02:00", now).unwrap(),
            parse_time("2026-11-19T00:00:00Z", now).unwrap()
        );
        assert_eq!(
            parse_time("yesterday-ish", now),
            Err(TimeError::NotATime("yesterday-ish".into()))
        );
    }
}
