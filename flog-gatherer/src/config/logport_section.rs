//! The `[logport]` section of `gatherer.toml`: the gatherer serves what it
//! gathers as a logport of its own (docs/gatherer.md, "A logport of its
//! own").

use std::net::SocketAddr;

use serde::Deserialize;
use toml::Spanned;

use crate::error::{ConfigError, ConfigProblem, Source};
use crate::units::RawSize;

/// The gatherer's own logport: `flogtool tail` on it shows the merged live
/// stream of every gathered event, with its origin. Present when
/// `gatherer.toml` has a `[logport]` section; needs `[events]`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LogportConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The host written in `BASEDIR/logport`'s URL. Default: the listening
    /// address (127.0.0.1 if it is unspecified).
    pub advertise: Option<String>,
    /// Bytes of events one subscriber may have waiting to be sent; beyond
    /// that its events are dropped and counted (`events_dropped`). Default
    /// 4 MiB.
    pub queue_memory: usize,
    /// Connections served at once; more are told `busy`. Default 64.
    pub max_connections: usize,
}

impl LogportConfig {
    /// A logport on `listen` with the default limits.
    pub fn new(listen: SocketAddr) -> LogportConfig {
        LogportConfig {
            listen,
            advertise: None,
            queue_memory: 4 * 1024 * 1024,
            max_connections: 64,
        }
    }
}

/// `[logport]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLogport {
    listen: Spanned<String>,
    advertise: Option<String>,
    queue_memory: Option<Spanned<RawSize>>,
    max_connections: Option<Spanned<i64>>,
}

impl RawLogport {
    pub(crate) fn compile(self, source: &Source<'_>) -> Result<LogportConfig, ConfigError> {
        let listen = self.listen.get_ref().trim().parse().map_err(|_| {
            let text = self.listen.get_ref().clone();
            source.error_at(self.listen.span(), ConfigProblem::Listen(text))
        })?;
        let mut config = LogportConfig::new(listen);
        config.advertise = self.advertise;
        if let Some(raw) = &self.queue_memory {
            let key = "queue_memory";
            let bytes: u64 = raw
                .get_ref()
                .parse()
                .map_err(|e| source.error_at(raw.span(), ConfigProblem::Unit { key, source: e }))?;
            config.queue_memory = usize::try_from(bytes)
                .ok()
                .filter(|n| *n >= 1024)
                .ok_or_else(|| {
                    let range = "1 KiB up";
                    source.error_at(raw.span(), ConfigProblem::OutOfRange { key, range })
                })?;
        }
        if let Some(raw) = &self.max_connections {
            config.max_connections = usize::try_from(*raw.get_ref())
                .ok()
                .filter(|n| (1..=4096).contains(n))
                .ok_or_else(|| {
                    let (key, range) = ("max_connections", "1 to 4096");
                    source.error_at(raw.span(), ConfigProblem::OutOfRange { key, range })
                })?;
        }
        Ok(config)
    }
}
