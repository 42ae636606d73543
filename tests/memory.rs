//! Memory is bounded by the largest record, not the file: a big single-line log file (the way
//! CloudTrail writes them) replays in far less memory than its size; and on an alert-dense
//! archive, what waits for the end of the replay stays within `--memory-budget`.

mod common;

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
fn an_alert_dense_archive_replays_within_the_memory_budget() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().to_str().unwrap();
    common::dense_archive(dir.path(), "200", "0.3", "3");
    let replay = |budget: &str| {
        let out = trailwatch(&[
            "replay",
            "--memory-budget",
            budget,
            "--threads",
            "2",
            archive,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let lines = String::from_utf8_lossy(&out.stdout).lines().count();
        (peak_mb(&stderr(&out)), lines, stderr(&out))
    };
    // A budget larger than everything: all of it waits in memory, as before budgets existed.
    let (unbounded, alerts, _) = replay("100000");
    let (bounded, same, said) = replay("8");
    assert_eq!(same, alerts, "the same alerts either way");
    assert!(said.contains("sorted on disk"), "{said}");
    assert!(
        bounded < unbounded / 2.0,
        "8 MB budget: {bounded} MB peak; everything in memory: {unbounded} MB"
    );
}
