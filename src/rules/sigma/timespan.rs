//! Sigma timespans (`5m`, `1h`): correlation windows, and the configuration's durations
//! (suppression windows, correlation lateness) that use the same form.

/// A timespan read from configuration: parsed when the file is loaded, so a bad value is an
/// error naming its line and key at start, not at first use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timespan {
    pub ms: i64,
}

impl Timespan {
    pub const fn minutes(n: i64) -> Timespan {
        Timespan { ms: n * 60_000 }
    }
}

impl<'de> serde::Deserialize<'de> for Timespan {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Timespan, D::Error> {
        let text = String::deserialize(d)?;
        timespan_ms(&text)
            .map(|ms| Timespan { ms })
            .map_err(serde::de::Error::custom)
    }
}

/// `30s`, `5m`, `1h`, `2d` (Sigma's form; `w` for weeks is also accepted).
pub fn timespan_ms(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a timespan (a number and s, m, h or d, e.g. 5m)");
    let unit = text.chars().last().ok_or_else(bad)?;
    let n: i64 = text[..text.len() - unit.len_utf8()]
        .trim()
        .parse()
        .map_err(|_| bad())?;
    let scale = match unit {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        'w' => 7 * 86_400_000,
        _ => return Err(bad()),
    };
    if n <= 0 {
        return Err(format!("{text:?}: a timespan must be longer than zero"));
    }
    Ok(n * scale)
}
