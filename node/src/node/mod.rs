//! A running node: store, network, exchange server, fetch engine, announcer and
//! (optionally) the control API, started together and stopped together.
//!
//! Everything a node runs in the background (the announcer, the exchange server and its
//! streams, the control API, fetches) is a task of the node's tracker and stops when the
//! node's shutdown token is cancelled; [`Node::shutdown`] cancels it and waits for them,
//! for at most [`SHUTDOWN_WAIT`].
//!
//! - [`options`]: how to run a node on top of its home's configuration.
//! - [`error`]: why a node operation failed.
//! - `announce`: announcing what the node holds, at start and periodically.
//! - [`publishing`]: publish and retract.
//! - [`lookup`]: resolve names and follow a model's lineage.
//! - [`fetching`]: fetches as tracked, cancellable tasks with progress.
//! - [`peers`]: a fetch that needs the network on a node with no peers fails at once.
//! - [`bundling`]: exporting and importing offline bundles.

mod announce;
pub mod bundling;
pub mod error;
pub mod fetching;
pub mod lookup;
pub mod options;
pub mod peers;
pub mod publishing;

pub use error::NodeError;
pub use fetching::{FetchUpdate, RunningFetch};
pub use lookup::{LineageEntry, ResolvedName, MAX_LINEAGE};
pub use options::NodeOptions;
pub use publishing::{Publication, Retraction};

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use libp2p::{Multiaddr, PeerId};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::layers::{Flags, Layered, Setting};
use crate::config::Config;
use crate::exchange::fetch::FetchSettings;
use crate::exchange::{serve, Fetcher};
use crate::home::{Home, HomeError};
use crate::metrics::NodeMetrics;
use crate::network::{self, NetworkConfig, NetworkHandle};
use crate::private_network;
use crate::rate::RateLimit;
use crate::store::Store;
use crate::traffic::{Traffic, TrafficSnapshot};
use crate::transfers::{Transfers, TransfersSnapshot};
use prometheus_client::registry::Registry;

/// How long [`Node::shutdown`] waits for the node's tasks to stop before it gives up on
/// them and stops the network anyway.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(4);

/// Who a node is and where it can be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The node's peer id.
    pub peer_id: PeerId,
    /// Its listen addresses, each ending in `/p2p/PEER_ID` (none when it is not running).
    pub addrs: Vec<Multiaddr>,
    /// The publisher public key that signs this node's manifests.
    pub publisher_key: [u8; 32],
    /// Peers connected now.
    pub connected_peers: usize,
    /// The software version.
    pub version: &'static str,
}

impl Status {
    /// What the home says of a node that is not running: its identity, no addresses.
    pub fn of_home(home: &Home) -> Result<Self, HomeError> {
        Ok(Self {
            peer_id: home.node_keypair()?.public().to_peer_id(),
            addrs: Vec::new(),
            publisher_key: home.publisher_key()?.verifying_key().to_bytes(),
            connected_peers: 0,
            version: env!("CARGO_PKG_VERSION"),
        })
    }
}

/// A running node. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

struct Inner {
    home: Home,
    config: Config,
    /// Every setting in force and where it came from.
    settings: Vec<Setting>,
    store: Store,
    network: NetworkHandle,
    fetcher: Fetcher,
    publisher: SigningKey,
    /// Block bytes exchanged with each peer.
    traffic: Traffic,
    /// The fetches under way, completed and failed.
    transfers: Transfers,
    /// The node's metrics, and libp2p's beside them in `registry`.
    metrics: NodeMetrics,
    registry: Arc<Registry>,
    /// Whether the node announces itself as a holder ([`NodeOptions::announce`]).
    announce: bool,
    /// Whether it was given bootstrap peers to dial.
    has_bootstrap: bool,
    /// When the node started.
    started: std::time::Instant,
    /// Cancelled when the node shuts down; every background task watches it.
    shutdown: CancellationToken,
    /// Every background task of the node, so shutdown can wait for them.
    tasks: TaskTracker,
}

