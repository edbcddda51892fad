//! Reading exchange frames out of a byte stream, without doing the reading: a 4-byte
//! big-endian length, refused as soon as it is complete if it is over the reader's limit,
//! then that many payload bytes, gathered in a buffer reserved at most a fixed step ahead of
//! what has arrived (SPEC.md §8.1).
//!
//! A stream reader asks [`FrameDecoder::space`] where the next bytes go, reads into it,
//! reports how many it read with [`FrameDecoder::filled`] and takes each whole frame with
//! [`FrameDecoder::take_frame`]. Everything read so far lives here between reads, so a read
//! that is cancelled loses nothing. Deadlines are the reader's business.

use bytes::Bytes;

/// Bytes of a frame's length prefix.
pub const FRAME_HEADER_LEN: usize = 4;

/// A frame whose declared length is over the reader's limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("frame of {len} bytes is over the limit of {limit}")]
pub struct FrameTooLarge {
    /// The length the frame declares.
    pub len: usize,
    /// The reader's limit when the length was read.
    pub limit: usize,
}

/// Where the next bytes read from the stream go.
#[derive(Debug)]
pub enum Space<'a> {
    /// The rest of the length prefix: read at most this many bytes into it.
    Header(&'a mut [u8]),
    /// The payload: append at most `room` bytes to `buffer`, whose capacity is already
    /// reserved for them.
    Payload {
        /// The payload read so far.
        buffer: &'a mut Vec<u8>,
        /// How many more bytes may be appended now (at least 1).
        room: usize,
    },
}

/// What [`FrameDecoder::filled`] learned from the bytes just read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// More bytes are needed (or a frame is complete: see [`FrameDecoder::take_frame`]).
    Reading,
    /// The length prefix just completed and was accepted: the frame's payload length.
    Length(usize),
}

/// The state of one stream's incoming frames.
#[derive(Debug)]
pub struct FrameDecoder {
    step: usize,
    header: [u8; FRAME_HEADER_LEN],
    header_len: usize,
    /// The payload length, once the prefix is read and the length accepted.
    len: Option<usize>,
    payload: Vec<u8>,
}

impl FrameDecoder {
    /// A decoder that reserves at most `step` bytes (at least 1) beyond what has arrived.
    pub fn new(step: usize) -> Self {
        Self {
            step: step.max(1),
            header: [0; FRAME_HEADER_LEN],
            header_len: 0,
            len: None,
            payload: Vec::new(),
        }
    }

    /// Whether no byte of the next frame has been read: the stream may end here cleanly.
    pub fn between_frames(&self) -> bool {
        self.header_len == 0
    }

    /// Bytes reserved for the payload being read, including those already read.
    pub fn reserved(&self) -> usize {
        self.payload.capacity()
    }

    /// Where the next bytes read go. Call [`FrameDecoder::take_frame`] first: once a frame
    /// is complete there is no room until it is taken.
    pub fn space(&mut self) -> Space<'_> {
        let Some(len) = self.len else {
            return Space::Header(&mut self.header[self.header_len..]);
        };
        let missing = len - self.payload.len();
        if self.payload.capacity() == self.payload.len() {
            self.payload.reserve_exact(missing.min(self.step));
        }
        let room = (self.payload.capacity() - self.payload.len()).min(missing);
        Space::Payload {
            buffer: &mut self.payload,
            room,
        }
    }

    /// Notes that `read` bytes were read into the last [`FrameDecoder::space`]. When that
    /// completes the length prefix, the length is checked against `limit()` and the first
    /// step of the payload reserved; a length over the limit is refused, reserving nothing.
    pub fn filled(
        &mut self,
        read: usize,
        limit: impl FnOnce() -> usize,
    ) -> Result<Progress, FrameTooLarge> {
        if self.len.is_some() {
            return Ok(Progress::Reading);
        }
        self.header_len = (self.header_len + read).min(FRAME_HEADER_LEN);
        if self.header_len < FRAME_HEADER_LEN {
            return Ok(Progress::Reading);
        }
        let len = u32::from_be_bytes(self.header) as usize;
        let limit = limit();
        if len > limit {
            return Err(FrameTooLarge { len, limit });
        }
        self.payload = Vec::with_capacity(len.min(self.step));
        self.len = Some(len);
        Ok(Progress::Length(len))
    }

    /// The frame's payload once it has arrived whole, readying the decoder for the next.
    pub fn take_frame(&mut self) -> Option<Bytes> {
        let len = self.len?;
        if self.payload.len() < len {
            return None;
        }
        self.header_len = 0;
        self.len = None;
        Some(Bytes::from(std::mem::take(&mut self.payload)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `stream` to a decoder `at_most` bytes per read, returning the frames.
    fn feed(
        decoder: &mut FrameDecoder,
        mut stream: &[u8],
        at_most: usize,
        limit: usize,
    ) -> Result<Vec<Bytes>, FrameTooLarge> {
        let mut frames = Vec::new();
        loop {
            if let Some(frame) = decoder.take_frame() {
                frames.push(frame);
                continue;
            }
            if stream.is_empty() {
                return Ok(frames);
            }
            let read = match decoder.space() {
                Space::Header(header) => {
                    let read = header.len().min(at_most).min(stream.len());
                    header[..read].copy_from_slice(&stream[..read]);
                    read
                }
                Space::Payload { buffer, room } => {
                    let read = room.min(at_most).min(stream.len());
                    buffer.extend_from_slice(&stream[..read]);
                    read
                }
            };
            stream = &stream[read..];
            decoder.filled(read, || limit)?;
        }
    }

    fn framed(payloads: &[&[u8]]) -> Vec<u8> {
        let mut stream = Vec::new();
        for payload in payloads {
            stream.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            stream.extend_from_slice(payload);
        }
        stream
    }

    #[test]
    fn frames_come_out_whole_however_the_bytes_arrive() {
        let payloads: [&[u8]; 3] = [b"hello", b"", &[9; 300]];
        let stream = framed(&payloads);
        for at_most in [1, 3, 4, 7, 1000] {
            let mut decoder = FrameDecoder::new(16);
            let frames = feed(&mut decoder, &stream, at_most, 1000).expect("within limit");
            assert_eq!(frames, payloads.map(Bytes::copy_from_slice).to_vec());
            assert!(decoder.between_frames());
        }
    }

    #[test]
    fn a_length_over_the_limit_is_refused_reserving_nothing() {
        let mut decoder = FrameDecoder::new(16);
        let error = feed(&mut decoder, &framed(&[&[1; 11]]), 2, 10).expect_err("refused");
        assert_eq!(error, FrameTooLarge { len: 11, limit: 10 });
        assert_eq!(decoder.reserved(), 0);
    }

    #[test]
    fn the_payload_is_reserved_one_step_at_a_time() {
        let mut decoder = FrameDecoder::new(100);
        let stream = framed(&[&[5; 1000]]);
        feed(&mut decoder, &stream[..4 + 250], 1000, 1000).expect("within limit");
        assert_eq!(decoder.reserved(), 300);
        assert!(!decoder.between_frames());
    }
}
