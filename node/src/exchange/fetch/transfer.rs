//! The network phase of a fetch: the I/O around the [`schedule`](super::schedule) state
//! machine. It turns what holders send, holder lookups and the clock into scheduler events,
//! and carries out the actions that come back: messages to holders, writing verified
//! blocks, dropping holders, looking holders up again.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use libp2p::PeerId;
use ostrom_protocol::wire::Message;
use ostrom_protocol::Id;
use rand::seq::SliceRandom;
use tokio::sync::mpsc;

use super::manifest::open_sessions;
use super::plan::Plan;
use super::schedule::{Action, Budget, Counts, Event, Failure, Limits, Scheduler};
use super::{FetchError, FetchProgress, FetchSettings};
use crate::config::MAX_STREAMS_PER_HOLDER;
use crate::exchange::session::{Lane, Session, SessionEvent};
use crate::network::NetworkHandle;
use crate::store::Store;

/// How often the scheduler is given the time, and progress is reported.
const TICK: Duration = Duration::from_millis(250);

/// What the transfer works with besides the plan.
pub(super) struct TransferContext<'a> {
    pub store: &'a Store,
    pub network: &'a NetworkHandle,
    pub settings: &'a FetchSettings,
    /// Where sessions opened later send their events.
    pub events_tx: mpsc::Sender<SessionEvent>,
    /// Where progress goes, if anyone listens.
    pub progress: Option<mpsc::UnboundedSender<FetchProgress>>,
    /// This node's lab vouches, presented to holders found later.
    pub vouches: Vec<Bytes>,
    /// How long the fetch may go without a new verified chunk.
    pub progress_timeout: Duration,
}

struct Transfer<'a> {
    id: Id,
    plan: &'a mut Plan,
    context: TransferContext<'a>,
    scheduler: Scheduler,
    sessions: HashMap<PeerId, Session>,
    /// Where holder lookups deliver the sessions they open.
    lookups: mpsc::Sender<Vec<Session>>,
    /// Where further streams to a holder arrive once open.
    lanes: mpsc::Sender<(PeerId, Lane)>,
    last_progress: Instant,
    /// The file the last chunk was written to (an index into the plan's files).
    last_file: Option<usize>,
    done: bool,
}

/// Fetches every chunk in `plan.needed` from the holders behind `sessions` and any found
/// later; returns what the holders did.
pub(super) async fn run(
    id: Id,
    plan: &mut Plan,
    sessions: Vec<Session>,
    events: &mut mpsc::Receiver<SessionEvent>,
    context: TransferContext<'_>,
) -> Result<Counts, FetchError> {
    // A random order: fetchers that start together ask the first holders for different
    // chunks, and then have something to trade (rarest first keeps this order among
    // equally rare chunks).
    let mut chunks: Vec<(Id, u32)> = plan
        .needed
        .iter()
        .map(|chunk| (*chunk, plan.lengths.get(chunk).copied().unwrap_or(0)))
        .collect();
    chunks.shuffle(&mut rand::thread_rng());
    let download = context.settings.download.clone();
    let budget: Budget = Box::new(move |len| download.try_take(len as usize));
    let limits = Limits {
        window: context.settings.requests_in_flight,
        stall_timeout: context.settings.peer_stall_timeout,
        progress_timeout: context.progress_timeout,
    };
    let (lookups, mut found) = mpsc::channel::<Vec<Session>>(1);
    let (lanes, mut opened_lanes) = mpsc::channel::<(PeerId, Lane)>(MAX_STREAMS_PER_HOLDER);
    let mut transfer = Transfer {
        id,
        plan,
        scheduler: Scheduler::new(chunks, limits, budget, Instant::now()),
        context,
        sessions: HashMap::new(),
        lookups,
        lanes,
        last_progress: Instant::now(),
        last_file: None,
        done: false,
    };
    for session in sessions {
        transfer.add_session(session).await?;
    }
    let mut tick = tokio::time::interval(TICK);
    while !transfer.done {
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => transfer.on_session_event(event).await?,
                // The sender half lives in the context: this does not happen.
                None => return Err(FetchError::Task("session events ended".into())),
            },
            Some((peer, lane)) = opened_lanes.recv() => transfer.add_lane(peer, lane).await,
            sessions = found.recv() => {
                let sessions = sessions.unwrap_or_default();
                let mut joined = 0;
                for session in sessions {
                    joined += usize::from(transfer.add_session(session).await?);
                }
                transfer.apply(Event::LookupDone { found: joined }, None).await?;
            },
            _ = tick.tick() => {
                transfer.measure_rtts().await?;
                transfer.apply(Event::Tick, None).await?;
                transfer.report_progress(false);
            },
        }
        if transfer.plan.pending.due() {
            transfer.commit().await?;
        }
    }
    transfer.commit().await?;
    transfer.report_progress(true);
    Ok(transfer.scheduler.counts())
}

