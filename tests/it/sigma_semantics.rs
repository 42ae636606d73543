//! Sigma as the specification defines it: one small rule per construct, each checked on events
//! that must and must not match. These rules are written for these tests.

use crate::common;

use common::{matches, record, ruleset};
use trailwatch::rules::{RuleError, RuleSetBuilder};

const HEAD: &str = "logsource: {product: aws, service: cloudtrail}\n";

/// Builds one rule named `t` from a detection block and says which records it matches.
fn hits(detection: &str, records: &[String]) -> Vec<bool> {
    let yaml = format!("title: t\nname: t\n{HEAD}detection:\n{detection}\n");
    let set = ruleset(&yaml);
    let json = records.join("\n");
    matches(&set, &json)
        .into_iter()
        .map(|names| names.iter().any(|n| n == "t"))
        .collect()
}

fn rule_error(yaml: &str) -> RuleError {
    let mut b = RuleSetBuilder::new();
    b.add_yaml("bad.yml", yaml);
    let mut errors = b.build().expect_err("the rule must be refused");
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors.remove(0)
}

#[test]
fn map_is_and_list_of_values_is_or_and_matching_ignores_case() {
    let det = "  sel:\n    eventName: [createuser, DeleteUser]\n    userIdentity.type: IAMUser\n  condition: sel";
    assert_eq!(
        hits(
            det,
            &[
                record("CreateUser", r#""userIdentity":{"type":"IAMUser"}"#),
                record("DELETEUSER", r#""userIdentity":{"type":"iamuser"}"#),
                record("CreateUser", r#""userIdentity":{"type":"Root"}"#),
                record("GetUser", r#""userIdentity":{"type":"IAMUser"}"#),
            ]
        ),
        [true, true, false, false]
    );
}

#[test]
fn list_of_maps_is_or() {
    let det =
        "  sel:\n    - eventName: CreateUser\n    - errorCode: AccessDenied\n  condition: sel";
    assert_eq!(
        hits(
            det,
            &[
                record("CreateUser", ""),
                record("GetUser", r#""errorCode":"AccessDenied""#),
                record("GetUser", ""),
            ]
        ),
        [true, true, false]
    );
}

#[test]
fn dotted_paths_reach_through_nested_objects_and_arrays() {
    let det = "  sel:\n    requestParameters.ipPermissions.items.ipRanges.items.cidrIp: 0.0.0.0/0\n  condition: sel";
    let open = r#""requestParameters":{"ipPermissions":{"items":[{"ipRanges":{"items":[{"cidrIp":"10.0.0.0/8"}]}},{"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]}}]}}"#;
    let closed = r#""requestParameters":{"ipPermissions":{"items":[{"ipRanges":{"items":[{"cidrIp":"10.0.0.0/8"}]}}]}}"#;
    assert_eq!(
        hits(det, &[record("A", open), record("A", closed)]),
        [true, false]
    );
}

#[test]
fn wildcards_and_escapes() {
    let det = "  sel:\n    userAgent: 'aws-cli/2.*'\n  q:\n    eventName: 'Create?ser'\n  lit:\n    errorMessage: 'a\\*b'\n  condition: sel or q or lit";
    assert_eq!(
        hits(
            det,
            &[
                record("X", r#""userAgent":"AWS-CLI/2.15.0 Python""#),
                record("X", r#""userAgent":"aws-cli/1.0""#),
                record("CreateUser", ""),
                record("CreateUsers", ""),
                record("X", r#""errorMessage":"a*b""#),
                record("X", r#""errorMessage":"aXb""#),
            ]
        ),
        [true, false, true, false, true, false]
    );
}

#[test]
fn null_matches_missing_or_null_and_empty_string_is_not_null() {
    let det = "  sel:\n    errorCode: null\n  condition: sel";
    assert_eq!(
        hits(
            det,
            &[
                record("A", ""),
                record("A", r#""errorCode":null"#),
                record("A", r#""errorCode":"""#),
                record("A", r#""errorCode":"AccessDenied""#),
            ]
        ),
        [true, true, false, false]
    );
    let det = "  sel:\n    errorCode: ''\n  condition: sel";
    assert_eq!(
        hits(det, &[record("A", r#""errorCode":"""#), record("A", "")]),
        [true, false]
    );
}

#[test]
fn keywords_search_the_whole_record() {
    let det = "  keywords:\n    - 'evil.example'\n    - 'bad*actor'\n  condition: keywords";
    assert_eq!(
        hits(
            det,
            &[
                record(
                    "A",
                    r#""requestParameters":{"url":"https://EVIL.example/x"}"#
                ),
                record("A", r#""userAgent":"bad-ish actor""#),
                record("A", r#""userAgent":"good""#),
            ]
        ),
        [true, true, false]
    );
    // Values, decoded: not key names, and escaped text as it reads.
    let det = "  keywords:\n    - 'eventName'\n  condition: keywords";
    assert_eq!(hits(det, &[record("A", "")]), [false]);
    let det = "  keywords:\n    - 'Sébastien'\n    - 'a\"b'\n  condition: keywords";
    assert_eq!(
        hits(
            det,
            &[
                record("A", r#""userIdentity":{"userName":"S\u00e9bastien"}"#),
                record("A", r#""requestParameters":{"name":"a\"b"}"#),
                record("A", r#""userIdentity":{"userName":"Sebastien"}"#),
            ]
        ),
        [true, true, false]
    );
}

#[test]
fn string_modifiers_and_all() {
    // `\*` is a literal star: a plain `*` would be a wildcard and also match "s3:*".
    let det = "  sel:\n    requestParameters.policyDocument|contains|all: ['\"Effect\":\"Allow\"', '\"Action\":\"\\*\"']\n  condition: sel";
    let both =
        r#""requestParameters":{"policyDocument":"{\"Effect\":\"Allow\",\"Action\":\"*\"}"}"#;
    let one =
        r#""requestParameters":{"policyDocument":"{\"Effect\":\"Allow\",\"Action\":\"s3:*\"}"}"#;
    assert_eq!(
        hits(det, &[record("A", both), record("A", one)]),
        [true, false]
    );

    let det = "  a:\n    eventName|startswith: Delete\n  b:\n    eventName|endswith: Policy\n  condition: a and b";
    assert_eq!(
        hits(
            det,
            &[
                record("DeleteRolePolicy", ""),
                record("DeleteRole", ""),
                record("PutRolePolicy", "")
            ]
        ),
        [true, false, false]
    );
}

#[test]
fn cased_makes_matching_case_sensitive() {
    let det = "  sel:\n    userAgent|cased: Boto3\n  condition: sel";
    assert_eq!(
        hits(
            det,
            &[
                record("A", r#""userAgent":"Boto3""#),
                record("A", r#""userAgent":"boto3""#)
            ]
        ),
        [true, false]
    );
}

#[test]
fn regular_expressions_and_their_flags() {
    let det = "  sel:\n    userAgent|re: '^aws-cli/[0-9]+\\.'\n  condition: sel";
    assert_eq!(
        hits(
            det,
            &[
                record("A", r#""userAgent":"aws-cli/2.1""#),
                record("A", r#""userAgent":"AWS-CLI/2.1""#)
            ]
        ),
        [true, false],
        "re is case-sensitive by default"
    );
    let det = "  sel:\n    userAgent|re|i: '^aws-cli/'\n  condition: sel";
    assert_eq!(
        hits(det, &[record("A", r#""userAgent":"AWS-CLI/2.1""#)]),
        [true]
    );
    let det = "  sel:\n    errorMessage|re|s: 'first.second'\n  condition: sel";
    assert_eq!(
        hits(det, &[record("A", r#""errorMessage":"first\nsecond""#)]),
        [true]
    );
    let det = "  sel:\n    errorMessage|re|m: '^second$'\n  condition: sel";
    assert_eq!(
        hits(det, &[record("A", r#""errorMessage":"first\nsecond""#)]),
        [true]
    );
}

#[test]
fn cidr_exists_and_numeric_comparisons() {
    let det =
        "  sel:\n    sourceIPAddress|cidr: ['192.0.2.0/24', '2001:db8::/32']\n  condition: sel";
    assert_eq!(
        hits(
            det,
            &[
                record("A", r#""sourceIPAddress":"192.0.2.7""#),
                record("A", r#""sourceIPAddress":"2001:db8::1""#),
                record("A", r#""sourceIPAddress":"198.51.100.1""#),
                record("A", r#""sourceIPAddress":"cloudtrail.amazonaws.com""#),
            ]
        ),
        [true, true, false, false]
    );
    let det = "  sel:\n    userIdentity.invokedBy|exists: false\n  condition: sel";
    assert_eq!(
        hits(
            det,
            &[
                record("A", r#""userIdentity":{"invokedBy":"s3.amazonaws.com"}"#),
                record("A", "")
            ]
        ),
        [false, true]
    );
    let det = "  sel:\n    requestParameters.pendingWindowInDays|lt: 8\n  big:\n    requestParameters.pendingWindowInDays|gte: 30\n  condition: sel or big";
    assert_eq!(
        hits(
            det,
            &[
                record("A", r#""requestParameters":{"pendingWindowInDays":7}"#),
                record("A", r#""requestParameters":{"pendingWindowInDays":"30"}"#),
                record("A", r#""requestParameters":{"pendingWindowInDays":10}"#),
            ]
        ),
        [true, true, false]
    );
}

#[test]
fn neq_and_fieldref() {
    let det = "  sel:\n    eventName: CreateAccessKey\n    responseElements.accessKey.userName|fieldref: userIdentity.userName\n  condition: sel";
    let own = r#""userIdentity":{"userName":"alice"},"responseElements":{"accessKey":{"userName":"Alice"}}"#;
    let other = r#""userIdentity":{"userName":"alice"},"responseElements":{"accessKey":{"userName":"bob"}}"#;
    assert_eq!(
        hits(
            det,
            &[
                record("CreateAccessKey", own),
                record("CreateAccessKey", other)
            ]
        ),
        [true, false]
    );
    let det = "  sel:\n    awsRegion|neq: us-east-1\n  condition: sel";
    let eu = record("A", "").replace("us-east-1", "eu-west-1");
    assert_eq!(hits(det, &[record("A", ""), eu.clone()]), [false, true]);
    // A list under neq: different from every value (not "from one of them", which any
    // two-value list would satisfy for every record).
    let det = "  sel:\n    awsRegion|neq: [us-east-1, eu-west-1]\n  condition: sel";
    let ap = record("A", "").replace("us-east-1", "ap-south-1");
    assert_eq!(hits(det, &[record("A", ""), eu, ap]), [false, false, true]);
}

#[test]
fn public_policy_reads_a_policy_in_a_string_or_an_object() {
    let det = "  sel:\n    requestParameters.policy|public_policy: true\n  condition: sel";
    let open = r#"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"*\"},\"Action\":\"kms:Decrypt\"}]}"#;
    let org = r#"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:Decrypt\",\"Condition\":{\"StringEquals\":{\"aws:PrincipalOrgID\":\"o-1\"}}}]}"#;
    let records = [
        // As JSON text, as most services record it.
        record(
            "PutKeyPolicy",
            &format!(r#""requestParameters":{{"policy":"{open}"}}"#),
        ),
        record(
            "PutKeyPolicy",
            &format!(r#""requestParameters":{{"policy":"{org}"}}"#),
        ),
        // As an object, as S3 records bucketPolicy.
        record(
            "PutKeyPolicy",
            r#""requestParameters":{"policy":{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}}}"#,
        ),
        // Not a policy, or no field: neither true nor false.
        record(
            "PutKeyPolicy",
            r#""requestParameters":{"policy":"{not json"}"#,
        ),
        record("PutKeyPolicy", r#""requestParameters":{}"#),
    ];
    assert_eq!(hits(det, &records), [true, false, true, false, false]);
    let det = "  sel:\n    requestParameters.policy|public_policy: false\n  condition: sel";
    assert_eq!(hits(det, &records), [false, true, false, false, false]);

    let e = rule_error(&format!(
        "title: Combined\n{HEAD}detection:\n  sel:\n    requestParameters.policy|public_policy|contains: true\n  condition: sel\n"
    ));
    assert!(
        e.message.contains("public_policy cannot be combined"),
        "{e}"
    );
    let e = rule_error(&format!(
        "title: Not a bool\n{HEAD}detection:\n  sel:\n    requestParameters.policy|public_policy: yes please\n  condition: sel\n"
    ));
    assert!(e.message.contains("takes true or false"), "{e}");
}

#[test]
fn exists_is_presence_even_when_null_or_empty() {
    let det = "  sel:\n    requestParameters.tags|exists: true\n  condition: sel";
    assert_eq!(
        hits(
            det,
            &[
                record("A", r#""requestParameters":{"tags":null}"#),
                record("A", r#""requestParameters":{"tags":[]}"#),
                record("A", r#""requestParameters":{"tags":[{"key":"a"}]}"#),
                record("A", r#""requestParameters":{}"#),
            ]
        ),
        [true, true, true, false]
    );
    let det = "  sel:\n    requestParameters.tags|exists: false\n  condition: sel";
    assert_eq!(
        hits(
            det,
            &[
                record("A", r#""requestParameters":{"tags":[]}"#),
                record("A", "")
            ]
        ),
        [false, true]
    );
}

#[test]
fn regex_digit_word_and_space_classes_are_ascii() {
    let det = "  sel:\n    requestParameters.port|re: '^\\d+$'\n  condition: sel";
    assert_eq!(
        hits(
            det,
            &[
                record("A", r#""requestParameters":{"port":"8443"}"#),
                record("A", r#""requestParameters":{"port":"٨٤٤٣"}"#),
            ]
        ),
        [true, false]
    );
}

#[test]
fn windash_matches_every_dash_a_flag_may_use() {
    let det =
        "  sel:\n    requestParameters.commandLine|windash|contains: ' -enc '\n  condition: sel";
    let cmd = |c: &str| {
        record(
            "A",
            &format!(r#""requestParameters":{{"commandLine":"powershell {c} SQBFAFgA"}}"#),
        )
    };
    assert_eq!(
        hits(
            det,
            &[
                cmd("-enc"),
                cmd("/enc"),
                cmd("\u{2013}enc"),
                cmd("\u{2014}enc"),
                cmd("\u{2015}enc"),
                cmd("enc")
            ]
        ),
        [true, true, true, true, true, false]
    );
}

#[test]
fn base64_and_base64offset() {
    // "/bin/sh" inside base64 user data at each of the three byte offsets.
    let det =
        "  sel:\n    requestParameters.userData|base64offset|contains: '/bin/sh'\n  condition: sel";
    let with = |data: &str| {
        use base64::Engine;
        let enc = base64::engine::general_purpose::STANDARD.encode(data);
        record(
            "RunInstances",
            &format!(r#""requestParameters":{{"userData":"{enc}"}}"#),
        )
    };
    assert_eq!(
        hits(
            det,
            &[
                with("#!/bin/sh -c x"),
                with("#!!/bin/sh -c x"),
                with("#!!!/bin/sh -c x"),
                with("#!/bin/bash")
            ]
        ),
        [true, true, true, false]
    );
    let det = "  sel:\n    requestParameters.tag|base64: secret\n  condition: sel";
    assert_eq!(
        hits(
            det,
            &[record("A", r#""requestParameters":{"tag":"c2VjcmV0"}"#)]
        ),
        [true]
    );
    let det = "  sel:\n    requestParameters.tag|wide|base64: ab\n  condition: sel";
    // "ab" in UTF-16LE is 61 00 62 00, base64 "YQBiAA==".
    assert_eq!(
        hits(
            det,
            &[record("A", r#""requestParameters":{"tag":"YQBiAA=="}"#)]
        ),
        [true]
    );
}

#[test]
fn full_condition_grammar() {
    let det = "  sel_a:\n    eventName: A\n  sel_b:\n    awsRegion: us-east-1\n  filter_x:\n    errorCode: X\n  _hidden:\n    eventName: Never\n  condition: (all of sel_* and not 1 of filter_*) or 1 of _hidden";
    assert_eq!(
        hits(
            det,
            &[
                record("A", ""),
                record("A", r#""errorCode":"X""#),
                record("B", ""),
                record("Never", "")
            ]
        ),
        [true, false, false, true]
    );
    let det = "  s1:\n    eventName: A\n  s2:\n    awsRegion: us-east-1\n  s3:\n    errorCode: X\n  condition: 2 of s*";
    assert_eq!(
        hits(
            det,
            &[
                record("A", ""),
                record("B", r#""errorCode":"X""#),
                record("B", "")
            ]
        ),
        [true, true, false]
    );
    let det = "  s1:\n    eventName: A\n  _s2:\n    eventName: B\n  condition: 1 of them";
    assert_eq!(
        hits(det, &[record("A", ""), record("B", "")]),
        [true, false],
        "'them' leaves out identifiers starting with '_'"
    );
    let det = "  s1:\n    eventName: A\n  s2:\n    eventName: B\n  condition:\n    - s1\n    - s2";
    assert_eq!(
        hits(det, &[record("A", ""), record("B", ""), record("C", "")]),
        [true, true, false]
    );
}

#[test]
fn eventbridge_events_are_matched_on_their_detail() {
    let set = ruleset(&format!(
        "title: t\nname: t\n{HEAD}detection:\n  sel:\n    eventName: CreateUser\n  condition: sel\n"
    ));
    let eb = format!(
        r#"{{"version":"0","detail-type":"AWS API Call via CloudTrail","source":"aws.iam","detail":{}}}"#,
        record("CreateUser", "")
    );
    assert_eq!(matches(&set, &eb), vec![vec!["t".to_string()]]);
}

#[test]
fn unanchored_rules_still_see_every_event() {
    let set = ruleset(&format!(
        "title: a\nname: anchored\n{HEAD}detection:\n  sel:\n    eventName: CreateUser\n  condition: sel\n---\n\
         title: u\nname: unanchored\n{HEAD}detection:\n  sel:\n    awsRegion: us-east-1\n  condition: sel\n"
    ));
    assert_eq!(
        matches(
            &set,
            &format!("{}\n{}", record("CreateUser", ""), record("Other", ""))
        ),
        vec![
            vec!["anchored".to_string(), "unanchored".to_string()],
            vec!["unanchored".to_string()]
        ]
    );
}

#[test]
fn rules_on_a_kind_of_identity_are_filed_under_it_and_see_every_event_of_it() {
    // Filed under userIdentity.type (no eventName or eventSource to file it under); any case
    // of the type matches, as everywhere; other identities never reach the rule.
    let set = ruleset(&format!(
        "title: r\nname: roles\n{HEAD}detection:\n  sel:\n    userIdentity.type: [AssumedRole, FederatedUser]\n    awsRegion: us-east-1\n  condition: sel\n"
    ));
    let anchor = trailwatch::rules::anchor_of(&set.rules()[0], set.fields());
    assert_eq!(
        anchor,
        trailwatch::rules::Anchor::ActorType(vec!["assumedrole".into(), "federateduser".into()])
    );
    let records = [
        record("GetObject", r#""userIdentity":{"type":"AssumedRole"}"#),
        record("ListBuckets", r#""userIdentity":{"type":"assumedrole"}"#),
        record("GetObject", r#""userIdentity":{"type":"IAMUser"}"#),
        record("GetObject", ""),
    ];
    let names = matches(&set, &records.join("\n"));
    assert_eq!(
        names,
        vec![
            vec!["roles".to_string()],
            vec!["roles".to_string()],
            vec![],
            vec![]
        ]
    );
}

#[test]
fn other_log_sources_are_skipped_with_a_note() {
    let mut b = RuleSetBuilder::new();
    b.add_yaml(
        "win.yml",
        "title: Windows thing\nlogsource: {product: windows, service: security}\ndetection:\n  sel:\n    EventID: 4624\n  condition: sel\n",
    );
    assert_eq!(b.notes.len(), 1);
    assert!(
        b.notes[0].contains("win.yml: skipped rule \"Windows thing\""),
        "{:?}",
        b.notes
    );
    assert!(b.build().unwrap().is_empty());
}

#[test]
fn bad_rules_are_refused_with_file_title_and_key() {
    let e = rule_error(&format!(
        "title: Bad modifier\n{HEAD}detection:\n  sel:\n    eventName|bogus: x\n  condition: sel\n"
    ));
    assert_eq!(e.file, "bad.yml");
    assert_eq!(e.title.as_deref(), Some("Bad modifier"));
    assert_eq!(e.key.as_deref(), Some("detection.sel.eventName|bogus"));
    assert!(e.message.contains("unknown modifier 'bogus'"), "{e}");

    let e = rule_error(&format!(
        "title: All of one\n{HEAD}detection:\n  sel:\n    userAgent|contains|all: boto3\n  condition: sel\n"
    ));
    assert_eq!(
        e.key.as_deref(),
        Some("detection.sel.userAgent|contains|all")
    );
    assert!(e.message.contains("'all' with a single value"), "{e}");

    let e = rule_error(&format!(
        "title: Not a number\n{HEAD}detection:\n  sel:\n    requestParameters.pendingWindowInDays|gt: seven\n  condition: sel\n"
    ));
    assert_eq!(
        e.key.as_deref(),
        Some("detection.sel.requestParameters.pendingWindowInDays|gt")
    );
    assert!(e.message.contains("gt needs a number"), "{e}");

    let e = rule_error(&format!(
        "title: Undefined\n{HEAD}detection:\n  sel:\n    eventName: x\n  condition: sel and other\n"
    ));
    assert_eq!(e.key.as_deref(), Some("detection.condition"));
    assert!(e.message.contains("'other'"), "{e}");

    let e = rule_error(&format!(
        "title: Regex\n{HEAD}detection:\n  sel:\n    eventName|re: '('\n  condition: sel\n"
    ));
    assert!(e.message.contains("invalid regular expression"), "{e}");

    let e = rule_error(&format!(
        "title: Level\n{HEAD}level: severe\ndetection:\n  sel:\n    eventName: x\n  condition: sel\n"
    ));
    assert_eq!(e.key.as_deref(), Some("level"));

    let e = rule_error("title: [unclosed\n");
    assert!(e.message.contains("invalid YAML"), "{e}");
    assert_eq!(
        e.to_string().split(": ").next(),
        Some("bad.yml"),
        "errors start with the file"
    );
}

#[test]
fn duplicate_names_are_refused() {
    let one = format!(
        "title: One\nname: same\n{HEAD}detection:\n  sel:\n    eventName: x\n  condition: sel\n"
    );
    let mut b = RuleSetBuilder::new();
    b.add_yaml("a.yml", &one);
    b.add_yaml("b.yml", &one.replace("One", "Two"));
    let errors = b.build().unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].file, "b.yml");
    assert!(errors[0]
        .message
        .contains("already used by a rule in a.yml"));
}
