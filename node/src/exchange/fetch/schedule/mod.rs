//! The scheduling of a fetch's network phase as a state machine with no I/O and no clock of
//! its own: it is fed [`Event`]s, each with the time it happened, and answers with
//! [`Action`]s for the code around it to carry out. BitTorrent-style:
//!
//! - every holder is asked (want-have) which of the missing chunks it has; partial holders
//!   tell us (have) as they get more;
//! - each holder gets a window of block requests in flight, sized to about 300 ms of its
//!   measured delivery rate, so faster holders get more work; rarest chunks go first,
//!   equally rare ones in the order given (a random order of each fetcher's own, so
//!   fetchers that start together have something to trade);
//! - holders with a low round-trip time are preferred: a distant one gets a small window
//!   and only chunks no nearby holder has, so a chunk crosses a slow link about once;
//! - in the endgame the last chunks are asked of a second holder too, and cancelled at the
//!   other when the first copy arrives;
//! - a holder that sends a bad or unrequested block, or leaves its requests unanswered for
//!   the stall timeout, is dropped for the rest of the fetch; one whose stream closed is
//!   only forgotten, and a later holder lookup may bring it back;
//! - messages about chunks that are not missing (never asked, or already received) change
//!   nothing and are not progress; only a new verified chunk is, and a fetch with none for
//!   the progress timeout fails, whatever else its holders send.
//!
//! Everything a holder can make grow is bounded by the number of missing chunks, and the
//! reasons kept for the final error by [`MAX_REASONS`].

mod holder;
#[cfg(test)]
mod tests;
mod types;

pub use types::{Action, Budget, Counts, Event, Failure, Limits};

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use ostrom_protocol::limits::MAX_IDS_PER_MESSAGE;
use ostrom_protocol::Id;

use holder::Holder;

/// Most block requests in flight over all holders together: with chunks of at most 1 MiB,
/// this bounds the memory a fetch holds in received, not yet written blocks.
pub const MAX_TOTAL_IN_FLIGHT: usize = 128;
/// Requests in flight to a distant holder while a nearby holder exists.
const FAR_WINDOW: usize = 2;
/// How often the DHT is asked again for holders: often at first, while peers that started
/// the same fetch are announcing themselves, then less.
const LOOKUP_EARLY: Duration = Duration::from_secs(1);
const LOOKUP_LATER: Duration = Duration::from_secs(5);
/// How long holders are looked up at the early pace.
const EARLY: Duration = Duration::from_secs(10);
/// Most queued chunks looked at to fill one holder's window.
const SCAN_LIMIT: usize = 8192;
/// Most distinct reasons kept for the error of a failed fetch.
pub const MAX_REASONS: usize = 16;
/// First pause before asking the holders again about every missing chunk when none of them
/// offers one (servers tell of their chunks a few at a time); it doubles up to
/// [`REASK_MAX`] while nothing arrives.
const REASK_FIRST: Duration = Duration::from_secs(1);
const REASK_MAX: Duration = Duration::from_secs(16);
/// Slack added to twice the best round-trip time when sorting holders into near and far.
const NEAR_SLACK: Duration = Duration::from_millis(2);

/// The state of one transfer. See the module docs.
pub struct Scheduler {
    limits: Limits,
    budget: Budget,
    /// Length of every chunk not yet received.
    missing: HashMap<Id, u32>,
    /// Missing chunks not asked of anyone, in the order they will be asked.
    queue: VecDeque<Id>,
    /// Missing chunks asked of someone, and of whom.
    requested: HashMap<Id, Vec<PeerId>>,
    /// How many holders say they have each missing chunk.
    availability: HashMap<Id, u32>,
    holders: HashMap<PeerId, Holder>,
    banned: HashSet<PeerId>,
    reasons: Vec<String>,
    started: Instant,
    last_progress: Instant,
    /// When a holder last said something new (joined, or has a missing chunk).
    last_news: Instant,
    last_lookup: Option<Instant>,
    looking: bool,
    /// When the holders may next be asked again about every missing chunk, and the pause
    /// after that.
    next_reask: Instant,
    reask_pause: Duration,
    over_budget: bool,
    finished: bool,
    counts: Counts,
    actions: Vec<Action>,
}

