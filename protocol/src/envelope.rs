//! The signed envelope: the byte layout every signed object of the protocol shares.
//!
//! ```text
//! magic     4 bytes   names the kind of object (b"OSTM" for a manifest)
//! version   1 byte    the format version of the body (1)
//! length    4 bytes   body length, unsigned little-endian
//! body      length    the object, encoded with postcard
//! signature 64 bytes  ed25519 over every byte before it (magic through body)
//! ```
//!
//! The signer's public key is inside the body, so a reader splits the envelope at fixed
//! offsets, decodes the body from the exact bytes received, and verifies the signature over
//! those same bytes: nothing is ever re-encoded before checking.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

const HEADER_LEN: usize = 4 + 1 + 4;
const SIGNATURE_LEN: usize = 64;

/// Why an envelope was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Fewer bytes than the fixed parts need.
    #[error("truncated: {0} bytes is shorter than any signed object")]
    Truncated(usize),
    /// The magic is not the one expected.
    #[error("wrong magic: expected {expected:?}, found {found:?}")]
    WrongMagic {
        /// The magic the reader wanted.
        expected: [u8; 4],
        /// The magic found.
        found: [u8; 4],
    },
    /// A version this implementation does not read.
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u8),
    /// The length field disagrees with the number of bytes.
    #[error("length field says {declared} body bytes but {actual} are present")]
    LengthMismatch {
        /// Body length the envelope declares.
        declared: usize,
        /// Body length present.
        actual: usize,
    },
    /// The signature does not verify under the key in the body.
    #[error("bad signature: the ed25519 signature does not match the signer's key")]
    BadSignature,
    /// The signer key in the body is not a valid ed25519 point.
    #[error("the signer's public key is not a valid ed25519 key")]
    BadKey,
}

/// An envelope split into its parts, not yet verified.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    /// The format version.
    pub version: u8,
    /// The body bytes, exactly as received.
    pub body: &'a [u8],
    signed_part: &'a [u8],
    signature: &'a [u8],
}

/// Builds an envelope of `body` and signs it.
pub fn seal(magic: [u8; 4], version: u8, body: &[u8], key: &SigningKey) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_LEN + body.len() + SIGNATURE_LEN);
    bytes.extend_from_slice(&magic);
    bytes.push(version);
    // Bodies are bounded far below 4 GiB by the callers' limits.
    bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
    bytes.extend_from_slice(body);
    let signature = key.sign(&bytes);
    bytes.extend_from_slice(&signature.to_bytes());
    bytes
}

/// Splits `bytes` into an envelope of the given magic and version.
pub fn open(bytes: &[u8], magic: [u8; 4], version: u8) -> Result<Envelope<'_>, EnvelopeError> {
    if bytes.len() < HEADER_LEN + SIGNATURE_LEN {
        return Err(EnvelopeError::Truncated(bytes.len()));
    }
    let (header, rest) = bytes.split_at(HEADER_LEN);
    let mut found = [0u8; 4];
    found.copy_from_slice(&header[..4]);
    if found != magic {
        return Err(EnvelopeError::WrongMagic {
            expected: magic,
            found,
        });
    }
    if header[4] != version {
        return Err(EnvelopeError::UnsupportedVersion(header[4]));
    }
    let mut length = [0u8; 4];
    length.copy_from_slice(&header[5..9]);
    let declared = u32::from_le_bytes(length) as usize;
    let actual = rest.len() - SIGNATURE_LEN;
    if declared != actual {
        return Err(EnvelopeError::LengthMismatch { declared, actual });
    }
    let signed_len = HEADER_LEN + declared;
    Ok(Envelope {
        version,
        body: &bytes[HEADER_LEN..signed_len],
        signed_part: &bytes[..signed_len],
        signature: &bytes[signed_len..],
    })
}

impl Envelope<'_> {
    /// Verifies the signature over the exact received bytes with `signer`.
    pub fn verify(&self, signer: &[u8; 32]) -> Result<(), EnvelopeError> {
        let key = VerifyingKey::from_bytes(signer).map_err(|_| EnvelopeError::BadKey)?;
        let signature =
            Signature::from_slice(self.signature).map_err(|_| EnvelopeError::BadSignature)?;
        key.verify_strict(self.signed_part, &signature)
            .map_err(|_| EnvelopeError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    proptest! {
        #[test]
        fn sealed_bytes_open_and_verify(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let signer = key(7);
            let bytes = seal(*b"TEST", 1, &body, &signer);
            let envelope = open(&bytes, *b"TEST", 1).expect("opens");
            prop_assert_eq!(envelope.body, &body[..]);
            prop_assert_eq!(envelope.verify(signer.verifying_key().as_bytes()), Ok(()));
        }

        #[test]
        fn any_flipped_bit_is_refused(
            body in proptest::collection::vec(any::<u8>(), 1..128),
            position in any::<proptest::sample::Index>(),
            bit in 0u8..8,
        ) {
            let signer = key(9);
            let mut bytes = seal(*b"TEST", 1, &body, &signer);
            let at = position.index(bytes.len());
            bytes[at] ^= 1 << bit;
            let verdict = open(&bytes, *b"TEST", 1)
                .and_then(|envelope| envelope.verify(signer.verifying_key().as_bytes()));
            prop_assert!(verdict.is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = open(&bytes, *b"TEST", 1).map(|envelope| envelope.verify(&[3; 32]));
        }
    }

    #[test]
    fn another_key_does_not_verify() {
        let bytes = seal(*b"TEST", 1, b"body", &key(1));
        let envelope = open(&bytes, *b"TEST", 1).expect("opens");
        assert_eq!(
            envelope.verify(key(2).verifying_key().as_bytes()),
            Err(EnvelopeError::BadSignature)
        );
    }

    #[test]
    fn truncation_and_wrong_magic_are_named() {
        let bytes = seal(*b"TEST", 1, b"body", &key(1));
        assert!(matches!(
            open(&bytes[..10], *b"TEST", 1),
            Err(EnvelopeError::Truncated(10))
        ));
        assert!(matches!(
            open(&bytes[..bytes.len() - 1], *b"TEST", 1),
            Err(EnvelopeError::LengthMismatch { .. })
        ));
        assert!(matches!(
            open(&bytes, *b"OTHR", 1),
            Err(EnvelopeError::WrongMagic { .. })
        ));
        assert!(matches!(
            open(&bytes, *b"TEST", 2),
            Err(EnvelopeError::UnsupportedVersion(1))
        ));
    }
}
