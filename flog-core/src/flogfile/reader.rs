use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};

use super::bounded::{read_item, ScanError};
use super::record::{Header, Record, Trailer};
use super::MAGIC;
use crate::event::Event;

/// The largest record a reader accepts, in bytes (before compression). Far
/// above anything flog writes (a logport frame is at most 8 MiB); a record
/// declaring more is refused before anything is allocated for it.
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

/// The deepest nesting of arrays, maps and tags a reader accepts in a record.
pub const MAX_RECORD_DEPTH: usize = 128;

/// Why a flogfile could not be read (completely).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The input is not a flogfile; `found` says what it looks like instead.
    #[error("not a flogfile: {found}")]
    NotFlogfile {
        /// What the input appears to be, for people.
        found: String,
        /// What the input is, for programs that read other formats too.
        kind: FileKind,
    },
    /// The input ends inside a record: everything before it was read. This is what
    /// a writer killed mid-record leaves, so callers can treat it as recoverable.
    #[error("flogfile is truncated: it ends inside record {}", records + 1)]
    Truncated {
        /// Complete records read before the partial one.
        records: u64,
    },
    /// A record is larger than [`MAX_RECORD_BYTES`], or says it is: a
    /// decompression bomb, or not a file of ours.
    #[error("flogfile is corrupt at record {}: the record is larger than the limit of {limit} bytes", records + 1)]
    RecordTooLarge {
        /// Complete records read before the bad one.
        records: u64,
        /// The limit.
        limit: usize,
    },
    /// A record nests deeper than [`MAX_RECORD_DEPTH`].
    #[error("flogfile is corrupt at record {}: the record nests deeper than the limit of {limit} levels", records + 1)]
    RecordTooDeep {
        /// Complete records read before the bad one.
        records: u64,
        /// The limit.
        limit: usize,
    },
    /// A record could not be decoded.
    #[error("flogfile is corrupt at record {}: {detail}", records + 1)]
    Corrupt {
        /// Complete records read before the bad one.
        records: u64,
        /// What was wrong.
        detail: String,
    },
    /// Reading failed.
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
}

impl ReadError {
    /// Whether everything up to the failure was read fine and the rest is lost
    /// (truncation), as opposed to the file not being a flogfile at all.
    pub fn is_truncated(&self) -> bool {
        matches!(self, ReadError::Truncated { .. })
    }
}

/// The format a file's first bytes (decompressed) announce, for callers that
/// read more than flogfiles: they decide by this, not by [`identify`]'s text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// A flog flogfile ([`MAGIC`]).
    Flog,
    /// A foolscap JSON flogfile (`# foolscap flogfile v1`), which the
    /// `flog-foolscap` crate reads.
    FoolscapJson,
    /// Anything else; [`identify`] says what it looks like.
    Unknown,
}

/// The kind of file whose first bytes (decompressed) are `start`.
pub fn file_kind(start: &[u8]) -> FileKind {
    if start.starts_with(MAGIC) {
        FileKind::Flog
    } else if start.starts_with(b"# foolscap flogfile") {
        FileKind::FoolscapJson
    } else {
        FileKind::Unknown
    }
}

/// Says what a file that is not a flogfile seems to be, from its first bytes.
pub fn identify(start: &[u8]) -> String {
    let text = String::from_utf8_lossy(&start[..start.len().min(64)]);
    if start.is_empty() {
        "the file is empty".into()
    } else if start.starts_with(b"# foolscap flogfile") {
        "a foolscap JSON flogfile (# foolscap flogfile v1)".into()
    } else if start.starts_with(b"pb://") || start.starts_with(b"pbu://") {
        "a foolscap FURL, not a log file".into()
    } else if (start[0] == 0x80 && start.len() > 1 && start[1] <= 5) || start.starts_with(b"(dp") {
        "a Python pickle (an old foolscap flogfile?)".into()
    } else if start.starts_with(b"BZh") {
        "bzip2 data that does not hold a flogfile".into()
    } else if start.starts_with(&[0x1f, 0x8b]) {
        "gzip-compressed data".into()
    } else if [&b"flogs://"[..], b"flog+insecure://", b"flog://"]
        .iter()
        .any(|scheme| start.starts_with(scheme))
    {
        "a flog logport URL, not a log file".into()
    } else if matches!(start[0], b'{' | b'[') {
        "JSON or other text".into()
    } else if std::str::from_utf8(start).is_ok() {
        format!("text starting {:?}", text.lines().next().unwrap_or(""))
    } else {
        let first = &start[..start.len().min(8)];
        format!(
            "binary data starting {}",
            data_encoding::HEXLOWER.encode_display(first)
        )
    }
}

