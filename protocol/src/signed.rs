//! Signed statements: the one way every small signed record of the protocol is signed and
//! read (name records, vouches, retractions, key rotations).
//!
//! A statement is a postcard body inside a signed [`envelope`] with the
//! statement's own magic and version; the body names the key that signed it. Each kind
//! implements [`Statement`] (its magic, version, size limit, signer and rules) and is held as
//! a [`Signed`] statement, which exists only for bytes that verified:
//!
//! - [`Signed::sign`] checks that the key is the body's signer, validates the body, encodes,
//!   seals and checks the size;
//! - [`Signed::from_bytes`] checks the size, opens the envelope, decodes the body from the
//!   exact bytes received (refusing trailing bytes), validates it and verifies the signature
//!   over those same bytes with the key the body names. Nothing is re-encoded.

use ed25519_dalek::SigningKey;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::envelope::{self, EnvelopeError};
use crate::id::Id;

/// A kind of signed statement: what its envelope looks like and which rules its body obeys.
pub trait Statement: Serialize + DeserializeOwned {
    /// What the statement is called in errors, e.g. `name record`.
    const KIND: &'static str;
    /// The envelope magic.
    const MAGIC: [u8; 4];
    /// The body format version this code reads and writes.
    const VERSION: u8;
    /// The largest whole signed statement, in bytes.
    const MAX_SIZE: usize;

    /// The ed25519 public key that signs this statement.
    fn signer(&self) -> &[u8; 32];

    /// Checks the statement's own rules (everything but the signature and size).
    fn validate(&self) -> Result<(), RecordError>;
}

/// Why a signed statement was refused, when signing or when reading.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    /// The signed bytes are over the kind's size limit.
    #[error("{kind} is {size} bytes, over the limit of {max}")]
    TooLarge {
        /// The kind of statement.
        kind: &'static str,
        /// Its size in bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The envelope is malformed or its signature does not verify.
    #[error("{kind}: {source}")]
    Envelope {
        /// The kind of statement.
        kind: &'static str,
        /// What was wrong with the envelope.
        source: EnvelopeError,
    },
    /// The body does not decode.
    #[error("{kind} body does not decode: {reason}")]
    Decode {
        /// The kind of statement.
        kind: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
    /// The body decodes but breaks one of the kind's rules.
    #[error("invalid {kind}: {reason}")]
    Invalid {
        /// The kind of statement.
        kind: &'static str,
        /// The rule broken.
        reason: String,
    },
    /// Signing was asked with a key other than the signer the body names.
    #[error("the signing key is not the {kind}'s signer key")]
    WrongSigner {
        /// The kind of statement.
        kind: &'static str,
    },
}

/// The error for a body of kind `T` that breaks a rule.
pub(crate) fn invalid<T: Statement>(reason: impl Into<String>) -> RecordError {
    RecordError::Invalid {
        kind: T::KIND,
        reason: reason.into(),
    }
}

/// A statement with its signed bytes and id; only ever built from bytes that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed<T> {
    bytes: Vec<u8>,
    id: Id,
    body: T,
}

impl<T: Statement> Signed<T> {
    /// Validates `body`, encodes and signs it with `key`, which must be the body's signer.
    pub fn sign(body: T, key: &SigningKey) -> Result<Self, RecordError> {
        if key.verifying_key().as_bytes() != body.signer() {
            return Err(RecordError::WrongSigner { kind: T::KIND });
        }
        body.validate()?;
        let encoded = postcard::to_stdvec(&body).map_err(|e| RecordError::Decode {
            kind: T::KIND,
            reason: e.to_string(),
        })?;
        let bytes = envelope::seal(T::MAGIC, T::VERSION, &encoded, key);
        check_size::<T>(bytes.len())?;
        Ok(Self {
            id: Id::of(&bytes),
            bytes,
            body,
        })
    }

