//! One long-lived exchange stream to one holder during a fetch: the sending half stays with
//! the fetch engine, and a task forwards everything the holder sends as [`SessionEvent`]s.

use std::collections::HashSet;
use std::time::Instant;

use bytes::Bytes;
use libp2p::PeerId;
use ostrom_protocol::wire::Message;
use ostrom_protocol::Id;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::codec::{self, CodecError, MessageWriter};
use crate::network::{NetworkError, NetworkHandle};

/// What a holder's stream produced.
#[derive(Debug)]
pub enum SessionEvent {
    /// A message arrived.
    Message(PeerId, Message),
    /// The stream ended, cleanly (`None`) or with an error.
    Closed(PeerId, Option<String>),
}

/// The fetch engine's side of one stream to a holder.
pub struct Session {
    /// The holder.
    pub peer: PeerId,
    writer: MessageWriter,
    reader: JoinHandle<()>,
    /// Block ids asked of this holder and not yet answered.
    pub in_flight: HashSet<Id>,
    /// When this holder last sent anything.
    pub last_heard: Instant,
    /// Bytes of good blocks received from it.
    pub bytes_received: u64,
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
                        if events
                            .send(SessionEvent::Message(peer, message))
                            .await
                            .is_err()
                        {
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
            in_flight: HashSet::new(),
            last_heard: Instant::now(),
            bytes_received: 0,
        })
    }

    /// Sends a message to the holder.
    pub async fn send(&mut self, message: &Message) -> Result<(), CodecError> {
        self.writer.send(message).await
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
