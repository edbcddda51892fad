//! A running node: store, network, exchange server, fetch engine and (optionally) the
//! control API, started and stopped together.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use libp2p::Multiaddr;
use ostrom_protocol::{Id, SignedManifest};

use crate::api::types::{FetchedFile, LogEntry, NodeInfo, PublishOutcome, Resolved, Retracted};
use crate::config::Config;
use crate::exchange::fetch::FetchSettings;
use crate::exchange::{serve, FetchError, FetchOutcome, FetchRequest, Fetcher, Misbehavior};
use crate::home::{Home, HomeError};
use crate::names::{self, NameError, NameRef};
use crate::network::{self, NetworkConfig, NetworkError, NetworkHandle};
use crate::private_network;
use crate::publish::{self, PublishError, PublishRequest, Published};
use crate::rate::{Rate, RateLimit};
use crate::statements::{self, StatementError};
use crate::store::{Store, StoreError};
use crate::trust::{TrustError, TrustStore};
use ostrom_protocol::name_record::SignedNameRecord;
use ostrom_protocol::rotation::follow_rotations;
use ostrom_protocol::trust::format_public_key;

/// Most checkpoints `log` follows back through parents.
pub const MAX_LINEAGE: usize = 10_000;

/// How long a starting node waits for a first peer before announcing what it holds.
const FIRST_ANNOUNCE_WAIT: Duration = Duration::from_secs(10);

/// How to run a node, on top of its home's configuration.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Listen addresses (the configuration's when empty).
    pub listen: Vec<Multiaddr>,
    /// Bootstrap peers, added to the configuration's.
    pub bootstrap: Vec<Multiaddr>,
    /// Where to serve the control API; `None` runs no API (an in-process node).
    pub api: Option<SocketAddr>,
    /// Deliberate faults for tests.
    pub misbehavior: Misbehavior,
    /// Upload limit (the configuration's when `None`).
    pub upload_limit: Option<Rate>,
    /// Download limit (the configuration's when `None`).
    pub download_limit: Option<Rate>,
    /// A private network's key file (the configuration's when `None`).
    pub network_key: Option<std::path::PathBuf>,
}

impl NodeOptions {
    /// A node that runs only for the length of one command: an ephemeral TCP port (which
    /// also works on a private network), no control API, the configuration's limits and
    /// network key, and `bootstrap` besides the configured bootstrap peers.
    pub fn temporary(bootstrap: Vec<Multiaddr>) -> Self {
        Self {
            listen: vec![Multiaddr::empty()
                .with(libp2p::multiaddr::Protocol::Ip4(
                    std::net::Ipv4Addr::UNSPECIFIED,
                ))
                .with(libp2p::multiaddr::Protocol::Tcp(0))],
            bootstrap,
            api: None,
            misbehavior: Misbehavior::None,
            upload_limit: None,
            download_limit: None,
            network_key: None,
        }
    }
}

