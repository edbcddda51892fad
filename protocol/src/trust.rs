//! Publisher keys as people see them: one text form, and the checks a key must pass before
//! anything is trusted with it.
//!
//! A publisher key prints as 64 lowercase hex digits (its 32 compressed ed25519 bytes), the
//! same form as an id. [`parse_public_key`] reads only that form and refuses bytes that are
//! not a usable ed25519 public key, so a key typed into a configuration file or a command
//! line is checked when it is read, not when the first signature fails.

use ed25519_dalek::VerifyingKey;

/// Why a publisher key was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The text is not 64 lowercase hex digits.
    #[error("not a publisher key: expected 64 lowercase hex digits (an ed25519 public key), got {got:?}")]
    NotText {
        /// The text given (at most its first 80 characters).
        got: String,
    },
    /// The bytes are not the compressed form of a point on the curve.
    #[error("{key} is not a valid ed25519 public key")]
    NotAPoint {
        /// The key's text form.
        key: String,
    },
    /// The point has small order: no signature made with it ever verifies.
    #[error("{key} is a weak (small-order) ed25519 key, which nothing can be signed with")]
    Weak {
        /// The key's text form.
        key: String,
    },
}

/// The text form of a publisher key: 64 lowercase hex digits.
pub fn format_public_key(key: &[u8; 32]) -> String {
    hex::encode(key)
}

/// Reads a publisher key from its text form and checks it with [`check_public_key`].
pub fn parse_public_key(text: &str) -> Result<[u8; 32], KeyError> {
    let not_text = || KeyError::NotText {
        got: text.chars().take(80).collect(),
    };
    if text.len() != 64 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(not_text());
    }
    let mut key = [0u8; 32];
    hex::decode_to_slice(text, &mut key).map_err(|_| not_text())?;
    check_public_key(&key)?;
    Ok(key)
}

/// Checks that `key` is a usable ed25519 public key: a valid compressed curve point, not of
/// small order (strict verification refuses every signature under such a key).
pub fn check_public_key(key: &[u8; 32]) -> Result<(), KeyError> {
    let point = VerifyingKey::from_bytes(key).map_err(|_| KeyError::NotAPoint {
        key: format_public_key(key),
    })?;
    if point.is_weak() {
        return Err(KeyError::Weak {
            key: format_public_key(key),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;

    use super::*;

    /// The identity point (y = 1): valid, but of small order.
    const IDENTITY: &str = "0100000000000000000000000000000000000000000000000000000000000000";
    /// y = 2 is not the y coordinate of any point on the curve.
    const NOT_A_POINT: &str = "0200000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn a_real_key_round_trips() {
        let key = SigningKey::from_bytes(&[42; 32]).verifying_key().to_bytes();
        let text = format_public_key(&key);
        assert_eq!(
            text,
            "197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61"
        );
        assert_eq!(parse_public_key(&text), Ok(key));
    }

    #[test]
    fn bad_keys_are_named() {
        type Expected = fn(&KeyError) -> bool;
        let cases: Vec<(&str, Expected)> = vec![
            ("", |e| matches!(e, KeyError::NotText { .. })),
            ("abc", |e| matches!(e, KeyError::NotText { .. })),
            (
                "197F6B23E16C8532C6ABC838FACD5EA789BE0C76B2920334039BFA8B3D368D61",
                |e| matches!(e, KeyError::NotText { .. }),
            ),
            (
                " 197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d6",
                |e| matches!(e, KeyError::NotText { .. }),
            ),
            (NOT_A_POINT, |e| matches!(e, KeyError::NotAPoint { .. })),
            (IDENTITY, |e| matches!(e, KeyError::Weak { .. })),
        ];
        for (text, expected) in cases {
            let error = parse_public_key(text).expect_err(text);
            assert!(expected(&error), "{text:?}: {error}");
        }
    }

    proptest! {
        #[test]
        fn every_signing_key_parses(seed in any::<[u8; 32]>()) {
            let key = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
            prop_assert_eq!(parse_public_key(&format_public_key(&key)), Ok(key));
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,70}|[0-9a-f]{64}") {
            let _ = parse_public_key(&text);
        }
    }
}
