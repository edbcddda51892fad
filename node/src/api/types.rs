//! JSON request and response bodies of the control API, shared by the node and the CLI.
//! Ids, keys and peer ids are text here; [`convert`](super::convert) makes these bodies
//! from the node's typed results.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error_kind::ErrorKind;

/// `GET /v1/info`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The node's peer id.
    pub peer_id: String,
    /// Its listen addresses, each ending in `/p2p/PEER_ID`.
    pub addrs: Vec<String>,
    /// The publisher public key (hex) that signs this node's manifests.
    pub publisher_key: String,
    /// Peers connected now.
    pub connected_peers: usize,
    /// The software version.
    pub version: String,
}

/// Block bytes exchanged with one peer, in `GET /v1/traffic`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerTrafficInfo {
    /// The peer id; `others` for the peers past the node's per-peer count.
    pub peer: String,
    /// Bytes of blocks sent to it.
    pub uploaded: u64,
    /// Bytes of blocks received from it.
    pub downloaded: u64,
}

/// `GET /v1/traffic`: block bytes exchanged since the node started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrafficInfo {
    /// Bytes of blocks sent to all peers.
    pub uploaded: u64,
    /// Bytes of blocks received from all peers.
    pub downloaded: u64,
    /// Each peer, busiest first (and `others` last, when any).
    pub peers: Vec<PeerTrafficInfo>,
    /// Exchange streams accepted, opened and refused since the node started.
    #[serde(default)]
    pub streams: crate::network::exchange_streams::ExchangeStreamCounts,
}

/// `POST /v1/publish` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishBody {
    /// Absolute path of the file or directory to publish.
    pub path: String,
    /// Model name.
    pub name: String,
    /// Optional tag.
    pub tag: Option<String>,
    /// Optional parent checkpoint id.
    pub parent: Option<String>,
    /// Free-form metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Follow symbolic links out of the published directory.
    #[serde(default)]
    pub follow_symlinks: bool,
    /// Move `tag` even when it already names another checkpoint.
    #[serde(default)]
    pub force_tag: bool,
    /// Answer with newline-delimited JSON [`PublishEvent`]s: progress while the files are
    /// hashed, then the outcome (without it, the answer is the [`PublishOutcome`] alone).
    #[serde(default)]
    pub progress: bool,
}

/// One line of a `POST /v1/publish` answer asked with `progress`: `{"progress": {...}}`
/// lines while the files are hashed, then one `{"done": {...}}` line or one
/// [`ErrorBody`] line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PublishEvent {
    /// How far the hashing has come.
    Progress {
        /// The report.
        progress: crate::publish::PublishProgress,
    },
    /// The checkpoint is published.
    Done {
        /// What publishing did.
        done: Box<PublishOutcome>,
    },
    /// Publishing failed.
    Error(ErrorBody),
}

/// What publishing did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishOutcome {
    /// The checkpoint id.
    pub id: String,
    /// Model name.
    pub name: String,
    /// Tag.
    pub tag: Option<String>,
    /// The files, with their ids.
    pub files: Vec<FileReport>,
    /// Total bytes.
    pub bytes: u64,
    /// Number of chunks.
    pub chunks: usize,
    /// Seconds spent chunking, hashing and signing.
    pub seconds: f64,
    /// Whether the DHT accepted the announcement (false when no node runs or no peer is
    /// reachable yet; it is announced again later).
    pub announced: bool,
    /// The sequence number of the model's new name record.
    pub name_seq: u64,
}

/// `POST /v1/resolve` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResolveBody {
    /// `ALIAS/MODEL`, `ALIAS/MODEL@latest` or `ALIAS/MODEL@TAG`.
    pub reference: String,
}

/// A name resolved to a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Resolved {
    /// The reference, normalized (`ALIAS/MODEL@TAG` or `@latest`).
    pub reference: String,
    /// The checkpoint id it names.
    pub id: String,
    /// The publisher key (hex).
    pub publisher: String,
    /// The model name.
    pub model: String,
    /// The name record's sequence number.
    pub seq: u64,
    /// Every tag of the model and the checkpoint it names.
    pub tags: BTreeMap<String, String>,
}

