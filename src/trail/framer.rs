//! Splits a JSON byte stream into the values that may be CloudTrail records, without parsing
//! them and without holding more than one of them in memory.
//!
//! Accepted layouts, possibly mixed in one stream:
//! - `{"Records":[r0, r1, ...]}` (CloudTrail's delivered files): each element is a frame;
//! - `[r0, r1, ...]` (exports, detonation logs): each element is a frame;
//! - any other top-level object (NDJSON lines, a single record, an EventBridge event, a digest
//!   file): the whole object is a frame.
//!
//! The framer only tracks nesting and strings; the JSON inside a frame is validated later by
//! serde_json. Memory use is bounded by the largest frame plus one read chunk, so a 1 GB
//! single-line log file is streamed, not loaded.

use std::io::Read;
use std::ops::Range;

use super::error::{Position, TrailError};

pub(super) const CHUNK: usize = 256 * 1024;

/// One value found in the stream. `range` indexes into [`Framer::bytes`].
#[derive(Debug, Clone)]
pub struct Frame {
    pub range: Range<usize>,
    /// Offset of the frame's first byte in the whole (decompressed) stream.
    pub offset: u64,
    /// Index of the frame among all frames of the stream.
    pub index: u64,
}

/// Where the next frame begins: its first byte is `bytes()[pos]`.
#[derive(Debug, Clone, Copy)]
pub struct Start {
    pub pos: usize,
    /// As in [`Frame`].
    pub offset: u64,
    pub index: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum State {
    /// Between top-level values.
    Top,
    /// Inside an array whose elements are frames. `records` says whether it is the `Records`
    /// array of a container object (whose remaining keys must be skipped afterwards).
    Elements { records: bool, first: bool },
    /// After the `Records` array, inside the container object.
    AfterRecords,
}

/// Where reading a stretch of a stream begins: the framer's state there, the offset of its
/// first byte in the whole stream, and the index of the next record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resume {
    pub(super) state: State,
    pub offset: u64,
    pub index: u64,
}

impl Resume {
    /// The beginning of a stream.
    pub const START: Resume = Resume {
        state: State::Top,
        offset: 0,
        index: 0,
    };

    /// Just before the `,` that separates two elements of a `Records` array, `offset` bytes
    /// into the stream, record indices counted from there.
    pub fn between_records(offset: u64) -> Resume {
        Resume {
            state: State::Elements {
                records: true,
                first: false,
            },
            offset,
            index: 0,
        }
    }

    /// The same place, record indices counted from `index`.
    pub fn with_index(self, index: u64) -> Resume {
        Resume { index, ..self }
    }

    /// Whether `other` is the same place in the stream, in the same state (indices aside).
    pub fn same_place(&self, other: &Resume) -> bool {
        self.state == other.state && self.offset == other.offset
    }
}

pub struct Framer<R> {
    reader: R,
    buf: Vec<u8>,
    /// Next byte to look at.
    pos: usize,
    /// Bytes already dropped from the front of `buf`.
    dropped: u64,
    eof: bool,
    state: State,
    next_index: u64,
    gzip: bool,
}

impl Framer<std::io::Empty> {
    /// A framer of `bytes`, the whole of what it reads, which begin at `at`.
    pub fn over(bytes: Vec<u8>, at: Resume) -> Self {
        Framer {
            buf: bytes,
            eof: true,
            ..Framer::resume(std::io::empty(), false, at)
        }
    }

    /// The bytes it was given back (a framer over bytes drops none of them).
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

impl<R: Read> Framer<R> {
    /// `gzip` only changes how read errors are reported.
    pub fn new(reader: R, gzip: bool) -> Self {
        Framer::resume(reader, gzip, Resume::START)
    }

    /// A framer of the rest of a stream, `reader` starting at `at`.
    pub fn resume(reader: R, gzip: bool, at: Resume) -> Self {
        Framer {
            reader,
            buf: Vec::with_capacity(CHUNK),
            pos: 0,
            dropped: at.offset,
            eof: false,
            state: at.state,
            next_index: at.index,
            gzip,
        }
    }

    /// The bytes a [`Frame`] range points into; valid until the next call to `next_frame`.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Total decompressed bytes consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.dropped + self.buf.len() as u64
    }

