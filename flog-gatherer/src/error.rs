//! The crate's error types.

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use flog_wire::UrlError;

use crate::units::{line_column, UnitError};

/// Why a config or rules file could not be used.
///
/// Every message names the file, and the line and column of the offending
/// value when it has one: `gatherer.toml:12:17: invalid regular expression ...`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file is not valid TOML, or a value in it is wrong.
    #[error("{}: {problem}", Location { path, line: *line, column: *column })]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The 1-based line of the offending value, when known.
        line: Option<usize>,
        /// The 1-based column (in characters) of the offending value, when known.
        column: Option<usize>,
        /// What is wrong.
        problem: ConfigProblem,
    },
}

/// What is wrong with a value of a config or rules file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// Not TOML, an unknown key, or a value of the wrong type. (Boxed: it
    /// is large, and errors travel in every `Result`.)
    #[error("{}", .0.message().trim())]
    Toml(Box<toml::de::Error>),
    /// A publisher's URL does not parse (the message never holds a secret).
    #[error("invalid logport URL: {0}")]
    Url(#[source] UrlError),
    /// A duration or size that is not one.
    #[error("{key}: {source}")]
    Unit {
        /// The key.
        key: &'static str,
        /// Why.
        source: UnitError,
    },
    /// A duration of zero where that would mean "never" or "spin".
    #[error("{key} must be more than zero")]
    Zero {
        /// The key.
        key: &'static str,
    },
    /// A number outside what the key allows.
    #[error("{key} must be from {range}")]
    OutOfRange {
        /// The key.
        key: &'static str,
        /// The range allowed, for people: `1 to 4096`.
        range: &'static str,
    },
    /// `[logport]` without `[events]`: there would be nothing to serve.
    #[error("[logport] serves the gathered events: it needs an [events] section too")]
    LogportWithoutEvents,
    /// `listen` is not an `ADDRESS:PORT`.
    #[error("listen: {0:?} is not ADDRESS:PORT, e.g. \"0.0.0.0:4818\"")]
    Listen(String),
    /// The first wait after a failure is longer than the longest.
    #[error("min_backoff is longer than max_backoff")]
    BackoffOrder,
    /// A rule's category or message pattern.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// A rule's `min_level` is neither a level name nor a number.
    #[error("invalid level: use a name (NOISY, OPERATIONAL, UNUSUAL, INFREQUENT, CURIOUS, WEIRD, SCARY, BAD) or a number from 0 to 65535")]
    Level,
    /// `http` is not an address with a port.
    #[error("http must be an address with a port, like \"127.0.0.1:8480\" or \"[::1]:8480\"")]
    HttpBind,
    /// `http` is not a loopback address and there is no `http_token`.
    #[error("http is not a loopback address: set http_token too, or bind 127.0.0.1")]
    HttpTokenRequired,
    /// `http_token` is too short or has characters it may not.
    #[error("http_token must be 16 or more of A-Z a-z 0-9 - . _ ~")]
    HttpToken,
    /// `http_token` without `http`.
    #[error("http_token is set but http (the dashboard's address) is not")]
    HttpTokenAlone,
    /// `storage` is neither `"dir"` nor `"s3"`.
    #[error("storage: {0:?} is not \"dir\" or \"s3\"")]
    Storage(String),
    /// `storage = "s3"` without an `[s3]` section.
    #[error("storage = \"s3\" needs an [s3] section with the bucket")]
    S3Missing,
    /// An `[s3]` section while storage is the directory.
    #[error("[s3] is set but storage is not \"s3\": add storage = \"s3\", or remove [s3]")]
    S3WithoutStorage,
    /// Not an S3 bucket name.
    #[error("bucket must be 3 to 63 of a-z 0-9 - .")]
    S3Bucket,
    /// A prefix with empty, `.` or `..` parts, or spaces.
    #[error("prefix must be parts of printable ASCII separated by /, none empty, \".\" or \"..\"")]
    S3Prefix,
    /// A rule compares a field with a table or an array.
    #[error("field {name:?}: compare with text, a number or a boolean")]
    FieldValue {
        /// The field.
        name: String,
    },
}

impl ConfigError {
    /// The line the error points at, if any.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Invalid { line, .. } => *line,
            ConfigError::Read { .. } => None,
        }
    }
}

struct Location<'a> {
    path: &'a Path,
    line: Option<usize>,
    column: Option<usize>,
}

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        Ok(())
    }
}

/// A TOML file's text and name, to turn byte spans into error positions.
#[derive(Debug)]
pub(crate) struct Source<'a> {
    pub(crate) path: &'a Path,
    pub(crate) text: &'a str,
}