    /// Checks and decodes signed bytes: size, envelope, body, rules, signature.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, RecordError> {
        check_size::<T>(bytes.len())?;
        let envelope_error = |source| RecordError::Envelope {
            kind: T::KIND,
            source,
        };
        let envelope = envelope::open(&bytes, T::MAGIC, T::VERSION).map_err(envelope_error)?;
        let decode_error = |reason| RecordError::Decode {
            kind: T::KIND,
            reason,
        };
        let (body, rest): (T, &[u8]) =
            postcard::take_from_bytes(envelope.body).map_err(|e| decode_error(e.to_string()))?;
        if !rest.is_empty() {
            return Err(decode_error(format!(
                "{} bytes left over after the body",
                rest.len()
            )));
        }
        body.validate()?;
        envelope.verify(body.signer()).map_err(envelope_error)?;
        Ok(Self {
            id: Id::of(&bytes),
            bytes,
            body,
        })
    }

    /// BLAKE3 of the signed bytes.
    pub fn id(&self) -> Id {
        self.id
    }

    /// The signed bytes, exactly as signed.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The decoded statement.
    pub fn body(&self) -> &T {
        &self.body
    }

    /// The signed bytes, giving up the decoded statement.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

fn check_size<T: Statement>(size: usize) -> Result<(), RecordError> {
    if size > T::MAX_SIZE {
        return Err(RecordError::TooLarge {
            kind: T::KIND,
            size,
            max: T::MAX_SIZE,
        });
    }
    Ok(())
}

/// A DHT record key: `prefix` followed by `bytes`.
pub(crate) fn record_key(prefix: &[u8], bytes: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + bytes.len());
    key.extend_from_slice(prefix);
    key.extend_from_slice(bytes);
    key
}

/// The 32 bytes after `prefix` in a DHT record key, if the key is exactly that.
pub(crate) fn parse_record_key(prefix: &[u8], key: &[u8]) -> Option<[u8; 32]> {
    key.strip_prefix(prefix)?.try_into().ok()
}

/// Shared checks for every kind of statement, run from each kind's tests.
#[cfg(test)]
pub(crate) mod testing {
    use proptest::prelude::*;
    use proptest::sample::Index;

    use super::*;

    /// The test key of seed `seed`.
    pub fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    /// The public half of [`key`]`(seed)`.
    pub fn public(seed: u8) -> [u8; 32] {
        key(seed).verifying_key().to_bytes()
    }

    /// Signs `body` with `key`, reads the bytes back and checks that nothing changed.
    pub fn round_trip<T>(body: T, key: &SigningKey) -> Result<(), TestCaseError>
    where
        T: Statement + Clone + PartialEq + std::fmt::Debug,
    {
        let signed = Signed::sign(body.clone(), key).expect("signs");
        prop_assert_eq!(signed.body(), &body);
        prop_assert_eq!(signed.id(), Id::of(signed.bytes()));
        let read = Signed::<T>::from_bytes(signed.bytes().to_vec()).expect("reads");
        prop_assert_eq!(&read, &signed);
        prop_assert_eq!(read.into_bytes(), signed.into_bytes());
        Ok(())
    }

    /// Replaces one byte of a signed `body` and checks the result is refused.
    pub fn corrupted_is_refused<T>(
        body: T,
        key: &SigningKey,
        position: Index,
        value: u8,
    ) -> Result<(), TestCaseError>
    where
        T: Statement + std::fmt::Debug,
    {
        let mut bytes = Signed::sign(body, key).expect("signs").into_bytes();
        let at = position.index(bytes.len());
        prop_assume!(bytes[at] != value);
        bytes[at] = value;
        prop_assert!(Signed::<T>::from_bytes(bytes).is_err());
        Ok(())
    }

    /// A valid envelope of kind `T` around an arbitrary body is refused or read, never a
    /// panic.
    pub fn arbitrary_body_never_panics<T: Statement>(body: &[u8]) {
        let _ = Signed::<T>::from_bytes(envelope::seal(T::MAGIC, T::VERSION, body, &key(3)));
    }

