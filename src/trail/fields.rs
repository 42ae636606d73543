//! Extraction of only the fields the rules ask for, borrowing from the record's bytes.
//!
//! The rule set registers every dotted path it tests in a [`FieldSet`] (a trie of JSON keys).
//! Extraction walks a record once with serde_json, descends only into keys on some path and
//! skips everything else without allocating. A path that crosses an array matches every
//! element, as Sigma defines for list-valued fields.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Index of a registered field path.
pub type FieldId = u16;

/// Paths every alert needs, registered first so their ids are fixed.
pub mod well_known {
    use super::FieldId;
    pub const EVENT_ID: FieldId = 0;
    pub const EVENT_TIME: FieldId = 1;
    pub const EVENT_NAME: FieldId = 2;
    pub const EVENT_SOURCE: FieldId = 3;
    pub const AWS_REGION: FieldId = 4;
    pub const RECIPIENT_ACCOUNT_ID: FieldId = 5;
    pub const ACTOR_TYPE: FieldId = 6;
    pub const ACTOR_ARN: FieldId = 7;
    pub const ACTOR_USER_NAME: FieldId = 8;
    pub const ACTOR_ACCOUNT_ID: FieldId = 9;
    pub const ACTOR_ISSUER_USER_NAME: FieldId = 10;
    pub const SOURCE_IP: FieldId = 11;
    pub const USER_AGENT: FieldId = 12;
    pub const ERROR_CODE: FieldId = 13;
    pub const EVENT_TYPE: FieldId = 14;
    /// Keys that tell other documents apart from records.
    pub const DETAIL_TYPE: FieldId = 15;
    pub const DETAIL: FieldId = 16;
    pub const DIGEST_START_TIME: FieldId = 17;
    pub const S3_NOTIFICATION: FieldId = 18;

    pub const PATHS: [&str; 19] = [
        "eventID",
        "eventTime",
        "eventName",
        "eventSource",
        "awsRegion",
        "recipientAccountId",
        "userIdentity.type",
        "userIdentity.arn",
        "userIdentity.userName",
        "userIdentity.accountId",
        "userIdentity.sessionContext.sessionIssuer.userName",
        "sourceIPAddress",
        "userAgent",
        "errorCode",
        "eventType",
        "detail-type",
        "detail",
        "digestStartTime",
        "s3",
    ];
}

#[derive(Debug, Default, Clone)]
struct Node {
    /// Child keys; kept small and scanned linearly, which beats hashing at these sizes.
    children: Vec<(Box<str>, u32)>,
    slot: Option<FieldId>,
}

/// The set of dotted paths to extract, as a trie of keys.
#[derive(Debug, Clone)]
pub struct FieldSet {
    nodes: Vec<Node>,
    paths: Vec<String>,
}

impl Default for FieldSet {
    fn default() -> Self {
        Self::new()
    }
}

impl FieldSet {
    pub fn new() -> Self {
        let mut set = FieldSet {
            nodes: vec![Node::default()],
            paths: Vec::new(),
        };
        for p in well_known::PATHS {
            set.intern(p);
        }
        set
    }

    /// Registers a dotted path (or finds it) and returns its id.
    pub fn intern(&mut self, path: &str) -> FieldId {
        let mut node = 0usize;
        for key in path.split('.') {
            let found = self.nodes[node]
                .children
                .iter()
                .find(|(k, _)| &**k == key)
                .map(|(_, n)| *n as usize);
            node = match found {
                Some(n) => n,
                None => {
                    self.nodes.push(Node::default());
                    let n = self.nodes.len() - 1;
                    self.nodes[node].children.push((key.into(), n as u32));
                    n
                }
            };
        }
        if let Some(id) = self.nodes[node].slot {
            return id;
        }
        let id = FieldId::try_from(self.paths.len()).expect("more than 65535 distinct fields");
        self.nodes[node].slot = Some(id);
        self.paths.push(path.to_string());
        id
    }

