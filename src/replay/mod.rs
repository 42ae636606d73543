//! `trailwatch replay`: local files or S3 objects → records → rules → alerts, in parallel.
//!
//! Inputs are independent, so each is read start to finish by one worker thread; alerts of
//! one input therefore keep record order. A writer on the calling thread serialises output
//! and, with `--to-sinks`, hands alerts to the daemon's sinks.

mod pending;
mod report;
pub mod rule_tests;
mod spill;
mod split;
mod store;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use crate::alert::{table, Alert, Origin};
use crate::audit::permissions::usage::{Usage, UseReader};
use crate::detect::exclusions::Exclusions;
use crate::detect::{self, Detector, Observation, Outcomes, Scan};
use crate::pipeline::Pipeline;
use crate::rules::RuleSet;
use crate::source::s3::BlockingOpener;
use crate::source::{Input, Listing};
use crate::suppress::Suppressor;
use crate::trail::{self, Record, TrailError};

pub use crate::source::window::{parse_time, TimeWindow};
use pending::Pending;
use report::Summary;

/// Output is handed to the writer in chunks of about this size: each hand-off wakes the
/// writer, and at 64 KB a dense replay's 5,800 wake-ups cost 3% of a one-thread run.
const BATCH_BYTES: usize = 256 * 1024;

/// Chunks in flight to the writer: what a slow output holds back, about 4 MB of rendered
/// alerts (as 64 chunks of 64 KB did).
const BATCHES_IN_FLIGHT: usize = 16;

/// Alerts decided at the end go to the sinks in batches of this many.
const DELIVER_BATCH: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// One alert JSON document per line.
    #[default]
    Jsonl,
    /// Aligned columns for reading at a terminal.
    Table,
}

impl Format {
    /// Appends the alert's line to `out`.
    fn render(self, alert: &Alert, out: &mut Vec<u8>) {
        match self {
            Format::Jsonl => alert.write_json_line(out),
            Format::Table => out.extend_from_slice(&table::row(alert)),
        }
    }
}

/// Takes a batch of alerts to the sinks; the errors name the sinks that failed.
pub type Deliver<'a> = &'a mut dyn FnMut(Vec<Alert>) -> Result<(), Vec<crate::sink::SinkError>>;

/// Why an input was not read to its end, or not every record of it was usable. The rest of
/// the replay goes on.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{}: cannot open: {source}", path.display())]
    Open {
        path: std::path::PathBuf,
        source: io::Error,
    },
    #[error(transparent)]
    Fetch(#[from] crate::source::s3::FetchError),
    #[error("{input}: no S3 client")]
    NoS3Client { input: String },
    #[error("{input}: {source}")]
    Read { input: String, source: TrailError },
    /// Records that are not CloudTrail records (or not JSON), the first of them described.
    #[error("{input}: {first}{}", more_unusable(*count))]
    Unusable {
        input: String,
        first: String,
        count: u64,
    },
}

fn more_unusable(count: u64) -> String {
    match count {
        0 | 1 => String::new(),
        n => format!(" (and {} more unusable records)", n - 1),
    }
}

#[derive(Clone, Default)]
pub struct Options {
    pub format: Format,
    pub window: TimeWindow,
    /// Worker threads (and, for S3, parallel downloads); 0 means one per core.
    pub threads: usize,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Needed when the listing holds S3 objects.
    pub s3: Option<BlockingOpener>,
    /// Keep the alerts (not only their text) for `Deliver`.
    pub to_sinks: bool,
    /// Memory for observations and suppressed-rule alerts waiting for the end of the replay
    /// before they spill to temporary files; None: 16 MiB.
    pub memory_budget: Option<usize>,
    /// Record what each principal used (in [`Summary::usage`]), from the records inside
    /// the window.
    pub usage: bool,
}

/// What one input gave.
#[derive(Debug, Default)]
struct FileReport {
    stats: trail::StreamStats,
    outside_window: u64,
    alerts: BTreeMap<String, u64>,
    /// Matches that filter documents or config exclusions kept from alerting, by rule.
    excluded: BTreeMap<String, u64>,
    /// Set when the input could not be read to its end, or had unusable records.
    error: Option<InputError>,
    /// What the principals used, with [`Options::usage`].
    usage: Usage,
}

