//! Framing of exchange messages over a libp2p stream: a 4-byte big-endian length, then the
//! postcard bytes of one message (SPEC §8.1).
//!
//! Each side reads with its own frame limit, checked as soon as the length is read: a
//! server reads requester frames of at most [`MAX_REQUEST_FRAME`]; a requester reads
//! frames of at most [`MAX_REPLY_FRAME`] (a block), or [`MAX_MANIFEST_FRAME`] while one of
//! its `WantManifest` requests is unanswered. Reading reserves memory as bytes arrive, a
//! bounded step at a time, never the declared length up front (the protocol crate's
//! [`FrameDecoder`] cuts the frames; this module does the reading and the deadlines). A frame must arrive whole
//! within the frame timeout of its first byte, plus one second for every
//! [`MIN_FRAME_RATE`] bytes it declares; a server waits at most the idle timeout for the
//! next request before it closes the stream (both [`Timeouts`]). Both deadlines are fixed when the
//! wait starts, so trickled bytes cannot extend them.

use std::collections::HashSet;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::SinkExt;
use libp2p::Stream;
use ostrom_protocol::frame::{FrameDecoder, Progress, Space};
use ostrom_protocol::limits::{
    MAX_FRAME_SIZE, MAX_MANIFEST_FRAME, MAX_REPLY_FRAME, MAX_REQUEST_FRAME,
};
use ostrom_protocol::wire::{Message, WireError};
use ostrom_protocol::Id;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::time::Instant;
use tokio_util::codec::{FramedWrite, LengthDelimitedCodec};
use tokio_util::compat::FuturesAsyncReadCompatExt;

/// Slowest rate, in bytes per second, a frame's sender is allowed beyond the frame
/// timeout: a 64 MiB manifest gets 256 s more, a block 4 s.
pub const MIN_FRAME_RATE: u64 = 256 * 1024;

/// How long a stream's reader waits (the node's `frame_timeout` and
/// `stream_idle_timeout` limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Longest a frame may take to arrive, from its first byte, before the stream is
    /// closed (plus the allowance of [`MIN_FRAME_RATE`] for large frames).
    pub frame: Duration,
    /// Longest a server waits for the next request on a stream before closing it.
    pub idle: Duration,
}

impl From<&crate::limits::Limits> for Timeouts {
    fn from(limits: &crate::limits::Limits) -> Self {
        Self {
            frame: limits.frame_timeout,
            idle: limits.stream_idle_timeout,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        (&crate::limits::Limits::default()).into()
    }
}

/// Most bytes a server reserves for a frame beyond what has arrived.
const SERVER_READ_STEP: usize = 64 << 10;

/// Most bytes a requester reserves for a frame beyond what has arrived: a whole block, so
/// blocks are read into one buffer without growing it.
const REQUESTER_READ_STEP: usize = MAX_REPLY_FRAME;

/// Most unanswered manifest requests remembered on one stream (a fetch asks one).
const MAX_MANIFEST_ASKS: usize = 64;

/// Why a stream failed.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The connection failed, a frame was over the size limit, or a wait ran out.
    #[error("stream error: {0}")]
    Io(#[from] io::Error),
    /// A frame did not hold a valid message.
    #[error(transparent)]
    Wire(#[from] WireError),
}

/// The ids of manifests asked for on a stream and not yet answered.
type ManifestAsks = Arc<Mutex<HashSet<Id>>>;

type Reader = Box<dyn AsyncRead + Send + Unpin>;
type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// The sending half of an exchange stream.
pub struct MessageWriter {
    sink: FramedWrite<Writer, LengthDelimitedCodec>,
    /// On a requester's stream: where manifest requests are noted for the reader.
    asks: Option<ManifestAsks>,
}

/// The receiving half of an exchange stream.
pub struct MessageReader {
    frames: FrameReader,
    /// On a requester's stream: the manifest requests not yet answered.
    asks: Option<ManifestAsks>,
}

/// Which end of an exchange stream this node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The opener, which sends requests.
    Requester,
    /// The accepter, which answers them.
    Server,
}

/// Splits an exchange stream this node opened into its two halves.
pub fn split(stream: Stream) -> (MessageWriter, MessageReader) {
    split_io(stream.compat(), Side::Requester, Timeouts::default())
}

/// Splits an exchange stream a peer opened into its two halves, reading with `timeouts`.
pub fn split_server(stream: Stream, timeouts: Timeouts) -> (MessageWriter, MessageReader) {
    split_io(stream.compat(), Side::Server, timeouts)
}

/// Splits any byte stream into an exchange stream's halves for `side`; a requester's
/// reader has no idle timeout.
pub fn split_io<T>(io: T, side: Side, timeouts: Timeouts) -> (MessageWriter, MessageReader)
where
    T: AsyncRead + AsyncWrite + Send + 'static,
{
    let (read, write) = tokio::io::split(io);
    let codec = LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME_SIZE)
        .new_codec();
    let asks = (side == Side::Requester).then(ManifestAsks::default);
    let (step, idle) = match side {
        Side::Requester => (REQUESTER_READ_STEP, None),
        Side::Server => (SERVER_READ_STEP, Some(timeouts.idle)),
    };
    (
        MessageWriter {
            sink: FramedWrite::new(Box::new(write), codec),
            asks: asks.clone(),
        },
        MessageReader {
            frames: FrameReader::new(Box::new(read), step, timeouts.frame, idle),
            asks,
        },
    )
}

