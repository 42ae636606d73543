//! One large input on every core (a single file, or the last of an archive, with threads
//! idle otherwise). The input's worker only decompresses the stream and cuts it into parts of
//! about a megabyte where a record likely begins ([`trail::Cutter`]); each part is read,
//! matched and rendered as a task of the replay's thread pool. The results are checked and
//! put back in stream order before they go to the writer ([`trail::Chain`]), so the input's
//! alerts keep record order as when one thread reads it all. After a wrong cut, the rest of
//! the input is framed on the worker and the framed batches parsed by tasks, which needs no
//! guess.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use super::{pending, Batch, Context, FileReport, InputOutcomes};
use crate::detect::{self, Detector};
use crate::source::Input;
use crate::trail::{self, Chain, Part, PartEnd, Resume, TrailError, Verdict};

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

/// What one task reads.
enum Work {
    Part(Part),
    /// Records framed on the worker, after a wrong cut.
    Framed(trail::Framed),
}

/// What one task gave.
struct Done {
    seq: u64,
    report: FileReport,
    first_bad: Option<TrailError>,
    batch: Batch,
    /// What waits for the end of the replay, handed over once the reading stands.
    local: pending::Local,
    /// For a part: how its reading ended.
    part: Option<PartEnd>,
}

fn run(ctx: &Context, detector: &Detector, seq: u64, work: Work) -> Done {
    let mut outcomes = InputOutcomes::deferred(ctx);
    let (stats, part) = match work {
        Work::Part(part) => {
            let end = detect::scan_part(part, detector, &mut outcomes);
            (end.stats, Some(end))
        }
        Work::Framed(batch) => (detect::scan_framed(&batch, detector, &mut outcomes), None),
    };
    let (mut report, first_bad, batch, local) = outcomes.into_parts();
    report.stats = stats;
    Done {
        seq,
        report,
        first_bad,
        batch,
        local,
        part,
    }
}

/// Reads `input` as [`detect::scan`] would, the records parsed in parallel. Returns what
/// the input gave (its stats included), its first unusable record, and why it ended early.
pub fn scan(
    ctx: &Context,
    input: impl Read + Send,
    detector: &Detector,
    send: &mut dyn FnMut(Batch),
) -> (FileReport, Option<TrailError>, Option<TrailError>) {
    let mut cutter = match trail::Cutter::new(input, TASK_BYTES) {
        Ok(c) => c,
        Err(e) => return (FileReport::default(), None, Some(e)),
    };
    let mut merged = Merged {
        expected: 0,
        early: BTreeMap::new(),
        report: FileReport::default(),
        first_bad: None,
        error: None,
        chain: Chain::default(),
        reread: None,
        ended: false,
        spare: Vec::new(),
        ctx,
        send,
    };
    let mut tasks = Tasks::new(ctx, detector);
    tasks.run(&mut merged, |spawn, merged| {
        while let Some(part) = cutter.next_part() {
            for bytes in merged.spare.drain(..) {
                cutter.recycle(bytes);
            }
            if !spawn(Work::Part(part), merged) || merged.ended || merged.reread.is_some() {
                break;
            }
        }
    });
    if let Some((from, held)) = merged.reread.take() {
        // Read again from the last place known to be right: the held parts' bytes, then
        // what the cutter had not handed out, then the rest of the stream.
        let (rest, gzip) = cutter.rest();
        let reader = Cursor::new(held.concat()).chain(rest);
        let mut bytes = 0;
        tasks.run(&mut merged, |spawn, merged| {
            let (read, error) =
                trail::frame_batches_from(reader, gzip, from, TASK_BYTES, |batch| {
                    spawn(Work::Framed(batch), merged)
                });
            bytes = read - from.offset;
            merged.error = error;
        });
        merged.report.stats.bytes += bytes;
    }
    (merged.report, merged.first_bad, merged.error)
}

/// Tasks on the replay's thread pool, a bounded number in flight, their results merged in
/// the order they were spawned.
struct Tasks<'c> {
    ctx: &'c Context<'c>,
    detector: &'c Detector<'c>,
    spawned: u64,
}

