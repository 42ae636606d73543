//! The stages import one way: each folder of `src/` may use only the stages below it (the
//! drawing in docs/architecture.md shows the same order). A new folder must be placed here.

use std::path::Path;

/// Each stage with its layer; a stage may use stages of lower layers only.
const LAYERS: [(&str, u8); 18] = [
    ("trail", 0),
    ("policy", 0),
    ("metrics", 0),
    ("synth", 0),
    ("rules", 1),
    ("audit", 2),
    ("alert", 3),
    ("detect", 4),
    ("correlate", 5),
    ("suppress", 6),
    ("config", 7),
    ("state", 7),
    ("source", 8),
    ("sink", 8),
    ("pipeline", 9),
    ("replay", 10),
    ("daemon", 10),
    ("cli", 11),
];

fn layer(stage: &str) -> Option<u8> {
    LAYERS.iter().find(|(s, _)| *s == stage).map(|(_, l)| *l)
}

/// The stages a source file names as `crate::STAGE`.
fn uses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.push(name);
        }
    }
    out
}

#[test]
fn stages_import_only_stages_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(&src).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let stage = dir.file_name().unwrap().to_str().unwrap().to_string();
        let Some(own) = layer(&stage) else {
            problems.push(format!("src/{stage}/ has no place in LAYERS"));
            continue;
        };
        for file in walkdir::WalkDir::new(&dir) {
            let file = file.unwrap().into_path();
            if file.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap();
            for used in uses(&text) {
                checked += 1;
                match layer(&used) {
                    _ if used == stage => {}
                    Some(l) if l < own => {}
                    _ => problems.push(format!(
                        "{}: {stage} uses crate::{used}, which is not below it",
                        file.strip_prefix(&src).unwrap().display()
                    )),
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(
        checked > 100,
        "only {checked} imports found: is the scan broken?"
    );
}
