//! Reading the files the commands take: flog's flogfiles and foolscap's JSON
//! flogfiles, plain or bzip2, told apart by their content.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;
use flog_core::{
    flogfile::{
        FileKind, FlogReader, Gap, Header, IncarnationChange, ReadError, Receipt, Record, Trailer,
    },
    Event, Timestamp,
};
use flog_foolscap::{FoolscapReader, FoolscapRecord};
use indicatif::ProgressBar;

use crate::inputs::Input;

/// Which format a file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// A flog flogfile.
    Flog,
    /// A foolscap JSON flogfile.
    Foolscap,
}

/// An event as a file holds it, with what a gatherer noted on receiving it.
///
/// foolscap's gathered files (and its `tail --save-to` files) wrap each event
/// with its sender and receipt time; incident files do not. When flog's own
/// gathered files carry a receipt, [`Reader::next_item`] fills it in here and
/// every command that shows it (`dump --rx-time`) reads it through
/// [`Entry::rx_time`] unchanged.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The event.
    pub(crate) event: Event,
    from: Option<String>,
    rx_time: Option<Timestamp>,
}

impl Entry {
    /// An event no receipt is known of.
    pub(crate) fn new(event: Event) -> Entry {
        Entry {
            event,
            from: None,
            rx_time: None,
        }
    }

    /// When the event was received, where the file says.
    pub(crate) fn rx_time(&self) -> Option<Timestamp> {
        self.rx_time
    }

    /// Who sent the event, where the file says (a publisher id, or a
    /// foolscap tub id).
    pub(crate) fn from(&self) -> Option<&str> {
        self.from.as_deref()
    }

    /// The receipt to write back into a flogfile, when the file gave one.
    pub(crate) fn receipt(&self) -> Option<Receipt> {
        match (&self.from, self.rx_time) {
            (None, None) => None,
            (from, rx_time) => Some(Receipt {
                from: from.clone().unwrap_or_default(),
                rx_time: rx_time.unwrap_or_default(),
            }),
        }
    }
}

/// What a gathered file says between its events about its record of a
/// publisher: missing events, a restarted service.
#[derive(Debug, Clone)]
pub(crate) enum Mark {
    Gap(Gap),
    Incarnation(IncarnationChange),
}

impl Mark {
    /// The publisher it is about.
    pub(crate) fn from(&self) -> &str {
        match self {
            Mark::Gap(gap) => &gap.from,
            Mark::Incarnation(change) => &change.from,
        }
    }
}

/// One record of either format.
#[derive(Debug)]
pub(crate) enum Item {
    Header(Box<Header>),
    Entry(Box<Entry>),
    Trailer(Trailer),
    Mark(Box<Mark>),
    /// A record of a kind this flogtool does not know.
    Unknown,
}

/// Reads a file of either format record by record.
#[derive(Debug)]
pub(crate) struct Reader {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Flog(FlogReader),
    Foolscap(FoolscapReader<'static>),
}

/// An opened file: its reader, or (for a compressed file cut in its first
/// block, so short that not even its start survived) only the damage.
pub(crate) type Opened = (Option<Reader>, Option<ReadError>);

impl Reader {
    /// Opens `path`, counting the bytes read on `progress`.
    pub(crate) fn open(path: &Path, progress: &ProgressBar) -> anyhow::Result<Opened> {
        Reader::open_input(&Input::File(path.to_owned()), progress)
    }

