//! One scan: the loop every reader runs — S3 objects and EventBridge events in the daemon,
//! replay inputs, rule tests. Records are read from a stream, offered to the caller, matched
//! and sorted by `detect`; what they gave goes to the caller's [`Scan`].

use std::io::Read;

use super::exclusions::Exclusions;
use super::Outcomes;
use crate::alert::Origin;
use crate::rules::RuleSet;
use crate::trail::{self, Record, StreamStats, TrailError};

/// Where a scan puts what it found, and what it tells the caller besides.
pub trait Scan: Outcomes {
    /// Sees every usable record before it is matched; false leaves it out (a replay's time
    /// window).
    fn record(&mut self, _record: &Record) -> bool {
        true
    }
    /// A record that could not be used; the rest of the input is still read.
    fn unusable(&mut self, _error: TrailError) {}
}

/// What a scan matches with and stamps on its alerts.
pub struct Detector<'a> {
    pub rules: &'a RuleSet,
    pub origin: &'a Origin,
    pub exclusions: &'a Exclusions,
}

/// Reads `input` (JSON, JSON Lines or EventBridge events, gzipped or not) to its end or its
/// first unrecoverable error, matching every record. Returns what was read and that error.
pub fn scan(
    input: impl Read + Send,
    with: &Detector,
    out: &mut impl Scan,
) -> (StreamStats, Option<TrailError>) {
    let mut scratch = Vec::new();
    trail::read_stream(input, with.rules.fields(), |rec| {
        one(rec, with, &mut scratch, out)
    })
}

/// What [`scan`] does, over records another thread framed ([`trail::frame_batches_from`]).
pub fn scan_framed(batch: &trail::Framed, with: &Detector, out: &mut impl Scan) -> StreamStats {
    let mut scratch = Vec::new();
    batch.read(with.rules.fields(), |rec| one(rec, with, &mut scratch, out))
}

/// What [`scan`] does, over a part of a stream ([`trail::Part`]); record indices count from
/// the part's start.
pub fn scan_part(part: trail::Part, with: &Detector, out: &mut impl Scan) -> trail::PartEnd {
    let mut scratch = Vec::new();
    part.read(with.rules.fields(), |rec| one(rec, with, &mut scratch, out))
}

fn one(
    rec: Result<Record, TrailError>,
    with: &Detector,
    scratch: &mut Vec<u32>,
    out: &mut impl Scan,
) {
    match rec {
        Ok(rec) => {
            if out.record(&rec) {
                super::detect(with.rules, &rec, scratch, with.origin, with.exclusions, out);
            }
        }
        Err(e) => out.unusable(e),
    }
}
