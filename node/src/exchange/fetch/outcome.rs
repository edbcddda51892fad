//! What a fetch is asked to do and what it reports: the request, progress, the outcome of
//! a completed fetch, and why one failed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use libp2p::PeerId;
use ostrom_protocol::manifest::ManifestError;
use ostrom_protocol::Id;

use crate::error_kind::ErrorKind;
use crate::network::NetworkError;
use crate::store::StoreError;
use crate::subset::{SkipReason, SubsetError, TensorSelection};
use crate::trust::TrustError;

/// What to fetch and where to put it.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    /// A checkpoint id or a file id.
    pub id: Id,
    /// The directory the files are written into, at their manifest paths; with
    /// `name_dir`, the directory that directory is made in.
    pub out: PathBuf,
    /// Write into `out/NAME` rather than `out`, NAME being the last part of the manifest's
    /// model name (for a file fetched by its id, that id).
    pub name_dir: bool,
    /// Replace files already at the output paths whose bytes differ from the manifest's
    /// (without it, such a file stops the fetch before anything is written).
    pub force: bool,
    /// How long the fetch may go without progress (a holder found, a manifest, a new
    /// verified chunk) before it fails.
    pub timeout: Duration,
    /// Where progress reports go, about four a second, if anyone listens.
    pub progress: Option<tokio::sync::mpsc::UnboundedSender<FetchProgress>>,
    /// Accept a manifest signed by a publisher this node does not trust.
    pub allow_untrusted: bool,
    /// Fetch a checkpoint even if its publisher retracted it.
    pub allow_retracted: bool,
    /// Fetch only these tensors of the safetensors files (`--tensors`): each such file is
    /// written as a safetensors file holding only the matching tensors; `None` fetches
    /// every file whole.
    pub tensors: Option<TensorSelection>,
}

/// How far a fetch has come.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchProgress {
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
    /// The checkpoint path of the file the last chunk was written to, when the fetch has
    /// several files.
    pub file: Option<String>,
}

/// Whether a fetch named a checkpoint or one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchKind {
    /// The id named a whole checkpoint.
    Checkpoint,
    /// The id named one file.
    File,
}

impl FetchKind {
    /// `checkpoint` or `file`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Checkpoint => "checkpoint",
            Self::File => "file",
        }
    }
}

/// A file a fetch wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedFile {
    /// Its path in the manifest, which is also its path under the output directory.
    pub path: String,
    /// Its size.
    pub size: u64,
    /// Its id (BLAKE3 of the whole file), checked after writing. For a subset file, the
    /// id of the file written, which no manifest lists.
    pub id: Id,
    /// For a subset file, the manifest's file it holds tensors of.
    pub subset: Option<SubsetOf>,
}

/// What a subset file was made from. Every chunk it holds was verified against its id in
/// the signed manifest (as it arrived and again once all were in), and its header was
/// built from the original header, read from chunks verified the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubsetOf {
    /// The manifest's file id.
    pub id: Id,
    /// The manifest's file size.
    pub size: u64,
    /// Tensors the subset holds.
    pub tensors: usize,
    /// Tensors the manifest's file holds.
    pub of_tensors: usize,
}

/// A file of the manifest a subset fetch left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedFile {
    /// Its path in the manifest.
    pub path: String,
    /// Why.
    pub reason: SkipReason,
}

