//! How to run a node, on top of its home's configuration.

use std::net::SocketAddr;
use std::path::PathBuf;

use libp2p::Multiaddr;

use crate::config::layers::Layered;
use crate::exchange::Misbehavior;
use crate::rate::Rate;

/// How to run a node, on top of its home's configuration.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// The configuration in force, with where each value came from (the home's
    /// `config.toml` and `OSTROM_*` environment variables when `None`).
    pub config: Option<Layered>,
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
    pub network_key: Option<PathBuf>,
    /// Whether the node announces itself in the DHT as a holder of what it holds and
    /// fetches. A node that runs only for one command must not: it would stay listed as a
    /// holder after it exits, and later fetches would wait on it.
    pub announce: bool,
}

impl NodeOptions {
    /// A node that runs only for the length of one command: an ephemeral TCP port (which
    /// also works on a private network), no control API, the configuration's limits and
    /// network key, `bootstrap` besides the configured bootstrap peers, and no holder
    /// announcements (it will not be there to serve).
    pub fn temporary(bootstrap: Vec<Multiaddr>) -> Self {
        Self {
            config: None,
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
            announce: false,
        }
    }
}
