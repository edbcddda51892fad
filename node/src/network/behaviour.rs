//! The composed network behaviour and the swarm's transports.

// The derive below generates an event enum that cannot carry docs of its own.
#![allow(missing_docs)]

use std::time::Duration;

use libp2p::connection_limits::{self, ConnectionLimits};
use libp2p::core::upgrade;
use libp2p::identity::Keypair;
use libp2p::memory_connection_limits;
use libp2p::metrics::Registry;
use libp2p::pnet::{PnetConfig, PreSharedKey};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{identify, kad, noise, ping, tcp, yamux, StreamProtocol, Swarm, Transport};
use ostrom_protocol::dht::{IDENTIFY_PROTOCOL, KAD_PROTOCOL};

use super::exchange_streams;
use super::handle::NetworkError;
use super::provider_store::ProviderStore;
use crate::limits::Limits;

/// How long a provider record lives in the DHT unless announced again.
pub const PROVIDER_RECORD_TTL: Duration = Duration::from_secs(24 * 3600);

/// How long a signed record lives in the DHT unless stored again.
pub const RECORD_TTL: Duration = Duration::from_secs(48 * 3600);

/// Largest Kademlia message: a record of `MAX_RECORD_SIZE` with its framing.
const MAX_KAD_PACKET: usize = ostrom_protocol::limits::MAX_RECORD_SIZE + 16 * 1024;

/// The behaviours every Ostrom node runs.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Caps connections per peer and in total. First, so that a connection over a cap is
    /// denied before any other behaviour sets up for it.
    pub limits: connection_limits::Behaviour,
    /// Refuses new connections while the node's memory is over its limit.
    pub memory: memory_connection_limits::Behaviour,
    /// Learns peers' listen addresses and protocols.
    pub identify: identify::Behaviour,
    /// Keeps connections alive and measures round-trip time.
    pub ping: ping::Behaviour,
    /// The Ostrom DHT: provider records for checkpoints and files, peers' ones capped.
    pub kad: kad::Behaviour<ProviderStore>,
    /// Exchange-protocol streams, capped per peer and handed to the node outside the
    /// event loop.
    pub exchange: exchange_streams::Behaviour,
}

fn kademlia(keypair: &Keypair, limits: &Limits) -> kad::Behaviour<ProviderStore> {
    let peer_id = keypair.public().to_peer_id();
    let mut kad_config = kad::Config::new(StreamProtocol::new(KAD_PROTOCOL));
    kad_config
        .set_provider_record_ttl(Some(PROVIDER_RECORD_TTL))
        // The node announces what it holds itself, on start and every reannounce interval.
        .set_provider_publication_interval(None)
        .set_query_timeout(Duration::from_secs(30))
        // Records are signed statements: every one a peer sends is checked before it is
        // stored (see `records::check_incoming`).
        .set_record_filtering(kad::StoreInserts::FilterBoth)
        .set_record_ttl(Some(RECORD_TTL))
        .set_max_packet_size(MAX_KAD_PACKET);
    // Peers' provider records are held to caps, apart from this node's own (see
    // `provider_store`).
    let store = ProviderStore::new(peer_id, limits);
    let mut kad = kad::Behaviour::with_config(peer_id, store, kad_config);
    // Nodes are reachable servers: answer DHT queries without waiting for an external
    // address to be confirmed (which never happens on loopback or private networks).
    kad.set_mode(Some(kad::Mode::Server));
    kad
}

/// Ostrom's behaviours for the node with `key`, holding peers to `limits`.
fn behaviour(key: &Keypair, limits: &Limits) -> Behaviour {
    Behaviour {
        limits: connection_limits::Behaviour::new(
            ConnectionLimits::default()
                .with_max_established_per_peer(Some(limits.connections_per_peer))
                .with_max_established(Some(limits.connections))
                .with_max_pending_incoming(Some(limits.pending_connections)),
        ),
        memory: memory_connection_limits::Behaviour::with_max_bytes(
            usize::try_from(limits.connection_memory.0).unwrap_or(usize::MAX),
        ),
        identify: identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL.to_owned(), key.public())
                .with_agent_version(format!("ostrom/{}", env!("CARGO_PKG_VERSION"))),
        ),
        ping: ping::Behaviour::default(),
        kad: kademlia(key, limits),
        exchange: exchange_streams::Behaviour::new(limits.into()),
    }
}

fn swarm_config(config: libp2p::swarm::Config) -> libp2p::swarm::Config {
    config
        .with_idle_connection_timeout(Duration::from_secs(120))
        .with_max_negotiating_inbound_streams(1024)
}

fn transport_error(error: &dyn std::fmt::Display) -> NetworkError {
    NetworkError::Transport(error.to_string())
}

/// Builds the swarm. On the public network: TCP (noise, yamux) and QUIC. On a private
/// network (`network_key` set): TCP only, every connection first proven to know the
/// pre-shared key (libp2p pnet), so outside nodes cannot connect at all; QUIC cannot
/// carry that proof and is off.
///
/// libp2p-tcp sets `SO_REUSEPORT` on every listening socket and has no setting left to
/// turn that off (`tcp::Config::port_reuse` is deprecated and does nothing), so two nodes
/// could share a TCP port; [`super::listen`] refuses a port in use before listening.
///
/// The transports' bytes in and out are counted into `registry` (libp2p's bandwidth
/// metrics).
pub fn build_swarm(
    keypair: Keypair,
    network_key: Option<PreSharedKey>,
    limits: &Limits,
    registry: &mut Registry,
) -> Result<Swarm<Behaviour>, NetworkError> {
    let behaviour = |key: &Keypair| behaviour(key, limits);
    let Some(psk) = network_key else {
        return Ok(libp2p::SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| transport_error(&e))?
            .with_quic()
            .with_dns()
            .map_err(|e| transport_error(&e))?
            .with_bandwidth_metrics(registry)
            .with_behaviour(behaviour)
            .map_err(|e| transport_error(&e))?
            .with_swarm_config(swarm_config)
            .build());
    };
    Ok(libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_other_transport(|key| {
            let noise = noise::Config::new(key)?;
            Ok(
                tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
                    .and_then(move |socket, _| PnetConfig::new(psk).handshake(socket))
                    .upgrade(upgrade::Version::V1Lazy)
                    .authenticate(noise)
                    .multiplex(yamux::Config::default()),
            )
        })
        .map_err(|e| transport_error(&e))?
        .with_dns()
        .map_err(|e| transport_error(&e))?
        .with_bandwidth_metrics(registry)
        .with_behaviour(behaviour)
        .map_err(|e| transport_error(&e))?
        .with_swarm_config(swarm_config)
        .build())
}
