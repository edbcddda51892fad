//! Serving: answer other peers' want-have, want-block and want-manifest requests from the
//! store, over each stream they open, in the order they asked (reading a few blocks ahead
//! of the one being sent); cancelled ids are skipped.
//!
//! Held chunks a peer asks about with want-have are told of a few at a time, least revealed
//! first, more as the peer asks for them (see [`reveal`](super::reveal)), so a seeder sends
//! each chunk about once before any twice and requesters trade the rest among themselves.
//!
//! Ids a peer asked about with want-have that this node lacks stay on that stream's
//! wantlist; when the node later gets one (it is fetching the same checkpoint), it tells the
//! peer with a have, as BitTorrent peers do. Blocks pass the node's upload limit.
//!
//! A restricted checkpoint's manifest and chunks go only to peers that presented a valid
//! vouch from one of its reader labs; others get a refusal ("not authorized") for the
//! manifest, and want-have and want-block answers never reveal that this node holds such
//! chunks (dont-have).
//!
//! A peer that sends a malformed or over-limit frame, or a message a server never expects
//! (a block, a have), has its stream closed.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use futures::stream::FuturesOrdered;
use futures::StreamExt;
use libp2p::{PeerId, Stream};
use ostrom_protocol::limits::MAX_IDS_PER_MESSAGE;
use ostrom_protocol::wire::{BlockEncoding, Message};
use ostrom_protocol::Id;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::codec::{self, CodecError, MessageWriter, Timeouts};
use super::misbehave::Misbehavior;
use super::reveal::{RevealCounts, Reveals};
use crate::limits::Limits;
use crate::membership::{now_ms, VerifiedLabs};
use crate::network::exchange_streams::InboundStream;
use crate::network::NetworkHandle;
use crate::rate::RateLimit;
use crate::store::{read_chunk, Store};
use crate::traffic::Traffic;

/// Requests queued per stream before the server stops reading from it.
const QUEUED_REQUESTS: usize = 64;
/// Blocks read ahead of the one being sent, so reading and checking a block overlaps
/// sending the one before.
const READ_AHEAD: usize = 4;

/// The node's limits that each served stream is held to.
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    /// Most ids one stream's wantlist holds; further want-haves are answered but not
    /// remembered.
    pub wantlist_ids: usize,
    /// Most blocks asked for on one stream and not yet read; past it the stream's further
    /// requests wait. Also the most cancelled ids one stream remembers (each is forgotten
    /// once its request is reached).
    pub waiting_block_ids: usize,
    /// How long the stream's reader waits for a frame and for the next request.
    pub timeouts: Timeouts,
}

impl From<&Limits> for ServeLimits {
    fn from(limits: &Limits) -> Self {
        Self {
            wantlist_ids: limits.wantlist_ids,
            waiting_block_ids: limits.waiting_block_ids,
            timeouts: limits.into(),
        }
    }
}

/// What a server needs besides the stream.
#[derive(Clone)]
pub struct ServeContext {
    /// Where blocks and manifests come from.
    pub store: Store,
    /// Deliberate faults, for tests.
    pub misbehavior: Misbehavior,
    /// The node's upload limit.
    pub upload: RateLimit,
    /// How often each chunk was revealed to a requester, over all streams (super-seeding).
    pub reveal_counts: RevealCounts,
    /// Where the bytes of blocks sent are counted.
    pub traffic: Traffic,
    /// What each stream is held to.
    pub limits: ServeLimits,
}

/// Starts accepting exchange streams from peers, as tasks of `tasks`; runs until the
/// network stops or `shutdown` is cancelled, which also ends every stream being served.
/// Each stream is served by a task of its own, which keeps the stream's slot (see
/// [`crate::network::exchange_streams`]) until it ends.
pub fn spawn(
    network: &NetworkHandle,
    context: ServeContext,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) {
    let Some(mut incoming) = network.accept_exchange_streams() else {
        tracing::error!("exchange streams are already being accepted");
        return;
    };
    let network = network.clone();
    let streams = tasks.clone();
    tasks.spawn(async move {
        loop {
            let inbound = tokio::select! {
                () = shutdown.cancelled() => break,
                next = incoming.next() => match next {
                    Some(next) => next,
                    None => break,
                },
            };
            let context = context.clone();
            let shutdown = shutdown.clone();
            streams.spawn(async move {
                let InboundStream {
                    peer,
                    stream,
                    permit,
                    ..
                } = inbound;
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    result = serve_stream(peer, stream, context) => {
                        if let Err(error) = result {
                            tracing::info!(%peer, %error, "closed exchange stream");
                        }
                    }
                }
                drop(permit);
            });
        }
        let counts = network.exchange_stream_counts();
        tracing::debug!(?counts, "stopped accepting exchange streams");
    });
}

type Cancelled = Arc<Mutex<HashSet<Id>>>;

/// One stream's answering side.
struct Responder {
    peer: PeerId,
    writer: MessageWriter,
    context: ServeContext,
    cancelled: Cancelled,
    wantlist: HashSet<Id>,
    /// Held chunks the peer asked about on this stream, told of a few at a time.
    reveals: Reveals,
    /// The labs whose vouches for this peer it presented and that checked out, each
    /// until its vouch expires.
    labs: VerifiedLabs,
}

