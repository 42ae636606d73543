//! Sigma value modifiers (`field|contains|all: ...`) and how each value becomes predicates.

use base64::Engine;
use ipnet::IpNet;
use regex::RegexBuilder;
use serde_yaml_ng::Value as Yaml;

use super::super::matcher::{Cmp, Pred, StrKind, StrPred, Target};
use crate::trail::FieldSet;

/// How strings are encoded before base64 (the `utf16*` / `wide` modifiers).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
enum Encoding {
    #[default]
    Utf8,
    Utf16Le,
    Utf16Be,
    /// UTF-16 little endian with a byte order mark.
    Utf16Bom,
}

/// The modifiers of one field key, order-independent.
#[derive(Debug, Default)]
pub struct Modifiers {
    pub kind: Option<StrKind>,
    pub all: bool,
    pub cased: bool,
    pub neq: bool,
    re: Option<(bool, bool, bool)>,
    cidr: bool,
    exists: bool,
    fieldref: bool,
    cmp: Option<Cmp>,
    base64: bool,
    base64offset: bool,
    windash: bool,
    /// trailwatch's `public_policy`: the field holds an IAM policy document.
    public_policy: bool,
    /// trailwatch's `aws_ip_range`: the field is an address in (or outside) AWS's ranges.
    aws_ip_range: bool,
    encoding: Encoding,
}

pub const SUPPORTED: &str =
    "contains, startswith, endswith, all, cased, exists, neq, re (with i, m, \
     s), cidr, lt, lte, gt, gte, fieldref, base64, base64offset, utf16le, utf16be, utf16, wide, \
     windash; and trailwatch's public_policy, aws_ip_range";

impl Modifiers {
    pub fn parse(names: &[&str]) -> Result<Self, String> {
        let mut m = Modifiers::default();
        let mut re_flags = (false, false, false);
        let mut seen_re = false;
        for &name in names {
            match name {
                "contains" | "startswith" | "endswith" => {
                    let kind = match name {
                        "contains" => StrKind::Contains,
                        "startswith" => StrKind::Prefix,
                        _ => StrKind::Suffix,
                    };
                    if m.kind.is_some_and(|k| k != kind) {
                        return Err(format!("'{name}' cannot be combined with another of contains/startswith/endswith"));
                    }
                    m.kind = Some(kind);
                }
                "all" => m.all = true,
                "cased" => m.cased = true,
                "neq" => m.neq = true,
                "re" => seen_re = true,
                "i" => re_flags.0 = true,
                "m" => re_flags.1 = true,
                "s" => re_flags.2 = true,
                "cidr" => m.cidr = true,
                "exists" => m.exists = true,
                "fieldref" => m.fieldref = true,
                "lt" | "lte" | "gt" | "gte" => {
                    if m.cmp.is_some() {
                        return Err("only one of lt, lte, gt, gte may be used".into());
                    }
                    m.cmp = Some(match name {
                        "lt" => Cmp::Lt,
                        "lte" => Cmp::Lte,
                        "gt" => Cmp::Gt,
                        _ => Cmp::Gte,
                    });
                }
                "base64" => m.base64 = true,
                "base64offset" => m.base64offset = true,
                "utf16le" | "wide" => m.encoding = Encoding::Utf16Le,
                "utf16be" => m.encoding = Encoding::Utf16Be,
                "utf16" => m.encoding = Encoding::Utf16Bom,
                "windash" => m.windash = true,
                "public_policy" => m.public_policy = true,
                "aws_ip_range" => m.aws_ip_range = true,
                "expand" => {
                    return Err("modifier 'expand' needs placeholder values from a processing pipeline, which trailwatch does not have: write the values into the rule".into())
                }
                other => {
                    return Err(format!("unknown modifier '{other}' (supported: {SUPPORTED})"))
                }
            }
        }
        if seen_re {
            m.re = Some(re_flags);
        } else if re_flags != (false, false, false) {
            return Err("modifiers 'i', 'm' and 's' only go with 're'".into());
        }
        let exclusive = [m.re.is_some(), m.cidr, m.exists, m.cmp.is_some()];
        if exclusive.iter().filter(|b| **b).count() > 1 {
            return Err("re, cidr, exists and lt/lte/gt/gte cannot be combined".into());
        }
        let special = m.re.is_some() || m.cidr || m.exists || m.cmp.is_some();
        if special && (m.kind.is_some() || m.base64 || m.base64offset || m.fieldref) {
            return Err(
                "re, cidr, exists and lt/lte/gt/gte cannot be combined with string modifiers"
                    .into(),
            );
        }
        for (own, name) in [
            (m.public_policy, "public_policy"),
            (m.aws_ip_range, "aws_ip_range"),
        ] {
            if own && names.len() > 1 {
                return Err(format!("{name} cannot be combined with other modifiers"));
            }
        }
        if m.base64 && m.base64offset {
            return Err("use either base64 or base64offset".into());
        }
        if m.encoding != Encoding::Utf8 && !(m.base64 || m.base64offset) {
            return Err(
                "utf16le, utf16be, utf16 and wide only go with base64 or base64offset".into(),
            );
        }
        if m.windash && (special || m.fieldref) {
            return Err(
                "windash only goes with plain values and contains/startswith/endswith".into(),
            );
        }
        if m.fieldref && (m.base64 || m.base64offset) {
            return Err("fieldref cannot be combined with base64".into());
        }
        Ok(m)
    }