    /// The id of a registered path, without registering it.
    pub fn find(&self, path: &str) -> Option<FieldId> {
        let mut node = 0usize;
        for key in path.split('.') {
            node = self.nodes[node]
                .children
                .iter()
                .find(|(k, _)| &**k == key)
                .map(|(_, n)| *n as usize)?;
        }
        self.nodes[node].slot
    }

    pub fn len(&self) -> usize {
        self.paths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    pub fn path(&self, id: FieldId) -> &str {
        &self.paths[id as usize]
    }

    /// Extracts every registered field from one JSON document.
    pub fn extract<'a>(&self, json: &'a str) -> Result<Fields<'a>, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(json);
        let fields = self.extract_from(&mut de)?;
        de.end()?;
        Ok(fields)
    }

    /// Extracts every registered field from the JSON value `bytes` starts with, and says how
    /// long the value is: a reader that parses a record as it frames it reads its bytes once
    /// instead of twice. The value's strings are checked for UTF-8 only where they are read;
    /// the caller checks the whole value.
    pub fn extract_prefix<'a>(
        &self,
        bytes: &'a [u8],
    ) -> Result<(Fields<'a>, usize), serde_json::Error> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let fields = self.extract_from(&mut de)?;
        // A stream over what is left starts where the value ended.
        let len = de.into_iter::<de::IgnoredAny>().byte_offset();
        Ok((fields, len))
    }

    fn extract_from<'a, R: serde_json::de::Read<'a>>(
        &self,
        de: &mut serde_json::Deserializer<R>,
    ) -> Result<Fields<'a>, serde_json::Error> {
        let mut fields = Fields {
            index: vec![0; self.paths.len()],
            // Room for what a CloudTrail record usually holds of the pack's fields, so the
            // vector is allocated once (growing from empty cost more than the sparse layout saved).
            slots: Vec::with_capacity(self.paths.len().min(24)),
        };
        NodeSeed {
            set: self,
            node: 0,
            out: &mut fields,
            skip_slot: false,
        }
        .deserialize(de)?;
        Ok(fields)
    }
}

/// A string with its lower-case form computed on first use (for case-insensitive matching).
pub struct Text<'a> {
    raw: Cow<'a, str>,
    lower: OnceCell<Option<String>>,
}

impl<'a> Text<'a> {
    pub fn new(raw: Cow<'a, str>) -> Self {
        Text {
            raw,
            lower: OnceCell::new(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    pub fn lower(&self) -> &str {
        self.lower
            .get_or_init(|| {
                let needs = if self.raw.is_ascii() {
                    self.raw.bytes().any(|b| b.is_ascii_uppercase())
                } else {
                    true
                };
                needs.then(|| self.raw.to_lowercase())
            })
            .as_deref()
            .unwrap_or(&self.raw)
    }
}

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.raw, f)
    }
}