impl Scheduler {
    /// A transfer of `chunks` (id and length, each once), asked for in this order among
    /// equally rare chunks, starting at `now`.
    pub fn new(chunks: Vec<(Id, u32)>, limits: Limits, budget: Budget, now: Instant) -> Self {
        let queue = chunks.iter().map(|(id, _)| *id).collect();
        Self {
            limits,
            budget,
            missing: chunks.into_iter().collect(),
            queue,
            requested: HashMap::new(),
            availability: HashMap::new(),
            holders: HashMap::new(),
            banned: HashSet::new(),
            reasons: Vec::new(),
            started: now,
            last_progress: now,
            last_news: now,
            last_lookup: None,
            looking: false,
            next_reask: now + REASK_FIRST,
            reask_pause: REASK_FIRST,
            over_budget: false,
            finished: false,
            counts: Counts::default(),
            actions: Vec::new(),
        }
    }

    /// Holders in use now.
    pub fn holders(&self) -> usize {
        self.holders.len()
    }

    /// The chunks not yet received.
    pub fn missing_ids(&self) -> Vec<Id> {
        self.missing.keys().copied().collect()
    }

    /// Whether `peer` was dropped for misbehaving: it is not used again.
    pub fn is_banned(&self, peer: &PeerId) -> bool {
        self.banned.contains(peer)
    }

    /// What the holders did so far.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Takes in one event that happened at `now` and returns what to do about it.
    pub fn handle(&mut self, now: Instant, event: Event) -> Vec<Action> {
        if self.finished {
            return Vec::new();
        }
        match event {
            Event::HolderFound { peer, rtt } => self.holder_found(now, peer, rtt),
            Event::LookupDone { found } => {
                self.looking = false;
                if found == 0 && self.holders.is_empty() {
                    self.fail_exhausted();
                }
            }
            Event::Rtt { peer, rtt } => {
                if let Some(holder) = self.holders.get_mut(&peer) {
                    holder.rtt = Some(rtt);
                }
            }
            Event::Have { peer, ids } => self.have(now, peer, ids),
            Event::DontHave { peer, ids } => self.dont_have(now, peer, ids),
            Event::Refused { peer, id, reason } => self.refused(now, peer, id, reason),
            Event::Block {
                peer,
                id,
                len,
                matches,
            } => self.block(now, peer, id, len, matches),
            Event::StreamClosed { peer, error } => {
                if error.is_some() {
                    self.counts.stream_resets += 1;
                }
                let reason = match error {
                    Some(error) => format!("its stream failed ({error})"),
                    None => "closed its stream".to_owned(),
                };
                self.lose_holder(peer, reason);
            }
            Event::Tick => self.tick(now),
        }
        if !self.finished {
            self.fill_windows(now);
            self.check_end(now);
        }
        std::mem::take(&mut self.actions)
    }

    fn holder_found(&mut self, now: Instant, peer: PeerId, rtt: Option<Duration>) {
        if self.holders.contains_key(&peer) || self.banned.contains(&peer) {
            return;
        }
        self.last_news = now;
        self.ask_have(peer);
        self.holders.insert(peer, Holder::new(now, rtt));
        self.classify_by_distance();
    }

    fn have(&mut self, now: Instant, peer: PeerId, ids: Vec<Id>) {
        let Some(holder) = self.holders.get_mut(&peer) else {
            return;
        };
        for id in ids {
            if !self.missing.contains_key(&id) {
                self.counts.ignored += 1;
                continue;
            }
            holder.lacks.remove(&id);
            if holder.has.insert(id) {
                *self.availability.entry(id).or_default() += 1;
                self.last_news = now;
            }
        }
    }

    fn dont_have(&mut self, now: Instant, peer: PeerId, ids: Vec<Id>) {
        for id in ids {
            if !self.missing.contains_key(&id) {
                self.counts.ignored += 1;
                continue;
            }
            self.lacks(now, peer, id);
        }
    }

