//! The record an alert carries, as JSON text.

use serde::{ser, Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::trail::{self, Record};

/// A CloudTrail record's JSON text on one line, as read. Kept as text the reader has already
/// parsed: turning it into a `RawValue` parses it once more, which was a quarter of the cost
/// of rendering an alert in a dense replay. [`super::Alert::write_json`] writes it as it is;
/// serializing through serde (the daemon's sinks) checks it on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordJson(Box<str>);

impl RecordJson {
    /// The text of a record the reader parsed, its line breaks and indentation taken out.
    pub fn of(record: &Record) -> RecordJson {
        RecordJson(trail::compact_json(record.raw).into())
    }

    pub fn get(&self) -> &str {
        &self.0
    }
}

impl Serialize for RecordJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue = serde_json::from_str(&self.0).map_err(ser::Error::custom)?;
        raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for RecordJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        Ok(RecordJson(trail::compact_json(raw.get()).into()))
    }
}
