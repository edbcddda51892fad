//! Checks of the exchange protocol: one message, and a byte stream cut into frames.

use bytes::Bytes;

use crate::frame::{FrameDecoder, FrameTooLarge, Progress, Space, FRAME_HEADER_LEN};
use crate::limits::{MAX_CHUNK_SIZE, MAX_MANIFEST_FRAME, MAX_REPLY_FRAME, MAX_REQUEST_FRAME};
use crate::wire::Message;

/// Decodes one frame's payload both ways the crate has ([`Message::decode`] and
/// [`Message::decode_shared`]), which must agree; an accepted message is within its limits
/// and encodes to bytes that decode to it again.
pub fn wire(data: &[u8]) {
    let decoded = Message::decode(data);
    let shared = Message::decode_shared(Bytes::copy_from_slice(data));
    match (&decoded, &shared) {
        (Ok(one), Ok(other)) => assert_eq!(one, other, "the two decoders disagree"),
        (Err(_), Err(_)) => return,
        _ => panic!("one decoder accepts, the other refuses: {decoded:?} and {shared:?}"),
    }
    let Ok(message) = decoded else { return };
    assert_eq!(message.check_limits(), Ok(()));
    if let Message::Block { data, .. } = &message {
        assert!(!data.is_empty() && data.len() <= MAX_CHUNK_SIZE as usize);
    }
    let encoded = message.encode().expect("an accepted message encodes");
    assert!(!message.kind().is_empty());
    assert_eq!(Message::decode(&encoded).as_ref(), Ok(&message));
    assert_eq!(Message::decode_shared(Bytes::from(encoded)), Ok(message));
}

/// A xorshift generator: how many bytes each read of the stream returns.
struct Reads(u32);

impl Reads {
    fn next(&mut self, at_most: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        1 + self.0 as usize % at_most
    }
}

/// The frames of `stream` as SPEC.md §8.1 defines them, and the refusal the stream ends with
/// if a length is over `limit`.
fn frames_by_the_spec(mut stream: &[u8], limit: usize) -> (Vec<&[u8]>, Option<FrameTooLarge>) {
    let mut frames = Vec::new();
    while let Some(header) = stream.get(..FRAME_HEADER_LEN) {
        let len = u32::from_be_bytes(header.try_into().expect("four bytes")) as usize;
        if len > limit {
            return (frames, Some(FrameTooLarge { len, limit }));
        }
        let Some(frame) = stream.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + len) else {
            break;
        };
        frames.push(frame);
        stream = &stream[FRAME_HEADER_LEN + len..];
    }
    (frames, None)
}

/// Cuts a byte stream into frames with [`FrameDecoder`], as the node's stream reader does,
/// the bytes arriving in reads of varied sizes: the first three bytes choose the reservation
/// step, the frame limit and the largest read. The frames must be those of the spec, a
/// length over the limit refused reserving nothing, the payload never reserved more than a
/// step ahead of what arrived nor beyond its length; and every frame decodes alike both
/// ways ([`wire`]).
pub fn frames(data: &[u8]) {
    let [step, limit, largest, ref stream @ ..] = *data else {
        return;
    };
    let step = match step % 4 {
        0 => 1 + usize::from(step / 4),
        1 => 64 << 10,
        2 => MAX_REPLY_FRAME,
        _ => 4096,
    };
    let limit = match limit % 4 {
        0 => usize::from(limit) * 4,
        1 => MAX_REQUEST_FRAME,
        2 => MAX_REPLY_FRAME,
        _ => MAX_MANIFEST_FRAME,
    };
    let largest = if largest == 0 {
        stream.len().max(1)
    } else {
        usize::from(largest)
    };
    let (expected, refusal) = frames_by_the_spec(stream, limit);

    let mut reads =
        Reads(0x9e37_79b9 ^ u32::from_le_bytes([step as u8, limit as u8, largest as u8, 1]));
    let mut decoder = FrameDecoder::new(step);
    let mut rest = stream;
    let mut got = Vec::new();
    let mut len = None;
    let refused = loop {
        if let Some(frame) = decoder.take_frame() {
            assert!(decoder.between_frames());
            got.push(frame);
            len = None;
            continue;
        }
        if rest.is_empty() {
            break None;
        }
        let at_most = reads.next(largest).min(rest.len());
        let read = match decoder.space() {
            Space::Header(header) => {
                assert!(!header.is_empty() && header.len() <= FRAME_HEADER_LEN);
                let read = at_most.min(header.len());
                header[..read].copy_from_slice(&rest[..read]);
                read
            }
            Space::Payload { buffer, room } => {
                let len = len.expect("a payload only after its length");
                assert!(room >= 1, "no room for a payload still missing bytes");
                assert!(room <= buffer.capacity() - buffer.len());
                assert!(
                    buffer.capacity() <= len,
                    "reserved beyond the frame's length"
                );
                assert!(
                    buffer.capacity() - buffer.len() <= step,
                    "reserved more than a step ahead"
                );
                let read = at_most.min(room);
                buffer.extend_from_slice(&rest[..read]);
                read
            }
        };
        rest = &rest[read..];
        match decoder.filled(read, || limit) {
            Ok(Progress::Length(accepted)) => {
                assert!(accepted <= limit);
                assert!(decoder.reserved() <= accepted.min(step));
                len = Some(accepted);
            }
            Ok(Progress::Reading) => {}
            Err(error) => break Some(error),
        }
    };
    if refused.is_some() {
        assert_eq!(decoder.reserved(), 0, "a refused frame reserved memory");
    }
    assert_eq!(refused, refusal);
    assert_eq!(got.len(), expected.len());
    for (frame, expected) in got.iter().zip(expected) {
        assert_eq!(frame.as_ref(), expected);
    }
    if refused.is_none() {
        let ended_cleanly = stream_ends_between_frames(stream);
        assert_eq!(decoder.between_frames(), ended_cleanly);
    }
    for frame in got {
        wire(&frame);
    }
}

/// Whether `stream` ends exactly after a whole frame (or is empty).
fn stream_ends_between_frames(mut stream: &[u8]) -> bool {
    loop {
        if stream.is_empty() {
            return true;
        }
        let Some(header) = stream.get(..FRAME_HEADER_LEN) else {
            return false;
        };
        let len = u32::from_be_bytes(header.try_into().expect("four bytes")) as usize;
        match stream.get(FRAME_HEADER_LEN + len..) {
            Some(rest) => stream = rest,
            None => return false,
        }
    }
}