    fn refused(&mut self, now: Instant, peer: PeerId, id: Id, reason: String) {
        if !self.missing.contains_key(&id) || !self.holders.contains_key(&peer) {
            self.counts.ignored += 1;
            return;
        }
        self.note_reason(format!("{peer}: {reason}"));
        self.lacks(now, peer, id);
    }

    /// `peer` lacks (or will not give) missing chunk `id`.
    fn lacks(&mut self, now: Instant, peer: PeerId, id: Id) {
        let Some(holder) = self.holders.get_mut(&peer) else {
            return;
        };
        let had = holder.has.remove(&id);
        holder.lacks.insert(id);
        let asked = holder.in_flight.remove(&id);
        if asked {
            holder.last_answer = now;
        }
        if had {
            self.decrease_availability(id);
        }
        if asked {
            self.unrequest(id, &peer);
        }
    }

    fn block(&mut self, now: Instant, peer: PeerId, id: Id, len: u32, matches: bool) {
        let Some(holder) = self.holders.get_mut(&peer) else {
            self.counts.ignored += 1;
            return;
        };
        let fault = if !holder.in_flight.contains(&id) {
            if holder.cancelled.remove(&id) {
                // It crossed our cancel on the way.
                return;
            }
            Some(format!("sent block {id} that was not asked for"))
        } else if !matches {
            Some(format!(
                "sent a block that did not match its hash: BLAKE3 of the bytes is not {id}"
            ))
        } else {
            None
        };
        if let Some(reason) = fault {
            self.drop_holder(peer, reason);
            return;
        }
        holder.in_flight.remove(&id);
        holder.last_answer = now;
        holder.delivered(now, len);
        if self.missing.remove(&id).is_none() {
            return;
        }
        self.availability.remove(&id);
        self.last_progress = now;
        self.reask_pause = REASK_FIRST;
        self.actions.push(Action::Write { id });
        for other in self.requested.remove(&id).unwrap_or_default() {
            if other == peer {
                continue;
            }
            if let Some(holder) = self.holders.get_mut(&other) {
                holder.in_flight.remove(&id);
                holder.cancelled.insert(id);
                self.actions.push(Action::Cancel {
                    peer: other,
                    ids: vec![id],
                });
            }
        }
    }

    fn tick(&mut self, now: Instant) {
        self.drop_stalled(now);
        self.classify_by_distance();
        self.reorder();
        self.reask(now);
        let every = if now.saturating_duration_since(self.started) < EARLY {
            LOOKUP_EARLY
        } else {
            LOOKUP_LATER
        };
        let due = self
            .last_lookup
            .is_none_or(|last| now.saturating_duration_since(last) >= every);
        if !self.looking && (due || self.holders.is_empty()) {
            self.looking = true;
            self.last_lookup = Some(now);
            self.actions.push(Action::LookUpHolders);
        }
    }

    /// With nothing asked of anyone and chunks still missing, asks every holder again which
    /// of them it has (servers tell of their chunks a few at a time, and partial holders
    /// come to hold more), at growing intervals.
    fn reask(&mut self, now: Instant) {
        if !self.requested.is_empty()
            || self.over_budget
            || self.missing.is_empty()
            || now < self.next_reask
        {
            return;
        }
        let peers: Vec<PeerId> = self.holders.keys().copied().collect();
        for peer in peers {
            self.ask_have(peer);
        }
        self.next_reask = now + self.reask_pause;
        self.reask_pause = (self.reask_pause * 2).min(REASK_MAX);
    }

    /// Asks `peer` which missing chunks it has. Each holder gets the list starting at a
    /// place of its own: servers tell of their chunks a few at a time in the order asked,
    /// so holders then tell of different chunks and all of them have work.
    fn ask_have(&mut self, peer: PeerId) {
        let mut wanted: Vec<Id> = self.missing.keys().copied().collect();
        if !wanted.is_empty() {
            let start = peer.to_bytes().iter().fold(0usize, |acc, b| {
                acc.wrapping_mul(31).wrapping_add(usize::from(*b))
            });
            let at = start % wanted.len();
            wanted.rotate_left(at);
        }
        for ids in wanted.chunks(MAX_IDS_PER_MESSAGE) {
            self.actions.push(Action::AskHave {
                peer,
                ids: ids.to_vec(),
            });
        }
    }

