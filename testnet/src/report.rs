//! The `--json` outputs of `ostrom` commands that testnets read, as typed structs.
//! Fields the contract names are required, so a test notices when the CLI drops one.

use serde::Deserialize;

/// One file of a checkpoint, as `publish` and `fetch` report it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FileReport {
    /// Path relative to the checkpoint (or output) directory.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// The file's id: BLAKE3 of its bytes, 64 lowercase hex.
    pub id: String,
}

/// `ostrom publish --json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Published {
    /// The checkpoint id.
    pub id: String,
    /// The files published.
    pub files: Vec<FileReport>,
    /// Total bytes of all files.
    pub bytes: u64,
}

/// `ostrom fetch --json` on success.
#[derive(Debug, Clone, Deserialize)]
pub struct Fetched {
    /// The id that was fetched.
    pub id: String,
    /// `checkpoint` or `file`.
    pub kind: String,
    /// The files written.
    pub files: Vec<FileReport>,
    /// Total bytes of all files.
    pub bytes: u64,
    /// Bytes that came over the network.
    pub bytes_from_network: u64,
    /// Bytes that were already in the local store.
    pub bytes_from_store: u64,
    /// Bytes already in place from an earlier, interrupted fetch into the same directory.
    pub bytes_resumed: u64,
    /// How long the fetch took, as the CLI measured it.
    pub seconds: f64,
    /// Peers that sent blocks.
    pub peers: Vec<String>,
    /// Bytes of verified blocks received from each peer.
    #[serde(default)]
    pub bytes_by_peer: std::collections::BTreeMap<String, u64>,
    /// Holder streams that ended with an error during the fetch.
    pub stream_resets: u32,
    /// Rounds of manifest requests beyond the first.
    pub retry_rounds: u32,
}

/// `ostrom fetch --json` on failure: its last stdout line.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FetchFailure {
    /// What went wrong, for a person.
    pub error: String,
    /// What went wrong, for a program: a stable snake_case name such as `no_holders`.
    pub kind: String,
}

/// `ostrom id --json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Identity {
    /// The node's peer id.
    pub peer_id: String,
    /// Its listen multiaddrs (may be empty when no node runs).
    #[serde(default)]
    pub addrs: Vec<String>,
    /// The publisher key, hex.
    pub publisher_key: String,
}
