//! The exchange protocol's messages: bitswap-style requests and replies for blocks
//! (chunks) and manifests, with a size limit for each kind.
//!
//! Messages travel over a long-lived libp2p stream of protocol [`EXCHANGE_PROTOCOL`] as
//! frames: a 4-byte big-endian length, then the postcard encoding of one [`Message`]. A
//! peer may send many requests before any reply arrives; replies come in any order and name
//! the id they answer. [`Message::decode`] refuses a frame over [`MAX_FRAME_SIZE`], any
//! trailing byte, and any message over its own limit (see [`Message::check_limits`]).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::id::Id;
use crate::limits::{
    MAX_CHUNK_SIZE, MAX_FRAME_SIZE, MAX_IDS_PER_MESSAGE, MAX_MANIFEST_SIZE, MAX_REASON_LEN,
    MAX_RECORD_SIZE, MAX_VOUCHES_PER_MESSAGE,
};

/// The libp2p protocol id of the exchange protocol.
pub const EXCHANGE_PROTOCOL: &str = "/ostrom/exchange/1.0.0";

/// How a block's payload is encoded on the wire. Ids always name the raw bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlockEncoding {
    /// The payload is the chunk's bytes as they are.
    Raw,
}

/// One exchange message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// "Do you have these blocks?" Answered by [`Message::Have`] and [`Message::DontHave`].
    WantHave {
        /// Chunk ids.
        ids: Vec<Id>,
    },
    /// "Send me these blocks." Answered by one [`Message::Block`] per id held and one
    /// [`Message::DontHave`] listing the rest.
    WantBlock {
        /// Chunk ids.
        ids: Vec<Id>,
    },
    /// "I have these."
    Have {
        /// Chunk ids.
        ids: Vec<Id>,
    },
    /// "I do not have these" (blocks, or a manifest).
    DontHave {
        /// Chunk, checkpoint or file ids.
        ids: Vec<Id>,
    },
    /// A block: a chunk's bytes.
    Block {
        /// The chunk id; the receiver checks BLAKE3 of the decoded bytes against it.
        id: Id,
        /// How `data` is encoded.
        encoding: BlockEncoding,
        /// The payload, at most [`MAX_CHUNK_SIZE`] bytes.
        data: Bytes,
    },
    /// "I no longer want these"; the sender skips any of them not yet sent.
    Cancel {
        /// Chunk ids.
        ids: Vec<Id>,
    },
    /// "Send me the signed manifest of this checkpoint, or of the checkpoint holding this
    /// file." Answered by [`Message::Manifest`] or [`Message::DontHave`].
    WantManifest {
        /// A checkpoint id or a file id.
        id: Id,
    },
    /// A signed manifest.
    Manifest {
        /// The id that was asked for.
        id: Id,
        /// The signed manifest bytes, at most [`MAX_MANIFEST_SIZE`].
        bytes: Bytes,
    },
    /// The requester's lab memberships: signed vouches binding its peer id to labs. Sent
    /// first on a stream (and again whenever they change); the server uses them to decide
    /// who may read restricted checkpoints.
    Present {
        /// Signed vouches, at most [`MAX_VOUCHES_PER_MESSAGE`], each at most
        /// [`MAX_RECORD_SIZE`] bytes.
        vouches: Vec<Bytes>,
    },
    /// "You may not have this": the server holds it but the requester is not authorized
    /// (a restricted checkpoint). Answers a want-manifest or want-block.
    Refused {
        /// The manifest or chunk id refused.
        id: Id,
        /// Why, for a person.
        reason: String,
    },
}

/// Why a message was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    /// The frame is larger than any message may be.
    #[error("frame of {0} bytes is over the limit of {MAX_FRAME_SIZE}")]
    FrameTooLarge(usize),
    /// The frame does not decode as a message.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The message breaks its kind's limit.
    #[error("message over its limit: {0}")]
    OverLimit(String),
}

