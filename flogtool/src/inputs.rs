//! What the reading commands take: a file, or a place in a bucket that
//! gatherers share (`s3://BUCKET/KEY` for one flogfile, `s3://BUCKET/PREFIX`
//! for every flogfile under it, as a directory holds files). Both are read
//! the same way after; the bucket's side is flog-gatherer's reader.

use std::fmt;
use std::fs::File;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use bytes::Bytes;
use flog_core::flogfile::ReadError;
use flog_gatherer::{BucketLocation, BucketReader, Listing, MAX_OBJECT_BYTES};
use tokio::runtime::{Handle, Runtime};

/// One flogfile to read.
#[derive(Debug, Clone)]
pub(crate) enum Input {
    File(PathBuf),
    Object(Object),
}

/// A flogfile in a bucket, and the runtime its requests run on.
#[derive(Debug, Clone)]
pub(crate) struct Object {
    reader: BucketReader,
    key: String,
    url: String,
    size: u64,
    runtime: Handle,
}

impl Object {
    /// `s3://BUCKET/KEY`.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Its size as listed.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Its bytes, at most [`MAX_OBJECT_BYTES`]. Blocks: call it off the
    /// async runtime.
    pub(crate) fn fetch(&self) -> anyhow::Result<Bytes> {
        Ok(self
            .runtime
            .block_on(self.reader.read(&self.key, MAX_OBJECT_BYTES))?)
    }
}

impl Input {
    /// The path, or the object's URL.
    pub(crate) fn label(&self) -> Label<'_> {
        Label(self)
    }

    /// Its bytes from the start, as often as asked: a file opened again, an
    /// object fetched once.
    pub(crate) fn open(&self) -> anyhow::Result<Opener> {
        Ok(match self {
            Input::File(path) => Opener::File(path.clone()),
            Input::Object(object) => Opener::Bytes(object.fetch()?),
        })
    }
}

/// How [`Input::label`] shows.
#[derive(Debug)]
pub(crate) struct Label<'a>(&'a Input);

impl fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Input::File(path) => path.display().fmt(f),
            Input::Object(object) => f.write_str(&object.url),
        }
    }
}

/// An input ready to be read from its start (again).
#[derive(Debug)]
pub(crate) enum Opener {
    File(PathBuf),
    Bytes(Bytes),
}

impl Opener {
    pub(crate) fn read(&self) -> anyhow::Result<Box<dyn Read + Send>> {
        Ok(match self {
            Opener::File(path) => Box::new(File::open(path).map_err(|source| ReadError::Open {
                path: path.clone(),
                source,
            })?),
            Opener::Bytes(bytes) => Box::new(Cursor::new(bytes.clone())),
        })
    }
}

/// The inputs `args` name, bucket locations replaced by the flogfiles they
/// name (an error when there are none), requests run on `runtime`.
pub(crate) async fn expand(args: &[PathBuf], runtime: Handle) -> anyhow::Result<Vec<Input>> {
    let mut inputs = Vec::new();
    for arg in args {
        let Some(url) = bucket_url(arg) else {
            inputs.push(Input::File(arg.clone()));
            continue;
        };
        inputs.extend(list(url, &runtime).await?.into_iter().map(Input::Object));
    }
    Ok(inputs)
}

/// `arg` as a bucket location's URL, if it is one (`s3://...`).
pub(crate) fn bucket_url(arg: &Path) -> Option<&str> {
    arg.to_str().filter(|a| BucketLocation::is_bucket_url(a))
}

/// The listing of bucket location `url`, warning of what it skipped.
pub(crate) async fn listing(url: &str) -> anyhow::Result<(BucketLocation, BucketReader, Listing)> {
    let location = BucketLocation::parse(url)?;
    let reader = BucketReader::open(&location)?;
    let listing = reader.flogfiles(&location).await?;
    if listing.skipped > 0 {
        eprintln!(
            "flogtool: warning: {location}: {} objects whose names are not flog's were skipped",
            listing.skipped
        );
    }
    Ok((location, reader, listing))
}

/// The flogfiles at bucket location `url`.
async fn list(url: &str, runtime: &Handle) -> anyhow::Result<Vec<Object>> {
    let (location, reader, listing) = listing(url).await?;
    anyhow::ensure!(
        !listing.objects.is_empty(),
        "no flogfiles (.flog.bz2, .flog) under {location}"
    );
    Ok(listing
        .objects
        .into_iter()
        .map(|object| Object {
            reader: reader.clone(),
            key: object.key,
            url: object.url,
            size: object.size,
            runtime: runtime.clone(),
        })
        .collect())
}

/// Inputs for the commands that do not otherwise run async, with the
/// runtime their objects are fetched on (only when there is one).
#[derive(Debug)]
pub(crate) struct Resolved {
    pub(crate) inputs: Vec<Input>,
    // Kept for as long as the inputs are read.
    _runtime: Option<Runtime>,
}

/// [`expand`] for a command that is not async.
pub(crate) fn resolve(args: &[PathBuf]) -> anyhow::Result<Resolved> {
    if !args.iter().any(|a| bucket_url(a).is_some()) {
        let inputs = args.iter().cloned().map(Input::File).collect();
        return Ok(Resolved {
            inputs,
            _runtime: None,
        });
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let inputs = runtime.block_on(expand(args, runtime.handle().clone()))?;
    Ok(Resolved {
        inputs,
        _runtime: Some(runtime),
    })
}
