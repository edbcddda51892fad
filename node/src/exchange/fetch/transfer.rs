//! The network phase of a fetch, BitTorrent-style:
//!
//! - every holder is asked (want-have) which of the missing chunks it has, and partial
//!   holders tell us (have) as they get more;
//! - each holder gets a window of block requests in flight, sized to about 300 ms of its
//!   measured delivery rate and refilled as blocks arrive, so faster holders get more
//!   work and a slow or widely shared one is not handed chunks others deliver sooner; rarest chunks are asked first, equally rare ones in a
//!   random order of each fetcher's own, so fetchers that start together trade;
//! - holders with a low round-trip time are preferred: a distant holder gets only a small
//!   window, and only chunks no nearby holder has, so a chunk crosses a slow link about
//!   once and then spreads nearby;
//! - in the endgame the last chunks are asked of a second holder too, and cancelled at the
//!   slower one when the first copy arrives;
//! - every block is checked against its id before it is written; a holder that sends a bad
//!   or unrequested block, closes its stream or stalls is dropped for this fetch and its
//!   requests go to the others;
//! - the holders are looked up again now and then, so peers that started fetching the same
//!   checkpoint later join as sources.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use libp2p::PeerId;
use ostrom_protocol::limits::{MAX_CHUNK_SIZE, MAX_IDS_PER_MESSAGE};
use ostrom_protocol::wire::Message;
use ostrom_protocol::Id;
use rand::seq::SliceRandom;
use tokio::sync::mpsc;

use super::manifest::open_sessions;
use super::plan::Plan;
use super::{FetchError, FetchProgress, FetchSettings};
use crate::exchange::session::{Session, SessionEvent};
use crate::network::NetworkHandle;
use crate::store::Store;

/// How often stalls, progress and the rarest-first order are looked at.
const TICK: Duration = Duration::from_millis(250);
/// Most block requests in flight over all holders together: with chunks of at most 1 MiB,
/// this bounds the memory a fetch holds in received, not yet written blocks.
const MAX_TOTAL_IN_FLIGHT: usize = 128;
/// Requests in flight to a distant holder while a nearby holder exists.
const FAR_WINDOW: usize = 2;
/// Requests in flight to a holder whose rate is not measured yet.
const INITIAL_WINDOW: usize = 4;
/// Fewest requests kept in flight to a holder.
const MIN_WINDOW: usize = 2;
/// How much of a holder's delivery its window covers.
const WINDOW_TIME: Duration = Duration::from_millis(300);
/// How often the DHT is asked again for holders: often at first, while peers that started
/// the same fetch are announcing themselves, then less.
const HOLDER_REFRESH_EARLY: Duration = Duration::from_secs(1);
const HOLDER_REFRESH: Duration = Duration::from_secs(5);
/// How long holders are looked up at the early pace.
const EARLY: Duration = Duration::from_secs(10);
/// Most queued chunks looked at to fill one holder's window.
const SCAN_LIMIT: usize = 8192;

/// One holder during the transfer.
struct Holder {
    session: Session,
    /// Chunks it said it has.
    has: HashSet<Id>,
    /// Chunks it said it lacks.
    lacks: HashSet<Id>,
    /// Chunks asked of it and then cancelled; a late block for one is not a fault.
    cancelled: HashSet<Id>,
    near: bool,
    /// Its delivery rate while busy, bytes per second (smoothed); `None` until measured.
    rate: Option<f64>,
    /// When its last block arrived, or when it became busy.
    last_delivery: Instant,
}

impl Holder {
    /// How many requests to keep in flight: enough for about [`WINDOW_TIME`] of its
    /// measured delivery rate, so a slow (or upload-limited, widely shared) holder is not
    /// handed chunks that faster holders could deliver sooner.
    fn window(&self, max: usize) -> usize {
        let Some(rate) = self.rate else {
            return INITIAL_WINDOW.min(max);
        };
        let chunks = (rate * WINDOW_TIME.as_secs_f64() / f64::from(MAX_CHUNK_SIZE)).ceil() as usize;
        chunks.clamp(MIN_WINDOW, max.max(MIN_WINDOW))
    }

