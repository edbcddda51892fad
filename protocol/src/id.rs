//! Content ids: the BLAKE3 hash of some bytes, and their one text form.
//!
//! A chunk's id is BLAKE3 of the chunk, a file's id is BLAKE3 of the whole file (the same
//! value `b3sum FILE` prints) and a checkpoint's id is BLAKE3 of its signed manifest bytes.
//! The text form is always 64 lowercase hexadecimal digits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A 32-byte BLAKE3 hash naming a chunk, a file or a checkpoint.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Id(pub [u8; 32]);

/// A string that is not an id's text form.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "not an id: expected 64 lowercase hex digits (a BLAKE3 hash, as b3sum prints), got {got:?}"
)]
pub struct ParseIdError {
    got: String,
}

impl Id {
    /// The id of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 8 hex digits, for logs and tables.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl From<blake3::Hash> for Id {
    fn from(hash: blake3::Hash) -> Self {
        Self(*hash.as_bytes())
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.short())
    }
}

impl FromStr for Id {
    type Err = ParseIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ParseIdError {
            got: text.chars().take(80).collect(),
        };
        if text.len() != 64 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(error());
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| error())?;
        Ok(Self(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matches_b3sum_text_of_empty_input() {
        // `b3sum /dev/null` prints this.
        assert_eq!(
            Id::of(b"").to_string(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "abc",
            &"A".repeat(64),
            &"g".repeat(64),
            &"0".repeat(63),
            &"0".repeat(65),
        ] {
            assert!(bad.parse::<Id>().is_err(), "{bad:?} parsed");
        }
    }

    proptest! {
        #[test]
        fn text_form_round_trips(bytes in any::<[u8; 32]>()) {
            let id = Id(bytes);
            prop_assert_eq!(id.to_string().parse::<Id>(), Ok(id));
        }

        #[test]
        fn binary_form_round_trips(bytes in any::<[u8; 32]>()) {
            let id = Id(bytes);
            let encoded = postcard::to_stdvec(&id).expect("encodes");
            prop_assert_eq!(encoded.len(), 32);
            prop_assert_eq!(postcard::from_bytes::<Id>(&encoded).expect("decodes"), id);
        }
    }
}
