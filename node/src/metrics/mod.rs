//! Prometheus metrics in text format, made with `prometheus-client`: libp2p's own (its
//! `metrics` feature: transport bandwidth, connections, identify, Kademlia queries, ping),
//! under `libp2p_`, and the node's, under `ostrom_`:
//!
//! | metric | what |
//! |---|---|
//! | `ostrom_peer_sent_bytes_total{peer}`, `ostrom_peer_received_bytes_total{peer}` | block bytes by peer |
//! | `ostrom_lab_sent_bytes_total{lab}`, `ostrom_lab_received_bytes_total{lab}` | block bytes by the lab a peer proved it belongs to (its alias in the trust store, else its key; `unknown` for peers that presented no vouch) |
//! | `ostrom_chunks_served_total`, `ostrom_chunks_verified_total`, `ostrom_chunks_rejected_total{reason}` | blocks sent, and received that verified or were rejected |
//! | `ostrom_fetches_active`, `ostrom_fetches_completed_total`, `ostrom_fetches_failed_total{kind}` | fetches |
//! | `ostrom_store_checkpoints{state}`, `ostrom_store_bytes` | checkpoints held (complete or partial), bytes of the complete ones |
//! | `ostrom_connected_peers`, `ostrom_dht_routing_table_peers` | peers |
//! | `ostrom_dht_provider_records{owner}`, `ostrom_dht_signed_records{kind}` | DHT records held: provider records (peers' or this node's own), signed records (name, retraction, rotation, revocation) |
//!
//! Counters are read from the node's own counts ([`crate::traffic`], [`crate::transfers`])
//! when scraped; gauges of the store and the DHT are refreshed at each scrape.
//!
//! - [`collect`]: the node's metrics, written at each scrape.
//! - [`server`]: the `/metrics` endpoint.

pub mod collect;
pub mod server;

pub use collect::NodeMetrics;
pub use server::{bind, serve};