    /// Ends the transfer when every chunk arrived, or when it cannot go on.
    fn check_end(&mut self, now: Instant) {
        if self.missing.is_empty() {
            self.finished = true;
            self.actions.push(Action::Done);
            return;
        }
        if self.over_budget {
            // Waiting on this node's own download limit is not the holders' fault.
            self.last_progress = now;
            return;
        }
        let quiet = now.saturating_duration_since(self.last_progress);
        if quiet > self.limits.progress_timeout {
            self.finished = true;
            self.actions.push(Action::Failed(Failure::NoProgress {
                missing: self.missing.len(),
                waited: quiet,
                reasons: self.reasons(),
            }));
            return;
        }
        // Nothing asked of anyone and no holder has said anything new for a whole stall
        // timeout: no one left can help (partial holders would have told us by now).
        if self.requested.is_empty()
            && now.saturating_duration_since(self.last_news) > self.limits.stall_timeout
        {
            self.fail_exhausted();
        }
    }

    fn fail_exhausted(&mut self) {
        self.finished = true;
        self.actions.push(Action::Failed(Failure::Exhausted {
            missing: self.missing.len(),
            reasons: self.reasons(),
        }));
    }

    fn reasons(&self) -> Vec<String> {
        if self.reasons.is_empty() {
            vec!["the holders reached lack the chunks still missing".to_owned()]
        } else {
            self.reasons.clone()
        }
    }

    fn note_reason(&mut self, reason: String) {
        if self.reasons.len() < MAX_REASONS && !self.reasons.contains(&reason) {
            self.reasons.push(reason);
        }
    }

    /// Marks holders near or far by round-trip time: near is within twice the best, plus
    /// a little slack for timing noise; holders not yet measured count as near.
    fn classify_by_distance(&mut self) {
        let Some(best) = self.holders.values().filter_map(|h| h.rtt).min() else {
            return;
        };
        let near_limit = best * 2 + NEAR_SLACK;
        for holder in self.holders.values_mut() {
            holder.near = holder.rtt.is_none_or(|rtt| rtt <= near_limit);
        }
    }

    /// Rebuilds the queue rarest first; equally rare chunks keep their order.
    fn reorder(&mut self) {
        let availability = &self.availability;
        let mut queue: Vec<Id> = self.queue.drain(..).collect();
        queue.sort_by_key(|id| availability.get(id).copied().unwrap_or(0));
        self.queue = queue.into();
    }

    fn decrease_availability(&mut self, id: Id) {
        if let Some(count) = self.availability.get_mut(&id) {
            *count = count.saturating_sub(1);
        }
    }

    /// Tops up every holder's window, nearest holders first.
    fn fill_windows(&mut self, now: Instant) {
        self.over_budget = false;
        let any_near = self.holders.values().any(|h| h.near);
        let mut peers: Vec<(bool, PeerId)> =
            self.holders.iter().map(|(p, h)| (!h.near, *p)).collect();
        peers.sort();
        let mut total: usize = self.holders.values().map(|h| h.in_flight.len()).sum();
        for (far, peer) in peers {
            let far = far && any_near;
            let Some(holder) = self.holders.get(&peer) else {
                continue;
            };
            let window = holder.window(self.limits.window.max(1));
            let limit = if far { FAR_WINDOW.min(window) } else { window };
            let room = limit
                .saturating_sub(holder.in_flight.len())
                .min(MAX_TOTAL_IN_FLIGHT.saturating_sub(total));
            if room == 0 {
                continue;
            }
            let mut batch = self.take_from_queue(&peer, room, far);
            if batch.is_empty() && self.queue.is_empty() && !self.over_budget {
                batch = self.endgame_duplicates(&peer, room);
            }
            if batch.is_empty() {
                continue;
            }
            total += batch.len();
            for chunk in &batch {
                self.requested.entry(*chunk).or_default().push(peer);
            }
            if let Some(holder) = self.holders.get_mut(&peer) {
                holder.becomes_busy(now);
                holder.in_flight.extend(batch.iter().copied());
            }
            self.actions.push(Action::Request { peer, ids: batch });
        }
    }

