//! The gatherer's configuration: `BASEDIR/gatherer.toml`.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use flog_wire::LogportUrl;
use serde::Deserialize;
use toml::Spanned;

use crate::classify::{compile_rules, Classifier, RawRule};
use crate::error::{ConfigError, ConfigProblem, GatherError, Source};
use crate::units::{RawDuration, RawSize};

mod events_section;
mod logport_section;
mod storage_section;

use self::events_section::RawEvents;
pub use self::events_section::{EventsConfig, LevelRule};
pub use self::logport_section::LogportConfig;
use self::logport_section::RawLogport;
use self::storage_section::{compile_storage, RawS3};
pub(crate) use self::storage_section::{is_valid_bucket_name, is_valid_key_path};
pub use self::storage_section::{S3Config, Storage};

/// The config file's name in the base directory.
pub const CONFIG_FILE: &str = "gatherer.toml";

/// The default folder, in the base directory, of publisher URL files.
pub const PUBLISHERS_DIR: &str = "publishers";

/// How the gatherer runs: which publishers, how often, how carefully, and
/// how incidents are classified.
///
/// `Config::default()` has no publishers and no rules; [`Config::load`]
/// reads `BASEDIR/gatherer.toml`, whose keys have the same names and the
/// same defaults (see `docs/gatherer.md`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Logport URLs of publishers to gather from, besides those in
    /// [`publishers_dir`](Self::publishers_dir).
    pub publishers: Vec<LogportUrl>,
    /// A folder holding one logport URL per file, read at every poll round;
    /// relative paths are relative to the base directory. Default
    /// `publishers`.
    pub publishers_dir: PathBuf,
    /// How often each publisher is asked for new incidents. Default 60 s.
    pub poll_interval: Duration,
    /// How often notices may bring a publisher's next poll round forward,
    /// after a burst of ten: a publisher pushing notices without pause gets
    /// a round per interval, not a round per notice, while an honest one
    /// (whose incidents storm control spaces out) never waits. Default 1 s.
    pub notice_interval: Duration,
    /// How many publishers are talked to at once (each connect, listing and
    /// fetch takes a turn). Default 16.
    pub concurrency: usize,
    /// Whether to subscribe to each publisher's incident notices, so that a
    /// new incident is fetched at once rather than at the next poll. Default
    /// true.
    pub subscribe: bool,
    /// How long connecting and the hello exchange may take. Default 10 s.
    pub connect_timeout: Duration,
    /// How long to wait for each reply, and for each chunk of a fetch.
    /// Default 30 s.
    pub request_timeout: Duration,
    /// How long a whole incident fetch may take. Default 10 minutes.
    pub fetch_timeout: Duration,
    /// The first wait before reconnecting to a publisher that failed; it
    /// doubles with each failure in a row. Default 1 s.
    pub min_backoff: Duration,
    /// The longest wait before reconnecting. Default 5 minutes.
    pub max_backoff: Duration,
    /// Incidents larger than this are refused. Default 256 MiB.
    pub max_incident_size: u64,
    /// Listing page size asked of publishers. Default 500.
    pub page_size: u32,
    /// The largest chunk to ask for when fetching; what arrived in whole
    /// chunks before a connection broke is kept and the fetch resumes after
    /// it. `None` (the default) lets the publisher choose.
    pub chunk_size: Option<u32>,
    /// The classification rules. Default: none.
    pub classifier: Classifier,
    /// Where to listen for publishers that dial out to this gatherer
    /// (`docs/protocol.md` §12.6). Default: `None`, no listening.
    pub listen: Option<SocketAddr>,
    /// The host written in the gatherer's URL (`BASEDIR/gatherer-url`).
    /// Default: the listening address (127.0.0.1 if it is unspecified).
    pub advertise: Option<String>,
    /// Where `flog-gatherer run` serves its dashboard; `None` (the default):
    /// nowhere.
    pub http: Option<HttpConfig>,
    /// Event gathering, when the file has an `[events]` section. Default:
    /// off.
    pub events: Option<EventsConfig>,
    /// The gatherer's own logport, when the file has a `[logport]` section
    /// (which needs `[events]`). Default: `None`.
    pub logport: Option<LogportConfig>,
    /// Where incidents and their lists are stored: the base directory (the
    /// default) or an S3-compatible bucket.
    pub storage: Storage,
}

