//! What `ostrom status` (`GET /v1/status`) reports of a running node: its peers and how
//! many of each lab, the DHT's health, what the store holds, and the fetches under way
//! with their rates.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics::collect::StoreStats;
use crate::metrics::server::read_gauges;
use crate::network::DhtStats;
use crate::node::Node;
use crate::trust::TrustStore;

/// A lab's name: its alias in `trust` when trusted, else its key in hex.
pub fn lab_name(trust: Option<&TrustStore>, key: &[u8; 32]) -> String {
    trust
        .and_then(|trust| trust.alias_of(key).map(str::to_owned))
        .unwrap_or_else(|| ostrom_protocol::trust::format_public_key(key))
}

/// The label of peers whose lab is not known.
pub const UNKNOWN_LAB: &str = "unknown";

/// `GET /v1/status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusReport {
    /// The node's peer id.
    pub peer_id: String,
    /// The software version.
    pub version: String,
    /// Seconds since the node started.
    pub uptime_seconds: u64,
    /// Peers connected now.
    pub peers: PeersStatus,
    /// The DHT.
    pub dht: DhtStatus,
    /// The store.
    pub store: StoreStatus,
    /// Fetches under way and done.
    pub transfers: TransfersStatus,
    /// Block bytes and blocks exchanged since the node started.
    pub traffic: TrafficStatus,
}

/// Peers connected now.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeersStatus {
    /// How many.
    pub connected: usize,
    /// How many of each lab (by alias, or key when not trusted; `unknown` for peers that
    /// presented no vouch to this node).
    pub by_lab: BTreeMap<String, usize>,
}

/// The DHT's health.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DhtStatus {
    /// `ok`; `no peers` when none is connected; `empty routing table` when peers are
    /// connected but none is in the routing table yet.
    pub health: String,
    /// What it holds.
    #[serde(flatten)]
    pub stats: DhtStats,
}

/// What the store holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreStatus {
    /// The store directory.
    pub dir: String,
    /// Checkpoints held complete.
    pub complete: u64,
    /// Checkpoints held in part.
    pub partial: u64,
    /// Bytes of the checkpoints held complete.
    pub bytes: u64,
}

/// One fetch under way.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FetchStatus {
    /// The id asked for.
    pub id: String,
    /// Seconds it has run.
    pub seconds: f64,
    /// Bytes of all its files (0 until its manifest is in).
    pub bytes_total: u64,
    /// Bytes in place.
    pub bytes_done: u64,
    /// Bytes received from peers.
    pub bytes_from_network: u64,
    /// Holders it fetches from now.
    pub holders: usize,
    /// Bytes received from peers per second since it started.
    pub rate: f64,
}

/// Fetches under way, and how many completed or failed since the node started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransfersStatus {
    /// Under way, oldest first.
    pub active: Vec<FetchStatus>,
    /// Completed.
    pub completed: u64,
    /// Failed, by kind.
    pub failed: BTreeMap<String, u64>,
}

/// Block traffic since the node started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrafficStatus {
    /// Bytes of blocks sent.
    pub uploaded: u64,
    /// Bytes of blocks received.
    pub downloaded: u64,
    /// Blocks sent.
    pub chunks_served: u64,
}

/// The DHT's health from what it holds and the peers connected.
fn health(connected: u64, dht: &DhtStats) -> &'static str {
    match (connected, dht.routing_table_peers) {
        (0, _) => "no peers",
        (_, 0) => "empty routing table",
        _ => "ok",
    }
}

/// The status of `node` now.
pub async fn report(node: &Node) -> StatusReport {
    let gauges = read_gauges(node).await;
    let traffic = node.traffic();
    let transfers = node.transfers();
    let trust = TrustStore::load(node.home()).ok();
    let mut by_lab: BTreeMap<String, usize> = BTreeMap::new();
    for peer in node.network().connected_peers().await.unwrap_or_default() {
        let lab = match traffic.labs.get(&peer) {
            Some(key) => lab_name(trust.as_ref(), key),
            None => UNKNOWN_LAB.to_owned(),
        };
        *by_lab.entry(lab).or_default() += 1;
    }
    let StoreStats {
        complete,
        partial,
        bytes,
    } = gauges.store;
    StatusReport {
        peer_id: node.network().local_peer_id().to_string(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_seconds: node.uptime().as_secs(),
        peers: PeersStatus {
            connected: gauges.connected_peers as usize,
            by_lab,
        },
        dht: DhtStatus {
            health: health(gauges.connected_peers, &gauges.dht).to_owned(),
            stats: gauges.dht,
        },
        store: StoreStatus {
            dir: node.home().store_dir().display().to_string(),
            complete,
            partial,
            bytes,
        },
        transfers: TransfersStatus {
            active: transfers
                .active
                .iter()
                .map(|fetch| {
                    let progress = fetch.progress.clone().unwrap_or_default();
                    FetchStatus {
                        id: fetch.id.to_string(),
                        seconds: fetch.elapsed.as_secs_f64(),
                        bytes_total: progress.bytes_total,
                        bytes_done: progress.bytes_done,
                        bytes_from_network: progress.bytes_from_network,
                        holders: progress.holders,
                        rate: fetch.rate,
                    }
                })
                .collect(),
            completed: transfers.completed,
            failed: transfers.failed,
        },
        traffic: TrafficStatus {
            uploaded: traffic.total.uploaded,
            downloaded: traffic.total.downloaded,
            chunks_served: traffic.blocks.served,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dht_health_says_what_is_missing() {
        let mut dht = DhtStats::default();
        assert_eq!(health(0, &dht), "no peers");
        assert_eq!(health(2, &dht), "empty routing table");
        dht.routing_table_peers = 2;
        assert_eq!(health(2, &dht), "ok");
    }
}
