//! Reading the bucket that gatherers write, as flogtool and its web view do:
//! a location `s3://BUCKET/PATH` names one flogfile (a key ending in
//! `.flog.bz2` or `.flog`) or every flogfile under a prefix, as a path names
//! a file or a directory. The credentials, endpoint and region come from
//! the environment (`AWS_*`), as for an `[s3]` section that gives none.
//!
//! What the bucket holds is outside input: one object is read only up to a
//! limit in bytes, a listing keeps a bounded number of keys, and keys that
//! are not flog's printable names are skipped and counted.

use std::fmt;

use bytes::Bytes;
use futures::StreamExt as _;
use object_store::path::Path as Key;
use object_store::ObjectStoreExt as _;

use crate::bucket::{Bucket, Limited};
use crate::config::{is_valid_bucket_name, is_valid_key_path, S3Config};
use crate::error::{BucketError, CredentialsAdvice, LocationError};
use flog_core::flogfile::{FINISHED_SUFFIX, RECORDING_SUFFIX};

/// The most bytes [`BucketReader::read`] callers should take of one object:
/// far above any incident report (bounded buffers and trailing events),
/// room for a large rotated event file.
pub const MAX_OBJECT_BYTES: u64 = 256 << 20;

/// The most flogfiles one listing under a prefix keeps (about 100 bytes
/// each): a whole fleet's prefix of a long-lived bucket is an error that
/// asks for a narrower one, not a listing that fills memory.
pub const MAX_LISTED: usize = 100_000;

const SCHEME: &str = "s3://";

/// `s3://BUCKET/PATH`: one object of a bucket, or a prefix of its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketLocation {
    bucket: String,
    path: String,
}

impl BucketLocation {
    /// Whether `text` is meant as a bucket location (starts with `s3://`),
    /// to tell one from a local path before parsing it.
    pub fn is_bucket_url(text: &str) -> bool {
        text.starts_with(SCHEME)
    }

    /// Parses `s3://BUCKET`, `s3://BUCKET/PREFIX` or `s3://BUCKET/KEY`
    /// (trailing slashes ignored). Refuses paths with empty, `.` or `..`
    /// parts, or with anything but printable ASCII.
    pub fn parse(url: &str) -> Result<BucketLocation, LocationError> {
        let Some(rest) = url.strip_prefix(SCHEME) else {
            return Err(LocationError::NotS3 {
                url: url.to_owned(),
            });
        };
        let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
        if !is_valid_bucket_name(bucket) {
            return Err(LocationError::Bucket {
                url: url.to_owned(),
                bucket: bucket.to_owned(),
            });
        }
        let path = path.trim_end_matches('/');
        if !path.is_empty() && !is_valid_key_path(path) {
            return Err(LocationError::Path {
                url: url.to_owned(),
            });
        }
        Ok(BucketLocation {
            bucket: bucket.to_owned(),
            path: path.to_owned(),
        })
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key or prefix; empty for the whole bucket.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether it names one flogfile (its key ends in `.flog.bz2` or
    /// `.flog`) rather than a prefix.
    pub fn names_flogfile(&self) -> bool {
        is_flogfile_key(&self.path)
    }
}

impl fmt::Display for BucketLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{SCHEME}{}", self.bucket)
        } else {
            write!(f, "{SCHEME}{}/{}", self.bucket, self.path)
        }
    }
}

fn is_flogfile_key(key: &str) -> bool {
    let name = key.rsplit('/').next().unwrap_or(key);
    [FINISHED_SUFFIX, RECORDING_SUFFIX].iter().any(|suffix| {
        name.strip_suffix(suffix)
            .is_some_and(|stem| !stem.is_empty())
    })
}

/// A flogfile in a bucket, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// Its key.
    pub key: String,
    /// `s3://BUCKET/KEY`.
    pub url: String,
    /// Its size in bytes.
    pub size: u64,
}

