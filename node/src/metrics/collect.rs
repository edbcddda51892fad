//! The node's metrics, written from its counts at each scrape (a prometheus-client
//! [`Collector`]), beside libp2p's in one registry.

use std::collections::BTreeMap;
use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::home::Home;
use crate::network::DhtStats;
use crate::status::{lab_name, UNKNOWN_LAB};
use crate::traffic::{PeerTraffic, Traffic, TrafficSnapshot};
use crate::transfers::Transfers;
use crate::trust::TrustStore;

/// What the store holds, as counted at a scrape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Checkpoints held complete.
    pub complete: u64,
    /// Checkpoints held in part.
    pub partial: u64,
    /// Bytes of the checkpoints held complete.
    pub bytes: u64,
}

/// The gauges read from the store and the network at each scrape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Peers connected now.
    pub connected_peers: u64,
    /// What the DHT holds.
    pub dht: DhtStats,
    /// What the store holds.
    pub store: StoreStats,
}

/// The node's side of the metrics: its counts, and the gauges last refreshed.
#[derive(Clone)]
pub struct NodeMetrics {
    traffic: Traffic,
    transfers: Transfers,
    home: Home,
    gauges: std::sync::Arc<std::sync::Mutex<Gauges>>,
}

impl fmt::Debug for NodeMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeMetrics").finish_non_exhaustive()
    }
}

impl NodeMetrics {
    /// Metrics of `traffic` and `transfers`, labs named by `home`'s trust store,
    /// registered in `registry` under `ostrom_`.
    pub fn register(
        registry: &mut Registry,
        home: Home,
        traffic: Traffic,
        transfers: Transfers,
    ) -> Self {
        let metrics = Self {
            traffic,
            transfers,
            home,
            gauges: Default::default(),
        };
        registry
            .sub_registry_with_prefix("ostrom")
            .register_collector(Box::new(metrics.clone()));
        metrics
    }

    /// Sets the gauges written from now on.
    pub fn set_gauges(&self, gauges: Gauges) {
        if let Ok(mut current) = self.gauges.lock() {
            *current = gauges;
        }
    }

    fn gauges(&self) -> Gauges {
        self.gauges.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// Each lab's block bytes: by alias when trusted, else by key; `unknown` for peers
    /// whose lab is not known.
    fn by_lab(&self, traffic: &TrafficSnapshot) -> BTreeMap<String, PeerTraffic> {
        let (peers, others, snapshot_labs) = (&traffic.peers, traffic.others, &traffic.labs);
        let trust = TrustStore::load(&self.home).ok();
        let mut labs: BTreeMap<String, PeerTraffic> = BTreeMap::new();
        let mut add = |lab: String, t: &PeerTraffic| {
            let entry = labs.entry(lab).or_default();
            entry.uploaded += t.uploaded;
            entry.downloaded += t.downloaded;
        };
        for (peer, t) in peers {
            let lab = match snapshot_labs.get(peer) {
                Some(key) => lab_name(trust.as_ref(), key),
                None => UNKNOWN_LAB.to_owned(),
            };
            add(lab, t);
        }
        if others != PeerTraffic::default() {
            add(UNKNOWN_LAB.to_owned(), &others);
        }
        labs
    }
}

/// Writes one counter family: `name` with one sample per `(label value, count)`.
fn counters<'a>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &str,
    samples: impl IntoIterator<Item = (&'a str, u64)>,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (value, count) in samples {
        let labels = [(label, value)];
        ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Writes one gauge family.
fn gauges<'a>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &str,
    samples: impl IntoIterator<Item = (&'a str, u64)>,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (value, count) in samples {
        let labels = [(label, value)];
        ConstGauge::new(count as i64).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Writes one counter without labels.
fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let counter = ConstCounter::new(value);
    counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)
}

/// Writes one gauge without labels.
fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let gauge = ConstGauge::new(value as i64);
    gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)
}

impl Collector for NodeMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let traffic = self.traffic.snapshot();
        let peers: Vec<(String, PeerTraffic)> = traffic
            .peers
            .iter()
            .map(|(peer, t)| (peer.to_string(), *t))
            .chain(
                (traffic.others != PeerTraffic::default())
                    .then(|| ("others".to_owned(), traffic.others)),
            )
            .collect();
        let e = &mut encoder;
        counters(
            e,
            "peer_sent_bytes",
            "Bytes of blocks sent to each peer (others: peers past the per-peer count)",
            "peer",
            peers.iter().map(|(p, t)| (p.as_str(), t.uploaded)),
        )?;
        counters(
            e,
            "peer_received_bytes",
            "Bytes of blocks received from each peer, verified or not",
            "peer",
            peers.iter().map(|(p, t)| (p.as_str(), t.downloaded)),
        )?;
        let labs = self.by_lab(&traffic);
        counters(
            e,
            "lab_sent_bytes",
            "Bytes of blocks sent to the peers of each lab",
            "lab",
            labs.iter().map(|(l, t)| (l.as_str(), t.uploaded)),
        )?;
        counters(
            e,
            "lab_received_bytes",
            "Bytes of blocks received from the peers of each lab",
            "lab",
            labs.iter().map(|(l, t)| (l.as_str(), t.downloaded)),
        )?;
        counter(
            e,
            "chunks_served",
            "Blocks sent to peers",
            traffic.blocks.served,
        )?;
        counter(
            e,
            "chunks_verified",
            "Blocks received whose bytes matched their chunk id",
            traffic.blocks.verified,
        )?;
        counters(
            e,
            "chunks_rejected",
            "Blocks received and rejected, by reason",
            "reason",
            traffic
                .blocks
                .rejected
                .iter()
                .map(|(why, n)| (why.as_str(), *n)),
        )?;

        let transfers = self.transfers.snapshot();
        gauge(
            e,
            "fetches_active",
            "Fetches under way",
            transfers.active.len() as u64,
        )?;
        counter(
            e,
            "fetches_completed",
            "Fetches that completed, every file verified",
            transfers.completed,
        )?;
        counters(
            e,
            "fetches_failed",
            "Fetches that failed, by kind of failure",
            "kind",
            transfers.failed.iter().map(|(kind, n)| (kind.as_str(), *n)),
        )?;

        let g = self.gauges();
        gauges(
            e,
            "store_checkpoints",
            "Checkpoints held, complete or partial",
            "state",
            [("complete", g.store.complete), ("partial", g.store.partial)],
        )?;
        gauge(
            e,
            "store_bytes",
            "Bytes of the checkpoints held complete",
            g.store.bytes,
        )?;
        gauge(
            e,
            "connected_peers",
            "Peers connected now",
            g.connected_peers,
        )?;
        gauge(
            e,
            "dht_routing_table_peers",
            "Peers in the DHT routing table",
            g.dht.routing_table_peers as u64,
        )?;
        gauges(
            e,
            "dht_provider_records",
            "Provider records held: peers' and this node's own",
            "owner",
            [
                ("peers", g.dht.peer_provider_records as u64),
                ("self", g.dht.own_provider_records as u64),
            ],
        )?;
        gauges(
            e,
            "dht_signed_records",
            "Signed records held in the DHT store, by kind",
            "kind",
            g.dht
                .signed_records
                .iter()
                .map(|(kind, n)| (kind.as_str(), *n as u64)),
        )?;
        Ok(())
    }
}
