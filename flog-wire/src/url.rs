//! Logport URLs and the names that travel in them.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

const SCHEME: &str = "flog://";

/// The longest publisher id accepted.
pub const MAX_PUBLISHER_ID_LEN: usize = 64;

/// The longest secret accepted.
pub const MAX_SECRET_LEN: usize = 128;

/// The longest incident name accepted.
pub const MAX_INCIDENT_NAME_LEN: usize = 200;

const MAX_HOST_LEN: usize = 253;
const INCIDENT_PREFIX: &str = "incident-";

/// Where a publisher's logport is and how to authenticate to it:
/// `flog://HOST:PORT/<publisher-id>/<secret>`.
///
/// Anyone holding the URL can read the publisher's incidents and events, so
/// `Debug` hides the secret and [`redacted`](LogportUrl::redacted) displays
/// the URL for logs; `Display` writes the whole URL, secret included, so that
/// it can be handed to a client.
///
/// ```
/// use flog_wire::LogportUrl;
///
/// let url: LogportUrl = "flog://[::1]:4817/web-1/s3cr3t".parse()?;
/// assert_eq!(url.host(), "::1");
/// assert_eq!(url.port(), 4817);
/// assert_eq!(url.to_string(), "flog://[::1]:4817/web-1/s3cr3t");
/// assert_eq!(url.redacted().to_string(), "flog://[::1]:4817/web-1/<secret>");
/// # Ok::<(), flog_wire::UrlError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LogportUrl {
    host: String,
    port: u16,
    publisher_id: String,
    secret: String,
}

/// Why a logport URL, or a part of one, was refused.
///
/// The messages never quote the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The URL does not start with `flog://`.
    #[error("a logport URL starts with flog://")]
    BadScheme,
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
    /// Builds a URL from its parts, validating each as [`parse`](Self::parse)
    /// does. `host` is a host name, an IPv4 address, or an IPv6 address
    /// without brackets.
    pub fn new(
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
            host,
            port,
            publisher_id,
            secret,
        })
    }

    /// Parses `flog://HOST:PORT/<publisher-id>/<secret>`, where HOST is a
    /// host name, an IPv4 address or a bracketed IPv6 address. Nothing else
    /// is accepted: no user info, query, fragment, percent-encoding or
    /// trailing slash.
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        let rest = text.strip_prefix(SCHEME).ok_or(UrlError::BadScheme)?;
        let (authority, path) = rest.split_once('/').ok_or(UrlError::BadPath)?;
        let (host, port) = split_host_port(authority)?;
        let (publisher_id, secret) = path.split_once('/').ok_or(UrlError::BadPath)?;
        if secret.contains('/') || publisher_id.is_empty() || secret.is_empty() {
            return Err(UrlError::BadPath);
        }
        Self::new(host, port, publisher_id, secret)
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
        write!(
            f,
            "{SCHEME}{}:{}/{}/{}",
            BracketedHost(&self.host),
            self.port,
            self.publisher_id,
            self.secret
        )
    }
}