    fn at(&self, i: usize) -> Position {
        Position {
            offset: Some(self.dropped + i as u64),
            record: None,
        }
    }

    /// Reads one more chunk into the buffer. Returns false at end of input.
    fn fill(&mut self) -> Result<bool, TrailError> {
        if self.eof {
            return Ok(false);
        }
        let old = self.buf.len();
        self.buf.resize(old + CHUNK, 0);
        loop {
            match self.reader.read(&mut self.buf[old..]) {
                Ok(n) => {
                    self.buf.truncate(old + n);
                    if n == 0 {
                        self.eof = true;
                    }
                    return Ok(n > 0);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(TrailError::from_read(e, self.gzip, self.bytes_read()));
                }
            }
        }
    }

    /// Drops consumed bytes so the buffer does not grow with the stream (once it is all read,
    /// there is nothing to make room for).
    fn compact(&mut self) {
        if !self.eof && self.pos > 0 && (self.pos >= self.buf.len() / 2 || self.pos >= CHUNK) {
            self.buf.drain(..self.pos);
            self.dropped += self.pos as u64;
            self.pos = 0;
        }
    }

    /// Next non-whitespace byte at or after `pos` (moving `pos` onto it), or None at the end.
    fn peek(&mut self) -> Result<Option<u8>, TrailError> {
        loop {
            while self.pos < self.buf.len() {
                let b = self.buf[self.pos];
                if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                    return Ok(Some(b));
                }
                self.pos += 1;
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    fn expect_more(&mut self) -> Result<u8, TrailError> {
        match self.peek()? {
            Some(b) => Ok(b),
            None => Err(TrailError::Truncated {
                at: self.at(self.pos),
            }),
        }
    }

    fn unexpected(&self, what: &str) -> TrailError {
        let b = self.buf[self.pos];
        let shown = if b.is_ascii_graphic() {
            format!("'{}'", b as char)
        } else {
            format!("byte 0x{b:02x}")
        };
        TrailError::Json {
            message: format!("expected {what}, found {shown}"),
            at: self.at(self.pos),
        }
    }

    /// Finds the end (exclusive) of the value starting at `start`, reading more input as needed.
    fn value_end(&mut self, start: usize) -> Result<usize, TrailError> {
        let mut i = start;
        let first = self.buf[i];
        if !matches!(first, b'{' | b'[' | b'"') {
            // A bare literal (number, true, false, null): ends at a delimiter.
            loop {
                while i < self.buf.len() {
                    if matches!(
                        self.buf[i],
                        b',' | b']' | b'}' | b' ' | b'\n' | b'\r' | b'\t'
                    ) {
                        return Ok(i);
                    }
                    i += 1;
                }
                if !self.fill()? {
                    return Ok(i);
                }
            }
        }
        let mut depth: usize = 0;
        let mut in_string = false;
        loop {
            let buf = &self.buf[..];
            while i < buf.len() {
                if in_string {
                    // Strings are most of a record's bytes: jump to the next quote or escape.
                    // Most strings are short, where a plain loop beats memchr's set-up cost.
                    let short = buf.len().min(i + 16);
                    let found = match buf[i..short].iter().position(|&b| b == b'"' || b == b'\\') {
                        Some(k) => Some(k),
                        None => memchr::memchr2(b'"', b'\\', &buf[short..]).map(|k| k + short - i),
                    };
                    match found {
                        None => i = buf.len(),
                        Some(k) => {
                            i += k;
                            if buf[i] == b'\\' {
                                if i + 1 >= buf.len() {
                                    break; // the escaped byte is in the next chunk
                                }
                                i += 2;
                            } else {
                                in_string = false;
                                i += 1;
                                if depth == 0 {
                                    return Ok(i);
                                }
                            }
                        }
                    }
                    continue;
                }
                match buf[i] {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            return Ok(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            if !self.fill()? {
                return Err(TrailError::Truncated { at: self.at(start) });
            }
        }
    }

    /// Reads a JSON string starting at `pos` and returns its raw (unescaped-not) content range.
    fn key(&mut self) -> Result<Range<usize>, TrailError> {
        if self.expect_more()? != b'"' {
            return Err(self.unexpected("an object key"));
        }
        let start = self.pos;
        let end = self.value_end(start)?;
        self.pos = end;
        Ok(start + 1..end - 1)
    }

    fn colon(&mut self) -> Result<(), TrailError> {
        if self.expect_more()? != b':' {
            return Err(self.unexpected("':'"));
        }
        self.pos += 1;
        Ok(())
    }

    /// True when the object opening at `pos` starts with a `"Records":[` key, in which case
    /// `pos` is left just inside the array. Otherwise `pos` is unchanged.
    fn enter_records(&mut self) -> Result<bool, TrailError> {
        const PREFIX: &[u8] = b"\"Records\"";
        let open = self.pos;
        self.pos += 1;
        let found = (|| -> Result<bool, TrailError> {
            if self.peek()? != Some(b'"') {
                return Ok(false);
            }
            while self.buf.len() - self.pos < PREFIX.len() {
                if !self.fill()? {
                    return Ok(false);
                }
            }
            if &self.buf[self.pos..self.pos + PREFIX.len()] != PREFIX {
                return Ok(false);
            }
            self.pos += PREFIX.len();
            if self.peek()? != Some(b':') {
                return Ok(false);
            }
            self.pos += 1;
            if self.peek()? != Some(b'[') {
                return Ok(false);
            }
            self.pos += 1;
            Ok(true)
        })()?;
        if !found {
            self.pos = open;
        }
        Ok(found)
    }

    /// Returns the next frame, or None at the end of the stream.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, TrailError> {
        match self.next_start()? {
            Some(start) => self.frame(start).map(Some),
            None => Ok(None),
        }
    }

    /// Moves to the first byte of the next frame (in [`Framer::bytes`]), or None at the end of
    /// the stream. The caller then either finds its end with [`Framer::frame`] or, having
    /// parsed it where it lies, says how long it was with [`Framer::finish`].
    pub fn next_start(&mut self) -> Result<Option<Start>, TrailError> {
        self.compact();
        loop {
            match self.state {
                State::Top => {
                    let Some(b) = self.peek()? else {
                        return Ok(None);
                    };
                    match b {
                        b'[' => {
                            self.pos += 1;
                            self.state = State::Elements {
                                records: false,
                                first: true,
                            };
                        }
                        b'{' => {
                            if self.enter_records()? {
                                self.state = State::Elements {
                                    records: true,
                                    first: true,
                                };
                            } else {
                                return Ok(Some(self.start()));
                            }
                        }
                        _ => return Err(self.unexpected("a JSON object or array")),
                    }
                }
                State::Elements { records, first } => {
                    let b = self.expect_more()?;
                    if b == b']' {
                        self.pos += 1;
                        self.state = if records {
                            State::AfterRecords
                        } else {
                            State::Top
                        };
                        continue;
                    }
                    if !first {
                        if b != b',' {
                            return Err(self.unexpected("',' or ']'"));
                        }
                        self.pos += 1;
                        self.expect_more()?;
                    }
                    self.state = State::Elements {
                        records,
                        first: false,
                    };
                    return Ok(Some(self.start()));
                }
                State::AfterRecords => {
                    // Skip any keys that follow `Records` in the container object.
                    match self.expect_more()? {
                        b'}' => {
                            self.pos += 1;
                            self.state = State::Top;
                        }
                        b',' => {
                            self.pos += 1;
                            self.key()?;
                            self.colon()?;
                            self.expect_more()?;
                            self.pos = self.value_end(self.pos)?;
                        }
                        _ => return Err(self.unexpected("',' or '}'")),
                    }
                }
            }
        }
    }

    /// Where the next element would begin when the input ended between two elements of an
    /// array of records, the last of them a whole object or array: the framer read all of its
    /// input (the end of a cut-out part of a stream) and stopped, with a `Truncated` error,
    /// only for want of the element due next.
    pub fn boundary(&self) -> Option<Resume> {
        let State::Elements {
            records,
            first: false,
        } = self.state
        else {
            return None;
        };
        let last = self.buf[..self.pos]
            .iter()
            .rev()
            .find(|b| !matches!(b, b' ' | b'\n' | b'\r' | b'\t'));
        let whole = matches!(last, Some(b'}' | b']'));
        (self.eof && self.pos == self.buf.len() && whole).then_some(Resume {
            state: State::Elements {
                records,
                first: false,
            },
            offset: self.dropped + self.pos as u64,
            index: self.next_index,
        })
    }

    fn start(&self) -> Start {
        Start {
            pos: self.pos,
            offset: self.dropped + self.pos as u64,
            index: self.next_index,
        }
    }

    /// The frame beginning at `start`, its end found by scanning (reading more as needed).
    pub fn frame(&mut self, start: Start) -> Result<Frame, TrailError> {
        let end = self.value_end(start.pos).map_err(|e| match e {
            TrailError::Truncated { at } => TrailError::Truncated {
                at: Position {
                    record: Some(start.index),
                    ..at
                },
            },
            other => other,
        })?;
        Ok(self.finish(start, end - start.pos))
    }

    /// The frame beginning at `start`, known to be `len` bytes long (all in the buffer).
    pub fn finish(&mut self, start: Start, len: usize) -> Frame {
        self.pos = start.pos + len;
        self.next_index = start.index + 1;
        Frame {
            range: start.pos..self.pos,
            offset: start.offset,
            index: start.index,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads everything, returning frames as strings; a reader that returns one byte at a time
    /// exercises every chunk boundary.
    fn frames(input: &[u8], bytewise: bool) -> Result<Vec<String>, TrailError> {
        struct OneByte<'a>(&'a [u8]);
        impl Read for OneByte<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                if self.0.is_empty() || out.is_empty() {
                    return Ok(0);
                }
                out[0] = self.0[0];
                self.0 = &self.0[1..];
                Ok(1)
            }
        }
        let reader: Box<dyn Read> = if bytewise {
            Box::new(OneByte(input))
        } else {
            Box::new(input)
        };
        let mut f = Framer::new(reader, false);
        let mut out = vec![];
        while let Some(fr) = f.next_frame()? {
            out.push(String::from_utf8(f.bytes()[fr.range].to_vec()).unwrap());
        }
        Ok(out)
    }

    fn both(input: &str) -> Vec<String> {
        let a = frames(input.as_bytes(), false).unwrap();
        let b = frames(input.as_bytes(), true).unwrap();
        assert_eq!(a, b);
        a
    }

    #[test]
    fn records_container_yields_elements() {
        let got = both(r#"{"Records":[{"a":"x]}"},{"b":[1,{"c":"\"}"}]}]}"#);
        assert_eq!(got, vec![r#"{"a":"x]}"}"#, r#"{"b":[1,{"c":"\"}"}]}"#]);
    }

    #[test]
    fn whitespace_and_trailing_keys_are_tolerated() {
        let got = both(" { \"Records\" : [ {\"a\":1} ,\n {\"a\":2} ] , \"extra\": {\"x\":[1]} }\n");
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], "{\"a\":2}");
    }

    #[test]
    fn ndjson_and_arrays_and_single_objects() {
        let got = both("{\"a\":1}\n{\"b\":2}\n[{\"c\":3}]\n");
        assert_eq!(got, vec!["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"]);
    }

    #[test]
    fn empty_records_and_empty_input() {
        assert!(both(r#"{"Records":[]}"#).is_empty());
        assert!(both("").is_empty());
        assert!(both("  \n").is_empty());
    }

    #[test]
    fn object_without_leading_records_key_is_one_frame() {
        let got = both(r#"{"digestStartTime":"x","Records":[1]}"#);
        assert_eq!(got, vec![r#"{"digestStartTime":"x","Records":[1]}"#]);
    }

    #[test]
    fn truncation_is_reported_with_record_index() {
        let err = frames(br#"{"Records":[{"a":1},{"b":"#, false).unwrap_err();
        match err {
            TrailError::Truncated { at } => {
                assert_eq!(at.record, Some(1));
                assert_eq!(at.offset, Some(20));
            }
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn garbage_is_an_error_with_offset() {
        let err = frames(b"\x00\x01binary", false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid JSON: expected a JSON object or array, found byte 0x00 (byte 0)"
        );
        let err = frames(br#"{"Records":[{"a":1} {"b":2}]}"#, false).unwrap_err();
        assert!(err.to_string().contains("expected ',' or ']'"), "{err}");
    }
}
