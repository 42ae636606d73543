//! A stream cut into parts that other threads read at once, so the thread that decompresses
//! it does little else (framing every record there was about a tenth of the CPU of a
//! two-thread replay of one large file, on the thread that set its pace).
//!
//! A cut is placed without reading the stream's structure, where a record of a `Records`
//! array most likely begins: at a `,` followed by the opening of the stream's first record up
//! to its first key, as written (`{"eventVersion"` in what CloudTrail delivers: every record
//! begins with that key). Whether it was right is known once the part before it is read:
//! its last record must end there ([`PartEnd::next`]). [`Chain`] checks the parts in stream
//! order; after a wrong cut (records whose first key is another, that text in a nested
//! object, a layout other than `Records`) the stream is read again the usual way from the
//! last place known to be right, so the records, their order and every error are the same
//! as one thread reading the stream from its start.

use std::io::{self, Cursor, Read};

use super::framer::{Framer, Resume};
use super::{decode, read_frames, FieldSet, Record, StreamStats, TrailError};

/// What a cut is looked for after when the stream's first record does not say: the beginning
/// of a record as CloudTrail writes it.
const RECORD_START: &[u8] = b"{\"eventVersion\"";

/// Bytes of the stream's beginning that are enough to learn how its records begin.
const LEARN_FROM: usize = 4096;

/// Decompressed bytes read at a time: the framer's read size (see [`Cutter::next_part`]).
const READ_BYTES: usize = super::framer::CHUNK;

/// Buffers kept for reuse: about as many as parts in flight.
const SPARE_BUFFERS: usize = 16;

/// A part without a likely cut is cut anyway at this many times the part size (a wrong cut,
/// read again from the last right one), so memory stays bounded whatever the stream holds.
const MAX_PARTS_WORTH: usize = 4;

/// Consecutive bytes of a decompressed stream, and where they begin in it.
pub struct Part {
    pub bytes: Vec<u8>,
    /// Where the part was cut to begin. Record indices count from 0 in every part; [`Chain`]
    /// says what to add.
    pub start: Resume,
    /// The end of the stream (or of what could be read of it).
    pub last: bool,
    /// On the last part: why the stream could not be read further.
    pub failure: Option<TrailError>,
}

/// How reading a part ended.
pub struct PartEnd {
    /// Where the part was cut to begin, and whether it was the stream's last ([`Part`]).
    pub start: Resume,
    pub last: bool,
    pub stats: StreamStats,
    /// Why the stream could not be read on (not the part's own end).
    pub error: Option<TrailError>,
    /// Where the next part must begin for the cut to be right: the part ended between two
    /// records, the last of them whole. None for the last part, or after a wrong cut.
    pub next: Option<Resume>,
    /// The part's bytes, given back for reading again after a wrong cut.
    pub bytes: Vec<u8>,
}

impl Part {
    /// Reads the part as [`super::read_stream`] reads these bytes of a stream.
    pub fn read(
        self,
        set: &FieldSet,
        on_record: impl FnMut(Result<Record<'_>, TrailError>),
    ) -> PartEnd {
        let len = self.bytes.len() as u64;
        let mut framer = Framer::over(self.bytes, self.start);
        let (mut stats, mut error) = read_frames(&mut framer, set, on_record);
        stats.bytes = len;
        // Where the stream failed, what ran out of bytes met the failure, as it does when
        // one reader reads the whole stream.
        if self.failure.is_some() && matches!(error, None | Some(TrailError::Truncated { .. })) {
            error = self.failure;
        }
        let mut next = None;
        if !self.last {
            // Between two records at the part's end, the framer stopped for want of the
            // element due next: that is the cut, not an error.
            next = framer.boundary();
            if next.is_some() {
                error = None;
            }
        }
        PartEnd {
            start: self.start,
            last: self.last,
            stats,
            error,
            next,
            bytes: framer.into_bytes(),
        }
    }
}

/// Cuts a stream into parts of about `part_bytes` as it decompresses it.
pub struct Cutter<'r> {
    reader: Box<dyn Read + Send + 'r>,
    gzip: bool,
    /// Read and not yet handed out; its first byte is `offset` bytes into the stream.
    buf: Vec<u8>,
    offset: u64,
    /// Where in `buf` the search for a cut goes on.
    searched: usize,
    part_bytes: usize,
    /// The stream ended, or could not be read further (why is kept for [`Cutter::rest`]).
    done: bool,
    failure: Option<io::Error>,
    /// The last part was handed out.
    finished: bool,
    /// Buffers of parts read and done with, for the next parts: a fresh megabyte for every
    /// part, grown as it is read, cost page faults and copies.
    spare: Vec<Vec<u8>>,
    /// How records begin, once learnt from the stream's first record.
    finder: Option<memchr::memmem::Finder<'static>>,
}