async fn serve_stream(
    peer: PeerId,
    stream: Stream,
    context: ServeContext,
) -> Result<(), CodecError> {
    let limits = context.limits;
    let (writer, mut reader) = codec::split_server(stream, limits.timeouts);
    let cancelled: Cancelled = Arc::default();
    let (requests, mut queue) = mpsc::channel::<Message>(QUEUED_REQUESTS);
    let read_side = {
        let cancelled = cancelled.clone();
        async move {
            while let Some(message) = reader.next().await {
                match message? {
                    Message::Cancel { ids } => {
                        if let Ok(mut set) = cancelled.lock() {
                            let room = limits.waiting_block_ids.saturating_sub(set.len());
                            set.extend(ids.into_iter().take(room));
                        }
                    }
                    request @ (Message::WantHave { .. }
                    | Message::WantBlock { .. }
                    | Message::WantManifest { .. }
                    | Message::Present { .. }) => {
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
    let mut added = context.store.subscribe_added();
    let mut responder = Responder {
        peer,
        writer,
        context,
        cancelled,
        wantlist: HashSet::new(),
        reveals: Reveals::new(limits.wantlist_ids),
        labs: VerifiedLabs::default(),
    };
    let write_side = async move {
        // Blocks asked for and not yet being read, and blocks being read, in order.
        let mut waiting: VecDeque<Id> = VecDeque::new();
        let mut loading = FuturesOrdered::new();
        let mut reading = true;
        loop {
            while loading.len() < READ_AHEAD {
                let Some(id) = waiting.pop_front() else {
                    break;
                };
                if let Some(load) = responder.start_load(id).await? {
                    loading.push_back(load);
                }
            }
            if !reading && waiting.is_empty() && loading.is_empty() {
                break;
            }
            tokio::select! {
                Some((id, block)) = loading.next(), if !loading.is_empty() => {
                    responder.send_block(id, block).await?;
                }
                request = queue.recv(), if reading && waiting.len() < limits.waiting_block_ids => match request {
                    Some(Message::WantBlock { .. })
                        if responder.context.misbehavior == Misbehavior::Stall => {}
                    Some(Message::WantBlock { .. } | Message::WantHave { .. })
                        if responder.context.misbehavior == Misbehavior::Junk =>
                    {
                        for junk in Misbehavior::junk() {
                            responder.writer.send(&junk).await?;
                        }
                    }
                    Some(Message::WantBlock { ids }) => {
                        waiting.extend(ids.iter().copied());
                        let pending = waiting.len() + loading.len();
                        responder.reveal_after_requests(&ids, pending).await?;
                    }
                    Some(request) => responder.answer(request).await?,
                    None => reading = false,
                },
                id = added.recv(), if !responder.wantlist.is_empty() => match id {
                    Ok(id) => responder.now_held(vec![id]).await?,
                    Err(broadcast::error::RecvError::Lagged(_)) => responder.recheck_wantlist().await?,
                    Err(broadcast::error::RecvError::Closed) => {}
                },
            }
        }
        responder.writer.close().await;
        Ok::<(), CodecError>(())
    };
    let (read, write) = tokio::join!(read_side, write_side);
    read.and(write)
}

/// A block being read: its id and its bytes, `None` when this node lacks it.
type Load = BoxFuture<'static, (Id, Option<Vec<u8>>)>;

impl Responder {
    fn take_cancelled(&self, id: &Id) -> bool {
        self.cancelled
            .lock()
            .map(|mut set| set.remove(id))
            .unwrap_or(false)
    }

    fn holds(&self, id: &Id) -> bool {
        self.context.store.has_chunk(id).unwrap_or(false) && self.may_read_chunk(id)
    }

    /// Whether this peer may read something restricted to `readers` (`None`: anyone):
    /// one of them vouches for it now, not only when it presented the vouch.
    fn may_read(&self, readers: Option<&[[u8; 32]]>) -> bool {
        let now = now_ms();
        readers.is_none_or(|readers| readers.iter().any(|lab| self.labs.vouch_for(lab, now)))
    }

    fn may_read_chunk(&self, id: &Id) -> bool {
        match self.context.store.chunk_readers(id) {
            Ok(readers) => self.may_read(readers.as_deref()),
            Err(_) => false,
        }
    }

    fn refusal(&self, id: Id) -> Message {
        Message::Refused {
            id,
            reason: format!(
                "not authorized: {id} is restricted to certain labs, and {} presented no vouch from one of them",
                self.peer
            ),
        }
    }

    async fn answer(&mut self, request: Message) -> Result<(), CodecError> {
        let misbehavior = self.context.misbehavior;
        match request {
            Message::Present { vouches } => {
                self.labs = VerifiedLabs::verify(&vouches, &self.peer, now_ms());
                self.context.traffic.labs(self.peer, self.labs.at(now_ms()));
            }
            Message::WantHave { ids } if misbehavior == Misbehavior::LieHave => {
                self.writer.send(&Message::Have { ids }).await?;
            }
            Message::WantHave { ids } => {
                let (have, dont_have): (Vec<Id>, Vec<Id>) =
                    ids.into_iter().partition(|id| self.holds(id));
                let revealed = self.reveals.asked(have, &self.context.reveal_counts);
                self.send_haves(revealed).await?;
                if !dont_have.is_empty() {
                    if self.wantlist.len() + dont_have.len() <= self.context.limits.wantlist_ids {
                        self.wantlist.extend(dont_have.iter().copied());
                    }
                    self.writer
                        .send(&Message::DontHave { ids: dont_have })
                        .await?;
                }
            }
            Message::WantManifest { id } => {
                let reply = match self.context.store.manifest_for(&id) {
                    Ok(Some(manifest))
                        if !self
                            .may_read(manifest.manifest().readers().ok().flatten().as_deref()) =>
                    {
                        self.refusal(id)
                    }
                    Ok(Some(manifest)) => Message::Manifest {
                        id,
                        bytes: misbehavior.manifest(manifest.bytes().to_vec()).into(),
                    },
                    Ok(None) => Message::DontHave { ids: vec![id] },
                    Err(error) => {
                        tracing::warn!(%error, "cannot read manifest");
                        Message::DontHave { ids: vec![id] }
                    }
                };
                self.writer.send(&reply).await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Starts reading block `id` unless it was cancelled; a peer not allowed to read it is
    /// told the node does not have it, as a want-have would be, so that the answer reveals
    /// nothing about the chunk's readers.
    async fn start_load(&mut self, id: Id) -> Result<Option<Load>, CodecError> {
        if self.take_cancelled(&id) {
            return Ok(None);
        }
        if !self.may_read_chunk(&id) {
            self.writer
                .send(&Message::DontHave { ids: vec![id] })
                .await?;
            return Ok(None);
        }
        let store = self.context.store.clone();
        let lie = self.context.misbehavior == Misbehavior::LieHave;
        Ok(Some(Box::pin(async move {
            let block = if lie {
                None
            } else {
                load_block(&store, id).await
            };
            (id, block)
        })))
    }

    /// Sends a block that was read (unless it was cancelled meanwhile), or says this node
    /// does not have it.
    async fn send_block(&mut self, id: Id, block: Option<Vec<u8>>) -> Result<(), CodecError> {
        if self.take_cancelled(&id) {
            return Ok(());
        }
        let Some(data) = block else {
            return self.writer.send(&Message::DontHave { ids: vec![id] }).await;
        };
        self.context.upload.consume(data.len()).await;
        self.context.traffic.uploaded(self.peer, data.len());
        let block = Message::Block {
            id,
            encoding: BlockEncoding::Raw,
            data: self.context.misbehavior.block(data).into(),
        };
        self.writer.send(&block).await
    }

    /// Tells the peer about further held chunks now that it asked for `ids`, with
    /// `pending` of its requests on this stream not yet answered.
    async fn reveal_after_requests(
        &mut self,
        ids: &[Id],
        pending: usize,
    ) -> Result<(), CodecError> {
        self.reveals.demand(pending);
        let counts = &self.context.reveal_counts;
        let revealed = ids
            .iter()
            .flat_map(|id| self.reveals.requested(id, counts))
            .collect();
        self.send_haves(revealed).await
    }

    /// Sends `ids` as `Have`s, in messages of at most [`MAX_IDS_PER_MESSAGE`].
    async fn send_haves(&mut self, ids: Vec<Id>) -> Result<(), CodecError> {
        for batch in ids.chunks(MAX_IDS_PER_MESSAGE) {
            self.writer
                .send(&Message::Have {
                    ids: batch.to_vec(),
                })
                .await?;
        }
        Ok(())
    }

    /// Tells the peer about wanted chunks this node now holds.
    async fn now_held(&mut self, ids: Vec<Id>) -> Result<(), CodecError> {
        let held: Vec<Id> = ids
            .into_iter()
            .filter(|id| self.may_read_chunk(id) && self.wantlist.remove(id))
            .collect();
        self.send_haves(held).await
    }

    /// After missing some notifications, checks the whole wantlist against the store.
    async fn recheck_wantlist(&mut self) -> Result<(), CodecError> {
        let held: Vec<Id> = self
            .wantlist
            .iter()
            .copied()
            .filter(|id| self.holds(id))
            .collect();
        self.now_held(held).await
    }
}

/// Reads a held chunk, checking it still hashes to its id; a chunk whose file changed or
/// vanished is forgotten.
async fn load_block(store: &Store, id: Id) -> Option<Vec<u8>> {
    let location = match store.chunk_location(&id) {
        Ok(Some(location)) => location,
        Ok(None) => return None,
        Err(error) => {
            tracing::warn!(%error, "cannot look up chunk");
            return None;
        }
    };
    match tokio::task::spawn_blocking(move || read_chunk(&id, &location)).await {
        Ok(Ok(bytes)) => Some(bytes),
        Ok(Err(error)) => {
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