/// The flogfiles a location names, by key ascending (a publisher's
/// incidents in time order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// The flogfiles.
    pub objects: Vec<StoredObject>,
    /// Objects whose names end like flogfiles' but are not flog's printable
    /// names: left out.
    pub skipped: usize,
}

/// Reads flogfiles from one bucket (cheap to clone).
#[derive(Debug, Clone)]
pub struct BucketReader {
    bucket: Bucket,
}

impl BucketReader {
    /// A reader of `location`'s bucket, set up from the environment
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
    /// `AWS_REGION`, `AWS_ENDPOINT_URL`, ...). Nothing is sent yet.
    pub fn open(location: &BucketLocation) -> Result<BucketReader, BucketError> {
        BucketReader::from_config(&S3Config::new(location.bucket()))
    }

    /// A reader of `config`'s bucket, what it leaves out taken from the
    /// environment. Its `prefix` is not used: the reader takes whole keys.
    pub fn from_config(config: &S3Config) -> Result<BucketReader, BucketError> {
        let mut config = config.clone();
        config.prefix.clear();
        Ok(BucketReader {
            bucket: Bucket::open(&config)?,
        })
    }

    /// `s3://BUCKET/KEY`.
    pub fn url_of(&self, key: &str) -> String {
        self.bucket.url_of(key)
    }

    /// An error of the server, told apart when it refused the credentials.
    fn failed(
        &self,
        action: &'static str,
        key: &Key,
    ) -> impl FnOnce(object_store::Error) -> BucketError {
        let bucket = self.bucket.shown().to_owned();
        let other = self.bucket.request(action, key);
        let key = key.to_string();
        move |error| match error {
            object_store::Error::PermissionDenied { .. } => BucketError::Refused {
                bucket,
                why: "403 Forbidden",
                advice: CredentialsAdvice::Reader,
            },
            object_store::Error::Unauthenticated { .. } => BucketError::Refused {
                bucket,
                why: "401 Unauthorized",
                advice: CredentialsAdvice::Reader,
            },
            object_store::Error::NotFound { .. } => BucketError::NotFound { key, bucket },
            other_error => other(other_error),
        }
    }

    /// The flogfiles `location` names: the one object (which must exist),
    /// or every flogfile under the prefix, at most [`MAX_LISTED`].
    pub async fn flogfiles(&self, location: &BucketLocation) -> Result<Listing, BucketError> {
        let key = Key::from(location.path());
        if location.names_flogfile() {
            let meta = self
                .bucket
                .store()
                .head(&key)
                .await
                .map_err(self.failed("look up", &key))?;
            return Ok(Listing {
                objects: vec![StoredObject {
                    key: location.path().to_owned(),
                    url: location.to_string(),
                    size: meta.size,
                }],
                skipped: 0,
            });
        }
        let prefix = (!location.path().is_empty()).then_some(&key);
        let mut listed = self.bucket.store().list(prefix);
        let mut listing = Listing::default();
        while let Some(meta) = listed.next().await {
            let meta = match meta {
                Ok(meta) => meta,
                Err(error) => return Err(self.listing_failed(&key, error).await),
            };
            let key = meta.location.to_string();
            if !is_flogfile_key(&key) {
                continue;
            }
            if !is_valid_key_path(&key) {
                listing.skipped += 1;
                continue;
            }
            if listing.objects.len() == MAX_LISTED {
                return Err(BucketError::TooMany {
                    prefix: location.path().to_owned(),
                    bucket: self.bucket.shown().to_owned(),
                    limit: MAX_LISTED,
                });
            }
            listing.objects.push(StoredObject {
                url: self.url_of(&key),
                key,
                size: meta.size,
            });
        }
        listing.objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(listing)
    }

