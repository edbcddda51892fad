//! The node's configuration file, `config.toml` in the node home, with documented defaults.
//! [`layers`] makes the configuration in force from it, the environment and flags.

pub mod layers;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};

use crate::limits::Limits;
use crate::rate::Rate;

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this configuration.
    #[error("{path} is not a valid Ostrom configuration: {source}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong.
        source: toml::de::Error,
    },
    /// A setting is unknown or its value is wrong.
    #[error("{origin}: {key}: {reason}")]
    Setting {
        /// The key, `table.key` for a table's.
        key: String,
        /// Where it was set: the file and line, the environment variable or the flag.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// A value parses but cannot run a node.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// Everything `config.toml` can set. Command-line flags override it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Addresses to listen on for peers.
    pub listen: Vec<Multiaddr>,
    /// Peers to join the network through (full multiaddrs ending in `/p2p/PEER_ID`).
    pub bootstrap: Vec<Multiaddr>,
    /// Loopback address of the control API.
    pub api: SocketAddr,
    /// How often held checkpoints and files are announced again in the DHT.
    #[serde(with = "humantime_serde_compat")]
    pub reannounce_interval: Duration,
    /// How long a fetch may go without progress (no holder found, no new verified chunk)
    /// before it fails.
    #[serde(with = "humantime_serde_compat")]
    pub fetch_timeout: Duration,
    /// How long a peer may leave requests unanswered before the fetch drops it.
    #[serde(with = "humantime_serde_compat")]
    pub peer_stall_timeout: Duration,
    /// Block requests kept in flight to each peer during a fetch.
    pub requests_in_flight: usize,
    /// Streams to each holder during a fetch, each on a connection of its own, so that
    /// encryption and multiplexing of one holder's blocks spread over cores (1 to 4).
    pub streams_per_holder: usize,
    /// Most bytes per second served to all peers together (unlimited when absent).
    pub upload_limit: Option<Rate>,
    /// Most bytes per second fetched from all peers together (unlimited when absent).
    pub download_limit: Option<Rate>,
    /// A private network's key file (relative paths are under the node home); when set,
    /// the node connects only to nodes with the same key, over TCP only.
    pub network_key: Option<std::path::PathBuf>,
    /// Address to serve Prometheus metrics on, at `/metrics` (off when absent).
    pub metrics: Option<SocketAddr>,
    /// How the node logs: `text` for people, `json` (one object a line) for log shippers.
    pub log_format: LogFormat,
    /// Which log lines the node writes, as a tracing filter (`RUST_LOG` overrides it).
    pub log_level: String,
    /// What peers may make this node hold, and how long it waits for them.
    pub limits: Limits,
}

/// How the node writes its log lines (to stderr).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON object a line, for log shippers.
    Json,
}

/// The default [`Config::log_level`].
pub const DEFAULT_LOG_LEVEL: &str = "info,libp2p=warn";

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: vec![
                "/ip4/0.0.0.0/tcp/4001".parse().expect("valid literal"),
                "/ip4/0.0.0.0/udp/4001/quic-v1"
                    .parse()
                    .expect("valid literal"),
            ],
            bootstrap: vec![],
            api: SocketAddr::from(([127, 0, 0, 1], 4101)),
            reannounce_interval: Duration::from_secs(3600),
            fetch_timeout: Duration::from_secs(60),
            peer_stall_timeout: Duration::from_secs(30),
            requests_in_flight: 32,
            streams_per_holder: default_streams_per_holder(),
            upload_limit: None,
            download_limit: None,
            network_key: None,
            metrics: None,
            log_format: LogFormat::Text,
            log_level: DEFAULT_LOG_LEVEL.to_owned(),
            limits: Limits::default(),
        }
    }
}