impl FileReport {
    /// Adds what another part of the same input gave (its error aside).
    fn absorb(&mut self, part: FileReport) {
        let (s, p) = (&mut self.stats, part.stats);
        s.records += p.records;
        s.digests += p.digests;
        s.record_errors += p.record_errors;
        s.bytes += p.bytes;
        self.outside_window += part.outside_window;
        for (rule, n) in part.alerts {
            *self.alerts.entry(rule).or_default() += n;
        }
        for (rule, n) in part.excluded {
            *self.excluded.entry(rule).or_default() += n;
        }
        self.usage.merge(part.usage);
    }
}

/// What a worker hands to the writer.
#[derive(Default)]
struct Batch {
    text: Vec<u8>,
    /// Only with `to_sinks`.
    alerts: Vec<Alert>,
}

/// Replays the listed inputs through `pipeline` (its rules, exclusions, suppression and
/// correlation caps; lateness does not matter, replay feeds events in order), writing alerts
/// to `out` (and through `deliver`, when given) and one line per problem to `on_error` as it
/// happens. Returns the summary; I/O errors on `out` end the replay early.
pub fn run(
    pipeline: &Pipeline,
    opts: &Options,
    listing: &Listing,
    out: &mut dyn Write,
    mut deliver: Option<Deliver>,
    on_error: &(dyn Fn(&str) + Sync),
) -> io::Result<Summary> {
    let started = Instant::now();
    let set: &RuleSet = &pipeline.rules;
    let mut suppressor =
        Suppressor::new(set, &pipeline.config.suppress).map_err(io::Error::other)?;
    for e in &listing.errors {
        on_error(e);
    }
    let total: u64 = listing.inputs.iter().map(Input::size).sum();
    let bar = if opts.progress {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, eta {eta})",
            )
            .expect("valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let report_error = |line: &str| bar.suspend(|| on_error(line));

    if opts.format == Format::Table {
        out.write_all(table::HEADER.as_bytes())?;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .thread_name(|i| format!("replay-{i}"))
        .build()
        .map_err(io::Error::other)?;
    // Bounded, so a slow writer holds the readers back instead of buffering alerts.
    let (tx, rx) = mpsc::sync_channel::<Batch>(BATCHES_IN_FLIGHT);
    let stop = AtomicBool::new(false);
    let unstarted = AtomicUsize::new(listing.inputs.len());

    let pending = Pending::new(opts.memory_budget.unwrap_or(pending::DEFAULT_BUDGET), set)?;
    // Each input's uses join the whole replay's as the input ends, so only the inputs being
    // read hold their own.
    let usage = Mutex::new(Usage::new());
    let uses = opts.usage.then(|| UseReader::new(set.fields()));
    let (reports, written, undelivered) = std::thread::scope(|scope| {
        let workers = scope.spawn(|| {
            pool.install(|| {
                listing
                    .inputs
                    .par_iter()
                    .map_with(tx, |tx, input| {
                        if stop.load(Ordering::Relaxed) {
                            return FileReport::default();
                        }
                        let hold = |rule: &str| suppressor.applies(rule);
                        let ctx = Context {
                            set,
                            exclusions: &pipeline.exclusions,
                            opts,
                            hold: &hold,
                            pending: &pending,
                            stop: &stop,
                            unstarted: unstarted.fetch_sub(1, Ordering::Relaxed) - 1,
                            uses,
                        };
                        let mut report = replay_input(&ctx, input, &bar, &mut |batch| {
                            if !batch.text.is_empty() && tx.send(batch).is_err() {
                                stop.store(true, Ordering::Relaxed);
                            }
                        });
                        if opts.usage {
                            let used = std::mem::take(&mut report.usage);
                            usage.lock().expect("usage lock").merge(used);
                        }
                        if let Some(e) = &report.error {
                            report_error(&e.to_string());
                        }
                        report
                    })
                    .collect::<Vec<_>>()
            })
        });
        let mut written = Ok(());
        let mut undelivered = 0;
        for batch in rx {
            if let Err(e) = out.write_all(&batch.text) {
                stop.store(true, Ordering::Relaxed);
                written = Err(e);
                break;
            }
            undelivered += send(&mut deliver, batch.alerts, &report_error);
        }
        (
            workers.join().expect("replay worker panicked"),
            written,
            undelivered,
        )
    });
    bar.finish_and_clear();
    written?;

    let mut summary = Summary {
        files: listing.inputs.len() as u64,
        bytes_in: total,
        digests: listing.digests,
        failed_inputs: listing.errors.len() as u64,
        undelivered,
        ..Summary::default()
    };
    // Alerts that needed every input: correlations, and those of rules with suppression,
    // written and delivered as they are decided.
    let mut to_deliver = Vec::new();
    let mut line = Vec::new();
    let (correlation_dropped, spilled) =
        pending.decide(set, pipeline.limits, &mut suppressor, &mut |alert| {
            *summary.alerts.entry(alert.rule.name.clone()).or_default() += 1;
            line.clear();
            opts.format.render(&alert, &mut line);
            out.write_all(&line)?;
            if opts.to_sinks {
                to_deliver.push(alert);
                if to_deliver.len() >= DELIVER_BATCH {
                    summary.undelivered +=
                        send(&mut deliver, std::mem::take(&mut to_deliver), on_error);
                }
            }
            Ok(())
        })?;
    summary.correlation_dropped = correlation_dropped;
    summary.spilled = spilled;
    summary.suppressed = suppressor.take_counts();
    out.flush()?;
    summary.undelivered += send(&mut deliver, to_deliver, on_error);
    for r in reports {
        summary.add(&r.stats, r.outside_window, &r.alerts, r.error.is_some());
        for (rule, n) in r.excluded {
            *summary.excluded.entry(rule).or_default() += n;
        }
    }
    summary.usage = opts.usage.then(|| usage.into_inner().expect("usage lock"));
    summary.elapsed = started.elapsed();
    summary.peak_rss = report::peak_rss();
    Ok(summary)
}

/// Hands alerts to the sinks, if there are any; returns how many were not delivered.
fn send(deliver: &mut Option<Deliver>, alerts: Vec<Alert>, on_error: &dyn Fn(&str)) -> u64 {
    let n = alerts.len() as u64;
    match deliver.as_mut() {
        Some(deliver) if n > 0 => match deliver(alerts) {
            Ok(()) => 0,
            Err(errors) => {
                for e in errors {
                    on_error(&format!("{n} alerts not delivered: {e}"));
                }
                n
            }
        },
        _ => 0,
    }
}

/// What every input's reading shares.
struct Context<'a> {
    set: &'a RuleSet,
    exclusions: &'a Exclusions,
    opts: &'a Options,
    hold: &'a (dyn Fn(&str) -> bool + Sync),
    pending: &'a Pending,
    /// Set when the writer is gone: inputs stop early.
    stop: &'a AtomicBool,
    /// Inputs not yet started when this one was.
    unstarted: usize,
    /// Set when the replay records what principals used.
    uses: Option<UseReader>,
}