/// The dashboard's address and access token (`http`, `http_token`).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpConfig {
    /// The address to bind, given explicitly (`127.0.0.1:8080`).
    pub bind: SocketAddr,
    /// The token every request must carry; required unless `bind` is a
    /// loopback address.
    pub token: Option<String>,
}

impl HttpConfig {
    /// The dashboard on 127.0.0.1 at `port` (0: a free one), without a
    /// token, which loopback does not need.
    pub fn loopback(port: u16) -> HttpConfig {
        HttpConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], port)),
            token: None,
        }
    }
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: never in logs.
        f.debug_struct("HttpConfig")
            .field("bind", &self.bind)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The shortest access token accepted, in characters.
pub const MIN_TOKEN_LEN: usize = 16;

impl Default for Config {
    fn default() -> Self {
        Config {
            publishers: Vec::new(),
            publishers_dir: PathBuf::from(PUBLISHERS_DIR),
            poll_interval: Duration::from_secs(60),
            notice_interval: Duration::from_secs(1),
            concurrency: 16,
            subscribe: true,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            fetch_timeout: Duration::from_secs(600),
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            max_incident_size: 256 * 1024 * 1024,
            page_size: 500,
            chunk_size: None,
            classifier: Classifier::default(),
            listen: None,
            advertise: None,
            http: None,
            events: None,
            logport: None,
            storage: Storage::Dir,
        }
    }
}

/// The config file as written; every value keeps its span for errors.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    publishers: Vec<Spanned<String>>,
    publishers_dir: Option<String>,
    poll_interval: Option<Spanned<RawDuration>>,
    notice_interval: Option<Spanned<RawDuration>>,
    concurrency: Option<Spanned<i64>>,
    subscribe: Option<bool>,
    connect_timeout: Option<Spanned<RawDuration>>,
    request_timeout: Option<Spanned<RawDuration>>,
    fetch_timeout: Option<Spanned<RawDuration>>,
    min_backoff: Option<Spanned<RawDuration>>,
    max_backoff: Option<Spanned<RawDuration>>,
    max_incident_size: Option<Spanned<RawSize>>,
    page_size: Option<Spanned<i64>>,
    chunk_size: Option<Spanned<RawSize>>,
    listen: Option<Spanned<String>>,
    advertise: Option<String>,
    http: Option<Spanned<String>>,
    http_token: Option<Spanned<String>>,
    #[serde(default)]
    rule: Vec<RawRule>,
    events: Option<RawEvents>,
    logport: Option<Spanned<RawLogport>>,
    storage: Option<Spanned<String>>,
    s3: Option<Spanned<RawS3>>,
}

impl RawConfig {
    /// `http` and `http_token`: an explicit address, and a token of
    /// cookie-safe characters, required for anything but loopback.
    fn read_http(&self, source: &Source<'_>) -> Result<Option<HttpConfig>, ConfigError> {
        let token = match &self.http_token {
            None => None,
            Some(token) => {
                let text = token.get_ref();
                let safe = text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
                if text.len() < MIN_TOKEN_LEN || !safe {
                    return Err(source.error_at(token.span(), ConfigProblem::HttpToken));
                }
                Some(text.clone())
            }
        };
        let Some(bind) = &self.http else {
            if let Some(token) = &self.http_token {
                return Err(source.error_at(token.span(), ConfigProblem::HttpTokenAlone));
            }
            return Ok(None);
        };
        let addr: SocketAddr = bind
            .get_ref()
            .trim()
            .parse()
            .map_err(|_| source.error_at(bind.span(), ConfigProblem::HttpBind))?;
        if !addr.ip().is_loopback() && token.is_none() {
            return Err(source.error_at(bind.span(), ConfigProblem::HttpTokenRequired));
        }
        Ok(Some(HttpConfig { bind: addr, token }))
    }

