//! `trailwatch replay`.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use super::{exit, RuleArgs};
use trailwatch::audit::permissions::usage::Usage;
use trailwatch::config::Config;
use trailwatch::metrics::Metrics;
use trailwatch::pipeline::{Pipeline, Use};
use trailwatch::replay::{self, parse_time, Format, Options, TimeWindow};
use trailwatch::source::listing::{self, Scope};
use trailwatch::source::s3::BlockingOpener;
use trailwatch::source::{local, Input, Listing};

/// Parallel downloads when replaying from S3 and --threads is not given: S3 reads wait on
/// the network more than on the CPU.
const S3_PARALLELISM: usize = 8;

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    trailwatch replay samples/\n  \
    trailwatch replay --format table --since 36h /archive/AWSLogs\n  \
    trailwatch replay --since 2026-11-01 --until 2026-11-08 --account 111122223333 s3://trail-bucket/\n  \
    trailwatch replay --rule root-console-login --rule console-login-without-mfa logs.json.gz\n  \
    trailwatch replay --to-sinks --config trailwatch.toml s3://trail-bucket/AWSLogs/\n  \
    trailwatch replay --since 2026-10-01 --enqueue https://sqs.us-east-1.amazonaws.com/111122223333/trailwatch s3://trail-bucket/\n  \
    trailwatch replay --add-rules my-rules/ --output alerts.jsonl /archive\n  \
    trailwatch replay --since 90d --usage usage.json s3://trail-bucket/AWSLogs/ > /dev/null")]
pub struct ReplayArgs {
    /// Files or directories (walked recursively) of CloudTrail logs, or s3://bucket/prefix.
    #[arg(required = true, value_name = "PATH|S3_URL")]
    paths: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
    /// Write alerts to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Only events at or after this time: RFC 3339, a date, or a duration before now (36h, 7d).
    /// In S3, only the day folders that can hold such events are listed.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only events before this time (same forms as --since).
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// S3 only: list only this account's logs (repeatable).
    #[arg(long = "account", value_name = "ID")]
    accounts: Vec<String>,
    /// S3 only: list only this region's logs (repeatable).
    #[arg(long = "region", value_name = "REGION")]
    regions: Vec<String>,
    /// Worker threads, which are also the parallel downloads from S3
    /// (default: one per core; 8 when reading S3).
    #[arg(long, value_name = "N", default_value_t = 0)]
    threads: usize,
    /// Memory for correlation observations and suppressed-rule alerts that wait for the end
    /// of the replay; past it they are sorted into temporary files and merged at the end
    /// (the result does not change).
    #[arg(long, value_name = "MB", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    memory_budget: u64,
    /// Do not read the S3 objects here: put one S3 event notification per listed object on
    /// this queue (the daemons'), so the fleet shares the backfill through the live path.
    /// --since/--until choose the day folders listed (one day more on each side); the daemons
    /// read whole objects.
    #[arg(long, value_name = "QUEUE_URL", conflicts_with_all = ["to_sinks", "output"])]
    enqueue: Option<String>,
    /// Also send the alerts through the sinks of the --config file (SNS, webhooks, JSONL).
    #[arg(long, requires = "config")]
    to_sinks: bool,
    /// Record what each IAM user and role used (each action called with success, first and
    /// last use, the resources the records name) into FILE, merged with what FILE holds,
    /// for `trailwatch audit --usage FILE`.
    #[arg(long, value_name = "FILE", conflicts_with = "enqueue")]
    usage: Option<PathBuf>,
    /// Daemon configuration: its [rules], [[exclusions]], [[suppress]] and [correlation]
    /// apply, and --to-sinks uses its sinks and [state].
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    rules: RuleArgs,
}

impl ReplayArgs {
    fn window(&self) -> Result<TimeWindow, String> {
        let now = chrono::Utc::now();
        let parse = |flag: &str, v: &Option<String>| match v {
            None => Ok(None),
            Some(t) => parse_time(t, now)
                .map(Some)
                .map_err(|e| format!("--{flag}: {e}")),
        };
        Ok(TimeWindow {
            since: parse("since", &self.since)?,
            until: parse("until", &self.until)?,
        })
    }

    fn reads_s3(&self) -> bool {
        self.paths.iter().any(|p| p.starts_with("s3://"))
    }
}

