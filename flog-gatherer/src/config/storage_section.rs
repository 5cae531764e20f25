//! `storage` and the `[s3]` section of `gatherer.toml`: where incidents are
//! stored (docs/gatherer.md, "Sharing a bucket").

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::error::{ConfigError, ConfigProblem, Source};
use crate::units::RawDuration;

/// Where stored incidents and their classification lists live.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Storage {
    /// In the base directory (`storage = "dir"`, the default).
    #[default]
    Dir,
    /// In an S3-compatible bucket, with the same layout under a prefix
    /// (`storage = "s3"` and an `[s3]` section). Several gatherers may
    /// share one.
    S3(S3Config),
}

/// How often at most a dashboard reads the shared bucket, by default.
pub(crate) const DASHBOARD_REFRESH: Duration = Duration::from_secs(5);

/// An S3-compatible bucket (`[s3]`). Credentials not given here come the
/// standard ways: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (and
/// `AWS_SESSION_TOKEN`), and likewise `AWS_ENDPOINT_URL`, `AWS_REGION`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct S3Config {
    /// The bucket's name.
    pub bucket: String,
    /// The key prefix everything goes under (`fleet-1`: then
    /// `fleet-1/incidents/...`); empty: the bucket's root.
    pub prefix: String,
    /// The server's URL (`http://127.0.0.1:9000`); `None`: AWS, or
    /// `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
    /// The region; `None`: `AWS_REGION`, else `us-east-1`.
    pub region: Option<String>,
    /// The access key id; `None`: `AWS_ACCESS_KEY_ID`.
    pub access_key_id: Option<String>,
    /// The secret access key; `None`: `AWS_SECRET_ACCESS_KEY`. Never
    /// logged, never shown.
    pub secret_access_key: Option<String>,
    /// How long a gatherer's lease on a publisher lasts unless renewed
    /// (every third of it): a dead gatherer's publishers are taken over
    /// within about this. Default 30 s.
    pub lease: Duration,
    /// How often at most the dashboard reads the bucket for the whole
    /// fleet (publishers, leases, gatherers, incidents). Default 5 s.
    pub dashboard_refresh: Duration,
}

impl S3Config {
    /// The bucket `bucket`, at its root, everything else from the
    /// environment.
    pub fn new(bucket: impl Into<String>) -> S3Config {
        S3Config {
            bucket: bucket.into(),
            prefix: String::new(),
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            lease: Duration::from_secs(30),
            dashboard_refresh: DASHBOARD_REFRESH,
        }
    }

    /// `s3://BUCKET/PREFIX`, for messages.
    pub fn shown(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret key is a secret: never in logs.
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("lease", &self.lease)
            .field("dashboard_refresh", &self.dashboard_refresh)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// `[s3]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawS3 {
    bucket: Spanned<String>,
    prefix: Option<Spanned<String>>,
    endpoint: Option<String>,
    region: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    lease: Option<Spanned<RawDuration>>,
    dashboard_refresh: Option<Spanned<RawDuration>>,
}

/// `storage` with `[s3]`: `"dir"` (or nothing) needs no section, `"s3"`
/// needs one, and a section without `storage = "s3"` is a mistake.
pub(crate) fn compile_storage(
    storage: Option<&Spanned<String>>,
    s3: Option<Spanned<RawS3>>,
    source: &Source<'_>,
) -> Result<Storage, ConfigError> {
    let kind = storage.map(|s| (s.get_ref().as_str(), s.span()));
    match (kind, s3) {
        (None | Some(("dir", _)), None) => Ok(Storage::Dir),
        (None | Some(("dir", _)), Some(s3)) => {
            Err(source.error_at(s3.span(), ConfigProblem::S3WithoutStorage))
        }
        (Some(("s3", span)), None) => Err(source.error_at(span, ConfigProblem::S3Missing)),
        (Some(("s3", _)), Some(s3)) => Ok(Storage::S3(s3.into_inner().compile(source)?)),
        (Some((other, span)), _) => {
            Err(source.error_at(span, ConfigProblem::Storage(other.to_owned())))
        }
    }
}

impl RawS3 {
    fn compile(self, source: &Source<'_>) -> Result<S3Config, ConfigError> {
        let bucket = self.bucket.get_ref().trim();
        if !is_valid_bucket_name(bucket) {
            return Err(source.error_at(self.bucket.span(), ConfigProblem::S3Bucket));
        }
        let mut config = S3Config::new(bucket);
        if let Some(prefix) = &self.prefix {
            let text = prefix.get_ref().trim().trim_matches('/');
            if !text.is_empty() && !is_valid_key_path(text) {
                return Err(source.error_at(prefix.span(), ConfigProblem::S3Prefix));
            }
            config.prefix = text.to_owned();
        }
        config.endpoint = self.endpoint;
        config.region = self.region;
        config.access_key_id = self.access_key_id;
        config.secret_access_key = self.secret_access_key;
        if let Some(lease) = &self.lease {
            let key = "lease";
            let duration: Duration = lease.get_ref().parse().map_err(|e| {
                source.error_at(lease.span(), ConfigProblem::Unit { key, source: e })
            })?;
            if duration < Duration::from_secs(1) {
                let range = "1s up";
                return Err(source.error_at(lease.span(), ConfigProblem::OutOfRange { key, range }));
            }
            config.lease = duration;
        }
        if let Some(refresh) = &self.dashboard_refresh {
            let key = "dashboard_refresh";
            let duration: Duration = refresh.get_ref().parse().map_err(|e| {
                source.error_at(refresh.span(), ConfigProblem::Unit { key, source: e })
            })?;
            if duration < Duration::from_millis(100) {
                let range = "100ms up";
                return Err(
                    source.error_at(refresh.span(), ConfigProblem::OutOfRange { key, range })
                );
            }
            config.dashboard_refresh = duration;
        }
        Ok(config)
    }
}

/// S3's own rule for bucket names, which also keeps a name out of a URL's
/// path and host syntax: 3 to 63 of `a-z 0-9 - .`.
pub(crate) fn is_valid_bucket_name(bucket: &str) -> bool {
    (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// Whether `path` is a prefix or key flog reads and writes: parts of
/// printable ASCII separated by `/`, none empty, `.` or `..` (so that it
/// names the same object however a client normalises it, and nothing
/// outside where it points).
pub(crate) fn is_valid_key_path(path: &str) -> bool {
    path.split('/').all(|part| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part.bytes().all(|b| b.is_ascii_graphic())
    })
}