    fn read_durations(&self, config: &mut Config, source: &Source<'_>) -> Result<(), ConfigError> {
        let durations = [
            (
                &self.poll_interval,
                &mut config.poll_interval,
                "poll_interval",
            ),
            (
                &self.notice_interval,
                &mut config.notice_interval,
                "notice_interval",
            ),
            (
                &self.connect_timeout,
                &mut config.connect_timeout,
                "connect_timeout",
            ),
            (
                &self.request_timeout,
                &mut config.request_timeout,
                "request_timeout",
            ),
            (
                &self.fetch_timeout,
                &mut config.fetch_timeout,
                "fetch_timeout",
            ),
            (&self.min_backoff, &mut config.min_backoff, "min_backoff"),
            (&self.max_backoff, &mut config.max_backoff, "max_backoff"),
        ];
        for (value, slot, key) in durations {
            let Some(value) = value else { continue };
            let duration = value.get_ref().parse().map_err(|e| {
                source.error_at(value.span(), ConfigProblem::Unit { key, source: e })
            })?;
            if duration.is_zero() {
                return Err(source.error_at(value.span(), ConfigProblem::Zero { key }));
            }
            *slot = duration;
        }
        if config.min_backoff > config.max_backoff {
            let span = raw_span(&self.min_backoff, &self.max_backoff);
            return Err(source.error_at(span, ConfigProblem::BackoffOrder));
        }
        Ok(())
    }

    fn read_numbers(&self, config: &mut Config, source: &Source<'_>) -> Result<(), ConfigError> {
        let out_of_range =
            |span, key, range| source.error_at(span, ConfigProblem::OutOfRange { key, range });
        if let Some(value) = &self.concurrency {
            config.concurrency = usize::try_from(*value.get_ref())
                .ok()
                .filter(|n| (1..=4096).contains(n))
                .ok_or_else(|| out_of_range(value.span(), "concurrency", "1 to 4096"))?;
        }
        if let Some(value) = &self.page_size {
            config.page_size = u32::try_from(*value.get_ref())
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| out_of_range(value.span(), "page_size", "1 to 10000"))?;
        }
        let size = |value: &Spanned<RawSize>, key| {
            value
                .get_ref()
                .parse()
                .map_err(|e| source.error_at(value.span(), ConfigProblem::Unit { key, source: e }))
        };
        if let Some(value) = &self.chunk_size {
            let bytes = size(value, "chunk_size")?;
            let chunk = u32::try_from(bytes)
                .ok()
                .filter(|n| (1024..=8 * 1024 * 1024).contains(n))
                .ok_or_else(|| out_of_range(value.span(), "chunk_size", "1 KiB to 8 MiB"))?;
            config.chunk_size = Some(chunk);
        }
        if let Some(value) = &self.max_incident_size {
            config.max_incident_size = match size(value, "max_incident_size")? {
                0 => {
                    return Err(source.error_at(
                        value.span(),
                        ConfigProblem::Zero {
                            key: "max_incident_size",
                        },
                    ))
                }
                bytes => bytes,
            };
        }
        Ok(())
    }
}

impl Config {
    /// The config file of a base directory.
    pub fn path_in(basedir: &Path) -> PathBuf {
        basedir.join(CONFIG_FILE)
    }

    /// Reads `BASEDIR/gatherer.toml`.
    pub fn load(basedir: impl AsRef<Path>) -> Result<Config, ConfigError> {
        Config::from_file(Config::path_in(basedir.as_ref()))
    }

    /// Reads a config file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text, path)
    }

    /// Parses the text of a config file; `path` names it in errors.
    pub fn from_toml(text: &str, path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let source = Source {
            path: path.as_ref(),
            text,
        };
        let raw: RawConfig = source.parse()?;
        let mut config = Config::default();
        for url in &raw.publishers {
            let parsed = url
                .get_ref()
                .trim()
                .parse::<LogportUrl>()
                .map_err(|e| source.error_at(url.span(), ConfigProblem::Url(e)))?;
            config.publishers.push(parsed);
        }
        if let Some(dir) = &raw.publishers_dir {
            config.publishers_dir = PathBuf::from(dir);
        }
        if let Some(subscribe) = raw.subscribe {
            config.subscribe = subscribe;
        }
        if let Some(listen) = &raw.listen {
            let addr = listen.get_ref().trim().parse().map_err(|_| {
                source.error_at(
                    listen.span(),
                    ConfigProblem::Listen(listen.get_ref().clone()),
                )
            })?;
            config.listen = Some(addr);
        }
        config.advertise = raw.advertise.clone();
        raw.read_durations(&mut config, &source)?;
        raw.read_numbers(&mut config, &source)?;
        config.http = raw.read_http(&source)?;
        config.classifier = compile_rules(raw.rule, &source)?;
        if let Some(events) = raw.events {
            config.events = Some(events.compile(&source)?);
        }
        config.storage = compile_storage(raw.storage.as_ref(), raw.s3, &source)?;
        if let Some(logport) = raw.logport {
            let span = logport.span();
            if config.events.is_none() {
                return Err(source.error_at(span, ConfigProblem::LogportWithoutEvents));
            }
            config.logport = Some(logport.into_inner().compile(&source)?);
        }
        Ok(config)
    }

    /// The publishers folder, resolved against the base directory.
    pub fn publishers_dir_in(&self, basedir: &Path) -> PathBuf {
        basedir.join(&self.publishers_dir)
    }
}

