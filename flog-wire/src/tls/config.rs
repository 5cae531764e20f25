//! rustls configurations for both ends of a logport connection.
//!
//! TLS 1.3 only; no session resumption (every connection proves the pinned
//! key afresh, and there is no ticket key to keep or leak); no 0-RTT.

use std::sync::{Arc, OnceLock};

use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::server::NoServerSessionStorage;
use rustls::sign::SingleCertAndKey;
use rustls::{ClientConfig, ServerConfig};

use crate::fingerprint::KeyFingerprint;
use crate::tls::key::TlsKey;
use crate::tls::verify::{AnyClientKey, PinnedServerKey};

/// The crypto provider of every logport connection: ring, named explicitly
/// so that no other crate's choice of a process-wide default changes ours.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    Arc::clone(PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())))
}

/// A client config that accepts exactly the server key `expected`, and
/// presents `client_key` when given (a publisher dialing out to a gatherer).
pub(crate) fn client_config(
    expected: KeyFingerprint,
    client_key: Option<&TlsKey>,
) -> Result<ClientConfig, rustls::Error> {
    let provider = provider();
    let verifier = PinnedServerKey::new(expected, provider.signature_verification_algorithms);
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match client_key {
        None => builder.with_no_client_auth(),
        Some(key) => {
            builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(key.certified())))
        }
    };
    config.resumption = Resumption::disabled();
    Ok(config)
}

/// The TLS side of a logport server: its key, and whether clients must
/// present keys of their own.
///
/// ```
/// use flog_wire::{ServerTls, TlsKey};
///
/// let key = TlsKey::generate()?;
/// let publisher = ServerTls::new(&key)?;
/// assert_eq!(publisher.fingerprint(), key.fingerprint());
/// // A gatherer listening for publishers that dial out:
/// let gatherer = ServerTls::requiring_client_keys(&TlsKey::generate()?)?;
/// assert!(gatherer.requires_client_keys());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
    fingerprint: KeyFingerprint,
    requires_client_keys: bool,
}

impl ServerTls {
    /// A publisher's logport: presents `key`; clients present no key (the
    /// secret in their hello authorizes them).
    pub fn new(key: &TlsKey) -> Result<Self, rustls::Error> {
        Self::build(key, false)
    }

    /// A gatherer's dial-in port: presents `key`, and every client must
    /// present a key too (mutual TLS). Any well-formed key is accepted with
    /// a valid handshake signature; the application reads its fingerprint
    /// from [`Stream::peer_key`](crate::Stream::peer_key) and decides.
    pub fn requiring_client_keys(key: &TlsKey) -> Result<Self, rustls::Error> {
        Self::build(key, true)
    }

    fn build(key: &TlsKey, requires_client_keys: bool) -> Result<Self, rustls::Error> {
        let provider = provider();
        let algorithms = provider.signature_verification_algorithms;
        let builder = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?;
        let builder = if requires_client_keys {
            builder.with_client_cert_verifier(Arc::new(AnyClientKey::new(algorithms)))
        } else {
            builder.with_no_client_auth()
        };
        let mut config =
            builder.with_cert_resolver(Arc::new(SingleCertAndKey::from(key.certified())));
        config.send_tls13_tickets = 0;
        config.session_storage = Arc::new(NoServerSessionStorage {});
        Ok(Self {
            config: Arc::new(config),
            fingerprint: key.fingerprint(),
            requires_client_keys,
        })
    }

    /// The fingerprint of the key this server presents: what its URL names.
    pub fn fingerprint(&self) -> KeyFingerprint {
        self.fingerprint
    }

    /// Whether clients must present keys (mutual TLS).
    pub fn requires_client_keys(&self) -> bool {
        self.requires_client_keys
    }

    pub(crate) fn config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.config)
    }
}
