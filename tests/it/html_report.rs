//! `trailwatch audit --format html` rendered by a real browser (headless Chromium): the counts,
//! the benchmark summary in its version's numbering, and the filters by account, region,
//! check and status, set through the page's address as a person's link would. And
//! `--compliance` on its own.

use crate::common;

use common::moto::{aws, Moto};
use common::{stderr, stdout};

/// The page as Chromium has it once its script ran, opened at `fragment`.
fn rendered(page: &std::path::Path, fragment: &str) -> String {
    let out = std::process::Command::new("chromium-headless-shell")
        .args(["--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}{fragment}", page.display()))
        .output()
        .expect("chromium-headless-shell must be installed (deploy/tools.sh installs it)");
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

/// (account, region, check, status) of each finding row the page shows.
fn visible(dom: &str) -> Vec<(String, String, String, String)> {
    dom.split("<tr data-account=\"")
        .skip(1)
        .filter_map(|row| {
            let tag = &row[..row.find('>').unwrap()];
            if tag.contains(" hidden") {
                return None;
            }
            let attr = |name: &str| {
                let start = tag
                    .find(&format!("data-{name}=\""))
                    .map(|i| i + name.len() + 7);
                match (name, start) {
                    ("account", _) => tag[..tag.find('"').unwrap()].to_string(),
                    (_, Some(s)) => tag[s..s + tag[s..].find('"').unwrap()].to_string(),
                    _ => panic!("{tag}"),
                }
            };
            Some((
                attr("account"),
                attr("region"),
                attr("check"),
                attr("status"),
            ))
        })
        .collect()
}

fn text_of(dom: &str, id: &str) -> String {
    let start = dom.find(&format!("id=\"{id}\">")).unwrap() + id.len() + 6;
    dom[start..start + dom[start..].find('<').unwrap()].to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_report_counts_summarizes_and_filters_in_a_browser() {
    let moto = Moto::start();
    let members = crate::organization::organization(&moto).await;
    let iam = aws_sdk_iam::Client::new(&aws(&moto.url).await.sdk);
    iam.create_user().user_name("alice").send().await.unwrap();
    iam.create_login_profile()
        .user_name("alice")
        .password("Tr0ub4dor&3-long")
        .send()
        .await
        .unwrap();
    let args = |format: &str| {
        vec![
            "audit".to_string(),
            "--organization-role".into(),
            "OrganizationAccountAccessRole".into(),
            "--region".into(),
            "us-east-1".into(),
            "--region".into(),
            "eu-west-1".into(),
            "--checks".into(),
            "user-mfa,password-policy,guardduty-enabled,account-audited".into(),
            "--compliance".into(),
            "cis-5.0".into(),
            "--format".into(),
            format.into(),
        ]
    };
    let run = |format: &str| {
        let a = args(format);
        moto.trailwatch(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let out = run("html");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    std::fs::write(&page, &out.stdout).unwrap();
    let html = stdout(&out);
    assert!(
        !html.contains(" src=") && !html.contains("<link") && !html.contains("@import"),
        "the page loads nothing"
    );

    // Unfiltered: 3 accounts × (7 password-policy + 2 guardduty) + alice's user-mfa.
    let all = rendered(&page, "");
    let rows = visible(&all);
    assert_eq!(rows.len(), 28, "{rows:?}");
    assert_eq!(text_of(&all, "shown"), "28 of 28 findings shown");
    assert!(all.contains("3 account(s)"), "{}", text_of(&all, "about"));
    // Counts by severity: user-mfa is high, the seven password-policy and six guardduty
    // failures medium.
    assert!(
        all.contains("<tr class=\"high\"><td>high</td><td class=\"n\">1</td>"),
        "{all}"
    );
    assert!(all.contains("<tr class=\"medium\"><td>medium</td><td class=\"n\">27</td>"));
    // The benchmark in 5.0's numbering: user-mfa is 1.9, the password length 1.7.
    assert!(all.contains("CIS AWS Foundations Benchmark v5.0.0"));
    assert!(all.contains("<tr><td>1.9</td><td class=\"FAIL\">FAIL</td><td>user-mfa</td>"));
    assert!(all.contains("<tr><td>1.7</td><td class=\"FAIL\">FAIL</td><td>password-policy</td>"));

    // Filtered through the address, as a shared link opens it.
    let member = &members[0];
    let one = rendered(&page, &format!("#account={member}&check=password-policy"));
    let rows = visible(&one);
    assert_eq!(rows.len(), 7, "{rows:?}");
    assert!(rows
        .iter()
        .all(|(a, _, c, s)| a == member && c == "password-policy" && s == "FAIL"));
    assert_eq!(text_of(&one, "shown"), "7 of 28 findings shown");
    let west = visible(&rendered(&page, "#region=eu-west-1"));
    assert_eq!(
        west.len(),
        3,
        "one guardduty-enabled failure per account: {west:?}"
    );
    assert!(west
        .iter()
        .all(|(_, r, c, _)| r == "eu-west-1" && c == "guardduty-enabled"));

    // --compliance alone prints the summary.
    let json = run("json");
    let reqs: Vec<serde_json::Value> = stdout(&json)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<(&str, &str)> = reqs
        .iter()
        .map(|r| {
            (
                r["requirement"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(ids, vec![("1.7", "FAIL"), ("1.8", "FAIL"), ("1.9", "FAIL")]);
    assert_eq!(reqs[2]["fail"], 1);
    assert_eq!(reqs[2]["checks"], serde_json::json!(["user-mfa"]));
}
