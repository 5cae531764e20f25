//! Closed event files into the bucket (`events/<name>`): a single put
//! created only if absent for a file of one part or less, a multipart
//! upload in parts of `part_size` for a larger one; confirmed by the
//! object's size and ETag (or, where the ETag is not an MD5, by reading it
//! back) before the caller may remove the local file.

use std::path::Path;

use bytes::Bytes;
use futures::TryStreamExt;
use md5::{Digest as _, Md5};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};
use sha2::Sha256;
use tokio::io::AsyncReadExt;

use super::{hex, Bucket, BucketError};

/// Parts of a multipart upload sent at once.
const PARTS_IN_FLIGHT: usize = 2;

/// How an event file went into the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upload {
    /// Uploaded now, in one request.
    Put,
    /// Uploaded now, in this many parts.
    Multipart(usize),
    /// The same bytes were there already (an upload before a crash that
    /// left the local file).
    AlreadyThere,
    /// Another file (another gatherer's, of the same name) is there: the
    /// caller tries another name.
    Taken,
}

/// What identifies a local file's bytes.
#[derive(Debug)]
struct Digests {
    size: u64,
    sha256: [u8; 32],
    /// The ETag S3 gives these bytes uploaded in one put (their MD5) and
    /// in parts of the part size (the MD5 of the parts' MD5s, `-N`).
    single: String,
    multipart: String,
    parts: usize,
}

impl Bucket {
    /// Uploads `path` as `relative` (see the module doc); never overwrites.
    pub(crate) async fn upload_file(
        &self,
        relative: &str,
        path: &Path,
        part_size: usize,
    ) -> Result<Upload, BucketError> {
        let key = self.key(relative);
        let digests = digests_of(path, part_size).await?;
        let uploaded = if digests.size <= part_size as u64 {
            let bytes = read_all(path).await?;
            let options = PutOptions::from(PutMode::Create);
            match self
                .store
                .put_opts(&key, PutPayload::from(bytes), options)
                .await
            {
                Ok(_) => Upload::Put,
                Err(object_store::Error::AlreadyExists { .. }) => {
                    return self.compare(&key, &digests).await
                }
                Err(e) => return Err(self.request("upload", &key)(e)),
            }
        } else {
            // S3 has no create-if-absent for a multipart upload that every
            // server does: a look first. Names carry their open time to the
            // microsecond, so two gatherers racing on one name would have
            // opened their files in the same microsecond.
            match self.store.head(&key).await {
                Ok(_) => return self.compare(&key, &digests).await,
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.request("look up", &key)(e)),
            }
            self.multipart(&key, path, part_size).await?;
            Upload::Multipart(digests.parts)
        };
        self.confirm(&key, &digests).await?;
        Ok(uploaded)
    }

    async fn multipart(&self, key: &Key, path: &Path, part_size: usize) -> Result<(), BucketError> {
        let upload = self
            .store
            .put_multipart(key)
            .await
            .map_err(self.request("start uploading", key))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, part_size);
        let sent = async {
            let mut file = open(path).await?;
            let mut buf = vec![0; 1 << 20];
            loop {
                let n = file.read(&mut buf).await.map_err(local(path))?;
                if n == 0 {
                    return Ok(());
                }
                // Memory: at most the parts in flight and one being filled.
                writer
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(self.request("upload a part of", key))?;
                writer.write(&buf[..n]);
            }
        }
        .await;
        if let Err(error) = sent {
            // Parts left behind cost storage until the bucket's lifecycle
            // rule for incomplete uploads; tell the server at once.
            let _ = writer.abort().await;
            return Err(error);
        }
        writer
            .finish()
            .await
            .map(drop)
            .map_err(self.request("complete the upload of", key))
    }

    /// Whether the object at `key` is the file of `digests`: by its size
    /// and ETag, else by reading it back.
    async fn confirm(&self, key: &Key, digests: &Digests) -> Result<(), BucketError> {
        let meta = self
            .store
            .head(key)
            .await
            .map_err(self.request("look up", key))?;
        let unconfirmed = |found: String| BucketError::Unconfirmed {
            key: key.to_string(),
            bucket: self.shown.clone(),
            found,
        };
        if meta.size != digests.size {
            return Err(unconfirmed(format!(
                "{} bytes, not {}",
                meta.size, digests.size
            )));
        }
        let e_tag = meta.e_tag.as_deref().unwrap_or("").trim_matches('"');
        if e_tag == digests.single || e_tag == digests.multipart {
            return Ok(());
        }
        // Not an MD5 (server-side encryption with KMS keys, some servers):
        // the bytes themselves decide.
        if self.sha256_of(key).await? == digests.sha256 {
            Ok(())
        } else {
            Err(unconfirmed("other bytes".to_owned()))
        }
    }

    /// An object found at `key`: the same bytes (already uploaded) or
    /// another file.
    async fn compare(&self, key: &Key, digests: &Digests) -> Result<Upload, BucketError> {
        let meta = self
            .store
            .head(key)
            .await
            .map_err(self.request("look up", key))?;
        if meta.size == digests.size && self.sha256_of(key).await? == digests.sha256 {
            Ok(Upload::AlreadyThere)
        } else {
            Ok(Upload::Taken)
        }
    }

    /// The SHA-256 of an object, streamed (an event file may be large).
    async fn sha256_of(&self, key: &Key) -> Result<[u8; 32], BucketError> {
        let found = self
            .store
            .get(key)
            .await
            .map_err(self.request("read back", key))?;
        let mut hasher = Sha256::new();
        let mut stream = found.into_stream();
        while let Some(chunk) = stream
            .try_next()
            .await
            .map_err(self.request("read back", key))?
        {
            hasher.update(&chunk);
        }
        Ok(hasher.finalize().into())
    }
}

