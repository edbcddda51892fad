//! One long-lived exchange stream to one holder during a fetch: the sending half stays with
//! the fetch engine, and a task forwards everything the holder sends as [`SessionEvent`]s.
//! That task also hashes every block it receives, so verification runs beside the fetch
//! loop rather than in it.

use bytes::Bytes;
use libp2p::PeerId;
use ostrom_protocol::wire::{BlockEncoding, Message};
use ostrom_protocol::Id;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::codec::{self, CodecError, MessageWriter};
use crate::network::{NetworkError, NetworkHandle};

/// What a holder's stream produced.
#[derive(Debug)]
pub enum SessionEvent {
    /// A message other than a block arrived.
    Message(PeerId, Message),
    /// A block arrived, already hashed.
    Block {
        /// The holder.
        peer: PeerId,
        /// The chunk it claims to be.
        id: Id,
        /// Its bytes.
        data: Bytes,
        /// Whether it is a raw block whose BLAKE3 is `id`.
        matches: bool,
    },
    /// The stream ended, cleanly (`None`) or with an error.
    Closed(PeerId, Option<String>),
}

/// The fetch engine's side of one stream to a holder.
pub struct Session {
    /// The holder.
    pub peer: PeerId,
    writer: MessageWriter,
    reader: JoinHandle<()>,
}

impl Session {
    /// Opens a stream to `peer`, presents this node's lab vouches on it, and forwards the
    /// holder's messages to `events`.
    pub async fn open(
        network: &NetworkHandle,
        peer: PeerId,
        events: mpsc::Sender<SessionEvent>,
        vouches: &[Bytes],
    ) -> Result<Self, NetworkError> {
        let stream = network.open_exchange_stream(peer).await?;
        let (mut writer, mut reader) = codec::split(stream);
        if !vouches.is_empty() {
            let present = Message::Present {
                vouches: vouches.to_vec(),
            };
            writer
                .send(&present)
                .await
                .map_err(|e| NetworkError::OpenStream {
                    peer,
                    reason: e.to_string(),
                })?;
        }
        let reader = tokio::spawn(async move {
            let end = loop {
                match reader.next().await {
                    Some(Ok(message)) => {
                        if events.send(received(peer, message)).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(error)) => break Some(error.to_string()),
                    None => break None,
                }
            };
            let _ = events.send(SessionEvent::Closed(peer, end)).await;
        });
        Ok(Self {
            peer,
            writer,
            reader,
        })
    }

    /// Sends a message to the holder.
    pub async fn send(&mut self, message: &Message) -> Result<(), CodecError> {
        self.writer.send(message).await
    }
}

/// The event for a message from `peer`: a block is hashed here.
fn received(peer: PeerId, message: Message) -> SessionEvent {
    match message {
        Message::Block { id, encoding, data } => {
            let matches = encoding == BlockEncoding::Raw && Id::of(&data) == id;
            SessionEvent::Block {
                peer,
                id,
                data,
                matches,
            }
        }
        other => SessionEvent::Message(peer, other),
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