impl Config {
    /// Reads `path` alone, without the environment or flags over it.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Ok(layers::load(path, [], &layers::Flags::default())?.config)
    }

    /// The commented default file that `ostrom init` writes.
    pub fn default_file_text() -> String {
        let defaults = Self::default();
        let listen: Vec<String> = defaults.listen.iter().map(|a| format!("\"{a}\"")).collect();
        format!(
            "# Ostrom node configuration. OSTROM_* environment variables override these values\n\
             # (OSTROM_FETCH_TIMEOUT=30s; a table's keys as OSTROM_LIMITS__CONNECTIONS=64),\n\
             # and command-line flags override both. `ostrom config show` prints the values in\n\
             # force and where each came from.\n\
             \n\
             # Addresses to listen on for peers (TCP and QUIC).\n\
             listen = [{listen}]\n\
             \n\
             # Peers to join the network through: full multiaddrs ending in /p2p/PEER_ID,\n\
             # as `ostrom id` prints them on a running node.\n\
             bootstrap = []\n\
             \n\
             # Loopback address of the control API that the `ostrom` command uses.\n\
             api = \"{api}\"\n\
             \n\
             # How often held checkpoints are announced again in the DHT.\n\
             reannounce_interval = \"{reannounce}\"\n\
             \n\
             # How long a fetch may go without progress (no holder found, no new\n\
             # verified chunk) before it fails.\n\
             fetch_timeout = \"{fetch_timeout}\"\n\
             \n\
             # How long a peer may leave requests unanswered before a fetch drops it.\n\
             peer_stall_timeout = \"{stall}\"\n\
             \n\
             # Block requests kept in flight to each peer during a fetch.\n\
             requests_in_flight = {window}\n\
             \n\
             # Streams to each holder during a fetch, each on a connection of its own, so\n\
             # one holder's transfer spreads over cores (1 to 4; default: a quarter of\n\
             # this machine's cores, at least 1 and at most 4).\n\
             # streams_per_holder = 4\n\
             \n\
             # Bytes per second served to / fetched from all peers together; unlimited when\n\
             # absent. Units such as KiB, MiB, GiB, MB, GB.\n\
             # upload_limit = \"50MiB\"\n\
             # download_limit = \"200MiB\"\n\
             \n\
             # A private network: only nodes with this key file (`ostrom network-key new FILE`)\n\
             # can connect; TCP only. Relative paths are under the node home.\n\
             # network_key = \"swarm.key\"\n\
             \n\
             # Serve Prometheus metrics at http://ADDRESS/metrics (off when absent). Any\n\
             # address may be given; the metrics say nothing secret, but keep them to your\n\
             # monitoring network.\n\
             # metrics = \"127.0.0.1:9101\"\n\
             \n\
             # Log lines on stderr: \"text\" for people, \"json\" (one object a line) for log\n\
             # shippers; and which lines, as a tracing filter (RUST_LOG overrides it).\n\
             log_format = \"{log_format}\"\n\
             log_level = \"{log_level}\"\n\
             \n\
             {limits}",
            listen = listen.join(", "),
            api = defaults.api,
            reannounce = humantime::format_duration(defaults.reannounce_interval),
            fetch_timeout = humantime::format_duration(defaults.fetch_timeout),
            stall = humantime::format_duration(defaults.peer_stall_timeout),
            window = defaults.requests_in_flight,
            log_format = "text",
            log_level = defaults.log_level,
            limits = Limits::default_table_text(),
        )
    }
}

/// Most streams to one holder: as many connections as the exchange spreads over.
pub const MAX_STREAMS_PER_HOLDER: usize = crate::network::exchange_streams::MAX_SPREAD_CONNECTIONS;

/// A quarter of the machine's cores, 1 to 4: one holder's transfer then uses a few cores
/// and leaves the rest to other transfers, hashing and writing.
pub fn default_streams_per_holder() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    (cores / 4).clamp(1, 4)
}

/// Durations in the config file are written as text such as `"30s"` or `"1h"`.
pub(crate) mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(*value).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text).map_err(|error| {
            serde::de::Error::custom(format!(
                "{text:?} is not a duration ({error}): write it as 30s, 5m or 1h"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_file_parses_to_defaults() {
        let parsed: Config = toml::from_str(&Config::default_file_text()).expect("parses");
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn rate_limits_parse() {
        let config: Config = toml::from_str("upload_limit = \"50MiB\"").expect("parses");
        assert_eq!(config.upload_limit, Some(Rate(50 << 20)));
        assert_eq!(config.download_limit, None);
        assert!(toml::from_str::<Config>("upload_limit = \"lots\"").is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<Config>("listne = []").is_err());
    }
}
