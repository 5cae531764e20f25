//! Certificate verifiers that trust pinned keys instead of authorities.
//!
//! Both verifiers ignore names, issuers, validity dates and extensions: a
//! logport peer is identified by its key alone. Both still check the
//! handshake signature with the provider's algorithms, which is what proves
//! the peer holds the private key of the certificate it sent; without that
//! check, anyone could replay a copy of the real certificate.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, OtherError};

use crate::fingerprint::KeyFingerprint;

/// The peer's key is not the one pinned. Travels inside the rustls error
/// ([`CertificateError::Other`]) so the transport can report it typed.
#[derive(Debug, thiserror::Error)]
#[error("expected key {expected}, got {actual}")]
pub(crate) struct KeyMismatch {
    pub(crate) expected: KeyFingerprint,
    pub(crate) actual: KeyFingerprint,
}

fn fingerprint_of(cert: &CertificateDer<'_>) -> Result<KeyFingerprint, rustls::Error> {
    KeyFingerprint::of_certificate(cert.as_ref()).ok_or(rustls::Error::InvalidCertificate(
        CertificateError::BadEncoding,
    ))
}

/// Accepts exactly the server key a `flogs://` URL names.
#[derive(Debug)]
pub(crate) struct PinnedServerKey {
    expected: KeyFingerprint,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedServerKey {
    pub(crate) fn new(expected: KeyFingerprint, algorithms: WebPkiSupportedAlgorithms) -> Self {
        Self {
            expected,
            algorithms,
        }
    }
}

impl ServerCertVerifier for PinnedServerKey {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let actual = fingerprint_of(end_entity)?;
        if actual != self.expected {
            let mismatch = KeyMismatch {
                expected: self.expected,
                actual,
            };
            return Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(mismatch)),
            )));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // Unreachable while the configs allow TLS 1.3 only; verified
        // properly all the same rather than waved through.
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Requires a client certificate, accepts any key in it, and leaves the
/// decision to the application, which reads the key's fingerprint from the
/// finished connection ([`Stream::peer_key`](crate::Stream::peer_key)).
///
/// This is the gatherer's side of dial-out: whether a publisher id may use a
/// key is a question of what the gatherer has seen before, not of TLS.
#[derive(Debug)]
pub(crate) struct AnyClientKey {
    algorithms: WebPkiSupportedAlgorithms,
}

impl AnyClientKey {
    pub(crate) fn new(algorithms: WebPkiSupportedAlgorithms) -> Self {
        Self { algorithms }
    }
}

impl ClientCertVerifier for AnyClientKey {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // The certificate must at least parse, so that its key can be
        // fingerprinted once the handshake is done.
        fingerprint_of(end_entity)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

// The signature checks are exercised by real handshakes with a peer that
// replays a certificate without its key (transport tests): rustls offers no
// public way to build a `DigitallySignedStruct` by hand.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::config::provider;
    use crate::tls::key::TlsKey;

    fn verifier(expected: KeyFingerprint) -> PinnedServerKey {
        PinnedServerKey::new(expected, provider().signature_verification_algorithms)
    }

    fn cert(key: &TlsKey) -> CertificateDer<'static> {
        CertificateDer::from(key.certificate_der().to_vec())
    }

    #[test]
    fn pinned_key_passes_and_another_key_is_a_typed_mismatch() {
        let right = TlsKey::generate().expect("key");
        let wrong = TlsKey::generate().expect("key");
        let check = |key: &TlsKey| {
            verifier(right.fingerprint()).verify_server_cert(
                &cert(key),
                &[],
                &ServerName::try_from("ignored.example").expect("name"),
                &[],
                UnixTime::now(),
            )
        };
        assert!(check(&right).is_ok());
        let Err(rustls::Error::InvalidCertificate(CertificateError::Other(other))) = check(&wrong)
        else {
            panic!("expected a certificate error");
        };
        let mismatch = other.0.downcast_ref::<KeyMismatch>().expect("typed");
        assert_eq!(mismatch.expected, right.fingerprint());
        assert_eq!(mismatch.actual, wrong.fingerprint());
    }

    #[test]
    fn unparsable_certificates_are_refused() {
        let key = TlsKey::generate().expect("key");
        let junk = CertificateDer::from(b"\x30\x05junk!".to_vec());
        assert!(matches!(
            verifier(key.fingerprint()).verify_server_cert(
                &junk,
                &[],
                &ServerName::try_from("x").expect("name"),
                &[],
                UnixTime::now()
            ),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::BadEncoding
            ))
        ));
        let any_client = AnyClientKey::new(provider().signature_verification_algorithms);
        assert!(any_client
            .verify_client_cert(&junk, &[], UnixTime::now())
            .is_err());
        assert!(any_client
            .verify_client_cert(&cert(&key), &[], UnixTime::now())
            .is_ok());
        assert!(any_client.client_auth_mandatory());
    }
}