impl Node {
    /// Starts a node on `home`: opens the store, starts the network and the exchange
    /// server, and (unless [`NodeOptions::announce`] is off) announces what it holds.
    pub async fn start(home: Home, options: NodeOptions) -> Result<Self, NodeError> {
        let layered = match options.config.clone() {
            Some(layered) => layered,
            None => home.layered_config(&Flags::default())?,
        };
        let Layered { config, settings } = layered;
        let keypair = home.node_keypair()?;
        let publisher = home.publisher_key()?;
        crate::disk::check_store_dir(&home.store_dir())?;
        let store = Store::open(&home.store_dir())?;
        let listen = if options.listen.is_empty() {
            config.listen.clone()
        } else {
            options.listen.clone()
        };
        let mut bootstrap = config.bootstrap.clone();
        bootstrap.extend(options.bootstrap.iter().cloned());
        let has_bootstrap = !bootstrap.is_empty();
        let network_key = match options.network_key.clone().or(config.network_key.clone()) {
            Some(path) => Some(private_network::load(&home.root().join(path))?),
            None => None,
        };
        let traffic = Traffic::default();
        let transfers = Transfers::default();
        let mut registry = Registry::default();
        let metrics = NodeMetrics::register(
            &mut registry,
            home.clone(),
            traffic.clone(),
            transfers.clone(),
        );
        let network = network::start(
            keypair,
            NetworkConfig {
                listen,
                bootstrap,
                network_key,
                limits: config.limits.clone(),
            },
            &mut registry,
        )
        .await?;
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        serve::spawn(
            &network,
            serve::ServeContext {
                store: store.clone(),
                misbehavior: options.misbehavior,
                upload: RateLimit::new(options.upload_limit.or(config.upload_limit)),
                reveal_counts: Default::default(),
                traffic: traffic.clone(),
                limits: (&config.limits).into(),
            },
            shutdown.clone(),
            &tasks,
        );
        let fetcher = Fetcher::new(
            network.clone(),
            store.clone(),
            FetchSettings {
                requests_in_flight: config.requests_in_flight,
                streams_per_holder: config
                    .streams_per_holder
                    .clamp(1, crate::config::MAX_STREAMS_PER_HOLDER),
                peer_stall_timeout: config.peer_stall_timeout,
                download: RateLimit::new(options.download_limit.or(config.download_limit)),
                home: home.clone(),
                publisher: publisher.clone(),
                traffic: traffic.clone(),
                announce: options.announce,
            },
        );
        let node = Self {
            inner: Arc::new(Inner {
                home,
                config,
                settings,
                store,
                network,
                fetcher,
                publisher,
                traffic,
                transfers,
                metrics,
                registry: Arc::new(registry),
                announce: options.announce,
                has_bootstrap,
                started: std::time::Instant::now(),
                shutdown,
                tasks,
            }),
        };
        if options.announce {
            let announcer = node.clone().keep_announcing();
            node.spawn(node.shutdown_token().run_until_cancelled_owned(announcer));
        }
        Ok(node)
    }

    /// The node home.
    pub fn home(&self) -> &Home {
        &self.inner.home
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Every setting in force and where it came from.
    pub fn settings(&self) -> &[Setting] {
        &self.inner.settings
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The network handle.
    pub fn network(&self) -> &NetworkHandle {
        &self.inner.network
    }

    /// Block bytes sent to and received from each peer since the node started.
    pub fn traffic(&self) -> TrafficSnapshot {
        self.inner.traffic.snapshot()
    }

    /// How long the node has run.
    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// The fetches under way, and how many completed or failed.
    pub fn transfers(&self) -> TransfersSnapshot {
        self.inner.transfers.snapshot()
    }

    /// The node's metrics.
    pub fn metrics(&self) -> &NodeMetrics {
        &self.inner.metrics
    }

    /// Every metric, the node's and libp2p's, for the metrics endpoint.
    pub fn metrics_registry(&self) -> Arc<Registry> {
        self.inner.registry.clone()
    }

    /// The default fetch timeout from the configuration.
    pub fn fetch_timeout(&self) -> Duration {
        self.inner.config.fetch_timeout
    }

    /// Peer id, addresses and keys.
    pub async fn info(&self) -> Status {
        let network = &self.inner.network;
        Status {
            peer_id: network.local_peer_id(),
            addrs: network.listen_addrs(),
            publisher_key: self.inner.publisher.verifying_key().to_bytes(),
            connected_peers: network
                .connected_peers()
                .await
                .map(|p| p.len())
                .unwrap_or(0),
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    /// A token cancelled when the node shuts down.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    /// Runs `task` as a background task of the node: [`Node::shutdown`] waits for it to
    /// end, so it must end soon after [`Node::shutdown_token`] is cancelled.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner.tasks.spawn(task)
    }

    /// Stops the node: cancels every background task (announcer, exchange server and
    /// streams, control API, running fetches), waits for them for at most
    /// [`SHUTDOWN_WAIT`], then stops the network and flushes the store. Calling it again
    /// does no harm.
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        inner.shutdown.cancel();
        inner.tasks.close();
        if tokio::time::timeout(SHUTDOWN_WAIT, inner.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                tasks = inner.tasks.len(),
                "tasks still running after {SHUTDOWN_WAIT:?}; stopping without them"
            );
        }
        inner.network.shutdown().await;
        if let Err(error) = inner.store.flush() {
            tracing::warn!(%error, "cannot flush the store");
        }
    }
}
