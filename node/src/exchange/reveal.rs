//! Which held chunks a server tells each requester about, so that a seeder sends each chunk
//! once before it sends any twice (BitTorrent's super-seeding).
//!
//! A requester asks with want-have about every chunk it misses. Telling every requester
//! about every chunk makes them all ask the seeder for the same chunks at first, and the
//! seeder sends many copies before the requesters can trade. Instead, each stream is told
//! about a few chunks more than it has asked for, chosen among those revealed to the fewest
//! requesters so far; every chunk it then asks for reveals another. How many more follows
//! its demand: twice the requests it has waiting here, from [`MIN_AHEAD`] to [`MAX_AHEAD`].
//! A lone fast requester keeps many requests waiting and so always knows enough chunks to
//! keep its window full, while requesters sharing a busy server keep few waiting, are each
//! told of different chunks, and trade them among themselves.
//!
//! Reveals are kept per stream: a requester that spreads one fetch over several streams asks
//! about what it misses on each of them, and each stream's requests reveal more on it.
//! (Keeping them per requester instead would mix the several fetches a node may run at once
//! against one server.)
//!
//! Pure bookkeeping: the server's stream task calls it and sends the `Have`s it returns.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use ostrom_protocol::Id;

/// Fewest chunks a requester knows of beyond those it has asked for.
pub const MIN_AHEAD: usize = 4;
/// Most chunks a requester knows of beyond those it has asked for: twice a fetcher's largest
/// request window (`requests_in_flight`, 32 by default).
pub const MAX_AHEAD: usize = 64;
/// Most hidden chunks looked at to choose the next one to reveal: every requester sends
/// its want-haves in an order of its own, so the least revealed chunks are spread over its
/// list, and this many cover several requesters' first reveals.
const SCAN: usize = 1024;
/// Most chunks whose reveal counts the node keeps; past it, the counts start again.
const MAX_COUNTED: usize = 1 << 20;

/// How many streams each chunk was revealed to, over the whole node. Cheap to clone.
#[derive(Clone, Default)]
pub struct RevealCounts {
    counts: Arc<Mutex<HashMap<Id, u32>>>,
}

impl RevealCounts {
    fn get(&self, id: &Id) -> u32 {
        self.counts
            .lock()
            .map(|counts| counts.get(id).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    fn bump(&self, id: Id) {
        if let Ok(mut counts) = self.counts.lock() {
            if counts.len() >= MAX_COUNTED && !counts.contains_key(&id) {
                counts.clear();
            }
            *counts.entry(id).or_default() += 1;
        }
    }
}

/// One stream's reveals.
#[derive(Default)]
pub struct Reveals {
    /// Held chunks the requester asked about and was not told of yet, in its order (with
    /// entries no longer hidden dropped lazily: [`Reveals::hidden_set`] is what counts).
    hidden: VecDeque<Id>,
    /// The same chunks, to look up.
    hidden_set: HashSet<Id>,
    /// Chunks it was told of and has not asked for yet.
    outstanding: HashMap<Id, u64>,
    /// Block requests so far: a chunk told of more than twice its demand in requests ago
    /// and still not asked for here, the requester is getting elsewhere, and it no longer
    /// holds back further reveals.
    requests: u64,
    /// Most hidden chunks kept; further ones are revealed at once.
    capacity: usize,
    /// How many chunks beyond those asked for it is told of now.
    ahead: usize,
}

impl Reveals {
    /// Reveals for a stream that remembers at most `capacity` hidden chunks.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            ahead: MIN_AHEAD,
            ..Self::default()
        }
    }

    /// The requester has `waiting` requests not yet answered: it is told of twice as many
    /// chunks ahead, within [`MIN_AHEAD`] and [`MAX_AHEAD`].
    pub fn demand(&mut self, waiting: usize) {
        self.ahead = waiting.saturating_mul(2).clamp(MIN_AHEAD, MAX_AHEAD);
    }

    /// The requester asked about `held`, chunks this node holds and it may read: returns
    /// those to tell it about now; the rest are kept back. A requester asks again about what
    /// it still misses when no holder offers it anything: chunks it was told of and does not
    /// ask about again it got elsewhere, and they no longer hold back further reveals.
    pub fn asked(&mut self, held: Vec<Id>, counts: &RevealCounts) -> Vec<Id> {
        let still_missing: HashSet<Id> = held.iter().copied().collect();
        self.outstanding.retain(|id, _| still_missing.contains(id));
        let mut overflow = Vec::new();
        for id in held {
            if self.outstanding.contains_key(&id) || self.hidden_set.contains(&id) {
                continue;
            }
            if self.hidden_set.len() < self.capacity {
                self.hidden.push_back(id);
                self.hidden_set.insert(id);
            } else {
                overflow.push(id);
            }
        }
        let mut revealed = self.top_up(counts);
        revealed.extend(overflow);
        revealed
    }

    /// The requester asked for block `id`: returns further chunks to tell it about.
    pub fn requested(&mut self, id: &Id, counts: &RevealCounts) -> Vec<Id> {
        self.requests += 1;
        if self.outstanding.remove(id).is_none() {
            // A chunk it learned of elsewhere: nothing to keep back any more.
            self.hidden_set.remove(id);
        }
        self.top_up(counts)
    }

