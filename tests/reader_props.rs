//! Property tests over the reader: any byte string gives records or clean errors (never a
//! panic), and every CloudTrail shape of the same records reads back the same.

mod common;

use proptest::prelude::*;

use common::gzip;
use trailwatch::trail::fields::well_known as wk;
use trailwatch::trail::{frame_batches, read_stream, FieldSet, Record, TrailError};

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

/// Everything a reading gives, in order — each record (its text, index and a few fields, one
/// nested and one across an array) or record error, the counts, and the stream's error —
/// read as one stream and read in framed batches.
fn transcript(bytes: &[u8]) -> (Vec<String>, Vec<String>) {
    let mut set = FieldSet::new();
    let nested = set.intern("requestParameters.nested.a");
    let s = set.intern("requestParameters.s");
    let show = |rec: Result<Record, TrailError>| match rec {
        Ok(r) => format!(
            "record {} {:?} {:?} {:?} {:?} {:?}",
            r.index,
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
        Err(e) => format!("error {e}"),
    };
    let mut streamed = Vec::new();
    let (stats, err) = read_stream(bytes, &set, |rec| streamed.push(show(rec)));
    streamed.push(format!("{stats:?} {err:?}"));
    // Framed on one side, parsed on the other (replay's split of one large file).
    let mut framed = Vec::new();
    let mut stats = trailwatch::trail::StreamStats::default();
    let (bytes_read, err) = frame_batches(bytes, 64, |batch| {
        let s = batch.read(&set, |rec| framed.push(show(rec)));
        stats.records += s.records;
        stats.digests += s.digests;
        stats.record_errors += s.record_errors;
        true
    });
    stats.bytes = bytes_read;
    framed.push(format!("{stats:?} {err:?}"));
    (streamed, framed)
}

fn records_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
    // Names and ids with quotes, backslashes, brackets and non-ASCII text to stress framing.
    let text = "[a-zA-Z0-9 \"\\\\{}\\[\\],:é漢]{0,12}";
    prop::collection::vec((text, text), 0..12)
}

fn record_json(name: &str, id: &str) -> String {
    serde_json::json!({
        "eventVersion": "1.09",
        "eventSource": "iam.amazonaws.com",
        "eventName": name,
        "eventID": id,
        "requestParameters": {"nested": [1, {"a": "]}"}], "s": "\\"},
        "responseElements": null
    })
    .to_string()
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
                let (streamed, framed) = transcript(input);
                prop_assert_eq!(streamed, framed, "shape {}: {:?}", shape, String::from_utf8_lossy(input));
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
    }
}