    /// Compiles one rule value into the alternatives that satisfy it.
    pub fn compile_value(
        &self,
        value: &Yaml,
        target: Target,
        fields: &mut FieldSet,
    ) -> Result<Vec<Pred>, String> {
        if self.public_policy || self.aws_ip_range {
            let (name, pred): (_, fn(bool) -> Pred) = if self.public_policy {
                ("public_policy", Pred::PublicPolicy)
            } else {
                ("aws_ip_range", Pred::AwsIpRange)
            };
            if target == Target::Keywords {
                return Err(format!("{name} needs a field name"));
            }
            return match value {
                Yaml::Bool(b) => Ok(vec![pred(*b)]),
                _ => Err(format!("'{name}' takes true or false")),
            };
        }
        if self.exists {
            return match value {
                Yaml::Bool(b) => Ok(vec![Pred::Exists(*b)]),
                _ => Err("'exists' takes true or false".into()),
            };
        }
        if value.is_null() {
            if self.kind.is_some() || self.re.is_some() || self.cidr || self.cmp.is_some() {
                return Err("null cannot be combined with this modifier".into());
            }
            return Ok(vec![Pred::Null]);
        }
        if let Some(cmp) = self.cmp {
            let n = match value {
                Yaml::Number(n) => n.as_f64(),
                Yaml::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            return match n {
                Some(n) => Ok(vec![Pred::Number(cmp, n)]),
                None => Err(format!("{} needs a number", cmp_name(cmp))),
            };
        }
        let text = scalar_text(value)?;
        if let Some((i, m, s)) = self.re {
            let re = RegexBuilder::new(&ascii_classes(&text))
                .case_insensitive(i)
                .multi_line(m)
                .dot_matches_new_line(s)
                .size_limit(1 << 22)
                .build()
                .map_err(|e| format!("invalid regular expression {text:?}: {e}"))?;
            return Ok(vec![Pred::Regex(re)]);
        }
        if self.cidr {
            let net = text
                .parse::<IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("invalid CIDR {text:?}"))?;
            return Ok(vec![Pred::Cidr(net)]);
        }
        if self.fieldref {
            if target == Target::Keywords {
                return Err("fieldref needs a field name".into());
            }
            return Ok(vec![Pred::FieldRef {
                other: fields.intern(&text),
                kind: self.kind.unwrap_or(StrKind::Eq),
                cased: self.cased,
            }]);
        }
        // Keyword searches look for the value anywhere in the record.
        let kind = match (self.kind, target) {
            (None, Target::Keywords) => StrKind::Contains,
            (kind, _) => kind.unwrap_or(StrKind::Eq),
        };
        if self.base64 || self.base64offset {
            // Encoded values are literal: wildcards have no meaning inside base64 text, and the
            // encoding is case-sensitive.
            let bytes = self.encode(&text);
            let encoded = if self.base64 {
                vec![base64::engine::general_purpose::STANDARD.encode(&bytes)]
            } else {
                base64_offsets(&bytes)
            };
            return Ok(encoded
                .into_iter()
                .map(|e| Pred::Str(Box::new(StrPred::new(kind, e, true))))
                .collect());
        }
        if self.windash {
            return windash_variants(&text)
                .iter()
                .map(|t| pattern_pred(t, kind, self.cased))
                .collect();
        }
        Ok(vec![pattern_pred(&text, kind, self.cased)?])
    }

    fn encode(&self, text: &str) -> Vec<u8> {
        let units = || text.encode_utf16();
        match self.encoding {
            Encoding::Utf8 => text.as_bytes().to_vec(),
            Encoding::Utf16Le => units().flat_map(u16::to_le_bytes).collect(),
            Encoding::Utf16Be => units().flat_map(u16::to_be_bytes).collect(),
            Encoding::Utf16Bom => [0xff, 0xfe]
                .into_iter()
                .chain(units().flat_map(u16::to_le_bytes))
                .collect(),
        }
    }
}