impl Transfer<'_> {
    /// Takes a session into use unless its holder is known already or was dropped;
    /// returns whether it was new.
    async fn add_session(&mut self, session: Session) -> Result<bool, FetchError> {
        let peer = session.peer;
        if self.sessions.contains_key(&peer) || self.scheduler.is_banned(&peer) {
            return Ok(false);
        }
        self.widen(&session);
        self.sessions.insert(peer, session);
        let rtt = self.context.network.rtt(&peer);
        self.apply(Event::HolderFound { peer, rtt }, None).await?;
        Ok(true)
    }

    /// Takes a further stream to `peer` into its session, asking on it about the chunks
    /// still missing; a stream that fails at once is dropped (the session goes on).
    async fn add_lane(&mut self, peer: PeerId, lane: Lane) {
        let missing = self.scheduler.missing_ids();
        if let Some(session) = self.sessions.get_mut(&peer) {
            if let Err(error) = session.add_lane(lane, &missing).await {
                tracing::debug!(%peer, %error, "further stream to holder failed");
            }
        }
    }

    /// Opens the holder's further streams in the background, up to `streams_per_holder`.
    fn widen(&self, session: &Session) {
        let wanted = self
            .context
            .settings
            .streams_per_holder
            .saturating_sub(session.lanes());
        if wanted == 0 {
            return;
        }
        let peer = session.peer;
        let network = self.context.network.clone();
        let events = self.context.events_tx.clone();
        let vouches = self.context.vouches.clone();
        let lanes = self.lanes.clone();
        tokio::spawn(async move {
            for _ in 0..wanted {
                match Session::open_lane(&network, peer, events.clone(), &vouches).await {
                    Ok(lane) => {
                        if lanes.send((peer, lane)).await.is_err() {
                            return;
                        }
                    }
                    Err(error) => {
                        tracing::debug!(%peer, %error, "no further stream to holder");
                        return;
                    }
                }
            }
        });
    }

    async fn measure_rtts(&mut self) -> Result<(), FetchError> {
        let peers: Vec<PeerId> = self.sessions.keys().copied().collect();
        for peer in peers {
            if let Some(rtt) = self.context.network.rtt(&peer) {
                self.apply(Event::Rtt { peer, rtt }, None).await?;
            }
        }
        Ok(())
    }

    async fn on_session_event(&mut self, event: SessionEvent) -> Result<(), FetchError> {
        let (event, data) = match event {
            SessionEvent::Closed(peer, error) => (Event::StreamClosed { peer, error }, None),
            SessionEvent::Block {
                peer,
                id,
                data,
                matches,
            } => {
                let traffic = &self.context.settings.traffic;
                traffic.downloaded(peer, data.len());
                traffic.checked((!matches).then_some(crate::traffic::Rejection::HashMismatch));
                if matches {
                    *self.plan.received_by_peer.entry(peer).or_default() += data.len() as u64;
                }
                let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
                let event = Event::Block {
                    peer,
                    id,
                    len,
                    matches,
                };
                (event, Some((peer, data)))
            }
            SessionEvent::Message(peer, message) => match message {
                Message::Have { ids } => (Event::Have { peer, ids }, None),
                Message::DontHave { ids } => (Event::DontHave { peer, ids }, None),
                Message::Refused { id, reason } => (Event::Refused { peer, id, reason }, None),
                // Nothing else is an answer to what a fetch asks.
                _ => return Ok(()),
            },
        };
        self.apply(event, data).await
    }

    /// Feeds one event to the scheduler and carries out what it answers, and what the
    /// failures on the way (a message that cannot be sent) lead to. `block` holds the bytes
    /// of a block event.
    async fn apply(
        &mut self,
        event: Event,
        block: Option<(PeerId, Bytes)>,
    ) -> Result<(), FetchError> {
        let mut events = VecDeque::from([event]);
        while let Some(event) = events.pop_front() {
            for action in self.scheduler.handle(Instant::now(), event) {
                match action {
                    Action::AskHave { peer, ids } => {
                        self.send(peer, Message::WantHave { ids }, &mut events)
                            .await;
                    }
                    Action::Request { peer, ids } => {
                        self.send(peer, Message::WantBlock { ids }, &mut events)
                            .await;
                    }
                    Action::Cancel { peer, ids } => {
                        self.send(peer, Message::Cancel { ids }, &mut events).await;
                    }
                    Action::Write { id } => {
                        if let Some((peer, data)) = &block {
                            self.write(*peer, id, data)?;
                        }
                    }
                    Action::Drop { peer, reason } => {
                        tracing::warn!(%peer, %reason, "dropping holder");
                        self.sessions.remove(&peer);
                    }
                    Action::LookUpHolders => self.look_up_holders(),
                    Action::Done => self.done = true,
                    Action::Failed(failure) => return Err(self.failed(failure)),
                }
            }
        }
        Ok(())
    }

    /// Sends `message` to `peer`; a failure becomes a stream-closed event.
    async fn send(&mut self, peer: PeerId, message: Message, events: &mut VecDeque<Event>) {
        let Some(session) = self.sessions.get_mut(&peer) else {
            return;
        };
        if let Err(error) = session.send(&message).await {
            events.push_back(Event::StreamClosed {
                peer,
                error: Some(format!("cannot send a {}: {error}", message.kind())),
            });
        }
    }

    fn write(&mut self, peer: PeerId, id: Id, data: &[u8]) -> Result<(), FetchError> {
        self.plan.peers.insert(peer);
        self.plan.bytes_from_network += data.len() as u64;
        let targets = self.plan.targets.get(&id).cloned().unwrap_or_default();
        self.last_file = targets.first().map(|t| t.file);
        self.plan.write_chunk(id, data, &targets)
    }

    fn failed(&self, failure: Failure) -> FetchError {
        match failure {
            Failure::Exhausted { missing, reasons } => FetchError::HoldersExhausted {
                id: self.id,
                missing,
                reasons,
            },
            Failure::NoProgress {
                missing,
                waited,
                reasons,
            } => FetchError::NoProgress {
                id: self.id,
                missing,
                waited,
                reasons,
            },
        }
    }

    /// Looks up holders again in the background; new ones arrive on `lookups`.
    fn look_up_holders(&self) {
        let found = self.lookups.clone();
        let network = self.context.network.clone();
        let id = self.id;
        let known: Vec<PeerId> = self.sessions.keys().copied().collect();
        let events = self.context.events_tx.clone();
        let vouches = self.context.vouches.clone();
        tokio::spawn(async move {
            let holders: Vec<PeerId> = match network.get_providers(id).await {
                Ok(holders) => holders.into_iter().filter(|p| !known.contains(p)).collect(),
                Err(_) => Vec::new(),
            };
            let sessions = open_sessions(&network, &holders, &events, &vouches).await;
            let _ = found.send(sessions).await;
        });
    }

    fn report_progress(&mut self, done: bool) {
        let Some(progress) = &self.context.progress else {
            return;
        };
        if !done && self.last_progress.elapsed() < TICK {
            return;
        }
        self.last_progress = Instant::now();
        let _ = progress.send(FetchProgress {
            bytes_total: self.plan.bytes_total(),
            bytes_done: self.plan.bytes_done(),
            bytes_from_network: self.plan.bytes_from_network,
            holders: self.scheduler.holders(),
            done,
            file: self
                .last_file
                .filter(|_| self.plan.files.len() > 1)
                .and_then(|index| self.plan.files.get(index))
                .map(|file| file.entry.path.clone()),
        });
    }

    /// Syncs the chunks written so far and records them as held.
    async fn commit(&mut self) -> Result<(), FetchError> {
        let batch = self.plan.pending.take();
        let store = self.context.store.clone();
        tokio::task::spawn_blocking(move || batch.commit(&store))
            .await
            .map_err(|e| FetchError::Task(e.to_string()))?
    }
}