    /// Folds one delivered block into the rate estimate.
    fn delivered(&mut self, bytes: usize) {
        let now = Instant::now();
        let seconds = now
            .duration_since(self.last_delivery)
            .as_secs_f64()
            .max(1e-4);
        let sample = bytes as f64 / seconds;
        self.rate = Some(match self.rate {
            Some(rate) => rate * 0.8 + sample * 0.2,
            None => sample,
        });
        self.last_delivery = now;
    }
}

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
}

struct Transfer<'a> {
    id: Id,
    plan: &'a mut Plan,
    store: &'a Store,
    settings: &'a FetchSettings,
    network: &'a NetworkHandle,
    events_tx: mpsc::Sender<SessionEvent>,
    progress: Option<mpsc::UnboundedSender<FetchProgress>>,
    vouches: Vec<Bytes>,
    holders: HashMap<PeerId, Holder>,
    banned: HashSet<PeerId>,
    /// Chunks not yet received.
    missing: HashSet<Id>,
    /// Missing chunks not asked of anyone, rarest first.
    queue: VecDeque<Id>,
    /// Missing chunks asked of someone, and of whom.
    requested: HashMap<Id, Vec<PeerId>>,
    reasons: Vec<String>,
    last_progress: Instant,
    /// Whether the download limit held back the last requests.
    over_budget: bool,
}

/// Fetches every chunk in `plan.needed` from the holders behind `sessions` and any found
/// later.
pub(super) async fn run(
    id: Id,
    plan: &mut Plan,
    sessions: Vec<Session>,
    events: &mut mpsc::Receiver<SessionEvent>,
    context: TransferContext<'_>,
) -> Result<(), FetchError> {
    let settings = context.settings;
    let missing: HashSet<Id> = plan.needed.iter().copied().collect();
    // A random order: fetchers that start together ask the first holders for different
    // chunks, and then have something to trade (rarest-first keeps this order among
    // equally rare chunks).
    let mut order = plan.needed.clone();
    order.shuffle(&mut rand::thread_rng());
    let queue = order.into_iter().collect();
    let mut transfer = Transfer {
        id,
        plan,
        store: context.store,
        settings,
        network: context.network,
        events_tx: context.events_tx,
        progress: context.progress,
        vouches: context.vouches,
        holders: HashMap::new(),
        banned: HashSet::new(),
        missing,
        queue,
        requested: HashMap::new(),
        reasons: Vec::new(),
        last_progress: Instant::now(),
        over_budget: false,
    };
    for session in sessions {
        transfer.add_holder(session).await;
    }
    let (found_tx, mut found) = mpsc::channel::<Vec<Session>>(1);
    let mut refreshing = false;
    let started = Instant::now();
    let mut last_refresh = started;
    let mut last_activity = Instant::now();
    let mut tick = tokio::time::interval(TICK);
    loop {
        transfer.fill_windows().await;
        if transfer.missing.is_empty() {
            break;
        }
        // Nothing asked of anyone (and not for want of download budget) and no holder has
        // said anything for a whole stall timeout: no one left can help (partial holders
        // would have told us by now).
        if transfer.requested.is_empty()
            && !transfer.over_budget
            && last_activity.elapsed() > settings.peer_stall_timeout
        {
            return Err(transfer.exhausted());
        }
        let every = if started.elapsed() < EARLY {
            HOLDER_REFRESH_EARLY
        } else {
            HOLDER_REFRESH
        };
        if !refreshing && (last_refresh.elapsed() >= every || transfer.holders.is_empty()) {
            refreshing = true;
            last_refresh = Instant::now();
            transfer.refresh_holders(found_tx.clone());
        }
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => {
                    last_activity = Instant::now();
                    transfer.on_event(event).await?;
                }
                None => return Err(transfer.exhausted()),
            },
            sessions = found.recv() => {
                refreshing = false;
                let sessions = sessions.unwrap_or_default();
                if sessions.is_empty() && transfer.holders.is_empty() {
                    // Every holder was dropped and the DHT knows no other.
                    return Err(transfer.exhausted());
                }
                for session in sessions {
                    transfer.add_holder(session).await;
                }
            },
            _ = tick.tick() => {
                transfer.drop_stalled();
                transfer.reorder();
                transfer.report_progress(false);
            },
        }
        if transfer.plan.pending.due() {
            transfer.commit().await?;
        }
    }
    transfer.commit().await?;
    transfer.report_progress(true);
    Ok(())
}

