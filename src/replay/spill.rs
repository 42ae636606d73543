//! What replay can only decide once every input is read — observations for correlations,
//! alerts of rules under suppression — in global event-time order, within a memory budget:
//! kept in memory up to the budget, then sorted and written to a temporary file as a run;
//! at the end the runs and what is still in memory are merged into one sorted stream (an
//! external sort). Memory stays at the budget however many matches a replay makes, and the
//! order, and so the result, is the same with or without spilling. Runs are merged as they
//! pile up ([`FAN_IN`] at a time), so the files held open stay few however long the replay.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};

use crate::alert::Alert;

/// Something a spill can hold: its sort key, its weight in memory, and its record on disk.
pub trait Spillable: Sized {
    type Key: Ord + Clone;
    fn key(&self) -> Self::Key;
    /// About how many bytes it holds in memory.
    fn weight(&self) -> usize;
    /// Appends its record on disk to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// The item a record holds.
    fn decode(record: &[u8]) -> io::Result<Self>;
}

/// How many runs are merged into one. A merge holds an open file and a read buffer per run,
/// and a process may open only so many files (1,024 by default on Linux): a replay of months
/// of a busy account writes thousands of runs. When the newest `FAN_IN` runs are of one size
/// class they become one run of the next, so at most `FAN_IN - 1` runs per class stay (each
/// record is rewritten once per class: three classes hold 64³ runs).
const FAN_IN: usize = 64;

/// A sorted run on disk; `class` counts how many times its items were merged.
struct Run {
    file: File,
    class: u32,
}

pub struct Spill<T: Spillable> {
    budget: usize,
    held: Vec<T>,
    weight: usize,
    /// Oldest first: ties between runs go to the older, so merging neighbours keeps the order.
    runs: Vec<Run>,
    fan_in: usize,
    /// Items written to disk.
    pub spilled: u64,
}

impl<T: Spillable> Spill<T> {
    pub fn new(budget: usize) -> Spill<T> {
        Spill {
            budget,
            held: Vec::new(),
            weight: 0,
            runs: Vec::new(),
            fan_in: FAN_IN,
            spilled: 0,
        }
    }

    pub fn push(&mut self, item: T) -> io::Result<()> {
        // Besides the item: the spare room a growing vector keeps (up to one more slot per
        // item) and its sort key while a run is sorted.
        let bookkeeping = std::mem::size_of::<T>() + std::mem::size_of::<(T::Key, usize)>();
        self.weight += item.weight() + bookkeeping;
        self.held.push(item);
        if self.weight > self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Writes what is in memory as one sorted run.
    fn spill(&mut self) -> io::Result<()> {
        self.held.sort_by_cached_key(T::key);
        self.spilled += self.held.len() as u64;
        let file = write_run(self.held.drain(..))?;
        self.runs.push(Run { file, class: 0 });
        self.weight = 0;
        while let Some(first) = self.runs.len().checked_sub(self.fan_in) {
            let class = self.runs[first].class;
            if self.runs[first..].iter().any(|r| r.class != class) {
                break;
            }
            let tail = self.runs.split_off(first);
            let mut merged =
                Merged::<T>::of(tail.into_iter().map(|r| Source::run(r.file)).collect());
            let file = write_run(&mut merged)?;
            if let Some(e) = merged.error {
                return Err(e);
            }
            self.runs.push(Run {
                file,
                class: class + 1,
            });
        }
        Ok(())
    }

    /// Everything pushed, in key order.
    pub fn into_sorted(mut self) -> Merged<T> {
        self.held.sort_by_cached_key(T::key);
        let mut sources: Vec<Source<T>> =
            self.runs.into_iter().map(|r| Source::run(r.file)).collect();
        sources.push(Source::Memory(self.held.into_iter()));
        Merged::of(sources)
    }
}

/// Writes sorted items to a new temporary file, each record after its length (u32,
/// little-endian), and rewinds it for reading.
fn write_run<T: Spillable>(items: impl Iterator<Item = T>) -> io::Result<File> {
    let mut out = BufWriter::new(tempfile::tempfile()?);
    let mut record = Vec::new();
    for item in items {
        record.clear();
        record.extend_from_slice(&[0; 4]);
        item.encode(&mut record);
        let len = u32::try_from(record.len() - 4)
            .map_err(|_| io::Error::other("an item too large to spill (over 4 GiB)"))?;
        record[..4].copy_from_slice(&len.to_le_bytes());
        out.write_all(&record)?;
    }
    let mut file = out.into_inner().map_err(|e| e.into_error())?;
    file.rewind()?;
    Ok(file)
}

enum Source<T> {
    /// A run, and the buffer its records are read into.
    Run(BufReader<File>, Vec<u8>),
    Memory(std::vec::IntoIter<T>),
}

impl<T: Spillable> Source<T> {
    fn run(file: File) -> Source<T> {
        Source::Run(BufReader::new(file), Vec::new())
    }