    /// Takes up to `room` queued chunks that `peer` offers (and, for a distant holder,
    /// that no nearby holder offers), spending the download budget on each.
    fn take_from_queue(&mut self, peer: &PeerId, room: usize, far: bool) -> Vec<Id> {
        let Some(holder) = self.holders.get(peer) else {
            return Vec::new();
        };
        let mut batch = Vec::with_capacity(room);
        let mut index = 0;
        while batch.len() < room && index < self.queue.len().min(SCAN_LIMIT) {
            let chunk = self.queue[index];
            let eligible = holder.offers(&chunk)
                && !(far && self.holders.values().any(|h| h.near && h.offers(&chunk)));
            if !eligible {
                index += 1;
                continue;
            }
            let len = self.missing.get(&chunk).copied().unwrap_or(0);
            if !(self.budget)(len) {
                self.over_budget = true;
                break;
            }
            batch.push(chunk);
            self.queue.remove(index);
        }
        batch
    }

    /// In the endgame, chunks for `peer` that are in flight at exactly one other holder.
    fn endgame_duplicates(&mut self, peer: &PeerId, room: usize) -> Vec<Id> {
        let Some(holder) = self.holders.get(peer) else {
            return Vec::new();
        };
        let candidates: Vec<Id> = self
            .requested
            .iter()
            .filter(|(chunk, asked)| {
                asked.len() == 1 && !asked.contains(peer) && holder.offers(chunk)
            })
            .map(|(chunk, _)| *chunk)
            .take(room)
            .collect();
        let mut batch = Vec::with_capacity(candidates.len());
        for chunk in candidates {
            let len = self.missing.get(&chunk).copied().unwrap_or(0);
            if !(self.budget)(len) {
                self.over_budget = true;
                break;
            }
            batch.push(chunk);
        }
        batch
    }

    /// Forgets that `peer` was asked for `chunk`; if no one else was, queues it again.
    fn unrequest(&mut self, chunk: Id, peer: &PeerId) {
        if let Some(asked) = self.requested.get_mut(&chunk) {
            asked.retain(|p| p != peer);
            if asked.is_empty() {
                self.requested.remove(&chunk);
                if self.missing.contains_key(&chunk) {
                    self.queue.push_front(chunk);
                }
            }
        }
    }

    /// Drops a holder that misbehaved: it is not used again in this fetch.
    fn drop_holder(&mut self, peer: PeerId, reason: String) {
        self.banned.insert(peer);
        self.counts.holders_dropped += 1;
        self.lose_holder(peer, reason);
    }

    /// Stops using a holder; a later lookup may bring it back unless it is banned.
    fn lose_holder(&mut self, peer: PeerId, reason: String) {
        let Some(holder) = self.holders.remove(&peer) else {
            return;
        };
        for id in &holder.has {
            self.decrease_availability(*id);
        }
        for chunk in holder.in_flight {
            self.unrequest(chunk, &peer);
        }
        self.note_reason(format!("{peer}: {reason}"));
        self.actions.push(Action::Drop { peer, reason });
    }

    fn drop_stalled(&mut self, now: Instant) {
        let stall = self.limits.stall_timeout;
        let stalled: Vec<PeerId> = self
            .holders
            .iter()
            .filter(|(_, h)| {
                !h.in_flight.is_empty() && now.saturating_duration_since(h.last_answer) > stall
            })
            .map(|(peer, _)| *peer)
            .collect();
        for peer in stalled {
            let reason = format!(
                "answered no request for {}",
                humantime::format_duration(stall)
            );
            self.drop_holder(peer, reason);
        }
    }
}
