use flog_core::{FlogContents, FlogReader, ReadError};
use flog_wire::{ClientError, LogportClient};

/// Fetching an incident in decoded form failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchDecodedError {
    /// The fetch itself failed (network, remote error, digest mismatch).
    #[error("cannot fetch the incident: {0}")]
    Fetch(#[from] ClientError),
    /// The fetched bytes are not a flogfile.
    #[error("the fetched incident is not readable: {0}")]
    Read(#[from] ReadError),
}

/// Fetches an incident over the logport and decodes it: header, events and
/// trailer. Built on the verified chunked fetch of [`LogportClient`]; the
/// decoded incident is held in memory, so for very large incidents prefer
/// `LogportClient::get_incident_to` and a [`FlogReader`] over the file.
///
/// A damaged file (truncated, say) decodes to what it holds, with `damage` set,
/// as [`flog_core::read_flogfile`] does.
pub async fn fetch_incident_decoded(
    client: &LogportClient,
    name: &str,
) -> Result<FlogContents, FetchDecodedError> {
    let bytes = client.get_incident_bytes(name).await?;
    let reader = FlogReader::new(std::io::Cursor::new(bytes))?;
    Ok(FlogContents::read_from(reader))
}
