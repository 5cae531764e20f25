//! Logport URLs and the names that travel in them.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::fingerprint::KeyFingerprint;

const TLS_SCHEME: &str = "flogs://";
const INSECURE_SCHEME: &str = "flog+insecure://";
const PRE_TLS_SCHEME: &str = "flog://";

/// The longest publisher id accepted.
pub const MAX_PUBLISHER_ID_LEN: usize = 64;

/// The longest secret accepted.
pub const MAX_SECRET_LEN: usize = 128;

/// The longest incident name accepted.
pub const MAX_INCIDENT_NAME_LEN: usize = 200;

const MAX_HOST_LEN: usize = 253;
const INCIDENT_PREFIX: &str = "incident-";

/// Where a publisher's logport is and how to authenticate it and to it:
/// `flogs://KEY@HOST:PORT/<publisher-id>/<secret>`.
///
/// `KEY` is the [`KeyFingerprint`] of the publisher's TLS key: a client
/// refuses a server that does not hold it, before sending anything.
/// `flog+insecure://HOST:PORT/<publisher-id>/<secret>` is the explicit
/// plaintext form, with no key. A `flog://` URL (no key, from before TLS) is
/// refused with [`UrlError::PreTlsUrl`], whose message says where the new
/// URL is: it is never taken for plaintext.
///
/// Anyone holding the URL can read the publisher's incidents and events, so
/// `Debug` hides the secret and [`redacted`](LogportUrl::redacted) displays
/// the URL for logs; `Display` writes the whole URL, secret included, so that
/// it can be handed to a client.
///
/// ```
/// use flog_wire::{LogportUrl, Security};
///
/// let key = "4oymiquy7qobjgx36tejs35zeqt24qpemsnzgtfeswmrw6csxbkq";
/// let url: LogportUrl = format!("flogs://{key}@[::1]:4817/web-1/s3cr3t").parse()?;
/// assert_eq!(url.host(), "::1");
/// assert_eq!(url.port(), 4817);
/// assert_eq!(url.key().map(|k| k.to_string()).as_deref(), Some(key));
/// assert_eq!(url.to_string(), format!("flogs://{key}@[::1]:4817/web-1/s3cr3t"));
/// assert_eq!(
///     url.redacted().to_string(),
///     format!("flogs://{key}@[::1]:4817/web-1/<secret>")
/// );
///
/// let plain: LogportUrl = "flog+insecure://127.0.0.1:4817/web-1/s3cr3t".parse()?;
/// assert_eq!(plain.security(), Security::Insecure);
/// # Ok::<(), flog_wire::UrlError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LogportUrl {
    security: Security,
    host: String,
    port: u16,
    publisher_id: String,
    secret: String,
}

/// How a [`LogportUrl`] protects its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Security {
    /// `flogs://`: TLS 1.3, and the server must hold the key with this
    /// fingerprint.
    Tls(KeyFingerprint),
    /// `flog+insecure://`: plaintext TCP, asked for explicitly. Anyone on
    /// the path can read the secret and everything served.
    Insecure,
}

