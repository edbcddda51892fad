//! The libp2p side of the node: one event loop owns the swarm; everything else talks to it
//! through a cloneable [`NetworkHandle`].
//!
//! - [`behaviour`]: the composed behaviour (connection limits, identify, ping, Kademlia,
//!   exchange streams) and the transports (TCP with noise and yamux, QUIC).
//! - [`exchange_streams`]: the exchange protocol's streams, with their caps.
//! - [`event_loop`]: the loop that owns the swarm, runs commands and turns swarm events
//!   into answers.
//! - [`handle`]: the cloneable client the rest of the node uses.
//! - [`bootstrap`]: bootstrap peers, dialed again with backoff while the node is alone.
//! - [`listen`]: listeners, refusing a port in use, and listen errors with their causes.
//! - [`provider_store`]: the DHT store, with peers' provider records capped.
//! - [`record_quota`]: the caps on peers' signed records in that store.

pub mod behaviour;
pub mod bootstrap;
pub mod event_loop;
pub mod exchange_streams;
pub mod handle;
pub mod listen;
pub mod provider_store;
pub mod record_quota;

pub use handle::{DhtStats, NetworkError, NetworkHandle};

use libp2p::identity::Keypair;
use libp2p::metrics::Registry;
use libp2p::pnet::PreSharedKey;
use libp2p::Multiaddr;

use crate::limits::Limits;

/// What the network needs to start.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// Addresses to listen on.
    pub listen: Vec<Multiaddr>,
    /// Peers to join through; each must end in `/p2p/PEER_ID`.
    pub bootstrap: Vec<Multiaddr>,
    /// The pre-shared key of a private network; `None` for the public network.
    pub network_key: Option<PreSharedKey>,
    /// What peers may make the node hold.
    pub limits: Limits,
}

/// Starts the swarm on the current tokio runtime: listens, dials the bootstrap peers,
/// spawns the event loop, and returns once every listener has an address. libp2p's own
/// metrics (bandwidth, connections, identify, Kademlia, ping) go into `registry`.
pub async fn start(
    keypair: Keypair,
    config: NetworkConfig,
    registry: &mut Registry,
) -> Result<NetworkHandle, NetworkError> {
    if config.network_key.is_some() {
        let quic = config.listen.iter().chain(&config.bootstrap).find(|a| {
            a.iter().any(|p| {
                matches!(
                    p,
                    libp2p::multiaddr::Protocol::QuicV1 | libp2p::multiaddr::Protocol::Quic
                )
            })
        });
        if let Some(addr) = quic {
            return Err(NetworkError::QuicInPrivateNetwork(addr.clone()));
        }
    }
    let swarm = behaviour::build_swarm(keypair, config.network_key, &config.limits, registry)?;
    let metrics = libp2p::metrics::Metrics::new(registry);
    event_loop::spawn(swarm, config, metrics).await
}