/// Lists local paths and S3 prefixes, in the order given.
async fn list(args: &ReplayArgs, window: &TimeWindow, s3: Option<&aws_sdk_s3::Client>) -> Listing {
    let mut all = Listing::default();
    for path in &args.paths {
        if !path.starts_with("s3://") {
            let found = local::list(&[PathBuf::from(path)]);
            all.inputs.extend(found.inputs);
            all.digests += found.digests;
            all.errors.extend(found.errors);
            continue;
        }
        let (Some((bucket, prefix)), Some(client)) = (listing::parse_url(path), s3) else {
            all.errors
                .push(format!("{path}: not an S3 URL (s3://bucket/prefix)"));
            continue;
        };
        let scope = Scope {
            bucket,
            prefix,
            accounts: args.accounts.clone(),
            regions: args.regions.clone(),
            window: *window,
        };
        match listing::list(client, &scope).await {
            Ok(found) => {
                tracing::info!(url = %path, objects = found.objects.len(), requests = found.requests, "listed");
                all.inputs.extend(found.objects.into_iter().map(Input::S3));
                all.digests += found.digests;
            }
            Err(e) => all.errors.push(e.to_string()),
        }
    }
    all
}

/// The runtime for S3 and the sinks: two threads are plenty, the work is waiting on the
/// network (replay's parsing runs on its own worker threads).
fn io_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

pub fn run(args: ReplayArgs) -> u8 {
    let window = match args.window() {
        Ok(w) => w,
        Err(e) => {
            say!("error: {e}");
            return exit::USAGE;
        }
    };
    if let Some(queue_url) = &args.enqueue {
        return enqueue(&args, &window, queue_url);
    }
    // The configuration, read once: its rules, exclusions, suppression, correlation caps and,
    // with --to-sinks, its sinks and state.
    let mut config = match &args.config {
        None => Config::default(),
        Some(path) => match Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                say!("error: {e}");
                return exit::USAGE;
            }
        },
    };
    // Read before the archives are, so a file that is not a usage record stops nothing late.
    let mut usage = match args.usage.as_deref().map(Usage::load).transpose() {
        Ok(u) => u,
        Err(e) => {
            say!("error: --usage {e}");
            return exit::USAGE;
        }
    };
    config.usage.record = usage.is_some();
    let used = if args.to_sinks {
        Use::ReplayToSinks
    } else {
        Use::Replay
    };
    let Some(pipeline) = args.rules.pipeline(config, used, args.config.as_deref()) else {
        return exit::USAGE;
    };
    // Only S3 and the sinks need async I/O (and the AWS configuration, loaded once); a local
    // replay starts no runtime.
    let runtime = (args.reads_s3() || args.to_sinks).then(io_runtime);
    let sdk = match &runtime {
        Some(rt) if args.reads_s3() || needs_aws(&pipeline) => {
            match rt.block_on(trailwatch::config::aws::load()) {
                Ok(sdk) => Some(sdk),
                Err(e) => {
                    say!("error: {e}");
                    return exit::INPUT_FAILED;
                }
            }
        }
        _ => None,
    };
    let s3 = runtime
        .as_ref()
        .zip(sdk.as_ref())
        .filter(|_| args.reads_s3())
        .map(|(rt, sdk)| BlockingOpener {
            client: trailwatch::source::s3::client(sdk),
            runtime: rt.handle().clone(),
        });
    // With `[state] backend = "dynamodb"` the sinks share the daemons' record of what each
    // sink accepted, so a backfill does not send again what the daemons sent.
    let sinks = match &runtime {
        Some(_) if args.to_sinks => {
            let metrics = Metrics::new();
            let built = pipeline
                .state(sdk.as_ref(), &metrics, None)
                .and_then(|state| pipeline.sinks(sdk.as_ref(), metrics, state));
            match built {
                Ok(s) => Some(s),
                Err(e) => {
                    say!("error: {e}");
                    return exit::USAGE;
                }
            }
        }
        _ => None,
    };
    let listing = match &runtime {
        Some(rt) => rt.block_on(list(&args, &window, s3.as_ref().map(|s| &s.client))),
        None => local::list(&args.paths.iter().map(PathBuf::from).collect::<Vec<_>>()),
    };
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => match File::create(path) {
            Ok(f) => Box::new(BufWriter::new(f)),
            Err(e) => {
                say!("error: {}: cannot create: {e}", path.display());
                return exit::USAGE;
            }
        },
        None => Box::new(BufWriter::new(io::stdout().lock())),
    };
    let opts = Options {
        format: args.format,
        window,
        threads: match args.threads {
            0 if s3.is_some() => S3_PARALLELISM,
            n => n,
        },
        progress: io::stderr().is_terminal(),
        s3,
        to_sinks: sinks.is_some(),
        memory_budget: Some(args.memory_budget as usize * 1_048_576),
        usage: usage.is_some(),
    };
    let mut deliver = |alerts: Vec<trailwatch::alert::Alert>| {
        let (Some(rt), Some(sinks)) = (&runtime, &sinks) else {
            return Ok(());
        };
        let alerts: Vec<Arc<_>> = alerts.into_iter().map(Arc::new).collect();
        rt.block_on(sinks.deliver(&alerts))
    };
    let result = replay::run(
        &pipeline,
        &opts,
        &listing,
        &mut out,
        Some(&mut deliver),
        // The replay goes on whether or not stderr is open; its exit status still tells.
        &|line| say!("error: {line}"),
    );
    if let (Some(rt), Some(sinks)) = (&runtime, &sinks) {
        rt.block_on(sinks.flush());
    }
    let summary = match result {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return exit::OK,
        Err(e) => {
            say!("error: writing alerts: {e}");
            return exit::INPUT_FAILED;
        }
    };
    let _ = write!(io::stderr(), "{summary}");
    let mut saved = true;
    if let (Some(usage), Some(path), Some(new)) = (usage.as_mut(), &args.usage, summary.usage) {
        usage.merge(new);
        saved = save_usage(usage, path);
    }
    if summary.failed_inputs > 0 || summary.undelivered > 0 || !saved {
        exit::INPUT_FAILED
    } else {
        exit::OK
    }
}