/// Why a logport URL, or a part of one, was refused.
///
/// The messages never quote the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The URL does not start with `flogs://` or `flog+insecure://`.
    #[error("a logport URL starts with flogs:// (or flog+insecure:// for plaintext)")]
    BadScheme,
    /// A `flog://` URL: from before TLS, it names no key to check the
    /// publisher against.
    #[error(
        "flog:// URLs are from before TLS and name no publisher key: use the flogs:// URL \
         in the publisher's logport file (flog+insecure:// connects without TLS, insecurely)"
    )]
    PreTlsUrl,
    /// A `flogs://` URL without `KEY@` before the host.
    #[error("a flogs:// URL names the server's key: flogs://KEY@HOST:PORT/ID/SECRET")]
    MissingKey,
    /// The `KEY@` part is not a valid [`KeyFingerprint`].
    #[error(transparent)]
    BadKey(#[from] crate::fingerprint::FingerprintError),
    /// A `flog+insecure://` URL with `KEY@`: plaintext cannot check a key.
    #[error("a flog+insecure:// URL has no KEY@ (plaintext cannot check a key); use flogs://")]
    KeyInInsecureUrl,
    /// The host is empty, not a valid host name, or not a valid IP address.
    #[error("invalid host {host:?}: {reason}")]
    BadHost {
        /// The host as given (never the secret).
        host: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The `:PORT` is missing.
    #[error("a logport URL needs a port after the host")]
    MissingPort,
    /// The port is not a number from 1 to 65535.
    #[error("invalid port {0:?}: a port is a number from 1 to 65535")]
    BadPort(String),
    /// The path is not exactly `/<publisher-id>/<secret>`.
    #[error("a logport URL's path is /<publisher-id>/<secret>")]
    BadPath,
    /// The publisher id is empty, too long, or has characters outside
    /// `[A-Za-z0-9_-]`.
    #[error("invalid publisher id: use 1 to {MAX_PUBLISHER_ID_LEN} of A-Z a-z 0-9 _ -")]
    BadPublisherId,
    /// The secret is empty, too long, or has characters outside
    /// `[A-Za-z0-9_-]`.
    #[error("invalid secret: use 1 to {MAX_SECRET_LEN} of A-Z a-z 0-9 _ -")]
    BadSecret,
}

impl LogportUrl {
    /// Builds a `flogs://` URL: TLS, and the server must hold `key`.
    /// The parts are validated as [`parse`](Self::parse) does; `host` is a
    /// host name, an IPv4 address, or an IPv6 address without brackets.
    pub fn tls(
        key: KeyFingerprint,
        host: impl Into<String>,
        port: u16,
        publisher_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Result<Self, UrlError> {
        Self::new(Security::Tls(key), host, port, publisher_id, secret)
    }

    /// Builds a `flog+insecure://` URL: plaintext, explicitly.
    pub fn insecure(
        host: impl Into<String>,
        port: u16,
        publisher_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Result<Self, UrlError> {
        Self::new(Security::Insecure, host, port, publisher_id, secret)
    }

    /// Builds a URL of either kind from its parts, validated as
    /// [`parse`](Self::parse) does: e.g. the same publisher reached at
    /// another address (through a relay or a NAT), keeping its key.
    pub fn new(
        security: Security,
        host: impl Into<String>,
        port: u16,
        publisher_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Result<Self, UrlError> {
        let host = host.into();
        if host.contains(':') {
            validate_ipv6(&host)?;
        } else {
            validate_host(&host)?;
        }
        if port == 0 {
            return Err(UrlError::BadPort("0".into()));
        }
        let publisher_id = publisher_id.into();
        if !is_valid_publisher_id(&publisher_id) {
            return Err(UrlError::BadPublisherId);
        }
        let secret = secret.into();
        if !is_valid_secret(&secret) {
            return Err(UrlError::BadSecret);
        }
        Ok(Self {
            security,
            host,
            port,
            publisher_id,
            secret,
        })
    }

    /// Parses `flogs://KEY@HOST:PORT/<publisher-id>/<secret>` or
    /// `flog+insecure://HOST:PORT/<publisher-id>/<secret>`, where KEY is a
    /// [`KeyFingerprint`] and HOST a host name, an IPv4 address or a
    /// bracketed IPv6 address. Nothing else is accepted: no other user info,
    /// query, fragment, percent-encoding or trailing slash.
    ///
    /// A pre-TLS `flog://HOST:PORT/<publisher-id>/<secret>` is refused with
    /// [`UrlError::PreTlsUrl`], whose message tells where the new URL is.
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        let (security, rest) = if let Some(rest) = text.strip_prefix(TLS_SCHEME) {
            let authority = rest.split('/').next().unwrap_or_default();
            let (key, _) = authority.split_once('@').ok_or(UrlError::MissingKey)?;
            (
                Security::Tls(KeyFingerprint::parse(key)?),
                &rest[key.len() + 1..],
            )
        } else if let Some(rest) = text.strip_prefix(INSECURE_SCHEME) {
            if rest.split('/').next().unwrap_or_default().contains('@') {
                return Err(UrlError::KeyInInsecureUrl);
            }
            (Security::Insecure, rest)
        } else if text.starts_with(PRE_TLS_SCHEME) {
            return Err(UrlError::PreTlsUrl);
        } else {
            return Err(UrlError::BadScheme);
        };
        let (authority, path) = rest.split_once('/').ok_or(UrlError::BadPath)?;
        let (host, port) = split_host_port(authority)?;
        let (publisher_id, secret) = path.split_once('/').ok_or(UrlError::BadPath)?;
        if secret.contains('/') || publisher_id.is_empty() || secret.is_empty() {
            return Err(UrlError::BadPath);
        }
        Self::new(security, host, port, publisher_id, secret)
    }

    /// How the connection is protected.
    pub fn security(&self) -> Security {
        self.security
    }

    /// The fingerprint of the key the server must hold, for a `flogs://`
    /// URL.
    pub fn key(&self) -> Option<KeyFingerprint> {
        match self.security {
            Security::Tls(key) => Some(key),
            Security::Insecure => None,
        }
    }

    /// The host name or IP address (an IPv6 address without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The publisher's id.
    pub fn publisher_id(&self) -> &str {
        &self.publisher_id
    }

    /// The secret that authenticates a client to the publisher.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// `HOST:PORT`, with IPv6 addresses bracketed, e.g. for a connect error.
    pub fn authority(&self) -> String {
        format!("{}:{}", BracketedHost(&self.host), self.port)
    }

    /// Displays the URL with the secret replaced by `<secret>`, for logs.
    pub fn redacted(&self) -> Redacted<'_> {
        Redacted(self)
    }
}

impl FromStr for LogportUrl {
    type Err = UrlError;

    fn from_str(text: &str) -> Result<Self, UrlError> {
        Self::parse(text)
    }
}

impl fmt::Display for LogportUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_url(f, self, &self.secret)
    }
}

