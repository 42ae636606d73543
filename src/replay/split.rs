//! One large input on every core (a single file, or the last of an archive, with threads
//! idle otherwise). The input's worker only decompresses and frames records, in batches of
//! about a megabyte; each batch is parsed, matched and rendered as a task of the replay's
//! thread pool, and the results are put back in batch order before they go to the writer, so
//! the input's alerts keep record order as when one thread reads it all.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use super::{Batch, Context, FileReport, InputOutcomes};
use crate::correlate::{self, Detector};
use crate::source::Input;
use crate::trail::{self, TrailError};

/// Decompressed bytes of records per task: large enough that a task's overhead is nothing
/// beside its parsing, small enough that a few in flight per thread stay a few megabytes.
const TASK_BYTES: usize = 1 << 20;

/// Inputs smaller than this (as stored, usually gzipped) are read by one thread: there are
/// too few records to share.
const SPLIT_FROM: u64 = 4 << 20;

/// Whether to read this input on every core: when it is large, and too few inputs are left
/// to keep every thread busy with one each (a single file, or the tail of an archive).
/// Otherwise files are shared out whole, which needs no batches in flight.
pub fn worth_it(input: &Input, unstarted: usize) -> bool {
    let threads = rayon::current_num_threads();
    input.size() >= SPLIT_FROM && threads > 1 && unstarted + 1 < threads
}

/// What one task gave.
struct Done {
    seq: u64,
    report: FileReport,
    first_bad: Option<String>,
    batch: Batch,
}

/// Reads `input` as [`correlate::scan`] would, the records parsed in parallel. Returns what
/// the input gave (its stats included), its first unusable record, and why it ended early.
pub fn scan(
    ctx: &Context,
    input: impl Read + Send,
    detector: &Detector,
    send: &mut dyn FnMut(Batch),
) -> (FileReport, Option<String>, Option<TrailError>) {
    // Enough tasks in flight to keep every thread busy, few enough to bound memory.
    let max_in_flight = 2 * rayon::current_num_threads() as u64 + 2;
    let (tx, rx) = mpsc::channel::<Done>();
    let mut merged = Merged {
        expected: 0,
        early: BTreeMap::new(),
        report: FileReport::default(),
        first_bad: None,
        send,
    };
    let (bytes, error) = rayon::in_place_scope(|s| {
        let mut spawned = 0u64;
        trail::frame_batches(input, TASK_BYTES, |batch| {
            let tx = tx.clone();
            let seq = spawned;
            s.spawn(move |_| {
                let mut outcomes = InputOutcomes::new(ctx, None);
                let stats = correlate::scan_framed(&batch, detector, &mut outcomes);
                let (mut report, first_bad, batch) = outcomes.finish();
                report.stats = stats;
                // The receiver lives until every task is done.
                let _ = tx.send(Done {
                    seq,
                    report,
                    first_bad,
                    batch,
                });
            });
            spawned += 1;
            // Wait while too many are in flight, running tasks on this thread meanwhile (a
            // blocking wait could leave every thread waiting on tasks none of them runs).
            while spawned - merged.expected >= max_in_flight {
                if let Ok(done) = rx.try_recv() {
                    merged.arrived(done);
                } else if rayon::yield_now() != Some(rayon::Yield::Executed) {
                    if let Ok(done) = rx.recv_timeout(Duration::from_millis(1)) {
                        merged.arrived(done);
                    }
                }
            }
            !ctx.stop.load(Ordering::Relaxed)
        })
    });
    // The scope has waited for every task.
    drop(tx);
    for done in rx {
        merged.arrived(done);
    }
    let mut report = merged.report;
    report.stats.bytes = bytes;
    (report, merged.first_bad, error)
}

/// Task results put back in order, and what they add up to.
struct Merged<'s> {
    expected: u64,
    early: BTreeMap<u64, Done>,
    report: FileReport,
    first_bad: Option<String>,
    send: &'s mut dyn FnMut(Batch),
}

impl Merged<'_> {
    /// Takes one result, and hands on every one now next in order.
    fn arrived(&mut self, done: Done) {
        self.early.insert(done.seq, done);
        while let Some(d) = self.early.remove(&self.expected) {
            self.expected += 1;
            self.report.absorb(d.report);
            if self.first_bad.is_none() {
                self.first_bad = d.first_bad;
            }
            (self.send)(d.batch);
        }
    }
}
