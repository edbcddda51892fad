//! The network phase of a fetch: every holder gets a window of block requests in flight,
//! refilled as blocks arrive, so faster holders get more work. Every block is checked
//! against its id before it is written; a holder that sends a bad or unrequested block,
//! closes its stream or stalls is dropped and its requests go to the others.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use ostrom_protocol::wire::Message;
use ostrom_protocol::Id;
use tokio::sync::mpsc;

use super::plan::Plan;
use super::{FetchError, FetchSettings};
use crate::exchange::session::{Session, SessionEvent};
use crate::store::Store;

/// How often stalled holders are looked for.
const STALL_CHECK: Duration = Duration::from_secs(1);
/// Most block requests in flight over all holders together: with chunks of at most 1 MiB,
/// this bounds the memory a fetch holds in received, not yet written blocks.
const MAX_TOTAL_IN_FLIGHT: usize = 128;

struct Transfer<'a> {
    id: Id,
    plan: &'a mut Plan,
    store: &'a Store,
    settings: &'a FetchSettings,
    sessions: HashMap<PeerId, Session>,
    queue: VecDeque<Id>,
    refused: HashMap<Id, HashSet<PeerId>>,
    reasons: Vec<String>,
}

/// Fetches every chunk in `plan.needed` from the holders behind `sessions`.
pub(super) async fn run(
    id: Id,
    plan: &mut Plan,
    sessions: Vec<Session>,
    events: &mut mpsc::Receiver<SessionEvent>,
    store: &Store,
    settings: &FetchSettings,
) -> Result<(), FetchError> {
    let queue = plan.needed.iter().copied().collect();
    let mut transfer = Transfer {
        id,
        plan,
        store,
        settings,
        sessions: sessions.into_iter().map(|s| (s.peer, s)).collect(),
        queue,
        refused: HashMap::new(),
        reasons: Vec::new(),
    };
    let mut stall_check = tokio::time::interval(STALL_CHECK);
    loop {
        transfer.fill_windows().await;
        let in_flight: usize = transfer.sessions.values().map(|s| s.in_flight.len()).sum();
        if transfer.queue.is_empty() && in_flight == 0 {
            break;
        }
        if in_flight == 0 {
            return Err(transfer.exhausted());
        }
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => transfer.on_event(event).await?,
                None => return Err(transfer.exhausted()),
            },
            _ = stall_check.tick() => transfer.drop_stalled(),
        }
        if transfer.plan.pending.due() {
            transfer.commit().await?;
        }
    }
    transfer.commit().await
}

impl Transfer<'_> {
    fn exhausted(&self) -> FetchError {
        let mut reasons = self.reasons.clone();
        if reasons.is_empty() {
            reasons.push("every holder said it lacks the chunks still missing".to_owned());
        }
        FetchError::HoldersExhausted {
            id: self.id,
            missing: self.queue.len()
                + self
                    .sessions
                    .values()
                    .map(|s| s.in_flight.len())
                    .sum::<usize>(),
            reasons,
        }
    }

    /// Tops up every holder's window with queued chunks it has not refused.
    async fn fill_windows(&mut self) {
        let window = self.settings.requests_in_flight.max(1);
        let mut total: usize = self.sessions.values().map(|s| s.in_flight.len()).sum();
        let mut failed = Vec::new();
        for session in self.sessions.values_mut() {
            let room = window
                .saturating_sub(session.in_flight.len())
                .min(MAX_TOTAL_IN_FLIGHT.saturating_sub(total));
            if room == 0 || self.queue.is_empty() {
                continue;
            }
            let mut batch = Vec::with_capacity(room);
            let mut skipped = Vec::new();
            while batch.len() < room {
                let Some(chunk) = self.queue.pop_front() else {
                    break;
                };
                if self
                    .refused
                    .get(&chunk)
                    .is_some_and(|r| r.contains(&session.peer))
                {
                    skipped.push(chunk);
                } else {
                    batch.push(chunk);
                }
            }
            for chunk in skipped.into_iter().rev() {
                self.queue.push_front(chunk);
            }
            if batch.is_empty() {
                continue;
            }
            if session.in_flight.is_empty() {
                session.last_heard = Instant::now();
            }
            total += batch.len();
            session.in_flight.extend(batch.iter().copied());
            if let Err(error) = session.send(&Message::WantBlock { ids: batch }).await {
                failed.push((session.peer, format!("cannot send requests: {error}")));
            }
        }
        for (peer, reason) in failed {
            self.drop_holder(peer, reason);
        }
    }

    fn drop_holder(&mut self, peer: PeerId, reason: String) {
        let Some(mut session) = self.sessions.remove(&peer) else {
            return;
        };
        tracing::warn!(%peer, %reason, "dropping holder");
        for chunk in std::mem::take(&mut session.in_flight) {
            self.queue.push_front(chunk);
        }
        self.reasons.push(format!("{peer}: {reason}"));
    }

    fn drop_stalled(&mut self) {
        let stall = self.settings.peer_stall_timeout;
        let stalled: Vec<PeerId> = self
            .sessions
            .values()
            .filter(|s| !s.in_flight.is_empty() && s.last_heard.elapsed() > stall)
            .map(|s| s.peer)
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
                self.drop_holder(peer, reason);
                return Ok(());
            }
            SessionEvent::Message(peer, message) => (peer, message),
        };
        let Some(session) = self.sessions.get_mut(&peer) else {
            return Ok(());
        };
        session.last_heard = Instant::now();
        match message {
            Message::Block { id, data, .. } => {
                if !session.in_flight.remove(&id) {
                    self.drop_holder(peer, format!("sent block {id} that was not asked for"));
                    return Ok(());
                }
                if Id::of(&data) != id {
                    self.drop_holder(
                        peer,
                        format!("sent a block that did not match its hash: BLAKE3 of the bytes is not {id}"),
                    );
                    return Ok(());
                }
                session.bytes_received += data.len() as u64;
                self.plan.peers.insert(peer);
                self.plan.bytes_from_network += data.len() as u64;
                let targets = self.plan.targets.get(&id).cloned().unwrap_or_default();
                self.plan.write_chunk(id, &data, &targets)?;
            }
            Message::DontHave { ids } => {
                for chunk in ids {
                    if session.in_flight.remove(&chunk) {
                        self.refused.entry(chunk).or_default().insert(peer);
                        self.queue.push_back(chunk);
                    }
                }
            }
            _ => {}
        }
        Ok(())
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
