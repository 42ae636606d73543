//! Property tests over the reader: any byte string gives records or clean errors (never a
//! panic), and every CloudTrail shape of the same records reads back the same.

use crate::common;

use proptest::prelude::*;

use common::gzip;
use std::io::Read;
use trailwatch::trail::fields::well_known as wk;

use trailwatch::trail::{
    frame_batches, frame_batches_from, read_stream, Chain, Cutter, FieldSet, Record, StreamStats,
    TrailError, Verdict,
};

/// (eventName, eventID) of every record read, plus whether the stream failed.
fn read_all(bytes: &[u8]) -> (Vec<(String, String)>, u64, bool) {
    let set = FieldSet::new();
    let mut got = Vec::new();
    let (stats, err) = read_stream(bytes, &set, |rec| {
        if let Ok(r) = rec {
            got.push((
                r.fields.str(wk::EVENT_NAME).unwrap_or("").to_string(),
                r.fields.str(wk::EVENT_ID).unwrap_or("").to_string(),
            ));
        }
    });
    assert_eq!(stats.records as usize, got.len());
    (got, stats.record_errors, err.is_some())
}

/// What a reading gave of one record: the record's index and what else is shown of it, or
/// its error. Indices are shown once known: a part of a stream counts them from its start.
enum Got {
    Record(u64, String),
    Error(TrailError),
}

impl Got {
    fn show(self, index_base: u64) -> String {
        match self {
            Got::Record(index, rest) => format!("record {} {rest}", index + index_base),
            Got::Error(e) => format!("error {}", e.with_record_base(index_base)),
        }
    }
}

/// Everything a reading gives, in order — each record (its text, index and a few fields, one
/// nested and one across an array) or record error, the counts, and the stream's error —
/// read as one stream, read in framed batches, and read in parts of each of `part_sizes`
/// bytes (replay's ways of reading one large file on every core).
fn transcript(bytes: &[u8], part_sizes: &[usize]) -> Vec<Vec<String>> {
    let mut set = FieldSet::new();
    let nested = set.intern("requestParameters.nested.a");
    let s = set.intern("requestParameters.s");
    let got = |rec: Result<Record, TrailError>| match rec {
        Ok(r) => Got::Record(
            r.index,
            format!(
                "{:?} {:?} {:?} {:?} {:?}",
                r.raw,
                r.fields.str(wk::EVENT_NAME),
                r.fields.str(wk::EVENT_ID),
                r.fields
                    .get(nested)
                    .iter()
                    .map(|v| v.text())
                    .collect::<Vec<_>>(),
                r.fields.str(s),
            ),
        ),
        Err(e) => Got::Error(e),
    };
    let mut streamed = Vec::new();
    let (stats, err) = read_stream(bytes, &set, |rec| streamed.push(got(rec).show(0)));
    streamed.push(end(stats, &err));
    let mut readings = vec![streamed];
    // Framed on one side, parsed on the other.
    let mut framed = Vec::new();
    let mut stats = StreamStats::default();
    let (bytes_read, err) = frame_batches(bytes, 64, |batch| {
        let s = batch.read(&set, |rec| framed.push(got(rec).show(0)));
        add(&mut stats, s);
        true
    });
    stats.bytes = bytes_read;
    framed.push(end(stats, &err));
    readings.push(framed);
    for &part_bytes in part_sizes {
        readings.push(by_parts(bytes, part_bytes, &set, &got));
    }
    readings
}

fn add(total: &mut StreamStats, s: StreamStats) {
    total.records += s.records;
    total.digests += s.digests;
    total.record_errors += s.record_errors;
    total.bytes += s.bytes;
}

