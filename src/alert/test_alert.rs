//! An alert for unit tests of the stages above (sinks, exclusions).

use crate::alert::{Alert, Origin};
use crate::rules::RuleSetBuilder;
use crate::trail;

/// An alert of a critical rule on a CreateUser record whose requestParameters carry
/// `padding` bytes.
pub fn alert(padding: usize) -> Alert {
    alert_on(&format!(
        r#"{{"eventName":"CreateUser","eventSource":"iam.amazonaws.com","eventID":"e1","eventTime":"2026-11-20T09:00:00Z","recipientAccountId":"111122223333","requestParameters":{{"p":"{}"}}}}"#,
        "x".repeat(padding)
    ))
}

/// The rule set of these alerts: one critical rule named `t`, on CreateUser.
pub fn rules() -> crate::rules::RuleSet {
    let mut b = RuleSetBuilder::new();
    b.add_yaml(
        "t.yml",
        "title: A very long title that goes on and on to test how subjects are cut before the SNS limit of one hundred characters\nname: t\nlevel: critical\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel:\n    eventName: CreateUser\n  condition: sel\n",
    );
    b.build().unwrap()
}

/// The same rule's alert on `json`, a CreateUser record.
pub fn alert_on(json: &str) -> Alert {
    let set = rules();
    let mut out = None;
    let mut scratch = Vec::new();
    trail::read_stream(json.as_bytes(), set.fields(), |r| {
        let r = r.unwrap();
        set.for_each_match(&r, &mut scratch, |rule| {
            out = Some(Alert::new(
                &rule.meta,
                &r,
                &Origin::File { file: "f".into() },
            ))
        });
    });
    out.unwrap()
}