impl<'c> Tasks<'c> {
    fn new(ctx: &'c Context<'c>, detector: &'c Detector<'c>) -> Self {
        Tasks {
            ctx,
            detector,
            spawned: 0,
        }
    }

    /// Runs `produce` on this thread, which spawns tasks with the function it is given (false:
    /// stop, the replay is stopping); returns once every task is done and merged.
    fn run(
        &mut self,
        merged: &mut Merged,
        produce: impl FnOnce(&mut dyn FnMut(Work, &mut Merged) -> bool, &mut Merged),
    ) {
        // Enough tasks in flight to keep every thread busy, few enough to bound memory.
        let max_in_flight = 2 * rayon::current_num_threads() as u64 + 2;
        let (tx, rx) = mpsc::channel::<Done>();
        let (ctx, detector) = (self.ctx, self.detector);
        let spawned = &mut self.spawned;
        rayon::in_place_scope(|s| {
            let mut spawn = |work: Work, merged: &mut Merged| {
                let tx = tx.clone();
                let seq = *spawned;
                s.spawn(move |_| {
                    // The receiver lives until every task is done.
                    let _ = tx.send(run(ctx, detector, seq, work));
                });
                *spawned += 1;
                // Wait while too many are in flight, running tasks on this thread meanwhile
                // (a blocking wait could leave every thread waiting on tasks none of them
                // runs).
                while *spawned - merged.expected >= max_in_flight {
                    if let Ok(done) = rx.try_recv() {
                        merged.arrived(done);
                    } else if rayon::yield_now() != Some(rayon::Yield::Executed) {
                        if let Ok(done) = rx.recv_timeout(Duration::from_millis(1)) {
                            merged.arrived(done);
                        }
                    }
                }
                !ctx.stop.load(Ordering::Relaxed)
            };
            produce(&mut spawn, merged);
        });
        // The scope has waited for every task.
        drop(tx);
        for done in rx {
            merged.arrived(done);
        }
    }
}

/// Task results checked and put back in order, and what they add up to.
struct Merged<'s> {
    expected: u64,
    early: BTreeMap<u64, Done>,
    report: FileReport,
    first_bad: Option<TrailError>,
    /// Why the input could not be read to its end.
    error: Option<TrailError>,
    chain: Chain,
    /// After a wrong cut: where to read again from, and the bytes of the parts from there on.
    reread: Option<(Resume, Vec<Vec<u8>>)>,
    /// The last part, or one that ended the input early, stands: later parts are not read.
    ended: bool,
    /// The bytes of parts that stand, for the cutter to read later parts into.
    spare: Vec<Vec<u8>>,
    ctx: &'s Context<'s>,
    send: &'s mut dyn FnMut(Batch),
}

impl Merged<'_> {
    /// Takes one result, and hands on every one now next in order.
    fn arrived(&mut self, done: Done) {
        self.early.insert(done.seq, done);
        while let Some(d) = self.early.remove(&self.expected) {
            self.expected += 1;
            self.take(d);
        }
    }

    fn take(&mut self, mut d: Done) {
        let mut index_base = 0;
        if let Some(end) = d.part {
            if let Some((_, held)) = &mut self.reread {
                held.push(end.bytes);
                return;
            }
            if self.ended {
                return;
            }
            match self.chain.check(&end) {
                Verdict::Reread { from } => {
                    self.reread = Some((from, vec![end.bytes]));
                    return;
                }
                Verdict::Accept { index_base: base } => index_base = base,
            }
            if let Some(e) = end.error {
                self.error = Some(e.with_record_base(index_base));
            }
            self.spare.push(end.bytes);
            self.ended = end.last || self.error.is_some();
        }
        self.report.absorb(d.report);
        if self.first_bad.is_none() {
            self.first_bad = d.first_bad.map(|e| e.with_record_base(index_base));
        }
        self.ctx.pending.hand_over(&mut d.local);
        (self.send)(d.batch);
    }
}