/// Reads a flogfile record by record, plain or bzip2-compressed (recognised by its
/// signature, whatever the file is called).
///
/// Every record is bounded: at most [`MAX_RECORD_BYTES`] and
/// [`MAX_RECORD_DEPTH`] levels deep, checked as it is read, before its declared
/// lengths are trusted with any allocation; a record beyond them is an error.
/// So a reader holds at most a few times the largest record in memory, however
/// the file is made.
pub struct FlogReader {
    input: BufReader<Box<dyn Read + Send>>,
    compressed: bool,
    records: u64,
    /// Bytes of the (decompressed) stream up to the end of the last
    /// complete record.
    complete: u64,
    done: bool,
    /// The current record's bytes, reused.
    record: Vec<u8>,
}

impl std::fmt::Debug for FlogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlogReader")
            .field("compressed", &self.compressed)
            .field("records", &self.records)
            .finish()
    }
}

fn read_up_to(r: &mut impl Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

impl FlogReader {
    /// Opens a file.
    pub fn open(path: &Path) -> Result<FlogReader, ReadError> {
        let file = File::open(path).map_err(|source| ReadError::Open {
            path: path.to_owned(),
            source,
        })?;
        FlogReader::new(file)
    }

    /// Reads from any byte source.
    pub fn new(mut input: impl Read + Send + 'static) -> Result<FlogReader, ReadError> {
        let sig = read_up_to(&mut input, 4)?;
        let compressed =
            sig.len() == 4 && sig.starts_with(b"BZh") && (b'1'..=b'9').contains(&sig[3]);
        let raw = Cursor::new(sig).chain(input);
        let mut stream: Box<dyn Read + Send> = if compressed {
            Box::new(bzip2::read::MultiBzDecoder::new(raw))
        } else {
            Box::new(raw)
        };
        let start = match read_up_to(&mut stream, MAGIC.len()) {
            Ok(start) => start,
            // bzip2 works in blocks of up to 900 kB: a cut in the first block
            // loses all of it.
            Err(e) if compressed && e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(ReadError::Truncated { records: 0 })
            }
            Err(e) if compressed => {
                return Err(ReadError::NotFlogfile {
                    found: format!("damaged bzip2 data ({e})"),
                    kind: FileKind::Unknown,
                })
            }
            Err(e) => return Err(e.into()),
        };
        if start != MAGIC {
            if compressed && start.is_empty() {
                return Err(ReadError::NotFlogfile {
                    found: "bzip2 data holding nothing".into(),
                    kind: FileKind::Unknown,
                });
            }
            return Err(ReadError::NotFlogfile {
                found: identify(&start),
                kind: file_kind(&start),
            });
        }
        Ok(FlogReader {
            input: BufReader::with_capacity(64 * 1024, stream),
            compressed,
            records: 0,
            complete: MAGIC.len() as u64,
            done: false,
            record: Vec::new(),
        })
    }

    /// Whether the file was bzip2-compressed.
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// Complete records read so far.
    pub fn records_read(&self) -> u64 {
        self.records
    }

    /// Bytes of the (decompressed) stream that the magic line and the
    /// complete records read so far take. For a plain file that a writer
    /// killed mid-record left, this is where its last complete record ends:
    /// where a writer that finishes the file appends.
    pub fn complete_bytes(&self) -> u64 {
        self.complete
    }

    /// The next record; `Ok(None)` at the clean end. After an error it returns
    /// `Ok(None)`.
    pub fn next_record(&mut self) -> Result<Option<Record>, ReadError> {
        if self.done {
            return Ok(None);
        }
        let result = self.read_one();
        if !matches!(result, Ok(Some(_))) {
            self.done = true;
        }
        result
    }

    fn read_one(&mut self) -> Result<Option<Record>, ReadError> {
        let records = self.records;
        match self.input.fill_buf() {
            Ok([]) => return Ok(None),
            Ok(_) => {}
            Err(e) => return Err(self.stream_error(e)),
        }
        let scanned = read_item(
            &mut self.input,
            &mut self.record,
            MAX_RECORD_BYTES,
            MAX_RECORD_DEPTH,
        );
        match scanned {
            Ok(()) => {}
            Err(ScanError::Io(e)) => return Err(self.stream_error(e)),
            Err(ScanError::TooLarge) => {
                return Err(ReadError::RecordTooLarge {
                    records,
                    limit: MAX_RECORD_BYTES,
                })
            }
            Err(ScanError::TooDeep) => {
                return Err(ReadError::RecordTooDeep {
                    records,
                    limit: MAX_RECORD_DEPTH,
                })
            }
            Err(ScanError::Malformed(what)) => {
                return Err(ReadError::Corrupt {
                    records,
                    detail: format!("not well-formed CBOR: {what}"),
                })
            }
        }
        // A record far below its limit should not keep a buffer the size of
        // the largest one seen.
        if self.record.capacity() > 1024 * 1024 && self.record.len() < 64 * 1024 {
            self.record.shrink_to(64 * 1024);
        }
        match ciborium::from_reader::<Record, _>(self.record.as_slice()) {
            Ok(record) => {
                self.records += 1;
                // `read_item` keeps every byte it consumed.
                self.complete += self.record.len() as u64;
                Ok(Some(record))
            }
            Err(e) => Err(ReadError::Corrupt {
                records,
                detail: e.to_string(),
            }),
        }
    }

    fn stream_error(&self, e: io::Error) -> ReadError {
        let records = self.records;
        match e.kind() {
            io::ErrorKind::UnexpectedEof => ReadError::Truncated { records },
            // The decompressor reports a damaged stream as invalid data.
            _ if self.compressed => ReadError::Corrupt {
                records,
                detail: format!("bad bzip2 data: {e}"),
            },
            _ => ReadError::Io(e),
        }
    }
}