/// Read in parts as replay reads one large file, in order on one thread: each part's reading
/// stands if the part before ended where it began; after a wrong cut the rest is framed.
fn by_parts(
    bytes: &[u8],
    part_bytes: usize,
    set: &FieldSet,
    got: &dyn Fn(Result<Record, TrailError>) -> Got,
) -> Vec<String> {
    let mut cutter = match Cutter::new(bytes, part_bytes) {
        Ok(c) => c,
        Err(e) => return vec![end(StreamStats::default(), &Some(e))],
    };
    let (mut lines, mut stats, mut error) = (Vec::new(), StreamStats::default(), None);
    let mut chain = Chain::default();
    while let Some(part) = cutter.next_part() {
        let mut part_got = Vec::new();
        let end = part.read(set, |rec| part_got.push(got(rec)));
        match chain.check(&end) {
            Verdict::Accept { index_base } => {
                lines.extend(part_got.into_iter().map(|g| g.show(index_base)));
                add(&mut stats, end.stats);
                if let Some(e) = end.error {
                    error = Some(e.with_record_base(index_base));
                    break;
                }
            }
            Verdict::Reread { from } => {
                let mut held = end.bytes;
                while let Some(later) = cutter.next_part() {
                    held.extend(later.bytes);
                }
                let (rest, gzip) = cutter.rest();
                let reader = std::io::Cursor::new(held).chain(rest);
                let (read, err) = frame_batches_from(reader, gzip, from, 64, |batch| {
                    let s = batch.read(set, |rec| lines.push(got(rec).show(0)));
                    add(&mut stats, s);
                    true
                });
                stats.bytes += read - from.offset;
                error = err;
                break;
            }
        }
    }
    lines.push(end(stats, &error));
    lines
}

/// How a reading ended: its counts and error. How many bytes were read is left out where the
/// stream failed: how far reading went ahead of the failure depends on how it was read.
fn end(mut stats: StreamStats, error: &Option<TrailError>) -> String {
    if error.is_some() {
        stats.bytes = 0;
    }
    format!("{stats:?} {error:?}")
}

fn records_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
    // Names and ids with quotes, backslashes, brackets and non-ASCII text to stress framing.
    let text = "[a-zA-Z0-9 \"\\\\{}\\[\\],:é漢]{0,12}";
    prop::collection::vec((text, text), 0..12)
}

/// A record that begins with `eventVersion`, as CloudTrail writes them.
fn record_json(name: &str, id: &str) -> String {
    let rest = serde_json::json!({
        "eventSource": "iam.amazonaws.com",
        "eventName": name,
        "eventID": id,
        "requestParameters": {"nested": [1, {"a": "]}"}], "s": "\\",
            // Objects that open as records do, inside one: cuts that prove wrong.
            "items": [{"eventVersion": "x"}, {"eventVersion": "y"}]},
        "responseElements": null
    })
    .to_string();
    format!("{{\"eventVersion\":\"1.09\",{}", &rest[1..])
}

fn shapes(records: &[(String, String)], split: usize) -> Vec<(&'static str, Vec<u8>)> {
    let jsons: Vec<String> = records.iter().map(|(n, i)| record_json(n, i)).collect();
    let container = format!("{{\"Records\":[{}]}}", jsons.join(","));
    let pretty = format!("{{ \"Records\" : [\n  {}\n] }}\n", jsons.join(" ,\n  "));
    let array = format!("[{}]", jsons.join(","));
    let ndjson: String = jsons.iter().map(|j| format!("{j}\n")).collect();
    let eventbridge: String = jsons
        .iter()
        .map(|j| format!("{{\"version\":\"0\",\"detail-type\":\"AWS API Call via CloudTrail\",\"detail\":{j}}}\n"))
        .collect();
    let cut = split.min(container.len());
    let mut multi = gzip(&container.as_bytes()[..cut]);
    multi.extend(gzip(&container.as_bytes()[cut..]));
    vec![
        ("container", container.clone().into_bytes()),
        ("pretty", pretty.into_bytes()),
        ("array", array.into_bytes()),
        ("ndjson", ndjson.into_bytes()),
        ("eventbridge", eventbridge.into_bytes()),
        ("gzip", gzip(container.as_bytes())),
        ("multi-member gzip", multi),
    ]
}

