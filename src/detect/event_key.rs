//! A compact, ordered identity for an event inside correlation state.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An event's `eventID`. CloudTrail's are lowercase UUIDs, kept as 16 bytes; anything else is
/// kept as text. With no eventID, the base alert's id stands in (it is derived from the record).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum EventKey {
    Uuid(u64, u64),
    Text(Box<str>),
}

impl EventKey {
    pub fn of(event_id: Option<&str>, alert_id: &str) -> EventKey {
        EventKey::from(event_id.unwrap_or(alert_id))
    }
}

impl From<&str> for EventKey {
    fn from(s: &str) -> EventKey {
        match uuid::Uuid::try_parse(s) {
            // Only the canonical lowercase form, so turning the key back into text gives
            // exactly the eventID that was read.
            Ok(u)
                if *u
                    .hyphenated()
                    .encode_lower(&mut uuid::Uuid::encode_buffer())
                    == *s =>
            {
                let (hi, lo) = u.as_u64_pair();
                EventKey::Uuid(hi, lo)
            }
            _ => EventKey::Text(s.into()),
        }
    }
}

impl From<String> for EventKey {
    fn from(s: String) -> EventKey {
        EventKey::from(s.as_str())
    }
}

impl From<EventKey> for String {
    fn from(k: EventKey) -> String {
        k.to_string()
    }
}

impl fmt::Display for EventKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventKey::Uuid(hi, lo) => {
                write!(f, "{}", uuid::Uuid::from_u64_pair(*hi, *lo).hyphenated())
            }
            EventKey::Text(t) => f.write_str(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_exactly() {
        for id in [
            "a2a4bb0b-0c43-5538-bf81-6155c8ef61e7",
            "A2A4BB0B-0C43-5538-BF81-6155C8EF61E7",
            "evt-1",
            "",
        ] {
            assert_eq!(EventKey::from(id).to_string(), id);
        }
        assert!(matches!(
            EventKey::from("a2a4bb0b-0c43-5538-bf81-6155c8ef61e7"),
            EventKey::Uuid(..)
        ));
    }
}