/// Writes `url` with `secret` in the place of its secret, so that the whole
/// and the redacted form cannot drift apart.
fn write_url(f: &mut fmt::Formatter<'_>, url: &LogportUrl, secret: &str) -> fmt::Result {
    match url.security {
        Security::Tls(key) => write!(f, "{TLS_SCHEME}{key}@")?,
        Security::Insecure => f.write_str(INSECURE_SCHEME)?,
    }
    write!(
        f,
        "{}:{}/{}/{secret}",
        BracketedHost(&url.host),
        url.port,
        url.publisher_id
    )
}

impl fmt::Debug for LogportUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogportUrl")
            .field("security", &self.security)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("publisher_id", &self.publisher_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A [`LogportUrl`] displayed without its secret; see [`LogportUrl::redacted`].
#[derive(Debug, Clone, Copy)]
pub struct Redacted<'a>(&'a LogportUrl);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_url(f, self.0, "<secret>")
    }
}

struct BracketedHost<'a>(&'a str);

impl fmt::Display for BracketedHost<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.contains(':') {
            write!(f, "[{}]", self.0)
        } else {
            f.write_str(self.0)
        }
    }
}

fn split_host_port(authority: &str) -> Result<(&str, u16), UrlError> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| UrlError::BadHost {
            host: authority.into(),
            reason: "missing ] after an IPv6 address",
        })?;
        let port = after.strip_prefix(':').ok_or(if after.is_empty() {
            UrlError::MissingPort
        } else {
            UrlError::BadHost {
                host: authority.into(),
                reason: "unexpected text after ]",
            }
        })?;
        validate_ipv6(host)?;
        (host, port)
    } else {
        let (host, port) = authority.rsplit_once(':').ok_or(UrlError::MissingPort)?;
        if host.contains(':') {
            return Err(UrlError::BadHost {
                host: host.into(),
                reason: "an IPv6 address must be in brackets",
            });
        }
        (host, port)
    };
    Ok((host, parse_port(port)?))
}

fn parse_port(text: &str) -> Result<u16, UrlError> {
    let bad = || UrlError::BadPort(text.chars().take(16).collect());
    // u16::from_str alone would accept a leading '+'; leading zeros would
    // make two spellings of one URL.
    if text.is_empty()
        || text.len() > 5
        || text.starts_with('0')
        || !text.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    text.parse::<u16>().map_err(|_| bad())
}

fn validate_ipv6(host: &str) -> Result<(), UrlError> {
    host.parse::<Ipv6Addr>()
        .map(drop)
        .map_err(|_| UrlError::BadHost {
            host: host.into(),
            reason: "not a valid IPv6 address",
        })
}

/// Accepts DNS host names (RFC 1123 labels) and dotted IPv4 addresses.
fn validate_host(host: &str) -> Result<(), UrlError> {
    let bad = |reason| {
        Err(UrlError::BadHost {
            host: host.chars().take(MAX_HOST_LEN + 1).collect(),
            reason,
        })
    };
    if host.is_empty() {
        return bad("empty");
    }
    if host.len() > MAX_HOST_LEN {
        return bad("longer than 253 characters");
    }
    let labels: Vec<&str> = host.split('.').collect();
    for label in &labels {
        if label.is_empty() || label.len() > 63 {
            return bad("each dot-separated label has 1 to 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return bad("only letters, digits, '-' and '.' are allowed");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a label cannot start or end with '-'");
        }
    }
    let numeric = labels
        .iter()
        .all(|label| label.bytes().all(|b| b.is_ascii_digit()));
    // A name of digits and dots can only mean an IPv4 address, so it must be
    // one: 999.1.1.1 or 127.1 would otherwise reach the resolver.
    if numeric && host.parse::<Ipv4Addr>().is_err() {
        return bad("not a valid IPv4 address");
    }
    Ok(())
}

fn is_token(text: &str, max_len: usize) -> bool {
    !text.is_empty()
        && text.len() <= max_len
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether `id` can be a publisher id: 1 to [`MAX_PUBLISHER_ID_LEN`]
/// characters of `[A-Za-z0-9_-]`.
pub fn is_valid_publisher_id(id: &str) -> bool {
    is_token(id, MAX_PUBLISHER_ID_LEN)
}

fn is_valid_secret(secret: &str) -> bool {
    is_token(secret, MAX_SECRET_LEN)
}

/// Whether `name` is a valid incident name: `incident-` followed by at least
/// one of `[A-Za-z0-9._-]`, at most [`MAX_INCIDENT_NAME_LEN`] characters in
/// all, without `..`.
///
/// Publishers use incident names as file names, so this is what keeps a
/// requested name inside the incident directory: no separators, no parent
/// references, no hidden files.
///
/// ```
/// use flog_wire::is_valid_incident_name;
///
/// assert!(is_valid_incident_name("incident-2024-05-01--12-00-00Z-x7.flog.bz2"));
/// assert!(!is_valid_incident_name("incident-../../etc/passwd"));
/// ```
pub fn is_valid_incident_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(INCIDENT_PREFIX) else {
        return false;
    };
    !rest.is_empty()
        && name.len() <= MAX_INCIDENT_NAME_LEN
        && !name.contains("..")
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests;