impl<'r> Cutter<'r> {
    /// Opens `input` (gzip or not, as [`super::read_stream`] does).
    pub fn new<R: Read + Send + 'r>(input: R, part_bytes: usize) -> Result<Self, TrailError> {
        let (reader, gzip) = decode(input).map_err(|e| TrailError::from_read(e, false, 0))?;
        Ok(Cutter {
            reader,
            gzip,
            buf: Vec::new(),
            offset: 0,
            searched: 0,
            part_bytes: part_bytes.max(1),
            done: false,
            failure: None,
            finished: false,
            spare: Vec::new(),
            finder: None,
        })
    }

    /// The next part, or None once the last was handed out.
    pub fn next_part(&mut self) -> Option<Part> {
        loop {
            if self.finished {
                return None;
            }
            if self.done {
                self.finished = true;
                return Some(self.take(self.buf.len(), true));
            }
            if let Some(cut) = self.cut() {
                return Some(self.take(cut, false));
            }
            // One read of the framer's size at a time, as the framer reads: where a stream
            // fails part way, what was read before the failure is then the same.
            let old = self.buf.len();
            self.buf.resize(old + READ_BYTES, 0);
            match self.reader.read(&mut self.buf[old..]) {
                Ok(n) => {
                    self.buf.truncate(old + n);
                    self.done = n == 0;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.buf.truncate(old),
                Err(e) => {
                    self.buf.truncate(old);
                    self.done = true;
                    self.failure = Some(e);
                }
            }
        }
    }

    /// Where to end the part `buf` begins, once enough of it is read.
    fn cut(&mut self) -> Option<usize> {
        if self.finder.is_none() {
            if self.buf.len() < LEARN_FROM.min(self.part_bytes) {
                return None;
            }
            let start = first_record_start(&self.buf).unwrap_or(RECORD_START);
            self.finder = Some(memchr::memmem::Finder::new(start).into_owned());
        }
        let finder = self.finder.as_ref().expect("learnt above");
        let from = self.searched.max(self.part_bytes);
        if self.buf.len() < from + finder.needle().len() {
            return None;
        }
        for hit in finder.find_iter(&self.buf[from..]) {
            let before = self.buf[..from + hit]
                .iter()
                .rposition(|b| !matches!(b, b' ' | b'\n' | b'\r' | b'\t'));
            // Not the part's own first byte: a part holds at least a record.
            if let Some(comma) = before.filter(|&i| i > 0 && self.buf[i] == b',') {
                return Some(comma);
            }
        }
        // The pattern may continue in what is read next.
        self.searched = self.buf.len() + 1 - finder.needle().len();
        (self.buf.len() >= MAX_PARTS_WORTH * self.part_bytes).then_some(self.buf.len())
    }

    /// Takes back the bytes of a part that was read, to read later parts into.
    pub fn recycle(&mut self, mut bytes: Vec<u8>) {
        if self.spare.len() < SPARE_BUFFERS {
            bytes.clear();
            self.spare.push(bytes);
        }
    }

    fn take(&mut self, len: usize, last: bool) -> Part {
        let mut rest = self.spare.pop().unwrap_or_else(|| {
            Vec::with_capacity(self.part_bytes + RECORD_START.len() + 2 * READ_BYTES)
        });
        rest.extend_from_slice(&self.buf[len..]);
        self.buf.truncate(len);
        let start = match self.offset {
            0 => Resume::START,
            offset => Resume::between_records(offset),
        };
        self.offset += len as u64;
        self.searched = 0;
        let failure = self.failure.as_ref().filter(|_| last).map(|e| {
            let copy = io::Error::new(e.kind(), e.to_string());
            TrailError::from_read(copy, self.gzip, self.offset)
        });
        Part {
            bytes: std::mem::replace(&mut self.buf, rest),
            start,
            last,
            failure,
        }
    }

    /// What was not handed out and the rest of the stream, as a reader (then the read error
    /// that ended the cutting, if one did), and whether the stream was gzip.
    pub fn rest(self) -> (Box<dyn Read + Send + 'r>, bool) {
        let failure = FailWith(self.failure);
        let rest = Cursor::new(self.buf).chain(self.reader).chain(failure);
        (Box::new(rest), self.gzip)
    }
}

/// The bytes from the opening brace of the stream's first record to the end of its first key,
/// when the stream begins as CloudTrail's files do (`{"Records":[{"key"`, any whitespace).
fn first_record_start(bytes: &[u8]) -> Option<&[u8]> {
    let mut i = 0;
    let mut expect = |token: &[u8]| {
        while bytes
            .get(i)
            .is_some_and(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
        {
            i += 1;
        }
        let found = bytes.get(i..i + token.len()) == Some(token);
        i += token.len();
        found.then_some(i - token.len())
    };
    let _ = expect(b"{")?;
    let _ = expect(b"\"Records\"")?;
    let _ = expect(b":")?;
    let _ = expect(b"[")?;
    let open = expect(b"{")?;
    let key = expect(b"\"")? + 1;
    let len = bytes[key..]
        .iter()
        .take(64)
        .position(|&b| b == b'"' || b == b'\\')?;
    (bytes[key + len] == b'"').then(|| &bytes[open..key + len + 1])
}

/// A reader that fails with the given error once, then ends.
struct FailWith(Option<io::Error>);

impl Read for FailWith {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        self.0.take().map_or(Ok(0), Err)
    }
}

/// Parts' ends checked in stream order.
pub struct Chain {
    /// Where the next part must begin, record indices counted from the stream's start.
    next: Resume,
}

/// What to do with a part's reading.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// It stands: add `index_base` to the record indices it gave.
    Accept { index_base: u64 },
    /// Throw it and every later part's away: read the stream the usual way from `from` (this
    /// part's bytes, the later parts', then the rest of the stream).
    Reread { from: Resume },
}

impl Default for Chain {
    fn default() -> Self {
        Chain {
            next: Resume::START,
        }
    }
}

impl Chain {
    /// Checks the next part in stream order, by how its reading ended.
    pub fn check(&mut self, end: &PartEnd) -> Verdict {
        if !self.next.same_place(&end.start) {
            return Verdict::Reread { from: self.next };
        }
        let index_base = self.next.index;
        match end.next {
            Some(next) => self.next = next.with_index(index_base + next.index),
            // A part cut in the middle of a record; or ended by an error that reading it
            // again will find as well, and end the stream on.
            None if !end.last => return Verdict::Reread { from: self.next },
            None => {}
        }
        Verdict::Accept { index_base }
    }
}