/// The span of whichever of two optional values is present, for an error
/// about their combination.
fn raw_span<T>(first: &Option<Spanned<T>>, second: &Option<Spanned<T>>) -> std::ops::Range<usize> {
    first
        .as_ref()
        .or(second.as_ref())
        .map_or(0..0, Spanned::span)
}

/// The documented config file that [`create`] writes.
pub const CONFIG_TEMPLATE: &str = r#"# flog-gatherer configuration.
#
# Run `flog-gatherer run BASEDIR` to gather incidents from the publishers
# below; send SIGHUP after changing the [[rule]]s to reclassify everything.
# Durations are a number of seconds or text like "500ms", "30s", "5m", "1h";
# sizes are a number of bytes or text like "64 KiB", "256 MiB".

# Logport URLs of publishers, as in each publisher's `logport` file:
# flogs://KEY@HOST:PORT/PUBLISHER-ID/SECRET (TLS, the publisher's key pinned),
# or flog+insecure://HOST:PORT/PUBLISHER-ID/SECRET for a publisher explicitly
# made plaintext. The URL holds the secret, so keep this file private.
publishers = [
    # "flogs://4oymiquy7qobjgx36tejs35zeqt24qpemsnzgtfeswmrw6csxbkq@10.0.0.5:4817/web-1/0123456789abcdef",
]

# More publishers: every file in this folder (relative to BASEDIR) holds one
# logport URL, e.g. a copy of a publisher's `logport` file. Files are picked
# up, changed or dropped at every poll round; names starting with "." are
# ignored.
publishers_dir = "publishers"

# How often each publisher is asked for new incidents.
poll_interval = "60s"

# Subscribe to incident notices so new incidents are fetched at once; polling
# remains the fallback.
subscribe = true

# Notices bring a publisher's next round forward: ten at once, then one per
# this interval, however many notices come.
notice_interval = "1s"

# How many publishers are talked to at once.
concurrency = 16

# Timeouts: connecting (with the hello), each reply or chunk, a whole fetch.
connect_timeout = "10s"
request_timeout = "30s"
fetch_timeout = "10m"

# Waits before reconnecting to a failing publisher: the first, doubling (with
# jitter) up to the longest.
min_backoff = "1s"
max_backoff = "5m"

# Incidents larger than this are refused (and skipped).
max_incident_size = "256 MiB"

# Incidents per listing page (1..10000). A publisher answering with a longer
# page breaks the protocol, and is treated as failing.
page_size = 500

# The largest chunk to ask for when fetching (default: the publisher's
# choice). A fetch cut by a broken connection resumes after the last whole
# chunk, so smaller chunks lose less on flaky links.
# chunk_size = "256 KiB"

# Listen for publishers that dial out to this gatherer (off unless set). The
# gatherer's key, id and registration secret are created in BASEDIR on the
# first start, and BASEDIR/gatherer-url (mode 0600) holds the flogs:// URL to
# give publishers (FLOG_GATHERERS, or the publisher builder's `gatherer`).
# advertise is the host written in that URL (default: the listening address).
# listen = "0.0.0.0:4818"
# advertise = "gatherer.example.com"