impl Source<'_> {
    /// An error about the value at `span`.
    pub(crate) fn error_at(
        &self,
        span: Range<usize>,
        problem: impl Into<ConfigProblem>,
    ) -> ConfigError {
        let (line, column) = line_column(self.text, span.start);
        ConfigError::Invalid {
            path: self.path.to_owned(),
            line: Some(line),
            column: Some(column),
            problem: problem.into(),
        }
    }

    /// Parses the whole file, reporting TOML and shape errors at their span.
    pub(crate) fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConfigError> {
        toml::from_str(self.text).map_err(|error| match error.span() {
            Some(span) => self.error_at(span, ConfigProblem::Toml(Box::new(error))),
            None => ConfigError::Invalid {
                path: self.path.to_owned(),
                line: None,
                column: None,
                problem: ConfigProblem::Toml(Box::new(error)),
            },
        })
    }
}

/// A rule was given an invalid category or regular expression.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// See [`is_valid_category`](crate::is_valid_category).
    #[error("invalid category {0:?}: use 1 to 64 of A-Z a-z 0-9 . _ -, not starting with '.', and not \"all\" or \"unknown\"")]
    BadCategory(String),
    /// The message pattern does not compile.
    #[error("invalid regular expression: {0}")]
    BadRegex(#[from] regex::Error),
}

/// Why the gatherer could not start, or an operation on its base directory
/// failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatherError {
    /// The configuration is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A file or directory in the base directory could not be used.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. `create directory`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Another gatherer already runs in this base directory (it holds a
    /// lock on the directory).
    #[error("another gatherer is running in {}{}", basedir.display(), Holder(*holder))]
    Locked {
        /// The base directory.
        basedir: PathBuf,
        /// The holder's pid, as its `lock` file says, if it does.
        holder: Option<u32>,
    },
    /// A task of the gatherer panicked (a bug): what it was doing failed,
    /// the gatherer itself goes on.
    #[error(transparent)]
    Panicked(#[from] crate::contain::Panicked),
    /// [`Gatherer::run`](crate::Gatherer::run) was called while it runs.
    #[error("this gatherer is already running")]
    AlreadyRunning,
    /// The gatherer's key file (for publishers dialing in) could not be
    /// read, created or used.
    #[error(transparent)]
    Key(flog_wire::KeyFileError),
    /// The TLS configuration could not be built from the gatherer's key.
    #[error("cannot set up TLS: {0}")]
    Tls(#[source] flog_wire::TransportError),
    /// The `listen` address could not be bound.
    #[error("cannot listen for publishers on {addr}: {source}")]
    Listen {
        /// The configured address.
        addr: std::net::SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The `[logport]` address could not be bound.
    #[error("cannot serve the gatherer's logport on {addr}: {source}")]
    LogportListen {
        /// The configured address.
        addr: std::net::SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The `advertise` host cannot be put in a URL.
    #[error("cannot advertise {host:?} in the gatherer's URL: {source}")]
    Advertise {
        /// The host.
        host: String,
        /// Why.
        source: flog_wire::UrlError,
    },
    /// The bucket (`storage = "s3"`) cannot be used: its client cannot be
    /// set up, or the server refused the credentials at start.
    #[error(transparent)]
    Bucket(#[from] BucketError),
    /// `reclassify` of a bucket that other gatherers may be writing to.
    #[error("the classification lists in {bucket} cannot be rebuilt by one gatherer of those sharing it")]
    ReclassifyBucket {
        /// `s3://BUCKET/PREFIX`.
        bucket: String,
    },
    /// `create` refuses to overwrite an existing configuration.
    #[error("{} already exists; remove it or pick another base directory", path.display())]
    AlreadyExists {
        /// The existing config file.
        path: PathBuf,
    },
}

/// ` (pid N)` when the holder of a lock is known.
struct Holder(Option<u32>);

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(pid) => write!(f, " (pid {pid})"),
            None => Ok(()),
        }
    }
}

impl GatherError {
    pub(crate) fn io<'a>(
        action: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(io::Error) -> Self + 'a {
        move |source| GatherError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }
}

/// Compare-and-swap attempts on one object of a bucket before giving up:
/// enough for a handful of gatherers writing the same list at once, bounded
/// so that a server that refuses every condition is an error, not a spin.
pub(crate) const CAS_ATTEMPTS: u32 = 64;

