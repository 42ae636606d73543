//! The base alerts of a replay's correlation observations, written to an unnamed temporary
//! file as they are observed and rebuilt only when their event completes a window. The
//! observations waiting for the end of the replay hold a [`Slot`] instead of the alert.
//!
//! An entry is what the alert cannot be rebuilt without — its rule, origin and id, and the
//! record's text — not the alert: the rest of it (event, summary) comes from the record
//! again. A dense archive feeds correlations hundreds of thousands of events, and writing
//! each one's whole alert (about 2.5 KB, its rule's document and the record's fields twice)
//! was a third of what correlations cost a replay.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};

use crate::alert::{Alert, Origin, RuleInfo};
use crate::detect::{AlertStore, Slot};
use crate::trail::{FieldSet, Record};

pub struct AlertFile {
    writer: Mutex<Writer>,
    /// The same file, read by position.
    reader: File,
    /// The first failure to read or write (a full disk): the replay reports it.
    error: Mutex<Option<io::Error>>,
    /// The rules and origins entries name by position.
    rules: Vec<Arc<RuleInfo>>,
    origins: Mutex<Vec<Origin>>,
    /// What an alert is built from: the well-known fields.
    fields: FieldSet,
}

struct Writer {
    out: BufWriter<File>,
    /// Bytes written, and bytes of them that reached the file (readable).
    len: u64,
    flushed: u64,
}

/// A worker's last origin and its number, so a file's observations register it once.
#[derive(Default)]
pub struct LastOrigin(Option<(Origin, u32)>);

/// An entry's fixed part: rule number, origin number (both u32, little-endian), id length.
const HEADER: usize = 9;

impl AlertFile {
    /// A store for the base alerts of `rules`' matches.
    pub fn new(rules: Vec<Arc<RuleInfo>>) -> io::Result<AlertFile> {
        let file = tempfile::tempfile()?;
        Ok(AlertFile {
            reader: file.try_clone()?,
            writer: Mutex::new(Writer {
                out: BufWriter::with_capacity(1 << 20, file),
                len: 0,
                flushed: 0,
            }),
            error: Mutex::new(None),
            rules,
            origins: Mutex::new(Vec::new()),
            fields: FieldSet::new(),
        })
    }

    /// Appends `alert`'s entry to `out` (a worker's buffer, handed to [`AlertFile::append`]
    /// later). None if its rule is not one of the store's.
    pub fn encode(&self, alert: &Alert, last: &mut LastOrigin, out: &mut Vec<u8>) -> Option<()> {
        let rule = self
            .rules
            .iter()
            .position(|r| Arc::ptr_eq(r, &alert.rule))?;
        let id = alert.alert_id.as_bytes();
        let id_len = u8::try_from(id.len()).ok()?;
        let origin = match &last.0 {
            Some((o, n)) if *o == alert.origin => *n,
            _ => {
                let mut origins = self.origins.lock().expect("alert file lock");
                origins.push(alert.origin.clone());
                let n = (origins.len() - 1) as u32;
                last.0 = Some((alert.origin.clone(), n));
                n
            }
        };
        out.extend_from_slice(&(rule as u32).to_le_bytes());
        out.extend_from_slice(&origin.to_le_bytes());
        out.push(id_len);
        out.extend_from_slice(id);
        out.extend_from_slice(alert.record.get().as_bytes());
        Some(())
    }

    /// Appends entries already encoded one after another, with one lock; where the first
    /// begins, so each is found at that plus its position in `bytes`.
    pub fn append(&self, bytes: &[u8]) -> Option<u64> {
        let mut w = self.writer.lock().expect("alert file lock");
        if let Err(e) = w.out.write_all(bytes) {
            drop(w);
            return self.failed(e);
        }
        let start = w.len;
        w.len += bytes.len() as u64;
        Some(start)
    }

    /// The first failure to write or read an alert.
    pub fn take_error(&self) -> Option<io::Error> {
        self.error.lock().expect("alert file lock").take()
    }

    fn failed<T>(&self, e: io::Error) -> Option<T> {
        self.error.lock().expect("alert file lock").get_or_insert(e);
        None
    }

