//! The trail stage: bytes in any CloudTrail shape → records, streamed one at a time.
//!
//! Any source (a local file, an S3 object body, an SQS message) hands a byte stream to
//! [`read_stream`], which detects gzip by magic bytes, frames JSON values, classifies them
//! and calls back once per record while the record is still in the buffer. An object is
//! parsed where it lies, which also finds where it ends, so its bytes are read once. For one
//! stream read on several threads, [`Cutter`] cuts it into parts where records likely begin,
//! each read whole elsewhere and checked in order ([`Chain`]); [`frame_batches_from`] frames
//! what follows a cut that proved wrong, for records parsed on other threads.

mod error;
pub mod fields;
mod framer;
mod parts;
pub mod record;

use std::io::{self, BufReader, Cursor, Read};

use flate2::read::MultiGzDecoder;

pub use error::TrailError;
pub use fields::{FieldId, FieldSet, Fields, Value};
pub use record::Record;
use record::{classify, Document};

use framer::Framer;
pub use framer::Resume;
pub use parts::{Chain, Cutter, Part, PartEnd, Verdict};

/// Counts of what one stream held.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StreamStats {
    pub records: u64,
    pub digests: u64,
    /// Records that could not be used (reported through the callback).
    pub record_errors: u64,
    /// Decompressed bytes read.
    pub bytes: u64,
}