/// One extracted JSON value.
#[derive(Debug)]
pub enum Value<'a> {
    Str(Text<'a>),
    /// A number, as written.
    Num(&'a str),
    Bool(bool),
    Null,
    /// An object or array, as raw JSON text.
    Raw(&'a str),
}

impl Value<'_> {
    /// The value as text for string matching; None for null.
    pub fn text(&self) -> Option<&str> {
        match self {
            Value::Str(t) => Some(t.as_str()),
            Value::Num(n) | Value::Raw(n) => Some(n),
            Value::Bool(true) => Some("true"),
            Value::Bool(false) => Some("false"),
            Value::Null => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Num(n) => n.parse().ok(),
            Value::Str(t) => t.as_str().trim().parse().ok(),
            _ => None,
        }
    }
}

enum Slot<'a> {
    /// Only while a slot's values are being replaced.
    Missing,
    One(Value<'a>),
    Many(Vec<Value<'a>>),
}

/// The values extracted from one record, by field id. A rule pack names many more fields than
/// one record holds, so only the fields found get a slot: a record's own allocation and its
/// drop are the size of what it holds, not of the pack.
pub struct Fields<'a> {
    /// By field id: 1 + the position of its slot, or 0 when missing.
    index: Vec<u32>,
    slots: Vec<Slot<'a>>,
}

impl<'a> Fields<'a> {
    /// All values at a path (several when the path crosses an array); empty when missing.
    pub fn get(&self, id: FieldId) -> &[Value<'a>] {
        match self.index.get(id as usize).map(|&i| i.checked_sub(1)) {
            Some(Some(i)) => match &self.slots[i as usize] {
                Slot::One(v) => std::slice::from_ref(v),
                Slot::Many(v) => v,
                Slot::Missing => &[],
            },
            _ => &[],
        }
    }

    /// The first value's text, for single-valued fields such as `eventName`.
    pub fn str(&self, id: FieldId) -> Option<&str> {
        self.get(id).first().and_then(Value::text)
    }

    fn push(&mut self, id: FieldId, v: Value<'a>) {
        let at = &mut self.index[id as usize];
        if *at == 0 {
            self.slots.push(Slot::One(v));
            // At most one slot per field id, and ids are u16.
            *at = self.slots.len() as u32;
            return;
        }
        let slot = &mut self.slots[*at as usize - 1];
        *slot = match std::mem::replace(slot, Slot::Missing) {
            Slot::Missing => Slot::One(v),
            Slot::One(first) => Slot::Many(vec![first, v]),
            Slot::Many(mut all) => {
                all.push(v);
                Slot::Many(all)
            }
        };
    }
}

/// Deserializes a string without copying it unless it holds escapes.
struct CowStr<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// An object key as bytes, copied only if it holds escapes. Keys are only compared with the
/// paths asked for, so they are not checked for UTF-8 one by one (a record is checked whole).
struct KeyBytes<'a>(Cow<'a, [u8]>);

impl<'de> de::Deserialize<'de> for KeyBytes<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyBytes<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Self::Value, E> {
                Ok(KeyBytes(Cow::Borrowed(v)))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
                Ok(KeyBytes(Cow::Owned(v.to_vec())))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(KeyBytes(Cow::Borrowed(v.as_bytes())))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(KeyBytes(Cow::Owned(v.as_bytes().to_vec())))
            }
        }
        d.deserialize_bytes(V)
    }
}

/// The content of a JSON string's text, borrowed when it holds no escape (the text was
/// already parsed, so what is between the quotes is the value), else decoded.
fn string_value(raw: &str) -> Result<Cow<'_, str>, serde_json::Error> {
    match memchr::memchr(b'\\', &raw.as_bytes()[1..raw.len() - 1]) {
        None => Ok(Cow::Borrowed(&raw[1..raw.len() - 1])),
        Some(_) => Ok(serde_json::from_str::<CowStr>(raw)?.0),
    }
}

struct NodeSeed<'s, 'a> {
    set: &'s FieldSet,
    node: u32,
    out: &'s mut Fields<'a>,
    /// Set when the node's own value was already captured and only its children remain.
    skip_slot: bool,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let node = &self.set.nodes[self.node as usize];
        match node.slot {
            Some(id) if !self.skip_slot => {
                let raw: &'de RawValue = de::Deserialize::deserialize(d)?;
                capture(self.set, self.node, id, raw.get(), self.out).map_err(de::Error::custom)
            }
            _ => d.deserialize_any(self),
        }
    }
}