/// What a completed fetch did.
#[derive(Debug, Clone)]
pub struct FetchOutcome {
    /// The id asked for.
    pub id: Id,
    /// The checkpoint the files belong to.
    pub checkpoint: Id,
    /// Checkpoint or single file.
    pub kind: FetchKind,
    /// The model name in the manifest.
    pub name: String,
    /// The tag in the manifest.
    pub tag: Option<String>,
    /// The publisher's public key.
    pub publisher: [u8; 32],
    /// The publisher's alias in this node's trust store (`self` for its own key); `None`
    /// when it is not trusted and the fetch was allowed anyway.
    pub publisher_alias: Option<String>,
    /// The publisher's reason, when the checkpoint is retracted (fetched anyway because
    /// retracted checkpoints were allowed).
    pub retracted: Option<String>,
    /// Where the files were written (canonical).
    pub out: PathBuf,
    /// The files written, each verified against its id.
    pub files: Vec<FetchedFile>,
    /// Total bytes of those files.
    pub bytes: u64,
    /// Bytes received from peers (good blocks only).
    pub bytes_from_network: u64,
    /// Bytes copied from chunks this node already held elsewhere.
    pub bytes_from_store: u64,
    /// Bytes already in place from an earlier, interrupted fetch.
    pub bytes_resumed: u64,
    /// Wall-clock time of the whole fetch.
    pub elapsed: Duration,
    /// Peers that sent blocks.
    pub peers: Vec<PeerId>,
    /// Bytes of verified blocks received from each peer, duplicates included.
    pub bytes_by_peer: BTreeMap<PeerId, u64>,
    /// Holder streams that ended with an error during the fetch.
    pub stream_resets: u32,
    /// Rounds of manifest requests beyond the first, after transient failures.
    pub retry_rounds: u32,
    /// Files a subset fetch left out (none when every file was fetched).
    pub skipped: Vec<SkippedFile>,
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No holder was found in time.
    #[error("no holder of {id} found in the DHT within {:.1}s; is a node that holds it online and reachable?", waited.as_secs_f64())]
    NoHolders {
        /// The id.
        id: Id,
        /// How long the fetch looked.
        waited: Duration,
    },
    /// Holders were found but none sent a manifest that verified.
    #[error("no holder sent a valid manifest for {id}: {}", reasons.join("; "))]
    NoValidManifest {
        /// The id.
        id: Id,
        /// What each holder did wrong.
        reasons: Vec<String>,
    },
    /// Every holder was dropped or refused some chunk before the fetch completed.
    #[error("fetch of {id} failed with {missing} chunks missing and no holder left to ask: {}", reasons.join("; "))]
    HoldersExhausted {
        /// The id.
        id: Id,
        /// Chunks still missing.
        missing: usize,
        /// Why each holder was dropped.
        reasons: Vec<String>,
    },
    /// Holders were found, but no new chunk verified for the fetch timeout.
    #[error("fetch of {id} made no progress for {:.1}s with {missing} chunks missing: {}", waited.as_secs_f64(), reasons.join("; "))]
    NoProgress {
        /// The id.
        id: Id,
        /// Chunks still missing.
        missing: usize,
        /// How long it went without a new chunk.
        waited: Duration,
        /// What happened to the holders.
        reasons: Vec<String>,
    },
    /// The manifest is signed by a publisher this node does not trust.
    #[error("{id} is signed by publisher {publisher}, whom this node does not trust; if you do, run `ostrom trust add ALIAS {publisher}`, or fetch with --allow-untrusted")]
    Untrusted {
        /// The id asked for.
        id: Id,
        /// The signer's key (hex).
        publisher: String,
    },
    /// The publisher retracted the checkpoint.
    #[error("{id} was retracted by its publisher ({reason}); fetch with --allow-retracted to get it anyway")]
    Retracted {
        /// The checkpoint.
        id: Id,
        /// The publisher's reason.
        reason: String,
    },
    /// The trust store is unreadable.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// A written file does not hash to its id.
    #[error("{path} does not match its id {id} after writing (was it changed on disk during the fetch?); its chunks were forgotten, run the fetch again")]
    FileMismatch {
        /// The file.
        path: String,
        /// Its id.
        id: Id,
    },
    /// An output file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The network failed.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// The stored manifest is damaged.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A blocking task died.
    #[error("internal task failed: {0}")]
    Task(String),
    /// A subset fetch whose patterns match no tensor of the checkpoint (or file).
    #[error("no tensor of {id} matches --tensors {}; nothing was written (patterns are globs over whole tensor names, e.g. 'model.layers.0.*')", patterns.join(" "))]
    NoMatchingTensors {
        /// The id.
        id: Id,
        /// The patterns.
        patterns: Vec<String>,
    },
    /// A safetensors file's verified header disagrees with its manifest.
    #[error(transparent)]
    Subset(#[from] SubsetError),
    /// The node has no peers to ask: no bootstrap peer is configured, or none answered.
    #[error("this node has no peers (none connected within {:.1}s), so it cannot look for holders of {id}: no bootstrap peer is configured, or none is reachable; give one with `--bootstrap MULTIADDR` (a node's address as `ostrom id` prints it) or list them in config.toml as `bootstrap = [\"MULTIADDR\"]`", waited.as_secs_f64())]
    NoPeers {
        /// The id.
        id: Id,
        /// How long the node waited for a first peer.
        waited: Duration,
    },
}

impl FetchError {
    /// The stable, machine-readable name of this failure: one per variant. Holders that
    /// were dropped for different faults (bad blocks, stalls, refusals) all count as
    /// [`ErrorKind::HoldersExhausted`]; the message lists each holder's fault.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NoHolders { .. } => ErrorKind::NoHolders,
            Self::NoValidManifest { .. } => ErrorKind::NoValidManifest,
            Self::HoldersExhausted { .. } => ErrorKind::HoldersExhausted,
            Self::NoProgress { .. } => ErrorKind::NoProgress,
            Self::Untrusted { .. } => ErrorKind::Untrusted,
            Self::Retracted { .. } => ErrorKind::Retracted,
            Self::Trust(_) => ErrorKind::TrustStore,
            Self::FileMismatch { .. } => ErrorKind::FileMismatch,
            Self::Io { .. } => ErrorKind::Io,
            Self::Store(_) => ErrorKind::Store,
            Self::Network(_) => ErrorKind::Network,
            Self::Manifest(_) => ErrorKind::DamagedManifest,
            Self::Task(_) => ErrorKind::Internal,
            Self::NoPeers { .. } => ErrorKind::NoPeers,
            Self::NoMatchingTensors { .. } => ErrorKind::NoMatchingTensors,
            Self::Subset(_) => ErrorKind::FileMismatch,
        }
    }
}