/// Why a node operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The home is unusable.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The network failed.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// Publishing failed.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// Fetching failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// A name could not be resolved.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The trust store is unusable.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// A retraction or rotation could not be made.
    #[error(transparent)]
    Statement(#[from] StatementError),
    /// The checkpoint is not known here.
    #[error("{0} is not a checkpoint this node knows")]
    UnknownCheckpoint(String),
    /// The private network key is unusable.
    #[error(transparent)]
    NetworkKey(#[from] private_network::NetworkKeyError),
    /// The control API could not start.
    #[error("cannot serve the control API on {addr}: {source}")]
    Api {
        /// The address.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A blocking task died.
    #[error("internal task failed: {0}")]
    Task(String),
}

/// A running node. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

struct Inner {
    home: Home,
    config: Config,
    store: Store,
    network: NetworkHandle,
    fetcher: Fetcher,
    publisher: SigningKey,
}

impl Node {
    /// Starts a node on `home`: opens the store, starts the network and the exchange
    /// server, and announces every complete checkpoint it holds.
    pub async fn start(home: Home, options: NodeOptions) -> Result<Self, NodeError> {
        let config = home.config()?;
        let keypair = home.node_keypair()?;
        let publisher = home.publisher_key()?;
        let store = Store::open(&home.store_dir())?;
        let listen = if options.listen.is_empty() {
            config.listen.clone()
        } else {
            options.listen.clone()
        };
        let mut bootstrap = config.bootstrap.clone();
        bootstrap.extend(options.bootstrap.iter().cloned());
        let network_key = match options.network_key.clone().or(config.network_key.clone()) {
            Some(path) => Some(private_network::load(&home.root().join(path))?),
            None => None,
        };
        let network = network::start(
            keypair,
            NetworkConfig {
                listen,
                bootstrap,
                network_key,
            },
        )
        .await?;
        serve::spawn(
            &network,
            serve::ServeContext {
                store: store.clone(),
                misbehavior: options.misbehavior,
                upload: RateLimit::new(options.upload_limit.or(config.upload_limit)),
                reveal_counts: Default::default(),
            },
        );
        let fetcher = Fetcher::new(
            network.clone(),
            store.clone(),
            FetchSettings {
                requests_in_flight: config.requests_in_flight,
                peer_stall_timeout: config.peer_stall_timeout,
                download: RateLimit::new(options.download_limit.or(config.download_limit)),
                home: home.clone(),
                publisher: publisher.clone(),
            },
        );
        let node = Self {
            inner: Arc::new(Inner {
                home,
                config,
                store,
                network,
                fetcher,
                publisher,
            }),
        };
        let announcer = node.clone();
        tokio::spawn(async move { announcer.keep_announcing().await });
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

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The network handle.
    pub fn network(&self) -> &NetworkHandle {
        &self.inner.network
    }

    /// Peer id, addresses and keys.
    pub async fn info(&self) -> NodeInfo {
        let network = &self.inner.network;
        NodeInfo {
            peer_id: network.local_peer_id().to_string(),
            addrs: network
                .listen_addrs()
                .iter()
                .map(ToString::to_string)
                .collect(),
            publisher_key: hex::encode(self.inner.publisher.verifying_key().to_bytes()),
            connected_peers: network
                .connected_peers()
                .await
                .map(|p| p.len())
                .unwrap_or(0),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// Announces what this node holds once it has a peer to tell (or after a short wait),
    /// then again every reannounce interval, so provider records never expire.
    async fn keep_announcing(self) {
        self.inner.network.wait_connected(FIRST_ANNOUNCE_WAIT).await;
        loop {
            self.announce_held().await;
            tokio::time::sleep(self.inner.config.reannounce_interval).await;
        }
    }

    /// Announces every checkpoint this node holds (complete or in part) and every file it
    /// holds whole, re-stores its name records and kept statements.
    pub async fn announce_held(&self) {
        let held = match self.inner.store.all_held() {
            Ok(held) => held,
            Err(error) => {
                tracing::error!(%error, "cannot list held checkpoints");
                return;
            }
        };
        match self.inner.store.statements() {
            Ok(statements) => {
                for (key, bytes) in statements {
                    if let Err(error) = self.inner.network.put_record(key, bytes).await {
                        tracing::debug!(%error, "statement not stored in the DHT yet");
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot list statements"),
        }
        let own = self.inner.publisher.verifying_key().to_bytes();
        match self.inner.store.name_records_of(&own) {
            Ok(records) => {
                for record in records {
                    self.put_name_record(&record).await;
                }
            }
            Err(error) => tracing::warn!(%error, "cannot list own name records"),
        }
        let complete_files = self.inner.store.complete_files().unwrap_or_default();
        for (id, checkpoint) in held {
            let signed = match self.inner.store.manifest(&id) {
                Ok(Some(signed)) => signed,
                Ok(None) => {
                    tracing::warn!(%id, "held checkpoint has no manifest");
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%id, %error, "cannot read manifest");
                    continue;
                }
            };
            if checkpoint.complete {
                self.announce(&signed).await;
                continue;
            }
            // Part of a checkpoint: it serves what it has, and any file it holds whole.
            let mut ids = vec![id];
            if !matches!(signed.manifest().readers(), Ok(Some(_))) {
                ids.extend(
                    complete_files
                        .iter()
                        .filter(|(_, c)| *c == id)
                        .map(|(f, _)| *f),
                );
            }
            for id in ids {
                if let Err(error) = self.inner.network.announce(id).await {
                    tracing::debug!(%id, %error, "announcement of a partial holding");
                }
            }
        }
    }

    /// Announces a checkpoint and its files; true when the DHT accepted the checkpoint.
    async fn announce(&self, signed: &SignedManifest) -> bool {
        let network = &self.inner.network;
        // A restricted checkpoint's file ids stay out of the DHT: they could be matched
        // against public files and reveal what it holds.
        let restricted = matches!(signed.manifest().readers(), Ok(Some(_)));
        let mut ids: Vec<Id> = if restricted {
            Vec::new()
        } else {
            signed.manifest().files.iter().map(|f| f.id).collect()
        };
        ids.dedup();
        for id in ids {
            if let Err(error) = network.announce(id).await {
                tracing::debug!(%id, %error, "file announcement");
            }
        }
        match network.announce(signed.id()).await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(id = %signed.id(), %error, "checkpoint not announced yet; will retry");
                false
            }
        }
    }

    /// Publishes the checkpoint at `request.path` and announces it.
    pub async fn publish(&self, request: PublishRequest) -> Result<PublishOutcome, NodeError> {
        let started = Instant::now();
        let store = self.inner.store.clone();
        let key = self.inner.publisher.clone();
        let published =
            tokio::task::spawn_blocking(move || publish::publish(&store, &key, &request))
                .await
                .map_err(|e| NodeError::Task(e.to_string()))??;
        let seconds = started.elapsed().as_secs_f64();
        let announced = self.announce(&published.manifest).await;
        self.put_name_record(&published.name_record).await;
        Ok(publish_outcome(&published, seconds, announced))
    }

    /// Stores a name record in the DHT; failures are logged, it is stored again later.
    async fn put_name_record(&self, record: &SignedNameRecord) {
        let body = record.body();
        if let Err(error) = self
            .inner
            .network
            .put_record(body.dht_key(), record.bytes().to_vec())
            .await
        {
            tracing::warn!(model = %body.model, seq = body.seq, %error, "name record not stored in the DHT yet; will retry");
        }
    }

    /// Retracts a checkpoint this node published: signs the retraction, keeps it and
    /// stores it in the DHT.
    pub async fn retract(&self, id: Id, reason: &str) -> Result<Retracted, NodeError> {
        let manifest = self
            .inner
            .store
            .manifest(&id)?
            .ok_or_else(|| NodeError::UnknownCheckpoint(id.to_string()))?;
        let retraction =
            statements::retract(&self.inner.store, &self.inner.publisher, &manifest, reason)?;
        let stored_in_dht = self
            .inner
            .network
            .put_record(retraction.body().dht_key(), retraction.bytes().to_vec())
            .await
            .is_ok();
        Ok(Retracted {
            id: id.to_string(),
            stored_in_dht,
        })
    }

    /// Resolves `ALIAS/MODEL[@TAG]` to a checkpoint id through the DHT.
    pub async fn resolve(&self, reference: &NameRef) -> Result<Resolved, NodeError> {
        let trust = TrustStore::load(&self.inner.home)?;
        let own = self.inner.publisher.verifying_key().to_bytes();
        let trusted = names::publisher_of(reference, &trust, &own)?;
        // A publisher that rotated its key names its models under the newest key.
        let rotations =
            statements::rotations_from(&self.inner.store, &self.inner.network, trusted).await;
        let publisher = follow_rotations(trusted, &rotations);
        let record = names::resolve_record(
            &self.inner.store,
            &self.inner.network,
            publisher,
            &reference.model,
        )
        .await?;
        let id = names::pick(&record, reference.tag.as_deref())?;
        Ok(Resolved {
            reference: reference.to_string(),
            id: id.to_string(),
            publisher: format_public_key(&publisher),
            model: reference.model.clone(),
            seq: record.body().seq,
            tags: record
                .body()
                .tags
                .iter()
                .map(|(t, i)| (t.clone(), i.to_string()))
                .collect(),
        })
    }

    /// The lineage of a model: the checkpoint `reference` names, then its parent, and so
    /// on, as far as manifests can be found (at most [`MAX_LINEAGE`]).
    pub async fn log(&self, reference: &NameRef) -> Result<Vec<LogEntry>, NodeError> {
        let resolved = self.resolve(reference).await?;
        let mut entries = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut next: Option<Id> = resolved.id.parse().ok();
        while let Some(id) = next {
            if !seen.insert(id) || entries.len() >= MAX_LINEAGE {
                break;
            }
            let signed = match self.inner.fetcher.manifest(id, self.fetch_timeout()).await {
                Ok(signed) => signed,
                Err(error) if !entries.is_empty() => {
                    tracing::warn!(%id, %error, "lineage ends: parent manifest not found");
                    break;
                }
                Err(error) => return Err(error.into()),
            };
            let manifest = signed.manifest();
            let text = id.to_string();
            entries.push(LogEntry {
                id: text.clone(),
                tag: manifest.tag.clone(),
                tags: resolved
                    .tags
                    .iter()
                    .filter(|(_, target)| **target == text)
                    .map(|(tag, _)| tag.clone())
                    .collect(),
                created_ms: manifest.created_ms,
                bytes: manifest.total_size(),
                files: manifest.files.len(),
                parent: manifest.parent.map(|p| p.to_string()),
            });
            next = manifest.parent;
        }
        Ok(entries)
    }

    /// Fetches a checkpoint or file.
    pub async fn fetch(&self, request: FetchRequest) -> Result<FetchOutcome, NodeError> {
        Ok(self.inner.fetcher.fetch(request).await?)
    }

    /// Stops the network.
    pub async fn shutdown(&self) {
        self.inner.network.shutdown().await;
        let _ = self.inner.store.flush();
    }

    /// The default fetch timeout from the configuration.
    pub fn fetch_timeout(&self) -> Duration {
        self.inner.config.fetch_timeout
    }
}

/// The outcome of a publish, for the API and the CLI.
pub fn publish_outcome(published: &Published, seconds: f64, announced: bool) -> PublishOutcome {
    let signed = &published.manifest;
    let manifest = signed.manifest();
    PublishOutcome {
        id: signed.id().to_string(),
        name: manifest.name.clone(),
        tag: manifest.tag.clone(),
        files: manifest
            .files
            .iter()
            .map(|f| FetchedFile {
                path: f.path.clone(),
                size: f.size,
                id: f.id.to_string(),
            })
            .collect(),
        bytes: manifest.total_size(),
        chunks: manifest.chunk_count(),
        seconds,
        announced,
        name_seq: published.name_record.body().seq,
    }
}
