//! The exchange streams to one holder during a fetch: the sending halves stay with the fetch
//! engine, and a task per stream forwards everything the holder sends as [`SessionEvent`]s.
//! That task also hashes every block it receives, so verification runs beside the fetch
//! loop rather than in it.

use bytes::Bytes;
use libp2p::{PeerId, Stream};
use ostrom_protocol::limits::MAX_IDS_PER_MESSAGE;
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

/// The fetch engine's side of the streams to one holder: the first, opened with
/// [`Session::open`], and any added with [`Session::open_lane`], each on a connection of
/// its own. Block requests go round the streams; everything else goes on the first.
pub struct Session {
    /// The holder.
    pub peer: PeerId,
    lanes: Vec<Lane>,
    next: usize,
}

/// One stream of a session: its sending half and the task reading the other.
pub struct Lane {
    writer: MessageWriter,
    reader: JoinHandle<()>,
}

impl Drop for Lane {
    fn drop(&mut self) {
        self.reader.abort();
    }
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
        let lane = Lane::start(peer, stream, events, vouches).await?;
        Ok(Self {
            peer,
            lanes: vec![lane],
            next: 0,
        })
    }

    /// Opens one more stream to `peer`, on a new connection where the exchange allows, for
    /// [`Session::add_lane`].
    pub async fn open_lane(
        network: &NetworkHandle,
        peer: PeerId,
        events: mpsc::Sender<SessionEvent>,
        vouches: &[Bytes],
    ) -> Result<Lane, NetworkError> {
        let stream = network.open_exchange_stream_on_new_connection(peer).await?;
        Lane::start(peer, stream, events, vouches).await
    }

    /// Adds a stream opened with [`Session::open_lane`], first asking on it which of
    /// `missing` the holder has: a server tells of its chunks stream by stream.
    pub async fn add_lane(&mut self, mut lane: Lane, missing: &[Id]) -> Result<(), CodecError> {
        for ids in missing.chunks(MAX_IDS_PER_MESSAGE) {
            lane.writer
                .send(&Message::WantHave { ids: ids.to_vec() })
                .await?;
        }
        self.lanes.push(lane);
        Ok(())
    }

    /// How many streams the session has.
    pub fn lanes(&self) -> usize {
        self.lanes.len()
    }

    /// Sends a message to the holder: a block request on the next stream in turn; a cancel
    /// (the blocks it names may have been asked on any) and a want-have (a server tells of
    /// its chunks stream by stream) on every stream; anything else on the first.
    pub async fn send(&mut self, message: &Message) -> Result<(), CodecError> {
        match message {
            Message::WantBlock { .. } => {
                let lane = self.next % self.lanes.len().max(1);
                self.next = self.next.wrapping_add(1);
                match self.lanes.get_mut(lane) {
                    Some(lane) => lane.writer.send(message).await,
                    None => Ok(()),
                }
            }
            Message::Cancel { .. } | Message::WantHave { .. } => {
                for lane in &mut self.lanes {
                    lane.writer.send(message).await?;
                }
                Ok(())
            }
            _ => match self.lanes.first_mut() {
                Some(lane) => lane.writer.send(message).await,
                None => Ok(()),
            },
        }
    }
}

impl Lane {
    /// Presents `vouches` on `stream` and starts forwarding what the holder sends on it.
    async fn start(
        peer: PeerId,
        stream: Stream,
        events: mpsc::Sender<SessionEvent>,
        vouches: &[Bytes],
    ) -> Result<Self, NetworkError> {
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
        Ok(Self { writer, reader })
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