impl Iterator for FlogReader {
    type Item = Result<Record, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

/// A whole flogfile in memory: its events without what a gatherer added
/// (receipts, gaps, incarnation changes; read those with [`FlogReader`]).
#[derive(Debug, Default)]
pub struct FlogContents {
    /// The header, if the file has one.
    pub header: Option<Header>,
    /// The events, in file order.
    pub events: Vec<Event>,
    /// The trailer, if the file has one.
    pub trailer: Option<Trailer>,
    /// Records of types this reader does not know.
    pub unknown_records: u64,
    /// Set when the file ended early or went bad part way: what was read before
    /// is in the other fields.
    pub damage: Option<ReadError>,
}

impl FlogContents {
    /// Reads everything `reader` holds, stopping (and noting it) at damage.
    pub fn read_from(reader: FlogReader) -> FlogContents {
        let mut contents = FlogContents::default();
        for record in reader {
            match record {
                Ok(Record::Header(h)) if contents.header.is_none() => contents.header = Some(*h),
                Ok(Record::Event(e)) => contents.events.push(*e),
                Ok(Record::Received(r)) => contents.events.push(r.event),
                Ok(Record::Trailer(t)) => contents.trailer = Some(t),
                Ok(Record::Gap(_) | Record::IncarnationChange(_)) => {}
                Ok(Record::Header(_) | Record::Unknown(_)) => contents.unknown_records += 1,
                Err(e) => contents.damage = Some(e),
            }
        }
        contents
    }
}

/// Reads a whole flogfile. Fails only when the file cannot be opened or is not a
/// flogfile; a truncated or damaged file gives what it holds, with `damage` set.
pub fn read_flogfile(path: &Path) -> Result<FlogContents, ReadError> {
    match FlogReader::open(path) {
        Ok(reader) => Ok(FlogContents::read_from(reader)),
        Err(e @ ReadError::Truncated { .. }) => Ok(FlogContents {
            damage: Some(e),
            ..FlogContents::default()
        }),
        Err(e) => Err(e),
    }
}

/// Reads the trigger of an incident file: the header's trigger, without
/// reading further, or for a file without one, the first event of the highest
/// level in it (read a record at a time to the end). `None` when the file
/// holds no trigger and no event. Every record is bounded as in
/// [`FlogReader`], so a hostile file costs an error, not memory.
pub fn read_trigger(path: &Path) -> Result<Option<Event>, ReadError> {
    let mut reader = FlogReader::open(path)?;
    let mut worst: Option<Event> = None;
    while let Some(record) = reader.next_record()? {
        match record {
            Record::Header(header) => {
                if let Some(trigger) = header.trigger {
                    return Ok(Some(trigger));
                }
            }
            Record::Event(event) => {
                if worst.as_ref().is_none_or(|w| event.level > w.level) {
                    worst = Some(*event);
                }
            }
            Record::Received(received) => {
                if worst
                    .as_ref()
                    .is_none_or(|w| received.event.level > w.level)
                {
                    worst = Some(received.event);
                }
            }
            Record::Trailer(_)
            | Record::Gap(_)
            | Record::IncarnationChange(_)
            | Record::Unknown(_) => {}
        }
    }
    Ok(worst)
}