impl fmt::Debug for LogportUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogportUrl")
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
        write!(
            f,
            "{SCHEME}{}:{}/{}/<secret>",
            BracketedHost(&self.0.host),
            self.0.port,
            self.0.publisher_id
        )
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
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn parses_host_names_and_addresses() {
        let url =
            LogportUrl::parse("flog://logs.example.com:4817/web-1/abc_DEF-123").expect("valid");
        assert_eq!(url.host(), "logs.example.com");
        assert_eq!(url.port(), 4817);
        assert_eq!(url.publisher_id(), "web-1");
        assert_eq!(url.secret(), "abc_DEF-123");
        assert_eq!(url.authority(), "logs.example.com:4817");

        let url = LogportUrl::parse("flog://127.0.0.1:1/p/s").expect("valid");
        assert_eq!(url.host(), "127.0.0.1");

        let url = LogportUrl::parse("flog://[fe80::1:2]:65535/p/s").expect("valid");
        assert_eq!(url.host(), "fe80::1:2");
        assert_eq!(url.port(), 65535);
        assert_eq!(url.authority(), "[fe80::1:2]:65535");
        assert_eq!(url.to_string(), "flog://[fe80::1:2]:65535/p/s");
    }

    #[test]
    fn secret_stays_out_of_debug_and_redacted() {
        let url = LogportUrl::parse("flog://h:1/pub/TOPSECRET").expect("valid");
        assert!(!format!("{url:?}").contains("TOPSECRET"));
        assert_eq!(url.redacted().to_string(), "flog://h:1/pub/<secret>");
        assert_eq!(url.to_string(), "flog://h:1/pub/TOPSECRET");
    }

    #[test]
    fn hostile_urls_are_rejected() {
        let cases: &[(&str, UrlError)] = &[
            ("", UrlError::BadScheme),
            ("http://h:1/p/s", UrlError::BadScheme),
            ("FLOG://h:1/p/s", UrlError::BadScheme),
            (" flog://h:1/p/s", UrlError::BadScheme),
            ("flog://h:1", UrlError::BadPath),
            ("flog://h:1/p", UrlError::BadPath),
            ("flog://h:1/p/", UrlError::BadPath),
            ("flog://h:1//s", UrlError::BadPath),
            ("flog://h:1/p/s/", UrlError::BadPath),
            ("flog://h:1/p/s/extra", UrlError::BadPath),
            ("flog://h/p/s", UrlError::MissingPort),
            ("flog://[::1]/p/s", UrlError::MissingPort),
            ("flog://h:0/p/s", UrlError::BadPort("0".into())),
            ("flog://h:65536/p/s", UrlError::BadPort("65536".into())),
            ("flog://h:+80/p/s", UrlError::BadPort("+80".into())),
            ("flog://h:/p/s", UrlError::BadPort(String::new())),
            ("flog://h:0080800/p/s", UrlError::BadPort("0080800".into())),
            ("flog://h:080/p/s", UrlError::BadPort("080".into())),
            ("flog://h:1/p.x/s", UrlError::BadPublisherId),
            ("flog://h:1/p/s%2F", UrlError::BadSecret),
            ("flog://h:1/p/s?x=1", UrlError::BadSecret),
            ("flog://h:1/p/s#frag", UrlError::BadSecret),
            ("flog://h:1/p/sé", UrlError::BadSecret),
            ("flog://h:1/p/s\n", UrlError::BadSecret),
        ];
        for (text, expected) in cases {
            assert_eq!(LogportUrl::parse(text).as_ref(), Err(expected), "{text:?}");
        }
        let bad_hosts = [
            "flog://:1/p/s",
            "flog://user@h:1/p/s",
            "flog://h_x:1/p/s",
            "flog://-h:1/p/s",
            "flog://h..x:1/p/s",
            "flog://h.:1/p/s",
            "flog://999.1.1.1:1/p/s",
            "flog://127.1:1/p/s",
            "flog://::1:1/p/s",
            "flog://[::1:1/p/s",
            "flog://[::1]x:1/p/s",
            "flog://[not-v6]:1/p/s",
            "flog://[fe80::1%eth0]:1/p/s",
            "flog://h x:1/p/s",
        ];
        for text in bad_hosts {
            assert!(
                matches!(LogportUrl::parse(text), Err(UrlError::BadHost { .. })),
                "{text:?}: {:?}",
                LogportUrl::parse(text)
            );
        }
        let long_label = format!("flog://{}:1/p/s", "a".repeat(64));
        assert!(matches!(
            LogportUrl::parse(&long_label),
            Err(UrlError::BadHost { .. })
        ));
        let long_id = format!("flog://h:1/{}/s", "p".repeat(MAX_PUBLISHER_ID_LEN + 1));
        assert_eq!(LogportUrl::parse(&long_id), Err(UrlError::BadPublisherId));
        let long_secret = format!("flog://h:1/p/{}", "s".repeat(MAX_SECRET_LEN + 1));
        assert_eq!(LogportUrl::parse(&long_secret), Err(UrlError::BadSecret));
    }

    #[test]
    fn errors_do_not_quote_the_secret() {
        for text in ["flog://h:1/p/TOP.SECRET", "flog://h:1/p.x/TOPSECRET"] {
            let error = LogportUrl::parse(text).expect_err("invalid");
            assert!(!error.to_string().contains("SECRET"), "{error}");
        }
    }

    #[test]
    fn new_validates_like_parse() {
        assert!(LogportUrl::new("::1", 5, "p", "s").is_ok());
        assert!(matches!(
            LogportUrl::new("[::1]", 5, "p", "s"),
            Err(UrlError::BadHost { .. })
        ));
        assert!(matches!(
            LogportUrl::new("h", 0, "p", "s"),
            Err(UrlError::BadPort(_))
        ));
        assert_eq!(
            LogportUrl::new("h", 1, "", "s"),
            Err(UrlError::BadPublisherId)
        );
        assert_eq!(
            LogportUrl::new("h", 1, "p", "a/b"),
            Err(UrlError::BadSecret)
        );
    }

    #[test]
    fn incident_names() {
        let good = [
            "incident-1",
            "incident-2024-05-01--12-00-00Z-x7.flog.bz2",
            "incident-a_b-C.d",
        ];
        for name in good {
            assert!(is_valid_incident_name(name), "{name:?}");
        }
        let long = format!("incident-{}", "x".repeat(MAX_INCIDENT_NAME_LEN - 8));
        let longest = &long[..MAX_INCIDENT_NAME_LEN];
        assert!(is_valid_incident_name(longest));
        let bad = [
            "",
            "incident-",
            "incident",
            "Incident-1",
            ".incident-1",
            "x-incident-1",
            "incident-..",
            "incident-a..b",
            "incident-../secret",
            "incident-a/b",
            "incident-a\\b",
            "incident-a b",
            "incident-a\0",
            "incident-é",
            "incident-1\n",
            "/incident-1",
            &long,
        ];
        for name in bad {
            assert!(!is_valid_incident_name(name), "{name:?}");
        }
    }

    #[test]
    fn publisher_ids() {
        assert!(is_valid_publisher_id("web-1_A"));
        assert!(!is_valid_publisher_id(""));
        assert!(!is_valid_publisher_id("a.b"));
        assert!(!is_valid_publisher_id(
            &"p".repeat(MAX_PUBLISHER_ID_LEN + 1)
        ));
    }

    fn arb_host() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z][a-z0-9-]{0,10}[a-z0-9](\\.[a-z][a-z0-9]{0,5}){0,3}",
            any::<[u8; 4]>().prop_map(|o| Ipv4Addr::from(o).to_string()),
            any::<[u16; 8]>().prop_map(|s| Ipv6Addr::from(s).to_string()),
        ]
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(
            host in arb_host(),
            port in 1..=u16::MAX,
            id in "[A-Za-z0-9_-]{1,64}",
            secret in "[A-Za-z0-9_-]{1,128}",
        ) {
            let url = LogportUrl::new(host, port, id, secret).expect("generated parts are valid");
            let text = url.to_string();
            prop_assert_eq!(LogportUrl::parse(&text), Ok(url));
        }

        #[test]
        fn parse_never_panics(text in "flog://.{0,40}") {
            let _ = LogportUrl::parse(&text);
        }

        #[test]
        fn valid_incident_names_have_no_path_tricks(name in "incident-[A-Za-z0-9._/\\\\-]{0,20}") {
            if is_valid_incident_name(&name) {
                let path = std::path::Path::new(&name);
                prop_assert_eq!(path.components().count(), 1);
                prop_assert!(!name.contains(".."));
            }
        }
    }
}
