//! Compiles a Sigma `detection` block into searches and a condition.

use serde_yaml_ng::{Mapping, Value as Yaml};

use super::super::error::DocError;
use super::super::matcher::{Expr, FieldTest, Search, Target};
use super::condition;
use super::modifiers::Modifiers;
use crate::trail::FieldSet;

/// A compiled detection.
#[derive(Debug)]
pub struct Detection {
    pub searches: Vec<Search>,
    pub names: Vec<String>,
    pub condition: Expr,
}

pub fn compile(detection: &Yaml, fields: &mut FieldSet) -> Result<Detection, DocError> {
    let Yaml::Mapping(map) = detection else {
        return Err(DocError::at(
            "detection",
            "must be a map of search identifiers and a condition",
        ));
    };
    let mut names = Vec::new();
    let mut searches = Vec::new();
    let mut condition_value = None;
    for (key, value) in map {
        let Some(name) = key.as_str() else {
            return Err(DocError::at(
                "detection",
                "search identifiers must be strings",
            ));
        };
        match name {
            "condition" => condition_value = Some(value),
            // Legacy keys some rules still carry; they do not change matching.
            "timeframe" => {
                return Err(DocError::at(
                    "detection.timeframe",
                    "timeframe belongs to aggregations, which are not supported: write a correlation rule",
                ))
            }
            _ => {
                let path = format!("detection.{name}");
                searches.push(compile_search(value, fields, &path)?);
                names.push(name.to_string());
            }
        }
    }
    let condition_value =
        condition_value.ok_or_else(|| DocError::at("detection.condition", "missing"))?;
    let texts: Vec<&str> = match condition_value {
        Yaml::String(s) => vec![s.as_str()],
        // A list of conditions means any of them (deprecated, still in the wild).
        Yaml::Sequence(items) => items
            .iter()
            .map(|v| {
                v.as_str().ok_or_else(|| {
                    DocError::at(
                        "detection.condition",
                        "must be a string or a list of strings",
                    )
                })
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(DocError::at("detection.condition", "must be a string")),
    };
    let mut exprs = texts
        .iter()
        .map(|t| condition::parse(t, &names).map_err(|m| DocError::at("detection.condition", m)))
        .collect::<Result<Vec<_>, _>>()?;
    let condition = if exprs.len() == 1 {
        exprs.pop().unwrap()
    } else {
        Expr::Or(exprs)
    };
    Ok(Detection {
        searches,
        names,
        condition,
    })
}

fn compile_search(value: &Yaml, fields: &mut FieldSet, path: &str) -> Result<Search, DocError> {
    let alternatives = match value {
        Yaml::Mapping(map) => vec![compile_map(map, fields, path)?],
        Yaml::Sequence(items)
            if items.iter().all(|i| matches!(i, Yaml::Mapping(_))) && !items.is_empty() =>
        {
            items
                .iter()
                .enumerate()
                .map(|(n, item)| match item {
                    Yaml::Mapping(m) => compile_map(m, fields, &format!("{path}[{n}]")),
                    _ => unreachable!(),
                })
                .collect::<Result<_, _>>()?
        }
        // A plain value or list of values: keywords searched in the whole record.
        Yaml::Sequence(_) | Yaml::String(_) | Yaml::Number(_) => {
            if let Yaml::Sequence(items) = value {
                if items
                    .iter()
                    .any(|i| matches!(i, Yaml::Mapping(_) | Yaml::Sequence(_)))
                {
                    return Err(DocError::at(
                        path,
                        "a list must hold either maps or plain keyword values, not both",
                    ));
                }
            }
            vec![vec![compile_test(
                Target::Keywords,
                &[],
                value,
                fields,
                path,
            )?]]
        }
        _ => {
            return Err(DocError::at(
                path,
                "must be a map, a list of maps, or a list of keywords",
            ))
        }
    };
    Ok(Search { alternatives })
}

fn compile_map(
    map: &Mapping,
    fields: &mut FieldSet,
    path: &str,
) -> Result<Vec<FieldTest>, DocError> {
    let mut tests = Vec::new();
    for (key, value) in map {
        let key = match key {
            Yaml::String(s) => s.clone(),
            Yaml::Number(n) => n.to_string(),
            _ => return Err(DocError::at(path, "field names must be strings")),
        };
        let key_path = format!("{path}.{key}");
        let mut parts = key.split('|');
        let field = parts.next().unwrap_or_default();
        let modifiers: Vec<&str> = parts.collect();
        let target = if field.is_empty() {
            Target::Keywords
        } else {
            Target::Field(fields.intern(field))
        };
        tests.push(compile_test(target, &modifiers, value, fields, &key_path)?);
    }
    if tests.is_empty() {
        return Err(DocError::at(path, "empty map matches nothing; remove it"));
    }
    // All tests of a map must hold, in any order: try the cheap ones first so most events are
    // rejected before a substring search or regex runs.
    tests.sort_by_key(FieldTest::cost);
    Ok(tests)
}

fn compile_test(
    target: Target,
    modifiers: &[&str],
    value: &Yaml,
    fields: &mut FieldSet,
    path: &str,
) -> Result<FieldTest, DocError> {
    let err = |m: String| DocError::at(path, m);
    let mods = Modifiers::parse(modifiers).map_err(err)?;
    let items: Vec<&Yaml> = match value {
        Yaml::Sequence(items) => items.iter().collect(),
        other => vec![other],
    };
    if items.is_empty() {
        return Err(err("empty list of values matches nothing".into()));
    }
    if mods.all && items.len() == 1 {
        return Err(err(
            "'all' with a single value: it needs a list of values that must all match".into(),
        ));
    }
    let values = items
        .into_iter()
        .map(|v| mods.compile_value(v, target, fields))
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    Ok(FieldTest {
        target,
        values,
        all: mods.all,
        negate: mods.neq,
    })
}
