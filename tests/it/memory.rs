//! Memory is bounded by the largest record, not the file: a big single-line log file (the way
//! CloudTrail writes them) replays in far less memory than its size; and on an alert-dense
//! archive, memory does not grow with the alerts and correlation observations.

use crate::common;

use std::io::Write;

use common::{record, stderr, trailwatch};

/// Writes `{"Records":[r0,r1,...]}` on one line, `target` bytes long, without holding it.
fn write_single_line_log(path: &std::path::Path, target: usize) -> u64 {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all(b"{\"Records\":[").unwrap();
    let (mut written, mut n) = (0usize, 0u64);
    while written < target {
        let extra = format!(
            r#""userIdentity":{{"type":"IAMUser","userName":"user-{n}"}},"sourceIPAddress":"198.51.100.{}","requestParameters":{{"userName":"u{n}","padding":"{}"}}"#,
            n % 250,
            "x".repeat(900)
        );
        let rec = record(
            if n % 1000 == 0 {
                "CreateUser"
            } else {
                "GetUser"
            },
            &extra,
        )
        .replace("\"e-CreateUser\"", &format!("\"e-{n}\""))
        .replace("\"e-GetUser\"", &format!("\"e-{n}\""));
        if n > 0 {
            f.write_all(b",").unwrap();
        }
        f.write_all(rec.as_bytes()).unwrap();
        written += rec.len() + 1;
        n += 1;
    }
    f.write_all(b"]}").unwrap();
    n
}

#[test]
fn a_large_single_line_file_replays_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.json");
    let records = write_single_line_log(&path, 300 << 20);
    let out = trailwatch(&[
        "replay",
        "--rule",
        "iam-user-created",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("{records} records")), "{err}");
    let alerts = String::from_utf8_lossy(&out.stdout).lines().count() as u64;
    assert_eq!(alerts, records.div_ceil(1000));
    let peak_mb = peak_mb(&err);
    assert!(
        peak_mb < 100.0,
        "peak memory {peak_mb} MB for a 300 MB file"
    );
}

fn peak_mb(summary: &str) -> f64 {
    summary
        .lines()
        .find_map(|l| l.trim().strip_prefix("peak memory: "))
        .and_then(|v| v.trim_end_matches(" MB").parse().ok())
        .expect("the summary reports peak memory")
}

#[test]
fn memory_does_not_grow_with_the_alerts_of_a_dense_archive() {
    // Eight times the archive, eight times the alerts and correlation observations.
    let replay = |size_mb: &str| {
        let dir = tempfile::tempdir().unwrap();
        common::dense_archive(dir.path(), size_mb, "0.3", "3");
        let out = trailwatch(&[
            "replay",
            "--memory-budget",
            "4",
            "--threads",
            "2",
            dir.path().to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let said = stderr(&out);
        assert!(said.contains("sorted on disk"), "{said}");
        let alerts = String::from_utf8_lossy(&out.stdout).lines().count();
        (peak_mb(&said), alerts)
    };
    let (small, small_alerts) = replay("60");
    let (large, large_alerts) = replay("480");
    assert!(
        large_alerts > 7 * small_alerts,
        "{small_alerts} vs {large_alerts}"
    );
    // Measured: about 25 MB and 30 MB, a few MB either way from run to run (two threads'
    // allocations); with the engine keeping every used event, 30 MB and 78 MB.
    assert!(
        large < small + 20.0,
        "peak {small} MB for {small_alerts} alerts, {large} MB for {large_alerts}"
    );
}
