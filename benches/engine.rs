//! Throughput of each stage on a synthetic archive, and matcher cost with 40 vs 400 rules.
//!
//! `cargo bench --bench engine`. The archive comes from `trailwatch::synth` (deterministic),
//! held in memory so disk speed does not count.

use std::io::Read;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use trailwatch::alert::{Alert, Origin};
use trailwatch::rules::loader::{built_in_files, is_rule_file};
use trailwatch::rules::{RuleSet, RuleSetBuilder};
use trailwatch::synth::{generate, Plan};
use trailwatch::trail::{decode, read_stream, FieldSet, Record};

/// The gzipped files of a ~64 MB synthetic archive, and their uncompressed size.
fn archive() -> (Vec<Vec<u8>>, u64) {
    archive_of(None)
}

/// The same, with `density` of the records matching a built-in rule (`generate --density`).
fn archive_of(density: Option<f64>) -> (Vec<Vec<u8>>, u64) {
    let dir = tempfile::tempdir().unwrap();
    let written = generate(&Plan {
        out: dir.path().to_path_buf(),
        bytes: 64_000_000,
        records_per_file: 2000,
        seed: 7,
        density,
    })
    .unwrap();
    let files: Vec<PathBuf> = walk(dir.path().to_path_buf());
    let data = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    (data, written.bytes)
}

fn walk(dir: PathBuf) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn built_in() -> RuleSet {
    let mut b = RuleSetBuilder::new();
    for (name, text) in built_in_files(is_rule_file) {
        b.add_yaml(&name, text);
    }
    b.build().unwrap()
}

/// The built-in pack plus `extra` generated rules of the kinds people write: anchored on an
/// API call with a condition on the caller or parameters, some regexes, some unanchored.
fn with_extra_rules(extra: usize) -> RuleSet {
    const SERVICES: [&str; 8] = [
        "ec2", "s3", "iam", "kms", "lambda", "rds", "sts", "dynamodb",
    ];
    const VERBS: [&str; 10] = [
        "Create", "Delete", "Update", "Put", "Describe", "List", "Get", "Modify", "Attach",
        "Detach",
    ];
    let mut b = RuleSetBuilder::new();
    for (name, text) in built_in_files(is_rule_file) {
        b.add_yaml(&name, text);
    }
    for i in 0..extra {
        let service = SERVICES[i % SERVICES.len()];
        let call = format!("{}Thing{}", VERBS[i % VERBS.len()], i / 10);
        let detection = match i % 10 {
            // One rule in ten has no literal anchor and is tested against every event.
            0 => format!("  sel:\n    userAgent|contains: 'scanner-{i}'\n    errorCode|startswith: Access\n  condition: sel"),
            1 => format!("  sel:\n    eventName: {call}\n    userAgent|re: '^python-requests/{i}\\.'\n  condition: sel"),
            2 => format!("  sel:\n    eventSource: {service}.amazonaws.com\n    requestParameters.name|endswith: '-{i}'\n  condition: sel"),
            _ => format!(
                "  sel:\n    eventSource: {service}.amazonaws.com\n    eventName: [{call}, {call}V2]\n  filter:\n    userIdentity.type: AWSService\n  condition: sel and not filter"
            ),
        };
        b.add_yaml(
            &format!("extra-{i}.yml"),
            &format!("title: Extra {i}\nname: extra-{i}\nlogsource: {{product: aws, service: cloudtrail}}\ndetection:\n{detection}\nlevel: low\n"),
        );
    }
    b.build().unwrap()
}

fn stages(c: &mut Criterion) {
    let (files, bytes) = archive();
    let rules = built_in();
    let mut g = c.benchmark_group("replay");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(10);
    g.bench_function("gunzip", |b| {
        b.iter(|| {
            let mut sink = vec![0u8; 256 * 1024];
            for f in &files {
                let (mut r, _) = decode(&f[..]).unwrap();
                while r.read(&mut sink).unwrap() > 0 {}
            }
        })
    });
    let fields = FieldSet::new();
    g.bench_function("gunzip+parse", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for f in &files {
                let (stats, err) = read_stream(&f[..], &fields, |_| {});
                assert!(err.is_none());
                n += stats.records;
            }
            n
        })
    });
    g.bench_function("gunzip+parse+match (built-in pack)", |b| {
        let origin = Origin::File {
            file: "bench".into(),
        };
        b.iter(|| {
            let mut alerts = 0u64;
            let mut scratch = Vec::new();
            for f in &files {
                read_stream(&f[..], rules.fields(), |rec| {
                    let rec = rec.unwrap();
                    rules.for_each_match(&rec, &mut scratch, |rule| {
                        alerts += Alert::new(&rule.meta, &rec, &origin).to_json_line().len() as u64;
                    });
                });
            }
            alerts
        })
    });
    g.finish();
}

