//! Incidents in an S3-compatible bucket (`storage = "s3"`), shared by any
//! number of gatherers, with the base directory's layout under a prefix:
//! `incidents/<publisher-id>/<name>.flog.bz2`, `incidents/<publisher-id>/latest`,
//! `classified/<category>`.
//!
//! Exactly once across gatherers rests on the server's conditional writes,
//! not on any lock: an incident object is only ever created if absent
//! (`If-None-Match: *`), so of two gatherers storing it at once one wins
//! and the other finds it there; it then compares the stored bytes' SHA-256
//! with the publisher's, and counts the incident as stored when they match
//! (a different digest is a conflict, reported, and nothing is overwritten).
//! The `latest` marker and the lists are rewritten whole with
//! compare-and-swap on their ETag (`If-Match`), read again and retried when
//! another gatherer wrote first, so no writer's entry is lost.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use bytes::BytesMut;
use futures::StreamExt as _;
use futures::TryStreamExt;
use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
use object_store::list::{PaginatedListOptions, PaginatedListStore};
use object_store::path::Path as Key;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions,
    PutPayload, RetryConfig, UpdateVersion,
};
use sha2::{Digest, Sha256};

use crate::config::S3Config;
pub(crate) use crate::error::BucketError;
use crate::error::{CredentialsAdvice, CAS_ATTEMPTS};
use crate::store::{Commit, INCIDENTS_DIR, LATEST_FILE};
use flog_core::flogfile::FINISHED_SUFFIX;
use flog_wire::is_valid_incident_name;

/// A bucket and the prefix the gatherers' files live under.
#[derive(Clone)]
pub(crate) struct Bucket {
    store: Arc<dyn ObjectStore>,
    /// The same client, for listings taken a page at a time.
    paged: Arc<dyn PaginatedListStore>,
    prefix: String,
    shown: String,
}

impl fmt::Debug for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bucket").field("at", &self.shown).finish()
    }
}

