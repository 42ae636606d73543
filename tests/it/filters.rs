//! Sigma filter documents: exclusions attached to named rules, in the library and through
//! `trailwatch replay`.

use crate::common;

use common::{alerts, matches, record, rule_names, ruleset, samples, stderr, trailwatch};
use trailwatch::rules::RuleSetBuilder;

const RULES: &str = r#"
title: Access key created
name: key-created
logsource: {product: aws, service: cloudtrail}
detection:
  selection: {eventName: CreateAccessKey}
  condition: selection
---
title: User created
name: user-created
logsource: {product: aws, service: cloudtrail}
detection:
  selection: {eventName: CreateUser}
  condition: selection
---
title: Provisioning pipeline is expected to create keys
logsource: {product: aws, service: cloudtrail}
filter:
  rules: [key-created]
  pipeline:
    userIdentity.arn|endswith: ':role/provisioner'
  office:
    sourceIPAddress|cidr: 198.51.100.0/24
  condition: pipeline or office
"#;

#[test]
fn a_filter_excludes_only_matching_events_of_the_rules_it_names() {
    let set = ruleset(RULES);
    let from = |arn: &str, ip: &str| {
        format!(r#""userIdentity":{{"arn":"{arn}"}},"sourceIPAddress":"{ip}""#)
    };
    let events = [
        record(
            "CreateAccessKey",
            &from("arn:aws:iam::1:role/provisioner", "203.0.113.1"),
        ),
        record(
            "CreateAccessKey",
            &from("arn:aws:iam::1:user/mallory", "198.51.100.7"),
        ),
        record(
            "CreateAccessKey",
            &from("arn:aws:iam::1:user/mallory", "203.0.113.1"),
        ),
        // The filter names key-created only: user-created still fires for the pipeline.
        record(
            "CreateUser",
            &from("arn:aws:iam::1:role/provisioner", "203.0.113.1"),
        ),
    ];
    let got = matches(&set, &format!("[{}]", events.join(",")));
    assert_eq!(
        got,
        vec![
            vec![],
            vec![],
            vec!["key-created".to_string()],
            vec!["user-created".to_string()]
        ]
    );
}

#[test]
fn a_filter_naming_an_unknown_rule_is_an_error_naming_the_filter() {
    let mut b = RuleSetBuilder::new();
    b.add_yaml(
        "f.yml",
        &RULES.replace("rules: [key-created]", "rules: [key-created, nope]"),
    );
    let errors = b.build().unwrap_err();
    assert_eq!(errors.len(), 1);
    let e = errors[0].to_string();
    assert!(
        e.contains("f.yml") && e.contains("filter.rules") && e.contains("\"nope\""),
        "{e}"
    );

    let mut b = RuleSetBuilder::new();
    b.add_yaml("g.yml", &RULES.replace("  rules: [key-created]\n", ""));
    let e = b.build().unwrap_err()[0].to_string();
    assert!(e.contains("filter.rules") && e.contains("missing"), "{e}");
}

#[test]
fn replay_applies_filters_and_counts_what_they_excluded() {
    let dir = tempfile::tempdir().unwrap();
    let filter = dir.path().join("allow-root.yml");
    // The samples' root console logins, excluded for one source network.
    std::fs::write(
        &filter,
        r#"
title: Break-glass logins from the office
logsource: {product: aws, service: cloudtrail}
filter:
  rules: [root-console-login]
  office:
    sourceIPAddress|cidr: 0.0.0.0/0
  condition: office
"#,
    )
    .unwrap();
    let logs = samples().join("AWSLogs");
    let plain = trailwatch(&["replay", logs.to_str().unwrap()]);
    let before = rule_names(&alerts(&plain))
        .iter()
        .filter(|r| *r == "root-console-login")
        .count();
    assert!(before > 0);
    let out = trailwatch(&[
        "replay",
        "--add-rules",
        filter.to_str().unwrap(),
        logs.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let names = rule_names(&alerts(&out));
    assert!(!names.iter().any(|r| r == "root-console-login"));
    assert_eq!(
        names.len(),
        alerts(&plain).len() - before,
        "nothing else changed"
    );
    assert!(
        stderr(&out).contains(&format!(
            "excluded (filters and exclusions): root-console-login {before}"
        )),
        "{}",
        stderr(&out)
    );
}

#[test]
fn config_exclusions_apply_to_replay_and_bad_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("trailwatch.toml");
    let logs = samples().join("AWSLogs");
    let plain = alerts(&trailwatch(&["replay", logs.to_str().unwrap()]));
    let root = plain
        .iter()
        .filter(|a| a["rule"]["name"] == "root-console-login")
        .count();
    let failures = plain
        .iter()
        .filter(|a| a["rule"]["name"] == "console-login-failure")
        .count();
    assert!(root > 0 && failures > 0);
    // Root logins from anywhere, for one account; every rule for a user agent nobody uses.
    std::fs::write(
        &config,
        r#"
[[exclusions]]
reason = "break-glass drills"
rules = ["root-console-login"]
accounts = ["111122223333"]
source_cidrs = ["0.0.0.0/0"]

[[exclusions]]
user_agents = ["*no-such-agent*"]
"#,
    )
    .unwrap();
    let out = trailwatch(&[
        "replay",
        "--config",
        config.to_str().unwrap(),
        logs.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let got = alerts(&out);
    assert_eq!(got.len(), plain.len() - root);
    assert!(!got
        .iter()
        .any(|a| a["rule"]["name"] == "root-console-login"));
    assert!(
        stderr(&out).contains(&format!(
            "excluded (filters and exclusions): root-console-login {root}"
        )),
        "{}",
        stderr(&out)
    );

    std::fs::write(&config, "[[exclusions]]\nrules = [\"x\"]\n").unwrap();
    let out = trailwatch(&[
        "replay",
        "--config",
        config.to_str().unwrap(),
        logs.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("trailwatch.toml") && stderr(&out).contains("exclusions[0]"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_config_refuses_an_exclusion_for_a_rule_that_is_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("trailwatch.toml");
    let text = "[sqs]\nqueue_urls = [\"https://sqs.us-east-1.amazonaws.com/111122223333/q\"]\n\
        [[sinks.jsonl]]\npath = \"-\"\n[[exclusions]]\nrules = [\"RULE\"]\naccounts = [\"1\"]\n";
    std::fs::write(&config, text.replace("RULE", "root-console-logn")).unwrap();
    let out = trailwatch(&["check-config", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("exclusions[0].rules: no rule named \"root-console-logn\""),
        "{}",
        stderr(&out)
    );
    std::fs::write(&config, text.replace("RULE", "root-console-login")).unwrap();
    let out = trailwatch(&["check-config", "--config", config.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
}
