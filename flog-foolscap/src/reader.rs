//! A foolscap JSON flogfile, line by line.

use std::io::{self, BufRead, BufReader, Read};

use flog_core::{
    flogfile::{Header, ReadError},
    Event, Timestamp,
};
use serde_json::{Map, Value as Json};

use crate::convert::{event_from_foolscap, header_from_foolscap, timestamp};
use crate::{FoolscapError, MAGIC};

/// The longest line read. Each event is one line, so a longer one is not a
/// foolscap event but damage, refused rather than held in memory.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// An event as a foolscap file holds it: the event, and what the wrapper
/// around it says of its receipt (a gatherer or `flogtool tail` writes both;
/// an incident file neither).
#[derive(Debug, Clone, PartialEq)]
pub struct Wrapped {
    /// The event.
    pub event: Event,
    /// The sender's tub id (`from`).
    pub from: Option<String>,
    /// When the event was received (`rx_time`).
    pub rx_time: Option<Timestamp>,
}

/// One line of a foolscap flogfile.
#[derive(Debug, Clone, PartialEq)]
pub enum FoolscapRecord {
    /// `{"header": {...}}`.
    Header(Box<Header>),
    /// `{"from": ..., "rx_time": ..., "d": {...}}`.
    Event(Box<Wrapped>),
    /// A JSON object of another kind, which foolscap's own tools pass over.
    Unknown,
}

/// Reads a foolscap flogfile record by record, plain or bzip2-compressed
/// (recognised by content), keeping each record's line so that a filter can
/// copy it unchanged.
pub struct FoolscapReader<'a> {
    input: Box<dyn BufRead + 'a>,
    compressed: bool,
    line: Vec<u8>,
    records: u64,
    done: bool,
}

impl std::fmt::Debug for FoolscapReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FoolscapReader")
            .field("compressed", &self.compressed)
            .field("records", &self.records)
            .finish()
    }
}

impl<'a> FoolscapReader<'a> {
    /// Checks the first line; fails when the input is not a foolscap JSON
    /// flogfile (saying what it is instead).
    pub fn new(input: impl Read + 'a) -> Result<FoolscapReader<'a>, FoolscapError> {
        let mut input = BufReader::new(input);
        let compressed = input.fill_buf()?.starts_with(b"BZh");
        let mut input: Box<dyn BufRead + 'a> = if compressed {
            Box::new(BufReader::new(bzip2::read::MultiBzDecoder::new(input)))
        } else {
            Box::new(input)
        };
        let mut magic = Vec::with_capacity(MAGIC.len());
        (&mut input)
            .take(MAGIC.len() as u64)
            .read_to_end(&mut magic)?;
        if magic != MAGIC {
            return Err(
                if magic.starts_with(b"(dp") || magic.first() == Some(&0x80) {
                    FoolscapError::Pickle
                } else if magic.starts_with(b"pb:") {
                    FoolscapError::Furl
                } else {
                    FoolscapError::NotFoolscap(flog_core::flogfile::identify(&magic))
                },
            );
        }
        Ok(FoolscapReader {
            input,
            compressed,
            line: Vec::new(),
            records: 0,
            done: false,
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

    /// The line the last record was read from, newline included.
    pub fn line(&self) -> &str {
        // Only lines that decoded as JSON are kept, so this is UTF-8.
        std::str::from_utf8(&self.line).unwrap_or_default()
    }

    /// The next record; `Ok(None)` at the clean end, and after an error. A
    /// last line without its newline is a truncation; a line that is not a
    /// JSON object, or longer than [`MAX_LINE_BYTES`], is corruption.
    pub fn next_record(&mut self) -> Result<Option<FoolscapRecord>, ReadError> {
        if self.done {
            return Ok(None);
        }
        let result = self.read_one();
        if !matches!(result, Ok(Some(_))) {
            self.done = true;
            self.line.clear();
        }
        result
    }

    fn read_one(&mut self) -> Result<Option<FoolscapRecord>, ReadError> {
        let records = self.records;
        let corrupt = |detail: &str| ReadError::Corrupt {
            records,
            detail: detail.to_owned(),
        };
        loop {
            self.line.clear();
            let limit = MAX_LINE_BYTES as u64 + 1;
            match (&mut self.input)
                .take(limit)
                .read_until(b'\n', &mut self.line)
            {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                Err(e) => return Err(self.stream_error(e)),
            }
            if self.line.len() > MAX_LINE_BYTES {
                return Err(corrupt(&format!(
                    "a line longer than {MAX_LINE_BYTES} bytes"
                )));
            }
            if !self.line.iter().all(u8::is_ascii_whitespace) {
                break;
            }
        }
        let parsed: Option<Map<String, Json>> = match serde_json::from_slice::<Json>(&self.line) {
            Ok(Json::Object(object)) => Some(object),
            _ => None,
        };
        let Some(wrapper) = parsed else {
            return Err(if self.line.ends_with(b"\n") {
                corrupt("a line is not a JSON object")
            } else {
                ReadError::Truncated { records }
            });
        };
        self.records += 1;
        let record = if let Some(d) = wrapper.get("d").and_then(Json::as_object) {
            FoolscapRecord::Event(Box::new(Wrapped {
                event: event_from_foolscap(d),
                from: wrapper
                    .get("from")
                    .and_then(Json::as_str)
                    .map(str::to_owned),
                rx_time: wrapper
                    .get("rx_time")
                    .filter(|t| t.is_number())
                    .map(|t| timestamp(Some(t))),
            }))
        } else if let Some(h) = wrapper.get("header").and_then(Json::as_object) {
            FoolscapRecord::Header(Box::new(header_from_foolscap(h)))
        } else {
            FoolscapRecord::Unknown
        };
        Ok(Some(record))
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
