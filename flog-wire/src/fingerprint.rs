//! Key fingerprints: how a logport URL names the key its server must hold.

use std::fmt;
use std::str::FromStr;

use data_encoding::BASE32_NOPAD;
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};

/// The SHA-256 of a public key's DER `SubjectPublicKeyInfo`, written as 52
/// characters of lowercase RFC 4648 base32 without padding.
///
/// A `flogs://` URL carries the fingerprint of its publisher's (or
/// gatherer's) key, so the URL alone is enough to authenticate the server,
/// as a foolscap FURL's tub id is. Only the public key is hashed, not the
/// certificate, so a certificate made afresh from the same key at every start
/// keeps the fingerprint.
///
/// ```
/// use flog_wire::KeyFingerprint;
///
/// let fingerprint = KeyFingerprint::of_spki(b"not really DER, but any bytes hash");
/// let text = fingerprint.to_string();
/// assert_eq!(text.len(), KeyFingerprint::TEXT_LEN);
/// assert_eq!(text.parse::<KeyFingerprint>(), Ok(fingerprint));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyFingerprint([u8; 32]);

/// Why a text is not a [`KeyFingerprint`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid key fingerprint: {} characters of a-z and 2-7 (the base32 of a SHA-256)",
    KeyFingerprint::TEXT_LEN
)]
pub struct FingerprintError;

impl KeyFingerprint {
    /// The length of a fingerprint's text: 256 bits in 5-bit characters.
    pub const TEXT_LEN: usize = 52;

    /// The fingerprint of a DER-encoded `SubjectPublicKeyInfo`.
    pub fn of_spki(spki_der: &[u8]) -> Self {
        Self(Sha256::digest(spki_der).into())
    }

    /// The fingerprint of the key in a DER-encoded X.509 certificate, or
    /// `None` if the certificate cannot be parsed.
    pub fn of_certificate(cert_der: &[u8]) -> Option<Self> {
        let cert = CertificateDer::from(cert_der);
        let parsed = webpki::EndEntityCert::try_from(&cert).ok()?;
        Some(Self::of_spki(parsed.subject_public_key_info().as_ref()))
    }

    /// Wraps a SHA-256 digest of a `SubjectPublicKeyInfo`.
    pub fn from_bytes(digest: [u8; 32]) -> Self {
        Self(digest)
    }

    /// The SHA-256 digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses the 52-character form. Only the one spelling that
    /// [`Display`](fmt::Display) writes is accepted: lowercase, no padding,
    /// no whitespace, and zero bits in the last character's unused low bits.
    pub fn parse(text: &str) -> Result<Self, FingerprintError> {
        if text.len() != Self::TEXT_LEN
            || !text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
        {
            return Err(FingerprintError);
        }
        // BASE32_NOPAD refuses set trailing bits, which keeps one spelling
        // per key.
        let bytes = BASE32_NOPAD
            .decode(text.to_ascii_uppercase().as_bytes())
            .map_err(|_| FingerprintError)?;
        let digest: [u8; 32] = bytes.try_into().map_err(|_| FingerprintError)?;
        Ok(Self(digest))
    }
}

impl FromStr for KeyFingerprint {
    type Err = FingerprintError;

    fn from_str(text: &str) -> Result<Self, FingerprintError> {
        Self::parse(text)
    }
}

impl fmt::Display for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&BASE32_NOPAD.encode(&self.0).to_ascii_lowercase())
    }
}

impl fmt::Debug for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyFingerprint({self})")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn known_digest_has_the_documented_text() {
        // SHA-256 of the empty string, as RFC 4648 base32: the spelling
        // other implementations must produce.
        let fingerprint = KeyFingerprint::of_spki(b"");
        assert_eq!(
            fingerprint.to_string(),
            "4oymiquy7qobjgx36tejs35zeqt24qpemsnzgtfeswmrw6csxbkq"
        );
        assert_eq!(
            format!("{fingerprint:?}"),
            "KeyFingerprint(4oymiquy7qobjgx36tejs35zeqt24qpemsnzgtfeswmrw6csxbkq)"
        );
    }

    #[test]
    fn only_the_canonical_spelling_parses() {
        let text = KeyFingerprint::of_spki(b"k").to_string();
        assert!(KeyFingerprint::parse(&text).is_ok());
        let bad = [
            String::new(),
            text.to_ascii_uppercase(),
            format!("{text}="),
            format!(" {text}"),
            text[1..].to_string(),
            format!("{text}a"),
            text.replace(|c: char| c.is_ascii_digit(), "1"),
        ];
        for case in &bad {
            if case != &text {
                assert_eq!(
                    KeyFingerprint::parse(case),
                    Err(FingerprintError),
                    "{case:?}"
                );
            }
        }
        // The last character carries one bit of the digest and four unused
        // bits that must be zero: only 'a' (00000) and 'q' (10000) end a
        // fingerprint, so no digest has two spellings.
        for last in 'a'..='z' {
            let respelled = format!("{}{last}", &text[..51]);
            assert_eq!(
                KeyFingerprint::parse(&respelled).is_ok(),
                last == 'a' || last == 'q',
                "{respelled}"
            );
        }
    }

    #[test]
    fn a_certificate_and_its_key_have_one_fingerprint() {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::default()
            .self_signed(&key)
            .expect("certificate");
        use rcgen::PublicKeyData as _;
        assert_eq!(
            KeyFingerprint::of_certificate(cert.der()),
            Some(KeyFingerprint::of_spki(&key.subject_public_key_info()))
        );
        assert_eq!(KeyFingerprint::of_certificate(b"\x30\x03junk"), None);
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(digest in any::<[u8; 32]>()) {
            let fingerprint = KeyFingerprint::from_bytes(digest);
            let text = fingerprint.to_string();
            prop_assert_eq!(text.len(), KeyFingerprint::TEXT_LEN);
            prop_assert_eq!(KeyFingerprint::parse(&text), Ok(fingerprint));
        }

        #[test]
        fn parse_never_panics(text in "[a-z2-7A-Z=]{0,60}") {
            let _ = KeyFingerprint::parse(&text);
        }
    }
}
