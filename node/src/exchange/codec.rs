//! Framing of exchange messages over a libp2p stream: a 4-byte big-endian length, then the
//! postcard bytes of one message, with the frame size capped at `MAX_FRAME_SIZE`.

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use libp2p::Stream;
use ostrom_protocol::limits::MAX_FRAME_SIZE;
use ostrom_protocol::wire::{Message, WireError};
use tokio_util::codec::{Framed, LengthDelimitedCodec};
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt};

type FramedStream = Framed<Compat<Stream>, LengthDelimitedCodec>;

/// Why a stream failed.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The connection failed or a frame was over the size limit.
    #[error("stream error: {0}")]
    Io(#[from] std::io::Error),
    /// A frame did not hold a valid message.
    #[error(transparent)]
    Wire(#[from] WireError),
}

/// The sending half of an exchange stream.
pub struct MessageWriter {
    sink: SplitSink<FramedStream, bytes::Bytes>,
}

/// The receiving half of an exchange stream.
pub struct MessageReader {
    stream: SplitStream<FramedStream>,
}

/// Splits an exchange stream into its two halves.
pub fn split(stream: Stream) -> (MessageWriter, MessageReader) {
    let codec = LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME_SIZE)
        .new_codec();
    let (sink, stream) = Framed::new(stream.compat(), codec).split();
    (MessageWriter { sink }, MessageReader { stream })
}

impl MessageWriter {
    /// Sends one message and flushes it.
    pub async fn send(&mut self, message: &Message) -> Result<(), CodecError> {
        let bytes = message.encode()?;
        self.sink.send(bytes.into()).await?;
        Ok(())
    }

    /// Closes the sending half.
    pub async fn close(&mut self) {
        let _ = self.sink.close().await;
    }
}

impl MessageReader {
    /// The next message; `None` when the peer closed the stream.
    pub async fn next(&mut self) -> Option<Result<Message, CodecError>> {
        let frame = self.stream.next().await?;
        Some(
            frame
                .map_err(CodecError::from)
                .and_then(|frame| Message::decode_shared(frame.freeze()).map_err(CodecError::from)),
        )
    }
}
