//! The bucket's end of a publisher task (`storage = "s3"`): the fetch still
//! lands in a temporary file in the base directory and is verified there;
//! then its bytes are created in the bucket (only if absent), listed, and
//! the publisher's `latest` marker moved past it, in that order, as in the
//! base directory (crate::store). The marker lives in the bucket, shared by
//! every gatherer; the task keeps a copy in memory.

use bytes::Bytes;
use flog_wire::FetchedIncident;
use sha2::{Digest, Sha256};

use super::context::{PollError, Publisher};
use crate::bucket::Bucket;
use crate::classified::lists_of;
use crate::contain::blocking;
use crate::store::{relative_path, Commit, Partial};

/// Opens the publisher's store unless it is open: its folder in the base
/// directory, then, with a bucket, what the bucket holds of it.
pub(super) async fn open_store(publisher: &mut Publisher) -> Result<(), PollError> {
    if publisher.store().is_ok() {
        return Ok(());
    }
    publisher.open_store().await?;
    if let Some(bucket) = publisher.cx.bucket.clone() {
        if let Err(error) = open_in_bucket(publisher, &bucket).await {
            // Opened again, from the bucket, at the next connection.
            publisher.close_store();
            return Err(error);
        }
    }
    Ok(())
}

/// At the first connection: learns the latest incident handled from the
/// bucket (the marker, or a stored incident past it), and lists the
/// incidents stored past the marker, which a gatherer that died between
/// storing and listing them left unlisted.
async fn open_in_bucket(publisher: &mut Publisher, bucket: &Bucket) -> Result<(), PollError> {
    let id = publisher.id.clone();
    let marker = bucket.latest(&id).await?;
    let stored = bucket.stored_names(&id).await?;
    let unrecorded: Vec<&String> = stored
        .iter()
        .filter(|name| marker.as_ref().is_none_or(|marker| *name > marker))
        .collect();
    for name in unrecorded {
        list_stored(publisher, bucket, name).await?;
        bucket.advance_latest(&id, name).await?;
    }
    let store = publisher.store_mut()?;
    for name in marker.iter().chain(stored.last()) {
        store.note_latest(name);
    }
    Ok(())
}

/// Before a round: what other gatherers handled meanwhile need not be
/// fetched again.
pub(super) async fn refresh_latest(publisher: &mut Publisher) -> Result<(), PollError> {
    let Some(bucket) = publisher.cx.bucket.clone() else {
        return Ok(());
    };
    if let Some(marker) = bucket.latest(&publisher.id).await? {
        publisher.store_mut()?.note_latest(&marker);
    }
    Ok(())
}

/// Lists a stored incident where it is missing, classified by its trigger.
async fn list_stored(
    publisher: &mut Publisher,
    bucket: &Bucket,
    name: &str,
) -> Result<(), PollError> {
    let relative = relative_path(&publisher.id, name);
    let Some(bytes) = bucket.read(&relative).await? else {
        return Ok(());
    };
    let partial = publisher.store()?.new_partial(name);
    let index = publisher.cx.index.clone();
    let shown = relative.clone();
    let categories = blocking("classify a stored incident", move || {
        // The trigger reader reads files: a temporary one, gone after.
        let trigger = match std::fs::write(partial.path(), &bytes) {
            Ok(()) => index.trigger_of(partial.path(), &shown),
            Err(error) => {
                tracing::warn!(incident = %shown, %error, "cannot read the trigger of {shown}: {error}; classifying it as unknown");
                None
            }
        };
        let _ = std::fs::remove_file(partial.path());
        index.categories_of(trigger.as_ref())
    })
    .await?;
    bucket.list_in(&lists_of(&categories), &relative).await?;
    Ok(())
}

/// Stores a fetched incident in the bucket: verified, created only if
/// absent (or found there with the same digest), listed, and `latest`
/// moved past it. Returns how it was stored, its categories and its path.
pub(super) async fn store_in_bucket(
    publisher: &mut Publisher,
    bucket: &Bucket,
    partial: Partial,
    fetched: &FetchedIncident,
) -> Result<(Commit, Vec<String>, String), PollError> {
    let relative = relative_path(&publisher.id, &fetched.name);
    let index = publisher.cx.index.clone();
    let (sha256, size) = (fetched.sha256, fetched.size);
    let shown = relative.clone();
    let (bytes, categories) = blocking("read a fetched incident", move || {
        let read = read_verified(&partial, sha256, size);
        let trigger = read
            .is_ok()
            .then(|| index.trigger_of(partial.path(), &shown))
            .flatten();
        // Read or not, the temporary file has served.
        let _ = std::fs::remove_file(partial.path());
        read.map(|bytes| (bytes, index.categories_of(trigger.as_ref())))
    })
    .await??;
    let outcome = bucket.create_incident(&relative, bytes, sha256).await?;
    bucket.list_in(&lists_of(&categories), &relative).await?;
    bucket.advance_latest(&publisher.id, &fetched.name).await?;
    publisher.store_mut()?.note_latest(&fetched.name);
    Ok((outcome, categories, relative))
}

/// Records a refused incident as handled in the bucket.
pub(super) async fn skip_in_bucket(
    publisher: &mut Publisher,
    bucket: &Bucket,
    name: &str,
) -> Result<(), PollError> {
    bucket.advance_latest(&publisher.id, name).await?;
    publisher.store_mut()?.note_latest(name);
    Ok(())
}

/// The bytes of the fetched file, which must be what was received and
/// verified: what is uploaded is these bytes, checked here.
fn read_verified(partial: &Partial, sha256: [u8; 32], size: u64) -> Result<Bytes, PollError> {
    let bytes = std::fs::read(partial.path()).map_err(|source| PollError::Store {
        action: "read back",
        path: partial.path().to_owned(),
        source,
    })?;
    if bytes.len() as u64 != size || <[u8; 32]>::from(Sha256::digest(&bytes)) != sha256 {
        return Err(PollError::Changed {
            path: partial.path().to_owned(),
        });
    }
    Ok(Bytes::from(bytes))
}