/// `POST /v1/fetch` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FetchBody {
    /// Checkpoint or file id.
    pub id: String,
    /// Absolute output directory; with `name_dir`, the directory it is made in.
    pub out: String,
    /// Write into `out/NAME`, NAME being the last part of the manifest's model name (for a
    /// file fetched by its id, that id).
    #[serde(default)]
    pub name_dir: bool,
    /// Replace files already there whose bytes differ from the manifest's.
    #[serde(default)]
    pub force: bool,
    /// How long to look for holders, in milliseconds.
    pub timeout_ms: u64,
    /// Accept a manifest signed by a publisher this node does not trust.
    #[serde(default)]
    pub allow_untrusted: bool,
    /// Fetch a checkpoint even if its publisher retracted it.
    #[serde(default)]
    pub allow_retracted: bool,
    /// Fetch only the tensors whose names match one of these globs, each safetensors file
    /// written as a subset file (none: every file whole).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tensors: Vec<String>,
    /// With `tensors`, also fetch the files that are not safetensors, whole.
    #[serde(default)]
    pub other_files: bool,
}

/// `POST /v1/retract` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RetractBody {
    /// The checkpoint id.
    pub id: String,
    /// Why, for the people who fetch it.
    pub reason: String,
}

/// What a retraction did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Retracted {
    /// The checkpoint id.
    pub id: String,
    /// Whether the DHT accepted the retraction (it is stored again later if not).
    pub stored_in_dht: bool,
}

/// One file of a stored checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileSummary {
    /// Path in the checkpoint.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// File id.
    pub id: String,
    /// Number of chunks.
    pub chunks: usize,
    /// Number of tensors (safetensors files).
    pub tensors: usize,
}

/// A stored checkpoint, as `ls` and `show` report it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointSummary {
    /// Checkpoint id.
    pub id: String,
    /// Model name.
    pub name: String,
    /// Tag.
    pub tag: Option<String>,
    /// Parent checkpoint id.
    pub parent: Option<String>,
    /// Publisher key (hex).
    pub publisher: String,
    /// Creation time, ms since the Unix epoch.
    pub created_ms: u64,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Files.
    pub files: Vec<FileSummary>,
    /// Total bytes.
    pub bytes: u64,
    /// Total chunks.
    pub chunks: usize,
    /// Chunks this node holds verified bytes of.
    pub chunks_held: usize,
    /// Whether every file is held complete.
    pub complete: bool,
    /// Whether this node published it.
    pub published: bool,
    /// Where its files live on this node.
    pub root: Option<String>,
}

/// The body of every error answer, and of a failed fetch's last line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub error: String,
    /// What went wrong, for a program: a stable snake_case name (see
    /// [`ErrorKind`](crate::error_kind::ErrorKind)).
    pub kind: String,
}

impl ErrorBody {
    /// An error body of `kind`.
    pub fn new(kind: ErrorKind, error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            kind: kind.as_str().to_owned(),
        }
    }
}

/// One file, with its id, as publish and fetch report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileReport {
    /// Its path in the checkpoint (and under a fetch's output directory).
    pub path: String,
    /// Its size.
    pub size: u64,
    /// Its id (BLAKE3 of the whole file).
    pub id: String,
    /// For a subset file written by `fetch --tensors`, what it was made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subset: Option<SubsetReport>,
}

impl From<&ostrom_protocol::manifest::FileEntry> for FileReport {
    /// A manifest's file as it stands there (not a subset).
    fn from(file: &ostrom_protocol::manifest::FileEntry) -> Self {
        Self {
            path: file.path.clone(),
            size: file.size,
            id: file.id.to_string(),
            subset: None,
        }
    }
}

/// How every subset file is verified, as `fetch --json` says it.
pub const SUBSET_VERIFICATION: &str = "every chunk verified against its id in the signed \
    manifest, as it arrived and again once all were in; the header rebuilt from the \
    original header, read from its verified chunks, after checking it against the \
    manifest's tensors; the id is BLAKE3 of the file written";