/// Parts of one byte (a cut after every record), of a few records, and larger than most
/// inputs here.
const PART_SIZES: [usize; 3] = [1, 150, 700];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn any_bytes_give_records_or_clean_errors(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        read_all(&bytes);
        let mut gz = vec![0x1f, 0x8b];
        gz.extend(&bytes);
        read_all(&gz);
    }

    #[test]
    fn json_like_noise_never_panics(text in "[\\[\\]{}\":,a-z0-9 \\\\Records]{0,300}") {
        read_all(text.as_bytes());
    }

    #[test]
    fn every_shape_reads_the_same_records(records in records_strategy(), split in 0usize..2000) {
        for (shape, bytes) in shapes(&records, split) {
            let (got, bad, failed) = read_all(&bytes);
            prop_assert!(!failed && bad == 0, "{} failed", shape);
            prop_assert_eq!(&got, &records, "shape {}", shape);
        }
    }

    #[test]
    fn truncated_input_gives_a_prefix_and_an_error(records in records_strategy(), cut in 0usize..4000) {
        // Split at 0, the multi-member shape starts with a whole gzip member of nothing: cut
        // right after it, the input is a complete, empty gzip file.
        let empty_member = gzip(b"").len();
        for (shape, bytes) in shapes(&records, 0) {
            let cut = cut.min(bytes.len());
            let (got, _, failed) = read_all(&bytes[..cut]);
            prop_assert!(got.len() <= records.len());
            prop_assert_eq!(&got[..], &records[..got.len()], "shape {}", shape);
            // An empty input is a valid empty file; any other cut must be reported.
            let empty = cut == 0 || (shape == "multi-member gzip" && cut == empty_member);
            if !empty && got.len() < records.len() && shape != "ndjson" && shape != "eventbridge" {
                prop_assert!(failed, "{} cut at {} read {} of {} records silently", shape, cut, got.len(), records.len());
            }
        }
    }

    #[test]
    fn parsing_while_framing_reads_what_framing_then_parsing_reads(
        records in records_strategy(),
        noise in "[\\[\\]{}\":,a-z0-9 \\\\Records\u{e9}]{0,40}",
        at in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
    ) {
        // Valid shapes, the same with noise written into them, cut short, and noise alone.
        for (shape, bytes) in shapes(&records, 0) {
            if shape.contains("gzip") {
                continue;
            }
            let mut noisy = bytes.clone();
            let i = at.index(noisy.len() + 1);
            noisy.splice(i..(i + noise.len() / 4).min(noisy.len()), noise.bytes());
            let short = &bytes[..cut.index(bytes.len() + 1)];
            for input in [&bytes[..], &noisy[..], short, noise.as_bytes()] {
                let readings = transcript(input, &PART_SIZES);
                for (i, other) in readings.iter().enumerate().skip(1) {
                    prop_assert_eq!(&readings[0], other, "reading {} of shape {}: {:?}", i, shape, String::from_utf8_lossy(input));
                }
            }
        }
    }

    #[test]
    fn corrupted_gzip_never_panics(records in records_strategy(), at in any::<prop::sample::Index>(), flip in 1u8..) {
        let mut bytes = gzip(record_json("A", "b").repeat(3).as_bytes());
        if !records.is_empty() {
            bytes = gzip(format!("{{\"Records\":[{}]}}", records.iter().map(|(n, i)| record_json(n, i)).collect::<Vec<_>>().join(",")).as_bytes());
        }
        let i = at.index(bytes.len());
        bytes[i] ^= flip;
        read_all(&bytes);
        // A stream that fails part way reads the same in parts.
        let readings = transcript(&bytes, &PART_SIZES);
        for other in &readings[1..] {
            prop_assert_eq!(&readings[0], other);
        }
    }
}