impl Message {
    /// A short name of the message kind, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::WantHave { .. } => "want-have",
            Message::WantBlock { .. } => "want-block",
            Message::Have { .. } => "have",
            Message::DontHave { .. } => "dont-have",
            Message::Block { .. } => "block",
            Message::Cancel { .. } => "cancel",
            Message::WantManifest { .. } => "want-manifest",
            Message::Manifest { .. } => "manifest",
            Message::Present { .. } => "present",
            Message::Refused { .. } => "refused",
        }
    }

    /// Checks the per-kind limits: at most [`MAX_IDS_PER_MESSAGE`] ids in a list, a block's
    /// payload 1 to [`MAX_CHUNK_SIZE`] bytes, a manifest at most [`MAX_MANIFEST_SIZE`].
    pub fn check_limits(&self) -> Result<(), WireError> {
        match self {
            Message::WantHave { ids }
            | Message::WantBlock { ids }
            | Message::Have { ids }
            | Message::DontHave { ids }
            | Message::Cancel { ids } => {
                if ids.len() > MAX_IDS_PER_MESSAGE {
                    return Err(WireError::OverLimit(format!(
                        "{} with {} ids (at most {MAX_IDS_PER_MESSAGE})",
                        self.kind(),
                        ids.len()
                    )));
                }
            }
            Message::Block { data, .. } => {
                if data.is_empty() || data.len() > MAX_CHUNK_SIZE as usize {
                    return Err(WireError::OverLimit(format!(
                        "block of {} bytes (1 to {MAX_CHUNK_SIZE})",
                        data.len()
                    )));
                }
            }
            Message::Manifest { bytes, .. } => {
                if bytes.len() > MAX_MANIFEST_SIZE {
                    return Err(WireError::OverLimit(format!(
                        "manifest of {} bytes (at most {MAX_MANIFEST_SIZE})",
                        bytes.len()
                    )));
                }
            }
            Message::Present { vouches } => {
                if vouches.len() > MAX_VOUCHES_PER_MESSAGE
                    || vouches.iter().any(|v| v.len() > MAX_RECORD_SIZE)
                {
                    return Err(WireError::OverLimit(format!(
                        "present with {} vouches (at most {MAX_VOUCHES_PER_MESSAGE} of at most {MAX_RECORD_SIZE} bytes)",
                        vouches.len()
                    )));
                }
            }
            Message::Refused { reason, .. } => {
                if reason.chars().any(char::is_control) {
                    return Err(WireError::OverLimit(
                        "refusal reason holds a control character".to_owned(),
                    ));
                }
                if reason.len() > MAX_REASON_LEN {
                    return Err(WireError::OverLimit(format!(
                        "refusal reason of {} bytes (at most {MAX_REASON_LEN})",
                        reason.len()
                    )));
                }
            }
            Message::WantManifest { .. } => {}
        }
        Ok(())
    }

    /// Encodes the message (without the length prefix) after checking its limits.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        self.check_limits()?;
        // Room for the payload up front: a block is encoded without growing its buffer.
        let room = match self {
            Message::Block { data, .. } => data.len() + 48,
            Message::Manifest { bytes, .. } => bytes.len() + 48,
            _ => 256,
        };
        postcard::to_extend(self, Vec::with_capacity(room))
            .map_err(|e| WireError::Malformed(e.to_string()))
    }

    /// Decodes one frame's payload exactly as [`Message::decode`] does, taking a block's data
    /// as a slice of `frame` rather than a copy of it.
    pub fn decode_shared(frame: Bytes) -> Result<Self, WireError> {
        match raw_block(&frame) {
            Some((id, data)) => {
                let message = Message::Block {
                    id,
                    encoding: BlockEncoding::Raw,
                    data: frame.slice(data),
                };
                message.check_limits()?;
                Ok(message)
            }
            None => Self::decode(&frame),
        }
    }

    /// Decodes one frame's payload, refusing trailing bytes and messages over their limits.
    pub fn decode(frame: &[u8]) -> Result<Self, WireError> {
        if frame.len() > MAX_FRAME_SIZE {
            return Err(WireError::FrameTooLarge(frame.len()));
        }
        let (message, rest): (Message, &[u8]) =
            postcard::take_from_bytes(frame).map_err(|e| WireError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(WireError::Malformed(format!(
                "{} bytes after the message",
                rest.len()
            )));
        }
        message.check_limits()?;
        Ok(message)
    }
}

/// The variant index of [`Message::Block`]: a block frame's first byte.
const BLOCK_INDEX: u8 = 4;

