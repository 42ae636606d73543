//! The `--format table` rendering: one aligned line per alert, for people at a terminal.

use super::Alert;

pub const HEADER: &str = "TIME                  LEVEL     RULE                             ACTOR                      SOURCE IP        SUMMARY\n";

fn cell(s: Option<&str>, width: usize) -> String {
    let s = s.unwrap_or("-");
    if s.chars().count() > width {
        let cut: String = s.chars().take(width - 1).collect();
        format!("{cut}… ")
    } else {
        format!("{s:<width$} ")
    }
}

pub fn row(a: &Alert) -> Vec<u8> {
    let level = a.rule.level.to_string();
    let mut line = String::new();
    line.push_str(&cell(a.event.time.as_deref(), 21));
    line.push_str(&cell(Some(&level), 9));
    line.push_str(&cell(Some(&a.rule.name), 32));
    line.push_str(&cell(a.event.actor.name.as_deref(), 26));
    line.push_str(&cell(a.event.source_ip.as_deref(), 16));
    line.push_str(&a.summary);
    line.push('\n');
    line.into_bytes()
}