# The dashboard (off unless set): the fleet, recent incidents, trends, an
# Atom feed, JSON under /api and Prometheus metrics at /metrics, served by
# `flog-gatherer run` at this address. Anything but a loopback address needs
# http_token (16 or more of A-Z a-z 0-9 - . _ ~), which every request must
# carry (?token=..., or Authorization: Bearer ...).
# http = "127.0.0.1:8480"
# http_token = "a-long-random-token"

# Classification. Each stored incident is listed in BASEDIR/classified/all,
# in classified/CATEGORY for every rule its trigger event matches, and in
# classified/unknown when none does. All conditions of a rule must hold;
# leave out the ones you do not need.
#
# [[rule]]
# category = "database"          # file name: A-Z a-z 0-9 . _ -
# facility = "app.db"            # the facility or below it (app.db.pool)
# min_level = "WEIRD"            # a level name or number
# message = "pool (exhausted|closed)"  # regex on raw and rendered text
# fields = { host = "db1" }      # fields equal to these values

# Where incidents are stored: "dir" (BASEDIR/incidents, BASEDIR/classified)
# or "s3", an S3-compatible bucket that several gatherers may share (same
# layout under the prefix). Credentials not given in [s3] come from
# AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; the endpoint and region from
# AWS_ENDPOINT_URL and AWS_REGION. See docs/gatherer.md, "Sharing a bucket".
# storage = "dir"
#
# [s3]
# bucket = "flog"
# prefix = "fleet-1"             # default: the bucket's root
# endpoint = "http://127.0.0.1:9000"   # default: AWS
# region = "us-east-1"
# access_key_id = "..."          # default: AWS_ACCESS_KEY_ID
# secret_access_key = "..."      # default: AWS_SECRET_ACCESS_KEY
# lease = "30s"                  # a dead gatherer's publishers move on within about this
# dashboard_refresh = "5s"       # the dashboard reads the whole fleet from the bucket at most this often

# The gatherer's own logport (off without this section; needs [events]):
# `flogtool tail BASEDIR` (or the flogs:// URL in BASEDIR/logport, mode 0600)
# shows the merged live stream of every gathered event, with its origin;
# `--catch-up` starts with the current events file. TLS with the gatherer's
# key; its secret is BASEDIR/logport-secret. See docs/gatherer.md.
#
# [logport]
# listen = "127.0.0.1:4819"
# advertise = "gatherer.example.com"   # default: the listening address
# queue_memory = "4 MiB"         # per subscriber; beyond it, counted drops
# max_connections = 64

# Event gathering (foolscap's log-gatherer): every event of the publishers,
# as it arrives, into BASEDIR/events/from-<T1>---to-present.flog, rotated
# and compressed. Off without this section; see docs/gatherer.md.
#
# [events]
# min_level = "OPERATIONAL"      # default: every level
# rotate = "1h"                  # false: never by time
# rotate_size = "256 MiB"        # default: no size limit
# compress = true
# keep_files = 168               # default: keep all
# keep_bytes = "50 GiB"          # default: keep all
# keep_age = "30d"               # default: keep all, whatever their age
# queue_memory = "16 MiB"        # per publisher, waiting for the disk
# spool_bytes = "4 GiB"          # storage = "s3": closed files waiting for upload
# upload_part_size = "8 MiB"     # storage = "s3": larger files go in parts
# publishers = ["web-1"]         # ids; default: every publisher
#
# [[events.level]]               # the most specific rule decides
# publisher = "db-1"             # optional
# facility = "app.db"            # optional: the facility or below it
# min_level = "WEIRD"
"#;

/// Creates a base directory with a documented config file and an empty
/// publishers folder. Refuses to overwrite an existing config file.
pub fn create(basedir: impl AsRef<Path>) -> Result<PathBuf, GatherError> {
    let basedir = basedir.as_ref();
    fs::create_dir_all(basedir).map_err(GatherError::io("create directory", basedir))?;
    let path = Config::path_in(basedir);
    if path.exists() {
        return Err(GatherError::AlreadyExists { path });
    }
    let publishers = basedir.join(PUBLISHERS_DIR);
    fs::create_dir_all(&publishers).map_err(GatherError::io("create directory", &publishers))?;
    flog_core::fs::write_private_atomically(&path, CONFIG_TEMPLATE.as_bytes())
        .map_err(GatherError::io("write", &path))?;
    Ok(path)
}

#[cfg(test)]
mod tests;
