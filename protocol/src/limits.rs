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

/// Bytes of postcard's varint for `n`.
const fn varint_len(n: usize) -> usize {
    let mut len = 1;
    let mut rest = n >> 7;
    while rest > 0 {
        len += 1;
        rest >>= 7;
    }
    len
}

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// Bytes of one id on the wire.
const ID_LEN: usize = 32;

/// Largest payload of a message that carries only an id list (`WantHave`, `WantBlock`,
/// `Have`, `DontHave`, `Cancel`): variant, count, [`MAX_IDS_PER_MESSAGE`] ids (32 771).
const MAX_ID_LIST_MESSAGE: usize =
    1 + varint_len(MAX_IDS_PER_MESSAGE) + MAX_IDS_PER_MESSAGE * ID_LEN;

/// Largest `Present` payload: variant, count, [`MAX_VOUCHES_PER_MESSAGE`] vouches of
/// [`MAX_RECORD_SIZE`] bytes, each with its length (1 048 626).
const MAX_PRESENT_MESSAGE: usize = 1
    + varint_len(MAX_VOUCHES_PER_MESSAGE)
    + MAX_VOUCHES_PER_MESSAGE * (varint_len(MAX_RECORD_SIZE) + MAX_RECORD_SIZE);

/// Largest `Block` payload: variant, id, encoding, length and [`MAX_CHUNK_SIZE`] bytes
/// (1 048 613).
const MAX_BLOCK_MESSAGE: usize =
    1 + ID_LEN + 1 + varint_len(MAX_CHUNK_SIZE as usize) + MAX_CHUNK_SIZE as usize;

/// Largest `Refused` payload: variant, id, and a reason of [`MAX_REASON_LEN`] bytes (1059).
const MAX_REFUSED_MESSAGE: usize = 1 + ID_LEN + varint_len(MAX_REASON_LEN) + MAX_REASON_LEN;

/// Largest frame payload a requester sends (`Present`, `WantHave`, `WantBlock`, `Cancel`,
/// `WantManifest`): a full `Present`, 1 048 626 bytes. A server refuses a longer frame as
/// soon as it reads its length; any longer frame holds a message over its limit.
pub const MAX_REQUEST_FRAME: usize = max(max(MAX_PRESENT_MESSAGE, MAX_ID_LIST_MESSAGE), 1 + ID_LEN);

/// Largest frame payload a server sends other than `Manifest` (`Have`, `DontHave`,
/// `Block`, `Refused`): a full `Block`, 1 048 613 bytes.
pub const MAX_REPLY_FRAME: usize = max(
    max(MAX_BLOCK_MESSAGE, MAX_ID_LIST_MESSAGE),
    MAX_REFUSED_MESSAGE,
);

/// Largest `Manifest` frame payload: variant, id, and a manifest of [`MAX_MANIFEST_SIZE`]
/// bytes with its length (67 108 901); within [`MAX_FRAME_SIZE`].
pub const MAX_MANIFEST_FRAME: usize =
    1 + ID_LEN + varint_len(MAX_MANIFEST_SIZE) + MAX_MANIFEST_SIZE;

const _: () = assert!(MAX_MANIFEST_FRAME <= MAX_FRAME_SIZE);
const _: () = assert!(MAX_REQUEST_FRAME < MAX_FRAME_SIZE && MAX_REPLY_FRAME < MAX_FRAME_SIZE);

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{BlockEncoding, Message};
    use crate::Id;
    use bytes::Bytes;

    fn len(message: &Message) -> usize {
        message.encode().expect("within limits").len()
    }

    #[test]
    fn frame_limits_are_the_largest_messages_of_each_side() {
        let ids = vec![Id::of(b"x"); MAX_IDS_PER_MESSAGE];
        let present = Message::Present {
            vouches: vec![Bytes::from(vec![7; MAX_RECORD_SIZE]); MAX_VOUCHES_PER_MESSAGE],
        };
        assert_eq!(len(&present), MAX_REQUEST_FRAME);
        for request in [
            Message::WantHave { ids: ids.clone() },
            Message::WantBlock { ids: ids.clone() },
            Message::Cancel { ids: ids.clone() },
            Message::WantManifest { id: Id::of(b"m") },
        ] {
            assert!(len(&request) <= MAX_REQUEST_FRAME, "{}", request.kind());
        }
        let block = Message::Block {
            id: Id::of(b"b"),
            encoding: BlockEncoding::Raw,
            data: Bytes::from(vec![1; MAX_CHUNK_SIZE as usize]),
        };
        assert_eq!(len(&block), MAX_REPLY_FRAME);
        for reply in [
            Message::Have { ids: ids.clone() },
            Message::DontHave { ids },
            Message::Refused {
                id: Id::of(b"r"),
                reason: "r".repeat(MAX_REASON_LEN),
            },
        ] {
            assert!(len(&reply) <= MAX_REPLY_FRAME, "{}", reply.kind());
        }
        let manifest = Message::Manifest {
            id: Id::of(b"m"),
            bytes: Bytes::from(vec![0; MAX_MANIFEST_SIZE]),
        };
        assert_eq!(len(&manifest), MAX_MANIFEST_FRAME);
    }
}
