//! The values kept in the store's trees, encoded with postcard.

use serde::{Deserialize, Serialize};

use super::StoreError;

/// Where the verified bytes of a chunk lie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkLocation {
    /// Absolute path of the file holding the chunk.
    pub path: String,
    /// Byte offset in that file.
    pub offset: u64,
    /// Length in bytes.
    pub len: u32,
}

/// What this node holds of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldCheckpoint {
    /// Absolute path of the directory its files live in (at their manifest paths).
    pub root: String,
    /// Whether every file is complete and verified.
    pub complete: bool,
    /// Whether this node published it.
    pub published: bool,
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8], tree: &'static str) -> Result<T, StoreError> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Damaged {
        tree,
        reason: e.to_string(),
    })
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Encoding plain structs of strings and integers into a Vec cannot fail.
    postcard::to_stdvec(value).unwrap_or_default()
}

impl ChunkLocation {
    pub(crate) fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        decode(bytes, "chunks/v1")
    }
}

impl HeldCheckpoint {
    pub(crate) fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        decode(bytes, "held/v1")
    }
}