    /// Opens a file or a bucket's object, counting the bytes read on
    /// `progress`.
    pub(crate) fn open_input(input: &Input, progress: &ProgressBar) -> anyhow::Result<Opened> {
        let opener = input.open()?;
        match FlogReader::new(progress.wrap_read(opener.read()?)) {
            Ok(reader) => Ok((Some(Reader::from(Inner::Flog(reader))), None)),
            Err(e @ ReadError::Truncated { .. }) => Ok((None, Some(e))),
            Err(ReadError::NotFlogfile {
                kind: FileKind::FoolscapJson,
                ..
            }) => {
                // The flog reader consumed the start: read again from the top.
                let again = opener.read()?;
                progress.set_position(0);
                let reader = FoolscapReader::new(progress.wrap_read(again)).with_context(|| {
                    format!("{}: reading it as a foolscap flogfile", input.label())
                })?;
                Ok((Some(Reader::from(Inner::Foolscap(reader))), None))
            }
            Err(e) => Err(describe_read_error(&input.label().to_string(), e)),
        }
    }

    fn from(inner: Inner) -> Reader {
        Reader { inner }
    }

    pub(crate) fn format(&self) -> Format {
        match self.inner {
            Inner::Flog(_) => Format::Flog,
            Inner::Foolscap(_) => Format::Foolscap,
        }
    }

    /// Whether the file is bzip2-compressed.
    pub(crate) fn is_compressed(&self) -> bool {
        match &self.inner {
            Inner::Flog(reader) => reader.is_compressed(),
            Inner::Foolscap(reader) => reader.is_compressed(),
        }
    }

    /// The next record; `Ok(None)` at the clean end and after an error.
    pub(crate) fn next_item(&mut self) -> Result<Option<Item>, ReadError> {
        Ok(Some(match &mut self.inner {
            Inner::Flog(reader) => match reader.next_record()? {
                None => return Ok(None),
                Some(Record::Header(header)) => Item::Header(header),
                Some(Record::Event(event)) => Item::Entry(Box::new(Entry::new(*event))),
                Some(Record::Received(received)) => {
                    let received = *received;
                    Item::Entry(Box::new(Entry {
                        event: received.event,
                        from: Some(received.receipt.from),
                        rx_time: Some(received.receipt.rx_time),
                    }))
                }
                Some(Record::Gap(gap)) => Item::Mark(Box::new(Mark::Gap(*gap))),
                Some(Record::IncarnationChange(change)) => {
                    Item::Mark(Box::new(Mark::Incarnation(*change)))
                }
                Some(Record::Trailer(trailer)) => Item::Trailer(trailer),
                Some(Record::Unknown(_)) => Item::Unknown,
            },
            Inner::Foolscap(reader) => match reader.next_record()? {
                None => return Ok(None),
                Some(FoolscapRecord::Header(header)) => Item::Header(header),
                Some(FoolscapRecord::Event(wrapped)) => {
                    let wrapped = *wrapped;
                    Item::Entry(Box::new(Entry {
                        event: wrapped.event,
                        from: wrapped.from,
                        rx_time: wrapped.rx_time,
                    }))
                }
                Some(FoolscapRecord::Unknown) => Item::Unknown,
            },
        }))
    }

