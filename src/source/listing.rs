//! Listing archived trails in S3 for `trailwatch replay s3://bucket/prefix`.
//!
//! CloudTrail writes `[prefix/]AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/file`.
//! The listing walks that tree one level at a time (delimiter `/`) so it only descends into the
//! accounts, regions and days a replay asks for: a one-day replay of a five-year archive lists
//! a few hundred keys, not millions. Below anything that does not follow the layout, every
//! key is listed.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use super::notification::is_log_key;
use super::window::TimeWindow;
use crate::trail::is_digest_name;

/// One S3 object to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    pub bucket: String,
    pub key: String,
    pub size: u64,
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub bucket: String,
    pub prefix: String,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub window: TimeWindow,
}

/// What the listing found.
#[derive(Debug, Default)]
pub struct Found {
    pub objects: Vec<S3Object>,
    /// Digest files seen (and skipped).
    pub digests: u64,
    /// LIST requests made.
    pub requests: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("listing s3://{bucket}/{prefix}: {message}")]
pub struct ListError {
    pub bucket: String,
    pub prefix: String,
    pub message: String,
}

/// Parses `s3://bucket[/prefix]`.
pub fn parse_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then(|| (bucket.to_string(), prefix.to_string()))
}

/// Where a folder sits in the CloudTrail layout, judged by the segments after `AWSLogs`.
#[derive(Debug, PartialEq, Eq)]
enum Level {
    /// Above `AWSLogs/` or outside the layout: take every sub-folder.
    Free,
    /// `AWSLogs/`: children are accounts or organization ids.
    Accounts,
    /// `AWSLogs/o-xxxx/`: children are accounts.
    OrgAccounts,
    /// `.../<account>/`: only `CloudTrail/` holds event logs.
    Services,
    /// `.../CloudTrail/`: children are regions.
    Regions,
    Years,
    Months {
        year: i32,
    },
    Days {
        year: i32,
        month: u32,
    },
    /// Inside a day: list everything below.
    Leaf,
}

fn level(prefix: &str) -> Level {
    let segs: Vec<&str> = prefix.split('/').filter(|s| !s.is_empty()).collect();
    let Some(i) = segs.iter().rposition(|s| *s == "AWSLogs") else {
        return Level::Free;
    };
    let mut rest = &segs[i + 1..];
    let org = rest.first().is_some_and(|s| s.starts_with("o-"));
    if org {
        rest = &rest[1..];
    }
    match rest {
        [] if org => Level::OrgAccounts,
        [] => Level::Accounts,
        [_account] => Level::Services,
        [_account, "CloudTrail"] => Level::Regions,
        [_account, "CloudTrail", _region] => Level::Years,
        [_account, "CloudTrail", _region, y] => match y.parse() {
            Ok(year) => Level::Months { year },
            Err(_) => Level::Free,
        },
        [_account, "CloudTrail", _region, y, m] => match (y.parse(), m.parse()) {
            (Ok(year), Ok(month)) => Level::Days { year, month },
            _ => Level::Free,
        },
        [_account, "CloudTrail", ..] => Level::Leaf,
        // Digest and Insights folders, or something else under the account.
        _ => Level::Free,
    }
}

/// Days (inclusive) whose folders can hold events inside the window. A file lands in the
/// folder of its delivery day, which can be the day after its last event (files are written
/// about every five minutes), so the range is widened by a day on each side.
fn day_range(window: &TimeWindow) -> (NaiveDate, NaiveDate) {
    let day = |t: DateTime<Utc>| t.date_naive();
    let from = window
        .since
        .map(|t| day(t - Duration::days(1)))
        .unwrap_or(NaiveDate::MIN);
    let to = window
        .until
        .map(|t| day(t + Duration::days(1)))
        .unwrap_or(NaiveDate::MAX);
    (from, to)
}

/// Whether to descend into the child folder `name` (without its slash) of a folder at `level`.
fn wanted(level: &Level, name: &str, scope: &Scope) -> bool {
    let (from, to) = day_range(&scope.window);
    let any = |list: &[String]| list.is_empty() || list.iter().any(|v| v == name);
    match *level {
        Level::Free | Level::Leaf => true,
        Level::Accounts => name.starts_with("o-") || any(&scope.accounts),
        Level::OrgAccounts => any(&scope.accounts),
        Level::Services => name == "CloudTrail",
        Level::Regions => any(&scope.regions),
        Level::Years => name
            .parse::<i32>()
            .is_ok_and(|y| (from.year()..=to.year()).contains(&y)),
        Level::Months { year } => name.parse::<u32>().is_ok_and(|m| {
            let first = NaiveDate::from_ymd_opt(year, m, 1);
            let last = first.and_then(|d| d.checked_add_months(chrono::Months::new(1)));
            match (first, last) {
                (Some(first), Some(next)) => first <= to && next > from,
                _ => false,
            }
        }),
        Level::Days { year, month } => name
            .parse::<u32>()
            .ok()
            .and_then(|d| NaiveDate::from_ymd_opt(year, month, d))
            .is_some_and(|d| d >= from && d <= to),
    }
}