/// True for the key or file name of a CloudTrail digest file, which holds no events.
pub fn is_digest_name(name: &str) -> bool {
    name.contains("CloudTrail-Digest")
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Wraps a raw stream in a gzip decoder when it starts with the gzip magic bytes (whatever its
/// name says). Every member of a multi-member gzip stream is read.
pub fn decode<'r, R: Read + Send + 'r>(
    mut input: R,
) -> io::Result<(Box<dyn Read + Send + 'r>, bool)> {
    let mut head = [0u8; 2];
    let mut n = 0;
    while n < head.len() {
        match input.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let stream = Cursor::new(head).take(n as u64).chain(input);
    if n == 2 && head == GZIP_MAGIC {
        let decoder = MultiGzDecoder::new(BufReader::with_capacity(128 * 1024, stream));
        Ok((Box::new(decoder), true))
    } else {
        Ok((Box::new(stream), false))
    }
}

/// Reads every record of a stream, calling `on_record` with each record or record-level error
/// in order. Returns the counts and, if the stream could not be read to its end, why (records
/// before that point were already delivered).
pub fn read_stream<R: Read + Send>(
    input: R,
    set: &FieldSet,
    on_record: impl FnMut(Result<Record<'_>, TrailError>),
) -> (StreamStats, Option<TrailError>) {
    let (reader, gzip) = match decode(input) {
        Ok(d) => d,
        Err(e) => {
            return (
                StreamStats::default(),
                Some(TrailError::from_read(e, false, 0)),
            )
        }
    };
    let mut framer = Framer::new(reader, gzip);
    let (mut stats, error) = read_frames(&mut framer, set, on_record);
    stats.bytes = framer.bytes_read();
    (stats, error)
}

/// [`read_stream`]'s work on what `framer` reads (`stats.bytes` is left to the caller).
fn read_frames<R: Read>(
    framer: &mut Framer<R>,
    set: &FieldSet,
    mut on_record: impl FnMut(Result<Record<'_>, TrailError>),
) -> (StreamStats, Option<TrailError>) {
    let mut stats = StreamStats::default();
    let error = loop {
        let start = match framer.next_start() {
            Ok(Some(s)) => s,
            Ok(None) => break None,
            Err(e) => break Some(e),
        };
        // An object is parsed where it lies, which also finds its end: one pass over its
        // bytes. One that does not parse there (cut by the end of the buffer, or not valid
        // JSON) is framed by scanning and classified as it stands, which reads more input
        // and reports the error.
        let bytes = framer.bytes();
        let parsed = match bytes[start.pos] {
            b'{' => set.extract_prefix(&bytes[start.pos..]).ok(),
            _ => None,
        };
        if let Some((fields, len)) = parsed {
            let bytes = &bytes[start.pos..start.pos + len];
            let document =
                record::classify_extracted(set, bytes, fields, start.index, start.offset);
            deliver(document, &mut stats, &mut on_record);
            framer.finish(start, len);
            continue;
        }
        let frame = match framer.frame(start) {
            Ok(f) => f,
            Err(e) => break Some(e),
        };
        let bytes = &framer.bytes()[frame.range.clone()];
        let document = classify(set, bytes, frame.index, frame.offset);
        deliver(document, &mut stats, &mut on_record);
    };
    (stats, error)
}

/// Hands a classified frame's record (or why it is unusable) to `on_record`.
fn deliver<'b>(
    document: Result<Document<'b>, TrailError>,
    stats: &mut StreamStats,
    on_record: &mut impl FnMut(Result<Record<'b>, TrailError>),
) {
    match document {
        Ok(Document::Record(r)) => {
            stats.records += 1;
            on_record(Ok(r));
        }
        Ok(Document::Digest) => stats.digests += 1,
        Err(e) => {
            stats.record_errors += 1;
            on_record(Err(e));
        }
    }
}

/// Consecutive records of a stream, framed but not parsed, with their own copy of the bytes:
/// work another thread can do (replay reads the rest of a large file this way after a cut
/// proved wrong, see [`Cutter`]).
#[derive(Default)]
pub struct Framed {
    bytes: Vec<u8>,
    frames: Vec<framer::Frame>,
}

impl Framed {
    /// What [`read_stream`] does with these records: classify each, in order. `stats.bytes`
    /// is left to the framing side.
    pub fn read(
        &self,
        set: &FieldSet,
        mut on_record: impl FnMut(Result<Record<'_>, TrailError>),
    ) -> StreamStats {
        let mut stats = StreamStats::default();
        for frame in &self.frames {
            let bytes = &self.bytes[frame.range.clone()];
            let document = classify(set, bytes, frame.index, frame.offset);
            deliver(document, &mut stats, &mut on_record);
        }
        stats
    }
}

/// Frames a stream into batches of records of about `batch_bytes` each, in stream order, for
/// parsing elsewhere; `on_batch` returning false stops the reading. Returns the decompressed
/// bytes read and, if the stream could not be read to its end, why (the batches before that
/// point were handed over).
pub fn frame_batches<R: Read + Send>(
    input: R,
    batch_bytes: usize,
    on_batch: impl FnMut(Framed) -> bool,
) -> (u64, Option<TrailError>) {
    match decode(input) {
        Ok((reader, gzip)) => {
            frame_batches_from(reader, gzip, Resume::START, batch_bytes, on_batch)
        }
        Err(e) => (0, Some(TrailError::from_read(e, false, 0))),
    }
}

/// [`frame_batches`] of the rest of a decoded stream, `reader` starting at `at`.
pub fn frame_batches_from<R: Read>(
    reader: R,
    gzip: bool,
    at: Resume,
    batch_bytes: usize,
    mut on_batch: impl FnMut(Framed) -> bool,
) -> (u64, Option<TrailError>) {
    let mut framer = Framer::resume(reader, gzip, at);
    let mut batch = Framed::default();
    let error = loop {
        let frame = match framer.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break None,
            Err(e) => break Some(e),
        };
        let start = batch.bytes.len();
        batch
            .bytes
            .extend_from_slice(&framer.bytes()[frame.range.clone()]);
        batch.frames.push(framer::Frame {
            range: start..batch.bytes.len(),
            ..frame
        });
        if batch.bytes.len() >= batch_bytes && !on_batch(std::mem::take(&mut batch)) {
            return (framer.bytes_read(), None);
        }
    };
    if !batch.frames.is_empty() {
        on_batch(batch);
    }
    (framer.bytes_read(), error)
}

/// The JSON text without whitespace outside strings, so a pretty-printed record fits on one
/// line of JSONL. Borrowed unchanged when there is nothing to remove.
pub fn compact_json(raw: &str) -> std::borrow::Cow<'_, str> {
    if memchr::memchr3(b'\n', b'\r', b'\t', raw.as_bytes()).is_none() {
        return std::borrow::Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in raw.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if !c.is_ascii_whitespace() {
            in_string = c == '"';
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn compact_json_keeps_strings() {
        assert_eq!(
            super::compact_json("{\n  \"a b\": \"x \\\" y\",\n\t\"c\": [1, 2]\n}"),
            "{\"a b\":\"x \\\" y\",\"c\":[1,2]}"
        );
        assert!(matches!(
            super::compact_json("{\"a\": 1}"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
