//! Serving: answer other peers' want-have, want-block and want-manifest requests from the
//! store, over each stream they open, in the order they asked; cancelled ids are skipped.
//!
//! A peer that sends a malformed or over-limit frame, or a message a server never expects
//! (a block, a have), has its stream closed.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use libp2p::{PeerId, Stream};
use ostrom_protocol::wire::{BlockEncoding, Message};
use ostrom_protocol::Id;
use tokio::sync::mpsc;

use super::codec::{self, CodecError, MessageWriter};
use super::misbehave::Misbehavior;
use crate::network::NetworkHandle;
use crate::store::{read_chunk, ChunkReadError, Store};

/// Requests queued per stream before the server stops reading from it.
const QUEUED_REQUESTS: usize = 64;

/// Starts accepting exchange streams from peers; runs until the network stops.
pub fn spawn(network: &NetworkHandle, store: Store, misbehavior: Misbehavior) {
    let Some(mut incoming) = network.accept_exchange_streams() else {
        tracing::error!("exchange streams are already being accepted");
        return;
    };
    tokio::spawn(async move {
        while let Some((peer, stream)) = incoming.next().await {
            let store = store.clone();
            tokio::spawn(async move {
                if let Err(error) = serve_stream(peer, stream, store, misbehavior).await {
                    tracing::info!(%peer, %error, "closed exchange stream");
                }
            });
        }
    });
}

type Cancelled = Arc<Mutex<HashSet<Id>>>;

async fn serve_stream(
    peer: PeerId,
    stream: Stream,
    store: Store,
    misbehavior: Misbehavior,
) -> Result<(), CodecError> {
    let (mut writer, mut reader) = codec::split(stream);
    let cancelled: Cancelled = Arc::default();
    let (requests, mut queue) = mpsc::channel::<Message>(QUEUED_REQUESTS);
    let read_side = {
        let cancelled = cancelled.clone();
        async move {
            while let Some(message) = reader.next().await {
                match message? {
                    Message::Cancel { ids } => {
                        if let Ok(mut set) = cancelled.lock() {
                            set.extend(ids);
                        }
                    }
                    request @ (Message::WantHave { .. }
                    | Message::WantBlock { .. }
                    | Message::WantManifest { .. }) => {
                        if requests.send(request).await.is_err() {
                            break;
                        }
                    }
                    other => {
                        tracing::info!(%peer, kind = other.kind(), "unexpected message; closing");
                        break;
                    }
                }
            }
            Ok::<(), CodecError>(())
        }
    };
    let write_side = async {
        while let Some(request) = queue.recv().await {
            answer(&mut writer, request, &store, &cancelled, misbehavior).await?;
        }
        writer.close().await;
        Ok::<(), CodecError>(())
    };
    let (read, write) = tokio::join!(read_side, write_side);
    read.and(write)
}

fn take_cancelled(cancelled: &Cancelled, id: &Id) -> bool {
    cancelled
        .lock()
        .map(|mut set| set.remove(id))
        .unwrap_or(false)
}

async fn answer(
    writer: &mut MessageWriter,
    request: Message,
    store: &Store,
    cancelled: &Cancelled,
    misbehavior: Misbehavior,
) -> Result<(), CodecError> {
    match request {
        Message::WantHave { ids } => {
            let (have, dont_have): (Vec<Id>, Vec<Id>) = ids
                .into_iter()
                .partition(|id| matches!(store.chunk_location(id), Ok(Some(_))));
            if !have.is_empty() {
                writer.send(&Message::Have { ids: have }).await?;
            }
            if !dont_have.is_empty() {
                writer.send(&Message::DontHave { ids: dont_have }).await?;
            }
        }
        Message::WantBlock { ids } => {
            let mut dont_have = Vec::new();
            for id in ids {
                if take_cancelled(cancelled, &id) {
                    continue;
                }
                match load_block(store, id).await {
                    Some(data) => {
                        let block = Message::Block {
                            id,
                            encoding: BlockEncoding::Raw,
                            data: misbehavior.block(data).into(),
                        };
                        writer.send(&block).await?;
                    }
                    None => dont_have.push(id),
                }
            }
            if !dont_have.is_empty() {
                writer.send(&Message::DontHave { ids: dont_have }).await?;
            }
        }
        Message::WantManifest { id } => match store.manifest_for(&id) {
            Ok(Some(manifest)) => {
                let bytes = misbehavior.manifest(manifest.bytes().to_vec());
                writer
                    .send(&Message::Manifest {
                        id,
                        bytes: bytes.into(),
                    })
                    .await?;
            }
            Ok(None) => writer.send(&Message::DontHave { ids: vec![id] }).await?,
            Err(error) => {
                tracing::warn!(%error, "cannot read manifest");
                writer.send(&Message::DontHave { ids: vec![id] }).await?;
            }
        },
        _ => {}
    }
    Ok(())
}

/// Reads a held chunk, checking it still hashes to its id; a chunk whose file changed is
/// forgotten.
async fn load_block(store: &Store, id: Id) -> Option<Vec<u8>> {
    let location = match store.chunk_location(&id) {
        Ok(Some(location)) => location,
        Ok(None) => return None,
        Err(error) => {
            tracing::warn!(%error, "cannot look up chunk");
            return None;
        }
    };
    let read = tokio::task::spawn_blocking(move || read_chunk(&id, &location)).await;
    match read {
        Ok(Ok(bytes)) => Some(bytes),
        Ok(Err(error @ ChunkReadError::Changed { .. }))
        | Ok(Err(error @ ChunkReadError::Io { .. })) => {
            tracing::warn!(%error, "forgetting chunk");
            let _ = store.remove_chunk_location(&id);
            None
        }
        Err(error) => {
            tracing::warn!(%error, "chunk read task failed");
            None
        }
    }
}