    /// A listing's error says little of why (S3 answers a refused listing
    /// with a body the client does not classify): one HEAD request tells
    /// refused credentials apart.
    async fn listing_failed(&self, prefix: &Key, error: object_store::Error) -> BucketError {
        let probe = Key::from_iter(prefix.parts().chain([".flog-probe".into()]));
        match self.bucket.store().head(&probe).await {
            Err(
                e @ (object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }),
            ) => self.failed("list", prefix)(e),
            _ => self.bucket.request("list", prefix)(error),
        }
    }

    /// The bytes of object `key`, refused with [`BucketError::TooLarge`]
    /// once more than `limit` arrive (or its size says so): memory bounded
    /// whatever the bucket holds or the server claims.
    pub async fn read(&self, key: &str, limit: u64) -> Result<Bytes, BucketError> {
        let key = Key::from(key);
        match self.bucket.get_limited(&key, limit).await {
            Ok(bytes) => Ok(bytes),
            Err(Limited::Store(error)) => Err(self.failed("read", &key)(error)),
            Err(Limited::TooLarge(size)) => Err(BucketError::TooLarge {
                key: key.to_string(),
                bucket: self.bucket.shown().to_owned(),
                size,
                limit,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_is_a_bucket_and_a_path_without_empty_dot_or_dotdot_parts() {
        let at = BucketLocation::parse("s3://flog-fleet/fleet-1/incidents/").unwrap();
        assert_eq!(
            (at.bucket(), at.path()),
            ("flog-fleet", "fleet-1/incidents")
        );
        assert!(!at.names_flogfile());
        assert_eq!(at.to_string(), "s3://flog-fleet/fleet-1/incidents");
        let root = BucketLocation::parse("s3://flog-fleet").unwrap();
        assert_eq!(
            (root.path(), root.to_string().as_str()),
            ("", "s3://flog-fleet")
        );
        let one = BucketLocation::parse("s3://b12/p/incidents/web-1/x.flog.bz2").unwrap();
        assert!(one.names_flogfile());
        assert!(BucketLocation::parse("s3://b12/p/x.flog")
            .unwrap()
            .names_flogfile());
        assert!(!BucketLocation::parse("s3://b12/p/.flog.bz2")
            .unwrap()
            .names_flogfile());

        for hostile in [
            "s3://b12/p/../etc",
            "s3://b12/./p",
            "s3://b12//p",
            "s3://b12/p//q",
            "s3://b12/p q",
            "s3://b12/p\u{1b}[31m",
            "s3://b12/p/é",
        ] {
            let error = BucketLocation::parse(hostile).unwrap_err();
            assert!(
                matches!(error, LocationError::Path { .. }),
                "{hostile}: {error}"
            );
            assert!(!error.to_string().contains('\u{1b}'), "{error}");
        }
        for bucket in ["s3://", "s3://ab", "s3://Upper", "s3://a_b/c", "s3:///abc"] {
            let error = BucketLocation::parse(bucket).unwrap_err();
            assert!(
                matches!(error, LocationError::Bucket { .. }),
                "{bucket}: {error}"
            );
        }
        assert!(matches!(
            BucketLocation::parse("/tmp/x.flog").unwrap_err(),
            LocationError::NotS3 { .. }
        ));
        assert!(BucketLocation::is_bucket_url("s3://x"));
        assert!(!BucketLocation::is_bucket_url("./s3://x"));
    }

    fn reader_with(moto: &flog_testkit::Moto, key_id: &str) -> BucketReader {
        let mut config = S3Config::new(moto.bucket());
        config.endpoint = Some(moto.endpoint());
        config.region = Some("us-east-1".to_owned());
        config.access_key_id = Some(key_id.to_owned());
        config.secret_access_key = Some(flog_testkit::MOTO_SECRET_ACCESS_KEY.to_owned());
        BucketReader::from_config(&config).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_prefix_lists_its_flogfiles_and_reads_are_bounded_in_bytes() {
        let Some(moto) = flog_testkit::Moto::start("flog-read") else {
            return;
        };
        let reader = reader_with(&moto, flog_testkit::MOTO_ACCESS_KEY_ID);
        let store = reader.bucket.store();
        let put = |key: &'static str, bytes: &'static [u8]| async move {
            store
                .put(&Key::from(key), bytes.to_vec().into())
                .await
                .unwrap();
        };
        put("fleet/incidents/web-2/incident-b.flog.bz2", b"bbbb").await;
        put("fleet/incidents/web-1/incident-a.flog.bz2", b"aaaaaaaaaa").await;
        put("fleet/incidents/web-1/latest", b"incident-a\n").await;
        put(
            "fleet/classified/all",
            b"incidents/web-1/incident-a.flog.bz2\n",
        )
        .await;
        put("fleet/events/web-1/events-1.flog", b"e").await;
        put("fleet-2/incidents/web-9/incident-z.flog.bz2", b"z").await;

        let at = |url: &str| BucketLocation::parse(url).unwrap();
        let listing = reader
            .flogfiles(&at("s3://flog-read/fleet/"))
            .await
            .unwrap();
        let keys: Vec<&str> = listing.objects.iter().map(|o| o.key.as_str()).collect();
        // By key, only flogfiles, and `fleet` is a folder: not `fleet-2`.
        assert_eq!(
            keys,
            [
                "fleet/events/web-1/events-1.flog",
                "fleet/incidents/web-1/incident-a.flog.bz2",
                "fleet/incidents/web-2/incident-b.flog.bz2",
            ]
        );
        assert_eq!(listing.objects[1].size, 10);
        assert_eq!(
            listing.objects[1].url,
            "s3://flog-read/fleet/incidents/web-1/incident-a.flog.bz2"
        );
        let whole = reader.flogfiles(&at("s3://flog-read")).await.unwrap();
        assert_eq!(whole.objects.len(), 4);
        let empty = reader
            .flogfiles(&at("s3://flog-read/nothing"))
            .await
            .unwrap();
        assert!(empty.objects.is_empty());

        let one = at("s3://flog-read/fleet/incidents/web-1/incident-a.flog.bz2");
        let listed = reader.flogfiles(&one).await.unwrap();
        assert_eq!(listed.objects, listing.objects[1..2]);
        let key = "fleet/incidents/web-1/incident-a.flog.bz2";
        assert_eq!(&reader.read(key, 10).await.unwrap()[..], b"aaaaaaaaaa");
        let error = reader.read(key, 9).await.unwrap_err();
        assert!(
            matches!(
                error,
                BucketError::TooLarge {
                    size: 10,
                    limit: 9,
                    ..
                }
            ),
            "{error:?}"
        );
        let missing = at("s3://flog-read/fleet/incidents/web-1/incident-x.flog.bz2");
        let error = reader.flogfiles(&missing).await.unwrap_err();
        assert!(matches!(error, BucketError::NotFound { .. }), "{error:?}");
        let error = reader.read(missing.path(), 10).await.unwrap_err();
        assert!(matches!(error, BucketError::NotFound { .. }), "{error:?}");
        assert_eq!(
            error.to_string(),
            "s3://flog-read has no object fleet/incidents/web-1/incident-x.flog.bz2"
        );

        // Wrong credentials: a listing, a look-up and a read all say so.
        let wrong = reader_with(&moto, "WRONGKEY");
        for error in [
            wrong
                .flogfiles(&at("s3://flog-read/fleet"))
                .await
                .unwrap_err(),
            wrong.flogfiles(&one).await.unwrap_err(),
            wrong.read(key, 10).await.unwrap_err(),
        ] {
            assert!(matches!(error, BucketError::Refused { .. }), "{error:?}");
            assert!(!error
                .to_string()
                .contains(flog_testkit::MOTO_SECRET_ACCESS_KEY));
            // A reader has no gatherer.toml: the advice is the environment's
            // and the rights a reader needs.
            assert_eq!(
                error.to_string(),
                "s3://flog-read refused the credentials (403 Forbidden): check AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN, if any) in the environment, and that \
                 the key may read the bucket (GetObject, ListBucket)"
            );
        }
    }
}