/// Lists the log objects in scope, sorted by key. Digest files and non-log keys are skipped.
pub async fn list(client: &aws_sdk_s3::Client, scope: &Scope) -> Result<Found, ListError> {
    let mut found = Found::default();
    let mut folders = vec![scope.prefix.clone()];
    while let Some(prefix) = folders.pop() {
        let level = level(&prefix);
        // A prefix that is not a folder (`AWSLogs/1111`) or a day folder is listed flat.
        let flat = level == Level::Leaf || !(prefix.is_empty() || prefix.ends_with('/'));
        let mut pages = client
            .list_objects_v2()
            .bucket(&scope.bucket)
            .prefix(&prefix)
            .set_delimiter((!flat).then(|| "/".to_string()))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            found.requests += 1;
            let page = page.map_err(|e| ListError {
                bucket: scope.bucket.clone(),
                prefix: prefix.clone(),
                message: aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
            })?;
            for folder in page.common_prefixes() {
                let Some(p) = folder.prefix() else { continue };
                let name = p[prefix.len()..].trim_end_matches('/');
                if wanted(&level, name, scope) {
                    folders.push(p.to_string());
                }
            }
            for obj in page.contents() {
                let Some(key) = obj.key() else { continue };
                if is_digest_name(key) {
                    found.digests += 1;
                } else if is_log_key(key) {
                    found.objects.push(S3Object {
                        bucket: scope.bucket.clone(),
                        key: key.to_string(),
                        size: obj.size().unwrap_or(0).max(0) as u64,
                    });
                }
            }
        }
    }
    found.objects.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(since: &str, until: &str) -> Scope {
        let t = |s: &str| {
            (!s.is_empty()).then(|| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc))
        };
        Scope {
            window: TimeWindow {
                since: t(since),
                until: t(until),
            },
            accounts: vec!["111122223333".into()],
            regions: vec!["eu-west-1".into()],
            ..Scope::default()
        }
    }

    #[test]
    fn levels_follow_the_cloudtrail_layout() {
        assert_eq!(level(""), Level::Free);
        assert_eq!(level("trails/AWSLogs/"), Level::Accounts);
        assert_eq!(level("AWSLogs/o-abc123/"), Level::OrgAccounts);
        assert_eq!(level("AWSLogs/o-abc123/1111/"), Level::Services);
        assert_eq!(level("AWSLogs/1111/CloudTrail/"), Level::Regions);
        assert_eq!(level("AWSLogs/1111/CloudTrail/us-east-1/"), Level::Years);
        assert_eq!(
            level("AWSLogs/1111/CloudTrail/us-east-1/2026/11/"),
            Level::Days {
                year: 2026,
                month: 11
            }
        );
        assert_eq!(
            level("AWSLogs/1111/CloudTrail/us-east-1/2026/11/20/"),
            Level::Leaf
        );
        assert_eq!(level("AWSLogs/1111/CloudTrail-Digest/"), Level::Free);
    }

    #[test]
    fn descends_only_into_days_of_the_window_plus_a_day_of_slack() {
        let s = scope("2026-11-20T10:00:00Z", "2026-11-21T00:00:00Z");
        let days = Level::Days {
            year: 2026,
            month: 11,
        };
        let picked: Vec<&str> = ["17", "18", "19", "20", "21", "22", "23", "xx"]
            .into_iter()
            .filter(|d| wanted(&days, d, &s))
            .collect();
        assert_eq!(picked, ["19", "20", "21", "22"]);
        assert!(wanted(&Level::Months { year: 2026 }, "11", &s));
        assert!(!wanted(&Level::Months { year: 2026 }, "10", &s));
        assert!(wanted(&Level::Years, "2026", &s));
        assert!(!wanted(&Level::Years, "2025", &s));
        // A window starting on the 1st still reaches back into the previous month.
        let s = scope("2026-12-01T00:00:00Z", "");
        assert!(wanted(&Level::Months { year: 2026 }, "11", &s));
        assert!(wanted(&Level::Years, "2031", &s));
    }

    #[test]
    fn account_and_region_filters_apply_at_their_level() {
        let s = scope("", "");
        assert!(wanted(&Level::Accounts, "111122223333", &s));
        assert!(wanted(&Level::Accounts, "o-abc123", &s));
        assert!(!wanted(&Level::Accounts, "444455556666", &s));
        assert!(!wanted(&Level::OrgAccounts, "444455556666", &s));
        assert!(wanted(&Level::Services, "CloudTrail", &s));
        assert!(!wanted(&Level::Services, "CloudTrail-Digest", &s));
        assert!(wanted(&Level::Regions, "eu-west-1", &s));
        assert!(!wanted(&Level::Regions, "us-east-1", &s));
    }

    #[test]
    fn urls() {
        assert_eq!(parse_url("s3://b"), Some(("b".into(), "".into())));
        assert_eq!(
            parse_url("s3://b/AWSLogs/1/"),
            Some(("b".into(), "AWSLogs/1/".into()))
        );
        assert_eq!(parse_url("s3:///x"), None);
        assert_eq!(parse_url("/tmp/x"), None);
    }
}