fn local(path: &Path) -> impl FnOnce(std::io::Error) -> BucketError + '_ {
    move |source| BucketError::Local {
        action: "read",
        path: path.to_owned(),
        source,
    }
}

async fn open(path: &Path) -> Result<tokio::fs::File, BucketError> {
    tokio::fs::File::open(path).await.map_err(local(path))
}

/// A file of at most one part.
async fn read_all(path: &Path) -> Result<Bytes, BucketError> {
    tokio::fs::read(path)
        .await
        .map(Bytes::from)
        .map_err(local(path))
}

/// The file's size, SHA-256 and the ETags S3 would give it, in one read.
async fn digests_of(path: &Path, part_size: usize) -> Result<Digests, BucketError> {
    let mut file = open(path).await?;
    let mut buf = vec![0; 1 << 20];
    let (mut sha256, mut whole, mut part) = (Sha256::new(), Md5::new(), Md5::new());
    let mut part_md5s = Vec::new();
    let (mut size, mut in_part) = (0u64, 0usize);
    loop {
        let n = file.read(&mut buf).await.map_err(local(path))?;
        if n == 0 {
            break;
        }
        let mut rest = &buf[..n];
        sha256.update(rest);
        whole.update(rest);
        size += n as u64;
        while !rest.is_empty() {
            let take = rest.len().min(part_size - in_part);
            part.update(&rest[..take]);
            in_part += take;
            rest = &rest[take..];
            if in_part == part_size {
                part_md5s.extend_from_slice(&part.finalize_reset());
                in_part = 0;
            }
        }
    }
    if in_part > 0 {
        part_md5s.extend_from_slice(&part.finalize_reset());
    }
    let parts = part_md5s.len() / 16;
    Ok(Digests {
        size,
        sha256: sha256.finalize().into(),
        single: hex(&whole.finalize()),
        multipart: format!("{}-{parts}", hex(&Md5::digest(&part_md5s))),
        parts,
    })
}