/// Sigma's regular expressions follow PCRE, where `\d`, `\w` and `\s` are ASCII classes;
/// Rust's are Unicode (`\d` matches `٣`). Rewrites them to their ASCII forms, inside and
/// outside character classes; every other escape is kept as written.
fn ascii_classes(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut in_class = false;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(d @ ('d' | 'w' | 's')) if in_class => out.push_str(match d {
                    'd' => "0-9",
                    'w' => "0-9A-Za-z_",
                    _ => "\\t\\n\\x0B\\f\\r ",
                }),
                Some(d @ ('d' | 'D' | 'w' | 'W' | 's' | 'S')) => {
                    out.push_str("(?-u:\\");
                    out.push(d);
                    out.push(')');
                }
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A `]` right after `[` or `[^` is a literal, not the end.
                let mut look = chars.clone();
                match look.next() {
                    Some('^') if look.next() == Some(']') => {
                        out.push_str("^]");
                        chars.next();
                        chars.next();
                    }
                    Some(']') => {
                        out.push(']');
                        chars.next();
                    }
                    _ => {}
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// The dashes a Windows command line accepts for a flag, as pySigma's `windash` expands them.
const WINDASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

/// Every spelling of a value whose flags (a `-` or `/` at the start of a word, after a
/// non-word character or at the start) use any of [`WINDASHES`]. More than four flags would
/// give thousands of variants; then each spelling uses one dash throughout.
fn windash_variants(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let flags: Vec<usize> = (0..chars.len())
        .filter(|&i| {
            matches!(chars[i], '-' | '/')
                && (i == 0 || !is_word(chars[i - 1]))
                && chars.get(i + 1).is_some_and(|c| is_word(*c))
        })
        .collect();
    if flags.is_empty() {
        return vec![text.to_string()];
    }
    let spell = |choice: &dyn Fn(usize) -> char| {
        let mut v = chars.clone();
        for (n, &i) in flags.iter().enumerate() {
            v[i] = choice(n);
        }
        v.into_iter().collect::<String>()
    };
    if flags.len() > 4 {
        return WINDASHES.iter().map(|d| spell(&|_| *d)).collect();
    }
    let total = WINDASHES.len().pow(flags.len() as u32);
    (0..total)
        .map(|k| spell(&|n| WINDASHES[(k / WINDASHES.len().pow(n as u32)) % WINDASHES.len()]))
        .collect()
}

fn cmp_name(c: Cmp) -> &'static str {
    match c {
        Cmp::Lt => "lt",
        Cmp::Lte => "lte",
        Cmp::Gt => "gt",
        Cmp::Gte => "gte",
    }
}

/// The text of a scalar rule value (numbers and booleans as written).
pub fn scalar_text(value: &Yaml) -> Result<String, String> {
    match value {
        Yaml::String(s) => Ok(s.clone()),
        Yaml::Number(n) => Ok(n.to_string()),
        Yaml::Bool(b) => Ok(b.to_string()),
        Yaml::Tagged(t) => scalar_text(&t.value),
        Yaml::Null => Err("null is not a string".into()),
        Yaml::Sequence(_) => Err("a list is not allowed here".into()),
        Yaml::Mapping(_) => Err("a map is not allowed here".into()),
    }
}

/// The three encodings of a value at byte offsets 0, 1 and 2 inside a longer base64 text,
/// trimmed to the characters that do not depend on the surrounding bytes.
fn base64_offsets(value: &[u8]) -> Vec<String> {
    let engine = base64::engine::general_purpose::STANDARD;
    (0..3usize)
        .map(|shift| {
            let mut padded = vec![b' '; shift];
            padded.extend_from_slice(value);
            let enc = engine.encode(&padded);
            let start = [0, 2, 3][shift];
            let cut_end = [0, 3, 2][(value.len() + shift) % 3];
            enc[start..enc.len() - cut_end].to_string()
        })
        .collect()
}

#[derive(Debug, PartialEq)]
enum Piece {
    Lit(String),
    Star,
    One,
}

/// Splits a Sigma string into literals and wildcards. `\*`, `\?` and `\\` escape; any other
/// backslash is literal.
fn pieces(text: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('*' | '?' | '\\')) => {
                lit.push(chars.next().unwrap())
            }
            '*' | '?' => {
                if !lit.is_empty() {
                    out.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                out.push(if c == '*' { Piece::Star } else { Piece::One });
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        out.push(Piece::Lit(lit));
    }
    out
}

/// A plain value (with wildcards) under a string kind: the cheapest predicate that is exact.
fn pattern_pred(text: &str, kind: StrKind, cased: bool) -> Result<Pred, String> {
    let mut ps = pieces(text);
    if matches!(kind, StrKind::Contains | StrKind::Suffix) {
        ps.insert(0, Piece::Star);
    }
    if matches!(kind, StrKind::Contains | StrKind::Prefix) {
        ps.push(Piece::Star);
    }
    ps.dedup_by(|a, b| *a == Piece::Star && *b == Piece::Star);
    let lead = ps.first() == Some(&Piece::Star);
    let trail = ps.len() > 1 && ps.last() == Some(&Piece::Star);
    let core = &ps[lead as usize..ps.len() - trail as usize];
    let literal = match core {
        [] => Some(String::new()),
        [Piece::Lit(s)] => Some(s.clone()),
        _ => None,
    };
    if let Some(lit) = literal {
        let kind = match (lead, trail) {
            (false, false) => StrKind::Eq,
            (false, true) => StrKind::Prefix,
            (true, false) => StrKind::Suffix,
            (true, true) => StrKind::Contains,
        };
        return Ok(Pred::Str(Box::new(StrPred::new(kind, lit, cased))));
    }
    let mut re = String::from("^");
    for p in &ps {
        match p {
            Piece::Lit(s) => re.push_str(&regex::escape(s)),
            Piece::Star => re.push_str(".*"),
            Piece::One => re.push('.'),
        }
    }
    re.push('$');
    RegexBuilder::new(&re)
        .case_insensitive(!cased)
        .dot_matches_new_line(true)
        .build()
        .map(Pred::Regex)
        .map_err(|e| format!("cannot compile wildcard pattern {text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(p: &Pred) -> String {
        match p {
            Pred::Str(s) => format!("{:?}:{}", s.kind, s.needle),
            Pred::Regex(r) => format!("re:{}", r.as_str()),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn wildcards_become_the_cheapest_exact_test() {
        let p = |t: &str, k| kind_of(&pattern_pred(t, k, false).unwrap());
        assert_eq!(p("Create*", StrKind::Eq), "Prefix:create");
        assert_eq!(p("*Policy", StrKind::Eq), "Suffix:policy");
        assert_eq!(p("*Policy*", StrKind::Eq), "Contains:policy");
        assert_eq!(p("Put", StrKind::Contains), "Contains:put");
        assert_eq!(p("a*b", StrKind::Eq), "re:^a.*b$");
        assert_eq!(p("a?b", StrKind::Contains), "re:^.*a.b.*$");
        assert_eq!(p(r"a\*b", StrKind::Eq), "Eq:a*b");
        assert_eq!(p(r"C:\Win\\*", StrKind::Eq), "Prefix:c:\\win\\");
        assert_eq!(p("*", StrKind::Eq), "Suffix:"); // any non-null value
    }

    #[test]
    fn regex_classes_are_ascii_as_in_pcre() {
        assert_eq!(ascii_classes(r"^\d+$"), r"^(?-u:\d)+$");
        assert_eq!(ascii_classes(r"[\w.-]+\S"), r"[0-9A-Za-z_.-]+(?-u:\S)");
        assert_eq!(ascii_classes(r"[]\d]\."), r"[]0-9]\.");
        let re = regex::Regex::new(&ascii_classes(r"^\d+$")).unwrap();
        assert!(re.is_match("123") && !re.is_match("١٢٣"));
    }

    #[test]
    fn windash_spells_flags_with_every_dash() {
        let v = windash_variants("net user -add");
        assert_eq!(v.len(), 5);
        assert!(v.contains(&"net user /add".to_string()));
        assert!(v.contains(&"net user \u{2013}add".to_string()));
        assert_eq!(windash_variants("a -b -c").len(), 25);
        assert_eq!(
            windash_variants("x-y"),
            vec!["x-y"],
            "a dash inside a word is no flag"
        );
    }

    #[test]
    fn base64offset_matches_pysigma_shifts() {
        // Known values for "/bin/sh" from the Sigma documentation's example scheme.
        let got = base64_offsets(b"/bin/sh");
        assert_eq!(got, vec!["L2Jpbi9za", "9iaW4vc2", "vYmluL3No"]);
    }

    #[test]
    fn modifier_errors_name_the_problem() {
        let e = |names: &[&str]| Modifiers::parse(names).unwrap_err();
        assert!(e(&["windash", "re"]).contains("windash only goes"));
        assert!(e(&["expand"]).contains("placeholder"));
        assert!(e(&["bogus"]).contains("unknown modifier 'bogus'"));
        assert!(e(&["contains", "startswith"]).contains("cannot be combined"));
        assert!(e(&["re", "contains"]).contains("cannot be combined"));
        assert!(e(&["i"]).contains("only go with 're'"));
        assert!(e(&["wide"]).contains("only go with base64"));
        assert!(Modifiers::parse(&["base64offset", "contains", "wide"]).is_ok());
    }
}