    fn read(&self, slot: Slot) -> io::Result<Alert> {
        {
            let mut w = self.writer.lock().expect("alert file lock");
            if slot.offset + u64::from(slot.len) > w.flushed {
                w.out.flush()?;
                w.flushed = w.len;
            }
        }
        let mut buf = vec![0; slot.len as usize];
        self.reader.read_exact_at(&mut buf, slot.offset)?;
        self.decode(&buf).ok_or_else(|| {
            io::Error::other(format!(
                "the base alert stored at byte {} of the replay's temporary file is damaged",
                slot.offset
            ))
        })
    }

    /// The alert an entry was written from (its `detected_at` aside).
    fn decode(&self, entry: &[u8]) -> Option<Alert> {
        let number = |at: usize| -> Option<usize> {
            let bytes = entry.get(at..at + 4)?.try_into().ok()?;
            Some(u32::from_le_bytes(bytes) as usize)
        };
        let rule = self.rules.get(number(0)?)?;
        let origin = self
            .origins
            .lock()
            .expect("alert file lock")
            .get(number(4)?)?
            .clone();
        let id_end = HEADER + usize::from(*entry.get(HEADER - 1)?);
        let id = std::str::from_utf8(entry.get(HEADER..id_end)?).ok()?;
        let text = std::str::from_utf8(entry.get(id_end..)?).ok()?;
        let record = Record::new(text, self.fields.extract(text).ok()?, 0);
        Some(Alert {
            // Without an eventID the id came from the record's text as it was read, which
            // may have had line breaks the stored text has not.
            alert_id: id.to_string(),
            ..Alert::of_rule(rule, &record, &origin)
        })
    }
}

impl AlertStore for AlertFile {
    fn load(&self, slot: Slot) -> Option<Alert> {
        match self.read(slot) {
            Ok(alert) => Some(alert),
            Err(e) => self.failed(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::test_alert;

    fn put(file: &AlertFile, alert: &Alert, last: &mut LastOrigin) -> Slot {
        let mut bytes = Vec::new();
        file.encode(alert, last, &mut bytes).unwrap();
        Slot {
            offset: file.append(&bytes).unwrap(),
            len: bytes.len() as u32,
        }
    }

    /// The alert as it was stored: only `detected_at` is new.
    fn assert_same(back: Alert, stored: &Alert) {
        let back = Alert {
            detected_at: stored.detected_at.clone(),
            ..back
        };
        assert_eq!(back.to_json_line(), stored.to_json_line());
    }

    #[test]
    fn alerts_come_back_as_they_went_in() {
        let mut alerts: Vec<Alert> = (0..50).map(test_alert::alert).collect();
        // Three origins, one of them seen again after another.
        for (i, a) in alerts.iter_mut().enumerate() {
            a.origin = Origin::File {
                file: ["a", "b", "a", "c"][i % 4].into(),
            };
        }
        // No eventID, and line breaks: its id came from the text as read.
        let eventless = test_alert::alert_on(
            "{\"eventName\": \"CreateUser\",\n \"eventSource\": \"iam.amazonaws.com\"}",
        );
        alerts.push(eventless);
        let file = AlertFile::new(alerts.iter().map(|a| a.rule.clone()).collect()).unwrap();
        let mut last = LastOrigin::default();
        let slots: Vec<Slot> = alerts.iter().map(|a| put(&file, a, &mut last)).collect();
        // Read back out of order, some before the writer's buffer reached the file.
        for i in [49, 0, 17, 49, 3, 50, 2] {
            assert_same(file.load(slots[i]).unwrap(), &alerts[i]);
        }
        let more = put(&file, &alerts[7], &mut last);
        assert_same(file.load(more).unwrap(), &alerts[7]);
        assert!(file.take_error().is_none());
    }

    #[test]
    fn an_alert_of_another_rule_set_is_refused() {
        let file = AlertFile::new(vec![test_alert::alert(1).rule]).unwrap();
        let mut bytes = Vec::new();
        let other = test_alert::alert(1);
        assert!(file
            .encode(&other, &mut LastOrigin::default(), &mut bytes)
            .is_none());
        assert!(bytes.is_empty());
    }

    #[test]
    fn a_damaged_entry_is_an_error_not_an_alert() {
        let alert = test_alert::alert(1);
        let file = AlertFile::new(vec![alert.rule.clone()]).unwrap();
        let slot = put(&file, &alert, &mut LastOrigin::default());
        let short = Slot { len: 5, ..slot };
        assert!(file.load(short).is_none());
        let e = file.take_error().unwrap().to_string();
        assert!(e.contains("is damaged"), "{e}");
    }
}