    /// The next item; None at the end of the source.
    fn next(&mut self) -> io::Result<Option<T>> {
        match self {
            Source::Memory(items) => Ok(items.next()),
            Source::Run(file, record) => {
                let mut len = [0; 4];
                match file.read_exact(&mut len) {
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
                    read => read?,
                }
                record.resize(u32::from_le_bytes(len) as usize, 0);
                file.read_exact(record)?;
                T::decode(record).map(Some)
            }
        }
    }
}

/// A k-way merge of sorted runs; ties go to the run written first.
pub struct Merged<T: Spillable> {
    heap: BinaryHeap<Reverse<(T::Key, usize)>>,
    heads: Vec<Option<T>>,
    sources: Vec<Source<T>>,
    /// The first run that could not be read back (the merge ends there).
    pub error: Option<io::Error>,
}

impl<T: Spillable> Merged<T> {
    fn of(sources: Vec<Source<T>>) -> Merged<T> {
        let mut merged = Merged {
            heap: BinaryHeap::new(),
            heads: Vec::new(),
            sources,
            error: None,
        };
        for i in 0..merged.sources.len() {
            let head = merged.next_of(i);
            merged.heads.push(None);
            merged.put(i, head);
        }
        merged
    }

    fn next_of(&mut self, i: usize) -> Option<T> {
        self.sources[i].next().unwrap_or_else(|e| {
            self.error.get_or_insert(e);
            None
        })
    }

    fn put(&mut self, i: usize, item: Option<T>) {
        if let Some(item) = item {
            self.heap.push(Reverse((item.key(), i)));
            self.heads[i] = Some(item);
        }
    }
}

impl<T: Spillable> Iterator for Merged<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.error.is_some() {
            return None;
        }
        let Reverse((_, i)) = self.heap.pop()?;
        let item = self.heads[i].take();
        let next = self.next_of(i);
        self.put(i, next);
        item
    }
}

/// Bytes counted per item besides its record text: the alert's other fields, the vectors.
const OVERHEAD: usize = 1024;

/// Alerts spill as their JSON documents: a held alert is rare beside an observation, and its
/// optional fields are left out of the document when empty, which a binary format cannot do.
impl Spillable for Alert {
    type Key = (i64, String);
    fn key(&self) -> (i64, String) {
        (crate::suppress::event_time(self), self.alert_id.clone())
    }
    fn weight(&self) -> usize {
        2 * self.record.get().len() + OVERHEAD
    }
    fn encode(&self, out: &mut Vec<u8>) {
        self.write_json(out);
    }
    fn decode(record: &[u8]) -> io::Result<Alert> {
        serde_json::from_slice(record).map_err(io::Error::other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::test_alert;

    fn alert_at(i: u32) -> Alert {
        let mut a = test_alert::alert(0);
        a.alert_id = format!("{:04}", (i * 7919) % 1000);
        a.event.time = Some(format!("2026-11-20T10:{:02}:00Z", i % 60).into());
        a.time_ms = Default::default();
        a
    }

    #[test]
    fn the_merged_order_does_not_depend_on_the_budget() {
        let sorted = |budget: usize| -> Vec<String> {
            let mut spill = Spill::new(budget);
            for i in 0..500 {
                spill.push(alert_at(i)).unwrap();
            }
            let spilled = spill.spilled;
            let merged = spill.into_sorted();
            let ids: Vec<String> = merged.map(|a| a.alert_id).collect();
            assert_eq!(ids.len(), 500);
            if budget == usize::MAX {
                assert_eq!(spilled, 0);
            } else {
                assert!(spilled > 250, "{spilled} spilled");
            }
            ids
        };
        let in_memory = sorted(usize::MAX);
        let mut expected: Vec<Alert> = (0..500).map(alert_at).collect();
        expected.sort_by_cached_key(Spillable::key);
        assert_eq!(
            in_memory,
            expected
                .iter()
                .map(|a| a.alert_id.clone())
                .collect::<Vec<_>>()
        );
        assert_eq!(sorted(10_000), in_memory, "many small runs");
        assert_eq!(sorted(600_000), in_memory, "a few runs");
    }

    #[test]
    fn runs_merged_as_they_pile_up_keep_the_order_and_few_files() {
        // Equal keys in many runs: the merged order must still be the order of pushing.
        let item = |i: u32| {
            let mut a = alert_at(i % 50);
            a.summary = format!("pushed {i}");
            a
        };
        let mut spill = Spill::new(3_000);
        spill.fan_in = 3;
        let mut most_runs = 0;
        for i in 0..1_000 {
            spill.push(item(i)).unwrap();
            most_runs = most_runs.max(spill.runs.len());
        }
        // 1,000 items two to a run: 500 runs, six size classes of at most two runs each.
        assert!(
            spill.runs.iter().any(|r| r.class == 5),
            "no run merged five times"
        );
        assert!(most_runs <= 12, "{most_runs} runs at once");
        let merged: Vec<String> = spill.into_sorted().map(|a| a.summary).collect();
        let mut expected: Vec<Alert> = (0..1_000).map(item).collect();
        expected.sort_by_cached_key(Spillable::key);
        let expected: Vec<String> = expected.into_iter().map(|a| a.summary).collect();
        assert_eq!(merged, expected);
    }
}