impl MessageWriter {
    /// Sends one message and flushes it.
    pub async fn send(&mut self, message: &Message) -> Result<(), CodecError> {
        let bytes = message.encode()?;
        if let (Message::WantManifest { id }, Some(asks)) = (message, &self.asks) {
            // Noted before sending, so the answer cannot arrive first.
            if let Ok(mut asks) = asks.lock() {
                if asks.len() < MAX_MANIFEST_ASKS {
                    asks.insert(*id);
                }
            }
        }
        self.sink.send(bytes::Bytes::from(bytes)).await?;
        Ok(())
    }

    /// Closes the sending half.
    pub async fn close(&mut self) {
        let _ = SinkExt::<bytes::Bytes>::close(&mut self.sink).await;
    }
}

impl MessageReader {
    /// The next message; `None` when the peer closed the stream.
    pub async fn next(&mut self) -> Option<Result<Message, CodecError>> {
        let asks = self.asks.clone();
        let limit = move || match &asks {
            None => MAX_REQUEST_FRAME,
            Some(asks) => {
                let waiting = asks.lock().map(|asks| !asks.is_empty()).unwrap_or(true);
                if waiting {
                    MAX_MANIFEST_FRAME
                } else {
                    MAX_REPLY_FRAME
                }
            }
        };
        let frame = match self.frames.next(limit).await? {
            Ok(frame) => frame,
            Err(error) => return Some(Err(error.into())),
        };
        let message = Message::decode_shared(frame);
        if let (Ok(message), Some(asks)) = (&message, &self.asks) {
            if let Ok(mut asks) = asks.lock() {
                match message {
                    Message::Manifest { id, .. } | Message::Refused { id, .. } => {
                        asks.remove(id);
                    }
                    Message::DontHave { ids } => {
                        for id in ids {
                            asks.remove(id);
                        }
                    }
                    _ => {}
                }
            }
        }
        Some(message.map_err(CodecError::from))
    }

    /// Bytes reserved for the frame being read (for tests of the reservation bound).
    #[cfg(test)]
    fn reserved(&self) -> usize {
        self.frames.decoder.reserved()
    }
}

/// Reads length-prefixed frames through a [`FrameDecoder`], which keeps a partly read frame
/// between calls so that a cancelled read loses nothing; this adds the deadlines.
struct FrameReader {
    io: Reader,
    decoder: FrameDecoder,
    frame_timeout: Duration,
    idle: Option<Duration>,
    deadline: Instant,
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_owned())
}

fn ended() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "stream ended inside a frame")
}

impl FrameReader {
    fn new(io: Reader, step: usize, frame_timeout: Duration, idle: Option<Duration>) -> Self {
        Self {
            io,
            decoder: FrameDecoder::new(step),
            frame_timeout,
            idle,
            deadline: Instant::now(),
        }
    }

    /// The next frame's payload, at most `limit()` bytes (asked once the length is read);
    /// `None` when the stream ended between frames.
    async fn next(&mut self, limit: impl Fn() -> usize) -> Option<io::Result<Bytes>> {
        match self.read_frame(limit).await {
            Ok(Some(frame)) => Some(Ok(frame)),
            Ok(None) => None,
            Err(error) => Some(Err(error)),
        }
    }

    async fn read_frame(&mut self, limit: impl Fn() -> usize) -> io::Result<Option<Bytes>> {
        loop {
            if let Some(frame) = self.decoder.take_frame() {
                return Ok(Some(frame));
            }
            let first = self.decoder.between_frames();
            let late = |_| timed_out("frame did not arrive in time");
            let read = match self.decoder.space() {
                Space::Header(header) if first => {
                    let reading = self.io.read(header);
                    let read = match self.idle {
                        Some(idle) => tokio::time::timeout(idle, reading)
                            .await
                            .map_err(|_| timed_out("no request within the idle timeout"))??,
                        None => reading.await?,
                    };
                    if read == 0 {
                        return Ok(None);
                    }
                    self.deadline = Instant::now() + self.frame_timeout;
                    read
                }
                Space::Header(header) => {
                    tokio::time::timeout_at(self.deadline, self.io.read(header))
                        .await
                        .map_err(late)??
                }
                Space::Payload { buffer, room } => {
                    let mut bounded = (&mut self.io).take(room as u64);
                    tokio::time::timeout_at(self.deadline, bounded.read_buf(buffer))
                        .await
                        .map_err(late)??
                }
            };
            if read == 0 {
                return Err(ended());
            }
            self.filled(read, &limit)?;
        }
    }

    /// Notes `read` bytes with the decoder; a length just accepted extends the deadline by
    /// the time its payload may take at [`MIN_FRAME_RATE`].
    fn filled(&mut self, read: usize, limit: &impl Fn() -> usize) -> io::Result<()> {
        let progress = self
            .decoder
            .filled(read, limit)
            .map_err(|refused| io::Error::new(io::ErrorKind::InvalidData, refused))?;
        if let Progress::Length(len) = progress {
            self.deadline += Duration::from_millis(len as u64 * 1000 / MIN_FRAME_RATE);
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
