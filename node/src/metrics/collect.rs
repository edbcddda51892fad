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

#[cfg(test)]
mod tests {
    use super::*;

    /// The names of the samples a registry writes: `NAME_total` for counters.
    fn written_names(registry: &Registry) -> Vec<String> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).expect("encodes");
        text.lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .filter_map(|rest| rest.split_once(' '))
            .map(|(name, kind)| match kind {
                "counter" => format!("{name}_total"),
                _ => name.to_owned(),
            })
            .collect()
    }

    fn metrics() -> (Registry, NodeMetrics, Traffic) {
        let mut registry = Registry::default();
        let traffic = Traffic::default();
        let metrics = NodeMetrics::register(
            &mut registry,
            Home::new("/nonexistent/ostrom-home"),
            traffic.clone(),
            Transfers::default(),
        );
        (registry, metrics, traffic)
    }

    #[test]
    fn counts_are_written_with_their_labels() {
        let (registry, metrics, traffic) = metrics();
        let (peer, lab) = (libp2p::PeerId::random(), [7u8; 32]);
        traffic.uploaded(peer, 1000);
        traffic.labs(peer, [lab]);
        traffic.checked(Some(crate::traffic::Rejection::HashMismatch));
        metrics.set_gauges(Gauges {
            connected_peers: 3,
            ..Gauges::default()
        });
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        let lab_key = ostrom_protocol::trust::format_public_key(&lab);
        for line in [
            format!("ostrom_peer_sent_bytes_total{{peer=\"{peer}\"}} 1000"),
            format!("ostrom_lab_sent_bytes_total{{lab=\"{lab_key}\"}} 1000"),
            "ostrom_chunks_served_total 1".to_owned(),
            "ostrom_chunks_rejected_total{reason=\"hash_mismatch\"} 1".to_owned(),
            "ostrom_connected_peers 3".to_owned(),
        ] {
            assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
        }
    }

    /// Every `ostrom_` metric the shipped Grafana dashboard queries is one the node writes.
    #[test]
    fn the_dashboard_queries_only_metrics_the_node_writes() {
        let (registry, _, _) = metrics();
        let written = written_names(&registry);
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../../../deploy/grafana-dashboard.json"))
                .expect("the dashboard is JSON");
        let panels = dashboard["panels"].as_array().expect("panels");
        assert!(panels.len() >= 8);
        let mut queried = 0;
        for target in panels
            .iter()
            .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        {
            let expr = target["expr"].as_str().expect("expr");
            for (start, _) in expr.match_indices("ostrom_") {
                let name: String = expr[start..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                assert!(
                    written.contains(&name),
                    "{name} is not written: {written:?}"
                );
                queried += 1;
            }
        }
        assert!(queried >= 12, "{queried}");
    }
}
