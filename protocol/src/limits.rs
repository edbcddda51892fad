//! Every size limit of the protocol, in one place (SPEC.md, "Limits").

/// Largest chunk, in bytes. Tensors are split into pieces of at most this size and other
/// files into pieces of exactly this size (the last one shorter).
pub const MAX_CHUNK_SIZE: u32 = 1 << 20;

/// Largest encoded signed manifest, in bytes.
pub const MAX_MANIFEST_SIZE: usize = 64 << 20;

/// Largest safetensors header (the JSON after the 8-byte length), in bytes; the same limit
/// the `safetensors` library applies.
pub const MAX_SAFETENSORS_HEADER: u64 = 100_000_000;

/// Most files in one manifest.
pub const MAX_FILES: usize = 100_000;

/// Most bytes in a file path inside a manifest.
pub const MAX_PATH_LEN: usize = 4096;

/// Most bytes in a model name.
pub const MAX_NAME_LEN: usize = 256;

/// Most bytes in a tag.
pub const MAX_TAG_LEN: usize = 128;

/// Most metadata entries in a manifest.
pub const MAX_METADATA_ENTRIES: usize = 256;

/// Most bytes in a metadata key.
pub const MAX_METADATA_KEY_LEN: usize = 128;

/// Most bytes in a metadata value.
pub const MAX_METADATA_VALUE_LEN: usize = 4096;

/// Most bytes in a tensor name or dtype string.
pub const MAX_TENSOR_NAME_LEN: usize = 1024;

/// Most dimensions in a tensor shape. Every dimension is a `u64` once decoded (eight bytes
/// of memory from as little as one byte on the wire), so the decoder refuses a longer shape
/// before it reads one.
pub const MAX_TENSOR_RANK: usize = 16;

/// Most tensors listed for one file of a manifest (2^18). The decoder refuses a longer list
/// before it reads one entry: a tensor entry is as small as seven bytes on the wire but
/// about a hundred and fifty in memory.
pub const MAX_TENSORS_PER_FILE: usize = 1 << 18;

/// Most tensors listed in one manifest, over all its files (2^20); with
/// [`MAX_TENSORS_PER_FILE`] it bounds the memory a decoded manifest takes, however its
/// tensors are spread over files.
pub const MAX_TENSORS: usize = 1 << 20;

/// Most ids in one want-have, want-block, have, dont-have or cancel message.
pub const MAX_IDS_PER_MESSAGE: usize = 1024;

/// Largest exchange frame of any kind (a manifest message with its framing).
pub const MAX_FRAME_SIZE: usize = MAX_MANIFEST_SIZE + 1024;

/// Largest encoded signed record or statement (name record, vouch, retraction, key
/// rotation), in bytes.
pub const MAX_RECORD_SIZE: usize = 64 << 10;

/// Most tags in one name record.
pub const MAX_NAME_TAGS: usize = 1024;

/// Most bytes in the peer id a vouch names (a libp2p PeerId is 38 bytes for an ed25519 key).
pub const MAX_PEER_ID_LEN: usize = 64;

/// Longest a vouch may be valid, from issue to expiry: 400 days, in milliseconds.
pub const MAX_VOUCH_LIFETIME_MS: u64 = 400 * 24 * 60 * 60 * 1000;

/// How far in the future a vouch's issue time may lie before it is refused as not yet
/// valid: 5 minutes of clock skew, in milliseconds.
pub const MAX_CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;

/// Most bytes in a retraction's reason.
pub const MAX_REASON_LEN: usize = 1024;

/// Most vouches in one present message.
pub const MAX_VOUCHES_PER_MESSAGE: usize = 16;

/// Most readers (lab keys) a restricted checkpoint names.
pub const MAX_READERS: usize = 64;