impl Transfer<'_> {
    fn exhausted(&self) -> FetchError {
        let mut reasons = self.reasons.clone();
        if reasons.is_empty() {
            reasons.push("the holders reached lack the chunks still missing".to_owned());
        }
        FetchError::HoldersExhausted {
            id: self.id,
            missing: self.missing.len(),
            reasons,
        }
    }

    /// Takes a new holder into the transfer and asks which missing chunks it has.
    async fn add_holder(&mut self, mut session: Session) {
        let peer = session.peer;
        if self.holders.contains_key(&peer) || self.banned.contains(&peer) {
            return;
        }
        let missing: Vec<Id> = self.missing.iter().copied().collect();
        for batch in missing.chunks(MAX_IDS_PER_MESSAGE) {
            if let Err(error) = session
                .send(&Message::WantHave {
                    ids: batch.to_vec(),
                })
                .await
            {
                self.reasons
                    .push(format!("{peer}: cannot ask what it has: {error}"));
                return;
            }
        }
        self.holders.insert(
            peer,
            Holder {
                session,
                has: HashSet::new(),
                lacks: HashSet::new(),
                cancelled: HashSet::new(),
                near: true,
                rate: None,
                last_delivery: Instant::now(),
            },
        );
        self.classify_by_distance();
    }

    /// Marks holders near or far by round-trip time: near is within twice the best, plus
    /// a little slack for timing noise; holders not yet measured count as near.
    fn classify_by_distance(&mut self) {
        let rtts: HashMap<PeerId, Duration> = self
            .holders
            .keys()
            .filter_map(|p| self.network.rtt(p).map(|rtt| (*p, rtt)))
            .collect();
        let Some(best) = rtts.values().min().copied() else {
            return;
        };
        let near_limit = best * 2 + Duration::from_millis(2);
        for (peer, holder) in &mut self.holders {
            holder.near = rtts.get(peer).is_none_or(|rtt| *rtt <= near_limit);
        }
    }

    /// Looks up holders again in the background; new ones arrive on `found`.
    fn refresh_holders(&self, found: mpsc::Sender<Vec<Session>>) {
        let network = self.network.clone();
        let id = self.id;
        let known: HashSet<PeerId> = self
            .holders
            .keys()
            .chain(self.banned.iter())
            .copied()
            .collect();
        let events = self.events_tx.clone();
        let vouches = self.vouches.clone();
        tokio::spawn(async move {
            let holders: Vec<PeerId> = match network.get_providers(id).await {
                Ok(holders) => holders.into_iter().filter(|p| !known.contains(p)).collect(),
                Err(_) => Vec::new(),
            };
            let sessions = open_sessions(&network, &holders, &events, &vouches).await;
            let _ = found.send(sessions).await;
        });
    }

    /// Rebuilds the queue rarest first: fewest holders known to have a chunk go first.
    fn reorder(&mut self) {
        self.classify_by_distance();
        let holders = &self.holders;
        let mut queue: Vec<(usize, Id)> = self
            .queue
            .iter()
            .map(|id| (holders.values().filter(|h| h.has.contains(id)).count(), *id))
            .collect();
        // Stable: equally rare chunks keep file order.
        queue.sort_by_key(|(count, _)| *count);
        self.queue = queue.into_iter().map(|(_, id)| id).collect();
    }

    /// Tops up every holder's window, nearest holders first.
    async fn fill_windows(&mut self) {
        let window = self.settings.requests_in_flight.max(1);
        self.over_budget = false;
        let any_near = self.holders.values().any(|h| h.near);
        let mut peers: Vec<(bool, PeerId)> =
            self.holders.iter().map(|(p, h)| (!h.near, *p)).collect();
        peers.sort();
        let mut failed = Vec::new();
        for (far, peer) in peers {
            let total = self.requested.values().map(Vec::len).sum::<usize>();
            let Some(holder) = self.holders.get(&peer) else {
                continue;
            };
            let limit = if far && any_near {
                FAR_WINDOW.min(holder.window(window))
            } else {
                holder.window(window)
            };
            let room = limit
                .saturating_sub(holder.session.in_flight.len())
                .min(MAX_TOTAL_IN_FLIGHT.saturating_sub(total));
            if room == 0 {
                continue;
            }
            let mut batch = self.take_from_queue(&peer, room, far && any_near);
            if batch.is_empty() && self.queue.is_empty() {
                batch = self.endgame_duplicates(&peer, room);
            }
            if batch.is_empty() {
                continue;
            }
            for chunk in &batch {
                self.requested.entry(*chunk).or_default().push(peer);
            }
            let Some(holder) = self.holders.get_mut(&peer) else {
                continue;
            };
            if holder.session.in_flight.is_empty() {
                holder.session.last_heard = Instant::now();
                // Idle time is not delivery time.
                holder.last_delivery = Instant::now();
            }
            holder.session.in_flight.extend(batch.iter().copied());
            if let Err(error) = holder
                .session
                .send(&Message::WantBlock { ids: batch })
                .await
            {
                failed.push((peer, format!("cannot send requests: {error}")));
            }
        }
        for (peer, reason) in failed {
            self.lose_holder(peer, reason);
        }
    }

    /// Takes up to `room` queued chunks that `peer` has (and, for a distant holder, that
    /// no nearby holder has).
    fn take_from_queue(&mut self, peer: &PeerId, room: usize, far: bool) -> Vec<Id> {
        let Some(holder) = self.holders.get(peer) else {
            return Vec::new();
        };
        let mut batch = Vec::with_capacity(room);
        let mut index = 0;
        while batch.len() < room && index < self.queue.len().min(SCAN_LIMIT) {
            let chunk = self.queue[index];
            let eligible = holder.has.contains(&chunk)
                && !holder.lacks.contains(&chunk)
                && !(far
                    && self
                        .holders
                        .values()
                        .any(|h| h.near && h.has.contains(&chunk)));
            if eligible {
                // The download limit is spent as chunks are asked for, so the loop never
                // waits on it; what does not fit now is asked on a later tick.
                let len = self
                    .plan
                    .lengths
                    .get(&chunk)
                    .copied()
                    .unwrap_or(MAX_CHUNK_SIZE);
                if !self.settings.download.try_take(len as usize) {
                    self.over_budget = true;
                    break;
                }
                batch.push(chunk);
                self.queue.remove(index);
            } else {
                index += 1;
            }
        }
        batch
    }

    /// In the endgame, asks `peer` for chunks in flight at exactly one other holder.
    fn endgame_duplicates(&self, peer: &PeerId, room: usize) -> Vec<Id> {
        let Some(holder) = self.holders.get(peer) else {
            return Vec::new();
        };
        self.requested
            .iter()
            .filter(|(chunk, asked)| {
                asked.len() == 1 && !asked.contains(peer) && holder.has.contains(chunk)
            })
            .map(|(chunk, _)| *chunk)
            .take(room)
            .take_while(|chunk| {
                let len = self
                    .plan
                    .lengths
                    .get(chunk)
                    .copied()
                    .unwrap_or(MAX_CHUNK_SIZE);
                self.settings.download.try_take(len as usize)
            })
            .collect()
    }

    /// Forgets that `peer` was asked for `chunk`; if no one else was, queues it again.
    fn unrequest(&mut self, chunk: Id, peer: &PeerId) {
        if let Some(asked) = self.requested.get_mut(&chunk) {
            asked.retain(|p| p != peer);
            if asked.is_empty() {
                self.requested.remove(&chunk);
                if self.missing.contains(&chunk) {
                    self.queue.push_front(chunk);
                }
            }
        }
    }

    /// Drops a holder that misbehaved: it is not asked again in this fetch.
    fn drop_holder(&mut self, peer: PeerId, reason: String) {
        self.banned.insert(peer);
        self.lose_holder(peer, reason);
    }

    /// Drops a holder whose stream ended; a later holder lookup may bring it back.
    fn lose_holder(&mut self, peer: PeerId, reason: String) {
        let Some(mut holder) = self.holders.remove(&peer) else {
            return;
        };
        tracing::warn!(%peer, %reason, "dropping holder");
        for chunk in std::mem::take(&mut holder.session.in_flight) {
            self.unrequest(chunk, &peer);
        }
        self.reasons.push(format!("{peer}: {reason}"));
    }

    fn drop_stalled(&mut self) {
        let stall = self.settings.peer_stall_timeout;
        let stalled: Vec<PeerId> = self
            .holders
            .values()
            .filter(|h| !h.session.in_flight.is_empty() && h.session.last_heard.elapsed() > stall)
            .map(|h| h.session.peer)
            .collect();
        for peer in stalled {
            let reason = format!("sent nothing for {}", humantime::format_duration(stall));
            self.drop_holder(peer, reason);
        }
    }

    async fn on_event(&mut self, event: SessionEvent) -> Result<(), FetchError> {
        let (peer, message) = match event {
            SessionEvent::Closed(peer, reason) => {
                let reason = format!(
                    "closed its stream ({})",
                    reason.unwrap_or_else(|| "cleanly".into())
                );
                self.lose_holder(peer, reason);
                return Ok(());
            }
            SessionEvent::Message(peer, message) => (peer, message),
        };
        let Some(holder) = self.holders.get_mut(&peer) else {
            return Ok(());
        };
        holder.session.last_heard = Instant::now();
        match message {
            Message::Have { ids } => {
                for chunk in ids {
                    holder.lacks.remove(&chunk);
                    holder.has.insert(chunk);
                }
            }
            Message::Refused { id, reason } => {
                holder.has.remove(&id);
                holder.lacks.insert(id);
                let asked = holder.session.in_flight.remove(&id);
                let reason = format!("{peer}: {reason}");
                if !self.reasons.contains(&reason) {
                    self.reasons.push(reason);
                }
                if asked {
                    self.unrequest(id, &peer);
                }
            }
            Message::DontHave { ids } => {
                let mut refused = Vec::new();
                for chunk in ids {
                    holder.has.remove(&chunk);
                    holder.lacks.insert(chunk);
                    if holder.session.in_flight.remove(&chunk) {
                        refused.push(chunk);
                    }
                }
                for chunk in refused {
                    self.unrequest(chunk, &peer);
                }
            }
            Message::Block { id, data, .. } => {
                if !holder.session.in_flight.remove(&id) {
                    if !holder.cancelled.remove(&id) {
                        self.drop_holder(peer, format!("sent block {id} that was not asked for"));
                    }
                    return Ok(());
                }
                if Id::of(&data) != id {
                    self.drop_holder(
                        peer,
                        format!("sent a block that did not match its hash: BLAKE3 of the bytes is not {id}"),
                    );
                    return Ok(());
                }
                holder.session.bytes_received += data.len() as u64;
                holder.delivered(data.len());
                *self.plan.received_by_peer.entry(peer).or_default() += data.len() as u64;
                self.on_good_block(peer, id, &data).await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Writes a verified block and cancels duplicate requests for it.
    async fn on_good_block(&mut self, peer: PeerId, id: Id, data: &[u8]) -> Result<(), FetchError> {
        if !self.missing.remove(&id) {
            return Ok(());
        }
        self.plan.peers.insert(peer);
        self.plan.bytes_from_network += data.len() as u64;
        let targets = self.plan.targets.get(&id).cloned().unwrap_or_default();
        self.plan.write_chunk(id, data, &targets)?;
        let others: Vec<PeerId> = self
            .requested
            .remove(&id)
            .unwrap_or_default()
            .into_iter()
            .filter(|p| *p != peer)
            .collect();
        for other in others {
            if let Some(holder) = self.holders.get_mut(&other) {
                holder.session.in_flight.remove(&id);
                holder.cancelled.insert(id);
                let _ = holder
                    .session
                    .send(&Message::Cancel { ids: vec![id] })
                    .await;
            }
        }
        Ok(())
    }

    fn report_progress(&mut self, done: bool) {
        let Some(progress) = &self.progress else {
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
            holders: self.holders.len(),
            done,
        });
    }

    /// Syncs the chunks written so far and records them as held.
    async fn commit(&mut self) -> Result<(), FetchError> {
        let batch = self.plan.pending.take();
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || batch.commit(&store))
            .await
            .map_err(|e| FetchError::Task(e.to_string()))?
    }
}
