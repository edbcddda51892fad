//! The Ostrom node as a library: its home, configuration, store, network, exchange engine
//! and control API. The `ostrom` binary is a thin shell around it.
//!
//! # Layout
//!
//! - [`home`]: the node home directory (keys, config, token) and `init`.
//! - [`config`]: `config.toml` and its defaults, and the layers over it.
//! - [`disk`]: a store directory that cannot be written, or a full disk, refused at start.
//! - [`limits`]: the caps and deadlines peers are held to, its `[limits]` table.
//! - [`error_kind`]: stable, machine-readable names of failures.
//! - [`error_chain`]: an error with its causes on one line, each said once.
//! - [`statements`]: retractions and key rotations.
//! - [`store`]: sled metadata plus chunk bytes in plain files.
//! - [`bundle`]: offline bundles: export to one file, import with no network.
//! - [`inventory`]: what the node holds, as `ls` and `show` report it.
//! - [`private_network`]: the pre-shared key of a consortium-only network.
//! - [`publish`]: chunk, hash, sign and record a checkpoint.
//! - [`subset`]: tensor subsets: which tensors a fetch takes and the smaller file it writes.
//! - [`rate`]: upload and download byte-rate limits.
//! - [`traffic`]: block bytes sent to and received from each peer.
//! - [`transfers`]: the fetches under way, completed and failed.
//! - [`metrics`]: Prometheus metrics, the node's and libp2p's.
//! - [`status`]: what `ostrom status` reports.
//! - [`trust`]: the publishers this node accepts manifests from.
//! - [`records`]: which signed records this node stores for peers in the DHT.
//! - [`membership`]: lab vouches: issuing, joining, presenting, checking.
//! - [`names`]: name records: publishing the next one, resolving ALIAS/MODEL@TAG.
//! - [`network`]: the swarm, owned by one event loop, behind a cloneable handle.
//! - [`exchange`]: the exchange protocol: serving blocks and manifests, and fetching.
//! - [`api`]: the loopback HTTP control API and its request/response types.
//! - [`node`]: starts and stops all of the above together.

pub mod api;
pub mod bundle;
pub mod config;
pub mod disk;
pub mod error_chain;
pub mod error_kind;
pub mod exchange;
pub mod home;
pub mod inventory;
pub mod limits;
pub mod membership;
pub mod metrics;
pub mod names;
pub mod network;
pub mod node;
pub mod private_network;
pub mod publish;
pub mod rate;
pub mod records;
pub mod statements;
pub mod status;
pub mod store;
pub mod subset;
pub mod traffic;
pub mod transfers;
pub mod trust;

pub use error_kind::ErrorKind;
pub use home::Home;
pub use libp2p::{Multiaddr, PeerId};
pub use node::{Node, NodeError, NodeOptions};
