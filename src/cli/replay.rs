//! `trailwatch replay`.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;

use super::{exit, RuleArgs};
use trailwatch::replay::{self, parse_time, Format, Options, TimeWindow};

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    trailwatch replay samples/\n  \
    trailwatch replay --format table --since 36h /archive/AWSLogs\n  \
    trailwatch replay --rule root-console-login --rule console-login-without-mfa logs.json.gz\n  \
    trailwatch replay --add-rules my-rules/ --output alerts.jsonl /archive")]
pub struct ReplayArgs {
    /// Files or directories (walked recursively) of CloudTrail logs.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
    /// Write alerts to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Only events at or after this time: RFC 3339, a date, or a duration before now (36h, 7d).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only events before this time (same forms as --since).
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N", default_value_t = 0)]
    threads: usize,
    #[command(flatten)]
    rules: RuleArgs,
}

pub fn run(args: ReplayArgs) -> u8 {
    let now = chrono::Utc::now();
    let parse = |flag: &str, v: &Option<String>| match v {
        None => Ok(None),
        Some(t) => parse_time(t, now)
            .map(Some)
            .map_err(|e| format!("--{flag}: {e}")),
    };
    let window = match (parse("since", &args.since), parse("until", &args.until)) {
        (Ok(since), Ok(until)) => TimeWindow { since, until },
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let Some(set) = args.rules.load() else {
        return exit::USAGE;
    };
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => match File::create(path) {
            Ok(f) => Box::new(BufWriter::new(f)),
            Err(e) => {
                eprintln!("error: {}: cannot create: {e}", path.display());
                return exit::USAGE;
            }
        },
        None => Box::new(BufWriter::new(io::stdout().lock())),
    };
    let opts = Options {
        inputs: args.paths,
        format: args.format,
        window,
        threads: args.threads,
        progress: io::stderr().is_terminal(),
    };
    let summary = match replay::run(&set, &opts, &mut out, &|line| eprintln!("error: {line}")) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return exit::OK,
        Err(e) => {
            eprintln!("error: writing alerts: {e}");
            return exit::INPUT_FAILED;
        }
    };
    eprint!("{summary}");
    if summary.failed_inputs > 0 {
        exit::INPUT_FAILED
    } else {
        exit::OK
    }
}