/// Why an operation on the bucket (`storage = "s3"`) failed. No message
/// holds a credential.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BucketError {
    /// The bucket's client could not be set up from the configuration.
    #[error("cannot use {bucket}: {source}")]
    Setup {
        /// `s3://BUCKET/PREFIX`.
        bucket: String,
        /// Why.
        source: Box<object_store::Error>,
    },
    /// The server refused or failed the request, or could not be reached.
    #[error("cannot {action} {key} in {bucket}: {source}")]
    Request {
        /// What was being done: `store`, `read`, `list`.
        action: &'static str,
        /// The object's key.
        key: String,
        /// `s3://BUCKET/PREFIX`.
        bucket: String,
        /// The client's error. (Boxed: it is large, and errors travel in
        /// every `Result`.)
        source: Box<object_store::Error>,
    },
    /// The server refused the credentials (or they lack the rights needed).
    #[error("{bucket} refused the credentials ({why}): {advice}")]
    Refused {
        /// `s3://BUCKET/PREFIX`.
        bucket: String,
        /// What the server said: `403 Forbidden` or `401 Unauthorized`.
        why: &'static str,
        /// Who was refused, which decides where to look.
        advice: CredentialsAdvice,
    },
    /// The incident is in the bucket with other bytes than the publisher's.
    #[error("{key} in {bucket} holds other bytes (SHA-256 {stored}) than the incident fetched and verified (SHA-256 {fetched}); the stored object is kept, the fetched copy discarded")]
    Conflict {
        /// The object's key.
        key: String,
        /// `s3://BUCKET/PREFIX`.
        bucket: String,
        /// What is stored (its SHA-256, or its size when that differs).
        stored: String,
        /// The SHA-256 of the fetched and verified incident.
        fetched: String,
    },
    /// Other writers won every compare-and-swap.
    #[error(
        "cannot update {key} in {bucket}: other writers changed it {CAS_ATTEMPTS} times in a row"
    )]
    Contended {
        /// The object's key.
        key: String,
        /// `s3://BUCKET/PREFIX`.
        bucket: String,
    },
    /// A file to upload could not be read.
    #[error("cannot {action} {path}: {source}")]
    Local {
        /// What was being done: `read`.
        action: &'static str,
        /// The local file.
        path: std::path::PathBuf,
        /// Why.
        source: io::Error,
    },
    /// An upload completed but the object is not what was sent (another
    /// size or digest): it is not counted as uploaded, the local file stays.
    #[error("{key} in {bucket} is not what was uploaded ({found}); the local file is kept and the upload retried")]
    Unconfirmed {
        /// The object's key.
        key: String,
        /// `s3://BUCKET/PREFIX`.
        bucket: String,
        /// What differs.
        found: String,
    },
    /// No object has this key.
    #[error("{bucket} has no object {key}")]
    NotFound {
        /// The object's key.
        key: String,
        /// `s3://BUCKET`.
        bucket: String,
    },
    /// The object is larger than the reader takes.
    #[error("{key} in {bucket} is larger than the {limit} bytes read of one object ({size} bytes or more)")]
    TooLarge {
        /// The object's key.
        key: String,
        /// `s3://BUCKET`.
        bucket: String,
        /// Its size, or as much of it as was read before stopping.
        size: u64,
        /// The most read.
        limit: u64,
    },
    /// More objects under a prefix than a listing keeps.
    #[error("more than {limit} flogfiles under {prefix} in {bucket}; name a narrower prefix")]
    TooMany {
        /// The prefix listed.
        prefix: String,
        /// `s3://BUCKET`.
        bucket: String,
        /// The most listed.
        limit: usize,
    },
    /// The `latest` marker holds something else than an incident name.
    #[error("{key} in {bucket} does not hold an incident name; fix or remove it")]
    BadLatest {
        /// The object's key.
        key: String,
        /// `s3://BUCKET/PREFIX`.
        bucket: String,
    },
}

/// A bucket location (`s3://BUCKET/PATH`) that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LocationError {
    /// It does not start with `s3://`.
    #[error("{url:?} is not a bucket location: it does not start with s3://")]
    NotS3 {
        /// What was given.
        url: String,
    },
    /// Not an S3 bucket name.
    #[error("{url:?}: {bucket:?} is not a bucket name (3 to 63 of a-z 0-9 - .)")]
    Bucket {
        /// What was given.
        url: String,
        /// The bucket part.
        bucket: String,
    },
    /// A path with empty, `.` or `..` parts, or other than printable ASCII.
    #[error("{url:?}: the path after the bucket must be parts of printable ASCII separated by /, none empty, \".\" or \"..\"")]
    Path {
        /// What was given.
        url: String,
    },
}

/// Where to look when a bucket refuses the credentials: a gatherer takes
/// them from the environment or `[s3]` and needs write rights; a reader
/// (`flogtool`, [`BucketReader`](crate::BucketReader)) only from the
/// environment, and needs only read rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialsAdvice {
    /// A gatherer storing into the bucket.
    Gatherer,
    /// A reader of the bucket.
    Reader,
}

impl fmt::Display for CredentialsAdvice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CredentialsAdvice::Gatherer => "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or access_key_id and secret_access_key in [s3] of gatherer.toml, and the key's rights on the bucket (GetObject, PutObject, ListBucket)",
            CredentialsAdvice::Reader => "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN, if any) in the environment, and that the key may read the bucket (GetObject, ListBucket)",
        })
    }
}

impl BucketError {
    /// Whether the server said the credentials are wrong or lack rights.
    pub(crate) fn is_refused_credentials(&self) -> bool {
        matches!(self, BucketError::Refused { .. })
            || matches!(
                self,
                BucketError::Request { source, .. }
                    if matches!(
                        **source,
                        object_store::Error::Unauthenticated { .. }
                            | object_store::Error::PermissionDenied { .. }
                    )
            )
    }
}
