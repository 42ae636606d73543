//! Sigma timespans (`5m`, `1h`): correlation windows, and suppression windows that use the
//! same form.

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