/// What matching records gives, sorted for the replay: alerts rendered into `batch` in
/// record order (handed to `flush` whenever it is large enough, when there is one).
struct InputOutcomes<'a> {
    report: FileReport,
    window: &'a TimeWindow,
    first_bad: Option<TrailError>,
    hold: &'a dyn Fn(&str) -> bool,
    pending: &'a Pending,
    local: pending::Local,
    format: Format,
    to_sinks: bool,
    batch: Batch,
    flush: Option<&'a mut dyn FnMut(Batch)>,
    uses: Option<UseReader>,
}

impl<'a> InputOutcomes<'a> {
    fn new(ctx: &Context<'a>, flush: Option<&'a mut dyn FnMut(Batch)>) -> InputOutcomes<'a> {
        InputOutcomes {
            report: FileReport::default(),
            window: &ctx.opts.window,
            first_bad: None,
            hold: ctx.hold,
            pending: ctx.pending,
            local: pending::Local::default(),
            format: ctx.opts.format,
            to_sinks: ctx.opts.to_sinks,
            batch: Batch::default(),
            flush,
            uses: ctx.uses,
        }
    }

    fn emit(&mut self, alert: Alert) {
        self.format.render(&alert, &mut self.batch.text);
        if self.to_sinks {
            self.batch.alerts.push(alert);
        }
        // Alerts go to the writer in batches: one channel hand-off per alert costs a thread
        // wake-up, which showed up as 10% of replay time.
        if self.batch.text.len() >= BATCH_BYTES {
            if let Some(flush) = self.flush.as_mut() {
                flush(std::mem::take(&mut self.batch));
            }
        }
    }

    /// Hands over what waits for the end of the replay; returns what is left to report and
    /// to write.
    fn finish(mut self) -> (FileReport, Option<TrailError>, Batch) {
        self.pending.hand_over(&mut self.local);
        (self.report, self.first_bad, self.batch)
    }

    /// Outcomes that may yet be thrown away: what waits for the end of the replay is kept
    /// (in [`InputOutcomes::into_parts`]) rather than handed over as it gathers.
    fn deferred(ctx: &Context<'a>) -> InputOutcomes<'a> {
        InputOutcomes {
            local: pending::Local::deferred(),
            ..InputOutcomes::new(ctx, None)
        }
    }

    /// What a deferred reading gave: its report, first unusable record, alerts to write, and
    /// what waits for the end of the replay, to hand over if the reading stands.
    fn into_parts(self) -> (FileReport, Option<TrailError>, Batch, pending::Local) {
        (self.report, self.first_bad, self.batch, self.local)
    }
}

