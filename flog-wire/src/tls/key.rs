//! A publisher's or gatherer's long-lived key pair, and the certificate TLS
//! presents for it.

use std::fmt;
use std::sync::Arc;

use rcgen::{CertificateParams, DistinguishedName, DnType, PublicKeyData as _};
use rustls::pki_types::pem::{PemObject as _, SectionKind};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

use crate::fingerprint::KeyFingerprint;

/// A key pair that identifies a logport server (a publisher, or a gatherer
/// that publishers dial in to), with a self-signed certificate for it.
///
/// Peers pin the key, not the certificate: [`fingerprint`](Self::fingerprint)
/// is what a `flogs://` URL carries. The certificate is made afresh from the
/// key each time one is loaded and is never stored, so it cannot expire or
/// drift from the key. Keys flog generates are ECDSA P-256 (the TLS 1.3
/// signature algorithm every implementation must support, RFC 8446 §9.1);
/// loading also accepts any other PKCS#8 key that rustls and rcgen sign with
/// (ECDSA P-384, Ed25519, RSA).
///
/// `Debug` shows the fingerprint only, never the private key.
///
/// ```
/// use flog_wire::TlsKey;
///
/// let key = TlsKey::generate()?;
/// assert_eq!(key.fingerprint().to_string().len(), 52);
/// # Ok::<(), flog_wire::KeyError>(())
/// ```
#[derive(Clone)]
pub struct TlsKey {
    pkcs8: Vec<u8>,
    certified: Arc<CertifiedKey>,
    fingerprint: KeyFingerprint,
}