    /// The attacks every kind must refuse, given a valid `body` signed by `key`.
    pub fn refuses_common_attacks<T>(body: T, key: &SigningKey)
    where
        T: Statement + Clone + std::fmt::Debug,
    {
        let kind = T::KIND;
        let good = Signed::sign(body.clone(), key).expect("signs").into_bytes();
        let encoded = postcard::to_stdvec(&body).expect("encodes");
        let other = self::key(0xee);
        assert_ne!(other.verifying_key().as_bytes(), body.signer());

        let mut forged = good.clone();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        let mut trailing = encoded.clone();
        trailing.push(0);
        let mut oversized = good.clone();
        oversized.resize(T::MAX_SIZE + 1, 0);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("forged signature", forged),
            (
                "signed by another key than the body's",
                envelope::seal(T::MAGIC, T::VERSION, &encoded, &other),
            ),
            ("truncated", good[..good.len() - 1].to_vec()),
            ("truncated to the header", good[..20].to_vec()),
            ("oversized", oversized),
            (
                "wrong magic",
                envelope::seal(*b"OSTZ", T::VERSION, &encoded, key),
            ),
            (
                "unknown version",
                envelope::seal(T::MAGIC, T::VERSION + 1, &encoded, key),
            ),
            (
                "trailing byte after the body",
                envelope::seal(T::MAGIC, T::VERSION, &trailing, key),
            ),
            (
                "body cut short",
                envelope::seal(T::MAGIC, T::VERSION, &encoded[..encoded.len() - 1], key),
            ),
        ];
        for (attack, bytes) in cases {
            assert!(
                Signed::<T>::from_bytes(bytes).is_err(),
                "{kind}: {attack} accepted"
            );
        }
        assert!(
            matches!(
                Signed::sign(body, &other),
                Err(RecordError::WrongSigner { .. })
            ),
            "{kind}: signing with another key"
        );
        assert!(
            Signed::<T>::from_bytes(good).is_ok(),
            "{kind}: good refused"
        );
    }

    /// Bytes of kind `T` fed to the reader of kind `U` are refused as the wrong magic.
    pub fn other_kind_is_wrong_magic<T, U>(body: T, key: &SigningKey)
    where
        T: Statement,
        U: Statement + std::fmt::Debug,
    {
        let bytes = Signed::sign(body, key).expect("signs").into_bytes();
        let error = Signed::<U>::from_bytes(bytes).expect_err("another kind accepted");
        assert!(
            matches!(
                error,
                RecordError::Envelope {
                    source: EnvelopeError::WrongMagic { .. },
                    ..
                }
            ),
            "{} read as {}: {error}",
            T::KIND,
            U::KIND
        );
    }

    /// The standard property tests of one kind of statement: `$strategy` yields a valid
    /// body and the seed of its signer's key.
    macro_rules! statement_properties {
        ($kind:ty, $strategy:expr) => {
            proptest::proptest! {
                #[test]
                fn signed_bytes_round_trip((body, seed) in $strategy) {
                    $crate::signed::testing::round_trip(body, &$crate::signed::testing::key(seed))?;
                }

                #[test]
                fn any_replaced_byte_is_refused(
                    (body, seed) in $strategy,
                    position in proptest::prelude::any::<proptest::sample::Index>(),
                    value in proptest::prelude::any::<u8>(),
                ) {
                    $crate::signed::testing::corrupted_is_refused(
                        body,
                        &$crate::signed::testing::key(seed),
                        position,
                        value,
                    )?;
                }

                #[test]
                fn arbitrary_bytes_never_panic(
                    bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
                ) {
                    let _ = $crate::signed::Signed::<$kind>::from_bytes(bytes.clone());
                    $crate::signed::testing::arbitrary_body_never_panics::<$kind>(&bytes);
                }
            }
        };
    }
    pub(crate) use statement_properties;
}
