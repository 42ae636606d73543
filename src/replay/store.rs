//! The base alerts of a replay's correlation observations, written to an unnamed temporary
//! file as they are observed and read back by position only when their event completes a
//! window. The observations waiting for the end of the replay hold a [`Slot`] instead of the
//! alert and its record.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::sync::Mutex;

use crate::alert::Alert;
use crate::correlate::{AlertStore, Slot};

pub struct AlertFile {
    writer: Mutex<Writer>,
    /// The same file, read by position.
    reader: File,
    /// The first failure to read or write (a full disk): the replay reports it.
    error: Mutex<Option<io::Error>>,
}

struct Writer {
    out: BufWriter<File>,
    /// Bytes written, and bytes of them that reached the file (readable).
    len: u64,
    flushed: u64,
}

impl AlertFile {
    pub fn new() -> io::Result<AlertFile> {
        let file = tempfile::tempfile()?;
        Ok(AlertFile {
            reader: file.try_clone()?,
            writer: Mutex::new(Writer {
                out: BufWriter::with_capacity(1 << 20, file),
                len: 0,
                flushed: 0,
            }),
            error: Mutex::new(None),
        })
    }

    /// Appends alerts already serialized one after another, with one lock; where the first
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
        serde_json::from_slice(&buf).map_err(io::Error::other)
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

    fn put(file: &AlertFile, alert: &Alert) -> Option<Slot> {
        let bytes = serde_json::to_vec(alert).unwrap();
        let offset = file.append(&bytes)?;
        Some(Slot {
            offset,
            len: bytes.len() as u32,
        })
    }

    #[test]
    fn alerts_come_back_as_they_went_in() {
        let file = AlertFile::new().unwrap();
        let alerts: Vec<Alert> = (0..50).map(test_alert::alert).collect();
        let slots: Vec<Slot> = alerts.iter().map(|a| put(&file, a).unwrap()).collect();
        // Read back out of order, some before the writer's buffer reached the file.
        for i in [49, 0, 17, 49, 3] {
            let back = file.load(slots[i]).unwrap();
            assert_eq!(back.to_json_line(), alerts[i].to_json_line());
        }
        let more = put(&file, &alerts[7]).unwrap();
        assert_eq!(file.load(more).unwrap().alert_id, alerts[7].alert_id);
        assert!(file.take_error().is_none());
    }
}