/// What rendering alerts costs where they are dense: the same matching with and without
/// building each alert and its JSON line, on an archive a third of whose records alert.
fn dense(c: &mut Criterion) {
    let (files, bytes) = archive_of(Some(0.3));
    let rules = built_in();
    let origin = Origin::File {
        file: "bench".into(),
    };
    let mut g = c.benchmark_group("dense (density 0.3)");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(10);
    for render in [false, true] {
        let name = match render {
            false => "gunzip+parse+match, matches counted",
            true => "gunzip+parse+match, alerts rendered to JSON lines",
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut out = 0u64;
                let mut scratch = Vec::new();
                // Lines go to one buffer handed on every megabyte, as replay's batches do.
                let mut lines = Vec::new();
                for f in &files {
                    read_stream(&f[..], rules.fields(), |rec| {
                        let rec = rec.unwrap();
                        rules.for_each_match(&rec, &mut scratch, |rule| match render {
                            false => out += 1,
                            true => {
                                Alert::new(&rule.meta, &rec, &origin).write_json_line(&mut lines);
                                if lines.len() >= 1 << 20 {
                                    out += lines.len() as u64;
                                    lines.clear();
                                }
                            }
                        });
                    });
                }
                out + lines.len() as u64
            })
        });
    }
    g.finish();
}

/// Parsing alone, on the records of the dense archive laid end to end in memory: the fields
/// trailwatch extracts against what validating each record costs with and without SIMD.
/// serde_json's validating skip of a whole record is the floor of any extraction built on it;
/// sonic-rs's validating skip and simd-json's tape are the SIMD parsers the extraction could
/// be built on instead (each must validate: a record is checked whole, whichever fields it
/// holds).
fn parsers(c: &mut Criterion) {
    let (files, _) = archive_of(Some(0.3));
    let mut text = Vec::new();
    let mut bounds = Vec::new();
    for f in &files {
        read_stream(&f[..], &FieldSet::new(), |rec| {
            let raw = rec.unwrap().raw;
            bounds.push(text.len()..text.len() + raw.len());
            text.extend_from_slice(raw.as_bytes());
        });
    }
    let records = || bounds.iter().map(|r| &text[r.clone()]);
    let rules = built_in();
    let mut g = c.benchmark_group("parsers (dense records, in memory)");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.sample_size(10);
    g.bench_function("serde_json: skip each record, validating", |b| {
        b.iter(|| {
            records()
                .map(|r| serde_json::from_slice::<serde::de::IgnoredAny>(r).is_ok() as u64)
                .sum::<u64>()
        })
    });
    g.bench_function("sonic-rs: skip each record, validating", |b| {
        b.iter(|| {
            records()
                .map(|r| {
                    let mut p = sonic_rs::parser::Parser::new(sonic_rs::Read::from(r));
                    p.skip_one(true).map_or(0, |(v, _)| v.len())
                })
                .sum::<usize>()
        })
    });
    g.bench_function("simd-json: tape of each record, validating", |b| {
        // simd-json parses in place: each record is copied, into buffers used again.
        let mut copy = Vec::new();
        let mut buffers = simd_json::Buffers::default();
        b.iter(|| {
            records()
                .map(|r| {
                    copy.clear();
                    copy.extend_from_slice(r);
                    simd_json::to_tape_with_buffers(&mut copy, &mut buffers)
                        .map_or(0, |t| t.0.len())
                })
                .sum::<usize>()
        })
    });
    let well_known = FieldSet::new();
    for (name, set) in [
        ("trailwatch: extract the well-known fields", &well_known),
        (
            "trailwatch: extract the built-in pack's fields",
            rules.fields(),
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                records()
                    .map(|r| set.extract_prefix(r).map_or(0, |(_, len)| len))
                    .sum::<usize>()
            })
        });
    }
    g.finish();
}

fn matcher(c: &mut Criterion) {
    let (files, _) = archive();
    // Record texts, parsed once per rule set so only matching is timed. A thousand records
    // stay in cache, as a record just parsed by a replay does.
    let mut texts: Vec<String> = Vec::new();
    read_stream(&files[0][..], &FieldSet::new(), |rec| {
        if texts.len() < 1000 {
            texts.push(rec.unwrap().raw.to_string())
        }
    });
    let mut g = c.benchmark_group("matcher");
    g.throughput(Throughput::Elements(texts.len() as u64));
    for extra in [3usize, 363] {
        let set = with_extra_rules(extra);
        let records: Vec<Record> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| Record::new(t, set.fields().extract(t).unwrap(), i as u64))
            .collect();
        if std::env::var_os("TRAILWATCH_BENCH_DEBUG").is_some() {
            let mut scratch = Vec::new();
            let mut total = 0;
            for r in &records {
                set.for_each_match(r, &mut scratch, |_| {});
                total += scratch.len();
            }
            eprintln!(
                "{} rules: {} candidates per record",
                set.len(),
                total as f64 / records.len() as f64
            );
        }
        g.bench_with_input(
            BenchmarkId::new("rules", set.len()),
            &records,
            |b, records| {
                let mut scratch = Vec::new();
                b.iter(|| {
                    let mut hits = 0u64;
                    for r in records {
                        set.for_each_match(r, &mut scratch, |_| hits += 1);
                    }
                    hits
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, stages, dense, parsers, matcher);
criterion_main!(benches);
