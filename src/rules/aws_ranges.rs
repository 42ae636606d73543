//! AWS's published IP address ranges (`ip-ranges.json`): whether an address is AWS's, for the
//! `aws_ip_range` modifier (credentials of an instance used from outside AWS).
//!
//! The document AWS published on 2026-08-22 ships inside the binary, unchanged
//! (`data/aws-ip-ranges-2026-08-22.json.gz`); a newer one is read from a file
//! (`[rules] aws_ip_ranges`, `--aws-ip-ranges`). Prefixes of every service and region are
//! merged into sorted, disjoint intervals, so a lookup is one binary search.

use std::io::Read;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use ipnet::IpNet;
use serde::Deserialize;

const SHIPPED: &[u8] = include_bytes!("data/aws-ip-ranges-2026-08-22.json.gz");

/// The ranges of one `ip-ranges.json`.
#[derive(Debug)]
pub struct AwsRanges {
    /// `createDate` as published (`2026-08-22-15-17-05`).
    pub create_date: String,
    pub sync_token: String,
    /// Prefixes in the document (IPv4 and IPv6).
    pub prefixes: usize,
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

#[derive(Deserialize)]
struct Document {
    #[serde(rename = "syncToken")]
    sync_token: String,
    #[serde(rename = "createDate")]
    create_date: String,
    prefixes: Vec<V4>,
    #[serde(default)]
    ipv6_prefixes: Vec<V6>,
}

#[derive(Deserialize)]
struct V4 {
    ip_prefix: String,
}

#[derive(Deserialize)]
struct V6 {
    ipv6_prefix: String,
}

impl AwsRanges {
    /// The ranges shipped with trailwatch, parsed once per process.
    pub fn shipped() -> Arc<AwsRanges> {
        static RANGES: OnceLock<Arc<AwsRanges>> = OnceLock::new();
        RANGES
            .get_or_init(|| {
                Arc::new(AwsRanges::parse(SHIPPED).expect("the shipped ip-ranges.json parses"))
            })
            .clone()
    }

    /// Reads a published `ip-ranges.json`, gzipped or not.
    pub fn read(path: &Path) -> Result<AwsRanges, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
        AwsRanges::parse(&bytes)
    }

    /// Parses a published `ip-ranges.json`, gzipped or not.
    pub fn parse(bytes: &[u8]) -> Result<AwsRanges, String> {
        let mut text = Vec::new();
        let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
            flate2::read::GzDecoder::new(bytes)
                .read_to_end(&mut text)
                .map_err(|e| format!("not a readable gzip file: {e}"))?;
            &text[..]
        } else {
            bytes
        };
        let doc: Document = serde_json::from_slice(bytes)
            .map_err(|e| format!("not an AWS ip-ranges.json document: {e}"))?;
        let mut v4 = Vec::with_capacity(doc.prefixes.len());
        let mut v6 = Vec::with_capacity(doc.ipv6_prefixes.len());
        let texts = doc
            .prefixes
            .iter()
            .map(|p| &p.ip_prefix)
            .chain(doc.ipv6_prefixes.iter().map(|p| &p.ipv6_prefix));
        for text in texts {
            match text.parse::<IpNet>() {
                Ok(IpNet::V4(n)) => v4.push((n.network().into(), n.broadcast().into())),
                Ok(IpNet::V6(n)) => v6.push((n.network().into(), n.broadcast().into())),
                Err(_) => return Err(format!("{text:?} is not an address prefix")),
            }
        }
        if v4.is_empty() {
            return Err("no IPv4 prefixes".into());
        }
        Ok(AwsRanges {
            create_date: doc.create_date,
            sync_token: doc.sync_token,
            prefixes: v4.len() + v6.len(),
            v4: merged(v4, |x| x.saturating_add(1)),
            v6: merged(v6, |x| x.saturating_add(1)),
        })
    }

    /// Whether the address is in one of AWS's published prefixes.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => within(&self.v4, a.into()),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(a) => within(&self.v4, a.into()),
                None => within(&self.v6, a.into()),
            },
        }
    }
}

/// Sorted, disjoint intervals covering the same addresses; `next` is the integer after an
/// end, so that adjacent intervals merge too.
fn merged<T: Ord + Copy>(mut v: Vec<(T, T)>, next: impl Fn(T) -> T) -> Vec<(T, T)> {
    v.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(v.len());
    for (start, end) in v {
        match out.last_mut() {
            Some(last) if start <= next(last.1) => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

fn within<T: Ord + Copy>(intervals: &[(T, T)], x: T) -> bool {
    let i = intervals.partition_point(|(start, _)| *start <= x);
    i > 0 && x <= intervals[i - 1].1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_ranges_place_addresses_inside_and_outside_aws() {
        let r = AwsRanges::shipped();
        assert_eq!(r.create_date, "2026-08-22-15-17-05");
        assert!(r.prefixes > 1000);
        // 3.5.140.0/22 (ap-northeast-2) is the document's second prefix.
        assert!(r.contains("3.5.140.1".parse().unwrap()));
        assert!(r.contains("3.5.143.255".parse().unwrap()));
        for outside in [
            "203.0.113.9",
            "198.51.100.7",
            "10.0.0.1",
            "192.168.1.1",
            "::1",
        ] {
            assert!(!r.contains(outside.parse().unwrap()), "{outside}");
        }
        assert!(r.contains("::ffff:3.5.140.1".parse().unwrap()));
    }

    #[test]
    fn a_file_replaces_them_and_adjacent_prefixes_merge() {
        let doc = r#"{"syncToken":"1","createDate":"2027-01-01-00-00-00","prefixes":[
            {"ip_prefix":"198.51.100.0/25","region":"x","service":"EC2"},
            {"ip_prefix":"198.51.100.128/25","region":"x","service":"EC2"},
            {"ip_prefix":"198.51.100.64/26","region":"x","service":"AMAZON"}],
            "ipv6_prefixes":[{"ipv6_prefix":"2600:1f00::/24","region":"x","service":"EC2"}]}"#;
        let r = AwsRanges::parse(doc.as_bytes()).unwrap();
        assert_eq!((r.prefixes, r.v4.len()), (4, 1));
        assert!(r.contains("198.51.100.255".parse().unwrap()));
        assert!(!r.contains("198.51.101.0".parse().unwrap()));
        assert!(r.contains("2600:1f00::1".parse().unwrap()));
        assert!(!r.contains("3.5.140.1".parse().unwrap()));
        let e = AwsRanges::parse(
            br#"{"syncToken":"1","createDate":"x","prefixes":[{"ip_prefix":"nope"}]}"#,
        )
        .unwrap_err();
        assert!(e.contains("\"nope\" is not an address prefix"), "{e}");
        assert!(AwsRanges::parse(b"[]")
            .unwrap_err()
            .contains("not an AWS ip-ranges.json"));
    }
}
