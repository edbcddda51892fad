//! The cloneable handle through which the node talks to the swarm's event loop.

use std::collections::HashSet;

use libp2p::{Multiaddr, PeerId, Stream};
use ostrom_protocol::Id;
use tokio::sync::{mpsc, oneshot, watch};

use super::exchange_streams::{self, ExchangeStreamCounts, IncomingExchangeStreams};

/// Why a network operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The transports could not be set up.
    #[error("cannot set up the network transports: {0}")]
    Transport(String),
    /// A listen address was refused.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// A QUIC address on a private network.
    #[error("{0} is a QUIC address, but a private network (network_key) runs over TCP only")]
    QuicInPrivateNetwork(Multiaddr),
    /// A bootstrap address lacks its peer id.
    #[error("bootstrap address {0} must end in /p2p/PEER_ID (as `ostrom id` prints it)")]
    BootstrapWithoutPeerId(Multiaddr),
    /// A DHT query failed.
    #[error("DHT query failed: {0}")]
    Dht(String),
    /// A stream to a peer could not be opened.
    #[error("cannot open an exchange stream to {peer}: {reason}")]
    OpenStream {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: String,
    },
    /// The event loop has stopped.
    #[error("the network has shut down")]
    Closed,
}

/// A request to the event loop, with the channel its answer goes back on.
pub(crate) enum Command {
    /// Finds every holder of `id` in the DHT.
    GetProviders {
        id: Id,
        reply: oneshot::Sender<Result<HashSet<PeerId>, NetworkError>>,
    },
    /// Announces this node as a holder of `id`.
    Announce {
        id: Id,
        reply: oneshot::Sender<Result<(), NetworkError>>,
    },
    /// Stores a signed record in the DHT (and locally).
    PutRecord {
        key: Vec<u8>,
        value: Vec<u8>,
        reply: oneshot::Sender<Result<(), NetworkError>>,
    },
    /// Stores a signed record at the given peers only (to refresh stale copies).
    PutRecordTo {
        key: Vec<u8>,
        value: Vec<u8>,
        peers: Vec<PeerId>,
    },
    /// Collects every copy of a record the DHT returns, with the peer each came from
    /// (`None`: this node's own copy).
    GetRecords {
        key: Vec<u8>,
        reply: oneshot::Sender<Vec<(Option<PeerId>, Vec<u8>)>>,
    },
    /// Lists the peers connected now.
    ConnectedPeers { reply: oneshot::Sender<Vec<PeerId>> },
    /// Counts what the DHT holds.
    DhtStats { reply: oneshot::Sender<DhtStats> },
    /// Stops the event loop.
    Shutdown,
}

/// What this node's part of the DHT holds now.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DhtStats {
    /// Peers in the routing table.
    pub routing_table_peers: usize,
    /// Provider records held for peers.
    pub peer_provider_records: usize,
    /// Keys this node itself provides (announces it holds).
    pub own_provider_records: usize,
    /// Signed records held (this node's own and peers'), by kind: `name`, `retraction`,
    /// `rotation`, `revocation`, or `other`.
    pub signed_records: std::collections::BTreeMap<String, usize>,
}

/// A cloneable handle on the running network.
#[derive(Clone)]
pub struct NetworkHandle {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) exchange: exchange_streams::Control,
    pub(crate) local_peer_id: PeerId,
    pub(crate) listen_addrs: watch::Receiver<Vec<Multiaddr>>,
    pub(crate) connected: watch::Receiver<usize>,
    pub(crate) rtts: Rtts,
}

/// Latest ping round-trip time of each connected peer.
pub(crate) type Rtts =
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<PeerId, std::time::Duration>>>;