/// Stores a value found at a registered path, then descends into it for deeper paths.
fn capture<'a>(
    set: &FieldSet,
    node: u32,
    id: FieldId,
    raw: &'a str,
    out: &mut Fields<'a>,
) -> Result<(), serde_json::Error> {
    let value = match raw.as_bytes().first() {
        Some(b'"') => Value::Str(Text::new(string_value(raw)?)),
        Some(b't') => Value::Bool(true),
        Some(b'f') => Value::Bool(false),
        Some(b'n') => Value::Null,
        Some(b'[') => {
            // Every element is a value of the field; deeper paths descend into each.
            let items: Vec<&'a RawValue> = serde_json::from_str(raw)?;
            if items.is_empty() {
                // Present but empty: a null value, so `exists` sees it and `null` matches it.
                out.push(id, Value::Null);
            }
            for item in items {
                capture(set, node, id, item.get(), out)?;
            }
            return Ok(());
        }
        Some(b'{') => Value::Raw(raw),
        _ => Value::Num(raw),
    };
    let is_object = matches!(value, Value::Raw(_));
    out.push(id, value);
    if is_object && !set.nodes[node as usize].children.is_empty() {
        let mut de = serde_json::Deserializer::from_str(raw);
        NodeSeed {
            set,
            node,
            out,
            skip_slot: true,
        }
        .deserialize(&mut de)?;
    }
    Ok(())
}

impl<'de> Visitor<'de> for NodeSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let node = &self.set.nodes[self.node as usize];
        while let Some(key) = map.next_key::<KeyBytes>()? {
            let child = node
                .children
                .iter()
                .find(|(k, _)| k.as_bytes() == &*key.0)
                .map(|(_, n)| *n);
            match child {
                Some(child) => map.next_value_seed(NodeSeed {
                    set: self.set,
                    node: child,
                    out: &mut *self.out,
                    skip_slot: false,
                })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(NodeSeed {
                set: self.set,
                node: self.node,
                out: &mut *self.out,
                skip_slot: self.skip_slot,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(f: &Fields, id: FieldId) -> Vec<String> {
        f.get(id)
            .iter()
            .map(|v| match v {
                Value::Null => "<null>".to_string(),
                v => v.text().unwrap().to_string(),
            })
            .collect()
    }

    #[test]
    fn extracts_nested_paths_and_array_elements() {
        let mut set = FieldSet::new();
        let cidr = set.intern("requestParameters.ipPermissions.items.ipRanges.items.cidrIp");
        let mfa = set.intern("additionalEventData.MFAUsed");
        let rp = set.intern("requestParameters");
        let json = r#"{"eventName":"AuthorizeSecurityGroupIngress","additionalEventData":{"MFAUsed":"No"},
            "requestParameters":{"ipPermissions":{"items":[{"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"},{"cidrIp":"10.0.0.0/8"}]}}]}},
            "ignored":{"deep":[1,2,{"x":"y"}]}}"#;
        let f = set.extract(json).unwrap();
        assert_eq!(texts(&f, cidr), ["0.0.0.0/0", "10.0.0.0/8"]);
        assert_eq!(texts(&f, mfa), ["No"]);
        assert_eq!(
            f.str(well_known::EVENT_NAME),
            Some("AuthorizeSecurityGroupIngress")
        );
        assert!(texts(&f, rp)[0].starts_with("{\"ipPermissions\""));
        assert!(f.get(well_known::ERROR_CODE).is_empty());
    }

    #[test]
    fn scalars_nulls_and_escapes() {
        let mut set = FieldSet::new();
        let ro = set.intern("readOnly");
        let re = set.intern("responseElements");
        let n = set.intern("n");
        let f = set
            .extract(
                r#"{"readOnly":false,"responseElements":null,"n":12.5,"userAgent":"a\"b\u00e9"}"#,
            )
            .unwrap();
        assert_eq!(texts(&f, ro), ["false"]);
        assert_eq!(texts(&f, re), ["<null>"]);
        assert_eq!(f.get(n)[0].as_f64(), Some(12.5));
        assert_eq!(f.str(well_known::USER_AGENT), Some("a\"bé"));
    }

    #[test]
    fn lower_is_lazy_and_correct() {
        let t = Text::new(Cow::Borrowed("MFAUsed"));
        assert_eq!(t.lower(), "mfaused");
        let t = Text::new(Cow::Borrowed("already"));
        assert_eq!(t.lower(), "already");
    }

    #[test]
    fn invalid_json_is_an_error() {
        assert!(FieldSet::new().extract("{\"a\":").is_err());
        assert!(FieldSet::new().extract("{\"a\":1} x").is_err());
    }
}