/// Writes the merged usage record and says what it holds.
fn save_usage(usage: &Usage, path: &Path) -> bool {
    if let Err(e) = usage.save(path) {
        say!("error: --usage {e}");
        return false;
    }
    let actions: usize = usage.principals.values().map(|a| a.actions.len()).sum();
    say!(
        "  usage: {} principals, {actions} actions, trail from {} to {}{} -> {}",
        usage.principals.len(),
        usage.since.as_deref().unwrap_or("-"),
        usage.until.as_deref().unwrap_or("-"),
        match usage.dropped {
            0 => String::new(),
            n => format!(" ({n} uses over the caps not kept)"),
        },
        path.display()
    );
    true
}

/// Whether --to-sinks talks to AWS: an SNS sink, or the shared state table.
fn needs_aws(pipeline: &Pipeline) -> bool {
    let cfg = &pipeline.config;
    !cfg.sinks.sns.is_empty() || cfg.state.shared_table().ok().flatten().is_some()
}

/// `--enqueue`: lists the S3 prefixes and queues one notification per object.
fn enqueue(args: &ReplayArgs, window: &TimeWindow, queue_url: &str) -> u8 {
    if let Err(e) = trailwatch::config::check_queue_url(queue_url) {
        say!("error: --enqueue: {e}");
        return exit::USAGE;
    }
    if let Some(p) = args.paths.iter().find(|p| !p.starts_with("s3://")) {
        say!("error: --enqueue takes s3:// prefixes only (the daemons read from S3): {p}");
        return exit::USAGE;
    }
    io_runtime().block_on(async {
        let sdk = match trailwatch::config::aws::load().await {
            Ok(sdk) => sdk,
            Err(e) => {
                say!("error: {e}");
                return exit::INPUT_FAILED;
            }
        };
        let s3 = trailwatch::source::s3::client(&sdk);
        let listing = list(args, window, Some(&s3)).await;
        let objects: Vec<_> = listing
            .inputs
            .into_iter()
            .filter_map(|i| match i {
                Input::S3(o) => Some(o),
                Input::Local { .. } => None,
            })
            .collect();
        say!("enqueueing {} objects to {queue_url}", objects.len());
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let done = trailwatch::source::enqueue::enqueue(&sqs, queue_url, &objects).await;
        for line in listing.errors.iter().chain(&done.failed) {
            say!("error: {line}");
        }
        say!(
            "enqueued {} of {} objects ({:.1} MB), {} digest files skipped",
            done.messages,
            objects.len(),
            done.bytes as f64 / 1e6,
            listing.digests
        );
        if listing.errors.is_empty() && done.failed.is_empty() {
            exit::OK
        } else {
            exit::INPUT_FAILED
        }
    })
}