impl NetworkHandle {
    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetworkError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| NetworkError::Closed)?;
        answer.await.map_err(|_| NetworkError::Closed)
    }

    /// This node's peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    /// The addresses this node listens on, each ending in `/p2p/PEER_ID`.
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.listen_addrs.borrow().clone()
    }

    /// The latest measured round-trip time to `peer`, if any.
    pub fn rtt(&self, peer: &PeerId) -> Option<std::time::Duration> {
        self.rtts.lock().ok()?.get(peer).copied()
    }

    /// Waits until at least one peer is connected, or `timeout` passes; true if connected.
    pub async fn wait_connected(&self, timeout: std::time::Duration) -> bool {
        let mut connected = self.connected.clone();
        tokio::time::timeout(timeout, connected.wait_for(|n| *n > 0))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Every peer the DHT knows to hold `id` (never this node itself). Holders found are
    /// dialed right away, while the DHT still knows their addresses.
    pub async fn get_providers(&self, id: Id) -> Result<HashSet<PeerId>, NetworkError> {
        self.ask(|reply| Command::GetProviders { id, reply })
            .await?
    }

    /// Announces this node as a holder of `id`; returns once the DHT accepted it.
    pub async fn announce(&self, id: Id) -> Result<(), NetworkError> {
        self.ask(|reply| Command::Announce { id, reply }).await?
    }

    /// Stores a signed record in the DHT; returns once peers accepted it.
    pub async fn put_record(&self, key: Vec<u8>, value: Vec<u8>) -> Result<(), NetworkError> {
        self.ask(|reply| Command::PutRecord { key, value, reply })
            .await?
    }

    /// Sends a record to `peers` that hold an older copy, without waiting.
    pub async fn put_record_to(&self, key: Vec<u8>, value: Vec<u8>, peers: Vec<PeerId>) {
        let _ = self
            .commands
            .send(Command::PutRecordTo { key, value, peers })
            .await;
    }

    /// Every copy of the record under `key` that the DHT returns.
    pub async fn get_records(
        &self,
        key: Vec<u8>,
    ) -> Result<Vec<(Option<PeerId>, Vec<u8>)>, NetworkError> {
        self.ask(|reply| Command::GetRecords { key, reply }).await
    }

    /// The peers connected now.
    pub async fn connected_peers(&self) -> Result<Vec<PeerId>, NetworkError> {
        self.ask(|reply| Command::ConnectedPeers { reply }).await
    }

    /// What the DHT holds now.
    pub async fn dht_stats(&self) -> Result<DhtStats, NetworkError> {
        self.ask(|reply| Command::DhtStats { reply }).await
    }

    /// Opens a new exchange-protocol stream to `peer`, dialing it if needed (at addresses
    /// the DHT and identify learned). Fails within [`exchange_streams::OPEN_TIMEOUT`],
    /// saying why: unreachable, refused (the peer is at its cap or not serving), timed out.
    pub async fn open_exchange_stream(&self, peer: PeerId) -> Result<Stream, NetworkError> {
        self.exchange
            .open(peer)
            .await
            .map_err(|e| NetworkError::OpenStream {
                peer,
                reason: e.to_string(),
            })
    }

    /// Like [`NetworkHandle::open_exchange_stream`], but on a new connection to a peer
    /// already connected, while it has fewer than
    /// [`exchange_streams::MAX_SPREAD_CONNECTIONS`] (else on the existing connection with
    /// the fewest streams opened on it). A fetch can so spread its streams to one holder
    /// over several connections, each encrypted and multiplexed by a task of its own.
    pub async fn open_exchange_stream_on_new_connection(
        &self,
        peer: PeerId,
    ) -> Result<Stream, NetworkError> {
        self.exchange
            .open_spread(peer)
            .await
            .map_err(|e| NetworkError::OpenStream {
                peer,
                reason: e.to_string(),
            })
    }

    /// Every inbound exchange stream; `Some` only for the first caller.
    pub fn accept_exchange_streams(&self) -> Option<IncomingExchangeStreams> {
        self.exchange.accept()
    }

    /// How many exchange streams this node accepted, opened and failed since it started.
    pub fn exchange_stream_counts(&self) -> ExchangeStreamCounts {
        self.exchange.counts()
    }

    /// Asks the event loop to stop.
    pub async fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown).await;
    }
}
