//! `trailwatch audit --credential-report`: the credential-report checks on a report with
//! exact dates, evaluated at a fixed time, so every age-based verdict is exact.

use crate::common;

use common::{stderr, stdout, trailwatch};

const NOW: &str = "2026-11-25T12:00:00Z";

fn report() -> String {
    format!(
        "{}/tests/data/credential-report.csv",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A configuration file with `text`, in a directory that lives as long as the guard.
fn config(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path.to_str().unwrap().to_string())
}

/// `trailwatch audit` on the test credential report at NOW, in `format`.
fn audit_as(format: &str, extra: &[&str]) -> std::process::Output {
    let report = report();
    let mut args = vec![
        "audit",
        "--credential-report",
        &report,
        "--now",
        NOW,
        "--format",
        format,
    ];
    args.extend_from_slice(extra);
    trailwatch(&args)
}

fn audit(extra: &[&str]) -> (Vec<serde_json::Value>, i32, String) {
    let out = audit_as("json", extra);
    let findings = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    (findings, out.status.code().unwrap(), stderr(&out))
}

/// (check, resource name, status) of every finding that is not PASS, in report order.
fn not_passing(findings: &[serde_json::Value]) -> Vec<(String, String, String)> {
    findings
        .iter()
        .filter(|f| f["status"] != "PASS")
        .map(|f| {
            let resource = f["resource"].as_str().unwrap();
            (
                f["check"].as_str().unwrap().to_string(),
                resource.rsplit([':', '/']).next().unwrap().to_string(),
                f["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn t(check: &str, who: &str, status: &str) -> (String, String, String) {
    (check.into(), who.into(), status.into())
}

#[test]
fn every_credential_report_check_with_exact_ages() {
    let (findings, code, err) = audit(&[]);
    assert_eq!(code, 3, "an unmuted FAIL at or above low exits 3: {err}");
    // Root: 7 checks; 4 users × 9 checks.
    assert_eq!(findings.len(), 7 + 4 * 9);
    let mut got = not_passing(&findings);
    got.sort();
    let mut want = vec![
        t("root-access-keys", "root", "FAIL"),
        t("root-access-key-rotation", "root", "FAIL"),
        t("root-recent-use", "root", "FAIL"),
        t("root-password-rotation", "root", "MANUAL"),
        t("user-mfa", "alice", "FAIL"),
        t("access-key-rotation", "bob", "FAIL"),
        t("access-key-unused", "bob", "FAIL"),
        t("access-key-multiple", "bob", "FAIL"),
        t("user-unused", "bob", "FAIL"),
        t("console-unused", "carol", "FAIL"),
        t("user-unused", "carol", "FAIL"),
        t("access-key-inactive", "carol", "FAIL"),
        t("access-key-at-setup", "carol", "FAIL"),
        t("access-key-unused", "carol", "FAIL"),
        t("access-key-rotation", "carol", "FAIL"),
        t("user-signing-certificate-rotation", "carol", "FAIL"),
    ];
    want.sort();
    assert_eq!(got, want);

    // The reasons carry the values that decided.
    let find = |check: &str, who: &str| {
        findings
            .iter()
            .find(|f| f["check"] == check && f["resource"].as_str().unwrap().ends_with(who))
            .unwrap()
            .clone()
    };
    let rotation = find("root-access-key-rotation", ":root");
    assert_eq!(
        rotation["reason"],
        "key 1 rotated 328 days ago (2026-01-01) (threshold 90 days)"
    );
    assert_eq!(rotation["severity"], "high");
    assert_eq!(rotation["account"], "111122223333");
    assert_eq!(
        find("root-access-keys", ":root")["cis"],
        serde_json::json!(["1.4"])
    );
    assert_eq!(
        find("access-key-unused", "/bob")["reason"],
        "key 1 last used 481 days ago (2025-08-01) (threshold 45 days)"
    );
    assert_eq!(
        find("root-recent-use", ":root")["reason"],
        "root last used 1 days ago (2026-11-24) (window 7 days)"
    );
    // A user created five days ago who never signed in is new, not unused.
    assert_eq!(find("user-unused", "/dave")["status"], "PASS");
    assert!(find("user-mfa", "/alice")["remediation"]
        .as_str()
        .unwrap()
        .contains("Enable MFA"));

    // FAIL first, the most severe first.
    let statuses: Vec<&str> = findings
        .iter()
        .map(|f| f["status"].as_str().unwrap())
        .collect();
    let first_pass = statuses.iter().position(|s| *s == "PASS").unwrap();
    assert!(statuses[..first_pass].iter().all(|s| *s != "PASS"));
    assert_eq!(
        findings[0]["check"], "root-access-keys",
        "the one critical FAIL comes first"
    );
}

#[test]
fn thresholds_come_from_the_config() {
    let (_dir, cfg) =
        config("[audit]\nrotation_days = 400\nunused_days = 500\nroot_recent_use_days = 1\n");
    let (findings, _, _) = audit(&["--config", &cfg]);
    let got = not_passing(&findings);
    // bob's 542-day-old key still fails rotation at 400 days, carol's 328-day one no more;
    // nothing is unused at 500 days; root was used 1 day ago, outside a 1-day window.
    assert!(got.contains(&t("access-key-rotation", "bob", "FAIL")));
    assert!(!got
        .iter()
        .any(|(c, w, _)| c == "access-key-rotation" && w == "carol"));
    assert!(!got
        .iter()
        .any(|(c, _, _)| c == "user-unused" || c == "console-unused"));
    assert!(!got.iter().any(|(c, _, _)| c == "root-recent-use"));
}

#[test]
fn mutes_checks_selection_and_fail_on() {
    let (_dir, cfg) = config(
        "[[audit.mute]]\ncheck = \"user-mfa\"\nresource = \"arn:aws:iam::*:user/al*\"\nreason = \"break-glass user, MFA in the safe\"\n",
    );
    let (findings, _, _) = audit(&["--config", &cfg, "--checks", "user-mfa"]);
    let alice: Vec<_> = findings
        .iter()
        .filter(|f| f["resource"].as_str().unwrap().ends_with("/alice"))
        .collect();
    assert_eq!(alice.len(), 1);
    assert_eq!(alice[0]["status"], "MUTED");
    assert_eq!(alice[0]["muted"], "break-glass user, MFA in the safe");
    assert!(findings.iter().all(|f| f["check"] == "user-mfa"));

    // A muted failure does not fail the run.
    let (_, code, _) = audit(&["--config", &cfg, "--checks", "user-mfa"]);
    assert_eq!(code, 0);
    // Only the critical root-access-keys FAIL is at or above critical.
    let (_, code, _) = audit(&["--fail-on", "critical"]);
    assert_eq!(code, 3);
    let (findings, code, _) = audit(&[
        "--fail-on",
        "critical",
        "--exclude-checks",
        "root-access-keys",
    ]);
    assert_eq!(code, 0);
    assert!(findings.iter().all(|f| f["check"] != "root-access-keys"));
}

#[test]
fn usage_errors_exit_2_and_name_the_problem() {
    let (_, code, err) = audit(&["--checks", "root-keys"]);
    assert_eq!(code, 2);
    assert!(err.contains("no check is named \"root-keys\""), "{err}");
    let out = trailwatch(&["audit", "--credential-report", "/nonexistent/report.csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("/nonexistent/report.csv: cannot read"),
        "{}",
        stderr(&out)
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "user,arn\nx,y\n").unwrap();
    let out = trailwatch(&["audit", "--credential-report", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no column \"user_creation_time\""),
        "{}",
        stderr(&out)
    );
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[audit]\nmin_admins = 6\n").unwrap();
    let (_, code, err) = audit(&["--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("audit.min_admins: is 6, above audit.max_admins (5)"),
        "{err}"
    );
    std::fs::write(&cfg, "[audit]\ninterval = \"often\"\n").unwrap();
    let (_, code, err) = audit(&["--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 2);
    // The file's value is not repeated (it could be a secret on another key); the key is named.
    assert!(
        err.contains("line 2, column 12 (key interval): \"…\" is not a duration"),
        "{err}"
    );
    let out = trailwatch(&[
        "audit",
        "--credential-report",
        &report(),
        "--now",
        "yesterday",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not an RFC 3339 time"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn csv_ocsf_and_table_formats() {
    let root_keys = ["--checks", "root-access-keys"];
    let csv = stdout(&audit_as("csv", &root_keys));
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "check,status,severity,resource,requirement,account,region,reason,remediation,cis,muted"
    );
    assert!(lines.next().unwrap().starts_with("root-access-keys,FAIL,critical,arn:aws:iam::111122223333:root,,111122223333,,the root user has 1 active access key(s),"));

    let ocsf: serde_json::Value =
        serde_json::from_str(stdout(&audit_as("ocsf", &root_keys)).trim()).unwrap();
    assert_eq!(ocsf["class_uid"], 2003);
    assert_eq!(ocsf["type_uid"], 200301);
    assert_eq!(ocsf["severity_id"], 5);
    assert_eq!(ocsf["severity"], "Critical");
    assert_eq!(ocsf["time"], 1_795_608_000_000i64);
    assert_eq!(ocsf["compliance"]["control"], "root-access-keys");
    assert_eq!(ocsf["compliance"]["status"], "Fail");
    assert_eq!(
        ocsf["compliance"]["requirements"],
        serde_json::json!(["1.4"])
    );
    assert_eq!(
        ocsf["resources"][0]["uid"],
        "arn:aws:iam::111122223333:root"
    );
    assert_eq!(ocsf["resources"][0]["type"], "root");
    assert_eq!(ocsf["cloud"]["account"]["uid"], "111122223333");

    let table = stdout(&audit_as("table", &[]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("STATUS  SEVERITY"));
    assert!(
        lines[1].starts_with("FAIL    critical       root-access-keys"),
        "{table}"
    );
    assert!(table.ends_with("43 findings: 15 FAIL, 0 ERROR, 1 MANUAL, 0 MUTED, 27 PASS (PASS lines: --format json or csv)\n"), "{table}");
}

#[test]
fn the_posture_page_documents_every_check() {
    let page =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/posture.md")).unwrap();
    let table = &page[page
        .find("| check | severity |")
        .expect("the posture table")..];
    let listed = stdout(&trailwatch(&["audit", "--list-checks"]));
    for id in listed.lines().map(|l| l.split_whitespace().next().unwrap()) {
        assert!(
            table.contains(&format!("`{id}`")),
            "docs/posture.md's table lacks {id}"
        );
    }
}

#[test]
fn check_config_validates_the_audit_table() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    let base = "[sqs]\nqueue_urls = [\"https://sqs.us-east-1.amazonaws.com/111122223333/q\"]\n[[sinks.jsonl]]\npath = \"-\"\n";
    let check = |audit: &str| {
        std::fs::write(&cfg, format!("{base}{audit}")).unwrap();
        trailwatch(&["check-config", "--config", cfg.to_str().unwrap()])
    };
    let ok = check("[audit]\nenabled = true\ninterval = \"12h\"\n");
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert!(
        stdout(&ok).contains("posture audit on, every 12h, 0 account(s) by role, 0 mute(s)"),
        "{}",
        stdout(&ok)
    );
    for (audit, says) in [
        (
            "[audit]\nrotation_days = 0\n",
            "audit.rotation_days: must be 1 to 3650 days (is 0)",
        ),
        ("[audit]\nrotate_days = 90\n", "unknown field `rotate_days`"),
        (
            "[audit]\ninterval = \"10s\"\n",
            "audit.interval: must be at least 1m",
        ),
        (
            "[[audit.mute]]\ncheck = \"user-mfaa\"\nreason = \"x\"\n",
            "audit.mute[0].check: no check is named \"user-mfaa\"",
        ),
        (
            "[[audit.accounts]]\nrole_arn = \"222233334444\"\n",
            "audit.accounts[0].role_arn: \"222233334444\" is not a role ARN",
        ),
    ] {
        let out = check(audit);
        assert_eq!(out.status.code(), Some(2), "{audit}");
        assert!(stderr(&out).contains(says), "{audit}: {}", stderr(&out));
    }
}
