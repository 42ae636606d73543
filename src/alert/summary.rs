//! One human sentence per alert: who did what, where, from which IP.

use super::{EventInfo, Short};
use crate::trail::fields::well_known as wk;
use crate::trail::Fields;

/// The most useful short name of whoever made the call.
pub fn actor_name(f: &Fields) -> Option<Short> {
    let kind = f.str(wk::ACTOR_TYPE).unwrap_or("");
    if kind == "Root" {
        return Some("root".into());
    }
    if let Some(name) = f.str(wk::ACTOR_USER_NAME) {
        return Some(name.into());
    }
    // Assumed roles: `arn:aws:sts::111122223333:assumed-role/RoleName/session` → RoleName/session.
    if let Some(arn) = f.str(wk::ACTOR_ARN) {
        if let Some((_, rest)) = arn.split_once(":assumed-role/") {
            return Some(rest.into());
        }
        if let Some((_, last)) = arn.rsplit_once(':') {
            return Some(last.trim_start_matches("user/").into());
        }
    }
    f.str(wk::ACTOR_ISSUER_USER_NAME).map(Short::from)
}

pub fn summary(title: &str, e: &EventInfo) -> String {
    let who: &[&str] = match (e.actor.kind.as_deref(), e.actor.name.as_deref()) {
        (Some("Root"), _) => &["root"],
        (Some(k), Some(n)) => &[k, " ", n],
        (Some(k), None) => &[k],
        (None, Some(n)) => &[n],
        (None, None) => &["an unknown principal"],
    };
    let service = e
        .source
        .as_deref()
        .map(|s| s.strip_suffix(".amazonaws.com").unwrap_or(s))
        .unwrap_or("?");
    let head = [title, ": "].into_iter().chain(who.iter().copied()).chain([
        " called ",
        service,
        ":",
        e.name.as_deref().unwrap_or("?"),
    ]);
    let details = [
        (" in account ", &e.account, ""),
        (" (", &e.region, ")"),
        (" from ", &e.source_ip, ""),
        (", which failed with ", &e.error_code, ""),
    ]
    .into_iter()
    .filter_map(|(before, value, after)| Some([before, value.as_deref()?, after]))
    .flatten();
    // No list of pieces, and one allocation of the right size: a dense replay writes
    // hundreds of thousands of summaries, and growing a list of pieces was a third of the
    // cost of one.
    let pieces = head.chain(details);
    let mut out = String::with_capacity(pieces.clone().map(str::len).sum());
    pieces.for_each(|p| out.push_str(p));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Actor;

    fn event(full: bool) -> EventInfo {
        let s = |v: &str| full.then(|| Short::from(v));
        EventInfo {
            id: None,
            time: None,
            name: s("CreateAccessKey"),
            source: s("iam.amazonaws.com"),
            region: s("us-east-1"),
            account: s("111122223333"),
            actor: Actor {
                kind: s("IAMUser"),
                arn: None,
                name: s("alice"),
            },
            source_ip: s("192.0.2.1"),
            user_agent: None,
            error_code: s("AccessDenied"),
        }
    }

    #[test]
    fn every_part_in_its_place() {
        assert_eq!(
            summary("Key created", &event(true)),
            "Key created: IAMUser alice called iam:CreateAccessKey in account 111122223333 \
             (us-east-1) from 192.0.2.1, which failed with AccessDenied"
        );
        assert_eq!(
            summary("Key created", &event(false)),
            "Key created: an unknown principal called ?:?"
        );
    }
}