    /// For a foolscap file, the line the last record was read from, to copy
    /// it unchanged; `None` for a flogfile.
    pub(crate) fn line(&self) -> Option<&str> {
        match &self.inner {
            Inner::Flog(_) => None,
            Inner::Foolscap(reader) => Some(reader.line()),
        }
    }
}

/// A whole file in memory.
#[derive(Debug)]
pub(crate) struct Contents {
    pub(crate) header: Option<Header>,
    pub(crate) entries: Vec<Entry>,
    /// Gaps and incarnation changes, each with the number of entries before
    /// it.
    pub(crate) marks: Vec<(usize, Mark)>,
    pub(crate) trailer: Option<Trailer>,
    /// Records of kinds this flogtool does not know, and headers after the
    /// first.
    pub(crate) unknown_records: u64,
    /// Set when the file ended early or went bad part way: what was read
    /// before is in the other fields.
    pub(crate) damage: Option<ReadError>,
}

impl Contents {
    /// The contents as flog-core holds them (for flog-web), without what
    /// only gathered files carry (receive times, origins).
    pub(crate) fn into_flog_contents(self) -> flog_core::flogfile::FlogContents {
        flog_core::flogfile::FlogContents {
            header: self.header,
            events: self.entries.into_iter().map(|entry| entry.event).collect(),
            trailer: self.trailer,
            unknown_records: self.unknown_records,
            damage: self.damage,
        }
    }
}

/// Reads a whole file of either format, counting bytes on `progress`. Fails
/// when it cannot be opened or is neither format; a damaged one gives what it
/// holds, with `damage` set (see [`Damage`]).
pub(crate) fn read(path: &Path, progress: &ProgressBar) -> anyhow::Result<Contents> {
    read_input(&Input::File(path.to_owned()), progress)
}

/// [`read`] of a file or a bucket's object.
pub(crate) fn read_input(input: &Input, progress: &ProgressBar) -> anyhow::Result<Contents> {
    let (reader, damage) = Reader::open_input(input, progress)?;
    let mut contents = Contents {
        header: None,
        entries: Vec::new(),
        marks: Vec::new(),
        trailer: None,
        unknown_records: 0,
        damage,
    };
    let Some(mut reader) = reader else {
        return Ok(contents);
    };
    loop {
        match reader.next_item() {
            Ok(None) => break,
            Ok(Some(Item::Header(header))) if contents.header.is_none() => {
                contents.header = Some(*header);
            }
            Ok(Some(Item::Header(_) | Item::Unknown)) => contents.unknown_records += 1,
            Ok(Some(Item::Entry(entry))) => contents.entries.push(*entry),
            Ok(Some(Item::Mark(mark))) => contents.marks.push((contents.entries.len(), *mark)),
            Ok(Some(Item::Trailer(trailer))) => contents.trailer = Some(trailer),
            Err(e) => {
                contents.damage = Some(e);
                break;
            }
        }
    }
    Ok(contents)
}

/// An error opening `path` as a flogfile, naming the file once.
pub(crate) fn describe_open_error(path: &Path, error: ReadError) -> anyhow::Error {
    describe_read_error(&path.display().to_string(), error)
}

/// An error reading the input shown as `label`, naming it once.
fn describe_read_error(label: &str, error: ReadError) -> anyhow::Error {
    match error {
        // Already names the file.
        e @ ReadError::Open { .. } => e.into(),
        e => anyhow::Error::new(e).context(label.to_owned()),
    }
}

/// What to make of a file that stopped reading early.
#[derive(Debug)]
pub(crate) enum Damage {
    /// It ends inside a record: what a writer killed mid-record (or an incident
    /// still recording) leaves. Everything before was read; only a warning.
    Truncated(ReadError),
    /// A record could not be decoded, or reading failed: a failure.
    Broken(ReadError),
}

impl Damage {
    pub(crate) fn classify(error: ReadError) -> Damage {
        if error.is_truncated() {
            Damage::Truncated(error)
        } else {
            Damage::Broken(error)
        }
    }
}

/// Runs `each` over `paths` (or inputs), for commands that take several files. With one
/// path its error is the command's. With several, each failure is reported on
/// stderr as it happens (stdout flushed first, to keep the two in order for a
/// reader watching both), the other files are still done, and the command
/// fails at the end saying how many of them `failed` ("could not be read").
pub(crate) fn each_path<W: Write, T>(
    out: &mut W,
    paths: &[T],
    failed: &str,
    mut each: impl FnMut(&mut W, usize, &T) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut failures = 0;
    for (i, path) in paths.iter().enumerate() {
        if let Err(error) = each(out, i, path) {
            if paths.len() == 1 {
                return Err(error);
            }
            out.flush()?;
            eprintln!("flogtool: error: {}", crate::error_chain(&error));
            failures += 1;
        }
    }
    out.flush()?;
    match failures {
        0 => Ok(()),
        n => Err(anyhow::anyhow!("{n} of {} {failed}", paths.len())),
    }
}
