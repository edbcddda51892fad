//! The libp2p side of the node: one event loop owns the swarm; everything else talks to it
//! through a cloneable [`NetworkHandle`].
//!
//! - [`behaviour`]: the composed behaviour (identify, ping, Kademlia, raw streams for the
//!   exchange protocol) and the transports (TCP with noise and yamux, QUIC).
//! - [`event_loop`]: the loop that owns the swarm, runs commands and turns swarm events
//!   into answers.
//! - [`handle`]: the cloneable client the rest of the node uses.

pub mod behaviour;
pub mod event_loop;
pub mod handle;

pub use handle::{NetworkError, NetworkHandle};

use libp2p::identity::Keypair;
use libp2p::Multiaddr;

/// What the network needs to start.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// Addresses to listen on.
    pub listen: Vec<Multiaddr>,
    /// Peers to join through; each must end in `/p2p/PEER_ID`.
    pub bootstrap: Vec<Multiaddr>,
}

/// Starts the swarm on the current tokio runtime: listens, dials the bootstrap peers,
/// spawns the event loop, and returns once every listener has an address.
pub async fn start(keypair: Keypair, config: NetworkConfig) -> Result<NetworkHandle, NetworkError> {
    let swarm = behaviour::build_swarm(keypair)?;
    event_loop::spawn(swarm, config).await
}
