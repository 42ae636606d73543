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
        .map(|s| s.trim_end_matches(".amazonaws.com"))
        .unwrap_or("?");
    let mut parts: Vec<&str> = vec![title, ": "];
    parts.extend(who);
    parts.extend([" called ", service, ":", e.name.as_deref().unwrap_or("?")]);
    for (before, value, after) in [
        (" in account ", &e.account, ""),
        (" (", &e.region, ")"),
        (" from ", &e.source_ip, ""),
        (", which failed with ", &e.error_code, ""),
    ] {
        if let Some(value) = value {
            parts.extend([before, value, after]);
        }
    }
    // One allocation of the right size: a dense replay writes hundreds of thousands.
    parts.concat()
}
