//! `trailwatch rules check | list | test`.

use std::path::PathBuf;

use clap::Subcommand;

use super::{exit, print_rule_errors, RuleArgs};
use trailwatch::config::Config;
use trailwatch::pipeline::Use;
use trailwatch::rules::loader::{self, built_in_files, files_under, is_test_file};
use trailwatch::rules::testing;
use trailwatch::rules::{anchor_of, Anchor, RuleSetBuilder};

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Validate rule files: every document must load and compile.
    Check {
        /// Rule files or directories.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Print one line per loaded rule and correlation: name, level, id, index anchor (or the
    /// correlation's type and rules), title.
    List {
        #[command(flatten)]
        rules: RuleArgs,
    },
    /// Run the test events stored beside each rule (NAME.tests.yml).
    Test {
        #[command(flatten)]
        rules: RuleArgs,
    },
}

pub fn run(cmd: RulesCommand) -> u8 {
    match cmd {
        RulesCommand::Check { paths } => check(&paths),
        RulesCommand::List { rules } => list(&rules),
        RulesCommand::Test { rules } => test(&rules),
    }
}

fn check(paths: &[PathBuf]) -> u8 {
    let mut builder = RuleSetBuilder::new();
    match files_under(paths, loader::is_rule_file) {
        Ok(files) => files.iter().for_each(|f| loader::add_file(&mut builder, f)),
        Err(e) => builder.add_error(e),
    }
    match builder.build() {
        Ok(set) => {
            for note in &set.notes {
                say!("note: {note}");
            }
            match set.correlations().len() {
                0 => println!("{} rules OK", set.len()),
                n => println!("{} rules and {n} correlations OK", set.len()),
            }
            exit::OK
        }
        Err(errors) => {
            print_rule_errors(&errors);
            exit::USAGE
        }
    }
}

fn list(args: &RuleArgs) -> u8 {
    let Some(pipeline) = args.pipeline(Config::default(), Use::Replay, None) else {
        return exit::USAGE;
    };
    let set = &pipeline.rules;
    for rule in set.rules() {
        let anchor = match anchor_of(rule, set.fields()) {
            Anchor::EventName(n) => format!("eventName={}", n.join(",")),
            Anchor::EventSource(s) => format!("eventSource={}", s.join(",")),
            Anchor::ActorType(t) => format!("userIdentity.type={}", t.join(",")),
            Anchor::Present(field) => format!("has:{field}"),
            Anchor::None => "any-event".to_string(),
        };
        let m = &rule.meta;
        let quiet = if rule.generates {
            ""
        } else {
            " (feeds correlations only)"
        };
        println!(
            "{}\t{}\t{}\t{}\t{}{quiet}",
            m.info.name, m.info.level, m.info.id, anchor, m.info.title
        );
    }
    for c in set.correlations() {
        let m = &c.meta;
        println!(
            "{}\t{}\t{}\tcorrelation:{}({})\t{}",
            m.info.name,
            m.info.level,
            m.info.id,
            c.kind.as_str(),
            c.steps.join(","),
            m.info.title
        );
    }
    exit::OK
}

fn test(args: &RuleArgs) -> u8 {
    let Some(pipeline) = args.pipeline(Config::default(), Use::Replay, None) else {
        return exit::USAGE;
    };
    let set = &pipeline.rules;
    // Tests come from wherever the rules came from.
    let mut files: Vec<(String, String)> = Vec::new();
    if args.rules.is_empty() {
        files.extend(
            built_in_files(is_test_file)
                .into_iter()
                .map(|(n, t)| (n, t.to_string())),
        );
    }
    let paths: Vec<PathBuf> = args.rules.iter().chain(&args.add_rules).cloned().collect();
    let found = match files_under(&paths, is_test_file) {
        Ok(found) => found,
        Err(e) => {
            print_rule_errors(&[e]);
            return exit::USAGE;
        }
    };
    for path in found.into_iter().filter(|p| is_test_file(p)) {
        match std::fs::read_to_string(&path) {
            Ok(text) => files.push((path.display().to_string(), text)),
            Err(e) => {
                say!("error: {}: cannot read: {e}", path.display());
                return exit::USAGE;
            }
        }
    }
    let mut cases = Vec::new();
    for (name, text) in &files {
        match testing::parse_tests(name, text) {
            Ok(c) => cases.extend(c),
            Err(e) => {
                print_rule_errors(&[e]);
                return exit::USAGE;
            }
        }
    }
    // With --rule, only the selected rules' tests run; otherwise a test naming a rule that is
    // not loaded fails, so a renamed rule cannot silently lose its tests.
    if !args.only.is_empty() {
        cases.retain(|c| set.has(&c.rule));
    }
    let outcomes = testing::run(set, cases, |case| {
        trailwatch::replay::rule_tests::count(set, case)
    });
    let failed = outcomes.iter().filter(|o| o.failure.is_some()).count();
    for o in &outcomes {
        match &o.failure {
            None => println!("ok    {}: {}", o.case.rule, o.case.name),
            Some(why) => println!(
                "FAIL  {}: {} ({}): {why}",
                o.case.rule, o.case.name, o.case.file
            ),
        }
    }
    let untested: Vec<&str> = set
        .metas()
        .filter(|m| !outcomes.iter().any(|o| o.case.rule == m.info.name))
        .map(|m| m.info.name.as_str())
        .collect();
    if !untested.is_empty() {
        say!("note: rules without tests: {}", untested.join(", "));
    }
    println!("{} passed, {} failed", outcomes.len() - failed, failed);
    if failed > 0 {
        exit::INPUT_FAILED
    } else {
        exit::OK
    }
}
