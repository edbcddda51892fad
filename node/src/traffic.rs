//! Bytes of blocks this node sent to and received from each peer since it started, counted
//! by the exchange itself: what `ostrom traffic` shows and benchmarks read. Also the blocks
//! served, and those received that verified or were rejected, and the lab each peer
//! proved it belongs to (with a vouch on an exchange stream it opened), which the metrics
//! report.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use libp2p::PeerId;

/// Most peers counted one by one; traffic with peers past this is counted together.
pub const MAX_COUNTED_PEERS: usize = 4096;

/// Block bytes exchanged with one peer (or with the peers past [`MAX_COUNTED_PEERS`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerTraffic {
    /// Bytes of blocks sent to it.
    pub uploaded: u64,
    /// Bytes of blocks received from it, verified or not, duplicates included.
    pub downloaded: u64,
}

/// Why a block received was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rejection {
    /// Its bytes do not hash to the chunk id it came as.
    HashMismatch,
}

impl Rejection {
    /// A stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HashMismatch => "hash_mismatch",
        }
    }
}

/// Blocks served and received, all peers together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockCounts {
    /// Blocks sent to peers.
    pub served: u64,
    /// Blocks received whose bytes matched their chunk id.
    pub verified: u64,
    /// Blocks received and rejected, by why.
    pub rejected: std::collections::BTreeMap<Rejection, u64>,
}

#[derive(Default)]
struct Counts {
    peers: HashMap<PeerId, PeerTraffic>,
    others: PeerTraffic,
    blocks: BlockCounts,
    /// The lab each peer proved it belongs to (the least key, when several vouch for it).
    labs: HashMap<PeerId, [u8; 32]>,
}

impl Counts {
    fn entry(&mut self, peer: PeerId) -> &mut PeerTraffic {
        if self.peers.len() >= MAX_COUNTED_PEERS && !self.peers.contains_key(&peer) {
            return &mut self.others;
        }
        self.peers.entry(peer).or_default()
    }
}

/// The node's traffic counts. Cheap to clone; every clone counts into the same totals.
#[derive(Clone, Default)]
pub struct Traffic {
    counts: Arc<Mutex<Counts>>,
}

/// What [`Traffic::snapshot`] reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrafficSnapshot {
    /// Each peer counted, busiest first.
    pub peers: Vec<(PeerId, PeerTraffic)>,
    /// Peers past [`MAX_COUNTED_PEERS`], together.
    pub others: PeerTraffic,
    /// All peers together.
    pub total: PeerTraffic,
    /// Blocks served, verified and rejected.
    pub blocks: BlockCounts,
    /// The lab of each peer that proved one.
    pub labs: HashMap<PeerId, [u8; 32]>,
}

impl Traffic {
    /// Counts `bytes` of blocks sent to `peer`.
    pub fn uploaded(&self, peer: PeerId, bytes: usize) {
        if let Ok(mut counts) = self.counts.lock() {
            counts.entry(peer).uploaded += bytes as u64;
            counts.blocks.served += 1;
        }
    }

    /// Counts a block received that verified (`None`) or was rejected.
    pub fn checked(&self, rejection: Option<Rejection>) {
        if let Ok(mut counts) = self.counts.lock() {
            match rejection {
                None => counts.blocks.verified += 1,
                Some(why) => *counts.blocks.rejected.entry(why).or_default() += 1,
            }
        }
    }

    /// Notes that `labs` vouch for `peer` (nothing when empty).
    pub fn labs(&self, peer: PeerId, labs: impl IntoIterator<Item = [u8; 32]>) {
        let Some(lab) = labs.into_iter().min() else {
            return;
        };
        if let Ok(mut counts) = self.counts.lock() {
            if counts.labs.len() < MAX_COUNTED_PEERS || counts.labs.contains_key(&peer) {
                counts.labs.insert(peer, lab);
            }
        }
    }

    /// Counts `bytes` of blocks received from `peer`.
    pub fn downloaded(&self, peer: PeerId, bytes: usize) {
        if let Ok(mut counts) = self.counts.lock() {
            counts.entry(peer).downloaded += bytes as u64;
        }
    }

    /// The counts so far.
    pub fn snapshot(&self) -> TrafficSnapshot {
        let Ok(counts) = self.counts.lock() else {
            return TrafficSnapshot::default();
        };
        let mut peers: Vec<(PeerId, PeerTraffic)> =
            counts.peers.iter().map(|(p, t)| (*p, *t)).collect();
        peers.sort_by_key(|(peer, t)| (std::cmp::Reverse(t.uploaded + t.downloaded), *peer));
        let mut total = counts.others;
        for (_, t) in &peers {
            total.uploaded += t.uploaded;
            total.downloaded += t.downloaded;
        }
        TrafficSnapshot {
            peers,
            others: counts.others,
            total,
            blocks: counts.blocks.clone(),
            labs: counts.labs.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_peer_and_in_total() {
        let traffic = Traffic::default();
        let (a, b) = (PeerId::random(), PeerId::random());
        traffic.uploaded(a, 100);
        traffic.uploaded(a, 50);
        traffic.downloaded(b, 7);
        traffic.clone().downloaded(a, 1);
        let snapshot = traffic.snapshot();
        assert_eq!(snapshot.peers[0].0, a);
        assert_eq!(
            snapshot.peers[0].1,
            PeerTraffic {
                uploaded: 150,
                downloaded: 1
            }
        );
        assert_eq!(
            snapshot.total,
            PeerTraffic {
                uploaded: 150,
                downloaded: 8
            }
        );
    }

    #[test]
    fn peers_past_the_cap_are_counted_together() {
        let traffic = Traffic::default();
        for _ in 0..MAX_COUNTED_PEERS + 10 {
            traffic.uploaded(PeerId::random(), 1);
        }
        let snapshot = traffic.snapshot();
        assert_eq!(snapshot.peers.len(), MAX_COUNTED_PEERS);
        assert_eq!(snapshot.others.uploaded, 10);
        assert_eq!(snapshot.total.uploaded, (MAX_COUNTED_PEERS + 10) as u64);
        assert_eq!(snapshot.blocks.served, (MAX_COUNTED_PEERS + 10) as u64);
    }

    #[test]
    fn blocks_and_labs_are_counted() {
        let traffic = Traffic::default();
        let peer = PeerId::random();
        traffic.checked(None);
        traffic.checked(None);
        traffic.checked(Some(Rejection::HashMismatch));
        traffic.labs(peer, [[9; 32], [3; 32]]);
        traffic.labs(PeerId::random(), []);
        let snapshot = traffic.snapshot();
        assert_eq!(snapshot.blocks.verified, 2);
        assert_eq!(snapshot.blocks.rejected[&Rejection::HashMismatch], 1);
        assert_eq!(snapshot.labs.len(), 1);
        assert_eq!(snapshot.labs[&peer], [3; 32]);
    }
}