/// A frame that is exactly a raw block in canonical form (variant index, 32-byte id,
/// encoding `Raw`, a minimal varint length, then that many bytes and nothing after): its id
/// and where its data lies. `None` for anything else, which the general decoder handles.
fn raw_block(frame: &[u8]) -> Option<(Id, std::ops::Range<usize>)> {
    const ID_END: usize = 1 + 32;
    if frame.first() != Some(&BLOCK_INDEX) || frame.get(ID_END) != Some(&0) {
        return None;
    }
    let id: [u8; 32] = frame.get(1..ID_END)?.try_into().ok()?;
    let mut len: usize = 0;
    let mut at = ID_END + 1;
    for shift in (0..35).step_by(7) {
        let byte = *frame.get(at)?;
        at += 1;
        len |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            // Minimal: no final zero byte after the first.
            if byte == 0 && shift > 0 {
                return None;
            }
            return (frame.len().checked_sub(at)? == len).then_some((Id(id), at..frame.len()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_id() -> impl Strategy<Value = Id> {
        any::<[u8; 32]>().prop_map(Id)
    }

    fn arb_ids() -> impl Strategy<Value = Vec<Id>> {
        proptest::collection::vec(arb_id(), 0..20)
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        prop_oneof![
            arb_ids().prop_map(|ids| Message::WantHave { ids }),
            arb_ids().prop_map(|ids| Message::WantBlock { ids }),
            arb_ids().prop_map(|ids| Message::Have { ids }),
            arb_ids().prop_map(|ids| Message::DontHave { ids }),
            arb_ids().prop_map(|ids| Message::Cancel { ids }),
            (arb_id(), proptest::collection::vec(any::<u8>(), 1..2000)).prop_map(|(id, d)| {
                Message::Block {
                    id,
                    encoding: BlockEncoding::Raw,
                    data: d.into(),
                }
            }),
            arb_id().prop_map(|id| Message::WantManifest { id }),
            (arb_id(), proptest::collection::vec(any::<u8>(), 0..2000)).prop_map(|(id, b)| {
                Message::Manifest {
                    id,
                    bytes: b.into(),
                }
            }),
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..4)
                .prop_map(|v| Message::Present {
                    vouches: v.into_iter().map(Into::into).collect()
                }),
            (arb_id(), "[a-z :]{0,40}").prop_map(|(id, reason)| Message::Refused { id, reason }),
        ]
    }

    proptest! {
        #[test]
        fn every_message_round_trips(message in arb_message()) {
            let frame = message.encode().expect("encodes");
            prop_assert_eq!(Message::decode(&frame).expect("decodes"), message);
        }

        #[test]
        fn arbitrary_frames_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Message::decode(&frame);
        }

        #[test]
        fn shared_decoding_agrees_with_decoding(message in arb_message()) {
            let frame = message.encode().expect("encodes");
            prop_assert_eq!(
                Message::decode_shared(Bytes::from(frame.clone())),
                Message::decode(&frame)
            );
        }

        #[test]
        fn shared_decoding_agrees_on_any_block_frame(
            tail in proptest::collection::vec(any::<u8>(), 0..64),
            len in proptest::collection::vec(any::<u8>(), 0..6),
        ) {
            // A block's index and id, then arbitrary encoding, length and data bytes.
            let mut frame = vec![BLOCK_INDEX];
            frame.extend([7u8; 32]);
            frame.extend(len);
            frame.extend(tail);
            prop_assert_eq!(
                Message::decode_shared(Bytes::from(frame.clone())),
                Message::decode(&frame)
            );
        }

        #[test]
        fn trailing_bytes_are_refused(message in arb_message(), extra in 1usize..8) {
            let mut frame = message.encode().expect("encodes");
            frame.extend(std::iter::repeat_n(0u8, extra));
            prop_assert!(Message::decode(&frame).is_err());
        }
    }

    #[test]
    fn limits_are_enforced_both_ways() {
        let too_many = Message::WantBlock {
            ids: vec![Id([0; 32]); MAX_IDS_PER_MESSAGE + 1],
        };
        assert!(too_many.encode().is_err());
        let raw = postcard::to_stdvec(&too_many).expect("raw encode");
        assert!(matches!(
            Message::decode(&raw),
            Err(WireError::OverLimit(_))
        ));

        let big_block = Message::Block {
            id: Id([0; 32]),
            encoding: BlockEncoding::Raw,
            data: vec![0u8; MAX_CHUNK_SIZE as usize + 1].into(),
        };
        let raw = postcard::to_stdvec(&big_block).expect("raw encode");
        assert!(matches!(
            Message::decode(&raw),
            Err(WireError::OverLimit(_))
        ));

        let empty_block = Message::Block {
            id: Id([0; 32]),
            encoding: BlockEncoding::Raw,
            data: Bytes::new(),
        };
        assert!(empty_block.encode().is_err());

        let max_block = Message::Block {
            id: Id([0; 32]),
            encoding: BlockEncoding::Raw,
            data: vec![0u8; MAX_CHUNK_SIZE as usize].into(),
        };
        let frame = max_block.encode().expect("a full-size block encodes");
        assert_eq!(Message::decode(&frame).expect("decodes"), max_block);
    }

    #[test]
    fn unknown_message_kind_is_malformed() {
        assert!(matches!(
            Message::decode(&[200]),
            Err(WireError::Malformed(_))
        ));
    }

    #[test]
    fn present_and_refused_limits() {
        let too_many = Message::Present {
            vouches: vec![Bytes::from_static(b"v"); MAX_VOUCHES_PER_MESSAGE + 1],
        };
        let raw = postcard::to_stdvec(&too_many).expect("raw encode");
        assert!(matches!(
            Message::decode(&raw),
            Err(WireError::OverLimit(_))
        ));
        let long = Message::Refused {
            id: Id([0; 32]),
            reason: "x".repeat(MAX_REASON_LEN + 1),
        };
        let raw = postcard::to_stdvec(&long).expect("raw encode");
        assert!(matches!(
            Message::decode(&raw),
            Err(WireError::OverLimit(_))
        ));
    }
}