impl Bucket {
    /// The bucket of `config`, credentials and the rest not given there from
    /// the environment (`AWS_*`). Nothing is sent yet.
    pub(crate) fn open(config: &S3Config) -> Result<Bucket, BucketError> {
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&config.bucket)
            // Created only if absent, updated only on a matching ETag: the
            // exactly-once argument above.
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            // Retried a little inside a request, then reported: the
            // publisher task's own backoff waits out a server that is down,
            // and keeps nothing meanwhile but its place.
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(2),
                    base: 2.0,
                },
                max_retries: 2,
                retry_timeout: Duration::from_secs(10),
            })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(60)),
            );
        let endpoint = config
            .endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
        if let Some(endpoint) = endpoint {
            builder = builder
                .with_allow_http(endpoint.starts_with("http://"))
                .with_endpoint(endpoint);
        }
        let region = config
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .unwrap_or_else(|| "us-east-1".to_owned());
        builder = builder.with_region(region);
        if let Some(id) = &config.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &config.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let store = builder.build().map_err(|source| BucketError::Setup {
            bucket: config.shown(),
            source: Box::new(source),
        })?;
        let store = Arc::new(store);
        Ok(Bucket {
            paged: store.clone(),
            store,
            prefix: config.prefix.clone(),
            shown: config.shown(),
        })
    }

    /// `s3://BUCKET/PREFIX`.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    /// Where `relative` (a path as in the base directory) is, for people:
    /// `s3://BUCKET/PREFIX/incidents/...`.
    pub(crate) fn url_of(&self, relative: &str) -> String {
        format!("{}/{relative}", self.shown)
    }

    fn key(&self, relative: &str) -> Key {
        if self.prefix.is_empty() {
            Key::from(relative)
        } else {
            Key::from(format!("{}/{relative}", self.prefix))
        }
    }

    /// The client, for readers that take whole keys (flogtool's).
    pub(crate) fn store(&self) -> &dyn ObjectStore {
        self.store.as_ref()
    }

    pub(crate) fn request(
        &self,
        action: &'static str,
        key: &Key,
    ) -> impl FnOnce(object_store::Error) -> BucketError {
        let (key, bucket) = (key.to_string(), self.shown.clone());
        move |source| BucketError::Request {
            action,
            key,
            bucket,
            source: Box::new(source),
        }
    }

    /// One request under the prefix (a HEAD of a key no one writes): do
    /// the credentials open the bucket? For a clear report at start. (A
    /// listing would do too, but its errors do not tell a refusal apart.)
    pub(crate) async fn check(&self) -> Result<(), BucketError> {
        let key = self.key(&format!("{INCIDENTS_DIR}/.check"));
        let why = match self.store.head(&key).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => return Ok(()),
            Err(object_store::Error::PermissionDenied { .. }) => "403 Forbidden",
            Err(object_store::Error::Unauthenticated { .. }) => "401 Unauthorized",
            Err(e) => return Err(self.request("look up", &key)(e)),
        };
        Err(BucketError::Refused {
            bucket: self.shown.clone(),
            why,
            advice: CredentialsAdvice::Gatherer,
        })
    }

    /// Creates `incidents/<id>/<name>.flog.bz2` holding `bytes`, whose
    /// SHA-256 is `sha256`, unless it exists: then it is `AlreadyStored` if
    /// it holds the same bytes, a [`BucketError::Conflict`] if not. Never
    /// overwrites.
    pub(crate) async fn create_incident(
        &self,
        relative: &str,
        bytes: Bytes,
        sha256: [u8; 32],
    ) -> Result<Commit, BucketError> {
        let key = self.key(relative);
        let size = bytes.len() as u64;
        let options = PutOptions::from(PutMode::Create);
        match self
            .store
            .put_opts(&key, PutPayload::from(bytes), options)
            .await
        {
            Ok(_) => return Ok(Commit::Stored),
            Err(object_store::Error::AlreadyExists { .. }) => {}
            Err(e) => return Err(self.request("store", &key)(e)),
        }
        let found = self
            .store
            .get(&key)
            .await
            .map_err(self.request("read back", &key))?;
        // Bounded by the size just stored: a stored object of another size
        // is a conflict without reading it.
        let stored_size = found.meta.size;
        let stored = if stored_size == size {
            let bytes = found
                .bytes()
                .await
                .map_err(self.request("read back", &key))?;
            Sha256::digest(&bytes).into()
        } else {
            [0; 32]
        };
        if stored == sha256 {
            Ok(Commit::AlreadyStored)
        } else {
            Err(BucketError::Conflict {
                key: key.to_string(),
                bucket: self.shown.clone(),
                stored: if stored_size == size {
                    hex(&stored)
                } else {
                    format!("unread: {stored_size} bytes, not {size}")
                },
                fetched: hex(&sha256),
            })
        }
    }

    /// The bytes of `relative`, if it exists.
    pub(crate) async fn read(&self, relative: &str) -> Result<Option<Bytes>, BucketError> {
        let key = self.key(relative);
        match self.store.get(&key).await {
            Ok(found) => Ok(Some(
                found.bytes().await.map_err(self.request("read", &key))?,
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.request("read", &key)(e)),
        }
    }

    /// The names of publisher `id`'s stored incidents, ascending.
    pub(crate) async fn stored_names(&self, id: &str) -> Result<Vec<String>, BucketError> {
        let key = self.key(&format!("{INCIDENTS_DIR}/{id}"));
        let objects: Vec<_> = self
            .store
            .list(Some(&key))
            .try_collect()
            .await
            .map_err(self.request("list", &key))?;
        let mut names: Vec<String> = objects
            .iter()
            .filter_map(|meta| {
                let name = meta.location.filename()?.strip_suffix(FINISHED_SUFFIX)?;
                is_valid_incident_name(name).then(|| name.to_owned())
            })
            .collect();
        names.sort();
        Ok(names)
    }

    /// What publisher `id`'s `latest` marker says.
    pub(crate) async fn latest(&self, id: &str) -> Result<Option<String>, BucketError> {
        let relative = latest_path(id);
        // A name and a newline: anything much longer is not a marker.
        let Some(bytes) = self.read_bounded(&relative, 1024).await? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&bytes);
        let name = text.trim();
        if is_valid_incident_name(name) {
            Ok(Some(name.to_owned()))
        } else {
            Err(BucketError::BadLatest {
                key: self.key(&relative).to_string(),
                bucket: self.shown.clone(),
            })
        }
    }

    /// Moves publisher `id`'s `latest` marker to `name`, unless it is
    /// already there or past it (names only move forward, whoever writes).
    pub(crate) async fn advance_latest(&self, id: &str, name: &str) -> Result<(), BucketError> {
        let relative = latest_path(id);
        self.update(&relative, |current| {
            let current = current.map(String::from_utf8_lossy);
            let current = current.as_deref().map(str::trim);
            match current {
                Some(current) if is_valid_incident_name(current) && current >= name => None,
                _ => Some(format!("{name}\n").into_bytes()),
            }
        })
        .await
    }

    /// Appends `line` to each list (`classified/<list>`) where it is missing.
    pub(crate) async fn list_in(&self, lists: &[&str], line: &str) -> Result<(), BucketError> {
        for list in lists {
            let relative = format!("{}/{list}", crate::classified::CLASSIFIED_DIR);
            self.update(&relative, |current| {
                let current = current.unwrap_or_default();
                if current.split(|&b| b == b'\n').any(|l| l == line.as_bytes()) {
                    return None;
                }
                let mut next = current.to_vec();
                if !next.is_empty() && !next.ends_with(b"\n") {
                    next.push(b'\n');
                }
                next.extend_from_slice(line.as_bytes());
                next.push(b'\n');
                Some(next)
            })
            .await?;
        }
        Ok(())
    }

    /// The bytes of `relative` with the version to update them by, if it
    /// exists.
    pub(crate) async fn read_versioned(
        &self,
        relative: &str,
    ) -> Result<Option<(Bytes, UpdateVersion)>, BucketError> {
        let key = self.key(relative);
        match self.store.get(&key).await {
            Ok(found) => {
                let version = UpdateVersion {
                    e_tag: found.meta.e_tag.clone(),
                    version: found.meta.version.clone(),
                };
                let bytes = found.bytes().await.map_err(self.request("read", &key))?;
                Ok(Some((bytes, version)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.request("read", &key)(e)),
        }
    }

    /// Writes `relative` only if it is still as read: absent (`None`) or at
    /// `version`. `false`: another writer was first, nothing written.
    pub(crate) async fn write_if(
        &self,
        relative: &str,
        bytes: Vec<u8>,
        version: Option<UpdateVersion>,
    ) -> Result<bool, BucketError> {
        let key = self.key(relative);
        let mode = version.map_or(PutMode::Create, PutMode::Update);
        match self
            .store
            .put_opts(&key, PutPayload::from(bytes), PutOptions::from(mode))
            .await
        {
            Ok(_) => Ok(true),
            Err(
                object_store::Error::Precondition { .. }
                | object_store::Error::AlreadyExists { .. },
            ) => Ok(false),
            Err(e) => Err(self.request("write", &key)(e)),
        }
    }

    /// Writes `relative`, whatever is there: for an object only this
    /// gatherer writes (its heartbeat).
    pub(crate) async fn write(&self, relative: &str, bytes: Vec<u8>) -> Result<(), BucketError> {
        let key = self.key(relative);
        self.store
            .put(&key, PutPayload::from(bytes))
            .await
            .map(drop)
            .map_err(self.request("write", &key))
    }

    /// The names of the objects directly in folder `relative`.
    pub(crate) async fn names_in(&self, relative: &str) -> Result<Vec<String>, BucketError> {
        let key = self.key(relative);
        let listed = self
            .store
            .list_with_delimiter(Some(&key))
            .await
            .map_err(self.request("list", &key))?;
        Ok(listed
            .objects
            .iter()
            .filter_map(|meta| meta.location.filename().map(str::to_owned))
            .collect())
    }

    /// The names directly in folder `relative` (objects, or with `folders`
    /// the subfolders), ascending: at most `keep` kept, and how many more
    /// there are, counted up to `count_to` (a page of up to 1000 at a time,
    /// so memory stays bounded whatever the bucket holds).
    #[cfg_attr(not(feature = "dashboard"), allow(dead_code))]
    pub(crate) async fn list_bounded(
        &self,
        relative: &str,
        folders: bool,
        keep: usize,
        count_to: usize,
    ) -> Result<BoundedNames, BucketError> {
        let key = self.key(relative);
        let prefix = format!("{key}/");
        let mut names = BoundedNames::default();
        let mut seen = 0;
        let mut page_token = None;
        loop {
            let options = PaginatedListOptions {
                delimiter: Some("/".into()),
                max_keys: Some(1000),
                page_token: page_token.take(),
                ..PaginatedListOptions::default()
            };
            let page = self
                .paged
                .list_paginated(Some(&prefix), options)
                .await
                .map_err(self.request("list", &key))?;
            let found: Vec<String> = if folders {
                page.result
                    .common_prefixes
                    .iter()
                    .filter_map(|p| p.filename().map(str::to_owned))
                    .collect()
            } else {
                page.result
                    .objects
                    .iter()
                    .filter_map(|m| m.location.filename().map(str::to_owned))
                    .collect()
            };
            for name in found {
                seen += 1;
                if names.names.len() < keep {
                    names.names.push(name);
                } else {
                    names.more += 1;
                }
            }
            match page.page_token {
                Some(token) if seen < count_to => page_token = Some(token),
                Some(_) => {
                    names.more_uncounted = true;
                    break;
                }
                None => break,
            }
        }
        names.names.sort();
        Ok(names)
    }

    /// The bytes of `relative` if it exists, refused as
    /// [`BucketError::TooLarge`] past `limit` bytes.
    pub(crate) async fn read_bounded(
        &self,
        relative: &str,
        limit: u64,
    ) -> Result<Option<Bytes>, BucketError> {
        let key = self.key(relative);
        match self.get_limited(&key, limit).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(Limited::Store(object_store::Error::NotFound { .. })) => Ok(None),
            Err(Limited::Store(e)) => Err(self.request("read", &key)(e)),
            Err(Limited::TooLarge(size)) => Err(BucketError::TooLarge {
                key: key.to_string(),
                bucket: self.shown.clone(),
                size,
                limit,
            }),
        }
    }

    /// The bytes of object `key` (a whole key), refused once more than
    /// `limit` arrive or its size says so: memory bounded whatever the
    /// bucket holds or the server claims.
    pub(crate) async fn get_limited(&self, key: &Key, limit: u64) -> Result<Bytes, Limited> {
        let found = self
            .store
            .get_opts(key, GetOptions::default())
            .await
            .map_err(Limited::Store)?;
        if found.meta.size > limit {
            return Err(Limited::TooLarge(found.meta.size));
        }
        let mut bytes = BytesMut::new();
        let mut body = found.into_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(Limited::Store)?;
            let size = (bytes.len() + chunk.len()) as u64;
            if size > limit {
                return Err(Limited::TooLarge(size));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes.freeze())
    }

    /// Gives each line of `relative` (absent: none) to `line`, reading it
    /// as it streams in: lines longer than `max_line` bytes are skipped,
    /// and reading stops after `limit` bytes. Returns whether the whole
    /// object was read.
    #[cfg_attr(not(feature = "dashboard"), allow(dead_code))]
    pub(crate) async fn read_lines(
        &self,
        relative: &str,
        limit: u64,
        max_line: usize,
        mut line: impl FnMut(&str),
    ) -> Result<bool, BucketError> {
        let key = self.key(relative);
        let found = match self.store.get(&key).await {
            Ok(found) => found,
            Err(object_store::Error::NotFound { .. }) => return Ok(true),
            Err(e) => return Err(self.request("read", &key)(e)),
        };
        let mut body = found.into_stream();
        let mut partial: Vec<u8> = Vec::new();
        let mut overlong = false;
        let mut read = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(self.request("read", &key))?;
            read += chunk.len() as u64;
            for piece in chunk.split_inclusive(|&b| b == b'\n') {
                let ends = piece.ends_with(b"\n");
                let piece = piece.strip_suffix(b"\n").unwrap_or(piece);
                if !overlong && partial.len() + piece.len() <= max_line {
                    partial.extend_from_slice(piece);
                } else {
                    overlong = true;
                    partial.clear();
                }
                if ends {
                    if !overlong {
                        line(&String::from_utf8_lossy(&partial));
                    }
                    partial.clear();
                    overlong = false;
                }
            }
            if read > limit {
                return Ok(false);
            }
        }
        if !partial.is_empty() && !overlong {
            line(&String::from_utf8_lossy(&partial));
        }
        Ok(true)
    }

    /// Rewrites `relative` with what `change` makes of its bytes (`None`:
    /// it is absent), by compare-and-swap: created only if still absent,
    /// replaced only if its ETag is still the one read; else read again and
    /// retried. `change` returning `None` leaves it as it is.
    async fn update(
        &self,
        relative: &str,
        change: impl Fn(Option<&[u8]>) -> Option<Vec<u8>>,
    ) -> Result<(), BucketError> {
        let key = self.key(relative);
        for attempt in 0..CAS_ATTEMPTS {
            let (current, mode) = match self.store.get(&key).await {
                Ok(found) => {
                    let version = UpdateVersion {
                        e_tag: found.meta.e_tag.clone(),
                        version: found.meta.version.clone(),
                    };
                    let bytes = found.bytes().await.map_err(self.request("read", &key))?;
                    (Some(bytes), PutMode::Update(version))
                }
                Err(object_store::Error::NotFound { .. }) => (None, PutMode::Create),
                Err(e) => return Err(self.request("read", &key)(e)),
            };
            let Some(next) = change(current.as_deref()) else {
                return Ok(());
            };
            match self
                .store
                .put_opts(&key, PutPayload::from(next), PutOptions::from(mode))
                .await
            {
                Ok(_) => return Ok(()),
                Err(
                    object_store::Error::Precondition { .. }
                    | object_store::Error::AlreadyExists { .. },
                ) => {
                    // Another writer was first: a short, growing, jittered
                    // pause keeps several from colliding again in step.
                    let jitter = u64::from(getrandom::u32().unwrap_or(0) % 20);
                    let pause = u64::from(attempt.min(10)) * 5 + jitter;
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                Err(e) => return Err(self.request("write", &key)(e)),
            }
        }
        Err(BucketError::Contended {
            key: key.to_string(),
            bucket: self.shown.clone(),
        })
    }
}

/// What [`Bucket::list_bounded`] found.
#[derive(Debug, Default)]
#[cfg_attr(not(feature = "dashboard"), allow(dead_code))]
pub(crate) struct BoundedNames {
    /// The names kept.
    pub(crate) names: Vec<String>,
    /// How many more were counted.
    pub(crate) more: usize,
    /// Whether there were more still, not even counted.
    pub(crate) more_uncounted: bool,
}

/// Why [`Bucket::get_limited`] gave no bytes.
#[derive(Debug)]
pub(crate) enum Limited {
    /// The server's error.
    Store(object_store::Error),
    /// Larger than the limit: this size, or at least this many bytes.
    TooLarge(u64),
}

/// `incidents/<id>/latest`.
fn latest_path(id: &str) -> String {
    format!("{INCIDENTS_DIR}/{id}/{LATEST_FILE}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

mod upload;
pub(crate) use self::upload::Upload;

#[cfg(test)]
mod tests;