    /// Reveals the least revealed hidden chunks until as many as its demand are outstanding.
    fn top_up(&mut self, counts: &RevealCounts) -> Vec<Id> {
        let set = &self.hidden_set;
        if self.hidden.len() > 2 * set.len() + SCAN {
            self.hidden.retain(|id| set.contains(id));
        }
        let (requests, window) = (self.requests, 2 * self.ahead as u64);
        self.outstanding.retain(|_, at| *at + window > requests);
        let mut revealed = Vec::new();
        while self.outstanding.len() < self.ahead && !self.hidden_set.is_empty() {
            while self
                .hidden
                .front()
                .is_some_and(|id| !self.hidden_set.contains(id))
            {
                self.hidden.pop_front();
            }
            let window = self.hidden.len().min(SCAN);
            let (at, _) = (0..window)
                .filter(|i| self.hidden_set.contains(&self.hidden[*i]))
                .map(|i| (i, counts.get(&self.hidden[i])))
                .min_by_key(|(i, count)| (*count, *i))
                .unwrap_or((0, 0));
            let Some(id) = self.hidden.remove(at) else {
                break;
            };
            self.hidden_set.remove(&id);
            counts.bump(id);
            self.outstanding.insert(id, self.requests);
            revealed.push(id);
        }
        revealed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(n: u32) -> Vec<Id> {
        (0..n).map(|i| Id::of(&i.to_be_bytes())).collect()
    }

    #[test]
    fn a_lone_fast_requester_is_told_of_more_as_its_requests_pile_up() {
        let counts = RevealCounts::default();
        let mut stream = Reveals::new(1 << 20);
        let all = chunks(500);
        let mut known: Vec<Id> = stream.asked(all.clone(), &counts);
        assert_eq!(known.len(), MIN_AHEAD);
        // It asks for everything it knows of and keeps up to 32 requests waiting.
        let mut asked = 0;
        let mut most_known_ahead = 0;
        while let Some(id) = known.get(asked).copied() {
            asked += 1;
            stream.demand(asked.min(32));
            known.extend(stream.requested(&id, &counts));
            most_known_ahead = most_known_ahead.max(known.len() - asked);
        }
        assert_eq!(most_known_ahead, MAX_AHEAD);
        // Every chunk was revealed exactly once, in the end.
        let distinct: HashSet<Id> = known.iter().copied().collect();
        assert_eq!(distinct.len(), all.len());
        assert_eq!(known.len(), all.len());
    }

    #[test]
    fn requesters_with_few_requests_waiting_are_told_of_different_chunks() {
        let counts = RevealCounts::default();
        let all = chunks(8 * MIN_AHEAD as u32);
        let mut seen = HashSet::new();
        for _ in 0..8 {
            let mut stream = Reveals::new(1 << 20);
            for id in stream.asked(all.clone(), &counts) {
                assert!(seen.insert(id), "chunk {id} revealed to two requesters");
            }
        }
        assert_eq!(seen.len(), all.len());
    }

    #[test]
    fn a_chunk_asked_for_without_being_revealed_is_not_revealed_later() {
        let counts = RevealCounts::default();
        let mut stream = Reveals::new(1 << 20);
        let all = chunks(MIN_AHEAD as u32 + 1);
        let revealed = stream.asked(all.clone(), &counts);
        let last = all.into_iter().find(|id| !revealed.contains(id));
        let Some(last) = last else {
            panic!("every chunk was revealed at once");
        };
        assert!(stream.requested(&last, &counts).is_empty());
        assert!(stream.hidden_set.is_empty());
    }

    #[test]
    fn chunks_got_elsewhere_stop_holding_back_reveals_once_the_requester_asks_again() {
        let counts = RevealCounts::default();
        let mut stream = Reveals::new(1 << 20);
        let all = chunks(20);
        let first = stream.asked(all.clone(), &counts);
        assert_eq!(first.len(), MIN_AHEAD);
        // It got those from other holders and asks about the rest again.
        let rest: Vec<Id> = all
            .iter()
            .filter(|id| !first.contains(id))
            .copied()
            .collect();
        let next = stream.asked(rest.clone(), &counts);
        assert_eq!(next.len(), MIN_AHEAD);
        assert!(next.iter().all(|id| rest.contains(id)));
        // Asking again about chunks it was told of and still misses changes nothing.
        assert!(stream.asked(rest, &counts).is_empty());
    }

    #[test]
    fn chunks_not_asked_for_here_stop_holding_back_reveals() {
        let counts = RevealCounts::default();
        let mut stream = Reveals::new(1 << 20);
        let all = chunks(40);
        let told = stream.asked(all.clone(), &counts);
        assert_eq!(told.len(), MIN_AHEAD);
        // It asks here only for chunks it learned of elsewhere, never for those told.
        let others: Vec<Id> = all
            .iter()
            .filter(|id| !told.contains(id))
            .copied()
            .collect();
        let mut more = Vec::new();
        for id in &others[..2 * MIN_AHEAD] {
            more.extend(stream.requested(id, &counts));
        }
        assert!(
            !more.is_empty(),
            "the chunks told of long ago still hold reveals back"
        );
    }

    #[test]
    fn past_the_bound_chunks_are_revealed_at_once_rather_than_kept() {
        let counts = RevealCounts::default();
        let mut stream = Reveals::new(10);
        let all = chunks(1000);
        let revealed = stream.asked(all.clone(), &counts);
        // Ten are kept back, of which the first few are told at once; the rest right away.
        assert_eq!(stream.hidden_set.len(), 10 - MIN_AHEAD);
        assert_eq!(revealed.len(), 1000 - (10 - MIN_AHEAD));
        assert!(all[10..].iter().all(|id| revealed.contains(id)));
    }
}