impl Scan for InputOutcomes<'_> {
    fn record(&mut self, record: &Record) -> bool {
        let inside = self.window.admits(record);
        self.report.outside_window += u64::from(!inside);
        if let Some(u) = self.uses.filter(|_| inside).and_then(|r| r.read(record)) {
            self.report.usage.record(&u);
        }
        inside
    }
    fn unusable(&mut self, error: TrailError) {
        self.first_bad.get_or_insert(error);
    }
}

impl Outcomes for InputOutcomes<'_> {
    fn alert(&mut self, alert: Alert) {
        if (self.hold)(&alert.rule.name) {
            self.pending.hold(&mut self.local, alert);
        } else {
            *self
                .report
                .alerts
                .entry(alert.rule.name.clone())
                .or_default() += 1;
            self.emit(alert);
        }
    }
    fn observation(&mut self, observation: Observation) {
        self.pending.observe(&mut self.local, observation);
    }
    fn excluded(&mut self, rule: &str) {
        *self.report.excluded.entry(rule.to_string()).or_default() += 1;
    }
}

fn open(input: &Input, opts: &Options) -> Result<Box<dyn Read + Send>, InputError> {
    match input {
        Input::Local { path, .. } => File::open(path)
            .map(|f| Box::new(f) as Box<dyn Read + Send>)
            .map_err(|source| InputError::Open {
                path: path.clone(),
                source,
            }),
        Input::S3(obj) => match &opts.s3 {
            Some(s3) => Ok(Box::new(s3.open(&obj.bucket, &obj.key)?)),
            None => Err(InputError::NoS3Client {
                input: input.name(),
            }),
        },
    }
}

fn replay_input(
    ctx: &Context,
    input: &Input,
    bar: &ProgressBar,
    send: &mut dyn FnMut(Batch),
) -> FileReport {
    let name = input.name();
    let reader = match open(input, ctx.opts) {
        Ok(r) => r,
        Err(e) => {
            return FileReport {
                error: Some(e),
                ..FileReport::default()
            }
        }
    };
    let origin: Origin = input.origin();
    let detector = Detector {
        rules: ctx.set,
        origin: &origin,
        exclusions: ctx.exclusions,
    };
    let reader = bar.wrap_read(reader);
    let (mut report, first_bad, error) = if split::worth_it(input, ctx.unstarted) {
        split::scan(ctx, reader, &detector, send)
    } else {
        let mut outcomes = InputOutcomes::new(ctx, Some(&mut *send));
        let (stats, error) = detect::scan(reader, &detector, &mut outcomes);
        let (mut report, first_bad, rest) = outcomes.finish();
        send(rest);
        report.stats = stats;
        (report, first_bad, error)
    };
    report.error = match (error, first_bad) {
        (Some(source), _) => Some(InputError::Read {
            input: name,
            source,
        }),
        (None, Some(first)) => Some(InputError::Unusable {
            input: name,
            first: first.to_string(),
            count: report.stats.record_errors,
        }),
        (None, None) => None,
    };
    report
}