/// Why a key could not be made or read.
///
/// The messages never quote key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// No new key pair could be generated.
    #[error("cannot generate a key pair: {0}")]
    Generate(#[source] rcgen::Error),
    /// The text is not PEM with exactly one `PRIVATE KEY` section.
    #[error("not a key file: {0}")]
    NotPem(&'static str),
    /// A PKCS#8 key of a kind neither rcgen nor rustls can sign with, or a
    /// damaged one.
    #[error("not a private key flog can use: {0}")]
    Unsupported(#[source] rcgen::Error),
    /// No self-signed certificate could be made for the key.
    #[error("cannot make a certificate for the key: {0}")]
    Certificate(#[source] rcgen::Error),
    /// rustls cannot sign TLS handshakes with the key.
    #[error("TLS cannot sign with the key: {0}")]
    Signer(#[source] rustls::Error),
}

impl TlsKey {
    /// Generates a new ECDSA P-256 key pair.
    pub fn generate() -> Result<Self, KeyError> {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(KeyError::Generate)?;
        Self::from_pkcs8(pair.serialized_der().to_vec())
    }

    /// Reads a key from PEM text holding exactly one `PRIVATE KEY` (PKCS#8)
    /// section, as [`KeyFile`](crate::KeyFile) writes it.
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let mut sections = <(SectionKind, Vec<u8>)>::pem_slice_iter(pem);
        let (kind, der) = match sections.next() {
            None => return Err(KeyError::NotPem("no PEM section")),
            Some(Err(_)) => return Err(KeyError::NotPem("damaged PEM")),
            Some(Ok(section)) => section,
        };
        if sections.next().is_some() {
            return Err(KeyError::NotPem("more than one PEM section"));
        }
        if kind != SectionKind::PrivateKey {
            return Err(KeyError::NotPem(
                "the PEM section is not a PRIVATE KEY (PKCS#8)",
            ));
        }
        Self::from_pkcs8(der)
    }

    fn from_pkcs8(pkcs8: Vec<u8>) -> Result<Self, KeyError> {
        let der = PrivatePkcs8KeyDer::from(pkcs8.as_slice());
        let pair = rcgen::KeyPair::try_from(&der).map_err(KeyError::Unsupported)?;
        let fingerprint = KeyFingerprint::of_spki(&pair.subject_public_key_info());
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "flog logport key");
        params.distinguished_name = name;
        let cert = params
            .self_signed(&pair)
            .map_err(KeyError::Certificate)?
            .der()
            .clone();
        let signer =
            rustls::crypto::ring::sign::any_supported_type(&PrivateKeyDer::Pkcs8(der.clone_key()))
                .map_err(KeyError::Signer)?;
        let certified = CertifiedKey::new(vec![cert], signer);
        // rustls compares the signer's SPKI with the certificate's; a
        // mismatch would mean rcgen and ring read the key differently.
        certified.keys_match().map_err(KeyError::Signer)?;
        Ok(Self {
            pkcs8,
            certified: Arc::new(certified),
            fingerprint,
        })
    }

    /// The fingerprint peers pin: the SHA-256 of the public key's
    /// `SubjectPublicKeyInfo`.
    pub fn fingerprint(&self) -> KeyFingerprint {
        self.fingerprint
    }

    /// The self-signed certificate (DER) presented in handshakes.
    pub fn certificate_der(&self) -> &[u8] {
        self.certified.cert[0].as_ref()
    }

    /// The private key as PEM (`PRIVATE KEY`, PKCS#8), for the key file.
    pub(crate) fn to_pem(&self) -> String {
        let base64 = data_encoding::BASE64.encode(&self.pkcs8);
        let mut pem = String::with_capacity(base64.len() + 80);
        pem.push_str("-----BEGIN PRIVATE KEY-----\n");
        for line in base64.as_bytes().chunks(64) {
            // The base64 alphabet is ASCII, so every chunk is UTF-8.
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        pem
    }

    pub(crate) fn certified(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.certified)
    }

    /// A forger's key: `victim`'s certificate and fingerprint, but signing
    /// with `signer`'s private key, as a man in the middle replaying a
    /// captured certificate would.
    #[cfg(test)]
    pub(crate) fn forged(victim: &TlsKey, signer: &TlsKey) -> TlsKey {
        TlsKey {
            pkcs8: signer.pkcs8.clone(),
            certified: Arc::new(CertifiedKey::new(
                victim.certified.cert.clone(),
                Arc::clone(&signer.certified.key),
            )),
            fingerprint: victim.fingerprint,
        }
    }
}

impl fmt::Debug for TlsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsKey")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_keeps_the_key() {
        let key = TlsKey::generate().expect("key");
        let pem = key.to_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
        let again = TlsKey::from_pem(pem.as_bytes()).expect("reads back");
        assert_eq!(again.fingerprint(), key.fingerprint());
        assert_eq!(again.pkcs8, key.pkcs8);
        // The certificate is new, its key is the same.
        assert_eq!(
            KeyFingerprint::of_certificate(again.certificate_der()),
            Some(key.fingerprint())
        );
        assert_ne!(
            TlsKey::generate().expect("key").fingerprint(),
            key.fingerprint()
        );
        assert!(!format!("{key:?}").contains(&pem[28..60]));
    }

    #[test]
    fn other_signature_algorithms_load() {
        for alg in [&rcgen::PKCS_ED25519, &rcgen::PKCS_ECDSA_P384_SHA384] {
            let pair = rcgen::KeyPair::generate_for(alg).expect("key");
            let key = TlsKey::from_pem(pair.serialize_pem().as_bytes()).expect("loads");
            assert_eq!(
                key.fingerprint(),
                KeyFingerprint::of_spki(&pair.subject_public_key_info())
            );
        }
    }

    #[test]
    fn text_that_is_not_one_private_key_is_refused() {
        let key = TlsKey::generate().expect("key");
        let pem = key.to_pem();
        let cert_pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            data_encoding::BASE64.encode(key.certificate_der())
        );
        let damaged = pem.replacen('M', "!", 1);
        let garbage_der = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", Vec::new()),
            ("binary", b"\x00\xff\x10garbage".to_vec()),
            ("two keys", format!("{pem}{pem}").into_bytes()),
            ("a certificate", cert_pem.into_bytes()),
            ("damaged base64", damaged.into_bytes()),
            ("not PKCS#8 inside", garbage_der.as_bytes().to_vec()),
        ];
        for (what, text) in cases {
            let error = TlsKey::from_pem(&text).expect_err(what);
            assert!(
                matches!(error, KeyError::NotPem(_) | KeyError::Unsupported(_)),
                "{what}: {error:?}"
            );
        }
        let truncated = &pem.as_bytes()[..pem.len() / 2];
        assert!(TlsKey::from_pem(truncated).is_err());
    }
}