/// A subset file: a safetensors file holding some tensors of a manifest's file, with a
/// header of its own, so its id is not the manifest's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubsetReport {
    /// The manifest's file id.
    pub of: String,
    /// The manifest's file size.
    pub of_size: u64,
    /// Tensors the subset file holds.
    pub tensors: usize,
    /// Tensors the manifest's file holds.
    pub of_tensors: usize,
    /// How it was verified ([`SUBSET_VERIFICATION`]).
    pub verification: String,
}

/// A file of the manifest that a subset fetch left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedReport {
    /// Its path in the manifest.
    pub path: String,
    /// `no_matching_tensor` or `not_safetensors`.
    pub reason: String,
}

/// How far a fetch has come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressReport {
    /// Bytes of all files being fetched.
    pub bytes_total: u64,
    /// Bytes in place so far.
    pub bytes_done: u64,
    /// Of those, bytes received from peers.
    pub bytes_from_network: u64,
    /// Holders being fetched from now.
    pub holders: usize,
    /// Whether every chunk is in place (the final file checks follow).
    pub done: bool,
    /// The file the last chunk was written to, when the fetch has several files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// What a completed fetch did (`ostrom fetch --json` prints it as its last line).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FetchReport {
    /// The id asked for.
    pub id: String,
    /// The checkpoint the files belong to.
    pub checkpoint: String,
    /// `checkpoint` or `file`.
    pub kind: String,
    /// The model name in the manifest.
    pub name: String,
    /// The tag in the manifest.
    pub tag: Option<String>,
    /// The publisher's public key (hex).
    pub publisher: String,
    /// The publisher's alias in this node's trust store (`self` for its own key); `None`
    /// when it is not trusted and the fetch was allowed anyway.
    pub publisher_alias: Option<String>,
    /// The publisher's reason, when the checkpoint is retracted and was fetched anyway.
    pub retracted: Option<String>,
    /// Where the files were written.
    pub out: String,
    /// The files written, each verified against its id.
    pub files: Vec<FileReport>,
    /// Total bytes of those files.
    pub bytes: u64,
    /// Bytes received from peers (good blocks only).
    pub bytes_from_network: u64,
    /// Bytes copied from chunks this node already held elsewhere.
    pub bytes_from_store: u64,
    /// Bytes already in place from an earlier, interrupted fetch.
    pub bytes_resumed: u64,
    /// Wall-clock time of the whole fetch.
    pub seconds: f64,
    /// Peers that sent blocks.
    pub peers: Vec<String>,
    /// Bytes of verified blocks received from each peer, duplicates included.
    pub bytes_by_peer: BTreeMap<String, u64>,
    /// Holder streams that ended with an error during the fetch.
    #[serde(default)]
    pub stream_resets: u32,
    /// Rounds of manifest requests beyond the first.
    #[serde(default)]
    pub retry_rounds: u32,
    /// Files of the manifest a subset fetch (`--tensors`) left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedReport>,
}

/// One line of the `POST /v1/fetch` answer, which streams newline-delimited JSON:
/// `{"progress": {...}}` lines while the fetch runs, then one `{"done": {...}}` line or
/// one [`ErrorBody`] line (`{"error": "...", "kind": "..."}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FetchEvent {
    /// How far the fetch has come.
    Progress {
        /// The report.
        progress: ProgressReport,
    },
    /// The fetch completed and every file verified.
    Done {
        /// What it did.
        done: Box<FetchReport>,
    },
    /// The fetch failed.
    Error(ErrorBody),
}

/// One checkpoint in a model's lineage, as `ostrom log` lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogEntry {
    /// Checkpoint id.
    pub id: String,
    /// The tag in its manifest.
    pub tag: Option<String>,
    /// Every tag of the name record that names it.
    pub tags: Vec<String>,
    /// Creation time, ms since the Unix epoch.
    pub created_ms: u64,
    /// Total bytes.
    pub bytes: u64,
    /// Number of files.
    pub files: usize,
    /// Its parent, if any.
    pub parent: Option<String>,
}
