//! `trailwatch replay` end to end: the real binary on real files.

use crate::common;

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;

use common::{alerts, gzip, record, rule_names, samples, stderr, stdout, trailwatch};

#[test]
fn samples_fire_every_built_in_rule_and_skip_the_digest() {
    let out = trailwatch(&["replay", samples().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let fired: BTreeSet<String> = rule_names(&alerts(&out)).into_iter().collect();
    let listed = trailwatch(&["rules", "list"]);
    let listed = stdout(&listed);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 65 + 11, "65 rules and 11 correlations");
    // Correlations and the rules that only feed them are covered by their test sequences.
    let all: BTreeSet<String> = lines
        .iter()
        .filter(|l| !l.contains("\tcorrelation:") && !l.ends_with("(feeds correlations only)"))
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect();
    assert_eq!(all.len(), 58);
    let correlations: BTreeSet<String> = fired.difference(&all).cloned().collect();
    assert_eq!(
        fired.intersection(&all).count(),
        all.len(),
        "every built-in rule that alerts on its own fires on the samples"
    );
    // The samples hold one sign-in without MFA followed by a new access key, and one
    // instance credential used from a second address.
    assert_eq!(
        correlations.into_iter().collect::<Vec<_>>(),
        [
            "instance-credentials-second-address",
            "login-without-mfa-then-access-key"
        ]
    );
    let err = stderr(&out);
    assert!(err.contains("skipped: 1 digest files"), "{err}");
    assert!(err.contains("0 errors"), "{err}");
}

#[test]
fn array_ndjson_and_eventbridge_give_exact_alerts_in_record_order() {
    let expected = [
        "iam-user-created",
        "admin-policy-attached",
        "iam-policy-change",
        "access-key-created",
        "cloudtrail-change",
        "cloudtrail-stopped",
    ];
    for file in ["exports/detonation.json", "exports/shipper.ndjson"] {
        let out = trailwatch(&["replay", samples().join(file).to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{file}: {}", stderr(&out));
        assert_eq!(rule_names(&alerts(&out)), expected, "{file}");
    }
    let out = trailwatch(&[
        "replay",
        samples()
            .join("eventbridge/root-console-login.json")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(
        rule_names(&alerts(&out)),
        ["root-activity", "root-console-login"]
    );
}

#[test]
fn alert_document_has_the_documented_shape_and_a_stable_id() {
    let file = samples().join("exports/detonation.json");
    let out = trailwatch(&[
        "replay",
        "--rule",
        "admin-policy-attached",
        file.to_str().unwrap(),
    ]);
    let a = &alerts(&out)[0];
    assert_eq!(a["rule"]["name"], "admin-policy-attached");
    assert_eq!(a["rule"]["level"], "high");
    assert!(a["rule"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t == "attack.t1098.003"));
    assert_eq!(a["event"]["name"], "AttachUserPolicy");
    assert_eq!(a["event"]["source"], "iam.amazonaws.com");
    assert_eq!(a["event"]["region"], "us-east-1");
    assert_eq!(a["event"]["account"], "111122223333");
    assert_eq!(a["event"]["actor"]["type"], "IAMUser");
    assert_eq!(a["event"]["actor"]["name"], "alice");
    assert_eq!(
        a["event"]["actor"]["arn"],
        "arn:aws:iam::111122223333:user/alice"
    );
    assert_eq!(a["event"]["source_ip"], "192.0.2.66");
    assert_eq!(a["event"]["error_code"], serde_json::Value::Null);
    assert_eq!(a["origin"]["file"], file.to_str().unwrap());
    assert_eq!(
        a["summary"],
        "AdministratorAccess attached: IAMUser alice called iam:AttachUserPolicy in account 111122223333 (us-east-1) from 192.0.2.66"
    );
    assert_eq!(a["record"]["requestParameters"]["userName"], "svc-backup");
    assert_eq!(a["event"]["id"], a["record"]["eventID"]);

    // The same event read from another shape gives the same alert_id.
    let ndjson = samples().join("exports/shipper.ndjson");
    let again = trailwatch(&[
        "replay",
        "--rule",
        "admin-policy-attached",
        ndjson.to_str().unwrap(),
    ]);
    assert_eq!(alerts(&again)[0]["alert_id"], a["alert_id"]);
    assert_eq!(a["alert_id"].as_str().unwrap().len(), 36);
}

#[test]
fn bad_inputs_are_reported_one_line_each_and_the_rest_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let good = record("CreateUser", "");
    let d = dir.path();
    fs::write(d.join("a-good.json"), format!(r#"{{"Records":[{good}]}}"#)).unwrap();
    let mut corrupt = gzip(format!(r#"{{"Records":[{good},{good}]}}"#).as_bytes());
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0xff;
    corrupt[mid + 1] ^= 0xff;
    fs::write(d.join("b-corrupt.json.gz"), corrupt).unwrap();
    fs::write(
        d.join("c-truncated.json"),
        format!(r#"{{"Records":[{good},{{"eventName":"#),
    )
    .unwrap();
    fs::write(
        d.join("d-not-cloudtrail.json"),
        r#"{"Records":[{"hello":"world"}]}"#,
    )
    .unwrap();
    fs::write(d.join("e-garbage.bin"), [0u8, 159, 146, 150, 7, 255]).unwrap();
    std::os::unix::fs::symlink(d.join("missing"), d.join("f-dangling.json")).unwrap();
    let also_good = d.join("z-good.json.gz");
    fs::write(&also_good, gzip(good.as_bytes())).unwrap();

    let out = trailwatch(&["replay", "--rule", "iam-user-created", d.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "some input failed");
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(lines.len(), 5, "{err}");
    let line_for = |name: &str| {
        lines
            .iter()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no error for {name}: {err}"))
            .to_string()
    };
    assert!(line_for("b-corrupt.json.gz").contains("corrupt gzip data"));
    let t = line_for("c-truncated.json");
    assert!(
        t.contains("truncated JSON") && t.contains("record 1"),
        "{t}"
    );
    let n = line_for("d-not-cloudtrail.json");
    assert!(
        n.contains("not CloudTrail") && n.contains("record 0"),
        "{n}"
    );
    let g = line_for("e-garbage.bin");
    assert!(g.contains("invalid JSON") && g.contains("byte 0"), "{g}");
    assert!(line_for("f-dangling.json").contains("cannot read"));
    // Good files, and the good record before the truncation, still produce alerts.
    let origins: Vec<String> = alerts(&out)
        .iter()
        .map(|a| {
            a["origin"]["file"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        origins,
        ["a-good.json", "c-truncated.json", "z-good.json.gz"]
    );
}

#[test]
fn a_closed_stderr_does_not_stop_or_crash_a_replay() {
    // `trailwatch replay ... 2>&1 | head -1`: whatever is left of the error lines and the
    // summary has nowhere to go; the alerts are still written and the exit status still says
    // an input failed.
    let dir = tempfile::tempdir().unwrap();
    let good = record("CreateUser", "");
    fs::write(
        dir.path().join("a-good.json"),
        format!(r#"{{"Records":[{good}]}}"#),
    )
    .unwrap();
    fs::write(dir.path().join("b-bad.json"), "not json").unwrap();
    let out = common::trailwatch_stderr_closed(&[
        "replay",
        "--rule",
        "iam-user-created",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{:?}", out.status);
    assert_eq!(alerts(&out).len(), 1);
}

#[test]
fn since_and_until_filter_on_event_time() {
    let file = samples().join("exports/detonation.json");
    let f = file.to_str().unwrap();
    // The detonation runs from 14:00:01 to 14:00:12; CreateAccessKey is at 14:00:09.
    let out = trailwatch(&[
        "replay",
        "--since",
        "2026-11-21T14:00:08Z",
        "--until",
        "2026-11-21T14:00:10Z",
        f,
    ]);
    assert_eq!(rule_names(&alerts(&out)), ["access-key-created"]);
    assert!(stderr(&out).contains("4 records outside --since/--until"));
    let out = trailwatch(&["replay", "--since", "1h", f]);
    assert!(alerts(&out).is_empty(), "everything is older than an hour");
    let out = trailwatch(&["replay", "--since", "last tuesday", f]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--since"));
}

#[test]
fn rule_selection_and_rule_errors_exit_2() {
    let f = samples().join("exports/detonation.json");
    let out = trailwatch(&["replay", "--rule", "no-such-rule", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no rule named \"no-such-rule\""));

    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("broken.yml"),
        "title: Broken\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel:\n    eventName|startswith|endswith: x\n  condition: sel\n",
    )
    .unwrap();
    let out = trailwatch(&[
        "replay",
        "--add-rules",
        dir.path().to_str().unwrap(),
        f.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("broken.yml: rule \"Broken\": detection.sel.eventName|startswith|endswith:"),
        "{err}"
    );
}

#[test]
fn own_rules_replace_the_pack() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("mine.yml"),
        "title: Any CreateUser\nname: any-create-user\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel:\n    eventName: CreateUser\n  condition: sel\nlevel: low\n",
    )
    .unwrap();
    let f = samples().join("exports/detonation.json");
    let out = trailwatch(&[
        "replay",
        "--rules",
        dir.path().to_str().unwrap(),
        f.to_str().unwrap(),
    ]);
    assert_eq!(rule_names(&alerts(&out)), ["any-create-user"]);
}

#[test]
fn one_thread_and_many_threads_give_the_same_alerts() {
    let s = samples();
    let run = |threads: &str| {
        let out = trailwatch(&["replay", "--threads", threads, s.to_str().unwrap()]);
        let mut ids: Vec<String> = alerts(&out)
            .iter()
            .map(|a| a["alert_id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    let one = run("1");
    assert!(!one.is_empty());
    assert_eq!(one, run("4"));
}

/// One file large enough to be read on every core (over 4 MiB as stored): the same alerts in
/// the same order as one thread gives, whole or cut short.
#[test]
fn one_large_file_on_every_core_keeps_record_order() {
    let dir = tempfile::tempdir().unwrap();
    let made = trailwatch(&[
        "generate",
        "--out",
        dir.path().to_str().unwrap(),
        "--size-mb",
        "80",
        "--density",
        "0.3",
        "--records-per-file",
        "100000000",
    ]);
    assert!(made.status.success(), "{}", stderr(&made));
    let file = common::files_under(dir.path()).pop().expect("one file");
    let size = fs::metadata(&file).unwrap().len();
    assert!(size > 4 << 20, "{size} bytes: too small to be split");
    let cut = dir.path().join("cut.json.gz");
    fs::write(&cut, &fs::read(&file).unwrap()[..(size as usize) * 3 / 4]).unwrap();
    // Records that stop beginning as the first one does, part way: the parts are cut where
    // records begin up to there, then a cut proves wrong and the rest is read again.
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(fs::File::open(&file).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let records = text.find('[').unwrap() + 1;
    let first_key = &text[records..records + text[records..].find(':').unwrap()]; // `{"key"`
    let half = text[text.len() / 4..].find(first_key).unwrap() + text.len() / 4;
    let end = text[..text.len() / 2]
        .rfind(&format!(",{first_key}"))
        .unwrap();
    let changed = format!(
        "{}{}]}}",
        &text[..half],
        text[half..end].replace(
            &format!(",{first_key}"),
            &format!(",{{\"z\":1,{}", &first_key[1..])
        )
    );
    let mixed = dir.path().join("mixed.json.gz");
    fs::write(&mixed, gzip(changed.as_bytes())).unwrap();
    assert!(fs::metadata(&mixed).unwrap().len() > 4 << 20);

    let run = |threads: &str, path: &std::path::Path| {
        let out = trailwatch(&["replay", "--threads", threads, path.to_str().unwrap()]);
        let lines: Vec<String> = stdout(&out)
            .lines()
            .map(|l| {
                let mut a: serde_json::Value = serde_json::from_str(l).unwrap();
                a.as_object_mut().unwrap().remove("detected_at");
                a.to_string()
            })
            .collect();
        (out.status.code(), lines, stderr(&out))
    };
    let (code, one, said) = run("1", &file);
    assert_eq!(code, Some(0), "{said}");
    assert!(one.len() > 10_000, "{} alerts", one.len());
    let (code, three, _) = run("3", &file);
    assert_eq!(code, Some(0));
    assert!(one == three, "three threads: other alerts or another order");

    let (code, one, said) = run("1", &cut);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("cut.json.gz"), "{said}");
    let (code, three, said_three) = run("3", &cut);
    assert_eq!(code, Some(1));
    assert!(one == three, "cut short: other alerts or another order");
    let summary = |s: &str| {
        s.lines()
            .next()
            .unwrap()
            .split(" in ")
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(summary(&said), summary(&said_three));

    let (code, one, said) = run("1", &mixed);
    assert_eq!(code, Some(0), "{said}");
    assert!(one.len() > 1_000, "{} alerts", one.len());
    let (code, three, said_three) = run("3", &mixed);
    assert_eq!(code, Some(0));
    assert!(
        one == three,
        "cuts proved wrong: other alerts or another order"
    );
    assert_eq!(summary(&said), summary(&said_three));
}

#[test]
fn over_the_memory_budget_the_result_is_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().to_str().unwrap();
    common::dense_archive(dir.path(), "12", "0.4", "5");
    let run = |args: &[&str]| {
        let mut all = vec!["replay", "--threads", "2"];
        all.extend_from_slice(args);
        all.push(archive);
        let out = trailwatch(&all);
        assert!(out.status.success(), "{}", stderr(&out));
        let mut lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
        lines.sort();
        (lines, stderr(&out))
    };
    let (in_memory, said) = run(&[]);
    assert!(!said.contains("sorted on disk"), "{said}");
    let (spilled, said) = run(&["--memory-budget", "1"]);
    assert!(said.contains("sorted on disk"), "{said}");
    let correlations = in_memory
        .iter()
        .filter(|l| l.contains("\"correlation\":{"))
        .count();
    assert!(correlations > 10, "{correlations} correlation alerts");
    // Same alerts, each the same document but for when it was detected.
    let strip = |lines: Vec<String>| -> Vec<String> {
        let mut v: Vec<String> = lines
            .iter()
            .map(|l| {
                let mut a: serde_json::Value = serde_json::from_str(l).unwrap();
                a.as_object_mut().unwrap().remove("detected_at");
                a.to_string()
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(strip(spilled), strip(in_memory));
}

#[test]
fn table_format_and_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("alerts.txt");
    let f = samples().join("exports/detonation.json");
    let out = trailwatch(&[
        "replay",
        "--format",
        "table",
        "--output",
        out_file.to_str().unwrap(),
        f.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).is_empty());
    let text = fs::read_to_string(out_file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("TIME"));
    assert_eq!(lines.len(), 7);
    assert!(lines[1].contains("iam-user-created") && lines[1].contains("192.0.2.66"));
}

#[test]
fn rules_commands() {
    let out = trailwatch(&["rules", "test"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).trim_end().ends_with("0 failed"));

    // A rule whose test expects an alert it does not raise makes `rules test` fail.
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("r.yml"),
        "title: R\nname: r\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel:\n    eventName: CreateUser\n  condition: sel\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("r.tests.yml"),
        format!(
            "rule: r\ntests:\n  - name: hit\n    expect: alert\n    event: {}\n  - name: wrong\n    expect: alert\n    event: {}\n",
            record("CreateUser", ""),
            record("DeleteUser", "")
        ),
    )
    .unwrap();
    let out = trailwatch(&["rules", "test", "--rules", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("ok    r: hit"), "{text}");
    assert!(text.contains("FAIL  r: wrong"), "{text}");
    assert!(text.contains("1 passed, 1 failed"), "{text}");

    let out = trailwatch(&["rules", "check", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out).trim(), "1 rules OK");
}

#[test]
fn a_newer_ip_ranges_file_decides_what_is_outside_aws() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let stolen = serde_json::json!({
        "eventVersion": "1.09", "eventTime": "2026-11-20T10:00:00Z",
        "eventSource": "s3.amazonaws.com", "eventName": "ListBuckets",
        "awsRegion": "eu-west-1", "sourceIPAddress": "203.0.113.50",
        "eventID": "5d0f7c52-8e0a-4f8a-9d7b-0c1e2f3a4b5c", "recipientAccountId": "111122223333",
        "userIdentity": {
            "type": "AssumedRole", "principalId": "AROAEXAMPLEWEBSERVER:i-0abc1234def567890",
            "arn": "arn:aws:sts::111122223333:assumed-role/WebServer/i-0abc1234def567890",
            "accountId": "111122223333", "accessKeyId": "ASIAEXAMPLEINSTANCE1"
        }
    });
    let trail = d.join("trail.json");
    fs::write(&trail, format!(r#"{{"Records":[{stolen}]}}"#)).unwrap();
    let trail = trail.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["replay", "--rule", "instance-credentials-outside-aws"];
        args.extend_from_slice(extra);
        args.push(trail);
        trailwatch(&args)
    };
    // 203.0.113.50 is outside the shipped ranges.
    assert_eq!(
        rule_names(&alerts(&run(&[]))),
        ["instance-credentials-outside-aws"]
    );
    // A later document that lists the address (gzipped, as one may keep it).
    let newer = r#"{"syncToken":"2","createDate":"2027-01-01-00-00-00","prefixes":[
        {"ip_prefix":"203.0.113.0/24","region":"eu-west-1","service":"EC2","network_border_group":"eu-west-1"}],
        "ipv6_prefixes":[]}"#;
    let ranges = d.join("ip-ranges.json.gz");
    fs::write(&ranges, gzip(newer.as_bytes())).unwrap();
    let out = run(&["--aws-ip-ranges", ranges.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(alerts(&out).is_empty());
    // A file that is not one stops the command, naming it.
    let bad = d.join("not-ranges.json");
    fs::write(&bad, "[]").unwrap();
    let out = run(&["--aws-ip-ranges", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("not-ranges.json") && err.contains("not an AWS ip-ranges.json document"),
        "{err}"
    );
}
